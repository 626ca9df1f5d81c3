"""ronda.events"""
