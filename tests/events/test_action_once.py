"""Each rule action runs once per event, whichever events node gets the message (docs/alarms.md "Each
action runs once"). In-process: a real database, the real single-box events service (in-process bus),
a second rules engine on the same database as another events node would be, and a real HTTP webhook
receiver. The NATS version of this, with real redelivery, is tests/cluster/test_natsbus_once.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ronda.config import Config
from ronda.events.bus import InProcessBus
from ronda.events.engine import RulesEngine
from ronda.events.messages import Event
from ronda.events.notify.webhook import delivery_id_for, verify_signature
from ronda.events.service import EventsService
from ronda.events.store import NewEvent, events_by_ids
from ronda.store import claims_repo
from ronda.store.db import Database
from ronda.store.event_models import ActionClaim, Rule
from ronda.store.models import Bookmark, Camera
from ronda.timeutil import now_ms
from tests.events.test_notify import HttpPeer
from tests.events.test_notify_action import add_rule, wait

SECRET = "once-webhook-secret-0123456789"  # noqa: S105 - a test's own secret
SITE = "San Lucido"


class World:
    def __init__(self, tmp: Path) -> None:
        self.hook = HttpPeer([200])
        self.server, port = self.hook.serve()
        self.cfg = Config.model_validate({
            "data_dir": str(tmp), "site": {"name": SITE},
            "events": {"default_rules": False, "allowed_destinations": ["127.0.0.1/32"]},
        })  # fmt: skip
        (tmp / "keys").mkdir(parents=True, exist_ok=True)
        self.db = Database(self.cfg.database_url)
        self.db.upgrade()
        with self.db.session() as s:
            cam = Camera(name="Gate", created_ms=now_ms())
            s.add(cam)
            s.flush()
            self.camera = cam.id
        add_rule(self.db, {
            "name": "Gate intrusion", "trigger": {"types": ["intrusion.test"]},
            "actions": [{"type": "webhook", "url": f"http://127.0.0.1:{port}/hook", "secret": SECRET},
                        {"type": "bookmark", "title": "Intrusion at {camera_name}"}],
        })  # fmt: skip
        with self.db.session() as s:
            self.rule = s.scalar(select(Rule.id).where(Rule.name == "Gate intrusion"))
        self.svc = EventsService(self.cfg, self.db, None)

    def other_node(self, node: str = "ev2") -> RulesEngine:
        """Another events node's rules engine on the same database (its own bus: it is fed by hand)."""
        return RulesEngine(self.db, InProcessBus(), self.svc.alarms, self.svc.writer, webhook=self.svc._webhook,
                           node=node)  # fmt: skip

    def bookmarks(self) -> int:
        with self.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(Bookmark)) or 0)

    def claim(self, key: str, action: int) -> claims_repo.ClaimRow | None:
        with self.db.session() as s:
            return claims_repo.get(s, self.rule, key, action)

    async def post(self, type_: str = "intrusion.test") -> Event:
        (eid,) = await self.svc.writer.submit([NewEvent(type_, now_ms(), self.camera, None, "warning",
                                                        "external", {})])  # fmt: skip
        (view,) = events_by_ids(self.db, [eid])
        return Event.from_json(view)

    def close(self) -> None:
        self.server.shutdown()
        self.db.dispose()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    try:
        yield w
    finally:
        w.close()


@contextlib.asynccontextmanager
async def running(w: World) -> AsyncIterator[World]:
    """The events service runs in the test's own event loop (a fixture's may be another)."""
    await w.svc.start()
    try:
        yield w
    finally:
        await w.svc.stop()


async def test_the_same_event_on_two_nodes_posts_one_webhook_and_adds_one_bookmark(world: World) -> None:
    async with running(world):
        ev = await world.post()
        await wait(lambda: len(world.hook.requests) == 1 and world.bookmarks() == 1)  # the single box, as before
        await wait(lambda: (c := world.claim(ev.key, 0)) is not None and c.status == "done")
        other = world.other_node()
        await other.reload()
        await other.handle(ev)  # NATS redelivered it to another events node
        await world.svc.engine.handle(ev)  # or to the same one again
        await asyncio.sleep(0.5)
        assert len(world.hook.requests) == 1 and world.bookmarks() == 1
        assert other.fired == 1 and other.claimed_elsewhere == 2  # it matched, and found both actions taken
        (req,) = world.hook.requests
        key = f"{ev.key}:{world.rule}:0"
        assert req.headers["idempotency-key"] == key
        assert req.headers["x-ronda-delivery"] == delivery_id_for(SITE, key)
        assert verify_signature(SECRET, req.headers["x-ronda-timestamp"], req.body, req.headers["x-ronda-signature"])
        assert json.loads(req.body)["event"]["id"] == ev.id
        webhook, bookmark = world.claim(ev.key, 0), world.claim(ev.key, 1)
        assert webhook is not None and (webhook.status, webhook.attempts, webhook.error) == ("done", 1, None)
        assert bookmark is not None and bookmark.status == "done"
        assert webhook.node == bookmark.node == world.svc.engine.node


