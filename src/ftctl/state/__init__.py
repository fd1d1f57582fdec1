"""ftctl.state"""
