"""Complete segment files the catalog does not know: put back on a catalog error, found and indexed again."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select, text

from ronda.recording.reindex import adopt_orphans, find_orphans, parse_name
from ronda.recording.segments import StreamKey, final_relpath, index_segment
from ronda.recording.timeline import Placement
from ronda.recording.volume import ensure_default_volume
from ronda.store.db import Database
from ronda.store.models import Camera, Segment
from tests.helpers import catalog, make_fmp4, probe_frames, wait_for

START_MS = 1_795_000_000_123


@pytest.fixture(scope="module")
def fmp4(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reindex") / "three_seconds.mp4"
    return make_fmp4(out, 3)


@pytest.fixture
def store(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    db.upgrade()
    with db.session() as s:
        s.add(Camera(id=1, name="Piazza", created_ms=START_MS))
    root = tmp_path / "recordings"
    ensure_default_volume(root)
    yield db, root
    db.dispose()


def rows(db: Database) -> list[Segment]:
    with db.session() as s:
        return list(s.scalars(select(Segment).order_by(Segment.start_ms)))


def test_segment_names_give_stream_and_start():
    rel = final_relpath(StreamKey(3, "sub"), START_MS)
    assert parse_name(rel.name) == ("sub", START_MS)
    assert parse_name(rel.with_name(f"{rel.stem}-2.mp4").name) == ("sub", START_MS)
    for junk in ("notes.txt", "main_20261399T000000000Z.mp4", "main_2026.mp4", "x.mp4.partial", "../main_.mp4"):
        assert parse_name(junk) is None, junk


def test_catalog_error_puts_the_file_back_for_recovery(store, fmp4):
    db, root = store
    key = StreamKey(1, "main")
    partial = root / ".partial" / "1-main" / "0001_000001.mp4.partial"
    partial.parent.mkdir(parents=True)
    shutil.copyfile(fmp4, partial)
    with db.engine.begin() as c:  # a real database refusing the row (as a full disk or a lost server would)
        c.execute(text("CREATE TRIGGER refuse BEFORE INSERT ON segments BEGIN SELECT RAISE(ABORT, 'refused'); END"))
    with pytest.raises(Exception, match="refused"):
        index_segment(db, root, key, partial, Placement(START_MS, START_MS + 3000), "h264", False)
    assert partial.read_bytes() == fmp4.read_bytes(), "the file must go back to where recovery looks"
    assert not list((root / "1").rglob("*.mp4")) and rows(db) == []
    with db.engine.begin() as c:
        c.execute(text("DROP TRIGGER refuse"))
    seg = index_segment(db, root, key, partial, Placement(START_MS, START_MS + 3000), "h264", False)
    assert seg is not None and (root / seg.path).exists() and not partial.exists()


def test_orphans_are_indexed_and_unreadable_ones_quarantined(store, fmp4):
    db, root = store
    key = StreamKey(1, "main")
    good = root / final_relpath(key, START_MS)
    junk = root / final_relpath(key, START_MS + 60_000)
    sub = root / final_relpath(StreamKey(1, "sub"), START_MS)
    for f in (good, junk, sub):
        f.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(fmp4, good)
    shutil.copyfile(fmp4, sub)
    junk.write_bytes(b"\x00not a video" * 100)
    (good.parent / "notes.txt").write_text("left alone")

    orphans, scanned = find_orphans(db, root, 1, "main", quiet_s=0)
    assert scanned == 2 and [o.start_ms for o in orphans] == [START_MS, START_MS + 60_000]
    assert find_orphans(db, root, 1, "main")[0] == [], "files written to in the last two minutes are left alone"
    assert find_orphans(db, root, 1, "main", since_ms=START_MS + 1, quiet_s=0)[0][0].start_ms == START_MS + 60_000

    rep = asyncio.run(adopt_orphans(db, root, "ffprobe", orphans, "h264"))
    assert (rep.adopted, rep.quarantined) == (1, 1)
    [seg] = rows(db)
    assert (seg.path, seg.start_ms, seg.recovered, seg.bytes) == (str(good.relative_to(root)), START_MS, True,
                                                                    good.stat().st_size)  # fmt: skip
    assert abs(seg.end_ms - START_MS - 3000) <= 100
    assert not junk.exists() and len(list((root / ".quarantine").iterdir())) == 1, "junk is moved, never deleted"
    assert (good.parent / "notes.txt").exists() and sub.exists()
    assert find_orphans(db, root, 1, "main", quiet_s=0)[0] == []
    assert [o.key.stream for o in find_orphans(db, root, 1, quiet_s=0)[0]] == ["sub"]


def _ronda(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ronda.cli", *args], capture_output=True, text=True, timeout=120)


def test_reindex_command_while_recording(site):
    """`ronda storage reindex` on the running site's store puts back a row the catalog lost."""
    cid = site.cam("Camera 2")

    def old_segment():
        segs = catalog(site.data_dir, cid)[0]
        old = [s for s in segs[1:-1] if (site.data_dir / "recordings" / s.path).stat().st_mtime < time.time() - 130]
        return old[len(old) // 2] if old else None

    lost = wait_for(old_segment, 150, interval=2, what="a segment older than two minutes")
    con = sqlite3.connect(site.data_dir / "ronda.db", timeout=30)
    with con:
        con.execute("DELETE FROM segments WHERE id = ?", (lost.id,))
    con.close()
    assert all(s.path != lost.path for s in catalog(site.data_dir, cid)[0])

    r = _ronda("storage", "reindex", "--camera", str(cid), "--config", str(site.ronda.config))
    assert r.returncode == 0, r.stderr
    assert "1 not in the catalog: 1 indexed" in r.stdout, r.stdout
    assert "Traceback" not in r.stderr
    back = [s for s in catalog(site.data_dir, cid)[0] if s.path == lost.path]
    assert len(back) == 1 and back[0].sha256 == lost.sha256 and back[0].start_ms == lost.start_ms
    assert abs(back[0].end_ms - lost.end_ms) <= 100 and back[0].recovered
    assert probe_frames(site.data_dir / "recordings" / lost.path) == (True, True)

    again = _ronda("storage", "reindex", "--camera", str(cid), "--config", str(site.ronda.config))
    assert again.returncode == 0 and "0 not in the catalog" in again.stdout, again.stdout

    bad = _ronda("storage", "reindex", "--camera", "999", "--config", str(site.ronda.config))
    assert bad.returncode == 2 and "no camera with id 999" in bad.stderr and "Traceback" not in bad.stderr


def test_stream_start_indexes_the_newest_orphans_and_asks_for_the_rest(store, fmp4):
    """A lost or restored catalog leaves many files: capture must not wait for all of them."""
    from ronda.config import RecordingConfig
    from ronda.recording.reindex import AT_START, split_for_start
    from ronda.recording.supervisor import StreamRecorder, StreamSpec
    from ronda.store.models import Event
    from ronda.timeutil import now_ms

    db, root = store
    key = StreamKey(1, "main")
    base = now_ms() - 3_600_000
    starts = [base + i * 3000 for i in range(AT_START + 5)]
    for t in starts:
        f = root / final_relpath(key, t)
        f.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(fmp4, f)
    assert split_for_start(list(range(3)), 5) == ([0, 1, 2], 0)  # type: ignore[arg-type]

    async def start_step() -> None:
        rec = StreamRecorder(StreamSpec(1, "main", "rtsp://127.0.0.1:9/none", "h264", False), db, root,
                             RecordingConfig())  # fmt: skip
        await rec._adopt_orphans()  # the step `_run` takes before capture

    asyncio.run(start_step())
    assert [s.start_ms for s in rows(db)] == starts[-AT_START:], "the newest files, in order"
    with db.session() as s:
        [ev] = s.scalars(select(Event).where(Event.type == "storage.reindex_needed")).all()
        assert ev.payload["files"] == 5 and ev.payload["oldest_ms"] == starts[0] and ev.camera_id == 1
