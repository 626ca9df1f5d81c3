"""Alarms."""

from __future__ import annotations

from typing import Any

from ronda.api.schemas import Out
from ronda.api.schemas.events import EventView


class AlarmView(Out):
    id: int
    state: str
    priority: str
    priority_num: int
    category: str | None
    title: str
    instructions: str | None
    camera: int | None
    cameras: list[int]
    rule: int | None
    incident: str | None
    owner: str | None
    owner_id: int | None
    pre_alarm_s: int
    event_count: int
    escalation_level: int
    first_event: str | None
    last_event: str | None
    created: str | None
    updated: str | None
    acknowledged: str | None
    closed: str | None
    close_reason: str | None
    playback_from: str | None
    redacted: bool | None = None  # seen only through a related camera: title and people hidden


class AlarmEntryView(Out):
    id: int
    time: str | None
    actor: str | None
    action: str
    text: str | None
    details: dict[str, Any]


class AlarmDetail(AlarmView):
    history: list[AlarmEntryView]
    events: list[EventView]
    may_handle: bool
