"""The analytics value types every part of ``ronda.analytics`` shares (docs/analytics.md).

Coordinates are normalised to the frame: x and y in 0..1, origin top left, whatever the stream's
resolution, so that zones survive a resolution change and work on main and sub stream alike. Boxes
are ``(x0, y0, x1, y1)`` in the same space.

Motion is kept per camera and per second as a small grid (``GRID_COLS`` × ``GRID_ROWS`` cells, one bit
each, row-major, bit ``row * GRID_COLS + col`` of the little-endian integer the bytes encode): that
is what motion search reads, so searching days of footage is a catalog query, never a decode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

GRID_COLS = 16
GRID_ROWS = 9
GRID_BYTES = (GRID_COLS * GRID_ROWS + 7) // 8  # 18

Box = tuple[float, float, float, float]
Point = tuple[float, float]

DetectorName = Literal["motion", "objects", "dumping", "graffiti", "tamper", "plates"]
ZoneKind = Literal["include", "mask", "dumping", "graffiti", "line"]

# Object classes that matter in a street (COCO names); a model may offer more, a zone may filter.
STREET_CLASSES = ("person", "bicycle", "car", "motorbike", "bus", "truck")


@dataclass(slots=True, frozen=True)
class MotionSecond:
    """What moved in one camera during one second."""

    camera_id: int
    second: int  # epoch seconds: the second starts at second * 1000 ms
    cells: bytes  # GRID_BYTES bytes: the cells where motion was seen at any analysed frame of the second
    level: int  # 0..100: the largest share of the analysed area (in %) that moved in any frame of it


@dataclass(slots=True, frozen=True)
class MotionHit:
    """A run of seconds with motion in a searched region."""

    start_ms: int
    end_ms: int
    score: float  # 0..1: share of the region's cells that moved, at the run's busiest second


@dataclass(slots=True, frozen=True)
class Detection:
    """One object found in one frame by a detector."""

    cls: str  # class name, e.g. "person"
    score: float  # 0..1
    box: Box


@dataclass(slots=True)
class TrackedObject:
    """An object followed across frames; ``track`` is stable for as long as the tracker keeps it."""

    track: int
    cls: str
    score: float
    box: Box
    first_ms: int
    last_ms: int
    zones: set[str] = field(default_factory=set)  # the zones its reference point is in now


def pack_cells(cells: list[tuple[int, int]] | set[tuple[int, int]]) -> bytes:
    """``(col, row)`` pairs → the grid's bytes."""
    bits = 0
    for col, row in cells:
        if 0 <= col < GRID_COLS and 0 <= row < GRID_ROWS:
            bits |= 1 << (row * GRID_COLS + col)
    return bits.to_bytes(GRID_BYTES, "little")


def unpack_cells(data: bytes) -> set[tuple[int, int]]:
    """The grid's bytes → ``(col, row)`` pairs."""
    bits = int.from_bytes(data, "little")
    return {(i % GRID_COLS, i // GRID_COLS) for i in range(GRID_COLS * GRID_ROWS) if bits >> i & 1}


def region_mask(region: Box) -> int:
    """The grid cells a normalised rectangle touches, as an integer bit mask (for searching)."""
    x0, y0, x1, y1 = region
    c0, c1 = int(x0 * GRID_COLS), min(GRID_COLS - 1, int(x1 * GRID_COLS - 1e-9))
    r0, r1 = int(y0 * GRID_ROWS), min(GRID_ROWS - 1, int(y1 * GRID_ROWS - 1e-9))
    mask = 0
    for row in range(max(0, r0), r1 + 1):
        for col in range(max(0, c0), c1 + 1):
            mask |= 1 << (row * GRID_COLS + col)
    return mask
