"""Pure checks of a site plan and of camera positions on it: bytes and values in, a clean result or a
``PlanRefused``/``InvalidPosition``/``WrongPositionKind`` with a sentence out. No I/O, no database, no
HTTP, so ``tests/map`` can fuzz them with any shape of input.

The server never decodes an image: it checks the file's structure (magic bytes, PNG chunk CRCs, JPEG
markers) and its pixel size, and serves back the bytes it checked. SVG is refused: it can carry
scripts, event handlers and external references, and a sanitiser is more risk than a site plan is
worth. GeoJSON is parsed and stored as a clean copy.
"""

from __future__ import annotations

import json
import math
import re
import struct
import zlib
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from typing import Any, Literal

from ronda.map.errors import CameraUnknown, InvalidPosition, PlanRefused, PlanRequired, WrongPositionKind

Kind = Literal["png", "jpeg", "geojson"]

MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_GEOJSON_BYTES = 2 * 1024 * 1024
MAX_PLAN_BYTES = MAX_IMAGE_BYTES  # the largest request body PUT /map/plan may carry
MAX_SIDE = 16384  # pixels per side: larger plans cost browsers hundreds of MB to decode
MAX_PIXELS = 50_000_000
# GeoJSON itself needs 10 levels (a MultiPolygon inside a GeometryCollection); the rest is for
# properties. A fixed limit, checked before parsing, instead of whatever depth Python's recursion
# limit allows at the stack depth the parser or the serialiser happens to run at.
MAX_DEPTH = 64

IMAGE_TYPES: dict[str, Kind] = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg"}
GEOJSON_TYPES = frozenset({"application/geo+json", "application/json"})
MEDIA_TYPE: dict[Kind, str] = {"png": "image/png", "jpeg": "image/jpeg", "geojson": "application/geo+json"}
EXTENSION: dict[Kind, str] = {"png": "png", "jpeg": "jpg", "geojson": "geojson"}
LIMIT: dict[Kind, int] = {"png": MAX_IMAGE_BYTES, "jpeg": MAX_IMAGE_BYTES, "geojson": MAX_GEOJSON_BYTES}

SVG_REFUSED = (
    "SVG plans are not accepted (an SVG can carry scripts, event handlers and external references); "
    "export the plan as PNG or JPEG, or as GeoJSON"
)
TYPE_REFUSED = "Content-Type must be image/png, image/jpeg or application/geo+json"


@dataclass(frozen=True, slots=True)
class CheckedPlan:
    """A plan file that passed its checks: ``data`` is what to store and serve (for GeoJSON the clean
    copy, not the upload)."""

    kind: Kind
    data: bytes
    width: int | None = None
    height: int | None = None
    bounds: tuple[float, float, float, float] | None = None  # west, south, east, north
    features: int | None = None


def plan_kind(content_type: str) -> Kind:
    """The plan kind a request's Content-Type announces (parameters such as ``charset`` ignored)."""
    ctype = content_type.split(";")[0].strip().lower()
    if ctype == "image/svg+xml":
        raise PlanRefused(SVG_REFUSED)
    if ctype in IMAGE_TYPES:
        return IMAGE_TYPES[ctype]
    if ctype in GEOJSON_TYPES:
        return "geojson"
    raise PlanRefused(TYPE_REFUSED)


def check_plan(kind: Kind, data: bytes) -> CheckedPlan:
    """Check a whole plan file of ``kind`` (its byte limit is enforced while reading it; checked again
    here so the function stands on its own)."""
    if not data:
        raise PlanRefused("the body is empty: send the plan file")
    if len(data) > LIMIT[kind]:
        raise PlanRefused(f"the plan may be at most {LIMIT[kind] // (1024 * 1024)} MiB")
    if kind == "geojson":
        doc, bounds = check_geojson(data)
        clean = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
        return CheckedPlan(kind, clean, bounds=bounds, features=len(doc["features"]))
    width, height = check_image(kind, data)
    return CheckedPlan(kind, data, width=width, height=height)


