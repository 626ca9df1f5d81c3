"""Recording volumes: the marker file that proves a disk is mounted, and its free space.

If a recording disk is unmounted, its mount point is an empty folder on the root disk. Writing
there would fill the root file system and take the whole box down, so a volume is only used when
its marker file is present.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

MARKER = ".ronda-volume"


class VolumeError(Exception):
    pass


@dataclass(slots=True)
class DiskUsage:
    total: int
    free: int

    @property
    def free_percent(self) -> float:
        return 100.0 * self.free / self.total if self.total else 0.0


def init_volume(path: Path) -> str:
    """Mark a folder as a Ronda recording volume (idempotent); returns its id."""
    path.mkdir(parents=True, exist_ok=True)
    marker = path / MARKER
    if marker.exists():
        return volume_id(path)
    vid = str(uuid.uuid4())
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(json.dumps({"volume_id": vid}))
    os.replace(tmp, marker)
    return vid


def volume_id(path: Path) -> str:
    try:
        return str(json.loads((path / MARKER).read_text())["volume_id"])
    except (OSError, ValueError, KeyError) as e:
        raise VolumeError(f"recording volume {path} has no valid marker file {MARKER}") from e


def ensure_default_volume(path: Path) -> str:
    """The data dir's own recordings folder: created with its marker on first use.

    A folder that exists without a marker is refused: it may be an unmounted disk's mount point.
    """
    if not path.exists():
        return init_volume(path)
    if (path / MARKER).exists():
        return volume_id(path)
    if path.is_dir() and not any(path.iterdir()):
        raise VolumeError(
            f"recording volume {path} is empty and has no marker: is the disk mounted? "
            f"If it is a new disk, run `ronda storage init {path}`"
        )
    raise VolumeError(f"recording volume {path} has no marker file {MARKER}; run `ronda storage init {path}`")


def volume_present(path: Path) -> bool:
    return (path / MARKER).is_file()


def disk_usage(path: Path) -> DiskUsage:
    du = shutil.disk_usage(path)
    return DiskUsage(total=du.total, free=du.free)
