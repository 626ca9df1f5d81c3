"""Cameras: add/list/update/remove, connection test, recordings (segments + gaps), snapshot."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response
from sqlalchemy import or_, select

from ronda.access import netguard
from ronda.access.rights import LIVE, MANAGE_CAMERAS, PLAYBACK
from ronda.api.deps import Caller, CameraId, Ctx, iso_param, not_found, require_camera, require_global
from ronda.api.routes.timeline import camera_track
from ronda.devices import registry
from ronda.devices.urls import host_port, url_with_credentials, url_with_host
from ronda.media.framerate import segment_frame_rate
from ronda.media.snapshot import SnapshotError
from ronda.recording import ffmpeg
from ronda.store import access_models as am
from ronda.store import repos
from ronda.store.models import Camera
from ronda.timeutil import now_ms, to_iso

router = APIRouter(tags=["cameras"])
MAX_RANGE_MS = 31 * 86_400_000


def _view(ctx: Ctx, cam: Any, caller: Caller) -> dict[str, Any]:
    live = ctx.recorder.camera_status(cam.id) if ctx.recorder else None
    view = registry.camera_view(cam, live)
    view["rights"] = sorted(caller.rights_for(cam.id))
    if not caller.can(MANAGE_CAMERAS, cam.id):
        # Viewers see a camera's name and state, not how to reach it.
        view.pop("username", None)
        for st in view["streams"].values():
            st.pop("url", None)
    return view


def _audit(ctx: Ctx, caller: Caller, action: str, camera_id: int | None, **details: Any) -> None:
    ctx.audit.append(caller.actor, action, "ok", camera_id, source_ip=caller.source_ip, details=details or None)


@router.get("/cameras")
def list_cameras(ctx: Ctx, caller: Caller) -> list[dict[str, Any]]:
    """The cameras the caller may see, each with the camera groups it belongs to that the caller's
    organisation owns or has been shared (``groups: [{"id", "name", "organisation"}]``; site-level
    users see every group): the client's camera tree."""
    with ctx.db.session() as s:
        cams = repos.list_cameras(s)
        visible = caller.visible([c.id for c in cams])
        groups = _groups_by_camera(s, caller.organisation_id)
        out = []
        for c in cams:
            if c.id in visible:
                view = _view(ctx, c, caller)
                view["groups"] = groups.get(c.id, [])
                out.append(view)
        return out


def _groups_by_camera(s: Any, organisation_id: int | None) -> dict[int, list[dict[str, Any]]]:
    q = (
        select(am.CameraGroupMember.camera_id, am.CameraGroup.id, am.CameraGroup.name, am.Organisation.name)
        .join(am.CameraGroup, am.CameraGroup.id == am.CameraGroupMember.group_id)
        .outerjoin(am.Organisation, am.Organisation.id == am.CameraGroup.organisation_id)
    )
    if organisation_id is not None:
        shared = select(am.CameraShare.camera_group_id).where(am.CameraShare.organisation_id == organisation_id)
        q = q.where(or_(am.CameraGroup.organisation_id == organisation_id, am.CameraGroup.id.in_(shared)))
    out: dict[int, list[dict[str, Any]]] = {}
    for cam_id, gid, gname, org in s.execute(q.order_by(am.CameraGroup.name)):
        out.setdefault(cam_id, []).append({"id": gid, "name": gname, "organisation": org})
    return out


# --- probes: adding and testing a camera connects to an address the caller chose ------------------
# For anyone but a site administrator these must not work as a port scanner of the site's network:
# no connection when a camera is added, one uniform answer and duration for every kind of failure
# when it is tested, no camera on this machine or link-local addresses, and a per-user budget.
_PROBES = netguard.ProbeBudget(limit=10, window_s=60.0)
_UNAVAILABLE = {"ok": False, "reason": "unavailable"}
_NOT_ALLOWED = (
    "this camera address is not allowed: cameras on the server itself, link-local, multicast or reserved "
    "addresses can only be added by a site administrator"
)