# --- images -------------------------------------------------------------------------------------
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a structurally sound PNG: signature, IHDR first, every chunk's CRC, IEND."""
    if not data.startswith(PNG_SIGNATURE):
        raise PlanRefused("the file is not a PNG image (wrong signature)")
    pos, size, has_data = len(PNG_SIGNATURE), None, False
    while True:
        if pos + 12 > len(data):
            raise PlanRefused("truncated PNG (no IEND chunk)")
        length, raw_kind = struct.unpack(">I4s", data[pos : pos + 8])
        kind = raw_kind.decode("latin-1")
        end = pos + 12 + length
        if end > len(data):
            raise PlanRefused(f"truncated PNG chunk {kind!r} at byte {pos}")
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(data[pos + 4 : end - 4]) != crc:
            raise PlanRefused(f"corrupt PNG: bad checksum in chunk {kind!r} at byte {pos}")
        if size is None:
            if kind != "IHDR" or length != 13:
                raise PlanRefused("corrupt PNG: the first chunk must be IHDR")
            size = struct.unpack(">II", data[pos + 8 : pos + 16])
        elif kind == "IDAT":
            has_data = True
        elif kind == "IEND":
            break
        pos = end
    if not has_data:
        raise PlanRefused("corrupt PNG: no image data")
    return size


# SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC): the frame headers that carry the size.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def jpeg_size(data: bytes) -> tuple[int, int]:
    """Width and height from the frame header of a JPEG whose markers are sound up to the scan."""
    if not data.startswith(b"\xff\xd8\xff"):
        raise PlanRefused("the file is not a JPEG image (wrong signature)")
    pos, size = 2, None
    while True:
        if pos >= len(data) or data[pos] != 0xFF:
            raise PlanRefused(f"corrupt JPEG: no marker at byte {pos}")
        while pos < len(data) and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= len(data):
            raise PlanRefused("truncated JPEG")
        marker = data[pos]
        pos += 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            continue
        if marker in (0xD8, 0xD9):
            raise PlanRefused("corrupt JPEG: no image scan")
        if pos + 2 > len(data):
            raise PlanRefused("truncated JPEG")
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2 or pos + length > len(data):
            raise PlanRefused(f"truncated or corrupt JPEG segment at byte {pos}")
        if marker in _SOF:
            if length < 7:
                raise PlanRefused("corrupt JPEG frame header")
            height, width = struct.unpack(">HH", data[pos + 3 : pos + 7])
            size = (width, height)
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        pos += length
    if size is None:
        raise PlanRefused("corrupt JPEG: no frame header before the scan")
    if b"\xff\xd9" not in data[-1024:]:
        raise PlanRefused("truncated JPEG (no end-of-image marker)")
    return size


def check_image(kind: Kind, data: bytes) -> tuple[int, int]:
    """The pixel size of a PNG or JPEG plan, within the limits a browser can decode comfortably."""
    width, height = png_size(data) if kind == "png" else jpeg_size(data)
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE) or width * height > MAX_PIXELS:
        raise PlanRefused(
            f"the image is {width}×{height} pixels; plans may be at most {MAX_SIDE} pixels a side and "
            f"{MAX_PIXELS // 1_000_000} megapixels"
        )
    return width, height


# --- GeoJSON --------------------------------------------------------------------------------------
# How deeply each geometry nests its positions (RFC 7946 §3.1).
_DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2, "MultiPolygon": 3}
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_BRACKET = re.compile(r"[\[\]{}]")


def json_depth(text: str, limit: int = MAX_DEPTH) -> int:
    """How deeply ``text``'s arrays and objects nest (brackets inside strings do not count); stops
    counting once past ``limit``. Malformed text gets an estimate: the parser refuses it anyway."""
    depth = deepest = 0
    for m in _BRACKET.finditer(_STRING.sub('""', text)):
        if m.group() in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        else:
            depth -= 1
    return deepest


def _bad_constant(name: str) -> Any:
    raise PlanRefused(f"GeoJSON may not contain {name}")


class _Bounds:
    def __init__(self) -> None:
        self.box = [math.inf, math.inf, -math.inf, -math.inf]

    def add(self, lon: float, lat: float) -> None:
        b = self.box
        b[0], b[1], b[2], b[3] = min(b[0], lon), min(b[1], lat), max(b[2], lon), max(b[3], lat)


