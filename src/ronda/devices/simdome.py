"""The simulator's PTZ dome: pan/tilt/zoom mechanics and the picture it sees.

The dome looks at a large still scene (:func:`ronda.devices.simmedia.dome_scene_file`, 3840x2160 raw I420).
Its picture is the part of the scene in view at the current position, cut out here in Python (row slices,
no pixel arithmetic) and scaled to the stream's size by GStreamer's ``videoscale``. The top-left corner of
every picture carries the position as a machine-readable block code, so a test can read pan/tilt/zoom
back from a recorded frame (:func:`read_position_code`).

Positions use ONVIF's generic spaces: pan and tilt in [-1, 1], zoom in [0, 1]. Velocities (continuous
moves) are in [-1, 1] of :data:`MAX_SPEED` units per second; moves to a position (absolute, relative,
presets, home) travel at ``speed`` (0..1] of :data:`MAX_SPEED`, so a move takes a visible moment.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

PAN_LIMITS = (-1.0, 1.0)
TILT_LIMITS = (-1.0, 1.0)
ZOOM_LIMITS = (0.0, 1.0)
LIMITS = (PAN_LIMITS, TILT_LIMITS, ZOOM_LIMITS)
MAX_SPEED = (2.0, 2.0, 1.0)  # units per second at velocity/speed 1 (pan, tilt, zoom)
MAX_PRESETS = 32
MAX_ZOOM = 4.0  # magnification at zoom 1
SCENE_SIZE = (3840, 2160)

CODE_COLUMNS = 40  # a block is 1/40 of the picture width (48 px at 1920, 16 px at 640)
CODE_BITS_PER_ROW = 24
CODE_MARKER = (1, 1, 0, 1)
_Q = (1 << 14) - 1


def _clamp(value: float, limits: tuple[float, float]) -> float:
    return min(max(value, limits[0]), limits[1])


@dataclass(frozen=True, slots=True)
class Position:
    pan: float = 0.0
    tilt: float = 0.0
    zoom: float = 0.0

    def clamped(self) -> Position:
        return Position(_clamp(self.pan, PAN_LIMITS), _clamp(self.tilt, TILT_LIMITS), _clamp(self.zoom, ZOOM_LIMITS))

    def axes(self) -> tuple[float, float, float]:
        return (self.pan, self.tilt, self.zoom)


@dataclass(slots=True)
class _Axis:
    """One axis moving linearly from ``start`` at ``t0``: at ``rate`` units/s until ``t_end``, never
    past ``target`` (moves to a position) nor the limits."""

    start: float
    t0: float
    rate: float = 0.0
    target: float | None = None
    t_end: float | None = None

    def at(self, now: float, limits: tuple[float, float]) -> float:
        t = now if self.t_end is None else min(now, self.t_end)
        value = self.start + self.rate * max(t - self.t0, 0.0)
        if self.target is not None:
            value = min(value, self.target) if self.rate >= 0 else max(value, self.target)
        return _clamp(value, limits)

    def moving(self, now: float, limits: tuple[float, float]) -> bool:
        if self.rate == 0 or (self.t_end is not None and now >= self.t_end):
            return False
        value = self.at(now, limits)
        end = self.target if self.target is not None else (limits[1] if self.rate > 0 else limits[0])
        return abs(value - _clamp(end, limits)) > 1e-9


@dataclass(slots=True)
class Preset:
    token: str
    name: str
    position: Position


@dataclass
class Dome:
    """The mechanics of one dome; every method is thread-safe (ONVIF threads, the media pusher)."""

    home: Position = Position()
    presets: dict[str, Preset] = field(default_factory=dict)
    _axes: list[_Axis] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        now = time.monotonic()
        self._axes = [_Axis(v, now) for v in self.home.axes()]

    def position(self, now: float | None = None) -> Position:
        now = time.monotonic() if now is None else now
        with self._lock:
            return Position(*(a.at(now, lim) for a, lim in zip(self._axes, LIMITS, strict=True)))

    def moving(self) -> tuple[bool, bool]:
        """(pan/tilt moving, zoom moving)"""
        now = time.monotonic()
        with self._lock:
            m = [a.moving(now, lim) for a, lim in zip(self._axes, LIMITS, strict=True)]
        return (m[0] or m[1], m[2])

    def _restart(self, axis: int, now: float, **kw: float | None) -> None:
        current = self._axes[axis].at(now, LIMITS[axis])
        self._axes[axis] = _Axis(current, now, **kw)  # type: ignore[arg-type]

    def continuous(self, velocity: tuple[float | None, float | None, float | None], timeout: float | None) -> None:
        """Move at ``velocity`` ([-1, 1] per axis, None: leave that axis alone) until stopped, the
        limit, or ``timeout`` seconds."""
        now = time.monotonic()
        with self._lock:
            for i, v in enumerate(velocity):
                if v is not None:
                    rate = _clamp(v, (-1.0, 1.0)) * MAX_SPEED[i]
                    self._restart(i, now, rate=rate, t_end=None if timeout is None else now + timeout)

    def move_to(self, target: tuple[float | None, float | None, float | None], speed: float | None = None) -> None:
        """Travel to ``target`` (clamped to the limits; None: that axis stays) at ``speed`` (0..1]."""
        s = 1.0 if speed is None or speed <= 0 else min(speed, 1.0)
        now = time.monotonic()
        with self._lock:
            for i, t in enumerate(target):
                if t is None:
                    continue
                goal = _clamp(t, LIMITS[i])
                current = self._axes[i].at(now, LIMITS[i])
                rate = s * MAX_SPEED[i] * (1 if goal >= current else -1)
                self._axes[i] = _Axis(current, now, rate=rate, target=goal)

    def move_by(self, delta: tuple[float | None, float | None, float | None], speed: float | None = None) -> None:
        here = self.position()
        self.move_to(tuple(None if d is None else h + d for h, d in zip(here.axes(), delta, strict=True)), speed)  # type: ignore[arg-type]

    def stop(self, pan_tilt: bool = True, zoom: bool = True) -> None:
        now = time.monotonic()
        with self._lock:
            for i in range(3):
                if (i < 2 and pan_tilt) or (i == 2 and zoom):
                    self._restart(i, now)

    def set_preset(self, name: str, token: str | None = None) -> str:
        """Store the current position as preset ``name`` (``token`` given: overwrite that preset)."""
        here = self.position()
        with self._lock:
            if token is None:
                if len(self.presets) >= MAX_PRESETS:
                    raise ValueError("too many presets")
                token = f"preset-{uuid.uuid4().hex[:8]}"
            elif token not in self.presets:
                raise KeyError(token)
            self.presets[token] = Preset(token, name or token, here)
        return token

    def remove_preset(self, token: str) -> None:
        with self._lock:
            del self.presets[token]

    def goto_preset(self, token: str, speed: float | None = None) -> None:
        with self._lock:
            target = self.presets[token].position
        self.move_to(target.axes(), speed)

    def set_home(self) -> None:
        self.home = self.position()

    def goto_home(self, speed: float | None = None) -> None:
        self.move_to(self.home.axes(), speed)


# ---------------------------------------------------------------------------------------------- picture


def view_window(pos: Position, scene: tuple[int, int] = SCENE_SIZE) -> tuple[int, int, int, int]:
    """(left, top, width, height) of the scene in view at ``pos``: even offsets (I420 chroma), a width
    that is a multiple of 8."""
    sw, sh = scene
    mag = 1.0 + (MAX_ZOOM - 1.0) * pos.zoom
    w = int(sw / 2 / mag) // 8 * 8  # GStreamer pads I420 rows to 4 bytes: keep rows unpadded
    h = int(w * 9 / 16) // 2 * 2
    cx = sw / 2 + pos.pan * (sw - w) / 2
    cy = sh / 2 - pos.tilt * (sh - h) / 2  # tilt up (positive) looks at the top of the scene
    left = min(max(int(cx - w / 2), 0), sw - w) // 2 * 2
    top = min(max(int(cy - h / 2), 0), sh - h) // 2 * 2
    return left, top, w, h


def position_bits(pos: Position) -> list[int]:
    p = pos.clamped()
    values = (round((p.pan + 1) / 2 * _Q), round((p.tilt + 1) / 2 * _Q), round(p.zoom * _Q))
    bits: list[int] = []
    for v in values:
        bits += [(v >> (13 - i)) & 1 for i in range(14)]
    parity = [sum(bits[:21]) & 1, sum(bits[21:]) & 1]
    return [*CODE_MARKER, *bits, *parity]


def crop_frame(scene: bytes, pos: Position, scene_size: tuple[int, int] = SCENE_SIZE) -> tuple[bytes, int, int]:
    """The I420 picture of ``scene`` in view at ``pos`` with the position code drawn in: (frame, w, h)."""
    sw, sh = scene_size
    left, top, w, h = view_window(pos, scene_size)
    view = memoryview(scene)
    luma = bytearray(b"".join(view[(top + r) * sw + left : (top + r) * sw + left + w] for r in range(h)))
    cw, coff = sw // 2, sw * sh
    planes = []
    for plane in range(2):
        base = coff + plane * cw * (sh // 2)
        starts = [base + (top // 2 + r) * cw + left // 2 for r in range(h // 2)]
        planes.append(bytearray(b"".join(view[s : s + w // 2] for s in starts)))
    # the code: 2 rows of 24 square blocks, each 1/40 of the width, white = 1 on black, neutral chroma
    block = w / CODE_COLUMNS
    bits = position_bits(pos)
    for r in range(2):
        line = bytearray()
        for c in range(CODE_BITS_PER_ROW):
            x1 = round((c + 1) * block)
            line += (b"\xeb" if bits[r * CODE_BITS_PER_ROW + c] else b"\x10") * (x1 - len(line))
        for y in range(round(r * block), round((r + 1) * block)):
            luma[y * w : y * w + len(line)] = line
    half = len(line) // 2 + 1
    for y in range(round(block) + 1):
        for plane_bytes in planes:
            plane_bytes[y * (w // 2) : y * (w // 2) + half] = b"\x80" * half
    return bytes(luma) + bytes(planes[0]) + bytes(planes[1]), w, h


def read_position_code(luma: bytes, width: int) -> Position | None:
    """The position coded in a decoded dome picture (8-bit luma plane, ``width`` px per row), or None
    when the marker or a parity bit does not match. Each block is read at its centre."""
    block = width / CODE_COLUMNS
    bits = []
    for r in range(2):
        y = int((r + 0.5) * block)
        for c in range(CODE_BITS_PER_ROW):
            bits.append(1 if luma[y * width + int((c + 0.5) * block)] > 128 else 0)
    if tuple(bits[:4]) != CODE_MARKER:
        return None
    data = bits[4:46]
    if [sum(data[:21]) & 1, sum(data[21:]) & 1] != bits[46:48]:
        return None
    values = [int("".join(map(str, data[i * 14 : (i + 1) * 14])), 2) for i in range(3)]
    return Position(values[0] / _Q * 2 - 1, values[1] / _Q * 2 - 1, values[2] / _Q)
