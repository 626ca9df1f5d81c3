"""One incident, one alarm (issue 14, camera tamper): a camera's tamper event and its offline event within
a minute of each other, in either order, are one alarm; far apart, two. In-process: real database, real
event writer and outbox relay, real bus, the shipped "Camera offline" rule and a tamper rule, the real
alarm manager (``ronda.events.correlation``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ronda.access.rights import ensure_builtin_roles
from ronda.config import Config
from ronda.events.engine import install_default_rules
from ronda.events.messages import AlarmChanged, Message
from ronda.events.service import EventsService
from ronda.events.store import NewEvent
from ronda.store.db import Database
from ronda.store.event_models import Alarm, AlarmEntry
from ronda.store.models import Camera
from ronda.timeutil import now_ms
from tests.events.test_notify_action import add_rule, wait

TAMPER_RULE = {
    "name": "Camera tamper",
    "trigger": {"types": ["tamper.*"]},
    "actions": [{"type": "raise_alarm", "priority": "medium", "category": "tamper", "title": "Tamper: {camera_name}",
                 "notify_roles": ["operator"]}],
}  # fmt: skip


class World:
    def __init__(self, tmp: Path, events: dict[str, Any] | None = None) -> None:
        self.cfg = Config.model_validate({"data_dir": str(tmp), "events": {"notify_limit": 100, **(events or {})}})
        (tmp / "keys").mkdir(parents=True, exist_ok=True)
        self.db = Database(self.cfg.database_url)
        self.db.upgrade()
        with self.db.session() as s:
            ensure_builtin_roles(s)
            cams = [Camera(name=n, created_ms=now_ms()) for n in ("Piazza", "Ponte")]
            s.add_all(cams)
            s.flush()
            self.cams = {c.name: c.id for c in cams}
        self.svc = EventsService(self.cfg, self.db, None)
        self.changes: list[AlarmChanged] = []

    async def start(self) -> None:
        install_default_rules(self.db)  # the shipped "Camera offline" rule (a site with rules gets none)
        add_rule(self.db, TAMPER_RULE)

        async def record(msg: Message) -> None:
            if isinstance(msg, AlarmChanged):
                self.changes.append(msg)

        self.svc.bus.subscribe("test", record)
        await self.svc.start()

    async def send(self, etype: str, camera: str, t_ms: int, source: str = "analytics") -> None:
        """One event through the event writer, then wait until the rules engine has handled it."""
        before = self.svc.engine.fired
        await self.svc.writer.submit([NewEvent(etype, t_ms, self.cams[camera], None, "warning", source, {})])
        await wait(lambda: self.svc.engine.fired > before)
        await asyncio.sleep(0.2)  # the alarm manager's decision and its bus message

    def alarms(self, camera: str) -> list[Alarm]:
        with self.db.session() as s:
            rows = s.scalars(select(Alarm).where(Alarm.camera_id == self.cams[camera]).order_by(Alarm.id))
            return list(rows)

    def history(self, alarm_id: int) -> list[AlarmEntry]:
        with self.db.session() as s:
            return list(s.scalars(select(AlarmEntry).where(AlarmEntry.alarm_id == alarm_id).order_by(AlarmEntry.id)))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    try:
        yield w
    finally:
        w.db.dispose()


@contextlib.asynccontextmanager
async def running(w: World) -> AsyncIterator[World]:
    """The events service runs in the test's own event loop (a fixture's may be another)."""
    await w.start()
    try:
        yield w
    finally:
        await w.svc.stop()


async def test_tamper_then_offline_is_one_alarm(world: World) -> None:
    async with running(world):
        t = now_ms()
        await world.send("tamper.covered", "Piazza", t)
        [alarm] = world.alarms("Piazza")
        assert alarm.priority == "medium" and alarm.category == "tamper"
        await world.send("camera.offline", "Piazza", t + 20_000, source="camera")
        [alarm] = world.alarms("Piazza")
        assert alarm.event_count == 2
        assert alarm.priority == "high" and alarm.priority_num == 100, "the offline rule's priority raises it"
        assert alarm.first_event_ms == t and alarm.last_event_ms == t + 20_000
        joined = [e for e in world.history(alarm.id) if e.action == "joined"]
        assert len(joined) == 1 and joined[0].text == "camera.offline joined (camera tamper)"
        assert joined[0].details["priority"] == {"from": "medium", "to": "high"}
        # the offline rule's audience is added, so the join notifies them too
        assert set(alarm.notify["roles"]) == {"operator", "administrator"}
        assert [c.change.value for c in world.changes if c.alarm.id == alarm.id] == ["created", "joined"]
        # the offline incident's later events (repeated offline, camera back) update the same alarm
        await world.send("camera.offline", "Piazza", t + 120_000, source="camera")
        await world.send("camera.online", "Piazza", t + 130_000, source="camera")
        [alarm] = world.alarms("Piazza")
        assert alarm.event_count == 4 and alarm.state == "new"


async def test_offline_then_tamper_is_one_alarm_in_either_order_of_time(world: World) -> None:
    async with running(world):
        t = now_ms()
        await world.send("camera.offline", "Ponte", t, source="camera")
        [alarm] = world.alarms("Ponte")
        assert alarm.priority == "high" and alarm.category == "technical"
        # the analytics worker reports the camera turned away 30 s *before* the outage, but later
        await world.send("tamper.moved", "Ponte", t - 30_000)
        [alarm] = world.alarms("Ponte")
        assert alarm.event_count == 2 and alarm.priority == "high", "a lower priority does not lower the alarm's"
        assert alarm.first_event_ms == t - 30_000
        assert [e.action for e in world.history(alarm.id)] == ["created", "joined"]
        # a second tamper event of the same incident goes to the same alarm
        await world.send("tamper.covered", "Ponte", t + 10_000)
        assert len(world.alarms("Ponte")) == 1
        # the other camera is another incident
        await world.send("tamper.blinded", "Piazza", t + 5_000)
        assert len(world.alarms("Piazza")) == 1 and len(world.alarms("Ponte")) == 1


async def test_events_far_apart_are_two_alarms(world: World) -> None:
    async with running(world):
        t = now_ms()
        await world.send("camera.offline", "Piazza", t - 300_000, source="camera")
        await world.send("tamper.defocused", "Piazza", t)
        alarms = world.alarms("Piazza")
        assert len(alarms) == 2, [(a.id, a.category) for a in alarms]
        assert {a.category for a in alarms} == {"technical", "tamper"}
        assert not [e for a in alarms for e in world.history(a.id) if e.action == "joined"]


async def test_correlation_can_be_turned_off(tmp_path: Path) -> None:
    w = World(tmp_path, {"correlate": []})
    try:
        async with running(w):
            t = now_ms()
            await w.send("tamper.covered", "Piazza", t)
            await w.send("camera.offline", "Piazza", t + 5_000, source="camera")
            assert len(w.alarms("Piazza")) == 2
    finally:
        w.db.dispose()