def _number(v: Any) -> float | None:
    """A JSON number as a finite float, or None (not a number, NaN/∞, or an integer too big for a
    float: Python parses integers of any length)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    try:
        f = float(v)
    except OverflowError:
        return None
    return f if math.isfinite(f) else None


def _position(p: Any, where: str, bounds: _Bounds) -> list[float]:
    if not isinstance(p, list) or not 2 <= len(p) <= 3:
        raise PlanRefused(f"{where}: a position is an array of 2 or 3 numbers")
    values = [_number(v) for v in p]
    if None in values:
        raise PlanRefused(f"{where}: coordinates must be finite numbers")
    out = [v for v in values if v is not None]
    lon, lat = out[0], out[1]
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise PlanRefused(f"{where}: longitude/latitude out of range (GeoJSON is WGS 84, RFC 7946)")
    bounds.add(lon, lat)
    return out


def _coordinates(c: Any, depth: int, kind: str, where: str, bounds: _Bounds) -> Any:
    if depth == 0:
        return _position(c, where, bounds)
    if not isinstance(c, list):
        raise PlanRefused(f"{where}: must be an array")
    out = [_coordinates(x, depth - 1, kind, f"{where}[{i}]", bounds) for i, x in enumerate(c)]
    if depth == 1 and kind in ("LineString", "MultiLineString") and len(out) < 2:
        raise PlanRefused(f"{where}: a line needs at least 2 positions")
    if depth == 1 and kind in ("Polygon", "MultiPolygon") and len(out) < 4:
        raise PlanRefused(f"{where}: a polygon ring needs at least 4 positions")
    return out


def _geometry(g: Any, where: str, bounds: _Bounds, nested: bool = False) -> dict[str, Any] | None:
    if g is None:
        return None
    if not isinstance(g, dict):
        raise PlanRefused(f"{where}: must be an object or null")
    kind = g.get("type")
    if kind == "GeometryCollection" and not nested:
        parts = g.get("geometries")
        if not isinstance(parts, list):
            raise PlanRefused(f"{where}.geometries: must be an array")
        geoms = [_geometry(x, f"{where}.geometries[{i}]", bounds, nested=True) for i, x in enumerate(parts)]
        return {"type": kind, "geometries": geoms}
    if not isinstance(kind, str) or kind not in _DEPTH:
        raise PlanRefused(f"{where}.type: {kind!r} is not a GeoJSON geometry type")
    if "coordinates" not in g:
        raise PlanRefused(f"{where}.coordinates: missing")
    coords = _coordinates(g["coordinates"], _DEPTH[kind], kind, f"{where}.coordinates", bounds)
    return {"type": kind, "coordinates": coords}


def check_geojson(data: bytes) -> tuple[dict[str, Any], tuple[float, float, float, float]]:
    """A clean copy of a GeoJSON FeatureCollection (only the members Ronda uses) and its bounds
    ``(west, south, east, north)``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PlanRefused("GeoJSON must be UTF-8 text") from None
    if json_depth(text) > MAX_DEPTH:
        raise PlanRefused(f"GeoJSON nests too deeply (at most {MAX_DEPTH} levels of arrays and objects)")
    try:
        doc = json.loads(text, parse_constant=_bad_constant)
    except PlanRefused:
        raise
    except RecursionError:  # not reached below MAX_DEPTH; kept so no input can become a 500
        raise PlanRefused("GeoJSON nests too deeply") from None
    except ValueError as e:
        raise PlanRefused(f"not valid JSON: {e}") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise PlanRefused('the plan must be a GeoJSON FeatureCollection ({"type": "FeatureCollection", ...})')
    features = doc.get("features")
    if not isinstance(features, list):
        raise PlanRefused("features: must be an array")
    bounds = _Bounds()
    clean = []
    for i, f in enumerate(features):
        where = f"features[{i}]"
        if not isinstance(f, dict) or f.get("type") != "Feature":
            raise PlanRefused(f'{where}: must be an object with "type": "Feature"')
        props = f.get("properties")
        if props is not None and not isinstance(props, dict):
            raise PlanRefused(f"{where}.properties: must be an object or null")
        geometry = _geometry(f.get("geometry"), f"{where}.geometry", bounds)
        item: dict[str, Any] = {"type": "Feature", "geometry": geometry, "properties": props}
        if isinstance(f.get("id"), str | int) and not isinstance(f.get("id"), bool):
            item["id"] = f["id"]
        clean.append(item)
    if not math.isfinite(bounds.box[0]):
        raise PlanRefused("the FeatureCollection has no coordinates to draw")
    west, south, east, north = bounds.box
    return {"type": "FeatureCollection", "features": clean}, (west, south, east, north)


