"""The site map: the plan and camera positions (built from ``ronda.map``'s records)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ronda.api.schemas import Out
from ronda.map import validators
from ronda.map.repository import PlanRecord
from ronda.map.service import MapCamera
from ronda.map.validators import MEDIA_TYPE
from ronda.timeutil import to_iso


class PlanView(Out):
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
    def of(cls, plan: PlanRecord) -> PlanView:
        updated = to_iso(plan.updated_ms)
        assert updated is not None  # an int always has one
        return cls(type="geojson" if plan.kind == "geojson" else "image", url=f"/api/v1/map/plan?v={plan.sha256[:12]}",
                   content_type=MEDIA_TYPE[plan.kind], width=plan.width, height=plan.height, bounds=plan.bounds,
                   bytes=plan.bytes, updated=updated, updated_by=plan.by)  # fmt: skip


class PositionView(Out):
    """A camera's coordinates: ``x``/``y`` (image plans), ``lat``/``lon`` (geographic map, GeoJSON
    plans), and what it looks at; null where not placed or not set."""

    id: int
    x: float | None
    y: float | None
    lat: float | None
    lon: float | None
    direction: float | None = Field(description="degrees clockwise from north")
    fov: float | None = Field(description="field of view, degrees")
    range_m: float | None = Field(description="how far the camera sees, metres")

    @staticmethod
    def fields(p: validators.Position | None) -> dict[str, float | None]:
        p = p or validators.Position()
        return {"x": p.x, "y": p.y, "lat": p.lat, "lon": p.lon, "direction": p.direction, "fov": p.fov,
                "range_m": p.range_m}  # fmt: skip

    @classmethod
    def of(cls, camera_id: int, p: validators.Position | None) -> PositionView:
        return cls(id=camera_id, **cls.fields(p))


class MapCameraView(PositionView):
    name: str
    status: str
    ptz: bool = Field(description="a dome: its cone follows its pan (GET /api/v1/cameras/{id}/ptz)")

    @classmethod
    def of_camera(cls, c: MapCamera) -> MapCameraView:
        return cls(id=c.id, name=c.name, status=c.status, ptz=c.ptz, **cls.fields(c.position))


class MapView(Out):
    plan: PlanView | None
    mode: Literal["plan", "geographic"] = Field(description="what the map shows first (map.mode)")
    tile_url: str | None = Field(description="XYZ template of the geographic base map (map.tile_url); null: none")
    attribution: str = Field(description="the tiles' attribution, plain text")
    max_zoom: int
    cameras: list[MapCameraView]
