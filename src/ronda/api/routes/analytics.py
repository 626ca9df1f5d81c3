"""Analytics API (docs/analytics.md, "Settings, records and search"): a camera's analytics settings,
motion search, the motion strip of the playback timeline and object search. The SQL is in
``ronda.analytics.repository``; searches need the same camera right as playback."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi import Path as PathParam

from ronda.access.rights import MANAGE_CAMERAS, PLAYBACK
from ronda.access.service import Principal
from ronda.analytics import repository as repo
from ronda.analytics.model import Box, region_mask
from ronda.analytics.pipeline import IMAGE_NAME
from ronda.analytics.repository import GRID_CELLS
from ronda.analytics.service import image_path
from ronda.api.deps import Caller, CameraId, Ctx, camera_right, iso_range, object_right, require_camera
from ronda.api.files import FileAnswer
from ronda.api.schemas import JPEG
from ronda.api.schemas.analytics import AnalyticsSettings, AnalyticsStatusView, MotionSearch, MotionStrip, ObjectView
from ronda.errors import Invalid, NotFound
from ronda.events.alarm_image import snapshot_file
from ronda.events.plate_privacy import PlateFilter
from ronda.events.store import load_event
from ronda.media.cameras import camera_ids
from ronda.store import repos
from ronda.store.db import Database
from ronda.timeutil import now_ms, to_iso

router = APIRouter(tags=["analytics"])
MAX_RANGE_MS = 31 * 86_400_000
MAX_CAMERAS = 64
Time = Annotated[str, Query(max_length=64, description="ISO 8601, e.g. 2026-05-26T10:00:00Z")]
ObjectId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]


def _existing(db: Database, camera_id: int) -> None:
    with db.session() as s:
        if repos.get_camera(s, camera_id) is None:
            raise NotFound("camera")


def _iso(ms: int) -> str:
    out = to_iso(ms)
    assert out is not None  # an int always has one
    return out


# --- settings ----------------------------------------------------------------------------------------------
@router.get("/cameras/{camera_id}/analytics", response_model=AnalyticsSettings, **camera_right(None))
def get_analytics(ctx: Ctx, camera_id: CameraId) -> AnalyticsSettings:
    """The camera's analytics settings; the defaults (motion over the whole frame) when none are stored."""
    _existing(ctx.db, camera_id)
    with ctx.db.session() as s:
        return repo.get_settings(s, camera_id) or AnalyticsSettings()


@router.put("/cameras/{camera_id}/analytics", response_model=AnalyticsSettings, **camera_right(MANAGE_CAMERAS))
def put_analytics(ctx: Ctx, caller: Caller, camera_id: CameraId, body: AnalyticsSettings) -> AnalyticsSettings:
    """Replace the camera's analytics settings (validated: polygons of at least 3 points inside the frame
    that do not cross themselves, lines of 2 points, known detectors and zone kinds; audited)."""
    _existing(ctx.db, camera_id)
    with ctx.db.session() as s:
        saved = repo.put_settings(s, camera_id, body, caller.actor, now_ms(), audit=ctx.audit,
                                  source_ip=caller.source_ip)  # fmt: skip
    if ctx.analytics is not None:
        ctx.analytics.rescan()  # the camera's analysers restart with the new settings now, not at the next scan
    return saved


@router.get("/cameras/{camera_id}/analytics/status", response_model=AnalyticsStatusView,
            **camera_right(MANAGE_CAMERAS))  # fmt: skip
def analytics_status(ctx: Ctx, camera_id: CameraId) -> AnalyticsStatusView:
    """What analytics is doing for the camera in this process: state, frames per second, drops, lagging,
    skipped input by reason, the last error and CPU. ``off`` when analytics does not run here."""
    _existing(ctx.db, camera_id)
    st = ctx.analytics.status().get(camera_id) if ctx.analytics is not None else None
    if st is None:
        return AnalyticsStatusView(camera=camera_id, state="off")
    return AnalyticsStatusView(camera=camera_id, state=st.state, stream=st.stream, fps=round(st.fps, 2),
                               dropped=st.dropped, lagging=st.lagging, reasons=st.reasons,
                               last_error=st.last_error, cpu_percent=round(st.cpu_percent, 1),
                               restarts=st.restarts, width=st.width, height=st.height, codec=st.codec)  # fmt: skip


