"""ONVIF: devices found by WS-Discovery, a camera's media profiles."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ronda.api.schemas import Out


class DiscoveredView(Out):
    address: str  # the device service URL, what POST /cameras {"onvif": {"address"}} takes
    manufacturer: str | None
    model: str | None
    name: str | None = None
    endpoint: str | None = None  # WS-Addressing endpoint reference (urn:uuid:…), stable across address changes
    added: bool  # a camera was already added from this device (same host and port)


class ProfileView(Out):
    """One media profile of an ONVIF camera, and whether it feeds the camera's main or sub stream."""

    token: str
    name: str
    codec: str | None  # h264, hevc, mjpeg, … (None: the profile has no video encoder)
    width: int | None
    height: int | None
    fps: float | None
    main: bool
    sub: bool


class ProfileChoice(BaseModel):
    """Which media profiles feed main and sub (tokens from ``GET …/onvif/profiles``)."""

    model_config = ConfigDict(extra="forbid")

    main: str = Field(min_length=1, max_length=64)
    sub: str | None = Field(None, min_length=1, max_length=64, description="null: no sub stream")
