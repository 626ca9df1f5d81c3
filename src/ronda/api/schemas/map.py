"""The site map: the plan and camera positions."""

from __future__ import annotations

from typing import Any

from ronda.api.schemas import Out


class PlanView(Out):
    type: str  # image | geojson
    url: str
    content_type: str
    width: int | None
    height: int | None
    bounds: Any
    bytes: int
    updated: str | None
    updated_by: str | None


class MapCamera(Out):
    id: int
    name: str
    status: str
    x: float | None
    y: float | None
    lat: float | None
    lon: float | None


class MapView(Out):
    plan: PlanView | None
    tile_url: str | None
    cameras: list[MapCamera]


class PositionView(Out):
    id: int
    x: float | None
    y: float | None
    lat: float | None
    lon: float | None
