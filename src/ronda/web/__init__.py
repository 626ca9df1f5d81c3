"""ronda.web"""
