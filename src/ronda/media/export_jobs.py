"""Export jobs: background runs of `export.run_export`, kept in the database so that a restart loses
neither the list of packages nor the packages themselves.

A running job's progress lives in memory (it changes many times a second); its row holds who asked
for what and how it ended. At start-up, jobs a stopped Ronda left running are marked failed and
their unfinished files removed. Finished packages are kept `storage.export_keep_days` days, then the
file is deleted and the job shows as expired.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from ronda.access.audit import AuditLog
from ronda.config import Config
from ronda.media import segment_source
from ronda.media.evidence import SITE_KEY_FILE, load_site_key
from ronda.media.export import ExportCancelled, ExportError, ExportRequest, Progress, run_export
from ronda.store.db import Database
from ronda.store.models import ExportJobRow
from ronda.timeutil import now_ms, to_iso

log = logging.getLogger(__name__)
DAY_MS = 86_400_000


# Whose jobs a caller sees besides its own: True every job (site scope), a set of owner user ids (its
# organisation's users), False only its own.
OwnerScope = bool | frozenset[int]


class JobNotFound(LookupError):
    """No such job, or not the caller's (someone else's export is as good as absent)."""


@dataclass
class _Running:
    progress: Progress = field(default_factory=Progress)
    task: asyncio.Task[None] | None = None


@dataclass(frozen=True)
class Package:
    """A finished job's file, for a download (fetched from the node that made it, on a cluster)."""

    path: Path
    name: str
    cameras: list[int]
    start_ms: int
    end_ms: int


