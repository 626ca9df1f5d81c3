"""Exports (background jobs with progress, signed packages) and evidence locks."""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select

from ronda.access.rights import EVIDENCE_LOCK, EXPORT, LIVE, MANAGE_CAMERAS, PLAYBACK, VIEW_AUDIT
from ronda.access.service import Principal
from ronda.access.tokens import PLAYLIST_TTL_S, STREAM_TTL_S, InvalidToken
from ronda.api.deps import Caller, CameraId, Ctx, client_ip, iso_param, not_found, require_camera
from ronda.api.routes.cameras import snapshot_response
from ronda.media import hls
from ronda.media.export import ExportError, ExportRequest, plan
from ronda.media.export_jobs import ExportJobs, JobNotFound, OwnerScope, Package
from ronda.store import repos
from ronda.store.access_models import User
from ronda.store.models import EvidenceLock, Segment
from ronda.timeutil import now_ms, to_iso

router = APIRouter(tags=["media"])
_NAME = re.compile(r"[A-Za-z0-9._ -]{1,80}")
JobId = Annotated[str, PathParam(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class ExportBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cameras: list[int] = Field(min_length=1, max_length=16)
    start: str = Field(max_length=64)
    end: str = Field(max_length=64)
    reason: str = Field("", max_length=500)
    case: str = Field("", max_length=200)
    stream: str = Field("main", pattern="^(main|sub)$")
    name: str | None = Field(None, description="download file name (letters, digits, . _ - and spaces)")

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str | None) -> str | None:
        if v is not None and (not _NAME.fullmatch(v) or ".." in v):
            raise ValueError("name may only hold letters, digits, '.', '_', '-' and spaces (no paths)")
        return v

    @field_validator("reason", "case")
    @classmethod
    def _one_line(cls, v: str) -> str:
        if any(ord(c) < 0x20 for c in v):
            raise ValueError("must be one line without control characters")
        return v


def _exports(ctx: Ctx) -> ExportJobs:
    assert ctx.exports is not None
    return ctx.exports


def _admin(ctx: Ctx, caller: Principal) -> OwnerScope:
    """Whose exports the caller sees besides its own: a ``view_audit`` holder oversees its scope's
    (every user's for the site, its organisation's users' otherwise; docs/access.md). Downloads still
    need the export right on every camera of the package."""
    if not caller.has(VIEW_AUDIT):
        return False
    if caller.site_scope:
        return True
    with ctx.db.session() as s:
        return frozenset(s.scalars(select(User.id).where(User.organisation_id == caller.organisation_id)))


@router.post("/exports", status_code=202)
async def create_export(ctx: Ctx, caller: Caller, body: ExportBody) -> dict[str, Any]:
    for cid in body.cameras:
        if not 1 <= cid < 2**31:
            raise not_found()
        require_camera(caller, cid, EXPORT)
    start, end = iso_param(body.start, "start"), iso_param(body.end, "end")
    req = ExportRequest(body.cameras, start, end, caller.actor, body.reason, body.case, body.stream)
    try:
        await asyncio.to_thread(plan, ctx.db, req)  # refuse at once what cannot be exported
    except ExportError as e:
        raise HTTPException(422, str(e)) from None
    return await _exports(ctx).start(caller.user_id, caller.actor, caller.source_ip, req, body.name)


@router.get("/exports")
def list_exports(ctx: Ctx, caller: Caller) -> list[dict[str, Any]]:
    """The caller's exports (a view_audit holder's: its scope's), newest first, also after a restart."""
    admin = _admin(ctx, caller)
    return [j for j in _exports(ctx).list(caller.user_id, admin) if _readable(caller, j, admin)]


def _readable(caller: Principal, job: dict[str, Any], admin: OwnerScope) -> bool:
    """One's own export stays one's own only while one may still export every camera in it (an API key
    without the export right, or a user who lost it, no longer sees it); an overseer sees its scope's."""
    if job.get("owner_id") != caller.user_id and admin:
        return True
    return all(caller.can(EXPORT, c) for c in job.get("cameras") or [])


def _job(ctx: Ctx, caller: Principal, job_id: str) -> dict[str, Any]:
    admin = _admin(ctx, caller)
    try:
        job = _exports(ctx).get(job_id, caller.user_id, admin)
    except JobNotFound:
        raise not_found("export") from None
    if not _readable(caller, job, admin):
        raise not_found("export")
    return job


@router.get("/exports/{job_id}")
def get_export(ctx: Ctx, caller: Caller, job_id: JobId) -> dict[str, Any]:
    return _job(ctx, caller, job_id)


@router.delete("/exports/{job_id}", status_code=204)
async def cancel_export(ctx: Ctx, caller: Caller, job_id: JobId) -> Response:
    """Cancel a running export, or delete a finished one's package."""
    await asyncio.to_thread(_job, ctx, caller, job_id)
    try:
        await _exports(ctx).cancel(job_id, caller.user_id, _admin(ctx, caller))
    except JobNotFound:
        raise not_found("export") from None
    return Response(status_code=204)


def _finished(ctx: Ctx, caller: Principal, job_id: str) -> Package:
    try:
        pkg = _exports(ctx).package(job_id, caller.user_id, _admin(ctx, caller))
    except JobNotFound:
        raise not_found("export") from None
    except ValueError as e:
        raise HTTPException(409, str(e)) from None
    # A package holds video of every camera it names: whoever takes it (its owner included) needs the
    # export right on each of them now, not only when the export was made.
    for cid in pkg.cameras:
        if not caller.visible([cid]):
            raise not_found("export")  # nothing said about a camera the caller may not see
        if not caller.can(EXPORT, cid):
            raise HTTPException(403, "the 'export' right on every camera of this export is needed")
    return pkg


def _package(ctx: Ctx, caller: Principal, job_id: str) -> FileResponse:
    pkg = _finished(ctx, caller, job_id)
    ctx.audit.append(caller.actor, "export.download", "ok", pkg.cameras[0], pkg.start_ms, pkg.end_ms,
                     caller.source_ip, {"job": job_id})  # fmt: skip
    return FileResponse(pkg.path, media_type="application/zip", filename=pkg.name)


@router.get("/exports/{job_id}/download", response_class=FileResponse)
def download_export(ctx: Ctx, caller: Caller, job_id: JobId) -> FileResponse:
    return _package(ctx, caller, job_id)


class LockBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    camera: int = Field(ge=1, le=2**31 - 1)
    start: str = Field(max_length=64)
    end: str = Field(max_length=64)
    reason: str = Field(min_length=1, max_length=500)
    until: str | None = Field(None, max_length=64, description="keep until (default: until unlocked)")


def _lock_view(lock: EvidenceLock) -> dict[str, Any]:
    return {"id": lock.id, "camera": lock.camera_id, "start": to_iso(lock.start_ms), "end": to_iso(lock.end_ms),
            "reason": lock.reason, "until": to_iso(lock.until_ms), "created_by": lock.created_by,
            "created": to_iso(lock.created_ms)}  # fmt: skip


def _existing_camera(ctx: Ctx, camera_id: int) -> None:
    """A site-wide grant covers any id: an id that names no camera is still 'not found'."""
    with ctx.db.session() as s:
        if repos.get_camera(s, camera_id) is None:
            raise not_found()


@router.post("/evidence-locks", status_code=201)
def create_lock(ctx: Ctx, caller: Caller, body: LockBody) -> dict[str, Any]:
    require_camera(caller, body.camera, EVIDENCE_LOCK)
    _existing_camera(ctx, body.camera)
    start, end = iso_param(body.start, "start"), iso_param(body.end, "end")
    until = iso_param(body.until, "until") if body.until else None
    st, now = ctx.cfg.storage, now_ms()
    if end <= start:
        raise HTTPException(422, "end must be after start")
    # Bounded so one lock cannot hold a camera's whole store past the legal retention (docs/evidence.md).
    if end - start > st.lock_max_range_days * 86_400_000:
        raise HTTPException(422, f"a lock may cover at most {st.lock_max_range_days:g} days of footage")
    if end > now + 86_400_000:
        raise HTTPException(422, "end may be at most one day ahead: footage that does not exist yet cannot be locked")
    if until is None:
        until = now + int(st.lock_default_keep_days * 86_400_000)
    if until <= now:
        raise HTTPException(422, "until must be in the future")
    if until > now + st.lock_max_keep_days * 86_400_000:
        raise HTTPException(422, f"until may be at most {st.lock_max_keep_days:g} days ahead")
    with ctx.db.session() as s:
        lock = EvidenceLock(camera_id=body.camera, start_ms=start, end_ms=end, reason=body.reason, until_ms=until,
                            created_by=caller.actor, created_ms=now_ms())  # fmt: skip
        s.add(lock)
        s.flush()
        view = _lock_view(lock)
        ctx.audit.record(s, caller.actor, "evidence.lock", "ok", body.camera, start, end, caller.source_ip,
                         {"lock": view["id"], "reason": body.reason})  # fmt: skip
    return view


@router.get("/evidence-locks")
def list_locks(ctx: Ctx, caller: Caller) -> list[dict[str, Any]]:
    with ctx.db.session() as s:
        rows = s.scalars(select(EvidenceLock).order_by(EvidenceLock.id)).all()
        visible = caller.visible(sorted({r.camera_id for r in rows}))
        return [_lock_view(r) for r in rows if r.camera_id in visible]


@router.delete("/evidence-locks/{lock_id}", status_code=204)
def delete_lock(ctx: Ctx, caller: Caller, lock_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)]) -> Response:
    with ctx.db.session() as s:
        lock = s.get(EvidenceLock, lock_id)
        if lock is None:
            raise not_found("evidence lock")
        require_camera(caller, lock.camera_id, None)
        # Only whoever made the lock, or a manager of the camera, may lift it.
        mine = lock.created_by in (caller.username, f"{caller.username}(api-key)")
        if not (mine and caller.can(EVIDENCE_LOCK, lock.camera_id)) and not caller.can(MANAGE_CAMERAS, lock.camera_id):
            raise HTTPException(403, "only the lock's creator or a manager of the camera may remove it")
        cam, start, end = lock.camera_id, lock.start_ms, lock.end_ms
        s.delete(lock)
        ctx.audit.record(s, caller.actor, "evidence.unlock", "ok", cam, start, end, caller.source_ip, {"lock": lock_id})
    return Response(status_code=204)


