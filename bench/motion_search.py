"""Benchmark: motion search per camera-day, Ronda's packed camera-minutes vs one row per second, same
run, same records.

Both stores hold the same busy camera-days (a swaying tree most seconds, traffic, sensor noise, and 40
people crossing a drawn region per day) in SQLite files of their own. ``ronda``: ms per camera-day of
``analytics.repository.search_motion`` (``motion_minutes``: 60 grids per row, zlib, with the union of
the minute's cells to skip minutes). Baseline: the obvious schema, one row per second with motion
(primary key camera, second; the 18-byte grid and the level), searched by reading the day's rows and
testing each grid against the region, with the same run joining. Both must find the same hits.

    python bench/motion_search.py [--cameras 2] [--days 3]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402

from bench._common import result  # noqa: E402
from ronda.analytics import repository as repo  # noqa: E402
from ronda.analytics.model import GRID_BYTES, GRID_COLS, MotionHit, MotionSecond, region_mask  # noqa: E402
from ronda.store.db import Database  # noqa: E402

DAY0 = 1_795_132_800  # 2026-11-21T00:00:00Z
REGION = (0.25, 0.34, 0.5, 0.66)  # columns 4-7, rows 3-5
ADD_CAMERA = text("INSERT INTO cameras (id, name, enabled, audio, status, created_ms, transport, ptz) "
                  "VALUES (:id, :n, true, false, 'x', 0, 'auto', false)")  # fmt: skip
SIZE = "SELECT sum(pgsize) FROM dbstat WHERE name IN ('{t}', 'sqlite_autoindex_{t}_1')"  # table and primary key


def bit(col: int, row: int) -> int:
    return 1 << (row * GRID_COLS + col)


def camera_day(rng: random.Random, camera: int, day: int) -> list[MotionSecond]:
    tree = [sum(bit(c, r) for c in range(12, 16) for r in range(3) if (c + r + k) % 3) for k in range(3)]
    moved: dict[int, int] = {}
    for t in range(day, day + 86_400):
        b = tree[t % 3] if rng.random() < 0.7 else 0
        if rng.random() < 0.3:
            x = rng.randrange(GRID_COLS - 2)
            b |= sum(bit(c, r) for c in range(x, x + 3) for r in (7, 8))
        if rng.random() < 0.05:
            b |= bit(rng.randrange(GRID_COLS), rng.randrange(3))
        if b:
            moved[t] = b
    for slot in rng.sample(range(86_400 // 120 - 1), 40):
        t0, row = day + slot * 120, rng.randrange(3, 6)
        for i, col in enumerate(range(GRID_COLS)):
            moved[t0 + i] = moved.get(t0 + i, 0) | bit(col, row)
    return [MotionSecond(camera, t, b.to_bytes(GRID_BYTES, "little"), 1 + b.bit_count()) for t, b in moved.items()]


def per_second_search(con: sqlite3.Connection, camera: int, start_ms: int, end_ms: int, mask: int) -> list[MotionHit]:
    cells = mask.bit_count()
    hits: list[MotionHit] = []
    run: list[int] = []
    q = "SELECT second, cells FROM motion_seconds WHERE camera_id = ? AND second >= ? AND second < ? ORDER BY second"
    for second, grid in con.execute(q, (camera, start_ms // 1000, -(-end_ms // 1000))):
        n = (int.from_bytes(grid, "little") & mask).bit_count()
        if not n:
            continue
        if run and second - run[1] - 1 <= repo.JOIN_GAP_S:
            run[1], run[2] = second, max(run[2], n)
        else:
            if run:
                hits.append(MotionHit(max(start_ms, run[0] * 1000), min(end_ms, (run[1] + 1) * 1000), run[2] / cells))
            run = [second, second, n]
    if run:
        hits.append(MotionHit(max(start_ms, run[0] * 1000), min(end_ms, (run[1] + 1) * 1000), run[2] / cells))
    return hits


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cameras", type=int, default=2)
    ap.add_argument("--days", type=int, default=3)
    args = ap.parse_args()
    rng = random.Random(13)
    mask = region_mask(REGION)
    with tempfile.TemporaryDirectory(prefix="ronda-bench-motion-") as tmp:
        db = Database(f"sqlite:///{tmp}/ronda.db")
        db.upgrade()
        with db.session() as s:
            for c in range(1, args.cameras + 1):
                s.execute(ADD_CAMERA, {"id": c, "n": f"c{c}"})
        base = sqlite3.connect(f"{tmp}/seconds.db")
        base.execute("CREATE TABLE motion_seconds (camera_id INTEGER, second INTEGER, cells BLOB, level INTEGER, "
                     "PRIMARY KEY (camera_id, second))")  # fmt: skip
        days = [(c, DAY0 + d * 86_400) for c in range(1, args.cameras + 1) for d in range(args.days)]
        for c, day in days:
            rows = camera_day(rng, c, day)
            with db.session() as s:
                repo.add_motion(s, rows)
            with base:
                base.executemany("INSERT INTO motion_seconds VALUES (?, ?, ?, ?)",
                                 [(m.camera_id, m.second, m.cells, m.level) for m in rows])  # fmt: skip
        ours, theirs = [], []
        for c, day in days:  # alternate, one camera-day at a time
            start, end = day * 1000, (day + 86_400) * 1000
            t = time.perf_counter()
            with db.session() as s:
                a = repo.search_motion(s, c, start, end, mask)
            ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            b = per_second_search(base, c, start, end, mask)
            theirs.append(time.perf_counter() - t)
            if a != b or len(a) != 40:
                raise SystemExit(f"camera {c}, day {day}: {len(a)} hits vs {len(b)} per second (40 crossings)")
        with db.session() as s:
            ours_bytes = s.execute(text(SIZE.format(t="motion_minutes"))).scalar_one()
        theirs_bytes = base.execute(SIZE.format(t="motion_seconds")).fetchone()[0]
        base.close()
        db.dispose()
    n = len(days)
    ms, base_ms = sum(ours) / n * 1000, sum(theirs) / n * 1000
    print(f"{n} camera-days: {ms:.0f} ms vs {base_ms:.0f} ms per camera-day; "
          f"{ours_bytes / n / 1024:.0f} KiB vs {theirs_bytes / n / 1024:.0f} KiB per camera-day")  # fmt: skip
    print(result("motion_search", "ms per camera-day of motion search", "ms", ms, base_ms, "one row per second",
                 camera_days=n, max_ms=round(max(ours) * 1000, 1), kib_per_camera_day=round(ours_bytes / n / 1024),
                 baseline_kib_per_camera_day=round(theirs_bytes / n / 1024)))  # fmt: skip


if __name__ == "__main__":
    main()
