"""The alarm manager: one alarm per incident, its lifecycle, escalation, and its history.

Lifecycle: ``new`` -> ``in_progress`` (an owner took it or was assigned) -> ``on_hold`` -> ``closed``
(with a reason). Any open state may be closed; a closed alarm may be reopened (by a user, with a
reason, or by a new event of the same incident within the rule's de-duplication window). Events of
another rule that are the same incident (``ronda.events.correlation``: a camera offline and its tamper
event) join the open alarm instead of raising a second one. Every step is an entry in the alarm's
history, an audit-log entry, and a message on the bus (``kind: alarm``) that WebSocket clients and
notifications follow.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ronda.access.audit import AuditLog
from ronda.config import CorrelationConfig
from ronda.errors import Conflict, Invalid, NotFound
from ronda.events import messages as msgs
from ronda.events.bus import Bus
from ronda.events.correlation import JOINED, Correlator, Join
from ronda.events.rules import PRIORITY_NUM, RaiseAlarm, render
from ronda.store.access_models import User
from ronda.store.db import Database
from ronda.store.event_models import Alarm, AlarmEntry, AlarmEvent
from ronda.tasks import cancel_and_wait, every
from ronda.timeutil import now_ms, to_iso

log = logging.getLogger(__name__)
OPEN = ("new", "in_progress", "on_hold")
STATES = (*OPEN, "closed")
EVENT_ENTRY_EVERY = 50  # after the first few, one history entry per this many repeated events


# Refusals are domain errors (ronda.errors): NotFound, Invalid (a missing text, an unknown action or
# user) and Conflict (the alarm's state does not allow the action).


def alarm_state(a: Alarm, owner: str | None = None) -> msgs.Alarm:
    """An alarm row as the bus carries it."""
    return msgs.Alarm(id=a.id, state=msgs.AlarmState(a.state), priority=a.priority, priority_num=a.priority_num,
                      category=a.category, title=a.title, instructions=a.instructions, camera=a.camera_id,
                      cameras=tuple(a.cameras or ()), rule=a.rule_id, incident=a.incident_key,
                      owner=owner if owner is not None else a.owner_name,
                      owner_id=a.owner_id, pre_alarm_s=a.pre_alarm_s, event_count=a.event_count,
                      escalation_level=a.escalation_level, first_event_ms=a.first_event_ms,
                      last_event_ms=a.last_event_ms, created_ms=a.created_ms, updated_ms=a.updated_ms,
                      acknowledged_ms=a.acknowledged_ms, closed_ms=a.closed_ms,
                      close_reason=a.close_reason)  # fmt: skip


def alarm_view(a: Alarm, owner: str | None = None) -> dict[str, Any]:
    """An alarm row as the API shows it (its :class:`~ronda.events.messages.Alarm`'s JSON)."""
    return alarm_state(a, owner).to_json()


def entry_view(e: AlarmEntry) -> dict[str, Any]:
    return {"id": e.id, "time": to_iso(e.time_ms), "actor": e.actor, "action": e.action, "text": e.text,
            "details": e.details or {}}  # fmt: skip


@dataclass(slots=True)
class Actor:
    """Who acts: a local user (``user_id``), the rules (``SYSTEM``), or a peer site's central user
    (``remote``: no local id, ``name`` is ``user@peer``), who may own an alarm by name."""

    user_id: int | None
    name: str
    source_ip: str | None = None
    remote: bool = False
    # A peer site's user: {"peer", "user"}, in the history entry and the audit record of each step, so a
    # local user whose name looks like "user@peer" is never taken for them.
    via: dict[str, str] | None = None

    @property
    def owner(self) -> int | str | None:
        """What taking an alarm makes its owner: the local user's id, or a remote user's name."""
        return self.name if self.remote else self.user_id


SYSTEM = Actor(None, "system:rules")


class AlarmManager:
    def __init__(self, db: Database, bus: Bus, audit: AuditLog | None, camera_names: Callable[[], dict[int, str]],
                 correlate: Iterable[CorrelationConfig] = ()) -> None:  # fmt: skip
        self.db = db
        self.correlator = Correlator(correlate)
        self.bus = bus
        self.audit = audit
        self.camera_names = camera_names
        self._lock = asyncio.Lock()  # one incident decision at a time (no duplicate alarms)
        self._task: asyncio.Task[None] | None = None

    # --- from rules -------------------------------------------------------------------------------
    async def on_event(self, event: msgs.Event, rule_id: int, action: RaiseAlarm) -> tuple[int, str] | None:
        """Raise, update, reopen or auto-close the incident's alarm for this event."""
        async with self._lock:
            result = await asyncio.to_thread(self._on_event, event, rule_id, action)
        if result is None:
            return None
        alarm, change, entry_id = result
        await self._publish(alarm, change, entry_id)
        return alarm.id, change

    def _on_event(self, ev: msgs.Event, rule_id: int, act: RaiseAlarm) -> tuple[msgs.Alarm, str, int] | None:
        names = self.camera_names()
        key = render(act.incident, ev, names, rule_id)[:200]
        t = now_ms()
        ev_ms = ev.time_ms if ev.time_ms is not None else now_ms()
        with self.db.session() as s:
            alarm = s.scalars(
                select(Alarm).where(Alarm.incident_key == key, Alarm.rule_id == rule_id).order_by(Alarm.id.desc())
            ).first()
            recent_closed = (
                alarm is not None
                and alarm.state == "closed"
                and alarm.closed_ms is not None
                and t - alarm.closed_ms <= act.dedupe_window_s * 1000
            )
            if alarm is not None and s.get(AlarmEvent, (alarm.id, ev.id)) is not None:
                return None  # this event again (a bus redelivers a message whose acknowledgement was lost)
            if alarm is not None and alarm.state in OPEN:
                if ev.type in act.auto_close_on:
                    s.merge(AlarmEvent(alarm_id=alarm.id, event_id=ev.id))
                    return self._transition(s, alarm, SYSTEM, "close", f"closed automatically: {ev.type}",
                                            closed=True, details={"event": ev.id})  # fmt: skip
                return self._add_event(s, alarm, ev, ev_ms, t)
            # The incident joined another rule's alarm earlier: its events go on updating that alarm (an
            # auto-close event of the joined incident does not close what the other incident still holds).
            joined = self.correlator.joined(s, rule_id, key)
            if joined is not None:
                if s.get(AlarmEvent, (joined.id, ev.id)) is not None:
                    return None
                return self._add_event(s, joined, ev, ev_ms, t)
            if ev.type in act.update_only or ev.type in act.auto_close_on:
                return None  # resolves an incident, never starts one
            join = self.correlator.find(s, ev, ev_ms, rule_id, key)
            if join is not None:  # one incident, one alarm: before reopening an older alarm of this rule
                return self._join(s, join, ev, ev_ms, t, rule_id, key, act)
            if recent_closed and alarm is not None:
                alarm.state, alarm.closed_ms, alarm.close_reason = "new", None, None
                alarm.owner_id, alarm.owner_name, alarm.acknowledged_ms = None, None, None
                view = self._add_event(s, alarm, ev, ev_ms, t, action="reopen", text=f"reopened by {ev.type}")
                return view[0], "reopened", view[2]
            cams = [c for c in [ev.camera, *ev.cameras, *act.related_cameras] if c is not None]
            cams = list(dict.fromkeys(cams))
            alarm = Alarm(
                state="new", priority=act.priority, priority_num=act.priority_num or PRIORITY_NUM[act.priority],
                category=act.category, title=render(act.title, ev, names, rule_id)[:300],
                instructions=act.instructions, camera_id=ev.camera, cameras=cams, rule_id=rule_id,
                incident_key=key, pre_alarm_s=act.pre_alarm_s, escalate_after_s=act.escalate_after_s,
                auto_close_on=list(act.auto_close_on), event_count=1, first_event_ms=ev_ms, last_event_ms=ev_ms,
                created_ms=t, updated_ms=t,
                notify={"channels": act.notify, "roles": act.notify_roles, "organisations": act.notify_organisations},
            )  # fmt: skip
            s.add(alarm)
            s.flush()
            s.add(AlarmEvent(alarm_id=alarm.id, event_id=ev.id))
            entry = AlarmEntry(alarm_id=alarm.id, time_ms=t, actor=SYSTEM.name, action="created",
                               text=ev.type, details={"event": ev.id})  # fmt: skip
            s.add(entry)
            s.flush()
            if self.audit is not None:  # in the alarm's transaction: both or neither
                self.audit.record(s, SYSTEM.name, "alarm.raise", "ok", alarm.camera_id,
                                  details={"alarm": alarm.id, "rule": rule_id, "event": ev.id})  # fmt: skip
            return alarm_state(alarm), "created", entry.id

    def _add_event(self, s: Any, alarm: Alarm, ev: msgs.Event, ev_ms: int, t: int, action: str = "event",
                   text: str | None = None) -> tuple[msgs.Alarm, str, int]:  # fmt: skip
        alarm.event_count += 1
        alarm.last_event_ms = max(alarm.last_event_ms, ev_ms)
        alarm.updated_ms = t
        s.merge(AlarmEvent(alarm_id=alarm.id, event_id=ev.id))
        entry_id = 0
        if action != "event" or alarm.event_count <= 5 or alarm.event_count % EVENT_ENTRY_EVERY == 0:
            details = {"event": ev.id, "count": alarm.event_count}
            entry = AlarmEntry(alarm_id=alarm.id, time_ms=t, actor=SYSTEM.name, action=action,
                               text=text or ev.type, details=details)  # fmt: skip
            s.add(entry)
            s.flush()
            entry_id = entry.id
        return alarm_state(alarm, _owner(s, alarm)), "updated", entry_id or -ev.id

    def _join(self, s: Any, join: Join, ev: msgs.Event, ev_ms: int, t: int, rule_id: int, key: str,
              act: RaiseAlarm) -> tuple[msgs.Alarm, str, int]:  # fmt: skip
        """The event (of another rule) joins the open alarm as a related event: its cameras and whom its
        rule notifies are added, its priority raises the alarm's when higher."""
        alarm = join.alarm
        alarm.event_count += 1
        alarm.first_event_ms = min(alarm.first_event_ms, ev_ms)  # either order: the incident began earlier
        alarm.last_event_ms = max(alarm.last_event_ms, ev_ms)
        alarm.updated_ms = t
        cams = [c for c in [*(alarm.cameras or []), ev.camera, *ev.cameras, *act.related_cameras] if c is not None]
        alarm.cameras = list(dict.fromkeys(cams))  # a new list: the JSON column sees the change
        num = act.priority_num or PRIORITY_NUM[act.priority]
        details: dict[str, Any] = {"event": ev.id, "rule": rule_id, "incident": key, "group": join.group.name,
                                   "count": alarm.event_count}  # fmt: skip
        if num < alarm.priority_num:
            details["priority"] = {"from": alarm.priority, "to": act.priority}
            alarm.priority, alarm.priority_num = act.priority, num
        spec = dict(alarm.notify or {})
        for field, extra in (("channels", act.notify), ("roles", act.notify_roles),
                             ("organisations", act.notify_organisations)):  # fmt: skip
            spec[field] = list(dict.fromkeys([*(spec.get(field) or []), *extra]))
        alarm.notify = spec
        s.merge(AlarmEvent(alarm_id=alarm.id, event_id=ev.id))
        entry = AlarmEntry(alarm_id=alarm.id, time_ms=t, actor=SYSTEM.name, action=JOINED,
                           text=f"{ev.type} joined ({join.group.name})", details=details)  # fmt: skip
        s.add(entry)
        s.flush()
        if self.audit is not None:  # in the alarm's transaction: both or neither
            self.audit.record(s, SYSTEM.name, "alarm.join", "ok", alarm.camera_id,
                              details={"alarm": alarm.id, "rule": rule_id, "event": ev.id})  # fmt: skip
        return alarm_state(alarm, _owner(s, alarm)), JOINED, entry.id

    # --- by operators -----------------------------------------------------------------------------
    async def act(self, alarm_id: int, actor: Actor, action: str, text: str = "",
                  assignee: int | None = None) -> dict[str, Any]:  # fmt: skip
        """``take`` | ``assign`` | ``comment`` | ``hold`` | ``resume`` | ``close`` | ``reopen``."""
        async with self._lock:
            alarm, change, entry_id = await asyncio.to_thread(self._act, alarm_id, actor, action, text, assignee)
        await self._publish(alarm, change, entry_id)
        return alarm.to_json()  # the API's answer

    def _act(self, alarm_id: int, actor: Actor, action: str, text: str,
             assignee: int | None) -> tuple[msgs.Alarm, str, int]:  # fmt: skip
        with self.db.session() as s:
            done = self._decide(s, alarm_id, actor, action, text, assignee)
            if self.audit is not None:  # in the step's transaction: both or neither
                details = {"alarm": alarm_id, "text": text[:200], **(actor.via or {})}
                self.audit.record(s, actor.name, f"alarm.{action}", "ok", done[0].camera,
                                  source_ip=actor.source_ip, details=details)  # fmt: skip
            return done

    def _decide(self, s: Any, alarm_id: int, actor: Actor, action: str, text: str,
                assignee: int | None) -> tuple[msgs.Alarm, str, int]:  # fmt: skip
        alarm = s.get(Alarm, alarm_id)
        if alarm is None:
            raise NotFound("alarm")
        st = alarm.state
        if action == "comment":
            if not text.strip():
                raise Invalid("a comment needs text")
            return self._transition(s, alarm, actor, "comment", text)
        if action == "take":
            if st == "closed":
                raise Conflict("the alarm is closed: reopen it first")
            return self._transition(s, alarm, actor, "take", text, state="in_progress", owner=actor.owner)
        if action == "assign":
            if st == "closed":
                raise Conflict("the alarm is closed: reopen it first")
            if assignee is None or s.get(User, assignee) is None:
                raise Invalid("assign needs an existing user")
            return self._transition(s, alarm, actor, "assign", text, state="in_progress", owner=assignee,
                                    details={"assignee": assignee})  # fmt: skip
        if action == "hold":
            if st not in ("new", "in_progress"):
                raise Conflict(f"an alarm that is {st} cannot be put on hold")
            return self._transition(s, alarm, actor, "hold", text, state="on_hold")
        if action == "resume":
            if st != "on_hold":
                raise Conflict(f"only an alarm on hold can be resumed (it is {st})")
            return self._transition(s, alarm, actor, "resume", text, state="in_progress",
                                    owner=alarm.owner_id or alarm.owner_name or actor.owner)  # fmt: skip
        if action == "close":
            if st == "closed":
                raise Conflict("the alarm is already closed")
            if not text.strip():
                raise Invalid("closing an alarm needs a reason")
            return self._transition(s, alarm, actor, "close", text, closed=True)
        if action == "reopen":
            if st != "closed":
                raise Conflict("only a closed alarm can be reopened")
            if not text.strip():
                raise Invalid("reopening an alarm needs a reason")
            alarm.closed_ms, alarm.close_reason = None, None
            return self._transition(s, alarm, actor, "reopen", text, state="in_progress", owner=actor.owner)
        raise Invalid(f"unknown action {action!r}")

    def _transition(self, s: Any, alarm: Alarm, actor: Actor, action: str, text: str, *, state: str | None = None,
                    owner: int | str | None = None, closed: bool = False,
                    details: dict[str, Any] | None = None) -> tuple[msgs.Alarm, str, int]:  # fmt: skip
        t = now_ms()
        if closed:
            alarm.state, alarm.closed_ms, alarm.close_reason = "closed", t, text[:500]
        elif state is not None:
            alarm.state = state
        if isinstance(owner, str):  # a peer site's user: no local id
            alarm.owner_id, alarm.owner_name = None, owner[:200]
        elif owner is not None:
            alarm.owner_id, alarm.owner_name = owner, None
        if action in ("take", "assign", "hold", "close", "comment") and alarm.acknowledged_ms is None:
            alarm.acknowledged_ms = t
        alarm.updated_ms = t
        if actor.via:
            details = {**(details or {}), **actor.via}
        entry = AlarmEntry(alarm_id=alarm.id, time_ms=t, actor=actor.name[:200], action=action, text=text[:2000],
                           details=details)  # fmt: skip
        s.add(entry)
        s.flush()
        return alarm_state(alarm, _owner(s, alarm)), action, entry.id

    def history(self, alarm_id: int) -> list[dict[str, Any]]:
        with self.db.session() as s:
            rows = s.scalars(select(AlarmEntry).where(AlarmEntry.alarm_id == alarm_id).order_by(AlarmEntry.id))
            return [entry_view(e) for e in rows]

    def event_ids(self, alarm_id: int, limit: int = 200) -> list[int]:
        with self.db.session() as s:
            q = select(AlarmEvent.event_id).where(AlarmEvent.alarm_id == alarm_id).order_by(AlarmEvent.event_id)
            return list(s.scalars(q.limit(limit)))

    # --- escalation -------------------------------------------------------------------------------
    async def start(self, interval_s: float = 2.0) -> None:
        self._task = asyncio.create_task(self._escalate_loop(interval_s), name="alarm-escalation")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _escalate_loop(self, interval_s: float) -> None:
        await every(interval_s, self.escalate_due, "an alarm escalation pass")

    async def escalate_due(self) -> int:
        """Escalate every alarm still ``new`` (nobody took it) ``escalate_after_s`` after it was raised
        (and again after each further period)."""
        async with self._lock:
            done = await asyncio.to_thread(self._escalate)
        for alarm, entry_id in done:
            await self._publish(alarm, "escalated", entry_id)
        return len(done)

    def _escalate(self) -> list[tuple[msgs.Alarm, int]]:
        t = now_ms()
        out = []
        with self.db.session() as s:
            rows = s.scalars(select(Alarm).where(Alarm.state == "new", Alarm.escalate_after_s.is_not(None)))
            for a in rows:
                assert a.escalate_after_s is not None
                if t - a.created_ms >= a.escalate_after_s * 1000 * (a.escalation_level + 1):
                    a.escalation_level += 1
                    a.updated_ms = t
                    e = AlarmEntry(alarm_id=a.id, time_ms=t, actor=SYSTEM.name, action="escalate",
                                   text=f"not taken within {a.escalate_after_s * a.escalation_level} s",
                                   details={"level": a.escalation_level})  # fmt: skip
                    s.add(e)
                    s.flush()
                    if self.audit is not None:  # in the escalation's transaction
                        self.audit.record(s, SYSTEM.name, "alarm.escalate", "ok", a.camera_id,
                                          details={"alarm": a.id, "level": a.escalation_level})  # fmt: skip
                    out.append((alarm_state(a, None), e.id))
        return out

    async def _publish(self, alarm: msgs.Alarm, change: str, entry_id: int) -> None:
        await self.bus.publish(msgs.AlarmChanged(alarm, msgs.AlarmChange(change), entry_id))


def _owner(s: Any, alarm: Alarm) -> str | None:
    if alarm.owner_id is None:
        return alarm.owner_name
    u = s.get(User, alarm.owner_id)
    return u.username if u else None
