"""ftctl.datasets"""
