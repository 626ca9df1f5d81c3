"""Exports (background jobs with progress, signed packages), evidence locks, stream tokens and the
token-authenticated media URLs of recorded playback.

Media URLs carry a stream token instead of credentials; they all pass through the one dependency
``deps.stream_right`` (HLS, segments, snapshots, export downloads; the live WebSocket through the same
``deps.stream_principal``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ronda.access.rights import EVIDENCE_LOCK, EXPORT, LIVE, PLAYBACK
from ronda.access.service import Principal
from ronda.access.tokens import STREAM_TTL_S
from ronda.api.context import AppContext
from ronda.api.deps import (
    Caller,
    CameraId,
    Ctx,
    Token,
    authenticated,
    camera_right,
    object_right,
    stream_caller,
    stream_right,
)
from ronda.api.files import FileAnswer
from ronda.api.routes.cameras import snapshot_response
from ronda.api.schemas import JPEG, M3U8, MP4, ZIP
from ronda.api.schemas.media import ExportJob, ExportLink, LockView, StreamToken
from ronda.media import export_access, locks, playback, segment_source
from ronda.media.export_jobs import ExportJobs

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


def _exports(ctx: AppContext) -> ExportJobs:
    assert ctx.exports is not None
    return ctx.exports


@router.post("/exports", status_code=202, response_model=ExportJob, **camera_right(EXPORT, body="cameras"))
async def create_export(ctx: Ctx, caller: Caller, body: ExportBody) -> dict[str, Any]:
    return await export_access.start(_exports(ctx), ctx.db, caller, body.cameras, body.start, body.end, body.reason,
                                     body.case, body.stream, body.name)  # fmt: skip


@router.get("/exports", response_model=list[ExportJob], **authenticated())
def list_exports(ctx: Ctx, caller: Caller) -> list[dict[str, Any]]:
    """The caller's exports (a view_audit holder's: its scope's), newest first, also after a restart."""
    return export_access.list_for(_exports(ctx), ctx.db, caller)


@router.get("/exports/{job_id}", response_model=ExportJob, **object_right("export", EXPORT))
def get_export(ctx: Ctx, caller: Caller, job_id: JobId) -> dict[str, Any]:
    return export_access.get(_exports(ctx), ctx.db, caller, job_id)


@router.delete("/exports/{job_id}", status_code=204, response_class=Response, **object_right("export", EXPORT))
async def cancel_export(ctx: Ctx, caller: Caller, job_id: JobId) -> Response:
    """Cancel a running export, or delete a finished one's package."""
    await export_access.cancel(_exports(ctx), ctx.db, caller, job_id)
    return Response(status_code=204)


def _package(ctx: AppContext, caller: Principal, job_id: str) -> FileResponse:
    pkg = export_access.finished(_exports(ctx), ctx.db, caller, job_id)
    ctx.audit.append(caller.actor, "export.download", "ok", pkg.cameras[0], pkg.start_ms, pkg.end_ms,
                     caller.source_ip, {"job": job_id})  # fmt: skip
    return FileAnswer(pkg.path, what="export", media_type="application/zip", filename=pkg.name)


@router.get("/exports/{job_id}/download", response_class=FileResponse, responses=ZIP,
            **object_right("export", EXPORT))  # fmt: skip
def download_export(ctx: Ctx, caller: Caller, job_id: JobId) -> FileResponse:
    return _package(ctx, caller, job_id)


class LockBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    camera: int = Field(ge=1, le=2**31 - 1)
    start: str = Field(max_length=64)
    end: str = Field(max_length=64)
    reason: str = Field(min_length=1, max_length=500)
    until: str | None = Field(None, max_length=64, description="keep until (default: until unlocked)")


@router.post("/evidence-locks", status_code=201, response_model=LockView,
             **camera_right(EVIDENCE_LOCK, body="camera"))  # fmt: skip
def create_lock(ctx: Ctx, caller: Caller, body: LockBody) -> dict[str, Any]:
    return locks.create(ctx.db, ctx.audit, ctx.cfg.storage, caller, body.camera, body.start, body.end, body.reason,
                        body.until)  # fmt: skip


@router.get("/evidence-locks", response_model=list[LockView], **authenticated())
def list_locks(ctx: Ctx, caller: Caller) -> list[dict[str, Any]]:
    return locks.list_for(ctx.db, caller)


@router.delete("/evidence-locks/{lock_id}", status_code=204, response_class=Response,
               **object_right("evidence lock", EVIDENCE_LOCK))  # fmt: skip
def delete_lock(ctx: Ctx, caller: Caller, lock_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)]) -> Response:
    """Only whoever made the lock, or a manager of the camera, may lift it."""
    locks.delete(ctx.db, ctx.audit, caller, lock_id)
    return Response(status_code=204)


# --- stream tokens: URLs for <img>/<video> elements, which cannot send an Authorization header -------
class StreamTokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    right: str = Field("live", pattern="^(live|playback)$")


