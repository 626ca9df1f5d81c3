"""Camera positions edited at the same time through two processes on one database: every edit
survives (each camera's position is its own row, written in one statement)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.api.test_map_api import png_bytes

ROUNDS = 12
# Two ronda processes of their own (tests/map/conftest.py): not in the fast tier.
pytestmark = pytest.mark.slow


def test_two_processes_placing_different_cameras_lose_nothing(pair):
    r = pair.a.api("PUT", "/api/v1/map/plan", content=png_bytes(), headers={"Content-Type": "image/png"})
    assert r.status_code == 200, r.text
    for p in (pair.a, pair.b):
        p.api("GET", "/api/v1/map")  # log in before the race starts

    def place(index: int) -> list[int]:
        # Cameras alternate between the two processes; each writes its own camera ROUNDS times.
        proc = pair.a if index % 2 == 0 else pair.b
        cid = pair.ids[index]
        codes = []
        for n in range(ROUNDS):
            x = (index * ROUNDS + n) / (len(pair.ids) * ROUNDS)
            codes.append(proc.api("PUT", f"/api/v1/map/cameras/{cid}", json={"x": x, "y": n / ROUNDS}).status_code)
        return codes

    with ThreadPoolExecutor(len(pair.ids)) as pool:
        results = list(pool.map(place, range(len(pair.ids))))
    assert all(c == 200 for codes in results for c in codes), results
    for proc in (pair.a, pair.b):
        placed = {c["id"]: (c["x"], c["y"]) for c in proc.api("GET", "/api/v1/map").json()["cameras"]}
        last = ROUNDS - 1
        want = {cid: ((i * ROUNDS + last) / (len(pair.ids) * ROUNDS), last / ROUNDS) for i, cid in enumerate(pair.ids)}
        assert placed == want