# --- stream tokens: URLs for <img>/<video> elements, which cannot send an Authorization header -------
class StreamTokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    right: str = Field("live", pattern="^(live|playback)$")


@router.post("/cameras/{camera_id}/stream-token")
def stream_token(ctx: Ctx, caller: Caller, camera_id: CameraId, body: StreamTokenBody) -> dict[str, Any]:
    """A 60-second token bound to this user, camera and right, and to the caller's session or API key
    (it stops working at logout, a password change or the key's revocation), for media URLs."""
    require_camera(caller, camera_id, body.right)
    _existing_camera(ctx, camera_id)
    token = ctx.auth.issuer.issue_stream_token(caller.binding(), camera_id, body.right)
    base = f"/api/v1/media/{camera_id}"
    urls = {"snapshot": f"{base}/snapshot.jpg?token={token}"} if body.right == LIVE else {
        "segment": f"{base}/segments/{{segment_id}}.mp4?token={token}",
        "vod": f"{base}/vod.m3u8?token={token}&start={{start}}"}  # fmt: skip
    # playlist_expires_in: how long the segment URLs of a VOD playlist opened with it keep working
    return {"token": token, "expires_in": STREAM_TTL_S, "right": body.right, "urls": urls,
            "playlist_expires_in": PLAYLIST_TTL_S}  # fmt: skip


