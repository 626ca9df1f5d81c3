"""The site map: a plan (PNG/JPEG image or GeoJSON) uploaded by an administrator and the cameras'
positions on it.

The plan file lives in ``DATA/map/``; what it is (type, size, checksum) and the positions are small
JSON values in the ``system_state`` table, so no migration is needed. The server never decodes an
image: it checks the file's structure (magic bytes, PNG chunk CRCs, JPEG markers) and its pixel size,
and serves the bytes back with the type it checked. SVG is refused: it can carry scripts, event
handlers and external references, and a sanitiser is more risk than a site plan is worth.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import struct
import threading
import zlib
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ronda.access.rights import MANAGE_CAMERAS
from ronda.api.deps import (
    Caller,
    CameraId,
    Ctx,
    authenticated,
    camera_right,
    not_found,
    require_camera,
    require_site,
    site_right,
)
from ronda.api.schemas.map import MapView, PlanView, PositionView
from ronda.devices import registry
from ronda.store import repos
from ronda.store.models import SystemState
from ronda.timeutil import now_ms, to_iso

router = APIRouter(tags=["map"])

MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_GEOJSON_BYTES = 2 * 1024 * 1024
MAX_PLAN_BYTES = MAX_IMAGE_BYTES  # the largest request body PUT /map/plan may carry
MAX_SIDE = 16384  # pixels per side: larger plans cost browsers hundreds of MB to decode
MAX_PIXELS = 50_000_000
PLAN_KEY = "map.plan"
POSITIONS_KEY = "map.positions"

IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg"}
GEOJSON_TYPES = {"application/geo+json", "application/json"}
MEDIA_TYPE = {"png": "image/png", "jpeg": "image/jpeg", "geojson": "application/geo+json"}
EXTENSION = {"png": "png", "jpeg": "jpg", "geojson": "geojson"}

# Position updates read, change and write one JSON value: one at a time in this process.
_positions_lock = threading.Lock()


class PlanError(ValueError):
    """A plan file Ronda will not store; the message says why."""


# --- images -------------------------------------------------------------------------------------
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a structurally sound PNG: signature, IHDR first, every chunk's CRC, IEND."""
    if not data.startswith(PNG_SIGNATURE):
        raise PlanError("the file is not a PNG image (wrong signature)")
    pos, size, has_data = len(PNG_SIGNATURE), None, False
    while True:
        if pos + 12 > len(data):
            raise PlanError("truncated PNG (no IEND chunk)")
        length, raw_kind = struct.unpack(">I4s", data[pos : pos + 8])
        kind = raw_kind.decode("latin-1")
        end = pos + 12 + length
        if end > len(data):
            raise PlanError(f"truncated PNG chunk {kind!r} at byte {pos}")
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(data[pos + 4 : end - 4]) != crc:
            raise PlanError(f"corrupt PNG: bad checksum in chunk {kind!r} at byte {pos}")
        if size is None:
            if kind != "IHDR" or length != 13:
                raise PlanError("corrupt PNG: the first chunk must be IHDR")
            size = struct.unpack(">II", data[pos + 8 : pos + 16])
        elif kind == "IDAT":
            has_data = True
        elif kind == "IEND":
            break
        pos = end
    if not has_data:
        raise PlanError("corrupt PNG: no image data")
    return size


# SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC): the frame headers that carry the size.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def jpeg_size(data: bytes) -> tuple[int, int]:
    """Width and height from the frame header of a JPEG whose markers are sound up to the scan."""
    if not data.startswith(b"\xff\xd8\xff"):
        raise PlanError("the file is not a JPEG image (wrong signature)")
    pos, size = 2, None
    while True:
        if pos >= len(data) or data[pos] != 0xFF:
            raise PlanError(f"corrupt JPEG: no marker at byte {pos}")
        while pos < len(data) and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= len(data):
            raise PlanError("truncated JPEG")
        marker = data[pos]
        pos += 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            continue
        if marker in (0xD8, 0xD9):
            raise PlanError("corrupt JPEG: no image scan")
        if pos + 2 > len(data):
            raise PlanError("truncated JPEG")
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2 or pos + length > len(data):
            raise PlanError(f"truncated or corrupt JPEG segment at byte {pos}")
        if marker in _SOF:
            if length < 7:
                raise PlanError("corrupt JPEG frame header")
            height, width = struct.unpack(">HH", data[pos + 3 : pos + 7])
            size = (width, height)
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        pos += length
    if size is None:
        raise PlanError("corrupt JPEG: no frame header before the scan")
    if b"\xff\xd9" not in data[-1024:]:
        raise PlanError("truncated JPEG (no end-of-image marker)")
    return size


def check_image(kind: str, data: bytes) -> tuple[int, int]:
    width, height = png_size(data) if kind == "png" else jpeg_size(data)
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE) or width * height > MAX_PIXELS:
        raise PlanError(
            f"the image is {width}×{height} pixels; plans may be at most {MAX_SIDE} pixels a side and "
            f"{MAX_PIXELS // 1_000_000} megapixels"
        )
    return width, height


SVG_REFUSED = (
    "SVG plans are not accepted (an SVG can carry scripts, event handlers and external references); "
    "export the plan as PNG or JPEG, or as GeoJSON"
)


# --- GeoJSON --------------------------------------------------------------------------------------
# How deeply each geometry nests its positions (RFC 7946 §3.1).
_DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2, "MultiPolygon": 3}


def _bad_constant(name: str) -> Any:
    raise PlanError(f"GeoJSON may not contain {name}")


class _Bounds:
    def __init__(self) -> None:
        self.box = [math.inf, math.inf, -math.inf, -math.inf]

    def add(self, lon: float, lat: float) -> None:
        b = self.box
        b[0], b[1], b[2], b[3] = min(b[0], lon), min(b[1], lat), max(b[2], lon), max(b[3], lat)


def _position(p: Any, where: str, bounds: _Bounds) -> list[float]:
    if not isinstance(p, list) or not 2 <= len(p) <= 3:
        raise PlanError(f"{where}: a position is an array of 2 or 3 numbers")
    for v in p:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise PlanError(f"{where}: coordinates must be finite numbers")
    lon, lat = float(p[0]), float(p[1])
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise PlanError(f"{where}: longitude/latitude out of range (GeoJSON is WGS 84, RFC 7946)")
    bounds.add(lon, lat)
    return [float(v) for v in p]


def _coordinates(c: Any, depth: int, kind: str, where: str, bounds: _Bounds) -> Any:
    if depth == 0:
        return _position(c, where, bounds)
    if not isinstance(c, list):
        raise PlanError(f"{where}: must be an array")
    out = [_coordinates(x, depth - 1, kind, f"{where}[{i}]", bounds) for i, x in enumerate(c)]
    if depth == 1 and kind in ("LineString", "MultiLineString") and len(out) < 2:
        raise PlanError(f"{where}: a line needs at least 2 positions")
    if depth == 1 and kind in ("Polygon", "MultiPolygon") and len(out) < 4:
        raise PlanError(f"{where}: a polygon ring needs at least 4 positions")
    return out


def _geometry(g: Any, where: str, bounds: _Bounds, nested: bool = False) -> dict[str, Any] | None:
    if g is None:
        return None
    if not isinstance(g, dict):
        raise PlanError(f"{where}: must be an object or null")
    kind = g.get("type")
    if kind == "GeometryCollection" and not nested:
        parts = g.get("geometries")
        if not isinstance(parts, list):
            raise PlanError(f"{where}.geometries: must be an array")
        geoms = [_geometry(x, f"{where}.geometries[{i}]", bounds, nested=True) for i, x in enumerate(parts)]
        return {"type": kind, "geometries": geoms}
    if kind not in _DEPTH:
        raise PlanError(f"{where}.type: {kind!r} is not a GeoJSON geometry type")
    if "coordinates" not in g:
        raise PlanError(f"{where}.coordinates: missing")
    coords = _coordinates(g["coordinates"], _DEPTH[kind], kind, f"{where}.coordinates", bounds)
    return {"type": kind, "coordinates": coords}