def _site_camera_admin(caller: Caller) -> bool:
    """A site administrator: manages cameras and belongs to no organisation."""
    return caller.organisation_id is None and caller.has(MANAGE_CAMERAS)


def _take_probe(caller: Caller) -> None:
    wait = _PROBES.take(caller.user_id)
    if wait is not None:
        raise HTTPException(429, "too many camera probes; try again later", headers={"Retry-After": f"{wait:.0f}"})


def _checked_address(url: str) -> str | None:
    """The address to connect to for ``url`` (LAN addresses are fine), None when the name does not
    resolve; raises DestinationRefused for this machine, link-local, multicast and reserved ones."""
    host, port = host_port(url)
    try:
        return str(netguard.resolve(host, port, allow_private=True)[0])
    except netguard.Unresolvable:
        return None


async def _refuse_internal(*urls: str | None) -> None:
    """422 when a URL a non-site-administrator gives points at this machine or a reserved address."""
    for url in urls:
        try:
            if url:
                await asyncio.to_thread(_checked_address, url)
        except netguard.DestinationRefused:
            raise HTTPException(422, _NOT_ALLOWED) from None


async def _uniform_probe(ctx: Ctx, url: str) -> dict[str, Any]:
    """Probe for a caller who is not a site administrator: codec and size when the stream plays, else
    the same answer after the same time whether the port is closed, speaks no RTSP or refuses the
    credentials (reason and detail would tell them apart)."""
    budget = ctx.cfg.recording.probe_timeout_seconds
    started = time.monotonic()
    try:
        address = await asyncio.to_thread(_checked_address, url)
        if address is not None:
            # ffprobe connects to the checked address, not to a name that may resolve elsewhere now.
            r = await asyncio.wait_for(ffmpeg.probe(ctx.cfg.recording.ffprobe, url_with_host(url, address), budget),
                                       budget)  # fmt: skip
            if r.ok:
                return {"ok": True, "codec": r.codec, "width": r.width, "height": r.height, "audio": r.audio_codec}
    except (netguard.DestinationRefused, TimeoutError):
        pass
    await asyncio.sleep(max(0.0, budget - (time.monotonic() - started)))
    return dict(_UNAVAILABLE)


@router.post("/cameras", status_code=201)
async def add_camera(ctx: Ctx, caller: Caller, body: registry.CameraCreate) -> dict[str, Any]:
    require_global(caller, MANAGE_CAMERAS)
    site_admin = _site_camera_admin(caller)
    if not site_admin:
        _take_probe(caller)
        await _refuse_internal(body.url, body.sub_url)
    # Only a site administrator's request connects at once (an unreachable camera shows "offline");
    # for others the camera is "offline" until the recorder has reached it.
    try:
        cam = await asyncio.to_thread(
            registry.create_camera, ctx.db, ctx.secrets, body, site_admin, caller.organisation_id
        )
    except registry.CameraGroupError as e:
        raise HTTPException(422, str(e)) from None
    if not site_admin:
        cam.status, cam.status_reason = await asyncio.to_thread(_mark_unchecked, ctx, cam.id)
    await asyncio.to_thread(_audit, ctx, caller, "camera.create", cam.id, name=cam.name)
    if ctx.recorder is not None:
        await ctx.recorder.reload_camera(cam.id)
    return _view(ctx, cam, caller)


def _mark_unchecked(ctx: Ctx, camera_id: int) -> tuple[str, str | None]:
    with ctx.db.session() as s:
        row = s.get(Camera, camera_id)
        if row is not None and row.status == "starting":
            row.status, row.status_reason = "offline", None
        return ("offline", None)


