"""ftctl.render"""
