"""The timeline across cameras, and the site."""

from __future__ import annotations

from ronda.api.schemas import Out
from ronda.api.schemas.bookmarks import BookmarkView
from ronda.api.schemas.cameras import GapView, LockRef, RunView
from ronda.api.schemas.events import EventView


class CameraTrack(Out):
    runs: list[RunView]
    gaps: list[GapView]
    events: list[EventView]
    bookmarks: list[BookmarkView]
    locks: list[LockRef]
    truncated: bool
    truncated_lists: list[str]


class Day(Out):
    date: str
    start: str
    end: str
    hours: float
    utc_offset_minutes: int


class Timeline(Out):
    start: str
    end: str
    stream: str
    resolution_ms: int
    timezone: str
    cameras: dict[str, CameraTrack]
    days: list[Day]
    truncated: bool
    limits: dict[str, int]


class Today(Out):
    date: str
    start: str
    end: str
    hours: float


class SiteView(Out):
    name: str
    timezone: str
    utc_offset_minutes: int
    now: str
    today: Today