async def test_a_failed_webhook_is_recorded_and_not_sent_again_by_another_node(world: World) -> None:
    async with running(world):
        world.hook.statuses[:] = [400]  # the receiver refuses it: not retried, recorded as failed
        ev = await world.post()
        await wait(lambda: (c := world.claim(ev.key, 0)) is not None and c.status == "failed")
        row = world.claim(ev.key, 0)
        assert row is not None and row.error is not None and "400" in row.error
        other = world.other_node()
        await other.reload()
        await other.handle(ev)
        await asyncio.sleep(0.3)
        assert len(world.hook.requests) == 1


async def test_an_action_left_running_by_a_dead_node_runs_again_after_its_lease(world: World) -> None:
    async with running(world):
        # A node claimed the webhook, then died before it finished: its claim stays "running".
        world.svc.engine.rules = []  # this node's engine does not handle the event itself
        ev = await world.post()
        with world.db.session() as s:
            assert claims_repo.claim(s, world.rule, ev.key, 0, "ev-dead", now_ms() - 10_000, 1000) is not None
        other = world.other_node("ev2")
        other.lease_s = 60
        await other.reload()
        assert await other.recover_stale() == 0  # within the lease: the dead node may still be working
        other.lease_s = 5
        assert await other.recover_stale() == 1
        assert await other.recover_stale() == 0  # taken over once
        await wait(lambda: (c := world.claim(ev.key, 0)) is not None and c.status == "done")
        row = world.claim(ev.key, 0)
        assert row is not None and (row.node, row.attempts) == ("ev2", 2)
        (req,) = world.hook.requests  # the receiver may have had the dead node's POST: same key, same delivery
        key = f"{ev.key}:{world.rule}:0"
        assert req.headers["idempotency-key"] == key
        assert req.headers["x-ronda-delivery"] == delivery_id_for(SITE, key)
        assert world.bookmarks() == 0  # the bookmark action was never claimed: recovery runs only what was left


async def test_event_retention_deletes_old_claims(world: World) -> None:
    async with running(world):
        ev = await world.post()
        await wait(lambda: (c := world.claim(ev.key, 0)) is not None and c.status == "done")
        assert await asyncio.to_thread(world.svc._prune_claims, now_ms() - 3_600_000) == 0
        assert await asyncio.to_thread(world.svc._prune_claims, now_ms() + 1) == 2
        with world.db.session() as s:
            assert s.scalar(select(func.count()).select_from(ActionClaim)) == 0


async def test_a_burst_split_over_two_events_nodes_fires_a_cooldown_rule_once(world: World) -> None:
    """A rule's cooldown holds on every events node (docs/cluster.md "Shared guards"): a burst whose events
    alternate between two nodes fires it once, not once per node; the event that fired it, delivered again
    to the other node, fires it there too but its action is not run twice; after the cooldown it fires."""
    add_rule(world.db, {"name": "Burst", "trigger": {"types": ["burst.test"]}, "conditions": {"cooldown_s": 2},
                        "actions": [{"type": "bookmark", "title": "Burst at {camera_name}"}]})  # fmt: skip
    async with running(world):
        world.svc.engine.rules = []  # the nodes below get the events, by hand
        a, b = world.other_node("ev2"), world.other_node("ev3")
        await a.reload()
        await b.reload()
        burst = [await world.post("burst.test") for _ in range(6)]
        for i, ev in enumerate(burst):
            await (a if i % 2 == 0 else b).handle(ev)
        await b.handle(burst[0])  # NATS redelivered the first one to the other node
        assert world.bookmarks() == 1, "the cooldown let each node fire the rule"
        assert (a.fired, b.fired, b.claimed_elsewhere) == (1, 1, 1)
        await asyncio.sleep(2.1)
        await b.handle(await world.post("burst.test"))
        assert world.bookmarks() == 2 and b.fired == 2
