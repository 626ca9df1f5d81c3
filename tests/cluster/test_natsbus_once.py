"""Issue 15, "consumers are idempotent", for rule actions: a real ``nats-server -js``, a real PostgreSQL,
two events nodes' rules engines on the shared ``rules`` queue consumer, and a real HTTP webhook receiver.
Node ev1 gets the event, runs the rule (the webhook POST, the bookmark) and then hangs before its
acknowledgement (a node dying or stalled while handling it); after ``ack_wait`` NATS delivers the
message to ev2, which matches the same rule and runs no action again: the receiver has one POST, the
camera one bookmark."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from ronda.access.netguard import Allowance
from ronda.config import NatsConfig
from ronda.events.alarms import AlarmManager
from ronda.events.engine import RulesEngine
from ronda.events.messages import Event, Message
from ronda.events.natsbus import NatsBus
from ronda.events.notify.webhook import delivery_id_for, send_webhook
from ronda.events.store import EventWriter
from ronda.store import claims_repo
from ronda.store.db import Database
from ronda.store.event_models import Rule
from ronda.store.models import Bookmark, Camera
from ronda.timeutil import now_ms
from tests.cluster.natsbus_server import NatsServer
from tests.events.test_notify import HttpPeer
from tests.events.test_notify_action import add_rule

pytestmark = pytest.mark.postgres
SITE = "Once"
SECRET = "once-webhook-secret-0123456789"  # noqa: S105 - a test's own secret
LOCAL = Allowance.parse(["127.0.0.1/32"])


@pytest.fixture(scope="module")
def nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path_factory.mktemp("nats-once")).start()
    yield server
    server.close()


@pytest.fixture
def db(pg_url: str) -> Iterator[Database]:
    """A database of its own on the session's server (other tests drop the shared one's schema)."""
    name = f"once_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    d = Database(pg_url.rsplit("/", 1)[0] + "/" + name)
    d.upgrade()
    yield d
    d.dispose()
    with admin.connect() as c:
        c.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def receiver() -> Iterator[tuple[HttpPeer, int]]:
    peer = HttpPeer([200])
    server, port = peer.serve()
    yield peer, port
    server.shutdown()


async def webhook(url: str, secret: str, payload: dict[str, Any], key: str) -> Any:
    """What the events service sends (``EventsService._webhook``), with the test's allow list."""
    return await send_webhook(url, secret, payload, allow=LOCAL, idempotency_key=key,
                              delivery_id=delivery_id_for(SITE, key))  # fmt: skip


def node(db: Database, nats: NatsServer, name: str) -> tuple[NatsBus, RulesEngine]:
    bus = NatsBus(NatsConfig(servers=[nats.url], ack_wait_seconds=1), SITE, name, frozenset({"rules"}))
    alarms = AlarmManager(db, bus, None, camera_names=dict)
    return bus, RulesEngine(db, bus, alarms, EventWriter(db), webhook=webhook, node=name)


async def until(pred: Any, within: float = 15, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not pred():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_a_message_redelivered_to_another_events_node_posts_the_webhook_once(
    nats: NatsServer, db: Database, receiver: tuple[HttpPeer, int]
) -> None:
    hook, port = receiver
    with db.session() as s:
        cam = Camera(name="Gate", created_ms=now_ms())
        s.add(cam)
        s.flush()
        camera = cam.id
    add_rule(db, {
        "name": "Gate intrusion", "trigger": {"types": ["intrusion.test"]},
        "actions": [{"type": "webhook", "url": f"http://127.0.0.1:{port}/hook", "secret": SECRET},
                    {"type": "bookmark", "title": "Intrusion at {camera_name}"}],
    })  # fmt: skip
    with db.session() as s:
        rule = s.scalar(select(Rule.id).where(Rule.name == "Gate intrusion"))

    bus1, engine1 = node(db, nats, "ev1")
    bus2, engine2 = node(db, nats, "ev2")
    release = asyncio.Event()
    got1: list[str] = []

    async def handle_then_hang(msg: Message) -> None:  # ev1: handles it, then never gets to its ack
        await engine1.handle(msg)
        got1.append(msg.key)
        await release.wait()

    await engine1.reload()
    bus1.subscribe("rules", handle_then_hang)
    await bus1.start()
    try:
        await bus1.wait_ready()
        await until(lambda: bus1._subs["rules"].task is not None, what="ev1's consumer")
        await asyncio.sleep(0.5)  # the consumer exists (it starts with new messages)
        ev = Event(id=4242, type="intrusion.test", time_ms=now_ms(), camera=camera)
        await bus1.publish_confirmed(ev)
        await until(lambda: got1 == [ev.key] and len(hook.requests) == 1, what="ev1's webhook")

        await engine2.start()  # ev2 joins the queue: the unacknowledged message comes to it
        await bus2.start()
        await until(lambda: engine2.fired == 1, what="the redelivery to ev2")
        await asyncio.sleep(1.0)  # a second POST, if any, would have come by now
        assert bus2.stats()["rules"]["delivered"] == 1
        assert engine2.claimed_elsewhere == 2  # it matched the rule and found both actions claimed
        assert len(hook.requests) == 1
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(Bookmark)) == 1
            webhook_claim = claims_repo.get(s, rule, ev.key, 0)
        assert webhook_claim is not None and (webhook_claim.node, webhook_claim.status) == ("ev1", "done")
        (req,) = hook.requests
        assert req.headers["idempotency-key"] == f"{ev.key}:{rule}:0"
    finally:
        release.set()
        await bus2.stop()
        await bus1.stop()
