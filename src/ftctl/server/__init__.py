"""ftctl.server"""