# --- positions ----------------------------------------------------------------------------------------
# The range of each coordinate: x/y are fractions of an image plan (0,0 = top left), lat/lon WGS 84.
RANGES: dict[str, tuple[float, float]] = {"x": (0, 1), "y": (0, 1), "lat": (-90, 90), "lon": (-180, 180)}
# What a camera looks at, drawn as a cone on the geographic map: its direction (degrees clockwise from
# north; 360 is north again), field of view (degrees; 360 sees all around) and range (metres).
VIEW_RANGES: dict[str, tuple[float, float]] = {"direction": (0, 360), "fov": (1, 360), "range_m": (1, 5000)}
PAIR_REQUIRED = 'give either "x" and "y" (image plans) or "lat" and "lon" (the geographic map, GeoJSON plans)'


@dataclass(frozen=True, slots=True)
class Position:
    """Where a camera is: ``x``/``y`` on image plans, ``lat``/``lon`` on the geographic map and GeoJSON
    plans, with what it looks at (``direction``, ``fov``, ``range_m``; None: not given). A request gives
    one pair (``check_position``); a stored position may hold both, since a camera keeps its place on
    each kind of map."""

    x: float | None = None
    y: float | None = None
    lat: float | None = None
    lon: float | None = None
    direction: float | None = None
    fov: float | None = None
    range_m: float | None = None

    @property
    def on_image(self) -> bool:
        return self.x is not None

    def given(self) -> dict[str, float]:
        return {k: v for k in (*RANGES, *VIEW_RANGES) if (v := getattr(self, k)) is not None}


def _in_range(name: str, v: object, low: float, high: float) -> float:
    f = _number(v)
    if f is None:
        raise InvalidPosition(f"{name} must be a finite number")
    if not low <= f <= high:
        raise InvalidPosition(f"{name} must be between {low:g} and {high:g}")
    return f


def check_position(
    x: object = None,
    y: object = None,
    lat: object = None,
    lon: object = None,
    direction: object = None,
    fov: object = None,
    range_m: object = None,
) -> Position:
    """One pair of finite, in-range coordinates (and optionally the camera's view), or
    ``InvalidPosition`` naming the problem."""
    raw = {"x": x, "y": y, "lat": lat, "lon": lon}
    values = {name: _in_range(name, v, *RANGES[name]) for name, v in raw.items() if v is not None}
    if set(values) not in ({"x", "y"}, {"lat", "lon"}):
        raise InvalidPosition(PAIR_REQUIRED)
    view = {"direction": direction, "fov": fov, "range_m": range_m}
    values |= {name: _in_range(name, v, *VIEW_RANGES[name]) for name, v in view.items() if v is not None}
    return Position(**values)


def check_position_for_plan(plan: Kind | None, position: Position) -> None:
    """``x``/``y`` need an image plan; ``lat``/``lon`` are always taken (the geographic map needs no
    plan, and a GeoJSON plan is drawn in the same coordinates)."""
    if position.on_image and plan is None:
        raise PlanRequired()
    if position.on_image and plan == "geojson":
        raise WrongPositionKind('the plan is GeoJSON: give "lat" and "lon"')


# --- camera references and scope --------------------------------------------------------------------
def check_camera_reference(camera_id: int, cameras: Set[int]) -> None:
    """A position may only name a camera that exists (deleted cameras are not in ``cameras``)."""
    if camera_id not in cameras:
        raise CameraUnknown()


@dataclass(frozen=True, slots=True)
class Placement:
    """A camera as the map lists it: its position, or None where it has not been placed."""

    camera_id: int
    position: Position | None


def placements(cameras: Iterable[int], positions: Mapping[int, Position], visible: Set[int]) -> list[Placement]:
    """The cameras the caller may see, in ``cameras``' order, each with its position if it has one.
    Positions of cameras not in ``cameras`` (deleted) and cameras outside ``visible`` (another
    organisation's, unshared) never appear."""
    return [Placement(cid, positions.get(cid)) for cid in cameras if cid in visible]
