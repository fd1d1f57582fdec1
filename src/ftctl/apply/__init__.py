"""ftctl.apply"""
