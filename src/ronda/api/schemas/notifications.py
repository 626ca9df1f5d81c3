"""Notifications."""

from __future__ import annotations

from typing import Any

from ronda.api.schemas import Out


class VapidKey(Out):
    key: str


class Subscribed(Out):
    id: int


class Prefs(Out):
    channels: list[str]
    email: str | None
    quiet_hours: dict[str, Any] | None
    min_priority: str
