"""ftctl.plan"""