def check_geojson(data: bytes) -> tuple[dict[str, Any], list[float]]:
    """A clean copy of a GeoJSON FeatureCollection (only the members Ronda uses) and its bounds
    ``[west, south, east, north]``."""
    try:
        doc = json.loads(data.decode("utf-8"), parse_constant=_bad_constant)
    except PlanError:
        raise
    except UnicodeDecodeError:
        raise PlanError("GeoJSON must be UTF-8 text") from None
    except RecursionError:
        raise PlanError("GeoJSON nests too deeply") from None
    except ValueError as e:
        raise PlanError(f"not valid JSON: {e}") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise PlanError('the plan must be a GeoJSON FeatureCollection ({"type": "FeatureCollection", ...})')
    features = doc.get("features")
    if not isinstance(features, list):
        raise PlanError("features: must be an array")
    bounds = _Bounds()
    clean = []
    for i, f in enumerate(features):
        where = f"features[{i}]"
        if not isinstance(f, dict) or f.get("type") != "Feature":
            raise PlanError(f'{where}: must be an object with "type": "Feature"')
        props = f.get("properties")
        if props is not None and not isinstance(props, dict):
            raise PlanError(f"{where}.properties: must be an object or null")
        geometry = _geometry(f.get("geometry"), f"{where}.geometry", bounds)
        item: dict[str, Any] = {"type": "Feature", "geometry": geometry, "properties": props}
        if isinstance(f.get("id"), str | int) and not isinstance(f.get("id"), bool):
            item["id"] = f["id"]
        clean.append(item)
    if not math.isfinite(bounds.box[0]):
        raise PlanError("the FeatureCollection has no coordinates to draw")
    return {"type": "FeatureCollection", "features": clean}, bounds.box


# --- storage ----------------------------------------------------------------------------------------
def _map_dir(ctx: Ctx) -> Path:
    return Path(ctx.cfg.data_dir) / "map"


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def plan_view(plan: dict[str, Any] | None) -> dict[str, Any] | None:
    if plan is None:
        return None
    kind = plan["kind"]
    return {
        "type": "geojson" if kind == "geojson" else "image",
        "url": f"/api/v1/map/plan?v={plan['sha256'][:12]}",
        "content_type": MEDIA_TYPE[kind],
        "width": plan.get("width"),
        "height": plan.get("height"),
        "bounds": plan.get("bounds"),
        "bytes": plan["bytes"],
        "updated": to_iso(plan["updated_ms"]),
        "updated_by": plan.get("by"),
    }