def stream_principal(ctx: Ctx, request: Request, token: str, camera_id: int, right: str) -> Principal:
    try:
        claims = ctx.auth.issuer.verify_stream_token(token, camera_id, right)
    except InvalidToken:
        raise HTTPException(401, "invalid or expired stream token", headers={"WWW-Authenticate": "Bearer"}) from None
    # The token is only as good as the session or API key it came from, and it only carries the right
    # it was issued for: the session must be live (the key not revoked) and the right still held.
    p = ctx.auth.principal_for_binding(claims.binding, via="stream")
    if p is None:
        raise HTTPException(401, "the session of this stream token has ended", headers={"WWW-Authenticate": "Bearer"})
    if not p.can(right, camera_id):
        raise HTTPException(403, f"the '{right}' right on this camera is needed")
    p.source_ip = client_ip(request)
    return p


def refuse_playlist_token(ctx: Ctx, token: str, camera_id: int, right: str) -> None:
    """401 for a token taken from a playlist: it follows that playlist, but cannot open a new one
    (which would hand out a fresh token, so a player could renew its access without the session)."""
    with contextlib.suppress(InvalidToken):
        if ctx.auth.issuer.verify_stream_token(token, camera_id, right).playlist:
            raise HTTPException(401, "a playlist's token cannot open a new playlist",
                                headers={"WWW-Authenticate": "Bearer"})  # fmt: skip


Token = Annotated[str, Query(min_length=10, max_length=2000)]


@router.get("/media/{camera_id}/snapshot.jpg", response_class=Response)
async def token_snapshot(ctx: Ctx, request: Request, camera_id: CameraId, token: Token) -> Response:
    p = await asyncio.to_thread(stream_principal, ctx, request, token, camera_id, LIVE)
    return await snapshot_response(ctx, p, camera_id)


