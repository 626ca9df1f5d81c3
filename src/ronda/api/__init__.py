"""ronda.api"""