@router.get("/cameras/{camera_id}")
def get_camera(ctx: Ctx, caller: Caller, camera_id: CameraId) -> dict[str, Any]:
    require_camera(caller, camera_id, None)
    with ctx.db.session() as s:
        cam = repos.get_camera(s, camera_id)
        if cam is None:
            raise not_found()
        return _view(ctx, cam, caller)


@router.patch("/cameras/{camera_id}")
async def update_camera(ctx: Ctx, caller: Caller, camera_id: CameraId, body: registry.CameraUpdate) -> dict[str, Any]:
    require_camera(caller, camera_id, MANAGE_CAMERAS)
    if not _site_camera_admin(caller):
        # A new address is held to the same limits as adding a camera (no probe of this machine).
        await _refuse_internal(body.url, body.sub_url)
    cam = await asyncio.to_thread(registry.update_camera, ctx.db, ctx.secrets, camera_id, body)
    if cam is None:
        raise not_found()
    await asyncio.to_thread(_audit, ctx, caller, "camera.update", camera_id, fields=sorted(body.model_fields_set))
    if ctx.recorder is not None:
        await ctx.recorder.reload_camera(camera_id)
    return _view(ctx, cam, caller)


@router.delete("/cameras/{camera_id}", status_code=204)
async def delete_camera(ctx: Ctx, caller: Caller, camera_id: CameraId) -> Response:
    require_camera(caller, camera_id, MANAGE_CAMERAS)
    if not await asyncio.to_thread(registry.delete_camera, ctx.db, camera_id):
        raise not_found()
    await asyncio.to_thread(_audit, ctx, caller, "camera.delete", camera_id)
    if ctx.recorder is not None:
        await ctx.recorder.reload_camera(camera_id)
    return Response(status_code=204)


@router.post("/cameras/{camera_id}/test")
async def test_camera(ctx: Ctx, caller: Caller, camera_id: CameraId) -> dict[str, Any]:
    """Probe each stream of the camera (one short RTSP session each)."""
    require_camera(caller, camera_id, MANAGE_CAMERAS)
    site_admin = _site_camera_admin(caller)
    if not site_admin:
        _take_probe(caller)
    with ctx.db.session() as s:
        cam = repos.get_camera(s, camera_id)
        if cam is None:
            raise not_found()
        password = ctx.secrets.decrypt(cam.password_enc)
        targets = [(st.kind, url_with_credentials(st.url, cam.username, password)) for st in cam.streams]
    out: dict[str, Any] = {}
    for kind, url in targets:
        if not site_admin:
            out[kind] = await _uniform_probe(ctx, url)
            continue
        r = await ffmpeg.probe(ctx.cfg.recording.ffprobe, url, ctx.cfg.recording.probe_timeout_seconds)
        out[kind] = (
            {"ok": True, "codec": r.codec, "width": r.width, "height": r.height, "audio": r.audio_codec}
            if r.ok
            else {"ok": False, "reason": r.reason, "detail": r.detail}
        )
    return {"camera": camera_id, "ok": all(v["ok"] for v in out.values()), "streams": out}


def _range(start: str, end: str) -> tuple[int, int]:
    s, e = iso_param(start, "start"), iso_param(end, "end")
    if e <= s:
        raise HTTPException(422, "end must be after start")
    if e - s > MAX_RANGE_MS:
        raise HTTPException(422, "the range may be at most 31 days; ask for several ranges")
    return s, e