@router.get("/media/{camera_id}/segments/{segment_id}.mp4", response_class=FileResponse)
def token_segment(
    ctx: Ctx, request: Request, camera_id: CameraId, segment_id: Annotated[int, PathParam(ge=1, le=2**62)], token: Token
) -> FileResponse:
    """One recorded segment (byte ranges supported: seeking in a <video> element)."""
    p = stream_principal(ctx, request, token, camera_id, PLAYBACK)
    with ctx.db.session() as s:
        seg = s.get(Segment, segment_id)
        if seg is None or seg.camera_id != camera_id:
            raise not_found("segment")
        path, start, end = ctx.cfg.recordings_dir / seg.path, seg.start_ms, seg.end_ms
    if not path.is_file():
        raise not_found("segment")
    if request.headers.get("range") in (None, "bytes=0-"):  # one entry per playback start, not per range
        ctx.audit.append(p.actor, "playback.segment", "ok", camera_id, start, end, p.source_ip, {"segment": segment_id})
    return FileResponse(path, media_type="video/mp4")


MAX_VOD_MS = 6 * 3600 * 1000


@router.get("/media/{camera_id}/vod.m3u8", response_class=Response)
def vod(
    ctx: Ctx,
    request: Request,
    camera_id: CameraId,
    token: Token,
    start: Annotated[str, Query(max_length=64)],
    end: Annotated[str | None, Query(max_length=64)] = None,
    stream: Annotated[str, Query(pattern="^(main|sub)$")] = "main",
) -> Response:
    """HLS VOD from any instant: the segment holding ``start`` first (the player starts at the exact
    instant through ``EXT-X-START``), up to ``end`` (default: 1 h later, at most 6 h); gaps skipped."""
    refuse_playlist_token(ctx, token, camera_id, PLAYBACK)
    p = stream_principal(ctx, request, token, camera_id, PLAYBACK)
    s_ms = iso_param(start, "start")
    e_ms = iso_param(end, "end") if end else s_ms + 3_600_000
    if e_ms <= s_ms or e_ms - s_ms > MAX_VOD_MS:
        raise HTTPException(422, "end must be after start and at most 6 hours later")
    with ctx.db.session() as s:
        segs = repos.segments_overlapping(s, camera_id, stream, s_ms, e_ms)
    items = []
    root = str(ctx.cfg.recordings_dir)
    for seg in segs:
        try:
            init_len = hls.init_length(f"{root}/{seg.path}")
            items.append(hls.PlaylistItem(seg.id, seg.start_ms, seg.end_ms, seg.bytes, init_len))
        except (OSError, ValueError):
            continue  # deleted by retention meanwhile, or unreadable: skip, as a gap
    if not items:
        raise HTTPException(404, "no recordings in that range")
    # Segment URLs are followed by the player without the client's help, so their token outlives a
    # handed-out one, but only by minutes: the client loads a new playlist before it runs out (through
    # its live session); every request re-checks the session and the rights.
    ttl = min(int((items[-1].end_ms - items[0].start_ms) / 1000) + 120, PLAYLIST_TTL_S)
    seg_token = ctx.auth.issuer.issue_stream_token(p.binding(), camera_id, PLAYBACK, ttl_s=ttl, playlist=True)
    offset = max(0.0, (s_ms - items[0].start_ms) / 1000)
    body = hls.vod_playlist(items, f"segments/{{id}}.mp4?token={seg_token}", offset)
    ctx.audit.append(p.actor, "playback.start", "ok", camera_id, s_ms, e_ms, p.source_ip, {"stream": stream})
    return Response(body, media_type="application/vnd.apple.mpegurl", headers={"Cache-Control": "no-store"})


@router.post("/exports/{job_id}/link")
def export_link(ctx: Ctx, caller: Caller, job_id: JobId) -> dict[str, Any]:
    """A 60-second download URL for a finished export, for the browser's own download manager
    (which streams the package to disk instead of holding it in memory, and cannot send headers)."""
    pkg = _finished(ctx, caller, job_id)
    token = ctx.auth.issuer.issue_stream_token(caller.binding(), pkg.cameras[0], EXPORT)
    return {"url": f"/api/v1/exports/{job_id}/file?token={token}", "expires_in": STREAM_TTL_S, "name": pkg.name}


@router.get("/exports/{job_id}/file", response_class=FileResponse)
def export_file(ctx: Ctx, request: Request, job_id: JobId, token: Token) -> FileResponse:
    camera = _exports(ctx).owner_camera(job_id)
    if camera is None:
        raise not_found("export")
    p = stream_principal(ctx, request, token, camera, EXPORT)
    return _package(ctx, p, job_id)
