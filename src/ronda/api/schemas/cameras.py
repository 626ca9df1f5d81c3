"""Cameras: the camera view, connection tests, recordings and the per-camera timeline."""

from __future__ import annotations

from typing import Literal

from ronda.api.schemas import Out
from ronda.config import Transport


class StreamView(Out):
    url: str | None = None  # only for managers of the camera
    record: bool
    codec: str | None
    width: int | None
    height: int | None


class StreamState(Out):
    state: str
    reason: str | None
    segments: int
    transport: str | None = None  # what the capture uses now: tcp | udp | http (null before the first attempt)


class GroupRef(Out):
    id: int
    name: str
    organisation: str | None


class DeviceView(Out):
    manufacturer: str | None
    model: str | None
    firmware: str | None


class CameraView(Out):
    id: int
    name: str
    status: str
    status_reason: str | None
    enabled: bool
    username: str | None = None  # only for managers of the camera
    password_set: bool
    retention_days: float | None
    audio: bool
    transport: Transport
    streams: dict[str, StreamView]
    recording: dict[str, StreamState]
    rights: list[str]
    groups: list[GroupRef] | None = None  # in the list
    ptz: bool = False
    device: DeviceView | None = None  # what an ONVIF camera said about itself
    onvif_address: str | None = None  # only for managers of the camera


class ProbeView(Out):
    ok: bool
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    audio: str | None = None
    reason: str | None = None
    detail: str | None = None


class CameraTest(Out):
    camera: int
    ok: bool
    streams: dict[str, ProbeView]


class SegmentView(Out):
    id: int
    start: str
    end: str
    duration_ms: int
    bytes: int
    sha256: str | None
    codec: str | None
    recovered: bool
    node: str
    location: Literal["local", "archive"]


class GapDetail(Out):
    start: str
    end: str
    open: bool
    reason: str
    detail: str | None


class Recordings(Out):
    camera: int
    stream: str
    frame_rate: float | None = None  # of the first segment's video, measured from the file; null: unknown
    segments: list[SegmentView]
    gaps: list[GapDetail]


class RunView(Out):
    start: str
    end: str
    segments: int


class GapView(Out):
    start: str
    end: str
    reason: str


class LockRef(Out):
    id: int
    start: str
    end: str
    reason: str


class CameraTimeline(Out):
    camera: int
    stream: str
    resolution_ms: int
    runs: list[RunView]
    gaps: list[GapView]
    locks: list[LockRef]
