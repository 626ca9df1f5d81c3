"""Where recordings live on disk: the one module that spells out a recording path.

Under the recordings root (``DATA/recordings`` or a recording volume)::

    .volume-id                               the marker that proves the disk is mounted (volume.py)
    .partial/<camera>-<stream>/<session>_<n>.mp4.partial
                                             segments being written by ffmpeg (live view reads them)
    .quarantine/<name>                       what could not be recovered or indexed (kept, never served)
    .archive-pending/<segment id>            segments being moved to the archive (archive.py)
    <camera>/<YYYY>/<MM>/<DD>/<stream>_<YYYYMMDDTHHMMSSmmm>Z[-n].mp4
                                             completed segments; the catalog stores this relative path

Day folders and names are UTC, so a file's name tells its start to the millisecond and names of one
stream sort by time (reindex relies on both).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

PARTIAL_DIR = ".partial"
QUARANTINE_DIR = ".quarantine"
ARCHIVE_PENDING_DIR = ".archive-pending"
PARTIAL_SUFFIX = ".partial"
_NAME = re.compile(r"^(?P<stream>[A-Za-z0-9]+)_(?P<t>\d{8}T\d{6})(?P<ms>\d{3})Z(?:-\d+)?\.mp4$")


def segment_relpath(camera_id: int, stream: str, start_ms: int, n: int = 0) -> Path:
    """Where a completed segment goes, relative to the root (``n`` > 0: the n-th name clash)."""
    t = datetime.fromtimestamp(start_ms / 1000, tz=UTC)
    name = f"{stream}_{t:%Y%m%dT%H%M%S}{start_ms % 1000:03d}Z" + (f"-{n}" if n else "") + ".mp4"
    return Path(str(camera_id)) / f"{t:%Y}" / f"{t:%m}" / f"{t:%d}" / name


def parse_segment_name(name: str) -> tuple[str, int] | None:
    """(stream, start in epoch ms) from a segment's file name, or None for any other file."""
    m = _NAME.match(name)
    if m is None:
        return None
    try:
        t = datetime.strptime(m["t"], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return m["stream"], int(t.timestamp()) * 1000 + int(m["ms"])


@dataclass(frozen=True, slots=True)
class Layout:
    """The paths of one recordings root."""

    root: Path

    def path(self, rel: str | Path) -> Path:
        """A catalog row's file (``Segment.path`` is relative to the root)."""
        return self.root / rel

    def camera_dir(self, camera_id: int) -> Path:
        return self.root / str(camera_id)

    def day_dirs(self, camera_id: int, since_ms: int | None, until_ms: int) -> Iterator[Path]:
        """A camera's existing day folders, oldest first (all of them without ``since_ms``)."""
        cam_dir = self.camera_dir(camera_id)
        if since_ms is None:
            yield from sorted(p for p in cam_dir.glob("[0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9]") if p.is_dir())
            return
        day = datetime.fromtimestamp(since_ms / 1000, tz=UTC).date()
        last = datetime.fromtimestamp(until_ms / 1000, tz=UTC).date()
        while day <= last:
            d = cam_dir / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}"
            if d.is_dir():
                yield d
            day += timedelta(days=1)

    @property
    def quarantine_dir(self) -> Path:
        return self.root / QUARANTINE_DIR

    @property
    def archive_pending_dir(self) -> Path:
        return self.root / ARCHIVE_PENDING_DIR

    def partial_dir(self, camera_id: int, stream: str) -> Path:
        return self.root / PARTIAL_DIR / f"{camera_id}-{stream}"

    def partial_pattern(self, camera_id: int, stream: str, session: str) -> Path:
        """ffmpeg's segment pattern for one capture session (``%06d``: the segment's number)."""
        return self.partial_dir(camera_id, stream) / f"{session}_%06d.mp4{PARTIAL_SUFFIX}"

    def partials(self, camera_id: int, stream: str, session: str | None = None) -> list[Path]:
        """Files being written (or left by a crash), oldest first; one session's with ``session``."""
        d = self.partial_dir(camera_id, stream)
        return sorted(d.glob(f"{session}_*{PARTIAL_SUFFIX}" if session else f"*{PARTIAL_SUFFIX}"))

    def newest_partial(self, camera_id: int, stream: str) -> Path | None:
        """The file ffmpeg writes now (one directory scan, no stat: live view asks often)."""
        d = self.partial_dir(camera_id, stream)
        try:
            names = sorted(e.name for e in os.scandir(d) if e.name.endswith(PARTIAL_SUFFIX))
        except FileNotFoundError:
            return None
        return d / names[-1] if names else None
