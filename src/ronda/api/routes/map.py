"""The site map API (docs/map.md): parse, check the caller's right, call ``ronda.map``, answer with a
declared model. The checks of a plan file and of a position are in ``ronda.map.validators``, the SQL
in ``ronda.map.repository``, the rest in ``ronda.map.service``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ronda.access.rights import MANAGE_CAMERAS
from ronda.api.deps import Caller, CameraId, Ctx, require_camera, require_site
from ronda.map import validators
from ronda.map.errors import (
    CameraUnknown,
    InvalidPosition,
    MapError,
    NotPlaced,
    PlanMissing,
    PlanRefused,
    PlanRequired,
    PlanTooLarge,
    WrongPositionKind,
)
from ronda.map.repository import PlanRecord
from ronda.map.service import MapCamera, SiteMap
from ronda.map.validators import MEDIA_TYPE, RANGES
from ronda.timeutil import to_iso

router = APIRouter(tags=["map"])

# Each map error's answer; the message is the error's own sentence.
_STATUS: dict[type[MapError], int] = {
    PlanRefused: 422,
    PlanTooLarge: 413,
    PlanMissing: 404,
    PlanRequired: 409,
    InvalidPosition: 422,
    WrongPositionKind: 422,
    CameraUnknown: 404,
    NotPlaced: 404,
}


@contextmanager
def _answers() -> Iterator[None]:
    try:
        yield
    except MapError as e:
        raise HTTPException(_STATUS.get(type(e), 400), str(e)) from None


def site_map(ctx: Ctx) -> SiteMap:
    return SiteMap(ctx.db, ctx.audit, ctx.cfg.data_dir)


Map = Annotated[SiteMap, Depends(site_map)]


# --- models -------------------------------------------------------------------------------------------
class PlanOut(BaseModel):
    """The plan as clients see it; ``url`` changes with the content (``?v=`` checksum prefix)."""

    type: Literal["image", "geojson"]
    url: str
    content_type: str
    width: int | None = Field(description="pixels (null for GeoJSON)")
    height: int | None = Field(description="pixels (null for GeoJSON)")
    bounds: list[float] | None = Field(description="[west, south, east, north] of a GeoJSON plan (null for images)")
    bytes: int
    updated: str
    updated_by: str | None

    @classmethod
    def of(cls, plan: PlanRecord) -> PlanOut:
        updated = to_iso(plan.updated_ms)
        assert updated is not None  # an int always has one
        return cls(type="geojson" if plan.kind == "geojson" else "image", url=f"/api/v1/map/plan?v={plan.sha256[:12]}",
                   content_type=MEDIA_TYPE[plan.kind], width=plan.width, height=plan.height, bounds=plan.bounds,
                   bytes=plan.bytes, updated=updated, updated_by=plan.by)  # fmt: skip


class PositionOut(BaseModel):
    """A camera's coordinates: ``x``/``y`` (image plans), ``lat``/``lon`` (GeoJSON plans); null where
    not placed."""

    id: int
    x: float | None
    y: float | None
    lat: float | None
    lon: float | None

    @classmethod
    def of(cls, camera_id: int, p: validators.Position | None) -> PositionOut:
        p = p or validators.Position()
        return cls(id=camera_id, x=p.x, y=p.y, lat=p.lat, lon=p.lon)


class MapCameraOut(PositionOut):
    name: str
    status: str

    @classmethod
    def of_camera(cls, c: MapCamera) -> MapCameraOut:
        p = c.position or validators.Position()
        return cls(id=c.id, name=c.name, status=c.status, x=p.x, y=p.y, lat=p.lat, lon=p.lon)


class MapOut(BaseModel):
    plan: PlanOut | None
    tile_url: str | None = Field(description="always null: Ronda needs no internet tiles")
    cameras: list[MapCameraOut]


class Position(BaseModel):
    """Where a camera is on the plan: ``x``/``y`` as fractions of an image plan's width and height
    (0,0 = top left), or ``lat``/``lon`` on a GeoJSON plan."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    x: float | None = Field(None, ge=RANGES["x"][0], le=RANGES["x"][1])
    y: float | None = Field(None, ge=RANGES["y"][0], le=RANGES["y"][1])
    lat: float | None = Field(None, ge=RANGES["lat"][0], le=RANGES["lat"][1])
    lon: float | None = Field(None, ge=RANGES["lon"][0], le=RANGES["lon"][1])

    @model_validator(mode="after")
    def _one_pair(self) -> Position:
        self.checked()  # InvalidPosition is a ValueError: a 422 naming the problem
        return self

    def checked(self) -> validators.Position:
        return validators.check_position(self.x, self.y, self.lat, self.lon)


