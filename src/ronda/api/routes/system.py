"""Health, storage and events."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import text

from ronda.access.rights import MANAGE_CAMERAS
from ronda.api.deps import Caller, Ctx, require_site

router = APIRouter(tags=["system"])


@router.get("/health")
def health(ctx: Ctx) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    degraded = False
    try:
        with ctx.db.session() as s:
            s.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as e:  # health must answer even when the database does not
        checks["database"] = f"error: {type(e).__name__}"
        degraded = True
    if ctx.recorder is not None:
        storage = dict(ctx.recorder.storage)
        checks["storage"] = storage
        if storage.get("state") not in ("ok", None):
            degraded = True
        streams = ctx.recorder.streams.values()
        checks["recording"] = {
            "streams": len(streams),
            "recording": sum(1 for r in streams if r.status.state == "recording"),
            "offline": sum(1 for r in streams if r.status.state == "offline"),
        }
    return {"status": "degraded" if degraded else "ok", "checks": checks}


@router.get("/storage")
def storage(ctx: Ctx, caller: Caller) -> dict[str, Any]:
    require_site(caller, MANAGE_CAMERAS)
    return dict(ctx.recorder.storage) if ctx.recorder else {"state": "not recording here"}
