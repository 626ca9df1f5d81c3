"""The map's pure validators, fuzzed: plans of random shape, every truncation of a valid plan, random
positions, cameras and scopes. Whatever the input, the answer is a checked result or one of the
map's own errors with a sentence, never another exception (which the API would turn into a 500)."""

from __future__ import annotations

import json
import math
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ronda.map import validators as v
from ronda.map.errors import CameraUnknown, InvalidPosition, PlanRefused, PlanRequired, WrongPositionKind

FIXTURES = Path(__file__).parent / "fixtures"
PNG = (FIXTURES / "plan.png").read_bytes()
JPEG = (FIXTURES / "plan.jpg").read_bytes()
GEOJSON = (FIXTURES / "plan.geojson").read_bytes()
# No example database: nothing written into the work tree; a failure prints its reproduction.
FUZZ = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(kind: v.Kind, data: bytes) -> v.CheckedPlan | PlanRefused:
    """The validator's answer; any exception other than PlanRefused fails the test."""
    try:
        return v.check_plan(kind, data)
    except PlanRefused as e:
        assert str(e) and "Traceback" not in str(e)
        return e


# --- the fixtures themselves ------------------------------------------------------------------------
def test_fixtures_are_valid_plans():
    assert (v.check_plan("png", PNG).width, v.check_plan("png", PNG).height) == (8, 8)
    assert (v.check_plan("jpeg", JPEG).width, v.check_plan("jpeg", JPEG).height) == (40, 24)
    plan = v.check_plan("geojson", GEOJSON)
    assert plan.bounds == (9.18, 45.46, 9.2, 45.47) and plan.features == 3
    doc = json.loads(plan.data)
    assert doc["features"][0]["id"] == "piazza" and doc["features"][1]["properties"] is None


# --- truncation at every length ---------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "data"), [("png", PNG), ("jpeg", JPEG), ("geojson", GEOJSON)])
def test_every_truncation_is_refused_with_a_reason(kind, data):
    messages = set()
    for n in range(len(data)):
        result = outcome(kind, data[:n])
        assert isinstance(result, PlanRefused), (kind, n)
        messages.add(str(result).split(" at byte")[0].split(":")[0])
    assert isinstance(outcome(kind, data), v.CheckedPlan)
    assert len(messages) >= 2  # not one catch-all sentence


def test_every_truncation_of_a_position_body_is_refused():
    """The position's JSON cut short: what parses at all is refused by the position check."""
    body = '{"x": 0.25, "y": 0.75}'
    for n in range(len(body)):
        try:
            doc = json.loads(body[:n])
        except ValueError:
            continue  # the API's JSON parser answers 422 before the validator runs
        with pytest.raises(InvalidPosition):
            v.check_position(**doc) if isinstance(doc, dict) else v.check_position(doc)


