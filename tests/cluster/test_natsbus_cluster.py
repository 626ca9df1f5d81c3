"""Issue 15, "Events": real PostgreSQL, a real ``nats-server -js``, one ``ronda serve --role events`` and
two ``ronda serve --role api`` processes. Events posted to either API node raise alarms on the events
node; the WebSocket clients of both API nodes get every alarm exactly once. NATS is killed for 30 s
while events keep coming (they wait in the outbox), then started again on the same store: nothing is
lost, and each client still gets each alarm exactly once."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from websockets.sync.client import connect

from tests.cluster.natsbus_server import NatsServer
from tests.helpers import RondaProcess, free_port, wait_for

pytestmark = pytest.mark.postgres
OUTAGE_S = 30


class RoleProcess(RondaProcess):
    """``ronda serve --role ROLE``; the first node of the site makes the schema and the test administrator."""

    def start(self, timeout: float = 60, first: bool = False) -> None:
        if first:
            self.prepare(check_user=True)
        self.spawn(timeout)


class Socket:
    """A WebSocket client of one API node's /api/v1/ws, collecting messages in a thread."""

    def __init__(self, node: RondaProcess, ticket_from: RondaProcess) -> None:
        # the ticket is asked of the other API node, as behind a load balancer: any node redeems it
        ticket = ticket_from.api("POST", "/api/v1/ws-ticket").json()["ticket"]
        self.ws = connect(f"ws://127.0.0.1:{node.port}/api/v1/ws?ticket={ticket}", open_timeout=10).__enter__()
        self.messages: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            while True:
                self.messages.append(json.loads(self.ws.recv()))
        except Exception:
            return

    def created(self) -> Counter[int]:
        msgs = list(self.messages)
        return Counter(m["alarm"]["id"] for m in msgs if m["kind"] == "alarm" and m["change"] == "created")

    def events(self) -> Counter[int]:
        return Counter(m["event"]["id"] for m in list(self.messages) if m["kind"] == "event")

    def close(self) -> None:
        self.ws.close()


def own_database(pg_url: str) -> str:
    """A database of its own on the session's server (other tests drop the shared one's schema)."""
    name = f"natsbus_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return pg_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="module")
def site(tmp_path_factory, pg_url):
    base = tmp_path_factory.mktemp("natsbus")
    nats = NatsServer(base).start()
    db_url = own_database(pg_url)
    data = base / "data"  # one data directory: the nodes of a site share keys/ (the deployment copies it)
    data.mkdir()
    procs: dict[str, RoleProcess] = {}
    try:
        for node, role in (("ev1", "events"), ("api1", "api"), ("api2", "api")):
            port = free_port()
            cfg = {
                "data_dir": str(data),
                "http": {"host": "127.0.0.1", "port": port},
                "database": {"url": db_url},
                "site": {"name": "San Lucido"},
                "cluster": {"node": node},
                "nats": {"servers": [nats.url]},
                "events": {"default_rules": False},
                "cameras": [{"name": "Gate", "main": {"url": "rtsp://127.0.0.1:9/none"}}],
                "map": {"tile_url": None},
                "analytics": {"enabled": False},
                "log_level": "info",
            }
            path = base / f"{node}.yaml"
            path.write_text(yaml.safe_dump(cfg))
            procs[node] = RoleProcess(path, base / f"{node}.log", port, role)
            procs[node].start(first=node == "ev1")
        yield nats, procs
    finally:
        for p in procs.values():
            p.close()
        nats.close()


def post_event(node: RondaProcess, camera: int, text: str) -> int:
    r = node.api("POST", "/api/v1/events", json={"type": "intrusion.test", "camera": camera, "text": text,
                                                 "uid": text})  # fmt: skip
    assert r.status_code == 202, r.text
    return int(r.json()["ids"][0])


def test_every_alarm_reaches_both_api_nodes_once_through_a_nats_outage(site) -> None:
    nats, procs = site
    api1, api2, ev = procs["api1"], procs["api2"], procs["ev1"]
    camera = api1.api("GET", "/api/v1/cameras").json()[0]["id"]
    apis = [api1, api2]
    posted: list[int] = []
    n = 0

    def post() -> None:
        nonlocal n
        n += 1
        posted.append(post_event(apis[n % 2], camera, f"n{n}"))

    def alarms() -> list[dict[str, Any]]:  # the test's (not the probes')
        found = api1.api("GET", "/api/v1/alarms", params={"limit": 2000}).json()
        return [a for a in found if not a["title"].startswith("Intrusion probe")]

    def probe_alarms() -> set[int]:
        found = api1.api("GET", "/api/v1/alarms", params={"limit": 2000}).json()
        return {a["id"] for a in found if a["title"].startswith("Intrusion probe")}

    # A rule made through an API node reaches the events node within seconds: probe until it raises.
    r = api1.api("POST", "/api/v1/rules", json={
        "name": "Intrusion", "trigger": {"types": ["intrusion.test"]},
        "actions": [{"type": "raise_alarm", "title": "Intrusion {text}", "incident": "{rule}:{text}"}],
    })  # fmt: skip
    assert r.status_code == 201, r.text
    probes = iter(range(1000))
    wait_for(lambda: post_event(api2, camera, f"probe{next(probes)}") and probe_alarms(), 20, 0.5, "the rule on ev1")

    sockets = [Socket(api1, ticket_from=api2), Socket(api2, ticket_from=api1)]
    for _ in range(4):
        post()
    wait_for(lambda: all(len(s.created()) >= 4 for s in sockets), 30, 0.2, "the first alarms on both nodes")

    nats.kill9()
    killed = time.monotonic()
    while time.monotonic() - killed < OUTAGE_S:  # events keep coming: they wait in the outbox
        post()
        time.sleep(1)
    assert len(alarms()) == 4  # the events node heard nothing meanwhile
    nats.start()
    post()
    post()

    wait_for(lambda: len(alarms()) == len(posted), 40, 0.5, "an alarm per event")
    titles = sorted(a["title"] for a in alarms())
    assert titles == sorted(f"Intrusion n{i}" for i in range(1, n + 1))  # nothing lost, nothing doubled
    ids = {a["id"] for a in alarms()}
    wait_for(
        lambda: all(set(s.created()) - probe_alarms() == ids for s in sockets), 30, 0.2, "every alarm on both nodes"
    )
    # Every event stored since (the posted ones and each alarm's alarm.raised), on both nodes.
    stored = {e["id"] for e in ev.api("GET", "/api/v1/events", params={"limit": 1000}).json() if e["id"] >= posted[0]}
    assert stored >= set(posted)
    wait_for(lambda: all(set(s.events()) >= stored for s in sockets), 10, 0.2, "every event on both nodes")
    time.sleep(1)  # repeats, if any, would have come by now
    for s in sockets:
        assert set(s.created().values()) == {1}, s.created()  # each alarm exactly once
        assert set(s.events().values()) == {1}, s.events()
    nats_stats = ev.api("GET", "/api/v1/events/stats").json()["bus"]["nats"]
    assert nats_stats["connected"] and nats_stats["dropped"] == 0
    for s in sockets:
        s.close()
