"""Migrations and repositories, on SQLite and on a real PostgreSQL 15."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from ronda.events.store import search_events
from ronda.store import repos
from ronda.store.db import Database, SchemaMismatch, head_revision
from ronda.store.models import Camera, CameraStream, Event, EvidenceLock, Gap, Segment


def test_schema_check_refuses_before_upgrade_and_passes_after(db):
    with pytest.raises(SchemaMismatch, match="ronda db upgrade"):
        db.check()
    db.upgrade()
    db.check()
    db.upgrade()  # idempotent
    with db.engine.connect() as c:
        assert c.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision()


def test_schema_mismatch_message(db):
    db.upgrade()
    with db.engine.begin() as c:
        c.execute(text("UPDATE alembic_version SET version_num='9999'"))
    with pytest.raises(SchemaMismatch, match="9999"):
        db.check()


def _camera(db: Database) -> int:
    with db.session() as s:
        cam = Camera(name="Piazza", created_ms=1, status="starting")
        cam.streams.append(CameraStream(kind="main", url="rtsp://127.0.0.1/x"))
        s.add(cam)
        s.flush()
        return cam.id


def _seg(cid: int, a: int, b: int, n: int = 100) -> Segment:
    return Segment(camera_id=cid, stream="main", start_ms=a, end_ms=b, bytes=n, path=f"{cid}/{a}.mp4", sha256="0" * 64)


def test_catalog_queries(db):
    db.upgrade()
    cid = _camera(db)
    big = 1_900_000_000_000  # epoch ms beyond 32 bits: must fit on both backends
    with db.session() as s:
        for i in range(5):
            repos.add_segment(s, _seg(cid, big + i * 4000, big + (i + 1) * 4000))
        s.add(Gap(camera_id=cid, stream="main", start_ms=big + 20_000, end_ms=None, reason="camera_unreachable"))
    with db.session() as s:
        got = repos.segments_overlapping(s, cid, "main", big + 5000, big + 9000)
        assert [(x.start_ms - big) for x in got] == [4000, 8000]  # overlapping, unclipped
        assert repos.last_segment_end(s, cid, "main") == big + 20_000
        assert repos.used_bytes(s) == 500
        gap = repos.open_gap(s, cid, "main")
        assert gap is not None and gap.reason == "camera_unreachable"
        assert len(repos.gaps_overlapping(s, cid, "main", big + 30_000, big + 40_000)) == 1  # open gap runs on


def test_lock_condition(db):
    db.upgrade()
    cid = _camera(db)
    with db.session() as s:
        for i in range(4):
            repos.add_segment(s, _seg(cid, i * 10, (i + 1) * 10))
        s.add(EvidenceLock(camera_id=cid, start_ms=12, end_ms=18, reason="case 7", created_by="t", created_ms=0))
        s.add(
            EvidenceLock(camera_id=cid, start_ms=30, end_ms=40, reason="old", until_ms=5, created_by="t", created_ms=0)
        )
    from sqlalchemy import select

    with db.session() as s:
        free = s.scalars(select(Segment.start_ms).where(repos.unlocked_condition(now=100)).order_by(Segment.start_ms))
        assert list(free) == [0, 20, 30]  # 10-20 locked; the 30-40 lock expired
        assert repos.is_locked(s, cid, 15, 16, now=100)


def test_events_and_state(db):
    db.upgrade()
    with db.session() as s:
        repos.add_event(s, "camera.offline", 10, None, payload={"reason": "x"})
        repos.put_state(s, "k", {"a": 1})
    with db.session() as s:
        repos.put_state(s, "k", {"a": 2})
    with db.session() as s:
        assert repos.get_state(s, "k") == {"a": 2}
    assert search_events(db, since_ms=5)[0]["payload"] == {"reason": "x"}
    assert search_events(db, since_ms=11) == []


def test_serve_refuses_a_schema_mismatch(tmp_path):
    import subprocess
    import sys

    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data_dir: {tmp_path / 'data'}\n")

    def serve() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ronda.cli", "serve", "--config", str(cfg)], capture_output=True,
                              text=True, timeout=60)  # fmt: skip

    r = serve()  # no schema yet
    assert r.returncode == 2 and "ronda db upgrade" in r.stderr and "Traceback" not in r.stderr
    up = subprocess.run([sys.executable, "-m", "ronda.cli", "db", "upgrade", "--config", str(cfg)], capture_output=True,
                        text=True, timeout=60)  # fmt: skip
    assert up.returncode == 0 and head_revision() in up.stdout
    d = Database(f"sqlite:///{tmp_path / 'data' / 'ronda.db'}")
    with d.engine.begin() as c:
        c.execute(text("UPDATE alembic_version SET version_num='0099_future'"))
    d.dispose()
    r = serve()
    assert r.returncode == 2 and "0099_future" in r.stderr and "ronda db upgrade" in r.stderr


def test_segment_runs_merge_in_sql(db):
    """A month of 6 s segments (with a few gaps) comes back as a handful of runs."""
    db.upgrade()
    cid = _camera(db)
    t0 = 1_800_000_000_000
    rows, t = [], t0
    for i in range(30 * 24 * 60):  # one segment a minute stands in for ten: same shape, faster test
        rows.append({"camera_id": cid, "stream": "main", "start_ms": t, "end_ms": t + 60_000, "bytes": 1, "path": "p",
                     "sha256": "0" * 64})  # fmt: skip
        t += 60_000
        if i in (1000, 20_000):
            t += 3_600_000  # an hour without video
        elif i == 30_000:
            t += 500  # below the merge threshold
    with db.engine.begin() as c:
        c.execute(Segment.__table__.insert(), rows)
    with db.session() as s:
        runs = repos.segment_runs(s, cid, "main", t0, t, merge_ms=1000)
        assert [(a - t0, n) for a, _, n in runs] == [(0, 1001), (1001 * 60_000 + 3_600_000, 19_000),
                                                    (20_001 * 60_000 + 7_200_000, 23_199)]  # fmt: skip
        assert runs[-1][1] == t
        fine = repos.segment_runs(s, cid, "main", t0, t, merge_ms=100)
        assert len(fine) == 4  # the 500 ms hole shows at a finer resolution
        window = repos.segment_runs(s, cid, "main", t0 + 10 * 60_000 + 1, t0 + 20 * 60_000, merge_ms=1000)
        assert window == [(t0 + 10 * 60_000, t0 + 20 * 60_000, 10)]  # overlapping, unclipped


def test_bookmarks_migration_down_and_up(db):
    """0003 adds the bookmarks table and its index; it downgrades to 0002 and upgrades again."""
    from alembic import command
    from sqlalchemy import inspect

    from ronda.store.db import alembic_config

    db.upgrade()
    insp = inspect(db.engine)
    assert "bookmarks" in insp.get_table_names()
    assert "ix_bookmarks_cam_start" in {i["name"] for i in insp.get_indexes("bookmarks")}
    with db.engine.begin() as c:
        cfg = alembic_config(db.url)
        cfg.attributes["connection"] = c
        command.downgrade(cfg, "0002")
    assert "bookmarks" not in inspect(db.engine).get_table_names()
    with pytest.raises(SchemaMismatch, match="0002"):
        db.check()
    db.upgrade()
    db.check()
    assert "bookmarks" in inspect(db.engine).get_table_names()


def test_bookmark_and_timeline_queries(db):
    from ronda.store.models import Bookmark

    db.upgrade()
    cid, other = _camera(db), _camera(db)
    big = 1_900_000_000_000  # beyond 32 bits on both backends
    with db.session() as s:
        for i, (a, b) in enumerate([(0, 10_000), (5_000, 6_000), (20_000, 30_000)]):
            repos.add_bookmark(s, Bookmark(camera_id=cid, start_ms=big + a, end_ms=big + b, title=f"b{i}",
                                           created_by="t", created_ms=1))  # fmt: skip
        repos.add_bookmark(s, Bookmark(camera_id=other, start_ms=big, end_ms=big + 1, title="o", created_by="t",
                                       created_ms=1))  # fmt: skip
        s.add(Gap(camera_id=cid, stream="main", start_ms=big + 1000, end_ms=big + 1500, reason="short"))
        s.add(Gap(camera_id=cid, stream="main", start_ms=big + 2000, end_ms=big + 9000, reason="long"))
        s.add(Gap(camera_id=cid, stream="main", start_ms=big + 9500, end_ms=None, reason="open"))
        s.add(EvidenceLock(camera_id=cid, start_ms=big, end_ms=big + 100, reason="old", until_ms=5, created_by="t",
                           created_ms=0))  # fmt: skip
        s.add(EvidenceLock(camera_id=cid, start_ms=big + 50, end_ms=big + 60, reason="case", created_by="t",
                           created_ms=0))  # fmt: skip
        for t in (big - 1, big, big + 500, big + 40_000):
            repos.add_event(s, "camera.online", t, cid)
    with db.session() as s:
        got = repos.bookmarks_overlapping(s, cid, big + 5_500, big + 25_000, limit=10)
        assert [b.title for b in got] == ["b0", "b1", "b2"]  # earliest first, overlap
        assert [b.title for b in repos.bookmarks_overlapping(s, cid, big + 10_000, big + 20_000, limit=10)] == []
        assert [b.title for b in repos.list_bookmarks(s, [cid, other], None, None, limit=10)] == ["b2", "b1", "o", "b0"]
        assert [b.title for b in repos.list_bookmarks(s, [cid], big + 5_500, None, limit=2)] == ["b2", "b1"]
        assert repos.list_bookmarks(s, [], None, None, limit=10) == []
        now = big + 10_000
        gaps = repos.timeline_gaps(s, cid, "main", big, big + 20_000, 600, now, None)
        assert [g.reason for g in gaps] == ["long"]  # short: < 600 ms; open: 500 ms until now
        gaps = repos.timeline_gaps(s, cid, "main", big, big + 20_000, 100, now + 10_000, 2)
        assert [g.reason for g in gaps] == ["short", "long"]  # limited
        assert [x.reason for x in repos.locks_overlapping(s, cid, big, big + 1000, now=100, limit=None)] == ["case"]
        assert [e.time_ms - big for e in repos.events_between(s, cid, big, big + 40_000, limit=10)] == [0, 500]
        assert repos.existing_camera_ids(s, [cid, other, 99_999]) == {cid, other}


def test_commit_hook_fires_only_for_committed_events(db):
    """The events role wakes its outbox relay through this hook (no wait for the poll)."""
    db.upgrade()
    calls = []
    remove = db.on_commit_adding(Event, lambda: calls.append(1))
    with db.session() as s:
        repos.put_state(s, "k", {"a": 1})  # no event: no call
    assert calls == []
    with db.session() as s:
        repos.add_event(s, "camera.offline", 10, None)
    assert calls == [1]
    with pytest.raises(RuntimeError), db.session() as s:
        repos.add_event(s, "camera.online", 11, None)
        s.flush()
        raise RuntimeError("rolled back")
    with db.session() as s:
        repos.put_state(s, "k", {"a": 2})  # the rolled-back event must not count here either
    assert calls == [1]
    remove()
    with db.session() as s:
        repos.add_event(s, "camera.online", 12, None)
    assert calls == [1]
