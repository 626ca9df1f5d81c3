"""ONVIF: discovery of devices to add (``POST /cameras`` with ``onvif`` adds one), choosing the media
profiles that feed a camera's main and sub streams."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from ronda.access.rights import MANAGE_CAMERAS
from ronda.api.deps import Caller, CameraId, Ctx, camera_right, global_right
from ronda.api.routes.cameras import cameras
from ronda.api.schemas.cameras import CameraView
from ronda.api.schemas.onvif import DiscoveredView, ProfileChoice, ProfileView

router = APIRouter(tags=["onvif"])


@router.get("/onvif/discover", response_model=list[DiscoveredView], **global_right(MANAGE_CAMERAS))
async def discover(
    ctx: Ctx,
    target: Annotated[
        list[str] | None,
        Query(
            max_length=64,
            description="unicast probe targets (repeatable or comma-separated): IPv4 addresses "
            "(optionally :PORT), networks a.b.c.d/nn, ranges a.b.c.d-a.b.c.e; at most 1024 addresses in all",
        ),
    ] = None,
    multicast: bool = True,
    wait: Annotated[float, Query(alias="timeout", ge=0.2, le=10, description="seconds to wait for answers")] = 2.0,
) -> list[dict[str, Any]]:
    """ONVIF devices that answer a WS-Discovery probe: multicast on the local segment (and loopback), and
    unicast to the given targets for routed networks multicast does not reach."""
    return await cameras(ctx).discover([t[:200] for t in target or []], multicast, wait)


@router.get("/cameras/{camera_id}/onvif/profiles", response_model=list[ProfileView], **camera_right(MANAGE_CAMERAS))
async def profiles(ctx: Ctx, camera_id: CameraId) -> list[dict[str, Any]]:
    """The media profiles the camera's device has now, and which feed main and sub (404: the camera was
    not added by ONVIF; 502: the device failed)."""
    return await cameras(ctx).onvif_profiles(camera_id)


@router.put("/cameras/{camera_id}/onvif/profiles", response_model=CameraView, response_model_exclude_unset=True,
            **camera_right(MANAGE_CAMERAS))  # fmt: skip
async def choose_profiles(ctx: Ctx, caller: Caller, camera_id: CameraId, body: ProfileChoice) -> dict[str, Any]:
    """Feed main and sub from these profiles: their stream URIs become the camera's (the recorder restarts
    the captures), the choice is kept across reconnects. 422: a token the device does not have."""
    svc = cameras(ctx)
    view = await svc.choose_profiles(caller, camera_id, body.main, body.sub)
    await svc.reload(camera_id)
    return view
