"""ISO-BMFF (MP4) box headers: the one box parser of Ronda.

Recovery (where a crash cut a segment), HLS (where ``ftyp+moov`` ends) and live view (fragments of a
file being written) all walk boxes through this module. It lives with the recorder because the
recorder owns the files; ``media`` builds on it. Every malformed input ends in :class:`BoxError`
(a ``ValueError``), never in ``struct.error`` or ``IndexError``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

Buffer = bytes | bytearray | memoryview


class BoxError(ValueError):
    """The bytes are not the MP4 boxes they should be."""


@dataclass(slots=True, frozen=True)
class Box:
    kind: bytes  # four characters, e.g. b"moof"
    start: int  # offset of the box header
    header: int  # header length: 8, or 16 with a 64-bit size
    size: int  # whole box, header included

    @property
    def end(self) -> int:
        return self.start + self.size

    @property
    def payload(self) -> int:
        return self.start + self.header


def box_header(buf: Buffer, pos: int) -> tuple[bytes, int, int] | None:
    """``(type, header length, box size)`` of the box at ``pos``, or None when the header is incomplete.

    A size of 0 ("to the end of the file") has no place in a fragmented MP4 that is still being
    written, and a size smaller than its own header is corrupt: both raise BoxError."""
    if pos < 0 or len(buf) - pos < 8:
        return None
    size, kind = struct.unpack_from(">I4s", buf, pos)
    header = 8
    if size == 1:
        if len(buf) - pos < 16:
            return None
        (size,) = struct.unpack_from(">Q", buf, pos + 8)
        header = 16
    elif size == 0:
        raise BoxError(f"box {bytes(kind)!r} runs to the end of the file (not a fragmented MP4 box)")
    if size < header:
        raise BoxError(f"box {bytes(kind)!r} has a bad size {size}")
    return bytes(kind), header, size


def iter_boxes(buf: Buffer, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """Complete child boxes in ``buf[start:end]`` as ``(type, payload start, box end)``."""
    end = len(buf) if end is None else min(end, len(buf))
    pos = start
    while pos < end:
        head = box_header(buf, pos)
        if head is None or pos + head[2] > end:
            return
        kind, hlen, size = head
        yield kind, pos + hlen, pos + size
        pos += size


def find_all(buf: Buffer, path: list[bytes], start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Payload ranges of every box along ``path`` (e.g. ``[b"moov", b"trak"]``)."""
    found: list[tuple[int, int]] = []
    for kind, p0, p1 in iter_boxes(buf, start, end):
        if kind != path[0]:
            continue
        if len(path) == 1:
            found.append((p0, p1))
        else:
            found += find_all(buf, path[1:], p0, p1)
    return found


def walk_file(f: BinaryIO, size: int) -> Iterator[Box]:
    """Top-level boxes of an open file of ``size`` bytes, reading only their headers.

    Stops silently at a header cut by the end of the file; a box that claims to run past the end
    is yielded (its ``end`` > ``size``) so the caller can tell a cut box from a complete one."""
    pos = 0
    while pos + 8 <= size:
        f.seek(pos)
        head = box_header(f.read(16), 0)
        if head is None:
            return
        kind, hlen, box_size = head
        yield Box(kind, pos, hlen, box_size)
        pos += box_size


def walk_path(path: Path | str) -> list[Box]:
    """Top-level boxes of a file (headers only)."""
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        return list(walk_file(f, size))