@router.post("/cameras/{camera_id}/stream-token", response_model=StreamToken, **camera_right(None))
def stream_token(ctx: Ctx, caller: Caller, camera_id: CameraId, body: StreamTokenBody) -> dict[str, Any]:
    """A 60-second token bound to this user, camera and right, and to the caller's session or API key
    (it stops working at logout, a password change or the key's revocation), for media URLs. Needs
    the right asked for (``live`` or ``playback``) on the camera."""
    return playback.stream_urls(ctx.db, ctx.auth.issuer, caller, camera_id, body.right)


LiveToken = Annotated[Principal, stream_caller(LIVE)]
PlaybackToken = Annotated[Principal, stream_caller(PLAYBACK)]
NewPlaylistToken = Annotated[Principal, stream_caller(PLAYBACK, new_playlist=True)]


@router.get("/media/{camera_id}/snapshot.jpg", response_class=Response, responses=JPEG, **stream_right(LIVE))
async def token_snapshot(ctx: Ctx, p: LiveToken, camera_id: CameraId, token: Token) -> Response:
    return await snapshot_response(ctx, p, camera_id)


@router.get("/media/{camera_id}/segments/{segment_id}.mp4", response_class=FileResponse, responses=MP4,
            **stream_right(PLAYBACK))  # fmt: skip
def token_segment(
    ctx: Ctx,
    p: PlaybackToken,
    request: Request,
    camera_id: CameraId,
    segment_id: Annotated[int, PathParam(ge=1, le=2**62)],
    token: Token,
) -> FileResponse:
    """One recorded segment (byte ranges supported: seeking in a <video> element)."""
    # On another node's disk (a cluster): fetched from it (ronda.cluster.nodes); else this node's file or
    # the archive's object (media/segment_source.py).
    remote = ctx.nodes.remote_segment(camera_id, segment_id) if ctx.nodes is not None else None
    seg = remote or playback.segment_file(ctx.db, segment_source.of(ctx.cfg, ctx.db), camera_id, segment_id)
    if request.headers.get("range") in (None, "bytes=0-"):  # one entry per playback start, not per range
        ctx.audit.append(p.actor, "playback.segment", "ok", camera_id, seg.start_ms, seg.end_ms, p.source_ip,
                         {"segment": segment_id})  # fmt: skip
    return FileAnswer(seg.path, what="segment", media_type="video/mp4")


@router.get("/media/{camera_id}/vod.m3u8", response_class=Response, responses=M3U8,
            **stream_right(PLAYBACK, new_playlist=True))  # fmt: skip
def vod(
    ctx: Ctx,
    p: NewPlaylistToken,
    camera_id: CameraId,
    token: Token,
    start: Annotated[str, Query(max_length=64)],
    end: Annotated[str | None, Query(max_length=64)] = None,
    stream: Annotated[str, Query(pattern="^(main|sub)$")] = "main",
) -> Response:
    """HLS VOD from any instant: the segment holding ``start`` first (the player starts at the exact
    instant through ``EXT-X-START``), up to ``end`` (default: 1 h later, at most 6 h); gaps skipped.
    Only a token handed out by the API opens it, not a playlist's own."""
    source = segment_source.of(ctx.cfg, ctx.db)
    pl = playback.vod_playlist(ctx.db, source, ctx.auth.issuer, p, camera_id, start, end, stream)
    ctx.audit.append(p.actor, "playback.start", "ok", camera_id, pl.start_ms, pl.end_ms, p.source_ip,
                     {"stream": stream})  # fmt: skip
    return Response(pl.body, media_type="application/vnd.apple.mpegurl", headers={"Cache-Control": "no-store"})


@router.post("/exports/{job_id}/link", response_model=ExportLink, **object_right("export", EXPORT))
def export_link(ctx: Ctx, caller: Caller, job_id: JobId) -> dict[str, Any]:
    """A 60-second download URL for a finished export, for the browser's own download manager
    (which streams the package to disk instead of holding it in memory, and cannot send headers)."""
    pkg = export_access.finished(_exports(ctx), ctx.db, caller, job_id)
    token = ctx.auth.issuer.issue_stream_token(caller.binding(), pkg.cameras[0], EXPORT)
    return {"url": f"/api/v1/exports/{job_id}/file?token={token}", "expires_in": STREAM_TTL_S, "name": pkg.name}


def _export_camera(ctx: AppContext, request: Request) -> int:
    return export_access.token_camera(_exports(ctx), str(request.path_params["job_id"]))


ExportToken = Annotated[Principal, stream_caller(EXPORT, camera_of=_export_camera)]


@router.get("/exports/{job_id}/file", response_class=FileResponse, responses=ZIP,
            **stream_right(EXPORT, camera_of=_export_camera))  # fmt: skip
def export_file(ctx: Ctx, p: ExportToken, job_id: JobId, token: Token) -> FileResponse:
    return _package(ctx, p, job_id)
