"""What travels on the bus: typed, immutable values (times in epoch milliseconds, enums for closed sets).

Inside Ronda the bus carries these dataclasses and every consumer (rules, alarms, notifications, the
WebSocket fan-out, MQTT) reads their fields. JSON exists only at the edges (the API, the WebSocket,
webhooks, MQTT, and later the NATS bus between nodes), and only through the ``to_json``/``from_json``
pairs of this module, which are the one place a wire format is written:

- :class:`Event` ⇄ the event's API view (``GET /events``, the timeline, webhook ``event``, MQTT
  ``events/<type>``);
- :class:`Alarm` ⇄ the alarm's API view (``GET /alarms``, MQTT ``alarms/<id>``);
- :class:`AlarmChanged` ⇄ the WebSocket message ``{"kind": "alarm", "change", "alarm"}``;
- :func:`message_to_json` / :func:`message_from_json`: any bus message as its WebSocket message
  (``{"kind": "event", "event"}`` for an event).

The key order of each ``to_json`` is part of the wire format (clients and tests compare bytes).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ronda.timeutil import parse_iso, to_iso


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Source(StrEnum):
    ANALYTICS = "analytics"
    CAMERA = "camera"
    SYSTEM = "system"
    USER = "user"
    EXTERNAL = "external"


class AlarmState(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    CLOSED = "closed"


class AlarmChange(StrEnum):
    """Why an alarm message was sent: a step of the rules engine or of an operator."""

    CREATED = "created"
    UPDATED = "updated"
    REOPENED = "reopened"  # by a new event of a recently closed incident
    JOINED = "joined"  # an event of another rule, the same incident, joined it (events/correlation.py)
    ESCALATED = "escalated"
    TAKE = "take"
    ASSIGN = "assign"
    COMMENT = "comment"
    HOLD = "hold"
    RESUME = "resume"
    CLOSE = "close"
    REOPEN = "reopen"  # by an operator


def _ms(value: Any) -> int | None:
    return None if value is None else parse_iso(value)


@dataclass(frozen=True, slots=True)
class Event:
    """A stored event (a row of ``events``), as published by the outbox relay.

    ``time_ms`` is None only for a row that could not be read (then ``redacted`` says so and the
    payload is empty); ``redacted`` also marks a payload an administrator removed or one that cannot
    be shown safely."""

    id: int
    type: str
    time_ms: int | None
    camera: int | None = None
    cameras: tuple[int, ...] = ()
    severity: Severity = Severity.INFO
    source: Source = Source.SYSTEM
    payload: dict[str, Any] = field(default_factory=dict)
    redacted: str | None = None
    text: str | None = None
    snapshot: str | None = None
    uid: str | None = None
    box: tuple[float, ...] | None = None

    @property
    def key(self) -> str:
        """The bus's idempotency key."""
        return f"event:{self.id}"

    @property
    def rule_chain(self) -> list[int]:
        """The rules that produced this event (``payload.rule_chain``): rules never loop on it."""
        chain = self.payload.get("rule_chain") or []
        return [x for x in chain if isinstance(x, int) and not isinstance(x, bool)] if isinstance(chain, list) else []

    def all_cameras(self) -> list[int]:
        """The main camera first, then the others, without repeats."""
        cams = [self.camera] if self.camera is not None else []
        return list(dict.fromkeys([*cams, *self.cameras]))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "camera": self.camera,
            "cameras": list(self.cameras),
            "time": to_iso(self.time_ms),
            "severity": self.severity.value,
            "source": self.source.value,
            "payload": self.payload,
        }
        if self.redacted is not None:
            out["redacted"] = self.redacted
        for k in ("text", "snapshot", "uid"):
            v = getattr(self, k)
            if v is not None:
                out[k] = v
        if self.box is not None:
            out["box"] = list(self.box)
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Event:
        box = d.get("box")
        return cls(id=int(d["id"]), type=str(d["type"]), time_ms=_ms(d.get("time")), camera=d.get("camera"),
                   cameras=tuple(d.get("cameras") or ()), severity=Severity(d.get("severity", "info")),
                   source=Source(d.get("source", "system")), payload=dict(d.get("payload") or {}),
                   redacted=d.get("redacted"), text=d.get("text"), snapshot=d.get("snapshot"), uid=d.get("uid"),
                   box=tuple(box) if box is not None else None)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Alarm:
    """An alarm's state at one step of its life."""

    id: int
    state: AlarmState
    priority: str  # high | medium | low
    priority_num: int
    category: str
    title: str
    instructions: str | None
    camera: int | None
    cameras: tuple[int, ...]
    rule: int | None
    incident: str | None
    owner: str | None
    owner_id: int | None
    pre_alarm_s: int
    event_count: int
    escalation_level: int
    first_event_ms: int
    last_event_ms: int
    created_ms: int
    updated_ms: int
    acknowledged_ms: int | None = None
    closed_ms: int | None = None
    close_reason: str | None = None
    redacted: bool = False  # shown to someone who sees only a related camera

    def redacted_copy(self, title: str) -> Alarm:
        """What a caller who sees only related cameras learns: that there is an alarm, its state and
        cameras; not the text written from the primary camera's event nor who works on it."""
        return dataclasses.replace(self, title=title, instructions=None, close_reason=None, owner=None,
                                   owner_id=None, incident=None, redacted=True)  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "state": self.state.value,
            "priority": self.priority,
            "priority_num": self.priority_num,
            "category": self.category,
            "title": self.title,
            "instructions": self.instructions,
            "camera": self.camera,
            "cameras": list(self.cameras),
            "rule": self.rule,
            "incident": self.incident,
            "owner": self.owner,
            "owner_id": self.owner_id,
            "pre_alarm_s": self.pre_alarm_s,
            "event_count": self.event_count,
            "escalation_level": self.escalation_level,
            "first_event": to_iso(self.first_event_ms),
            "last_event": to_iso(self.last_event_ms),
            "created": to_iso(self.created_ms),
            "updated": to_iso(self.updated_ms),
            "acknowledged": to_iso(self.acknowledged_ms) if self.acknowledged_ms else None,
            "closed": to_iso(self.closed_ms) if self.closed_ms else None,
            "close_reason": self.close_reason,
            "playback_from": to_iso(self.first_event_ms - self.pre_alarm_s * 1000),
        }
        if self.redacted:
            out["redacted"] = True
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Alarm:
        return cls(id=int(d["id"]), state=AlarmState(d["state"]), priority=str(d["priority"]),
                   priority_num=int(d["priority_num"]), category=str(d["category"]), title=str(d["title"]),
                   instructions=d.get("instructions"), camera=d.get("camera"), cameras=tuple(d.get("cameras") or ()),
                   rule=d.get("rule"), incident=d.get("incident"), owner=d.get("owner"), owner_id=d.get("owner_id"),
                   pre_alarm_s=int(d["pre_alarm_s"]), event_count=int(d["event_count"]),
                   escalation_level=int(d["escalation_level"]), first_event_ms=parse_iso(d["first_event"]),
                   last_event_ms=parse_iso(d["last_event"]), created_ms=parse_iso(d["created"]),
                   updated_ms=parse_iso(d["updated"]), acknowledged_ms=_ms(d.get("acknowledged")),
                   closed_ms=_ms(d.get("closed")), close_reason=d.get("close_reason"),
                   redacted=bool(d.get("redacted", False)))  # fmt: skip


