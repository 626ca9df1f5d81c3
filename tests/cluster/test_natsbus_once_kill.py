"""Issue 15, rule actions across a crash: real PostgreSQL, a real ``nats-server -js``, two ``ronda serve
--role events`` processes and a real HTTP webhook receiver that holds the first POST open. The events
node that sent it is killed with SIGKILL while the receiver holds it (the action's claim stays
``running``); the other node takes the claim over after ``events.action_lease_seconds`` and sends the
webhook again with the same ``Idempotency-Key`` and ``X-Ronda-Delivery``, once: the receiver can drop
the repeat, and no action is lost. Lease here: ``ONCE_LEASE_S`` (default 4 s)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from ronda.events.notify.webhook import delivery_id_for
from ronda.events.store import NewEvent
from ronda.store import claims_repo, repos
from ronda.store.db import Database
from ronda.store.event_models import Rule
from ronda.store.models import Camera
from ronda.timeutil import now_ms
from tests.cluster.natsbus_server import NatsServer
from tests.cluster.test_natsbus_cluster import RoleProcess, own_database
from tests.events.test_notify_action import add_rule
from tests.helpers import free_port, wait_for

pytestmark = pytest.mark.postgres
SITE = "Once Kill"
SECRET = "once-kill-secret-0123456789"  # noqa: S105 - a test's own secret
LEASE_S = float(os.environ.get("ONCE_LEASE_S", "4"))


class HoldingReceiver:
    """Records every POST; holds the first one open until ``release`` (the sender dies meanwhile)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append({k.lower(): v for k, v in self.headers.items()})
                if len(receiver.requests) == 1:
                    receiver.release.wait(60)
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender is gone

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, pg_url: str) -> Iterator[tuple[Database, dict[str, RoleProcess]]]:
    base = tmp_path_factory.mktemp("once-kill")
    nats = NatsServer(base).start()
    db_url = own_database(pg_url)
    data = base / "data"
    data.mkdir()
    procs: dict[str, RoleProcess] = {}
    db = Database(db_url)
    try:
        for name in ("ev1", "ev2"):
            port = free_port()
            cfg = {
                "data_dir": str(data), "http": {"host": "127.0.0.1", "port": port}, "database": {"url": db_url},
                "site": {"name": SITE}, "cluster": {"node": name}, "nats": {"servers": [nats.url]},
                "events": {"default_rules": False, "allowed_destinations": ["127.0.0.1/32"],
                           "action_lease_seconds": LEASE_S},
                "cameras": [], "map": {"tile_url": None}, "analytics": {"enabled": False}, "log_level": "info",
            }  # fmt: skip
            path = base / f"{name}.yaml"
            path.write_text(yaml.safe_dump(cfg))
            procs[name] = RoleProcess(path, base / f"{name}.log", port, "events")
            procs[name].start(first=name == "ev1")
        yield db, procs
    finally:
        for p in procs.values():
            p.close()
        nats.close()
        db.dispose()


def test_a_webhook_left_running_by_a_killed_node_is_sent_again_once_with_the_same_key(site) -> None:
    db, procs = site
    hook = HoldingReceiver()
    try:
        with db.session() as s:
            cam = Camera(name="Gate", created_ms=now_ms())
            s.add(cam)
            s.flush()
            camera = cam.id
        add_rule(db, {
            "name": "Gate intrusion", "trigger": {"types": ["intrusion.test"]},
            "actions": [{"type": "webhook", "url": f"http://127.0.0.1:{hook.port}/hook", "secret": SECRET}],
        })  # fmt: skip
        with db.session() as s:
            rule = s.scalar(select(Rule.id).where(Rule.name == "Gate intrusion"))
        time.sleep(6)  # both nodes reload their rules every 5 s
        with db.session() as s:  # as a recorder or an API node stores one: the relay publishes it
            ev = NewEvent("intrusion.test", now_ms(), camera, None, "warning", "external", {})
            (eid,) = repos.add_events(s, [ev.row()])
        key = f"event:{eid}"
        wait_for(lambda: len(hook.requests) == 1, 20, 0.1, "the first POST")

        def claim() -> claims_repo.ClaimRow | None:
            with db.session() as s:
                return claims_repo.get(s, rule, key, 0)

        first = claim()
        assert first is not None and first.status == "running" and first.attempts == 1
        victim, survivor = first.node, "ev2" if first.node == "ev1" else "ev1"
        procs[victim].kill9()  # while the receiver holds its POST: the claim stays running
        hook.release.set()
        killed = time.monotonic()
        wait_for(lambda: len(hook.requests) == 2, LEASE_S + 20, 0.1, "the webhook sent again by the survivor")
        took = time.monotonic() - killed
        wait_for(lambda: (c := claim()) is not None and c.status == "done", 10, 0.1, "the outcome")
        time.sleep(LEASE_S + 1)  # a third POST, if any, would have come by now
        assert len(hook.requests) == 2
        again = claim()
        assert again is not None and (again.node, again.attempts, again.status) == (survivor, 2, "done")
        want = f"{key}:{rule}:0"
        assert [r["idempotency-key"] for r in hook.requests] == [want, want]
        assert {r["x-ronda-delivery"] for r in hook.requests} == {delivery_id_for(SITE, want)}
        assert took < LEASE_S + 15, took
        print(f"webhook taken over {took:.1f} s after the kill (lease {LEASE_S} s)")
    finally:
        hook.close()