# --- plans of random shape ----------------------------------------------------------------------------------
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=30,
)
GEOMETRY_TYPES = ["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "Circle", 7]


def rarely(n: int) -> st.SearchStrategy[bool]:
    """True about once in ``n`` draws (a middle value: Hypothesis favours the ends of a range)."""
    return st.integers(0, n - 1).map(lambda i: i == n // 2)


HOSTILE_NUMBERS = [10**400, -(10**400), "9", None, True, 200.5, -91, [1, 2]]
# Mostly sound coordinates, sometimes one hostile value: plans near the edge of valid.
numbers = rarely(30).flatmap(
    lambda odd: st.sampled_from(HOSTILE_NUMBERS) if odd else st.floats(-90, 90) | st.integers(-90, 90)
)


@st.composite
def positions(draw: st.DrawFn) -> Any:
    size = draw(st.sampled_from([1, 4])) if draw(rarely(30)) else draw(st.integers(2, 3))
    return [draw(numbers) for _ in range(size)]


def _lists(inner: st.SearchStrategy[Any], min_size: int) -> st.SearchStrategy[Any]:
    # now and then one position short of the minimum
    return rarely(15).flatmap(
        lambda short: st.lists(inner, min_size=min_size - 1, max_size=min_size - 1)
        if short else st.lists(inner, min_size=min_size, max_size=min_size + 3)
    )  # fmt: skip


line = _lists(positions(), 2)
ring = _lists(positions(), 4)
COORDINATES = {
    "Point": positions(),
    "MultiPoint": st.lists(positions(), min_size=1, max_size=4),
    "LineString": line,
    "MultiLineString": st.lists(line, min_size=1, max_size=3),
    "Polygon": st.lists(ring, min_size=1, max_size=2),
    "MultiPolygon": st.lists(st.lists(ring, min_size=1, max_size=2), min_size=1, max_size=2),
}


@st.composite
def geometries(draw: st.DrawFn, nested: bool = False) -> Any:
    odd = ["Circle", 7] if draw(rarely(20)) else []
    kind = draw(st.sampled_from([*COORDINATES, *odd] + ([] if nested else ["GeometryCollection"])))
    if kind == "GeometryCollection":
        return {"type": kind, "geometries": draw(st.lists(geometries(nested=True), min_size=int(not draw(rarely(10))),
                                                          max_size=3))}  # fmt: skip
    if kind in COORDINATES and not draw(rarely(20)):
        coords = draw(COORDINATES[kind])
    else:  # a wrong type, or coordinates of the wrong depth
        coords = draw(st.recursive(positions(), lambda inner: st.lists(inner, max_size=3), max_leaves=8))
    geometry: dict[str, Any] = {"type": kind, "coordinates": coords}
    if draw(rarely(30)):
        del geometry["coordinates"]
    if draw(st.booleans()):
        geometry["bbox"] = draw(json_values)  # foreign members are dropped
    return geometry


@st.composite
def features(draw: st.DrawFn) -> Any:
    feature: dict[str, Any] = {"type": "feature" if draw(rarely(30)) else "Feature"}
    if not draw(rarely(20)):
        feature["geometry"] = draw(rarely(20).flatmap(lambda odd: st.none() | json_values if odd else geometries()))
    if draw(st.booleans()):
        properties = st.none() | st.dictionaries(st.text(max_size=6), json_values, max_size=3)
        feature["properties"] = draw(json_values if draw(rarely(20)) else properties)
    if draw(st.booleans()):
        feature["id"] = draw(json_scalars)
    return feature


@st.composite
def collections(draw: st.DrawFn) -> Any:
    doc: dict[str, Any] = {"type": "Feature" if draw(rarely(30)) else "FeatureCollection"}
    if not draw(rarely(30)):
        features_ = st.lists(features(), min_size=int(not draw(rarely(10))), max_size=4)
        doc["features"] = draw(json_values if draw(rarely(20)) else features_)
    return draw(json_values) if draw(rarely(30)) else doc


def _positions(geometry: Any) -> list[list[float]]:
    if geometry is None:
        return []
    if geometry["type"] == "GeometryCollection":
        return [p for g in geometry["geometries"] for p in _positions(g)]

    def walk(c: Any) -> list[list[float]]:
        return [c] if c and not isinstance(c[0], list) else [p for x in c for p in walk(x)]

    return walk(geometry["coordinates"])


@FUZZ
@given(doc=collections())
def test_random_geojson_is_cleaned_or_refused(doc):
    data = json.dumps(doc).encode()
    result = outcome("geojson", data)
    if isinstance(result, PlanRefused):
        return
    clean = json.loads(result.data)
    assert set(clean) == {"type", "features"} and len(clean["features"]) == result.features
    positions = [p for f in clean["features"] for p in _positions(f["geometry"])]
    assert positions, "an accepted plan has something to draw"
    for p in positions:
        assert 2 <= len(p) <= 3 and all(isinstance(x, float) and math.isfinite(x) for x in p)
        assert -180 <= p[0] <= 180 and -90 <= p[1] <= 90
    lons, lats = [p[0] for p in positions], [p[1] for p in positions]
    assert result.bounds == (min(lons), min(lats), max(lons), max(lats))
    for f in clean["features"]:
        assert set(f) <= {"type", "geometry", "properties", "id"}
    again = v.check_plan("geojson", result.data)  # the stored copy is itself a valid plan, unchanged
    assert again.data == result.data and again.bounds == result.bounds


@FUZZ
@given(doc=collections(), cut=st.integers(0, 10**6))
def test_random_geojson_cut_anywhere(doc, cut):
    data = json.dumps(doc, separators=(",", ":")).encode()
    assume(cut < len(data))
    assert isinstance(outcome("geojson", data[:cut]), PlanRefused)


@FUZZ
@given(data=st.binary(max_size=300), kind=st.sampled_from(["png", "jpeg", "geojson"]))
def test_random_bytes(data, kind):
    outcome(kind, data)


@FUZZ
@given(kind=st.sampled_from(["png", "jpeg", "geojson"]), at=st.integers(0, 10**6), byte=st.integers(0, 255))
def test_one_changed_byte(kind, at, byte):
    data = bytearray({"png": PNG, "jpeg": JPEG, "geojson": GEOJSON}[kind])
    data[at % len(data)] = byte
    result = outcome(kind, bytes(data))
    if kind == "png" and isinstance(result, v.CheckedPlan):
        assert bytes(data) == PNG  # every PNG byte is under a CRC or the signature


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@FUZZ
@given(width=st.integers(0, 2**32 - 1), height=st.integers(0, 2**32 - 1))
def test_png_pixel_limits(width, height):
    png = (v.PNG_SIGNATURE + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
           + _chunk(b"IDAT", zlib.compress(b"")) + _chunk(b"IEND", b""))  # fmt: skip
    result = outcome("png", png)
    ok = 0 < width <= v.MAX_SIDE and 0 < height <= v.MAX_SIDE and width * height <= v.MAX_PIXELS
    assert isinstance(result, v.CheckedPlan) == ok
    if not ok:
        assert "pixels" in str(result)


@FUZZ
@given(depth=st.integers(1, 3000), bracket=st.sampled_from(["[]", "{}"]))
def test_depth_is_refused_before_parsing(depth, bracket):
    inner = '{"a":' * depth + "1" + "}" * depth if bracket == "{}" else "[" * depth + "]" * depth
    data = ('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"p":' + inner
            + '},"geometry":{"type":"Point","coordinates":[1,2]}}]}').encode()  # fmt: skip
    result = outcome("geojson", data)
    total = 4 + depth  # collection, features, feature, properties
    assert isinstance(result, v.CheckedPlan) == (total <= v.MAX_DEPTH)
    if total > v.MAX_DEPTH:
        assert "nests too deeply" in str(result)


@FUZZ
@given(value=json_values)
def test_json_depth_matches_the_structure(value):
    def depth(x: Any) -> int:
        if isinstance(x, list):
            return 1 + max((depth(i) for i in x), default=0)
        if isinstance(x, dict):
            return 1 + max((depth(i) for i in x.values()), default=0)
        return 0

    assert v.json_depth(json.dumps(value), limit=10**6) == depth(value)
    assert v.json_depth(json.dumps({"s": '[[[{{{\\"]]'})) == 1  # brackets in strings do not count


@FUZZ
@given(ctype=st.text(max_size=40) | st.sampled_from(["image/png", "IMAGE/JPEG; q=1", "image/svg+xml",
                                                   "application/geo+json;charset=utf-8", "text/html"]))  # fmt: skip
def test_content_types(ctype):
    try:
        kind = v.plan_kind(ctype)
    except PlanRefused as e:
        assert "SVG" in str(e) or "Content-Type" in str(e)
        return
    assert kind in v.LIMIT


def test_size_limits():
    assert "at most 2 MiB" in str(outcome("geojson", b" " * (v.MAX_GEOJSON_BYTES + 1)))
    assert "at most 5 MiB" in str(outcome("png", PNG + b"\0" * v.MAX_IMAGE_BYTES))
    assert "empty" in str(outcome("jpeg", b""))


# --- positions, camera references, scope -------------------------------------------------------------------
coordinate = (
    st.none()
    | st.floats()
    | st.integers()
    | st.sampled_from([10**400, -(10**400), True, "0.5", [], {}, math.nan, math.inf])
)


@FUZZ
@given(x=coordinate, y=coordinate, lat=coordinate, lon=coordinate)
def test_random_positions(x, y, lat, lon):
    try:
        p = v.check_position(x, y, lat, lon)
    except InvalidPosition as e:
        assert str(e)
        return
    given_ = p.given()
    assert set(given_) in ({"x", "y"}, {"lat", "lon"})
    for name, value in given_.items():
        low, high = v.RANGES[name]
        assert isinstance(value, float) and low <= value <= high
    # lat/lon go anywhere (the geographic map needs no plan); x/y need an image plan
    for plan in ("png", "jpeg", "geojson", None):
        fits = not p.on_image or plan in ("png", "jpeg")
        try:
            v.check_position_for_plan(plan, p)
            assert fits
        except WrongPositionKind:
            assert p.on_image and plan == "geojson"
        except PlanRequired:
            assert p.on_image and plan is None


@FUZZ
@given(direction=coordinate, fov=coordinate, range_m=coordinate)
def test_random_views(direction, fov, range_m):
    try:
        p = v.check_position(lat=45, lon=9, direction=direction, fov=fov, range_m=range_m)
    except InvalidPosition as e:
        assert str(e)
        return
    for name, value in p.given().items():
        low, high = {**v.RANGES, **v.VIEW_RANGES}[name]
        assert isinstance(value, float) and low <= value <= high
    assert set(p.given()) - {"lat", "lon"} == {
        k for k, x in {"direction": direction, "fov": fov, "range_m": range_m}.items() if x is not None
    }


@FUZZ
@given(
    cameras=st.lists(st.integers(1, 50), unique=True, max_size=20),
    placed=st.dictionaries(st.integers(1, 60), st.builds(v.Position, x=st.floats(0, 1), y=st.floats(0, 1))),
    visible=st.sets(st.integers(1, 60)),
)
def test_placements_follow_scope_and_references(cameras, placed, visible):
    listed = v.placements(cameras, placed, visible)
    assert [p.camera_id for p in listed] == [c for c in cameras if c in visible]
    for p in listed:
        assert p.position == placed.get(p.camera_id)
    for cid in set(placed) | set(cameras):
        if cid in set(cameras):
            v.check_camera_reference(cid, set(cameras))
        else:
            with pytest.raises(CameraUnknown):
                v.check_camera_reference(cid, set(cameras))
