"""Turning a finished capture file into a catalog row: fsync, hash, rename, index, close gaps.

The catalog row is written only after the file is complete at its final name, so the catalog
never points at a file that is missing or still being written. A crash between the rename and the
catalog write leaves a complete file that the catalog does not know: `reindex.find_orphans` finds such
files (their name carries their start) and `adopt` indexes them, at the stream's next start or by
`ronda storage reindex`. While the database is unreachable the file stays at its final name and its row
waits in the recorder's backlog (backlog.py), written with ``retry`` (idempotent) when it answers.

Fencing (cluster mode, docs/cluster.md): a catalog row of a camera commits only if its writer still
holds the camera's lease under the epoch it started with, checked in the same transaction (the lease row
stays locked until the commit). A node that lost the lease (frozen, cut off past the TTL) cannot write:
its file goes to the quarantine folder (``fenced-<camera>-`` prefix), never into the catalog, so the catalog and
the recordings folders still match exactly.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ronda.recording import layout, recovery
from ronda.recording.timeline import Placement
from ronda.recording.volume import VolumeError, volume_present
from ronda.store import cluster_repo, repos
from ronda.store.db import Database
from ronda.store.models import Gap, Segment

log = logging.getLogger(__name__)


@dataclass(slots=True)
class StreamKey:
    camera_id: int
    stream: str

    def __str__(self) -> str:
        return f"camera {self.camera_id}/{self.stream}"


@dataclass(slots=True, frozen=True)
class Writer:
    """Who writes a stream's catalog rows: the node's name (``local`` on a single box) and the epoch of
    its lease of the camera (None on a single box: nothing to check)."""

    node: str = "local"
    epoch: int | None = None

    def check(self, s: Session, camera_id: int) -> None:
        """Raise ``Fenced`` unless this writer still holds the camera's lease (locks the lease row)."""
        if self.epoch is not None and not cluster_repo.holds(s, camera_id, self.node, self.epoch):
            raise Fenced(f"node {self.node} no longer holds the lease of camera {camera_id} (epoch {self.epoch})")


LOCAL = Writer()


class Fenced(Exception):
    """The writer lost the camera's lease: its catalog write is refused."""


def hash_and_sync(path: Path) -> tuple[int, str]:
    with path.open("rb") as f:
        # file_digest reads into one reused buffer (no copy per chunk): ~1 ms less per 3 MB segment
        digest = hashlib.file_digest(f, "sha256").hexdigest()
        size = os.fstat(f.fileno()).st_size
        # fsync before the rename: after a power cut the name must never point at lost data.
        os.fsync(f.fileno())
    return size, digest


def fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs_synced(d: Path) -> None:
    """``mkdir -p``, each new folder's entry synced into its parent (a day's first segment)."""
    missing = []
    while not d.is_dir():
        missing.append(d)
        d = d.parent
    for m in reversed(missing):
        m.mkdir(exist_ok=True)
        fsync_dir(m.parent)


def final_relpath(key: StreamKey, start_ms: int, n: int = 0) -> Path:
    return layout.segment_relpath(key.camera_id, key.stream, start_ms, n)


@dataclass(slots=True, frozen=True)
class Placed:
    """A finished segment file at its final name, hashed and synced, not yet in the catalog."""

    rel: Path  # relative to the recordings root
    size: int
    digest: str


def place_file(root: Path, key: StreamKey, partial: Path, place: Placement) -> Placed | None:
    """Blocking. Sync, hash and rename a finished capture file to its final name (no database); None
    when it had no video (the empty file is removed)."""
    if not volume_present(root):
        raise VolumeError(f"{root} is not mounted (no volume marker): the file stays where it is")
    size, digest = hash_and_sync(partial)
    if size == 0:
        partial.unlink(missing_ok=True)
        return None
    rel = final_relpath(key, place.start_ms)
    dest = root / rel
    make_dirs_synced(dest.parent)
    n = 1
    while dest.exists():  # two segments starting in the same ms (clamped after a clock step)
        rel = final_relpath(key, place.start_ms, n)
        dest = root / rel
        n += 1
    os.rename(partial, dest)
    # The rename on disk before the row commits: after a power cut the catalog (often on another disk)
    # must not name a file whose rename was lost (it would be recovered again from its .partial name).
    fsync_dir(dest.parent)
    return Placed(rel, size, digest)