# --- motion ---------------------------------------------------------------------------------------------------
def parse_region(text: str) -> Box:
    """``x0,y0,x1,y1`` normalised 0-1 (origin top left) → a box, or ``Invalid`` saying what is wrong."""
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise Invalid("region must be four numbers x0,y0,x1,y1 (normalised 0-1, origin top left)")
    x0, y0, x1, y1 = values
    if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
        raise Invalid("region: 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1 (normalised, origin top left)")
    return x0, y0, x1, y1


@router.get("/search/motion", response_model=MotionSearch, **object_right("camera", PLAYBACK))
def search_motion(
    ctx: Ctx,
    caller: Caller,
    camera: Annotated[int, Query(ge=1, le=2**31 - 1, description="camera id")],
    start: Time,
    end: Time,
    region: Annotated[str, Query(max_length=200, description="x0,y0,x1,y1 normalised 0-1, origin top left")],
    min_cells: Annotated[int, Query(ge=1, le=GRID_CELLS, description="moving cells of the region a second needs")] = 1,
) -> dict[str, Any]:
    """Where anything moved inside ``region`` between ``start`` and ``end`` (at most 31 days): runs of
    seconds with motion in the region (quiet gaps of up to 2 s joined), from the stored motion records,
    without decoding video. Needs ``playback`` on the camera."""
    require_camera(caller, camera, PLAYBACK)
    _existing(ctx.db, camera)
    start_ms, end_ms = iso_range(start, end, MAX_RANGE_MS)
    mask = region_mask(parse_region(region))
    with ctx.db.session() as s:
        hits = repo.search_motion(s, camera, start_ms, end_ms, mask, min_cells)
    return {"hits": [{"start": _iso(h.start_ms), "end": _iso(h.end_ms), "score": round(h.score, 4)} for h in hits]}


@router.get("/cameras/{camera_id}/motion", response_model=MotionStrip, **camera_right(PLAYBACK))
def motion_strip(
    ctx: Ctx,
    camera_id: CameraId,
    start: Time,
    end: Time,
    buckets: Annotated[int, Query(ge=1, le=10_000, description="how many parts the range is cut into")] = 1000,
) -> dict[str, Any]:
    """The motion strip of the playback timeline: per bucket of ``[start, end)`` (at most 31 days), the
    largest motion level seen."""
    _existing(ctx.db, camera_id)
    start_ms, end_ms = iso_range(start, end, MAX_RANGE_MS)
    with ctx.db.session() as s:
        levels = repo.motion_strip(s, camera_id, start_ms, end_ms, buckets)
    return {"start": _iso(start_ms), "end": _iso(end_ms), "bucket_ms": (end_ms - start_ms) / buckets, "levels": levels}


# --- objects ---------------------------------------------------------------------------------------------------
def _playback_cameras(ctx: Ctx, caller: Principal, camera: str | None) -> list[int]:
    """The cameras asked for (each visible, else 404, and with playback, else 403), or every camera the
    caller may play back."""
    if camera is None:
        return [c for c in sorted(caller.visible(camera_ids(ctx.db))) if caller.can(PLAYBACK, c)]
    try:
        ids = list(dict.fromkeys(int(p) for p in camera.split(",") if p.strip()))
    except ValueError:
        raise Invalid("camera: one camera id or a comma-separated list") from None
    if not ids or len(ids) > MAX_CAMERAS or any(not 1 <= c < 2**31 for c in ids):
        raise Invalid(f"camera: 1 to {MAX_CAMERAS} camera ids from 1 to {2**31 - 1}")
    known = set(camera_ids(ctx.db))
    for c in ids:
        if c not in known:
            raise NotFound("camera")
        require_camera(caller, c, PLAYBACK)
    return ids


