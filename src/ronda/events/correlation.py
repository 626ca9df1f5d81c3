"""One incident, one alarm across rules: events that different rules turn into alarms but that are one
incident (a camera covered, then cut off) join one alarm instead of raising two.

A rule's own incident key (``raise_alarm.incident``) already makes the repeated events of one rule one
alarm. Correlation groups (``events.correlate``) reach across rules: an event whose type matches a
group, which would raise a new alarm, joins instead the open alarm of the same camera that holds an
event of the same group within ``window_seconds`` of it, before or after. The joining event's rule is
written into the alarm's history (an entry ``joined`` with the rule and its incident key), so the later
events of that incident (a repeated ``camera.offline``, ``camera.online``) find the same alarm.

Pure decisions on the alarm manager's session: the manager calls :meth:`Correlator.joined` and
:meth:`Correlator.find` inside its one-decision-at-a-time lock, in the transaction that then changes
the alarm.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ronda.config import CorrelationConfig
from ronda.events import messages as msgs
from ronda.store.event_models import Alarm, AlarmEntry, AlarmEvent
from ronda.store.models import Event as EventRow

OPEN = ("new", "in_progress", "on_hold")
JOINED = "joined"  # the history entry (and the bus change) of an event that joined another rule's alarm
MAX_EVENTS_LOOKED_AT = 500  # of a candidate alarm, newest first: an old flood of events does not matter


def _pattern(types: Iterable[str]) -> re.Pattern[str]:
    alternatives = (".*".join(re.escape(part) for part in t.split("*")) for t in types)
    return re.compile("^(?:" + "|".join(alternatives) + ")$")


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    pattern: re.Pattern[str]
    window_ms: int

    def matches(self, event_type: str) -> bool:
        return self.pattern.match(event_type) is not None


@dataclass(frozen=True, slots=True)
class Join:
    """The open alarm an event joins, and the group that ties them."""

    alarm: Alarm
    group: Group


class Correlator:
    def __init__(self, groups: Iterable[CorrelationConfig]) -> None:
        self.groups = [Group(g.name, _pattern(g.types), int(g.window_seconds * 1000)) for g in groups]

    def groups_for(self, event_type: str) -> list[Group]:
        return [g for g in self.groups if g.matches(event_type)]

    def joined(self, s: Any, rule_id: int, incident: str) -> Alarm | None:
        """The open alarm that an earlier event of this rule's incident joined, or None."""
        q = (
            select(AlarmEntry.alarm_id, AlarmEntry.details)
            .join(Alarm, Alarm.id == AlarmEntry.alarm_id)
            .where(AlarmEntry.action == JOINED, Alarm.state.in_(OPEN))
            .order_by(AlarmEntry.alarm_id.desc())
        )
        for alarm_id, details in s.execute(q):
            d = details if isinstance(details, dict) else {}
            if d.get("rule") == rule_id and d.get("incident") == incident:
                alarm: Alarm | None = s.get(Alarm, alarm_id)
                return alarm
        return None

    def find(self, s: Any, ev: msgs.Event, ev_ms: int, rule_id: int, incident: str) -> Join | None:
        """The open alarm of the event's camera holding an event of one of the event's groups within the
        group's window (either order); the most recent such alarm. None when the event starts its own."""
        groups = self.groups_for(ev.type)
        if not groups or ev.camera is None:
            return None
        widest = max(g.window_ms for g in groups)
        q = (
            select(Alarm)
            .where(Alarm.state.in_(OPEN), Alarm.camera_id == ev.camera)
            .where(Alarm.last_event_ms >= ev_ms - widest, Alarm.first_event_ms <= ev_ms + widest)
            .order_by(Alarm.id.desc())
        )
        for alarm in s.scalars(q.limit(20)):
            if alarm.rule_id == rule_id and alarm.incident_key == incident:
                continue  # its own incident: the alarm manager decides about that one
            seen = s.execute(
                select(EventRow.type, EventRow.time_ms)
                .join(AlarmEvent, AlarmEvent.event_id == EventRow.id)
                .where(AlarmEvent.alarm_id == alarm.id, EventRow.id != ev.id)
                .order_by(EventRow.id.desc())
                .limit(MAX_EVENTS_LOOKED_AT)
            ).all()
            for g in groups:
                if any(g.matches(t) and abs(t_ms - ev_ms) <= g.window_ms for t, t_ms in seen):
                    return Join(alarm, g)
        return None


__all__ = ["JOINED", "Correlator", "Group", "Join"]