class ExportJobs:
    def __init__(self, db: Database, cfg: Config, audit: AuditLog, node: str = "local") -> None:
        self.db = db
        self.cfg = cfg
        self.audit = audit
        self.folder = cfg.data_dir / "exports"
        self._running: dict[str, _Running] = {}
        # This node (cluster.node; "local" on a single box): its jobs are the ones it runs, recovers and
        # prunes; another node's finished package is fetched through ``remote(job_id, node)`` (the
        # node-to-node client, installed by create_app on a cluster).
        self.node = node
        self.remote: Callable[[str, str], Path] | None = None

    def path(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.zip"

    # --- start-up and upkeep -----------------------------------------------------------------------
    def recover(self) -> int:
        """Blocking. Jobs a stopped Ronda left running end as failed; their partial files go."""
        n = 0
        with self.db.session() as s:
            mine = select(ExportJobRow).where(ExportJobRow.status == "running", ExportJobRow.node == self.node)
            for row in s.scalars(mine):
                if row.id in self._running:
                    continue
                row.status, row.error, row.finished_ms = "failed", "interrupted: Ronda stopped while it ran", now_ms()
                n += 1
        if self.folder.is_dir():
            for leftover in self.folder.glob("*.partial"):
                if leftover.name.split(".", 1)[0] not in self._running:
                    leftover.unlink(missing_ok=True)
        return n

    def prune(self, now: int | None = None) -> int:
        """Blocking. Delete packages older than `storage.export_keep_days`; their jobs show as expired."""
        cutoff = (now or now_ms()) - int(self.cfg.storage.export_keep_days * DAY_MS)
        n = 0
        with self.db.session() as s:
            q = select(ExportJobRow).where(ExportJobRow.status == "done", ExportJobRow.finished_ms < cutoff,
                                           ExportJobRow.node == self.node)  # fmt: skip
            for row in s.scalars(q):
                self.path(row.id).unlink(missing_ok=True)
                row.status, row.error = "expired", f"deleted after {self.cfg.storage.export_keep_days:g} days"
                n += 1
            # a package whose job is gone (deleted through another node): nobody can download it any more
            if self.folder.is_dir():
                files = {p.name.removesuffix(".zip"): p for p in self.folder.glob("*.zip")}
                named = select(ExportJobRow.id).where(ExportJobRow.id.in_(sorted(files)))
                known = set(s.scalars(named)) if files else set()
                for jid, p in files.items():
                    if jid not in known and jid not in self._running:
                        p.unlink(missing_ok=True)
        if n:
            log.info("deleted %d export package(s) older than %g days", n, self.cfg.storage.export_keep_days)
        return n

    async def upkeep(self, interval_s: float = 3600.0) -> None:
        """Recover once, then prune every hour (runs for the life of the server)."""
        await asyncio.to_thread(self.recover)
        while True:
            try:
                await asyncio.to_thread(self.prune)
            except Exception:
                log.exception("export upkeep failed")
            await asyncio.sleep(interval_s)

    async def close(self) -> None:
        for run in list(self._running.values()):
            run.progress.cancelled = True
        tasks = [r.task for r in self._running.values() if r.task is not None]
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(t), 30)

    # --- jobs ---------------------------------------------------------------------------------------
    async def start(
        self, owner_id: int, owner: str, source_ip: str | None, req: ExportRequest, name: str | None
    ) -> dict[str, Any]:
        jid = secrets.token_urlsafe(12)
        self.folder.mkdir(exist_ok=True)
        row = ExportJobRow(
            id=jid, owner_id=owner_id, owner=owner, cameras=list(req.camera_ids), start_ms=req.start_ms,
            end_ms=req.end_ms, stream=req.stream, reason=req.reason, case_ref=req.case,
            name=(name or f"export-{jid}") + ".zip", status="running", created_ms=now_ms(), node=self.node,
        )  # fmt: skip
        await asyncio.to_thread(self._add, row)
        run = _Running()
        self._running[jid] = run
        run.task = asyncio.create_task(self._work(jid, owner, source_ip, req, run.progress), name=f"export-{jid}")
        return self._view(row)

    def _add(self, row: ExportJobRow) -> None:
        with self.db.session() as s:
            s.add(row)
            s.flush()
            s.expunge(row)

    async def _work(self, jid: str, actor: str, source_ip: str | None, req: ExportRequest, progress: Progress) -> None:
        status, error = "failed", None
        try:
            await run_export(self.db, self.cfg.recordings_dir, self.cfg.recording.ffmpeg, _site_key(self.cfg),
                             self.cfg.site.name, self.cfg.site.timezone, req, self.path(jid), progress,
                             segment_source.of(self.cfg, self.db))  # fmt: skip
            status = "done"
        except ExportCancelled:
            status = "cancelled"
        except ExportError as e:
            error = str(e)
        except Exception as e:  # reported on the job; the server goes on
            log.exception("export %s failed", jid)
            error = f"{type(e).__name__}: {e}"
        finally:
            size = self.path(jid).stat().st_size if status == "done" else None
            await asyncio.to_thread(self._finish, jid, status, error, size, (actor, source_ip, req))
            self._running.pop(jid, None)

    def _finish(self, jid: str, status: str, error: str | None, size: int | None,
                who: tuple[str, str | None, ExportRequest]) -> None:  # fmt: skip
        """The job's outcome and, for a finished export, its audit entries: one transaction."""
        actor, source_ip, req = who
        with self.db.session() as s:
            row = s.get(ExportJobRow, jid)
            if row is not None and row.status == "running":
                row.status, row.error, row.bytes, row.finished_ms = status, error, size, now_ms()
            if status == "done":
                details = {"case": req.case, "reason": req.reason, "job": jid}
                for cid in req.camera_ids:
                    self.audit.record(s, actor, "export", "ok", cid, req.start_ms, req.end_ms, source_ip, details)

    def _visible(self, row: ExportJobRow | None, user_id: int, admin: OwnerScope) -> ExportJobRow:
        if row is None or not (row.owner_id == user_id or admin is True or (admin and row.owner_id in admin)):
            raise JobNotFound()
        return row

    def get(self, job_id: str, user_id: int, admin: OwnerScope) -> dict[str, Any]:
        with self.db.session() as s:
            return self._view(self._visible(s.get(ExportJobRow, job_id), user_id, admin))

    def list(self, user_id: int, admin: OwnerScope, limit: int = 200) -> list[dict[str, Any]]:
        q = select(ExportJobRow).order_by(ExportJobRow.created_ms.desc()).limit(limit)
        if admin is False or not admin:
            q = q.where(ExportJobRow.owner_id == user_id)
        elif admin is not True:
            q = q.where(ExportJobRow.owner_id.in_(sorted(admin | {user_id})))
        with self.db.session() as s:
            return [self._view(r) for r in s.scalars(q)]

    def package(self, job_id: str, user_id: int, admin: OwnerScope) -> Package:
        """The finished package; JobNotFound, or ValueError naming the job's state when not done."""
        with self.db.session() as s:
            row = self._visible(s.get(ExportJobRow, job_id), user_id, admin)
            if row.status != "done":
                raise ValueError(f"the export is {row.status}")
            pkg = Package(self.path(row.id), row.name, list(row.cameras), row.start_ms, row.end_ms)
            node = row.node
        if node not in (self.node, "local"):  # made on another API node: its disk has the package
            if self.remote is None:
                raise ValueError(f"the export's package is on node {node}")
            pkg = dataclasses.replace(pkg, path=self.remote(job_id, node))
        elif not pkg.path.is_file():
            raise ValueError("the export is done but its package is gone")
        return pkg

    def owner_camera(self, job_id: str) -> int | None:
        """The first camera of a job (stream tokens for its download are bound to it)."""
        with self.db.session() as s:
            row = s.get(ExportJobRow, job_id)
            return row.cameras[0] if row is not None else None

    async def cancel(self, job_id: str, user_id: int, admin: OwnerScope) -> None:
        """Stop a running job (or forget a finished one) and delete its package."""
        await asyncio.to_thread(self.get, job_id, user_id, admin)  # JobNotFound first
        run = self._running.get(job_id)
        if run is not None:
            run.progress.cancelled = True
            if run.task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(asyncio.shield(run.task), 30)
        self.path(job_id).unlink(missing_ok=True)
        await asyncio.to_thread(self._delete, job_id)

    def _delete(self, job_id: str) -> None:
        with self.db.session() as s:
            row = s.get(ExportJobRow, job_id)
            if row is not None:
                s.delete(row)

    def _view(self, row: ExportJobRow) -> dict[str, Any]:
        run = self._running.get(row.id) if row.status == "running" else None
        done = row.status == "done"
        return {
            "id": row.id,
            "status": row.status,
            "stage": run.progress.stage if run else ("done" if done else row.status),
            "progress": round(run.progress.fraction, 3) if run else (1.0 if done else 0.0),
            "error": row.error,
            "cameras": list(row.cameras),
            "start": to_iso(row.start_ms),
            "end": to_iso(row.end_ms),
            "created": to_iso(row.created_ms),
            "finished": to_iso(row.finished_ms) if row.finished_ms is not None else None,
            "bytes": row.bytes,
            "name": row.name,
            "owner": row.owner,
            "owner_id": row.owner_id,
            "download": f"/api/v1/exports/{row.id}/download" if done else None,
        }


def _site_key(cfg: Config) -> Ed25519PrivateKey:
    return load_site_key(cfg.data_dir / "keys" / SITE_KEY_FILE)
