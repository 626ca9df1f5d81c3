"""Complete recordings the catalog does not know, found on disk and indexed again.

A segment reaches its final name before its catalog row is written (see `segments`). A crash or a
database error between the two leaves a complete, playable file that no search would find. Its
name carries the stream and the start (``main_20261129T101500123Z.mp4``), its length comes from
ffprobe, so it can be indexed again without guessing:

- at every start of a stream, for files newer than the stream's last catalogued segment (at most
  the newest `AT_START`, so that capture is not held up; more means a lost or restored catalog, and
  an event `storage.reindex_needed` asks for the command below);
- over the whole store with ``ronda storage reindex`` (with progress).

A file ffprobe cannot read is moved to the quarantine folder, never deleted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from ronda.recording import ffmpeg, layout, recovery
from ronda.recording.segments import StreamKey, adopt, final_relpath
from ronda.store.db import Database
from ronda.store.models import Segment

log = logging.getLogger(__name__)

QUIET_S = 120.0  # a file written to in the last two minutes may still be on its way into the catalog
AT_START = 20  # files indexed before a stream's capture starts (a crash leaves one); more: `ronda storage reindex`


@dataclass(slots=True)
class Orphan:
    key: StreamKey
    rel: Path  # relative to the recordings root
    start_ms: int


@dataclass(slots=True)
class ReindexReport:
    scanned: int = 0
    adopted: int = 0
    adopted_ms: int = 0
    quarantined: int = 0


parse_name = layout.parse_segment_name


def find_orphans(
    db: Database,
    root: Path,
    camera_id: int,
    stream: str | None = None,
    since_ms: int | None = None,
    quiet_s: float = QUIET_S,
) -> tuple[list[Orphan], int]:
    """Segment files of a camera (one stream, or all) that no catalog row names, and how many were seen.

    With ``since_ms`` only files starting at or after it are looked at (the day folders from its
    day to today); files modified in the last ``quiet_s`` seconds are left alone.
    """
    paths = layout.Layout(root)
    now = time.time()
    found: list[Orphan] = []
    scanned = 0
    # Names of one stream sort by start time: most files of a day are passed over by one comparison.
    floor_name = final_relpath(StreamKey(camera_id, stream), since_ms).name if stream and since_ms else ""
    for day in paths.day_dirs(camera_id, since_ms, int(now * 1000)):
        for f in day.iterdir():
            if f.name < floor_name:
                continue
            parsed = parse_name(f.name)
            if parsed is None or (stream is not None and parsed[0] != stream):
                continue
            if since_ms is not None and parsed[1] < since_ms:
                continue
            scanned += 1
            try:
                if now - f.stat().st_mtime < quiet_s:
                    continue
            except FileNotFoundError:
                continue
            found.append(Orphan(StreamKey(camera_id, parsed[0]), f.relative_to(root), parsed[1]))
    if not found:
        return [], scanned
    low = min(o.start_ms for o in found)
    q = select(Segment.path).where(Segment.camera_id == camera_id, Segment.start_ms >= low)
    if stream is not None:
        q = q.where(Segment.stream == stream)
    with db.session() as s:
        known = set(s.scalars(q))
    orphans = sorted((o for o in found if str(o.rel) not in known), key=lambda o: o.start_ms)
    return orphans, scanned


async def adopt_orphans(
    db: Database,
    root: Path,
    ffprobe: str,
    orphans: Iterable[Orphan],
    codec: str | None = None,
    on_file: Callable[[Orphan], None] | None = None,
    node: str = "local",
) -> ReindexReport:
    """Index each orphan with its probed duration; quarantine what ffprobe cannot read."""
    rep = ReindexReport()
    for o in orphans:
        path = root / o.rel
        dur = await ffmpeg.media_duration_ms(ffprobe, path)
        if dur is None:
            if path.exists():
                dest = await asyncio.to_thread(recovery.quarantine, path, layout.Layout(root).quarantine_dir)
                log.warning("%s: quarantined unreadable segment file %s", o.key, dest.name)
                rep.quarantined += 1
        else:
            seg = await asyncio.to_thread(adopt, db, root, o.key, o.rel, o.start_ms, dur, codec, node)
            if seg is not None:
                rep.adopted += 1
                rep.adopted_ms += dur
                log.warning("%s: indexed %s (%d ms), which the catalog did not know", o.key, o.rel, dur)
        if on_file is not None:
            on_file(o)
    return rep


def split_for_start(orphans: list[Orphan], limit: int = AT_START) -> tuple[list[Orphan], int]:
    """The newest ``limit`` orphans (indexed before capture starts) and how many are left for
    ``ronda storage reindex``."""
    if len(orphans) <= limit:
        return orphans, 0
    return orphans[-limit:], len(orphans) - limit
