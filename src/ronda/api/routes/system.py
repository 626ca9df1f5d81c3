"""Health, storage and events."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from sqlalchemy import text

from ronda.access.rights import MANAGE_CAMERAS
from ronda.api.deps import Caller, Ctx, principal, require_site

router = APIRouter(tags=["system"])
# Storage states an unauthenticated caller may see (one word each); anything else reads "degraded".
_STORAGE_STATES = frozenset({"ok", "disk_full", "locked_full", "volume_missing"})


def _manages(request: Request) -> bool:
    """Whether the caller, if it is logged in at all, may see the site's figures: whom /storage
    answers, a site administrator (manage_cameras without an organisation)."""
    try:
        p = principal(request)
    except HTTPException:
        return False
    return p.site_scope and p.has(MANAGE_CAMERAS)


@router.get("/health")
def health(ctx: Ctx, request: Request) -> dict[str, Any]:
    """Status for load balancers and monitors, without login: ``ok`` or ``degraded`` and each check's
    state in a word. Storage figures, paths and stream counts tell an outsider how the site is built
    and how full its disks are: only a site administrator (as for ``/storage``) gets them."""
    checks: dict[str, Any] = {}
    brief: dict[str, str] = {}
    degraded = False
    try:
        with ctx.db.session() as s:
            s.execute(text("SELECT 1"))
        checks["database"] = brief["database"] = "ok"
    except Exception as e:  # health must answer even when the database does not
        checks["database"] = f"error: {type(e).__name__}"
        brief["database"] = "error"
        degraded = True
    if ctx.recorder is not None:
        storage = dict(ctx.recorder.storage)
        checks["storage"] = storage
        state = storage.get("state")
        brief["storage"] = state if state in _STORAGE_STATES else ("ok" if state is None else "degraded")
        if state not in ("ok", None):
            degraded = True
        streams = ctx.recorder.streams.values()
        offline = sum(1 for r in streams if r.status.state == "offline")
        checks["recording"] = {
            "streams": len(streams),
            "recording": sum(1 for r in streams if r.status.state == "recording"),
            "offline": offline,
        }
        brief["recording"] = "degraded" if offline else "ok"
    status = "degraded" if degraded else "ok"
    if _manages(request):
        return {"status": status, "checks": checks}
    return {"status": status, "checks": brief}


@router.get("/storage")
def storage(ctx: Ctx, caller: Caller) -> dict[str, Any]:
    require_site(caller, MANAGE_CAMERAS)
    return dict(ctx.recorder.storage) if ctx.recorder else {"state": "not recording here"}