@dataclass(frozen=True, slots=True)
class AlarmChanged:
    """An alarm after one step (``change``); ``entry_id`` names the step (its history entry)."""

    alarm: Alarm
    change: AlarmChange
    entry_id: int

    @property
    def key(self) -> str:
        return f"alarm:{self.alarm.id}:{self.entry_id}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": "alarm", "change": self.change.value, "alarm": self.alarm.to_json()}

    @classmethod
    def from_json(cls, d: dict[str, Any], entry_id: int = 0) -> AlarmChanged:
        return cls(Alarm.from_json(d["alarm"]), AlarmChange(d["change"]), entry_id)


Message = Event | AlarmChanged


def message_to_json(msg: Message) -> dict[str, Any]:
    """A bus message as the WebSocket (and a future node-to-node bus) carries it."""
    if isinstance(msg, Event):
        return {"kind": "event", "event": msg.to_json()}
    return msg.to_json()


def message_from_json(d: dict[str, Any]) -> Message:
    if d.get("kind") == "event":
        return Event.from_json(d["event"])
    if d.get("kind") == "alarm":
        return AlarmChanged.from_json(d)
    raise ValueError(f"unknown message kind {d.get('kind')!r}")


__all__ = [
    "Alarm",
    "AlarmChange",
    "AlarmChanged",
    "AlarmState",
    "Event",
    "Message",
    "Severity",
    "Source",
    "message_from_json",
    "message_to_json",
]