@router.get("/cameras/{camera_id}/recordings")
def recordings(
    ctx: Ctx,
    caller: Caller,
    camera_id: CameraId,
    start: Annotated[str, Query(max_length=64)],
    end: Annotated[str, Query(max_length=64)],
    stream: Literal["main", "sub"] = "main",
) -> dict[str, Any]:
    s_ms, e_ms = _range(start, end)
    require_camera(caller, camera_id, PLAYBACK)
    now = now_ms()
    with ctx.db.session() as s:
        if repos.get_camera(s, camera_id, include_deleted=True) is None:
            raise not_found()
        segs = repos.segments_overlapping(s, camera_id, stream, s_ms, e_ms)
        gaps = repos.gaps_overlapping(s, camera_id, stream, s_ms, e_ms)
        # frames per second of the first segment's video, measured from the file (null: unknown);
        # players step one frame with it
        rate = segment_frame_rate(str(ctx.cfg.recordings_dir / segs[0].path)) if segs else None
        return {
            "camera": camera_id,
            "stream": stream,
            "frame_rate": rate,
            "segments": [
                {
                    "id": x.id,
                    "start": to_iso(x.start_ms),
                    "end": to_iso(x.end_ms),
                    "duration_ms": x.end_ms - x.start_ms,
                    "bytes": x.bytes,
                    "sha256": x.sha256,
                    "codec": x.codec,
                    "recovered": x.recovered,
                }
                for x in segs
            ],
            "gaps": [
                {
                    "start": to_iso(g.start_ms),
                    "end": to_iso(g.end_ms if g.end_ms is not None else max(now, g.start_ms)),
                    "open": g.end_ms is None,
                    "reason": g.reason,
                    "detail": g.detail,
                }
                for g in gaps
            ],
        }


@router.get("/cameras/{camera_id}/timeline")
def timeline(
    ctx: Ctx,
    caller: Caller,
    camera_id: CameraId,
    start: Annotated[str, Query(max_length=64)],
    end: Annotated[str, Query(max_length=64)],
    stream: Literal["main", "sub"] = "main",
    resolution_ms: Annotated[int | None, Query(ge=1, le=86_400_000)] = None,
) -> dict[str, Any]:
    """Recorded runs, gaps and evidence locks over a range, merged to ``resolution_ms`` (default: the
    range / 2000, about one screen pixel) so that a 30-day zoom-out stays small."""
    s_ms, e_ms = _range(start, end)
    require_camera(caller, camera_id, PLAYBACK)
    merge = resolution_ms or max(1000, (e_ms - s_ms) // 2000)
    now = now_ms()
    with ctx.db.session() as s:
        if repos.get_camera(s, camera_id, include_deleted=True) is None:
            raise not_found()
        track, _ = camera_track(s, camera_id, stream, s_ms, e_ms, merge, now)  # shared with GET /timeline
        return {"camera": camera_id, "stream": stream, "resolution_ms": merge, **track}


@router.get("/cameras/{camera_id}/snapshot", response_class=Response, responses={200: {"content": {"image/jpeg": {}}}})
async def snapshot(ctx: Ctx, caller: Caller, camera_id: CameraId) -> Response:
    require_camera(caller, camera_id, LIVE)
    return await snapshot_response(ctx, caller, camera_id)


async def snapshot_response(ctx: Ctx, caller: Caller, camera_id: int) -> Response:
    """The latest keyframe as JPEG (from the recorder's own files: no second camera session)."""
    root = ctx.cfg.recordings_dir
    with ctx.db.session() as s:
        cam = repos.get_camera(s, camera_id)
        if cam is None:
            raise not_found()
        kinds = [st.kind for st in cam.streams]
        candidates: list[Path] = []
        for kind in sorted(kinds):  # main first: best picture
            partials = sorted((root / ".partial" / f"{camera_id}-{kind}").glob("*.partial"))
            candidates += list(reversed(partials[-1:]))
            last = repos.segments_overlapping(s, camera_id, kind, now_ms() - 3_600_000, now_ms() + 60_000)
            if last:
                candidates.append(root / last[-1].path)
    if not candidates:
        raise HTTPException(404, "no recording of this camera yet")
    try:
        jpeg = await ctx.snapshots.get(camera_id, ctx.cfg.recording.ffmpeg, candidates)
    except SnapshotError as e:
        raise HTTPException(503, f"no snapshot available: {e}") from None
    await asyncio.to_thread(_audit, ctx, caller, "live.snapshot", camera_id)
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
