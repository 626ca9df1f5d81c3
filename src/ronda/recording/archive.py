"""The archiver: the recorder's task that moves old footage to the object store (docs/cluster.md).

For each local segment of this node older than its camera's threshold, in this order:
1. upload under ``<prefix>/<camera>/<stream>/<yyyy>/<mm>/<dd>/<file>``, the store checking the bytes
   against the catalog's SHA-256 (x-amz-checksum-sha256); evidence-locked footage gets an object lock;
2. verify: the stored object's own SHA-256 (HEAD) or, for a store that keeps none, the object read back;
3. switch the catalog row to ``location='archive'`` with its ``archive_key`` (only if the row is still
   local: retention may have deleted it meanwhile, then the object goes);
4. remove the local file.
A crash between any two steps leaves either an extra object (overwritten by the next pass) or an extra
local file; the catalog never points at a missing object nor at a deleted file. The extra local file is
found again: each segment in flight has an entry in ``recordings/.archive-pending`` until its file is
gone, and the first pass after a start removes the files of those whose row says "archive".

An outage of the store never touches recording: the pass fails, the footage stays on the local disk
(watermarks and retention still apply), the next pass waits with a growing backoff. The first failure
raises ``storage.archive_failing``, the first success after it ``storage.archive_ok``; the backlog then
drains.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Select, and_, case, func, select, update
from sqlalchemy.orm import Session

from ronda.config import ArchiveConfig
from ronda.recording.layout import Layout
from ronda.recording.object_store import ObjectStore, ObjectStoreError, b64_digest
from ronda.store import repos
from ronda.store.db import Database
from ronda.store.models import EvidenceLock, Segment
from ronda.timeutil import now_ms

log = logging.getLogger(__name__)
BATCH = 64
EXPORT_HOLD_PREFIX = "export:"  # media/export.py's temporary locks: the export reads the local files now


def archive_key(prefix: str, seg: Segment) -> str:
    t = datetime.fromtimestamp(seg.start_ms / 1000, tz=UTC)
    name = Path(seg.path).name
    return f"{prefix.strip('/')}/{seg.camera_id}/{seg.stream}/{t:%Y}/{t:%m}/{t:%d}/{name}".lstrip("/")


@dataclass(slots=True)
class ArchiveStatus:
    state: str = "ok"  # ok | failing
    detail: str | None = None
    archived: int = 0  # since start
    backlog: int = 0  # segments due and still local (last pass)
    last_error_ms: int | None = None


class Archiver:
    def __init__(self, cfg: ArchiveConfig, db: Database, root: Path, store: ObjectStore, prefix: str, node: str,
                 on_events: Callable[[], None] | None = None) -> None:  # fmt: skip
        self.cfg = cfg
        self.db = db
        self.root = root
        self.store = store
        self.prefix = prefix
        self.node = node
        self.on_events = on_events
        self.status = ArchiveStatus()
        self._bucket_ready = False
        self._pool = ThreadPoolExecutor(cfg.concurrency, thread_name_prefix="archive")
        self._locks_seen_ms = 0  # evidence locks created up to here have their archived objects locked

    # --- the loop ---------------------------------------------------------------------------------
    async def run(self) -> None:
        delay = self.cfg.retry_initial_seconds
        try:
            while True:
                try:
                    done, more = await asyncio.to_thread(self.run_pass, now_ms())
                except Exception as e:  # the store or the database failed: keep the footage, retry later
                    await asyncio.to_thread(self._failing, str(e))
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.cfg.retry_max_seconds)
                    continue
                delay = self.cfg.retry_initial_seconds
                if not more:
                    await asyncio.sleep(self.cfg.interval_seconds)
                elif not done:  # every candidate was skipped (held by an export): do not spin
                    await asyncio.sleep(1)
        finally:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def run_pass(self, now: int) -> tuple[int, bool]:
        """One batch (blocking). Returns (segments archived, whether more are due). Raises on a store
        failure, after archiving what it could."""
        if not self._bucket_ready:
            self._finish_interrupted()
            self.store.ensure_bucket()
            self._bucket_ready = True
        self._lock_archived()
        segs, backlog = self._due(now)
        self.status.backlog = backlog
        if not segs:
            self._recovered()
            return 0, False
        results = list(self._pool.map(self._archive_one, segs))
        done = sum(1 for r in results if r is True)
        errors = [r for r in results if isinstance(r, str)]
        self.status.archived += done
        self.status.backlog = max(0, backlog - done)
        if errors:
            raise ObjectStoreError(f"{len(errors)} of {len(segs)} uploads failed: {errors[0]}")
        self._recovered()
        return done, backlog > len(segs)

    def _due(self, now: int) -> tuple[list[Segment], int]:
        """This node's local segments past their camera's threshold, oldest first, and how many there are."""
        default_ms = int(self.cfg.after_hours * 3_600_000)
        keep: Any
        if self.cfg.camera_after_hours:
            keep = case({cid: self.cfg.after_ms(cid) for cid in self.cfg.camera_after_hours},
                        value=Segment.camera_id, else_=default_ms)  # fmt: skip
        else:
            keep = default_ms
        held = _export_hold(Segment.camera_id, Segment.start_ms, Segment.end_ms, now).exists()
        cond = and_(Segment.location == "local", Segment.node == self.node, Segment.end_ms <= now - keep, ~held)
        with self.db.session() as s:
            segs = list(s.scalars(select(Segment).where(cond).order_by(Segment.start_ms).limit(BATCH)))
            backlog = len(segs) if len(segs) < BATCH else int(s.scalar(select(func.count()).where(cond)) or 0)
        return segs, backlog

    # --- one segment --------------------------------------------------------------------------------
    def _archive_one(self, seg: Segment) -> bool | str:
        """True: archived; False: skipped (file gone, row gone, held); str: the store's error."""
        local = Layout(self.root).path(seg.path)
        if not local.is_file():
            log.warning("archive: %s is in the catalog but not on disk; left for `ronda storage reindex`", seg.path)
            return False
        key = archive_key(self.prefix, seg)
        pending = self.pending_dir / str(seg.id)
        pending.write_text(seg.path)
        try:
            return self._upload_switch_remove(seg, local, key)
        finally:
            pending.unlink(missing_ok=True)

    def _upload_switch_remove(self, seg: Segment, local: Path, key: str) -> bool | str:
        try:
            self.store.put_file(key, local, seg.sha256, self._lock_until(seg))
            self._verify(key, seg)
        except ObjectStoreError as e:
            return str(e)
        except OSError as e:  # the file went meanwhile (retention): nothing to archive
            log.warning("archive: %s could not be read: %s", seg.path, e)
            return False
        if not self._switch(seg, key):
            # Deleted by retention meanwhile, or an export began to read it: no row points at the object.
            try:
                if self._row_gone(seg.id):
                    self.store.delete(key)
            except ObjectStoreError as e:
                log.warning("archive: could not remove the object of deleted segment %s: %s", seg.id, e)
            return False
        # The row says "archive" (committed) before the file goes: a crash here leaves a spare file.
        local.unlink(missing_ok=True)
        return True

    @property
    def pending_dir(self) -> Path:
        d = Layout(self.root).archive_pending_dir
        d.mkdir(exist_ok=True)
        return d

    def _finish_interrupted(self) -> None:
        """Segments in flight when the process died: remove the local file of those archived already."""
        for entry in self.pending_dir.iterdir():
            if entry.name.isdigit():
                with self.db.session() as s:
                    row = s.get(Segment, int(entry.name))
                if row is not None and row.location == "archive":
                    Layout(self.root).path(row.path).unlink(missing_ok=True)
                    log.info("archive: removed %s, archived before an interruption", row.path)
            entry.unlink(missing_ok=True)

    def _verify(self, key: str, seg: Segment) -> None:
        stored = self.store.head(key)
        if stored.size != seg.bytes:
            raise ObjectStoreError(f"{key}: stored {stored.size} bytes, the catalog has {seg.bytes}")
        if stored.sha256_b64 is not None:
            if stored.sha256_b64 != b64_digest(seg.sha256):
                raise ObjectStoreError(f"{key}: the stored SHA-256 differs from the catalog's")
            return
        if self.store.sha256_of(key) != seg.sha256:  # a store without checksums: read it back
            raise ObjectStoreError(f"{key}: the object read back differs from the catalog's SHA-256")

    def _lock_until(self, seg: Segment) -> int | None:
        """The end of the longest evidence lock over the segment (for the store's object lock)."""
        if self.cfg.object_lock == "off":
            return None
        with self.db.session() as s:
            until = s.scalar(
                select(func.max(EvidenceLock.until_ms)).where(
                    EvidenceLock.camera_id == seg.camera_id, EvidenceLock.start_ms < seg.end_ms,
                    EvidenceLock.end_ms > seg.start_ms, ~EvidenceLock.created_by.startswith(EXPORT_HOLD_PREFIX))
            )  # fmt: skip
        return int(until) if until is not None and until > now_ms() else None

    def _lock_archived(self) -> None:
        """An evidence lock made after its footage was archived: lock those objects in the store too
        (each lock once per process; after a restart the active ones again, which is harmless)."""
        if self.cfg.object_lock == "off":
            return
        now = now_ms()
        with self.db.session() as s:
            locks = s.execute(
                select(EvidenceLock.camera_id, EvidenceLock.start_ms, EvidenceLock.end_ms, EvidenceLock.until_ms,
                       EvidenceLock.created_ms)
                .where(EvidenceLock.created_ms >= self._locks_seen_ms, EvidenceLock.until_ms > now,
                       ~EvidenceLock.created_by.startswith(EXPORT_HOLD_PREFIX))
            ).all()  # fmt: skip
            todo: list[tuple[str, int]] = []
            for cam, start, end, until, _ in locks:
                if until is None:  # (excluded by the query; a lock without an end has no date to give)
                    continue
                keys = s.scalars(
                    select(Segment.archive_key).where(
                        Segment.camera_id == cam, Segment.location == "archive", Segment.start_ms < end,
                        Segment.end_ms > start, Segment.start_ms > start - repos.MAX_SEGMENT_MS)
                )  # fmt: skip
                todo += [(str(k), int(until)) for k in keys if k]
        for key, until in todo:
            self.store.lock(key, until)  # a failure fails the pass: retried with the next one
        if locks:
            self._locks_seen_ms = max(int(x[4]) for x in locks) + 1

    def _switch(self, seg: Segment, key: str) -> bool:
        with self.db.session() as s:
            if _export_holds(s, seg):
                return False
            res = s.execute(
                update(Segment)
                .where(Segment.id == seg.id, Segment.location == "local")
                .values(location="archive", archive_key=key)
            )
            return bool(getattr(res, "rowcount", 0))

    def _row_gone(self, seg_id: int) -> bool:
        with self.db.session() as s:
            return s.get(Segment, seg_id) is None

    # --- events -------------------------------------------------------------------------------------
    def _failing(self, detail: str) -> None:
        log.warning("archive: %s (footage stays on the local disk; retrying)", detail)
        self.status.last_error_ms = now_ms()
        if self.status.state == "failing":
            self.status.detail = detail
            return
        self.status.state, self.status.detail = "failing", detail
        self._event("storage.archive_failing", "critical", {"detail": detail[:500], "bucket": self.cfg.bucket})

    def _recovered(self) -> None:
        if self.status.state != "failing":
            return
        self.status.state, self.status.detail = "ok", None
        self._event("storage.archive_ok", "info", {"bucket": self.cfg.bucket, "backlog": self.status.backlog})

    def _event(self, type: str, severity: str, payload: dict[str, object]) -> None:
        try:
            with self.db.session() as s:
                repos.add_event(s, type, now_ms(), None, severity=severity, payload=payload)
        except Exception as e:  # the database may be what failed
            log.error("archive: could not store %s: %s", type, e)
            return
        if self.on_events is not None:
            self.on_events()


def _export_hold(camera_id: Any, start_ms: Any, end_ms: Any, now: int) -> Select[int]:
    """The export holds (media/export.py's temporary locks) on a span of a camera: columns of ``Segment``
    (a condition over every due segment) or one segment's values."""
    return select(EvidenceLock.id).where(
        EvidenceLock.camera_id == camera_id,
        EvidenceLock.start_ms < end_ms,
        EvidenceLock.end_ms > start_ms,
        EvidenceLock.until_ms > now,
        EvidenceLock.created_by.startswith(EXPORT_HOLD_PREFIX),
    )


def _export_holds(s: Session, seg: Segment) -> bool:
    return s.scalar(_export_hold(seg.camera_id, seg.start_ms, seg.end_ms, now_ms()).limit(1)) is not None
