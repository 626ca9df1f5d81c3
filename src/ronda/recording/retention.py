"""Retention: which footage goes, oldest unlocked first, and never evidence-locked footage.

Three triggers, checked in this order on every pass:
1. per-camera retention days (also a legal maximum: footage older than that is deleted even when
   there is room);
2. the ``storage.max_bytes`` budget;
3. the free-space watermark of the recording volume.
Each deletion is recorded as a ``retention.deleted`` event (camera, time range, bytes, why).
Segments that a running export holds are skipped (``hold`` ranges).

With the archive tier (recording/archive.py), retention days apply to archived segments too: their
object is deleted before their row (a store that is down keeps both until the next pass). The byte
budget and the disk watermark concern the local disk only, so they choose among local segments.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import BigInteger, case, cast, func, or_, select
from sqlalchemy.orm import Session

from ronda.access.audit import AuditLog
from ronda.config import StorageConfig
from ronda.recording.layout import Layout
from ronda.recording.object_store import ObjectStore, ObjectStoreError
from ronda.recording.volume import disk_usage
from ronda.store import repos
from ronda.store.db import Database
from ronda.store.models import Camera, Segment

log = logging.getLogger(__name__)
DAY_MS = 86_400_000
BATCH = 200


@dataclass(slots=True)
class RetentionReport:
    deleted: int = 0
    freed_bytes: int = 0
    by_reason: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    locked_blocking: bool = False  # budget/disk still exceeded and only locked footage is left


@dataclass(slots=True)
class Hold:
    camera_id: int
    start_ms: int
    end_ms: int


class Retention:
    def __init__(self, db: Database, root: Path, cfg: StorageConfig, audit: AuditLog | None = None,
                 node: str = "local") -> None:  # fmt: skip
        self.db = db
        # The node whose disk ``root`` is (cluster.node; "local" on a single box): on a site with many
        # recorders, each deletes only its own local footage (the rows of other nodes name files it has
        # not got) and counts only its own bytes; archived footage, on no node's disk, any of them.
        self.node = node
        self.audit = audit
        self.root = root
        self.cfg = cfg
        self.holds: list[Hold] = []
        # Called in each deletion's transaction with camera -> end of the newest footage deleted, so that
        # records derived from footage (analytics motion and objects) go with it; runtime installs it
        # (recording cannot import the features above it).
        self.on_deleted: Callable[[Session, dict[int, int]], None] | None = None
        # The archive's object store (runtime sets it when ``archive`` is configured).
        self.archive: ObjectStore | None = None

    def _held(self, seg: Segment) -> bool:
        return any(
            h.camera_id == seg.camera_id and h.start_ms < seg.end_ms and h.end_ms > seg.start_ms for h in self.holds
        )

    def run(
        self, now: int, min_free_bytes: int = 0, age_now: int | None = None, by_age: bool = True
    ) -> RetentionReport:
        """One pass. ``min_free_bytes``: keep at least this much free (the recorder's resume mark).
        ``age_now``: the time that footage's age and evidence locks' expiry are counted against, when it
        is earlier than ``now`` (the recorder's steady clock after a forward step of the wall clock:
        recording/clockwatch.py); ``now`` stamps the events. ``by_age`` False: only the byte budget and
        the disk's free space (the recorder deletes for age less often than it checks the disk)."""
        rep = RetentionReport()
        age = now if age_now is None else min(now, age_now)
        if by_age:
            self._by_age(now, age, rep)
        if self.cfg.max_bytes is not None:
            target = int(self.cfg.max_bytes * 0.95)
            with self.db.session() as s:
                used = local_bytes(s, self.node)
            if used > self.cfg.max_bytes:
                left = self._oldest_first(now, age, used - target, "max_bytes", rep)
                if left > 0:
                    rep.locked_blocking = True
        du = disk_usage(self.root)
        want = min_free_bytes - du.free
        if du.free_percent < self.cfg.delete_below_free_percent:
            want = max(want, int(du.total * (self.cfg.delete_below_free_percent + 2) / 100) - du.free)
        if want > 0:
            left = self._oldest_first(now, age, want, "disk_low", rep)
            if left > 0:
                rep.locked_blocking = True
        return rep

    def _by_age(self, now: int, age: int, rep: RetentionReport) -> None:
        """Footage older than its camera's retention at ``age``, all cameras in one query per batch."""
        default_ms = int(self.cfg.default_retention_days * DAY_MS)
        keep_ms = case(
            (Camera.retention_days.is_(None), default_ms), else_=cast(Camera.retention_days * DAY_MS, BigInteger)
        )
        skip_ids: set[int] = set()
        while True:
            with self.db.session() as s:
                q = (
                    select(Segment)
                    .join(Camera, Camera.id == Segment.camera_id)
                    .where(
                        Segment.end_ms <= age - keep_ms,
                        repos.unlocked_condition(age),
                        or_(Segment.node == self.node, Segment.location == "archive"),
                    )  # fmt: skip
                    .order_by(Segment.start_ms)
                    .limit(BATCH)
                )
                if skip_ids:
                    q = q.where(Segment.id.not_in(skip_ids))
                segs = s.scalars(q).all()
            if not segs:
                return
            held = [x for x in segs if self._held(x)]
            skip_ids.update(x.id for x in held)
            segs = [x for x in segs if not self._held(x)]
            if segs:
                # an archived segment whose object could not be deleted stays until the next pass
                skip_ids.update(self._delete(segs, "retention_days", now, rep))

    def _oldest_first(self, now: int, age: int, want_bytes: int, reason: str, rep: RetentionReport) -> int:
        """Delete oldest segments unlocked at ``age`` until want_bytes are freed; returns bytes still wanted."""
        skip_ids: set[int] = set()
        while want_bytes > 0:
            with self.db.session() as s:
                q = (
                    select(Segment)
                    .where(repos.unlocked_condition(age), Segment.location == "local", Segment.node == self.node)
                    .order_by(Segment.start_ms)
                    .limit(BATCH)
                )
                if skip_ids:
                    q = q.where(Segment.id.not_in(skip_ids))
                segs = s.scalars(q).all()
            if not segs:
                return want_bytes
            chosen: list[Segment] = []
            for seg in segs:
                if self._held(seg):
                    skip_ids.add(seg.id)
                    continue
                chosen.append(seg)
                want_bytes -= seg.bytes
                if want_bytes <= 0:
                    break
            if chosen:
                self._delete(chosen, reason, now, rep)
        return 0

    def _delete(self, segs: Iterable[Segment], reason: str, now: int, rep: RetentionReport) -> set[int]:
        """Delete; returns the ids kept (archived segments whose object the store would not delete)."""
        asked = list(segs)
        segs = self._delete_objects(asked)
        kept = {x.id for x in asked} - {x.id for x in segs}
        if not segs:
            return kept
        # Catalog first, then files: a crash in between leaves an unindexed file (wasted space),
        # never a catalog row pointing at a missing file.
        with self.db.session() as s:
            repos.delete_segments(s, [x.id for x in segs])
            per_cam: dict[tuple[int, str], list[Segment]] = defaultdict(list)
            for x in segs:
                per_cam[(x.camera_id, x.stream)].append(x)
            for (cam, stream), lst in per_cam.items():
                repos.add_event(
                    s,
                    "retention.deleted",
                    now,
                    cam,
                    payload={
                        "stream": stream,
                        "reason": reason,
                        "segments": len(lst),
                        "bytes": sum(x.bytes for x in lst),
                        "start_ms": min(x.start_ms for x in lst),
                        "end_ms": max(x.end_ms for x in lst),
                    },
                )
            if self.on_deleted is not None:
                until: dict[int, int] = {}
                for x in segs:
                    until[x.camera_id] = max(until.get(x.camera_id, 0), x.end_ms)
                self.on_deleted(s, until)
            if self.audit is not None:  # in the deletion's transaction: both or neither
                for (cam, stream), lst in per_cam.items():
                    self.audit.record(
                        s, "system:retention", "retention.delete", "ok", cam,
                        start_ms=min(x.start_ms for x in lst), end_ms=max(x.end_ms for x in lst),
                        details={"stream": stream, "reason": reason, "segments": len(lst)},
                    )  # fmt: skip
        for x in segs:
            # (an archived segment's file too: a crash of the archiver may have left it behind)
            Layout(self.root).path(x.path).unlink(missing_ok=True)
            rep.deleted += 1
            rep.freed_bytes += x.bytes
            rep.by_reason[reason] += 1
        log.info("retention: deleted %d segments (%s)", len(segs), reason)
        return kept

    def _delete_objects(self, segs: list[Segment]) -> list[Segment]:
        """Delete the objects of the archived segments among ``segs``, before their rows go (the catalog
        never points at a missing object); returns the segments whose rows may go now."""
        archived = [x for x in segs if x.location == "archive" and x.archive_key]
        if not archived:
            return segs
        if self.archive is None:
            log.warning("retention: %d archived segments are due but no archive is configured", len(archived))
            return [x for x in segs if x.location != "archive"]
        failed: set[int] = set()
        for x in archived:
            try:
                self.archive.delete(str(x.archive_key))
            except ObjectStoreError as e:
                failed.add(x.id)
                log.warning("retention: archived segment %s kept for now: %s", x.id, e)
        return [x for x in segs if x.id not in failed]


def local_bytes(s: Session, node: str = "local") -> int:
    """Bytes of footage on ``node``'s local disk (archived segments use none of it)."""
    q = select(func.coalesce(func.sum(Segment.bytes), 0)).where(Segment.location == "local", Segment.node == node)
    return int(s.scalar(q) or 0)
