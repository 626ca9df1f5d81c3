"""Recovery of segments a crash left behind.

A fragmented MP4 is ``ftyp moov (moof mdat)*``. After a kill -9 the last fragment may be cut off;
everything before it is intact. Recovery truncates the file after the last complete moof+mdat pair;
a file without one complete fragment is quarantined (kept for forensics, never indexed).
"""

from __future__ import annotations

import os
from pathlib import Path

from ronda.recording import boxes


def complete_length(path: Path) -> int:
    """Byte length of the playable prefix (0 when not even one fragment is complete).

    Reads box headers only. Whatever follows the last complete ``moof``+``mdat`` pair (a cut
    fragment, a box claiming more bytes than the file has, garbage) is not part of the prefix."""
    good = 0
    seen_moov = False
    pending_moof = False
    with path.open("rb") as f:
        size = f.seek(0, os.SEEK_END)
        try:
            for box in boxes.walk_file(f, size):
                if box.end > size:
                    break
                if box.kind == b"moov":
                    seen_moov = True
                elif box.kind == b"moof":
                    pending_moof = True
                elif box.kind == b"mdat" and pending_moof and seen_moov:
                    pending_moof = False
                    good = box.end
                elif box.kind == b"mfra" and good:
                    good = box.end
        except boxes.BoxError:
            pass  # a corrupt header ends the usable part like a cut one
    return good


def truncate_to_complete(path: Path) -> bool:
    """Cut a partial file back to its last complete fragment; False when nothing is usable."""
    good = complete_length(path)
    if good == 0:
        return False
    if good < path.stat().st_size:
        with path.open("r+b") as f:
            f.truncate(good)
            f.flush()
            os.fsync(f.fileno())
    return True


def quarantine(path: Path, quarantine_dir: Path) -> Path:
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    dest = quarantine_dir / path.name
    n = 1
    while dest.exists():
        dest = quarantine_dir / f"{path.name}.{n}"
        n += 1
    os.replace(path, dest)
    return dest