def _object_view(o: repo.ObjectRecord) -> dict[str, Any]:
    return {"id": o.id, "camera": o.camera_id, "track": o.track, "class": o.cls, "score": round(o.score, 4),
            "first": _iso(o.first_ms), "last": _iso(o.last_ms), "box": list(o.box), "zones": list(o.zones),
            "snapshot": f"/api/v1/analytics/objects/{o.id}/snapshot.jpg" if o.snapshot else None,
            "event": o.event_id}  # fmt: skip


@router.get("/search/objects", response_model=list[ObjectView], **object_right("cameras", PLAYBACK))
def search_objects(
    ctx: Ctx,
    caller: Caller,
    start: Time,
    end: Time,
    camera: Annotated[
        str | None,
        Query(
            max_length=800, description="camera id(s), comma-separated (default: every camera the caller may play back)"
        ),
    ] = None,  # fmt: skip
    cls: Annotated[str | None, Query(alias="class", max_length=500, description="class(es), comma-separated")] = None,
    zone: Annotated[str | None, Query(min_length=1, max_length=64, description="seen in this zone")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Tracked objects seen between ``start`` and ``end`` (at most 31 days), newest first: class, best
    score and its box, first and last time, zones, snapshot. Needs ``playback`` on each camera."""
    start_ms, end_ms = iso_range(start, end, MAX_RANGE_MS)
    cameras = _playback_cameras(ctx, caller, camera)
    classes = [c.strip() for c in cls.split(",") if c.strip()] if cls else None
    with ctx.db.session() as s:
        found = repo.search_objects(s, cameras, start_ms, end_ms, classes, zone, limit)
    return [_object_view(o) for o in found]


@router.get("/analytics/objects/{object_id}/snapshot.jpg", response_class=Response, responses=JPEG,
            **object_right("analytics object", PLAYBACK))  # fmt: skip
def object_snapshot(ctx: Ctx, caller: Caller, object_id: ObjectId) -> Response:
    """The object's snapshot with its box drawn (JPEG); 404 when it has none."""
    with ctx.db.session() as s:
        obj = repo.get_object(s, object_id)
    if obj is None or not caller.visible([obj.camera_id]):
        raise NotFound("object")
    require_camera(caller, obj.camera_id, PLAYBACK)
    path = snapshot_file(ctx.cfg.data_dir, obj.snapshot) if obj.snapshot else None
    if path is None:
        raise NotFound("snapshot")
    return FileAnswer(
        path, what="snapshot", media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"}
    )


EventId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]
ImageName = Annotated[str | None, Query(pattern=IMAGE_NAME.pattern, description="an extra image the payload's "
                                        "'images' names (e.g. before, after); default: the snapshot")]  # fmt: skip


@router.get("/events/{event_id}/snapshot.jpg", response_class=Response, responses=JPEG,
            **object_right("event", PLAYBACK))  # fmt: skip
def event_snapshot(ctx: Ctx, caller: Caller, event_id: EventId, image: ImageName = None) -> Response:
    """An analytics event's snapshot, or with ``?image=NAME`` one of its extra images (graffiti and tamper:
    ``before``, ``after``). Needs ``playback`` on the event's camera, like an object's snapshot; 404 when it
    has none."""
    found = load_event(ctx.db, event_id)
    if found is None:
        raise NotFound("event")
    view, cams = found
    if not cams or not caller.visible(cams[:1]):
        raise NotFound("event")
    require_camera(caller, cams[0], PLAYBACK)
    if PlateFilter(caller).hides(str(view.get("type", "")), cams[0]):
        raise NotFound("snapshot")  # a plate crop: only for who may read this camera's plates
    stored = view.get("snapshot")
    if image is not None:
        named = view.get("payload", {}).get("images")
        stored = image_path(stored, image) if stored and isinstance(named, list) and image in named else None
    path = snapshot_file(ctx.cfg.data_dir, stored) if stored else None
    if path is None:
        raise NotFound("snapshot" if image is None else f"image {image!r}")
    return FileAnswer(
        path, what="snapshot", media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"}
    )