def catalog_file(
    db: Database,
    root: Path,
    key: StreamKey,
    placed: Placed,
    place: Placement,
    codec: str | None,
    recovered: bool,
    gap_may_be_open: bool = True,
    writer: Writer = LOCAL,
    retry: bool = False,
) -> Segment | None:
    """Blocking. Write the catalog row of a placed file (and close the gap before it). None when the writer
    was fenced off (the file is then in quarantine) or, with ``retry``, when the row is there already: a
    retry after a commit whose answer was lost (the connection broke) must not add it twice.

    A database error propagates and leaves the file at its final name: the caller keeps it in its
    backlog (recording/backlog.py) and tries again; after a crash the next start adopts it (`reindex`)."""
    row = _row(key, place.start_ms, place.end_ms, placed.rel, placed.size, placed.digest, codec, recovered,
               writer.node)  # fmt: skip
    try:
        with db.session() as s:
            writer.check(s, key.camera_id)
            if retry and _known(s, key, place.start_ms, placed.rel):
                return None
            return _catalog(s, key, row, place, gap_may_be_open)
    except Fenced as e:
        # Another node records this camera now: this file must never enter the catalog (nor be adopted
        # by a later reindex), but it is footage: kept in quarantine for forensics.
        dest = root / placed.rel
        named = dest.with_name(f"fenced-{key.camera_id}-{dest.name}")
        os.rename(dest, named)
        dest_q = recovery.quarantine(named, layout.Layout(root).quarantine_dir)
        log.warning("%s: %s: segment moved to quarantine as %s", key, e, dest_q.name)
        return None


def _known(s: Session, key: StreamKey, start_ms: int, rel: Path) -> bool:
    """Whether the catalog has this file's row (by the indexed stream and start, then the path)."""
    q = select(Segment.id).where(Segment.camera_id == key.camera_id, Segment.stream == key.stream,
                                 Segment.start_ms == start_ms, Segment.path == str(rel))  # fmt: skip
    return s.scalar(q) is not None


def index_segment(
    db: Database,
    root: Path,
    key: StreamKey,
    partial: Path,
    place: Placement,
    codec: str | None,
    recovered: bool,
    gap_may_be_open: bool = True,
    writer: Writer = LOCAL,
) -> Segment | None:
    """Blocking: `place_file` then `catalog_file` in one go (tools and tests; the recorder runs the two in
    one worker call of its own, ``StreamRecorder._place_and_catalog``, which hands a catalog error back
    instead, to keep the placed file's row in its backlog during an outage). On a catalog error the file
    is put back where the next start recovers it and the error propagates."""
    placed = place_file(root, key, partial, place)
    if placed is None:
        return None
    try:
        return catalog_file(db, root, key, placed, place, codec, recovered, gap_may_be_open, writer)
    except BaseException:
        try:
            os.rename(root / placed.rel, partial)
        except OSError as e:
            log.error("%s: could not move %s back after a catalog error: %s", key, placed.rel, e)
        raise


def _row(key: StreamKey, start_ms: int, end_ms: int, rel: Path, size: int, digest: str, codec: str | None,
         recovered: bool, node: str = "local") -> Segment:  # fmt: skip
    return Segment(camera_id=key.camera_id, stream=key.stream, start_ms=start_ms, end_ms=end_ms, bytes=size,
                   path=str(rel), sha256=digest, codec=codec, recovered=recovered, node=node,
                   location="local", archive_key=None)  # fmt: skip


def _catalog(s: Session, key: StreamKey, row: Segment, place: Placement, gap_may_be_open: bool) -> Segment:
    """Add the row and close (or note) the stream's gap before it."""
    seg = repos.insert_segment(s, row)
    gap = repos.open_gap(s, key.camera_id, key.stream) if gap_may_be_open else None
    if gap is not None:
        gap.end_ms = place.start_ms
        if gap.end_ms <= gap.start_ms:
            s.delete(gap)
        else:  # the recording has a hole: say so (rules may attach it to the outage's alarm)
            hole = {"stream": key.stream, "reason": gap.reason, "start_ms": gap.start_ms, "end_ms": gap.end_ms,
                    "seconds": round((gap.end_ms - gap.start_ms) / 1000, 1)}  # fmt: skip
            repos.add_event(s, "recording.gap", gap.end_ms, key.camera_id, severity="warning", payload=hole)
    elif place.hole_before_ms > 0 and place.reanchored_by_ms:
        s.add(
            Gap(
                camera_id=key.camera_id,
                stream=key.stream,
                start_ms=place.start_ms - place.hole_before_ms,
                end_ms=place.start_ms,
                reason="clock_adjusted",
                detail=f"wall clock moved {place.reanchored_by_ms} ms against the camera's timestamps",
            )
        )
    if place.reanchored_by_ms:
        repos.add_event(
            s,
            "recording.reanchored",
            place.start_ms,
            key.camera_id,
            severity="warning",
            payload={"stream": key.stream, "shift_ms": place.reanchored_by_ms},
        )
    return seg


def adopt(
    db: Database,
    root: Path,
    key: StreamKey,
    rel: Path,
    start_ms: int,
    duration_ms: int,
    codec: str | None,
    node: str = "local",
) -> Segment | None:
    """Blocking. Catalog a complete file already at its final name (see `reindex`); None if known.
    ``node``: whose recordings folder it is in (the cluster node's name; ``local`` on a single box)."""
    size, digest = hash_and_sync(root / rel)
    row = _row(key, start_ms, start_ms + duration_ms, rel, size, digest, codec, recovered=True, node=node)
    with db.session() as s:
        if s.scalar(select(Segment.id).where(Segment.path == str(rel))) is not None:
            return None
        # Gaps are left as they are: the crash that orphaned the file has its own gap after it.
        return repos.insert_segment(s, row)
