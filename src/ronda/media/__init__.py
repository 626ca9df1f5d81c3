"""ronda.media"""
