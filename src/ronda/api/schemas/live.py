"""Live view."""

from __future__ import annotations

from ronda.api.schemas import Out


class LiveStream(Out):
    codec: str | None
    width: int | None
    height: int | None
    recorded: bool
    browser: bool


class LiveInfo(Out):
    camera: int
    stream: str | None
    mode: str
    streams: dict[str, LiveStream]
    reason: str | None
    urls: dict[str, str]
    expires_in: int
    playlist_expires_in: int
