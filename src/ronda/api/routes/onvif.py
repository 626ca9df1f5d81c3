"""ONVIF: discovery of devices to add (``POST /cameras`` with ``onvif`` adds one)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from ronda.access.rights import MANAGE_CAMERAS
from ronda.api.deps import Ctx, global_right
from ronda.api.routes.cameras import cameras
from ronda.api.schemas.onvif import DiscoveredView

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
