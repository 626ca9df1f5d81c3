"""Turning a finished capture file into a catalog row: fsync, hash, rename, index, close gaps.

The catalog row is written only after the file is complete at its final name, so the catalog
never points at a file that is missing or still being written.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ronda.recording.timeline import Placement
from ronda.recording.volume import VolumeError, volume_present
from ronda.store import repos
from ronda.store.db import Database
from ronda.store.models import Gap, Segment

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


@dataclass(slots=True)
class StreamKey:
    camera_id: int
    stream: str

    def __str__(self) -> str:
        return f"camera {self.camera_id}/{self.stream}"


def hash_and_sync(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
        # fsync before the rename: after a power cut the name must never point at lost data.
        os.fsync(f.fileno())
    return size, h.hexdigest()


def final_relpath(key: StreamKey, start_ms: int) -> Path:
    t = datetime.fromtimestamp(start_ms / 1000, tz=UTC)
    name = f"{key.stream}_{t:%Y%m%dT%H%M%S}{start_ms % 1000:03d}Z.mp4"
    return Path(str(key.camera_id)) / f"{t:%Y}" / f"{t:%m}" / f"{t:%d}" / name


def index_segment(
    db: Database,
    root: Path,
    key: StreamKey,
    partial: Path,
    place: Placement,
    codec: str | None,
    recovered: bool,
) -> Segment | None:
    """Blocking (run in a worker thread). Returns the row, or None when the file had no video."""
    if not volume_present(root):
        raise VolumeError(f"{root} is not mounted (no volume marker): the file stays where it is")
    size, digest = hash_and_sync(partial)
    if size == 0:
        partial.unlink(missing_ok=True)
        return None
    rel = final_relpath(key, place.start_ms)
    dest = root / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    n = 1
    while dest.exists():  # two segments starting in the same ms (clamped after a clock step)
        rel = rel.with_name(f"{rel.stem}-{n}.mp4")
        dest = root / rel
        n += 1
    os.rename(partial, dest)
    with db.session() as s:
        seg = repos.add_segment(
            s,
            Segment(
                camera_id=key.camera_id,
                stream=key.stream,
                start_ms=place.start_ms,
                end_ms=place.end_ms,
                bytes=size,
                path=str(rel),
                sha256=digest,
                codec=codec,
                recovered=recovered,
            ),
        )
        gap = repos.open_gap(s, key.camera_id, key.stream)
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
