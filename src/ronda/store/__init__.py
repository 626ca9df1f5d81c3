"""ronda.store"""
