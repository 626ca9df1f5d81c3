"""ronda.devices"""
