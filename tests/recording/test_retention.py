"""Retention choice on a real SQLite catalog with real files."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from ronda.config import StorageConfig
from ronda.recording.retention import DAY_MS, Hold, Retention
from ronda.store import repos
from ronda.store.db import Database
from ronda.store.models import Camera, Event, EvidenceLock, Segment

NOW = 1_800_000_000_000


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def site(request, tmp_path):
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    else:
        db = Database(request.getfixturevalue("pg_url"))
        with db.engine.begin() as c:
            c.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    db.upgrade()
    root = tmp_path / "rec"
    root.mkdir()
    with db.session() as s:
        a = Camera(name="a", created_ms=0, status="x", retention_days=1)
        b = Camera(name="b", created_ms=0, status="x")
        s.add_all([a, b])
        s.flush()
        ids = (a.id, b.id)
    yield db, root, ids
    db.dispose()


def add(db, root, cid, start, end, size=1000, node="local", location="local"):
    rel = f"{cid}/{start}.mp4"
    if node in ("local", "n1") and location == "local":  # the files of this node's disk
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x" * size)
    with db.session() as s:
        key = f"k/{start}" if location == "archive" else None
        s.add(Segment(camera_id=cid, stream="main", start_ms=start, end_ms=end, bytes=size, path=rel, sha256="0" * 64,
                      node=node, location=location, archive_key=key))  # fmt: skip


def remaining(db):
    with db.session() as s:
        return [(x.camera_id, x.start_ms) for x in s.scalars(select(Segment).order_by(Segment.start_ms))]


def test_retention_days_is_a_legal_maximum_and_recorded(site):
    db, root, (a, b) = site
    add(db, root, a, NOW - 2 * DAY_MS, NOW - 2 * DAY_MS + 4000)  # older than camera a's 1 day
    add(db, root, a, NOW - 1000, NOW)
    add(db, root, b, NOW - 2 * DAY_MS, NOW - 2 * DAY_MS + 4000)  # b keeps the 30-day default
    rep = Retention(db, root, StorageConfig(delete_below_free_percent=0)).run(NOW)
    assert rep.deleted == 1
    assert remaining(db) == [(b, NOW - 2 * DAY_MS), (a, NOW - 1000)]
    assert not (root / f"{a}/{NOW - 2 * DAY_MS}.mp4").exists()
    with db.session() as s:
        ev = s.scalars(select(Event).where(Event.type == "retention.deleted")).one()
        assert ev.camera_id == a and ev.payload["reason"] == "retention_days" and ev.payload["bytes"] == 1000


def test_budget_deletes_oldest_unlocked_first_and_never_locked(site):
    db, root, (a, b) = site
    for i in range(10):
        add(db, root, b, NOW - 100_000 + i * 4000, NOW - 100_000 + (i + 1) * 4000)
    with db.session() as s:  # lock the two oldest
        s.add(
            EvidenceLock(
                camera_id=b, start_ms=NOW - 100_000, end_ms=NOW - 92_001, reason="case", created_by="t", created_ms=0
            )
        )
    rep = Retention(db, root, StorageConfig(max_bytes=6000, delete_below_free_percent=0)).run(NOW)
    left = [t - (NOW - 100_000) for _, t in remaining(db)]
    assert left[:2] == [0, 4000]  # locked survive
    assert rep.deleted == 5 and not rep.locked_blocking
    assert left[2:] == [28_000, 32_000, 36_000]  # newest unlocked kept, oldest unlocked went first
    with db.session() as s:
        assert repos.used_bytes(s) == 5000


def test_locked_footage_filling_the_budget_is_reported(site):
    db, root, (a, b) = site
    for i in range(4):
        add(db, root, b, NOW - 50_000 + i * 4000, NOW - 50_000 + (i + 1) * 4000)
    with db.session() as s:
        s.add(EvidenceLock(camera_id=b, start_ms=0, end_ms=NOW, reason="all", created_by="t", created_ms=0))
    rep = Retention(db, root, StorageConfig(max_bytes=2000, delete_below_free_percent=0)).run(NOW)
    assert rep.deleted == 0 and rep.locked_blocking
    assert len(remaining(db)) == 4


def test_segments_held_by_a_running_export_survive(site):
    db, root, (a, b) = site
    for i in range(4):
        add(db, root, b, NOW - 50_000 + i * 4000, NOW - 50_000 + (i + 1) * 4000)
    ret = Retention(db, root, StorageConfig(max_bytes=1000, delete_below_free_percent=0))
    ret.holds.append(Hold(camera_id=b, start_ms=NOW - 50_000, end_ms=NOW - 46_000))
    ret.run(NOW)
    assert [t for _, t in remaining(db)] == [NOW - 50_000]


def test_a_cluster_node_deletes_only_its_own_local_footage_and_counts_only_its_bytes(site):
    """Three recorders share the catalog: node n1's retention must not delete n2's rows (their files are on
    n2's disk: the catalog would stop matching them) nor free its own disk by deleting n2's footage."""
    db, root, (a, b) = site
    old = NOW - 2 * DAY_MS  # older than camera a's 1 day
    add(db, root, a, old, old + 4000, node="n1")
    add(db, root, a, old + 4000, old + 8000, node="n2")
    add(db, root, a, old + 8000, old + 12000, node="n2", location="archive")  # on no node's disk
    for i in range(6):  # camera b, 30 days: only the byte budget deletes
        add(db, root, b, NOW - 100_000 + i * 4000, NOW - 96_000 + i * 4000, node="n2" if i < 3 else "n1")

    class NoStore:  # the archive (an object store) answering deletes
        deleted: list[str] = []

        def delete(self, key: str) -> None:
            self.deleted.append(key)

    ret = Retention(db, root, StorageConfig(max_bytes=2000, delete_below_free_percent=0), node="n1")
    ret.archive = NoStore()  # type: ignore[assignment]
    rep = ret.run(NOW)
    with db.session() as s:
        left = {(x.camera_id, x.start_ms, x.node) for x in s.scalars(select(Segment))}
    assert (a, old, "n1") not in left and (a, old + 8000, "n2") not in left  # its own and the archived one
    assert (a, old + 4000, "n2") in left  # n2's, on n2's disk: n2's retention deletes it
    assert NoStore.deleted == [f"k/{old + 8000}"]
    # the budget (2000 bytes, 3000 of n1's own: down to 95 %) deletes n1's two oldest, never n2's older ones
    b_left = {(t, n) for c, t, n in left if c == b}
    assert b_left == {(NOW - 100_000 + i * 4000, "n2") for i in range(3)} | {(NOW - 100_000 + 5 * 4000, "n1")}
    assert rep.by_reason["max_bytes"] == 2
