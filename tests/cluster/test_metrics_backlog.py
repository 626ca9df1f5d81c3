"""The catalog-derived gauges of ronda.cluster.metrics on a small catalog (no server): archive backlog with
the archive's age thresholds (default and per camera), segment lag, lease holder, bus lag."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ronda.cluster.metrics import Sources, collect
from ronda.store.cluster_models import CameraLease, Node
from ronda.store.db import Database
from ronda.store.models import Camera, CameraStream, Event, Segment
from ronda.timeutil import now_ms

H = 3_600_000


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    d = Database(f"sqlite:///{tmp_path / 'r.db'}")
    d.upgrade()
    yield d
    d.dispose()


def seed(db: Database, now: int) -> tuple[int, int]:
    with db.session() as s:
        a, b = Camera(name="Piazza", created_ms=now), Camera(name="Porto", created_ms=now)
        s.add_all([a, b])
        s.flush()
        for cam in (a, b):
            s.add(CameraStream(camera_id=cam.id, kind="main", url="rtsp://user:secret@10.0.0.9/stream", record=True))
        # Piazza: ended 2 h, 30 min and 10 s ago; Porto: 2 h ago, and one already archived.
        for cam, ago, loc, node in [(a, 2 * H, "local", "r1"), (a, H // 2, "local", "r1"), (a, 10_000, "local", "r1"),
                                    (b, 2 * H, "local", "r1"), (b, 5 * H, "archive", "r1"),
                                    (b, 3 * H, "local", "r2")]:  # fmt: skip
            end = now - ago
            s.add(Segment(camera_id=cam.id, stream="main", start_ms=end - 4000, end_ms=end, bytes=1, path="x.mp4",
                          sha256="0" * 64, node=node, location=loc))  # fmt: skip
        s.add(Node(name="r1", roles=["recorder"], url="http://r1:8080", capacity=10, epoch=7, started_ms=now,
                   last_seen_ms=now))  # fmt: skip
        s.add(CameraLease(camera_id=a.id, node="r1", epoch=3, expires_ms=now + 10_000, acquired_ms=now))
        s.add(CameraLease(camera_id=b.id, node="r2", epoch=4, expires_ms=now - 1, acquired_ms=now))  # expired
        for i in range(5):
            s.add(Event(time_ms=now, type="test", camera_id=a.id, uid=f"e{i}"))
        s.flush()
        return a.id, b.id


def gauges(cfg: Any, db: Database, published: int | None = None) -> dict[tuple[str, frozenset[Any]], float]:
    src = Sources("r1", ["recorder"], lambda: {}, lambda: published)
    return {(s.name, frozenset(s.labels.items())): s.value for m in collect(cfg, db, src, 0.001) for s in m.samples}


def test_archive_backlog_counts_this_nodes_local_segments_past_the_age(db: Database) -> None:
    a, b = seed(db, now_ms())
    backlog = frozenset({("node", "r1")})
    assert gauges(SimpleNamespace(), db)[("ronda_archive_backlog_segments", backlog)] == 0  # no archive
    one_hour = SimpleNamespace(archive=SimpleNamespace(after_hours=1, camera_after_hours={}))
    assert gauges(one_hour, db)[("ronda_archive_backlog_segments", backlog)] == 2  # not r2's, not archived
    per_camera = SimpleNamespace(archive=SimpleNamespace(after_hours=1, camera_after_hours={b: 3}))
    assert gauges(per_camera, db)[("ronda_archive_backlog_segments", backlog)] == 1
    quarter = SimpleNamespace(archive=SimpleNamespace(after_hours=0.25, camera_after_hours={}))
    assert gauges(quarter, db)[("ronda_archive_backlog_segments", backlog)] == 3


def test_catalog_gauges(db: Database) -> None:
    a, b = seed(db, now_ms())
    g = gauges(SimpleNamespace(), db, published=2)
    lag = g[("ronda_camera_segment_lag_seconds", frozenset({("camera", str(a)), ("name", "Piazza"),
                                                            ("stream", "main")}))]  # fmt: skip
    assert 9 < lag < 30
    assert g[("ronda_camera_lease", frozenset({("camera", str(a)), ("name", "Piazza"), ("node", "r1")}))] == 1
    assert not [k for k in g if k[0] == "ronda_camera_lease" and ("camera", str(b)) in k[1]]  # expired
    assert g[("ronda_node_leases", frozenset({("node", "r1")}))] == 1
    assert g[("ronda_node_epoch", frozenset({("node", "r1")}))] == 7
    assert g[("ronda_bus_lag_events", frozenset({("node", "r1")}))] == 3  # 5 events, 2 published
    labels = " ".join(v for _, ls in g for _, v in ls)
    assert "rtsp" not in labels and "secret" not in labels and "10.0.0.9" not in labels