def _store_plan(ctx: Ctx, caller: Caller, kind: str, data: bytes, meta: dict[str, Any]) -> dict[str, Any]:
    sha = hashlib.sha256(data).hexdigest()
    # A new name per content: the state row and the file it names always agree, even mid-upload.
    name = f"plan-{sha[:16]}.{EXTENSION[kind]}"
    folder = _map_dir(ctx)
    _write_atomic(folder / name, data)
    plan = {"kind": kind, "file": name, "sha256": sha, "bytes": len(data), "updated_ms": now_ms(), "by": caller.actor}
    plan.update(meta)
    with ctx.db.session() as s:
        repos.put_state(s, PLAN_KEY, plan)
    for old in folder.glob("plan-*"):
        if old.name != name:
            old.unlink(missing_ok=True)
    ctx.audit.append(caller.actor, "map.plan_upload", "ok", source_ip=caller.source_ip,
                     details={"type": kind, "bytes": len(data), "sha256": sha})  # fmt: skip
    return plan


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` (chunked uploads carry no
    Content-Length for the app's body-size check to see)."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise HTTPException(413, f"the plan may be at most {limit // (1024 * 1024)} MiB")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"the plan may be at most {limit // (1024 * 1024)} MiB")
        chunks.append(chunk)
    return b"".join(chunks)


# --- routes -------------------------------------------------------------------------------------------
@router.get("/map", response_model=MapView, **authenticated())
def get_map(ctx: Ctx, caller: Caller) -> dict[str, Any]:
    """The plan (or null), the tile URL (null: Ronda needs no internet tiles) and every camera the caller
    may see with its position: ``x``/``y`` (fractions of the image) or ``lat``/``lon`` (GeoJSON plans);
    null where the camera has not been placed."""
    with ctx.db.session() as s:
        cams = repos.list_cameras(s)
        visible = caller.visible([c.id for c in cams])
        plan = repos.get_state(s, PLAN_KEY)
        positions = repos.get_state(s, POSITIONS_KEY) or {}
        cameras = []
        for c in cams:
            if c.id not in visible:
                continue
            p = positions.get(str(c.id), {})
            cameras.append({"id": c.id, "name": c.name, "status": registry.camera_view(c)["status"],
                            "x": p.get("x"), "y": p.get("y"), "lat": p.get("lat"), "lon": p.get("lon")})  # fmt: skip
    return {"plan": plan_view(plan), "tile_url": None, "cameras": cameras}


@router.get("/map/plan", response_class=Response, responses={200: {"content": {"image/png": {}, "image/jpeg": {},
            "application/geo+json": {}}}}, **authenticated())  # fmt: skip
def get_plan(ctx: Ctx, caller: Caller) -> Response:
    with ctx.db.session() as s:
        plan = repos.get_state(s, PLAN_KEY)
    path = _map_dir(ctx) / plan["file"] if plan else None
    if plan is None or path is None or not path.is_file():
        raise HTTPException(404, "no site plan has been uploaded")
    return FileResponse(
        path,
        media_type=MEDIA_TYPE[plan["kind"]],
        content_disposition_type="inline",
        headers={
            "X-Content-Type-Options": "nosniff",
            # Opened on its own, the file is inert: no scripts, no sub-resources.
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


@router.put(
    "/map/plan", response_model=PlanView,
    **site_right(MANAGE_CAMERAS, openapi_extra={"requestBody": {"required": True, "content": {
        "image/png": {"schema": {"type": "string", "format": "binary"}},
        "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
        "application/geo+json": {"schema": {"type": "object"}}}}}),
)  # fmt: skip
async def put_plan(ctx: Ctx, caller: Caller, request: Request) -> dict[str, Any]:
    """Replace the site plan: the raw file as the body, its type in Content-Type (``image/png``,
    ``image/jpeg`` up to 5 MiB; ``application/geo+json`` FeatureCollection up to 2 MiB). SVG is
    refused. Camera positions are kept."""
    require_site(caller, MANAGE_CAMERAS)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "image/svg+xml":
        raise HTTPException(422, SVG_REFUSED)
    if ctype in IMAGE_TYPES:
        kind, limit = IMAGE_TYPES[ctype], MAX_IMAGE_BYTES
    elif ctype in GEOJSON_TYPES:
        kind, limit = "geojson", MAX_GEOJSON_BYTES
    else:
        raise HTTPException(422, "Content-Type must be image/png, image/jpeg or application/geo+json")
    data = await _read_body(request, limit)
    if not data:
        raise HTTPException(422, "the body is empty: send the plan file")
    meta: dict[str, Any]
    try:
        if kind == "geojson":
            clean, bounds = await asyncio.to_thread(check_geojson, data)
            data = json.dumps(clean, separators=(",", ":"), ensure_ascii=False).encode()
            meta = {"bounds": bounds, "features": len(clean["features"])}
        else:
            width, height = check_image(kind, data)
            meta = {"width": width, "height": height}
    except PlanError as e:
        raise HTTPException(422, str(e)) from None
    plan = await asyncio.to_thread(_store_plan, ctx, caller, kind, data, meta)
    view = plan_view(plan)
    assert view is not None
    return view


@router.delete("/map/plan", status_code=204, response_class=Response, **site_right(MANAGE_CAMERAS))
def delete_plan(ctx: Ctx, caller: Caller) -> Response:
    """Remove the plan (positions are kept for the next one)."""
    require_site(caller, MANAGE_CAMERAS)
    with ctx.db.session() as s:
        plan = repos.get_state(s, PLAN_KEY)
        if plan is None:
            raise HTTPException(404, "no site plan has been uploaded")
        s.delete(s.get(SystemState, PLAN_KEY))
    (_map_dir(ctx) / plan["file"]).unlink(missing_ok=True)
    ctx.audit.append(caller.actor, "map.plan_delete", "ok", source_ip=caller.source_ip)
    return Response(status_code=204)


class Position(BaseModel):
    """Where a camera is on the plan: ``x``/``y`` as fractions of an image plan's width and height
    (0,0 = top left), or ``lat``/``lon`` on a GeoJSON plan."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    x: float | None = Field(None, ge=0, le=1)
    y: float | None = Field(None, ge=0, le=1)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)

    @model_validator(mode="after")
    def _one_pair(self) -> Position:
        xy = self.x is not None and self.y is not None
        ll = self.lat is not None and self.lon is not None
        given = {k for k in ("x", "y", "lat", "lon") if getattr(self, k) is not None}
        if not (xy and given == {"x", "y"}) and not (ll and given == {"lat", "lon"}):
            raise ValueError('give either "x" and "y" (image plans) or "lat" and "lon" (GeoJSON plans)')
        return self


@router.put("/map/cameras/{camera_id}", response_model=PositionView, **camera_right(MANAGE_CAMERAS))
def put_position(ctx: Ctx, caller: Caller, camera_id: CameraId, body: Position) -> dict[str, Any]:
    require_camera(caller, camera_id, MANAGE_CAMERAS)
    with _positions_lock, ctx.db.session() as s:
        if repos.get_camera(s, camera_id) is None:
            raise not_found()
        plan = repos.get_state(s, PLAN_KEY)
        if plan is None:
            raise HTTPException(409, "upload a site plan before placing cameras")
        if plan["kind"] == "geojson" and body.lat is None:
            raise HTTPException(422, 'the plan is GeoJSON: give "lat" and "lon"')
        if plan["kind"] != "geojson" and body.x is None:
            raise HTTPException(422, 'the plan is an image: give "x" and "y" (fractions 0..1)')
        positions = repos.get_state(s, POSITIONS_KEY) or {}
        pos = positions.get(str(camera_id), {})
        pos.update(body.model_dump(exclude_none=True))
        positions[str(camera_id)] = pos
        repos.put_state(s, POSITIONS_KEY, positions)
    ctx.audit.append(caller.actor, "map.position", "ok", camera_id, source_ip=caller.source_ip,
                     details=body.model_dump(exclude_none=True))  # fmt: skip
    return {"id": camera_id, "x": pos.get("x"), "y": pos.get("y"), "lat": pos.get("lat"), "lon": pos.get("lon")}


@router.delete("/map/cameras/{camera_id}", status_code=204, response_class=Response, **camera_right(MANAGE_CAMERAS))
def delete_position(ctx: Ctx, caller: Caller, camera_id: CameraId) -> Response:
    """Take the camera off the map."""
    require_camera(caller, camera_id, MANAGE_CAMERAS)
    with _positions_lock, ctx.db.session() as s:
        positions = repos.get_state(s, POSITIONS_KEY) or {}
        if positions.pop(str(camera_id), None) is None:
            raise HTTPException(404, "the camera is not on the map")
        repos.put_state(s, POSITIONS_KEY, positions)
    ctx.audit.append(caller.actor, "map.position_delete", "ok", camera_id, source_ip=caller.source_ip)
    return Response(status_code=204)
