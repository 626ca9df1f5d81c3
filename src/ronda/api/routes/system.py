"""Health, storage and events."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import text

from ronda.access.rights import MANAGE_CAMERAS
from ronda.api.deps import Caller, Ctx, iso_param, require_global
from ronda.store import repos
from ronda.timeutil import to_iso

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
    require_global(caller, MANAGE_CAMERAS)
    return dict(ctx.recorder.storage) if ctx.recorder else {"state": "not recording here"}


@router.get("/events")
def events(
    ctx: Ctx,
    caller: Caller,
    camera: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    since: str | None = None,
    type: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[dict[str, Any]]:
    since_ms = iso_param(since, "since") if since is not None else None
    with ctx.db.session() as s:
        rows = repos.list_events(s, camera_id=camera, since_ms=since_ms, type=type, limit=limit)
        return [
            event_view(e)
            for e in rows
            if (e.camera_id is None and caller.has(MANAGE_CAMERAS))
            or (e.camera_id is not None and caller.visible([e.camera_id]))
        ]


def event_view(e: Any) -> dict[str, Any]:
    return {
        "id": e.id,
        "type": e.type,
        "camera": e.camera_id,
        "time": to_iso(e.time_ms),
        "severity": e.severity,
        "source": e.source,
        "payload": e.payload or {},
    }
