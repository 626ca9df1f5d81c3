"""recording/backlog.py and the database's outage state: catalog writes that wait for the database, replayed
in order and once each; the API's and the log's view of an outage. Real SQLite, its write lock held by a
second connection as another process would (tests/faults has the whole-process version)."""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from ronda.recording.backlog import CatalogBacklog, Pending
from ronda.recording.segments import StreamKey, catalog_file, place_file
from ronda.recording.timeline import Placement
from ronda.recording.volume import ensure_default_volume
from ronda.store.db import Database, QuietOutage, unreachable
from ronda.store.models import Camera, Gap, Segment

START_MS = 1_795_000_000_123
KEY = StreamKey(1, "main")


@pytest.fixture
def store(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'r.db'}", busy_timeout_s=0.2)
    db.upgrade()
    with db.session() as s:
        s.add(Camera(id=1, name="Piazza", created_ms=START_MS))
        # An open gap: the first replayed segment must close it at its own start.
        s.add(Gap(camera_id=1, stream="main", start_ms=START_MS - 5000, end_ms=None, reason="camera_unreachable"))
    root = tmp_path / "recordings"
    ensure_default_volume(root)
    yield db, root
    db.dispose()


def finished(root: Path, n: int) -> tuple[Path, Placement]:
    partial = root / ".partial" / "1-main" / f"0001_{n:06d}.mp4.partial"
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(b"fragmented mp4 stand-in %d" % n)  # (bytes only: nothing here reads the media)
    return partial, Placement(START_MS + 2000 * n, START_MS + 2000 * (n + 1))


def segments(db: Database) -> list[Segment]:
    with db.session() as s:
        return list(s.scalars(select(Segment).order_by(Segment.start_ms)))


def test_a_retry_after_a_lost_commit_answer_adds_no_second_row(store):
    db, root = store
    partial, place = finished(root, 0)
    placed = place_file(root, KEY, partial, place)
    assert placed is not None and (root / placed.rel).exists() and not partial.exists()
    assert catalog_file(db, root, KEY, placed, place, "h264", False) is not None  # committed, answer "lost"
    assert catalog_file(db, root, KEY, placed, place, "h264", False, retry=True) is None
    assert [s.path for s in segments(db)] == [str(placed.rel)]
    # Without ``retry`` (the hot path skips the look-up) the same row would go in twice: the look-up is what
    # makes the backlog's replays safe.
    assert catalog_file(db, root, KEY, placed, place, "h264", False) is not None
    assert len(segments(db)) == 2


def test_backlog_waits_for_the_lock_then_writes_in_order(store, caplog):
    db, root = store
    holder = sqlite3.connect(db.url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process's long write transaction
    done: list[object] = []

    async def run() -> CatalogBacklog:
        backlog = CatalogBacklog(db)
        for n in range(3):
            partial, place = finished(root, n)
            placed = place_file(root, KEY, partial, place)
            assert placed is not None
            write = functools.partial(catalog_file, db, root, KEY, placed, place, "h264", False, True, retry=True)
            backlog.put(Pending(f"segment {n}", write, done.append))
        await asyncio.sleep(1.0)
        assert len(backlog) == 3 and backlog.waiting and done == [], "nothing is written under the lock"
        assert db.outage.down, "the failed writes mark the database as away"
        holder.execute("ROLLBACK")
        assert await backlog.flush(10)
        await backlog.close()
        return backlog

    with caplog.at_level(logging.WARNING, logger="ronda.store.db"):
        backlog = asyncio.run(run())
    holder.close()
    rows = segments(db)
    assert [r.start_ms for r in rows] == [START_MS, START_MS + 2000, START_MS + 4000] and len(done) == 3
    assert backlog.replayed == 3 and not db.outage.down
    with db.session() as s:
        gap = s.scalars(select(Gap)).one()
    assert gap.end_ms == START_MS, "the first replayed segment closed the gap open before it"
    said = [r.getMessage() for r in caplog.records]
    assert sum("unreachable" in m for m in said) == 1, said  # once per outage, not once per attempt
    assert sum("reachable again" in m for m in said) == 1, said
    assert db.outage.take_ended() is not None and db.outage.take_ended() is None


def test_a_write_that_is_not_an_outage_is_dropped_not_retried_forever(store):
    db, _root = store
    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise IntegrityError("INSERT", {}, Exception("constraint"))

    async def run() -> CatalogBacklog:
        backlog = CatalogBacklog(db)
        backlog.put(Pending("broken", broken))
        backlog.put(Pending("fine", lambda: None))
        assert await backlog.flush(5)
        await backlog.close()
        return backlog

    backlog = asyncio.run(run())
    assert calls == [1] and backlog.replayed == 1


def test_the_backlog_is_bounded(store):
    db, _root = store

    async def run() -> CatalogBacklog:
        backlog = CatalogBacklog(db, max_items=5)
        holder = sqlite3.connect(db.url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")

        def write() -> None:
            with db.session() as s:
                s.add(Gap(camera_id=1, stream="sub", start_ms=0, end_ms=1, reason="x"))

        for _ in range(8):
            backlog.put(Pending("w", write))
        assert len(backlog) == 5 and backlog.dropped == 3
        holder.execute("ROLLBACK")
        holder.close()
        await backlog.flush(10)
        await backlog.close()
        return backlog

    assert asyncio.run(run()).replayed == 5


def test_which_errors_are_an_outage():
    assert unreachable(OperationalError("SELECT 1", {}, Exception("database is locked")))
    assert not unreachable(IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed")))
    assert not unreachable(ValueError("a bug"))


def test_the_log_filter_drops_tracebacks_of_an_outage_only(store):
    db, _root = store
    quiet = QuietOutage(db.outage)

    def record(exc: BaseException) -> logging.LogRecord:
        return logging.LogRecord("x", logging.ERROR, __file__, 1, "a loop failed", None, (type(exc), exc, None))

    assert not quiet.filter(record(OperationalError("SELECT 1", {}, Exception("connection refused"))))
    assert db.outage.down
    assert quiet.filter(record(ValueError("a bug")))
    assert quiet.filter(logging.LogRecord("x", logging.INFO, __file__, 1, "plain", None, None))
