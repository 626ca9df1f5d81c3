"""ronda.cluster"""
