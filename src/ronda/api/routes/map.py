"""The site map API (docs/map.md): parse, call ``ronda.map``, answer with a declared model; the rights
are declared on each route (``ronda.api.deps``) and map errors are domain errors (``ronda.map.errors``,
mapped to HTTP by ``ronda.api.app``). The checks of a plan file and of a position are in
``ronda.map.validators``, the SQL in ``ronda.map.repository``, the rest in ``ronda.map.service``."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ronda.access.rights import MANAGE_CAMERAS
from ronda.api.deps import Caller, CameraId, Ctx, authenticated, camera_right, site_right
from ronda.api.files import FileAnswer
from ronda.api.schemas.map import MapCameraView, MapView, PlanView, PositionView
from ronda.map import validators
from ronda.map.errors import PlanTooLarge
from ronda.map.service import SiteMap
from ronda.map.validators import MEDIA_TYPE, RANGES, VIEW_RANGES

router = APIRouter(tags=["map"])


def site_map(ctx: Ctx) -> SiteMap:
    return SiteMap(ctx.db, ctx.audit, ctx.cfg.data_dir)


Map = Annotated[SiteMap, Depends(site_map)]


# --- input ----------------------------------------------------------------------------------------------
class Position(BaseModel):
    """Where a camera is: ``x``/``y`` as fractions of an image plan's width and height (0,0 = top
    left), or ``lat``/``lon`` (the geographic map, GeoJSON plans); optionally what it looks at."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    x: float | None = Field(None, ge=RANGES["x"][0], le=RANGES["x"][1])
    y: float | None = Field(None, ge=RANGES["y"][0], le=RANGES["y"][1])
    lat: float | None = Field(None, ge=RANGES["lat"][0], le=RANGES["lat"][1])
    lon: float | None = Field(None, ge=RANGES["lon"][0], le=RANGES["lon"][1])
    direction: float | None = Field(None, ge=VIEW_RANGES["direction"][0], le=VIEW_RANGES["direction"][1],
                                    description="degrees clockwise from north")  # fmt: skip
    fov: float | None = Field(None, ge=VIEW_RANGES["fov"][0], le=VIEW_RANGES["fov"][1],
                              description="field of view, degrees")  # fmt: skip
    range_m: float | None = Field(None, ge=VIEW_RANGES["range_m"][0], le=VIEW_RANGES["range_m"][1],
                                  description="how far the camera sees, metres")  # fmt: skip

    @model_validator(mode="after")
    def _one_pair(self) -> Position:
        self.checked()  # InvalidPosition is a ValueError: a 422 naming the problem
        return self

    def checked(self) -> validators.Position:
        return validators.check_position(self.x, self.y, self.lat, self.lon, self.direction, self.fov, self.range_m)


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


@router.get("/map", response_model=MapView, **authenticated())
def get_map(caller: Caller, site: Map, ctx: Ctx) -> MapView:
    """The plan (or null), the geographic base map (``map`` configuration) and every camera the caller
    may see with its position: ``x``/``y`` (fractions of the image) and ``lat``/``lon`` (geographic map,
    GeoJSON plans), null where the camera has not been placed, and its view (direction, fov, range_m)."""
    view = site.view(caller.visible)
    plan = PlanView.of(view.plan) if view.plan is not None else None
    cfg = ctx.cfg.map
    mode = cfg.mode if cfg.mode != "auto" else ("plan" if plan is not None else "geographic")
    return MapView(plan=plan, mode=mode, tile_url=cfg.tile_url, attribution=cfg.attribution, max_zoom=cfg.max_zoom,
                   cameras=[MapCameraView.of_camera(c) for c in view.cameras])  # fmt: skip


@router.get("/map/plan", response_model=None, response_class=Response, responses={200: {"content": {
            "image/png": {}, "image/jpeg": {}, "application/geo+json": {}}}}, **authenticated())  # fmt: skip
def get_plan(site: Map) -> Response:
    """The plan file with the type Ronda checked; 404 when there is none."""
    plan, path = site.plan_file()
    return FileAnswer(
        path,
        what="plan",
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
    response_model=PlanView,
    **site_right(MANAGE_CAMERAS, openapi_extra={"requestBody": {"required": True, "content": {
        "image/png": {"schema": {"type": "string", "format": "binary"}},
        "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
        "application/geo+json": {"schema": {"type": "object"}}}}}),
)  # fmt: skip
async def put_plan(caller: Caller, site: Map, request: Request) -> PlanView:
    """Replace the site plan: the raw file as the body, its type in Content-Type (``image/png``,
    ``image/jpeg`` up to 5 MiB; ``application/geo+json`` FeatureCollection up to 2 MiB). SVG is
    refused. Camera positions are kept."""
    kind = validators.plan_kind(request.headers.get("content-type", ""))
    data = await _read_body(request, validators.LIMIT[kind])
    # Parsing a 2 MiB GeoJSON takes a while: off the event loop.
    checked = await asyncio.to_thread(validators.check_plan, kind, data)
    plan = await asyncio.to_thread(site.replace_plan, checked, caller.actor, caller.source_ip)
    return PlanView.of(plan)


@router.delete("/map/plan", status_code=204, response_model=None, response_class=Response,
               **site_right(MANAGE_CAMERAS))  # fmt: skip
def delete_plan(caller: Caller, site: Map) -> Response:
    """Remove the plan (positions are kept for the next one)."""
    site.remove_plan(caller.actor, caller.source_ip)
    return Response(status_code=204)


@router.put("/map/cameras/{camera_id}", response_model=PositionView, **camera_right(MANAGE_CAMERAS))
def put_position(caller: Caller, site: Map, camera_id: CameraId, body: Position) -> PositionView:
    """Place a camera: ``x``/``y`` on an image plan (409 without one), ``lat``/``lon`` on the geographic map
    or a GeoJSON plan; ``direction``, ``fov``, ``range_m`` (optional) draw its view as a cone."""
    stored = site.place(camera_id, body.checked(), caller.actor, caller.source_ip)
    return PositionView.of(camera_id, stored)


@router.delete("/map/cameras/{camera_id}", status_code=204, response_model=None, response_class=Response,
               **camera_right(MANAGE_CAMERAS))  # fmt: skip
def delete_position(caller: Caller, site: Map, camera_id: CameraId) -> Response:
    """Take the camera off the map."""
    site.take_off(camera_id, caller.actor, caller.source_ip)
    return Response(status_code=204)
