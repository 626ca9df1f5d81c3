"""ronda.recording"""
