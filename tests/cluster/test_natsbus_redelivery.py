"""A message redelivered by NATS to a node that had not handled it (the first node died before its
acknowledgement) reaches the rules engine a second time: the alarm it raised or updated must not count
it twice nor announce a second step (``AlarmManager`` is idempotent by event). In-process: real database,
real events service (tests/events/test_correlation.py's world)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ronda.events.messages import Event
from ronda.events.store import NewEvent, events_by_ids
from ronda.timeutil import now_ms
from tests.events.test_correlation import World, running
from tests.events.test_notify_action import wait


async def test_a_redelivered_event_neither_counts_twice_nor_announces_again(tmp_path: Path) -> None:
    w = World(tmp_path)
    try:
        async with running(w):
            cam = w.cams["Piazza"]
            first, second = await w.svc.writer.submit(
                [NewEvent("tamper.cover", now_ms(), cam, None, "warning", "analytics", {})]
            ) + await w.svc.writer.submit([NewEvent("tamper.cover", now_ms(), cam, None, "warning", "analytics", {})])
            await wait(lambda: sum(a.event_count for a in w.alarms("Piazza")) == 2)  # raised, then updated
            await asyncio.sleep(0.3)
            steps = len(w.changes)
            for eid in (first, second):  # both again, as another node would get them
                (view,) = events_by_ids(w.db, [eid])
                await w.svc.engine.handle(Event.from_json(view))
            await asyncio.sleep(0.3)
            (alarm,) = w.alarms("Piazza")
            assert alarm.event_count == 2
            assert len(w.changes) == steps
    finally:
        w.db.dispose()
