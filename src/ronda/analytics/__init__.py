"""ronda.analytics"""
