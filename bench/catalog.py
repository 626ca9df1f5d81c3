"""Benchmark: the recording catalog at city scale, PostgreSQL against SQLite on the same rows.

Builds one catalog of ``--cameras`` cameras × ``--days`` days of ``--segment-s`` second segments (main
stream; a gap of a few minutes now and then) twice: in a SQLite file migrated by Ronda's own migrations,
and in a throw-away PostgreSQL 15 server (``tests/pg.py``) migrated the same way. Rows are bulk-loaded
(SQLite ``executemany``, PostgreSQL ``COPY``) with the segment indexes dropped and built again after, as
a restore would. Then the same random (camera, instant) samples run through Ronda's own repository
functions on both:

- ``recordings``: ``repos.segments_overlapping`` over one hour from the instant (what
  ``GET /cameras/{id}/recordings``, playback and export ask);
- ``seek``: ``repos.segments_overlapping`` over one millisecond at the instant (a playback seek);
- ``timeline_day`` and ``timeline_30d``: ``media.timeline.camera_track`` over the day, and over the whole
  30 days, merged as the timeline route merges (runs, gaps, locks).

The figure (``ronda``) is PostgreSQL's p99 of ``recordings`` in ms; the baseline SQLite's on the same rows.
Both databases are warm (in the page cache) when measured; one query at a time.

    python bench/catalog.py [--cameras 100] [--days 30] [--segment-s 6] [--samples 300] [--work DIR]

1,000 cameras × 30 days of 6 s segments is 432 M rows (~100 GB per database): more than this box's
disk. The default, 100 cameras, has the same 432,000 rows per camera as the city-sized catalog; the
per-camera queries walk the same number of rows, with an index ten times smaller (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Index, text  # noqa: E402
from tests.pg import postgres_available, postgres_server  # noqa: E402

from bench._common import result  # noqa: E402
from ronda.media.timeline import camera_track  # noqa: E402
from ronda.store import repos  # noqa: E402
from ronda.store.db import Database  # noqa: E402
from ronda.store.models import Segment  # noqa: E402
from ronda.timeutil import DAY_MS, HOUR_MS, parse_iso  # noqa: E402

T_END = parse_iso("2026-11-28T00:00:00Z")
COLUMNS = ("camera_id", "stream", "start_ms", "end_ms", "bytes", "path", "sha256", "codec", "recovered", "node",
           "location", "archive_key")  # fmt: skip
GAP_EVERY = 5000  # segments between two gaps (about 8 h at 6 s)
GAP_MS = 180_000


def segments(cameras: int, days: int, seg_ms: int, seed: int) -> Iterator[tuple[Any, ...]]:
    """Every row, camera by camera in time order (the index order of (camera, stream, start))."""
    rnd = random.Random(seed)
    t0 = T_END - days * DAY_MS
    for cam in range(1, cameras + 1):
        t = t0 + rnd.randrange(seg_ms)
        n = 0
        while t < T_END:
            n += 1
            end = t + seg_ms - rnd.randrange(0, 40)
            path = f"{cam}/main/{time.strftime('%Y/%m/%d/%H', time.gmtime(t / 1000))}/{t}.mp4"
            yield (cam, "main", t, end, 700_000 + rnd.randrange(200_000), path, f"{rnd.getrandbits(256):064x}",
                   "h264", False, "local", "local", None)  # fmt: skip
            t = end + (GAP_MS if n % GAP_EVERY == 0 else 0)


def gaps(cameras: int, days: int, seg_ms: int, seed: int) -> list[dict[str, Any]]:
    """The gaps ``segments`` leaves, as the recorder would have written them."""
    out = []
    prev_cam, n, prev_end = 0, 0, 0
    for row in segments(cameras, days, seg_ms, seed):
        cam, start, end = row[0], row[2], row[3]
        if cam != prev_cam:
            prev_cam, n = cam, 0
        elif start - prev_end >= GAP_MS:
            out.append({"camera_id": cam, "stream": "main", "start_ms": prev_end, "end_ms": start,
                        "reason": "camera_offline", "detail": None})  # fmt: skip
        n += 1
        prev_end = end
    return out


def segment_indexes() -> list[Index]:
    return [i for i in Segment.__table__.indexes]  # type: ignore[attr-defined]


def prepare(db: Database, cameras: int) -> None:
    db.upgrade()
    with db.engine.begin() as c:
        for i in range(1, cameras + 1):
            c.execute(text("INSERT INTO cameras (id, name, enabled, audio, transport, status, created_ms, ptz) "
                           "VALUES (:i, :n, true, false, 'auto', 'recording', 0, false)"),
                      {"i": i, "n": f"Cam {i}"})  # fmt: skip
        for ix in segment_indexes():
            ix.drop(c)


def finish(db: Database, gap_rows: list[dict[str, Any]]) -> None:
    with db.engine.begin() as c:
        for ix in segment_indexes():
            ix.create(c)
        if gap_rows:
            c.execute(text("INSERT INTO gaps (camera_id, stream, start_ms, end_ms, reason, detail) "
                           "VALUES (:camera_id, :stream, :start_ms, :end_ms, :reason, :detail)"), gap_rows)  # fmt: skip
        if db.engine.dialect.name == "postgresql":
            c.execute(text("ANALYZE"))
        else:
            c.exec_driver_sql("ANALYZE")


def load_sqlite(path: Path, rows: Iterator[tuple[Any, ...]], total: int) -> None:
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    cols = ", ".join(COLUMNS)
    marks = ", ".join("?" * len(COLUMNS))
    done = 0
    batch: list[tuple[Any, ...]] = []
    for r in rows:
        batch.append(r)
        if len(batch) == 200_000:
            con.executemany(f"INSERT INTO segments ({cols}) VALUES ({marks})", batch)  # noqa: S608
            con.commit()
            done += len(batch)
            batch.clear()
            progress("sqlite", done, total)
    if batch:
        con.executemany(f"INSERT INTO segments ({cols}) VALUES ({marks})", batch)  # noqa: S608
        con.commit()
    con.close()


def load_postgres(db: Database, rows: Iterator[tuple[Any, ...]], total: int) -> None:
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        done = 0
        with cur.copy(f"COPY segments ({', '.join(COLUMNS)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for r in rows:
                copy.write_row(r)
                done += 1
                if done % 200_000 == 0:
                    progress("postgresql", done, total)
        raw.commit()
    finally:
        raw.close()


def progress(what: str, done: int, total: int) -> None:
    print(f"  {what}: {done:,}/{total:,} rows", file=sys.stderr, flush=True)


def sample(db: Database, plan: list[tuple[int, int]], days: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"recordings": [], "seek": [], "timeline_day": [], "timeline_30d": []}
    start_all = T_END - days * DAY_MS

    def timed(name: str, fn: Callable[[], Any]) -> None:
        t = time.perf_counter()
        fn()
        times[name].append((time.perf_counter() - t) * 1000)

    with db.session() as s:
        for cam, at in plan[:20]:  # warm the connection and the plans
            repos.segments_overlapping(s, cam, "main", at, at + HOUR_MS)
        for cam, at in plan:
            day = at - at % DAY_MS
            timed("recordings", lambda: repos.segments_overlapping(s, cam, "main", at, at + HOUR_MS))  # noqa: B023
            timed("seek", lambda: repos.segments_overlapping(s, cam, "main", at, at + 1))  # noqa: B023
            timed("timeline_day", lambda: camera_track(s, cam, "main", day, day + DAY_MS,  # noqa: B023
                                                       max(1000, DAY_MS // 2000), T_END))  # fmt: skip
        for cam, _at in plan[: max(20, len(plan) // 10)]:  # the zoomed-out view is rarer and slower
            timed("timeline_30d", lambda: camera_track(s, cam, "main", start_all, T_END,  # noqa: B023
                                                       max(1000, (T_END - start_all) // 2000), T_END))  # fmt: skip
    return times


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cameras", type=int, default=100)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--segment-s", type=float, default=6.0)
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--work", type=Path, default=None, help="where the two databases go (default: a temp dir)")
    args = ap.parse_args()
    if not postgres_available():
        raise SystemExit("PostgreSQL 15 is not installed (scripts/setup.sh --test installs it)")
    seg_ms = int(args.segment_s * 1000)
    per_cam = args.days * DAY_MS // seg_ms
    total = args.cameras * per_cam
    work = Path(tempfile.mkdtemp(prefix="ronda-bench-catalog-", dir=args.work))
    work.chmod(0o755)  # the PostgreSQL server runs as its own user, in a folder inside
    rnd = random.Random(args.seed)
    plan = [(rnd.randint(1, args.cameras), T_END - rnd.randrange(args.days * DAY_MS - HOUR_MS) - HOUR_MS)
            for _ in range(args.samples)]  # fmt: skip
    gap_rows = gaps(args.cameras, args.days, seg_ms, args.seed)
    figures: dict[str, dict[str, list[float]]] = {}
    build_s: dict[str, float] = {}
    try:
        print(f"catalog: {args.cameras} cameras × {args.days} days of {args.segment_s:g} s segments "
              f"≈ {total:,} rows", file=sys.stderr)  # fmt: skip
        t = time.monotonic()
        sqlite_db = Database(f"sqlite:///{work / 'ronda.db'}")
        prepare(sqlite_db, args.cameras)
        sqlite_db.dispose()
        load_sqlite(work / "ronda.db", segments(args.cameras, args.days, seg_ms, args.seed), total)
        sqlite_db = Database(f"sqlite:///{work / 'ronda.db'}")
        finish(sqlite_db, gap_rows)
        build_s["sqlite"] = time.monotonic() - t
        figures["sqlite"] = sample(sqlite_db, plan, args.days)
        sqlite_db.dispose()
        pg_settings = {"fsync": "off", "shared_buffers": "2GB", "maintenance_work_mem": "1GB"}
        with postgres_server("ronda_bench", base_dir=work, settings=pg_settings) as url:
            t = time.monotonic()
            pg = Database(url)
            prepare(pg, args.cameras)
            load_postgres(pg, segments(args.cameras, args.days, seg_ms, args.seed), total)
            finish(pg, gap_rows)
            build_s["postgresql"] = time.monotonic() - t
            with pg.engine.connect() as c:
                rows = int(c.scalar(text("SELECT count(*) FROM segments")) or 0)
                pg_bytes = int(c.scalar(text("SELECT pg_total_relation_size('segments')")) or 0)
            figures["postgresql"] = sample(pg, plan, args.days)
            pg.dispose()
        sqlite_bytes = os.path.getsize(work / "ronda.db")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    extra: dict[str, Any] = {"rows": rows, "cameras": args.cameras, "days": args.days,
                             "segment_s": args.segment_s, "samples": args.samples,
                             "sqlite_gb": round(sqlite_bytes / 1e9, 2), "postgresql_gb": round(pg_bytes / 1e9, 2),
                             "build_s": {k: round(v, 1) for k, v in build_s.items()}}  # fmt: skip
    for backend, times in figures.items():
        for name, xs in times.items():
            extra[f"{backend}_{name}_p50_ms"] = round(statistics.median(xs), 3)
            extra[f"{backend}_{name}_p99_ms"] = round(pct(xs, 0.99), 3)
    for k, v in extra.items():
        print(f"  {k}: {v}", file=sys.stderr)
    print(result("catalog", "p99 ms of a camera's 1-hour recordings query at a random instant (PostgreSQL)", "ms",
                 extra["postgresql_recordings_p99_ms"], extra["sqlite_recordings_p99_ms"], "SQLite, same rows",
                 **extra))  # fmt: skip


if __name__ == "__main__":
    main()
