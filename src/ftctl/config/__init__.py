"""ftctl.config"""
