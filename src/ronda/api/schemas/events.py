"""Events."""

from __future__ import annotations

from typing import Any

from ronda.api.schemas import Out


class EventView(Out):
    """An event as stored. ``text``, ``snapshot``, ``uid`` and ``box`` only when it has them;
    ``redacted`` says why the payload is not shown (removed by an administrator, or malformed)."""

    id: int | None
    type: str
    camera: int | None
    cameras: list[int]
    time: str | None
    severity: str
    source: str
    payload: dict[str, Any]
    redacted: str | None = None
    text: str | None = None
    snapshot: str | None = None
    uid: str | None = None
    box: list[float] | None = None


class PostedEvents(Out):
    ids: list[int | None]
    stored: int
    duplicates: int


class EventStats(Out):
    bus: dict[str, Any]
    stored: int
    duplicates: int
    published: int
    rejected_http: int
    rejected_mqtt: int
    notifications_sent: int
    rules_fired: int
    rule_loops_stopped: int
