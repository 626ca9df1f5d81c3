"""Hostile plans over real HTTP: every truncation of a valid plan and every nesting depth gets a clear
422 (or is accepted), never a 500; the plan in place stays as it was."""

from __future__ import annotations

import json

import pytest

from tests.api.test_map_api import GEOJSON, png_bytes

PLAN = "/api/v1/map/plan"
# Two ronda processes of their own (tests/map/conftest.py): not in the fast tier.
pytestmark = pytest.mark.slow


def put(proc, body: bytes, ctype: str):
    return proc.api("PUT", PLAN, content=body, headers={"Content-Type": ctype})


@pytest.fixture
def placed_plan(pair):
    body = png_bytes(32, 16)
    assert put(pair.a, body, "image/png").status_code == 200
    return pair.a.api("GET", "/api/v1/map").json()["plan"]


@pytest.mark.parametrize("kind", ["png", "geojson"])
def test_every_truncation_is_a_clear_422(pair, placed_plan, kind):
    if kind == "png":
        body, ctype = png_bytes(8, 8), "image/png"
    else:
        body, ctype = json.dumps(GEOJSON, separators=(",", ":")).encode(), "application/geo+json"
    for n in range(len(body)):
        r = put(pair.a, body[:n], ctype)
        assert r.status_code == 422, (n, r.status_code, r.text[:200])
        detail = r.json()["detail"]
        assert isinstance(detail, str) and detail and "Traceback" not in detail, (n, detail)
    assert pair.a.api("GET", "/api/v1/map").json()["plan"] == placed_plan


def test_deeply_nested_properties_are_refused_not_a_500(pair, placed_plan):
    """Properties nested near Python's recursion limit: parsed in a worker thread with a short stack,
    then serialised again deeper in the request's stack. Every depth must be stored or refused."""
    codes = {}
    for depth in [*range(1, 1000, 7), 60, 61]:
        props = "[" * depth + "]" * depth
        body = ('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"p":' + props
                + '},"geometry":{"type":"Point","coordinates":[9.19,45.46]}}]}').encode()  # fmt: skip
        r = put(pair.a, body, "application/geo+json")
        codes[depth] = r.status_code
        assert r.status_code in (200, 422), (depth, r.status_code, r.text[:200])
        if r.status_code == 422:
            assert "nests too deeply" in r.json()["detail"], (depth, r.text[:200])
    # four levels of GeoJSON around the properties: 64 in all is the documented limit
    assert (codes[1], codes[60], codes[61]) == (200, 200, 422)
    put(pair.a, png_bytes(32, 16), "image/png")


@pytest.mark.parametrize("coordinate", ["1" + "0" * 400, "-" + "9" * 4000, "1e400", "0." + "0" * 5000 + "1"])
def test_huge_numbers_in_coordinates_are_a_clear_422(pair, placed_plan, coordinate):
    body = ('{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point",'
            '"coordinates":[' + coordinate + ',45]}}]}').encode()  # fmt: skip
    r = put(pair.a, body, "application/geo+json")
    if coordinate.startswith("0."):
        assert r.status_code == 200, r.text  # a long but ordinary number
        assert put(pair.a, png_bytes(32, 16), "image/png").status_code == 200
        return
    assert r.status_code == 422, (r.status_code, r.text[:200])
    assert "coordinates" in r.json()["detail"] or "JSON" in r.json()["detail"]
