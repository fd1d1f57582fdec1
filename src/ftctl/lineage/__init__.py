"""ftctl.lineage"""