# --- routes ---------------------------------------------------------------------------------------------
async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it passes ``limit`` (chunked uploads carry no
    Content-Length for the app's body-size check to see)."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise PlanTooLarge(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PlanTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


@router.get("/map", response_model=MapOut)
def get_map(caller: Caller, site: Map) -> MapOut:
    """The plan (or null), the tile URL (null: Ronda needs no internet tiles) and every camera the caller
    may see with its position: ``x``/``y`` (fractions of the image) or ``lat``/``lon`` (GeoJSON plans);
    null where the camera has not been placed."""
    view = site.view(caller.visible)
    plan = PlanOut.of(view.plan) if view.plan is not None else None
    return MapOut(plan=plan, tile_url=None, cameras=[MapCameraOut.of_camera(c) for c in view.cameras])


@router.get("/map/plan", response_model=None, response_class=Response, responses={200: {"content": {
            "image/png": {}, "image/jpeg": {}, "application/geo+json": {}}}})  # fmt: skip
def get_plan(caller: Caller, site: Map) -> Response:
    """The plan file with the type Ronda checked; 404 when there is none."""
    with _answers():
        plan, path = site.plan_file()
    return FileResponse(
        path,
        media_type=MEDIA_TYPE[plan.kind],
        content_disposition_type="inline",
        headers={
            "X-Content-Type-Options": "nosniff",
            # Opened on its own, the file is inert: no scripts, no sub-resources.
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


@router.put(
    "/map/plan",
    response_model=PlanOut,
    openapi_extra={"requestBody": {"required": True, "content": {
        "image/png": {"schema": {"type": "string", "format": "binary"}},
        "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
        "application/geo+json": {"schema": {"type": "object"}}}}},
)  # fmt: skip
async def put_plan(caller: Caller, site: Map, request: Request) -> PlanOut:
    """Replace the site plan: the raw file as the body, its type in Content-Type (``image/png``,
    ``image/jpeg`` up to 5 MiB; ``application/geo+json`` FeatureCollection up to 2 MiB). SVG is
    refused. Camera positions are kept."""
    require_site(caller, MANAGE_CAMERAS)
    with _answers():
        kind = validators.plan_kind(request.headers.get("content-type", ""))
        data = await _read_body(request, validators.LIMIT[kind])
        # Parsing a 2 MiB GeoJSON takes a while: off the event loop.
        checked = await asyncio.to_thread(validators.check_plan, kind, data)
        plan = await asyncio.to_thread(site.replace_plan, checked, caller.actor, caller.source_ip)
    return PlanOut.of(plan)


@router.delete("/map/plan", status_code=204, response_model=None)
def delete_plan(caller: Caller, site: Map) -> Response:
    """Remove the plan (positions are kept for the next one)."""
    require_site(caller, MANAGE_CAMERAS)
    with _answers():
        site.remove_plan(caller.actor, caller.source_ip)
    return Response(status_code=204)


@router.put("/map/cameras/{camera_id}", response_model=PositionOut)
def put_position(caller: Caller, site: Map, camera_id: CameraId, body: Position) -> PositionOut:
    """Place a camera: ``x``/``y`` on an image plan, ``lat``/``lon`` on a GeoJSON plan; 409 without a plan."""
    require_camera(caller, camera_id, MANAGE_CAMERAS)
    with _answers():
        stored = site.place(camera_id, body.checked(), caller.actor, caller.source_ip)
    return PositionOut.of(camera_id, stored)


@router.delete("/map/cameras/{camera_id}", status_code=204, response_model=None)
def delete_position(caller: Caller, site: Map, camera_id: CameraId) -> Response:
    """Take the camera off the map."""
    require_camera(caller, camera_id, MANAGE_CAMERAS)
    with _answers():
        site.take_off(camera_id, caller.actor, caller.source_ip)
    return Response(status_code=204)
