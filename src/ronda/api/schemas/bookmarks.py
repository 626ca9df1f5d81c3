"""Bookmarks."""

from __future__ import annotations

from ronda.api.schemas import Out


class BookmarkView(Out):
    id: int
    camera: int
    start: str
    end: str
    title: str
    note: str
    created_by: str
    created: str
    updated: str | None
