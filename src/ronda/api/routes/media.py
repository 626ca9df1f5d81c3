"""Exports (background jobs with progress, signed packages) and evidence locks."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select

from ronda.access.rights import EVIDENCE_LOCK, EXPORT
from ronda.access.service import Principal
from ronda.api.deps import Caller, Ctx, not_found, require_camera
from ronda.media.export import ExportCancelled, ExportError, ExportRequest, Progress, plan, run_export
from ronda.runtime import site_key
from ronda.store.models import EvidenceLock
from ronda.timeutil import now_ms, parse_iso, to_iso

router = APIRouter(tags=["media"])
_NAME = re.compile(r"[A-Za-z0-9._ -]{1,80}")
JobId = Annotated[str, PathParam(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def _time(text: str, what: str) -> int:
    try:
        return parse_iso(text)
    except ValueError:
        raise HTTPException(422, f"{what} must be an ISO 8601 time, e.g. 2026-05-26T10:00:00Z") from None


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


@dataclass
class ExportJob:
    id: str
    owner_id: int
    owner: str
    request: ExportRequest
    path: Path
    name: str
    progress: Progress = field(default_factory=Progress)
    status: str = "running"  # running | done | failed | cancelled
    error: str | None = None
    created_ms: int = field(default_factory=now_ms)
    task: asyncio.Task[None] | None = None

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "stage": self.progress.stage,
            "progress": round(self.progress.fraction, 3),
            "error": self.error,
            "cameras": self.request.camera_ids,
            "start": to_iso(self.request.start_ms),
            "end": to_iso(self.request.end_ms),
            "created": to_iso(self.created_ms),
            "owner": self.owner,
            "download": f"/api/v1/exports/{self.id}/download" if self.status == "done" else None,
        }


_jobs: dict[str, ExportJob] = {}


def _job_for(caller: Principal, job_id: str) -> ExportJob:
    job = _jobs.get(job_id)
    if job is None or (job.owner_id != caller.user_id and "administrator" not in caller.roles):
        raise not_found("export")  # someone else's export is as good as absent
    return job


@router.post("/exports", status_code=202)
async def create_export(ctx: Ctx, caller: Caller, body: ExportBody) -> dict[str, Any]:
    for cid in body.cameras:
        if not 1 <= cid < 2**31:
            raise not_found()
        require_camera(caller, cid, EXPORT)
    req = ExportRequest(body.cameras, _time(body.start, "start"), _time(body.end, "end"), caller.actor, body.reason,
                        body.case, body.stream)  # fmt: skip
    try:
        await asyncio.to_thread(plan, ctx.db, req)  # refuse at once what cannot be exported
    except ExportError as e:
        raise HTTPException(422, str(e)) from None
    jid = secrets.token_urlsafe(12)
    folder = ctx.cfg.data_dir / "exports"
    folder.mkdir(exist_ok=True)
    job = ExportJob(
        jid, caller.user_id, caller.actor, req, folder / f"{jid}.zip", (body.name or f"export-{jid}") + ".zip"
    )
    _jobs[jid] = job

    async def work() -> None:
        try:
            await run_export(ctx.db, ctx.cfg.recordings_dir, ctx.cfg.recording.ffmpeg, site_key(ctx.cfg),
                             ctx.cfg.site.name, ctx.cfg.site.timezone, req, job.path, job.progress)  # fmt: skip
            job.status = "done"
            details = {"case": req.case, "reason": req.reason, "job": jid}
            for cid in req.camera_ids:
                await asyncio.to_thread(
                    ctx.audit.append,
                    caller.actor,
                    "export",
                    "ok",
                    cid,
                    req.start_ms,
                    req.end_ms,
                    caller.source_ip,
                    details,
                )
        except ExportCancelled:
            job.status = "cancelled"
        except ExportError as e:
            job.status, job.error = "failed", str(e)
        except Exception as e:  # reported on the job; the server goes on
            job.status, job.error = "failed", f"{type(e).__name__}: {e}"

    job.task = asyncio.create_task(work())
    return job.view()


@router.get("/exports")
def list_exports(caller: Caller) -> list[dict[str, Any]]:
    admin = "administrator" in caller.roles
    return [j.view() for j in _jobs.values() if admin or j.owner_id == caller.user_id]


@router.get("/exports/{job_id}")
def get_export(caller: Caller, job_id: JobId) -> dict[str, Any]:
    return _job_for(caller, job_id).view()


@router.delete("/exports/{job_id}", status_code=204)
async def cancel_export(caller: Caller, job_id: JobId) -> Response:
    job = _job_for(caller, job_id)
    if job.status == "running":
        job.progress.cancelled = True
        if job.task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(job.task), 30)
    job.path.unlink(missing_ok=True)
    _jobs.pop(job_id, None)
    return Response(status_code=204)


@router.get("/exports/{job_id}/download", response_class=FileResponse)
def download_export(ctx: Ctx, caller: Caller, job_id: JobId) -> FileResponse:
    job = _job_for(caller, job_id)
    if job.status != "done" or not job.path.is_file():
        raise HTTPException(409, f"the export is {job.status}")
    ctx.audit.append(caller.actor, "export.download", "ok", job.request.camera_ids[0], job.request.start_ms,
                     job.request.end_ms, caller.source_ip, {"job": job_id})  # fmt: skip
    return FileResponse(job.path, media_type="application/zip", filename=job.name)


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


@router.post("/evidence-locks", status_code=201)
def create_lock(ctx: Ctx, caller: Caller, body: LockBody) -> dict[str, Any]:
    require_camera(caller, body.camera, EVIDENCE_LOCK)
    start, end = _time(body.start, "start"), _time(body.end, "end")
    until = _time(body.until, "until") if body.until else None
    if end <= start:
        raise HTTPException(422, "end must be after start")
    if until is not None and until <= now_ms():
        raise HTTPException(422, "until must be in the future")
    with ctx.db.session() as s:
        lock = EvidenceLock(camera_id=body.camera, start_ms=start, end_ms=end, reason=body.reason, until_ms=until,
                            created_by=caller.actor, created_ms=now_ms())  # fmt: skip
        s.add(lock)
        s.flush()
        view = _lock_view(lock)
    ctx.audit.append(caller.actor, "evidence.lock", "ok", body.camera, start, end, caller.source_ip,
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
        require_camera(caller, lock.camera_id, EVIDENCE_LOCK)
        cam, start, end = lock.camera_id, lock.start_ms, lock.end_ms
        s.delete(lock)
    ctx.audit.append(caller.actor, "evidence.unlock", "ok", cam, start, end, caller.source_ip, {"lock": lock_id})
    return Response(status_code=204)
