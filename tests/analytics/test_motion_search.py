"""Acceptance (issue 13): motion search over 7 days x 4 cameras of stored motion records answers in
< 1 s per camera-day and finds every generated movement in the drawn region.

Each camera-day is a busy street's worth of motion records: a swaying tree (top right) most seconds,
traffic along the bottom rows, sensor noise in single cells, all outside the drawn region, plus 40 known
movements through the region: people walking across it (motion before and after, outside it) and people
lingering in it with pauses of up to 2 s. The records are stored with the repository's bulk path
(``add_motion``, one call per camera-day) in a real ``ronda serve``'s catalog; the searches go through
the HTTP API. Every movement must come back as exactly one hit with its in-region time, and no hit may
be anything else."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from ronda.analytics import repository as repo
from ronda.analytics.model import GRID_BYTES, GRID_COLS, GRID_ROWS, MotionSecond
from ronda.timeutil import parse_iso
from tests.analytics.server import AnalyticsSite, analytics_site
from tests.helpers import iso

DAYS = 7
DAY0 = 1_795_132_800  # 2026-11-21T00:00:00Z
REGION = "0.25,0.34,0.5,0.66"  # the grid's columns 4-7, rows 3-5
REGION_CELLS = {(c, r) for c in range(4, 8) for r in range(3, 6)}
MOVEMENTS_PER_DAY = 40
LIMIT_S = 1.0  # per camera-day


def bits(cells: set[tuple[int, int]]) -> int:
    out = 0
    for c, r in cells:
        out |= 1 << (r * GRID_COLS + c)
    return out


OUTSIDE = [(c, r) for c in range(GRID_COLS) for r in range(GRID_ROWS) if (c, r) not in REGION_CELLS]
TREE = [bits({(c, r) for c in range(12, 16) for r in range(0, 3) if (c + r + k) % 3}) for k in range(3)]
TRAFFIC = [bits({(c, r) for c in range(x, min(GRID_COLS, x + 3)) for r in (7, 8)}) for x in range(GRID_COLS)]


@dataclass(frozen=True)
class Movement:
    camera: int
    start_s: int  # first second with motion in the region
    end_s: int  # last second with motion in the region (inclusive)


def camera_day(rng: random.Random, camera: int, day_start: int) -> tuple[list[MotionSecond], list[Movement]]:
    """One camera-day of motion records and the movements through the region it holds."""
    moved: dict[int, int] = {}  # second -> cell bits
    for t in range(day_start, day_start + 86_400):
        b = 0
        if rng.random() < 0.7:
            b |= TREE[t % 3]
        if rng.random() < 0.3:
            b |= TRAFFIC[rng.randrange(GRID_COLS)]
        if rng.random() < 0.05:
            b |= bits({rng.choice(OUTSIDE)})
        if b:
            moved[t] = b
    movements: list[Movement] = []
    slots = sorted(rng.sample(range(0, 86_400 // 120 - 1), MOVEMENTS_PER_DAY))  # 2-minute slots: apart
    for k, slot in enumerate(slots):
        t0 = day_start + slot * 120 + rng.randrange(0, 60)
        row = rng.randrange(3, 6)
        inside: list[int] = []
        if k % 2 == 0:  # someone walks across the frame, one column a second (or two for a runner)
            step = rng.choice((1, 2))
            for i, col in enumerate(range(0, GRID_COLS, step)):
                moved[t0 + i] = moved.get(t0 + i, 0) | bits({(col, row), (col, row - 1)})
                if (col, row) in REGION_CELLS:
                    inside.append(t0 + i)
        else:  # someone lingers in the region, pausing up to 2 s now and then
            t, end = t0, t0 + rng.randrange(3, 40)
            while t < end:
                moved[t] = moved.get(t, 0) | bits({(rng.randrange(4, 8), rng.randrange(3, 6))})
                inside.append(t)
                t += 1 + (rng.randrange(1, 3) if rng.random() < 0.2 else 0)
        movements.append(Movement(camera, inside[0], inside[-1]))
    rows = [MotionSecond(camera, t, b.to_bytes(GRID_BYTES, "little"), 1 + b.bit_count() % 60) for t, b in moved.items()]
    return rows, movements


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AnalyticsSite, list[Movement]]]:
    with analytics_site(tmp_path_factory.mktemp("motion-search")) as site:
        rng = random.Random(13)
        movements: list[Movement] = []
        seconds = 0
        t = time.perf_counter()
        for n in range(1, 5):
            for d in range(DAYS):
                rows, mv = camera_day(rng, site.cams[n], DAY0 + d * 86_400)
                with site.db.session() as s:
                    repo.add_motion(s, rows)
                movements += mv
                seconds += len(rows)
        took = time.perf_counter() - t
        with site.db.session() as s:
            size = repo.motion_bytes(s)
        print(f"\nstored {seconds} seconds with motion ({seconds / (4 * DAYS * 864):.0f}% of all seconds) of "
              f"{4 * DAYS} camera-days in {took:.1f} s (generation included); packed motion data "
              f"{size / (4 * DAYS) / 1024:.0f} KiB per camera-day")  # fmt: skip
        yield site, movements


def test_motion_search_finds_every_movement_fast(stored: tuple[AnalyticsSite, list[Movement]]) -> None:
    site, movements = stored
    admin = site.users["admin"]
    times: list[float] = []
    found: list[tuple[int, int, int]] = []
    for n in range(1, 5):
        cam = site.cams[n]
        for d in range(DAYS):
            q = {"camera": cam, "region": REGION, "start": iso((DAY0 + d * 86_400) * 1000),
                 "end": iso((DAY0 + (d + 1) * 86_400) * 1000)}  # fmt: skip
            t = time.perf_counter()
            r = admin.req("GET", "/api/v1/search/motion", params=q)
            times.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text
            for h in r.json()["hits"]:
                assert 0 < h["score"] <= 1
                found.append((cam, _s(h["start"]), _s(h["end"]) - 1))
    expected = sorted((m.camera, m.start_s, m.end_s) for m in movements)
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    print(f"\nper camera-day over HTTP: max {max(times) * 1000:.0f} ms, mean {sum(times) / len(times) * 1000:.0f} ms "
          f"({len(times)} searches); {len(expected)} movements, {len(found)} hits, {len(missing)} missed, "
          f"{len(extra)} outside the movements")  # fmt: skip
    assert not missing, f"movements not found: {missing[:5]}"
    assert not extra, f"hits that are no generated movement (motion outside the region?): {extra[:5]}"
    assert len(found) == len(expected)
    assert max(times) < LIMIT_S

    # The whole week of one camera in one request: still well under a second per camera-day.
    q = {"camera": site.cams[1], "region": REGION, "start": iso(DAY0 * 1000), "end": iso((DAY0 + DAYS * 86_400) * 1000)}
    t = time.perf_counter()
    r = admin.req("GET", "/api/v1/search/motion", params=q)
    week = time.perf_counter() - t
    assert r.status_code == 200
    assert len(r.json()["hits"]) == DAYS * MOVEMENTS_PER_DAY
    print(f"one camera, 7 days in one request: {week * 1000:.0f} ms ({week / DAYS * 1000:.0f} ms per camera-day)")
    assert week / DAYS < LIMIT_S


def test_a_region_only_noise_reaches_scores_single_cells(stored: tuple[AnalyticsSite, list[Movement]]) -> None:
    """Above the drawn region (columns 4-7, rows 0-1: 8 cells) nobody walks and no tree sways: the only
    motion there is sensor noise, one cell at a time, so every hit scores exactly 1/8."""
    site, _ = stored
    q = {"camera": site.cams[2], "start": iso(DAY0 * 1000), "end": iso((DAY0 + 86_400) * 1000),
         "region": "0.25,0,0.5,0.2"}  # fmt: skip
    air = site.users["admin"].req("GET", "/api/v1/search/motion", params=q)
    assert air.status_code == 200
    hits = air.json()["hits"]
    assert hits and {h["score"] for h in hits} == {0.125}


def _s(text: str) -> int:
    return parse_iso(text) // 1000
