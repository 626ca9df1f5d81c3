"""Exports, evidence locks and stream tokens."""

from __future__ import annotations

from ronda.api.schemas import Out


class ExportJob(Out):
    id: str
    status: str
    stage: str
    progress: float
    error: str | None
    cameras: list[int]
    start: str
    end: str
    created: str
    finished: str | None
    bytes: int | None
    name: str
    owner: str
    owner_id: int
    download: str | None


class ExportLink(Out):
    url: str
    expires_in: int
    name: str


class LockView(Out):
    id: int
    camera: int
    start: str
    end: str
    reason: str
    until: str | None
    created_by: str
    created: str


class StreamToken(Out):
    token: str
    expires_in: int
    right: str
    urls: dict[str, str]
    playlist_expires_in: int
