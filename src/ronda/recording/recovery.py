"""Recovery of segments a crash left behind.

A fragmented MP4 is ``ftyp moov (moof mdat)*``. After a kill -9 the last fragment may be cut off;
everything before it is intact. Recovery truncates the file after the last complete moof+mdat pair;
a file without one complete fragment is quarantined (kept for forensics, never indexed).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path


def complete_length(path: Path) -> int:
    """Byte length of the playable prefix (0 when not even one fragment is complete)."""
    size = path.stat().st_size
    good = 0
    seen_moov = False
    pending_moof = False
    with path.open("rb") as f:
        pos = 0
        while pos + 8 <= size:
            f.seek(pos)
            head = f.read(16)
            box_size, box_type = struct.unpack(">I4s", head[:8])
            if box_size == 1 and len(head) >= 16:
                box_size = struct.unpack(">Q", head[8:16])[0]
            if box_size < 8 or pos + box_size > size:
                break
            if box_type == b"moov":
                seen_moov = True
            elif box_type == b"moof":
                pending_moof = True
            elif box_type == b"mdat" and pending_moof and seen_moov:
                pending_moof = False
                good = pos + box_size
            elif box_type == b"mfra" and good:
                good = pos + box_size
            pos += box_size
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
