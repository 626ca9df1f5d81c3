"""The NATS JetStream bus (events/natsbus.py) against a real ``nats-server -js``, and the outbox relay
(events/store.py) in front of it: Msg-Id de-duplication, redelivery after a handler failure, queue
versus per-node consumers, an alarm step's key across the wire, the relay through an outage, a restart
and ids committed out of order. Each test has its own site, hence its own stream and consumers."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from ronda.config import ConfigError, NatsConfig, load_config
from ronda.events.bus import InProcessBus
from ronda.events.messages import Alarm, AlarmChange, AlarmChanged, AlarmState, Event, Message
from ronda.events.natsbus import NatsBus, subject
from ronda.events.store import NewEvent, OutboxRelay
from ronda.store import repos
from ronda.store.db import Database
from tests.cluster.natsbus_server import NatsServer

_sites = itertools.count(1)


@pytest.fixture(scope="module")
def nats(tmp_path_factory: pytest.TempPathFactory):
    server = NatsServer(tmp_path_factory.mktemp("nats")).start()
    yield server
    server.close()


@pytest.fixture
def db(tmp_path: Path):
    d = Database(f"sqlite:///{tmp_path / 'r.db'}")
    d.upgrade()
    yield d
    d.dispose()


def site() -> str:
    return f"Site {next(_sites)}.x"  # a space and a dot: both must be made subject-safe


def bus(url: str, site_name: str, node: str, consume: set[str], **cfg: object) -> NatsBus:
    return NatsBus(NatsConfig(servers=[url], **cfg), site_name, node, frozenset(consume))  # type: ignore[arg-type]


def event(i: int, camera: int | None = 1) -> Event:
    return Event(id=i, type="intrusion.test", time_ms=1_700_000_000_000 + i, camera=camera)


def alarm_step(alarm_id: int, entry: int) -> AlarmChanged:
    t = 1_700_000_000_000
    a = Alarm(id=alarm_id, state=AlarmState.NEW, priority="high", priority_num=100, category="general",
              title="Intrusion", instructions=None, camera=1, cameras=(1,), rule=1, incident="1:1", owner=None,
              owner_id=None, pre_alarm_s=10, event_count=1, escalation_level=0, first_event_ms=t, last_event_ms=t,
              created_ms=t, updated_ms=t)  # fmt: skip
    return AlarmChanged(a, AlarmChange.CREATED, entry)


async def until(pred: Callable[[], bool], within: float = 10, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not pred():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def stream_messages(b: NatsBus) -> int:
    info = await b._js.stream_info(b.stream)
    return int(info.state.messages)


def collector(into: list[str]) -> Callable[[Message], Awaitable[None]]:
    async def handle(msg: Message) -> None:
        into.append(msg.key)

    return handle


@pytest.mark.parametrize("url", ["nats://user:s3cret@nats.example:4222", "nats://s3cret@nats.example:4222"])
def test_credentials_in_a_server_url_are_refused_without_echoing_them(tmp_path: Path, url: str) -> None:
    cfg = tmp_path / "ronda.yaml"
    cfg.write_text(f"data_dir: {tmp_path}\nnats:\n  servers: ['{url}']\n")
    with pytest.raises(ConfigError, match=r"nats\.servers: .*credentials_file") as err:
        load_config(cfg)
    assert "s3cret" not in str(err.value)


def test_subjects_are_per_site_camera_and_type_with_safe_tokens() -> None:
    assert subject("San Lucido", event(7, camera=3)) == "ronda.San_Lucido.event.3.intrusion_test"
    odd = Event(id=1, type="a.b*>c d", time_ms=0)
    assert subject("Roma.*>", odd) == "ronda.Roma___.event.site.a_b__c_d"
    assert subject("San Lucido", alarm_step(42, 5)) == "ronda.San_Lucido.alarm.42"


async def test_a_repeated_msg_id_is_stored_and_delivered_once(nats: NatsServer) -> None:
    got: list[str] = []
    b = bus(nats.url, site(), "n1", {"websocket"})
    b.subscribe("websocket", collector(got))
    await b.start()
    try:
        await b.wait_ready()
        await until(lambda: b._subs["websocket"].task is not None)
        await asyncio.sleep(0.3)  # the consumer exists (it starts with new messages)
        for i in (1, 2, 1, 2, 3):  # a relay retrying after lost acknowledgements
            await b.publish_confirmed(event(i))
        await until(lambda: len(got) >= 3, what="three messages")
        assert await stream_messages(b) == 3
        await asyncio.sleep(0.3)
        assert got == ["event:1", "event:2", "event:3"]
        assert b.stats()["nats"]["published"] == 3
    finally:
        await b.stop()


async def test_a_failing_handler_gets_the_message_again(nats: NatsServer) -> None:
    attempts: list[str] = []
    done: list[str] = []

    async def flaky(msg: Message) -> None:
        attempts.append(msg.key)
        if msg.key == "event:1" and attempts.count("event:1") == 1:
            raise RuntimeError("the database was busy")
        done.append(msg.key)

    b = bus(nats.url, site(), "n1", {"rules"})
    b.subscribe("rules", flaky)
    await b.start()
    try:
        await b.wait_ready()
        await asyncio.sleep(0.5)
        await b.publish_confirmed(event(1))
        await b.publish_confirmed(event(2))
        await until(lambda: "event:1" in done and "event:2" in done, what="both handled")
        await asyncio.sleep(1.0)  # nothing more comes: both were acknowledged after their handler
        assert attempts.count("event:1") == 2 and attempts.count("event:2") == 1
        assert sorted(done) == ["event:1", "event:2"]
        st = b.stats()["rules"]
        assert (st["failed"], st["delivered"]) == (1, 2)
    finally:
        await b.stop()


async def test_queue_consumers_share_messages_and_every_node_gets_its_own_websocket_copy(nats: NatsServer) -> None:
    name = site()
    rules = {"a": [], "b": []}  # type: dict[str, list[str]]
    ws = {"a": [], "b": []}  # type: dict[str, list[str]]
    buses = []
    for node in ("a", "b"):
        b = bus(nats.url, name, node, {"rules", "websocket"})
        b.subscribe("rules", collector(rules[node]))
        b.subscribe("websocket", collector(ws[node]))
        await b.start()
        buses.append(b)
    try:
        for b in buses:
            await b.wait_ready()
        await asyncio.sleep(0.5)
        for i in range(1, 41):
            await buses[i % 2].publish_confirmed(event(i))
        want = [f"event:{i}" for i in range(1, 41)]
        await until(lambda: len(ws["a"]) == 40 and len(ws["b"]) == 40, what="every node's websocket copy")
        await until(lambda: len(rules["a"]) + len(rules["b"]) >= 40, what="the rules queue")
        await asyncio.sleep(0.5)
        assert ws["a"] == want and ws["b"] == want
        assert sorted(rules["a"] + rules["b"], key=lambda k: int(k.split(":")[1])) == want  # each once, somewhere
    finally:
        for b in buses:
            await b.stop()


async def test_an_alarm_step_keeps_its_key_across_the_wire(nats: NatsServer) -> None:
    got: list[Message] = []

    async def keep(msg: Message) -> None:
        got.append(msg)

    b = bus(nats.url, site(), "n1", {"websocket"})
    b.subscribe("websocket", keep)
    await b.start()
    try:
        await b.wait_ready()
        await asyncio.sleep(0.5)
        step = alarm_step(42, 17)
        await b.publish(step)
        await b.publish(step)  # the same step twice: one message
        await until(lambda: len(got) == 1, what="the alarm step")
        await asyncio.sleep(0.3)
        assert got == [step] and got[0].key == "alarm:42:17"
    finally:
        await b.stop()


async def test_oversized_messages_are_refused(nats: NatsServer) -> None:
    b = bus(nats.url, site(), "n1", set(), max_message_bytes=4096)
    await b.start()
    try:
        await b.wait_ready()
        big = Event(id=1, type="x", time_ms=0, payload={"blob": "y" * 5000})
        with pytest.raises(ValueError, match="max_message_bytes"):
            await b.publish_confirmed(big)
    finally:
        await b.stop()


def store_events(db: Database, n: int, ids: list[int] | None = None) -> list[int]:
    rows = [NewEvent("intrusion.test", 1_700_000_000_000, None).row() for _ in range(n)]
    if ids is not None:
        for row, i in zip(rows, ids, strict=True):
            row["id"] = i
    with db.session() as s:
        return repos.add_events(s, rows)


@pytest.fixture
def own_nats(tmp_path: Path):
    server = NatsServer(tmp_path).start()
    yield server
    server.close()


async def test_the_relay_waits_through_an_outage_and_resumes_after_a_restart(
    own_nats: NatsServer, db: Database
) -> None:
    """Its own server: this test stops it. Events stored while NATS is away wait in the database; the
    relay publishes them in order when it returns; a new relay (the events node restarted meanwhile)
    starts after the newest event in the stream, not after the newest row."""
    server = own_nats
    got: list[str] = []
    b = bus(server.url, site(), "n1", {"websocket"})
    b.subscribe("websocket", collector(got))
    relay = OutboxRelay(db, b, interval_s=0.2, send=b.publish_confirmed, resume=b.last_event_id)
    try:
        await b.start()
        await b.wait_ready()
        await asyncio.sleep(0.5)
        await relay.start()
        await relay.positioned.wait()
        first = store_events(db, 3)
        await until(lambda: relay.published == 3, what="the first events")
        server.kill9()
        down = store_events(db, 3)
        await until(lambda: relay.retries > 0, what="the relay retrying")
        assert relay.published == 3
        await relay.stop()  # the events node goes down too...
        later = store_events(db, 2)  # ...and events are stored while no relay runs
        server.start()
        relay = OutboxRelay(db, b, interval_s=0.2, send=b.publish_confirmed, resume=b.last_event_id)
        await relay.start()
        want = [f"event:{i}" for i in first + down + later]
        await until(lambda: got == want, within=20, what=f"all of {want}, got {got}")
        assert await stream_messages(b) == 8
    finally:
        await relay.stop()
        await b.stop()


async def test_the_relay_publishes_an_id_committed_after_a_higher_one(db: Database) -> None:
    """On PostgreSQL ids come from a sequence when a transaction inserts: a slow transaction may commit
    id 2 after id 3 was published. The relay looks for the skipped id again."""
    b = InProcessBus()
    got: list[str] = []
    b.subscribe("websocket", collector(got))
    await b.start()
    relay = OutboxRelay(db, b, interval_s=0.1)
    try:
        await relay.start()  # from the newest row, known when start returns
        store_events(db, 1, ids=[1])
        await until(lambda: got == ["event:1"], what="event 1")
        store_events(db, 1, ids=[3])
        await until(lambda: got == ["event:1", "event:3"], what="event 3")
        store_events(db, 1, ids=[2])  # the slow transaction commits
        await until(lambda: "event:2" in got, within=5, what="event 2")
        assert sorted(got) == ["event:1", "event:2", "event:3"]
    finally:
        await relay.stop()
        await b.stop()


async def test_two_relays_racing_publish_each_event_once(nats: NatsServer, db: Database) -> None:
    """Two events nodes relay the same rows: JetStream's Msg-Id de-duplication lets one copy through."""
    name = site()
    got: list[str] = []
    a = bus(nats.url, name, "ev1", {"websocket"})
    a.subscribe("websocket", collector(got))
    b = bus(nats.url, name, "ev2", set())
    relays = [OutboxRelay(db, x, interval_s=0.05, send=x.publish_confirmed, resume=x.last_event_id) for x in (a, b)]
    try:
        for x in (a, b):
            await x.start()
            await x.wait_ready()
        await asyncio.sleep(0.5)
        for r in relays:
            await r.start()
            await r.positioned.wait()
        ids: list[int] = []
        for _ in range(10):
            ids += store_events(db, 5)
            for r in relays:
                r.poke()
            await asyncio.sleep(0.02)
        await until(lambda: all(r.published == len(ids) for r in relays), what="both relays through every event")
        await until(lambda: len(got) >= len(ids), what="the websocket copy")
        await asyncio.sleep(0.3)
        assert got == [f"event:{i}" for i in ids]
        assert await stream_messages(a) == len(ids)
    finally:
        for r in relays:
            await r.stop()
        await a.stop()
        await b.stop()


async def test_a_relay_over_a_replaced_database_goes_on_from_its_rows(nats: NatsServer, db: Database) -> None:
    """The stream remembers event 100, the (restored) database ends at 2: the relay goes on from 2."""
    got: list[str] = []
    b = bus(nats.url, site(), "ev1", {"websocket"})
    b.subscribe("websocket", collector(got))
    relay = OutboxRelay(db, b, interval_s=0.1, send=b.publish_confirmed, resume=b.last_event_id)
    try:
        await b.start()
        await b.wait_ready()
        await asyncio.sleep(0.5)
        await b.publish_confirmed(event(100))
        store_events(db, 2)
        await relay.start()
        await relay.positioned.wait()
        assert relay.last_id == 2
        (new,) = store_events(db, 1)
        await until(lambda: got == ["event:100", f"event:{new}"], what="the new event")
    finally:
        await relay.stop()
        await b.stop()
