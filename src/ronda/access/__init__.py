"""ronda.access"""
