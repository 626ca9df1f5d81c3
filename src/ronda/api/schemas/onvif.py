"""ONVIF: devices found by WS-Discovery."""

from __future__ import annotations

from ronda.api.schemas import Out


class DiscoveredView(Out):
    address: str  # the device service URL, what POST /cameras {"onvif": {"address"}} takes
    manufacturer: str | None
    model: str | None
    name: str | None = None
    endpoint: str | None = None  # WS-Addressing endpoint reference (urn:uuid:…), stable across address changes
    added: bool  # a camera was already added from this device (same host and port)
