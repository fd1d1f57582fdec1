"""ftctl.gates"""
