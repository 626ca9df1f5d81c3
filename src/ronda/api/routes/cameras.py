"""Cameras: add/list/update/remove, connection test, recordings (segments + gaps), snapshot.

Each route parses its input, calls the cameras feature (``ronda.media.cameras``, which audits each
change in the change's transaction) and returns the declared model; rights are declared on the route
(``ronda.api.deps``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic_core import to_json

from ronda.access.rights import LIVE, MANAGE_CAMERAS, PLAYBACK
from ronda.access.service import Principal
from ronda.api.deps import Caller, CameraId, Ctx, authenticated, camera_right, global_right
from ronda.api.schemas import JPEG
from ronda.api.schemas.cameras import CameraTest, CameraTimeline, CameraView, Recordings
from ronda.devices import registry
from ronda.media.cameras import Cameras

router = APIRouter(tags=["cameras"])
Stream = Literal["main", "sub"]


@dataclass(frozen=True, slots=True)
class StreamSpan:
    """A stream of a camera over ``[start, end)`` (ISO 8601 texts, parsed by the feature)."""

    start: str
    end: str
    stream: Stream


def _span(
    start: Annotated[str, Query(max_length=64)], end: Annotated[str, Query(max_length=64)], stream: Stream = "main"
) -> StreamSpan:
    return StreamSpan(start, end, stream)


Span = Annotated[StreamSpan, Depends(_span)]


def cameras(ctx: Ctx) -> Cameras:
    return Cameras(ctx.db, ctx.cfg, ctx.secrets, ctx.recorder, ctx.snapshots, ctx.audit, ctx.catalog)


@router.get("/cameras", response_model=list[CameraView], response_model_exclude_unset=True, **authenticated())
async def list_cameras(ctx: Ctx, caller: Caller) -> Response:
    """The cameras the caller may see, each with the camera groups it belongs to that the caller's
    organisation owns or has been shared (``groups: [{"id", "name", "organisation"}]``; site-level
    users see every group): the client's camera tree."""
    # Every client asks for this list, often: the database part in one worker thread, and the JSON written
    # straight from the views, which `Cameras.list_for` builds field by field from `CameraView`'s fields
    # (tests/api/test_cameras_api.py checks the answer against the model), instead of FastAPI validating
    # each of them again (a third of the request's time for 100 cameras).
    views = await asyncio.to_thread(cameras(ctx).list_for, caller)
    return Response(to_json(views), media_type="application/json")


@router.post("/cameras", status_code=201, response_model=CameraView, response_model_exclude_unset=True,
             **global_right(MANAGE_CAMERAS))  # fmt: skip
async def add_camera(ctx: Ctx, caller: Caller, body: registry.CameraCreate) -> dict[str, Any]:
    svc = cameras(ctx)
    camera_id, view = await svc.add(caller, body)
    await svc.reload(camera_id)
    return view


@router.get("/cameras/{camera_id}", response_model=CameraView, response_model_exclude_unset=True,
            **camera_right(None))  # fmt: skip
def get_camera(ctx: Ctx, caller: Caller, camera_id: CameraId) -> dict[str, Any]:
    return cameras(ctx).get(caller, camera_id)


@router.patch("/cameras/{camera_id}", response_model=CameraView, response_model_exclude_unset=True,
              **camera_right(MANAGE_CAMERAS))  # fmt: skip
async def update_camera(ctx: Ctx, caller: Caller, camera_id: CameraId, body: registry.CameraUpdate) -> dict[str, Any]:
    svc = cameras(ctx)
    view = await svc.update(caller, camera_id, body)
    await svc.reload(camera_id)
    if ctx.ptz is not None:  # its PTZ driver follows the new address or credentials
        await ctx.ptz.forget(camera_id)
    return view


@router.delete("/cameras/{camera_id}", status_code=204, response_class=Response, **camera_right(MANAGE_CAMERAS))
async def delete_camera(ctx: Ctx, caller: Caller, camera_id: CameraId) -> Response:
    svc = cameras(ctx)
    await svc.delete(caller, camera_id)
    await svc.reload(camera_id)
    if ctx.ptz is not None:
        await ctx.ptz.forget(camera_id)
    return Response(status_code=204)


@router.post("/cameras/{camera_id}/test", response_model=CameraTest, response_model_exclude_unset=True,
             **camera_right(MANAGE_CAMERAS))  # fmt: skip
async def test_camera(ctx: Ctx, caller: Caller, camera_id: CameraId) -> dict[str, Any]:
    """Probe each stream of the camera (one short RTSP session each)."""
    return await cameras(ctx).test(caller, camera_id)


@router.get("/cameras/{camera_id}/recordings", response_model=Recordings, **camera_right(PLAYBACK))
def recordings(ctx: Ctx, camera_id: CameraId, span: Span) -> dict[str, Any]:
    """Every completed segment of the stream overlapping ``[start, end)`` (at most 31 days), unclipped,
    and the gaps."""
    return cameras(ctx).recordings(camera_id, span.stream, span.start, span.end)


@router.get("/cameras/{camera_id}/timeline", response_model=CameraTimeline, **camera_right(PLAYBACK))
def timeline(
    ctx: Ctx, camera_id: CameraId, span: Span, resolution_ms: Annotated[int | None, Query(ge=1, le=86_400_000)] = None
) -> dict[str, Any]:
    """Recorded runs, gaps and evidence locks over a range, merged to ``resolution_ms`` (default: the
    range / 2000, about one screen pixel) so that a 30-day zoom-out stays small."""
    return cameras(ctx).timeline(camera_id, span.stream, span.start, span.end, resolution_ms)


@router.get("/cameras/{camera_id}/snapshot", response_class=Response, responses=JPEG, **camera_right(LIVE))
async def snapshot(ctx: Ctx, caller: Caller, camera_id: CameraId) -> Response:
    return await snapshot_response(ctx, caller, camera_id)


async def snapshot_response(ctx: Ctx, caller: Principal, camera_id: int) -> Response:
    """The latest keyframe as JPEG (from the recorder's own files: no second camera session)."""
    remote = await asyncio.to_thread(ctx.nodes.live_peer, camera_id) if ctx.nodes is not None else None
    if remote is not None:  # recorded by another node of the cluster: its snapshot (ronda.cluster.nodes)
        jpeg = (await ctx.nodes.get(remote, f"/cameras/{camera_id}/snapshot.jpg")).content  # type: ignore[union-attr]
    else:
        jpeg = await cameras(ctx).snapshot(camera_id)
    # A view changes nothing: appended on its own (and coalesced per viewer and camera).
    await asyncio.to_thread(ctx.audit.append, caller.actor, "live.snapshot", "ok", camera_id, None, None,
                            caller.source_ip)  # fmt: skip
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
