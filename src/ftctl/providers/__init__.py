"""ftctl.providers"""
