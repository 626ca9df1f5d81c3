"""Motion detection on decoded frames: changed cells, level, box, per-second records, start/end events.

Pure and synchronous: :class:`MotionDetector` is fed frames (numpy ``uint8``, gray ``H×W`` or BGR
``H×W×3``, any size) with their wall time in ms, in time order, and answers what moved. It owns no
thread, no I/O and no clock, so a worker process can run one per camera and the tests can feed it
synthetic frames (docs/analytics.md, "Motion").

How a frame is judged, all at ~320 px wide (OpenCV, no Python loop over pixels):

1. gray, resized to the analysis size (width 320, height from the aspect ratio), 5×5 blur;
2. the background (a running average with a ~1.5 s time constant, whatever the frame rate) is first
   matched to the frame's brightness with a robust gain/offset fit (quartiles of a sparse sample), so a
   global brightness step or ramp (auto-exposure, a cloud, dusk) leaves no difference;
3. ``|frame - corrected background|`` above a threshold set by ``sensitivity`` (and never below 4 × the
   frame's own noise level, estimated from the median difference) is "changed"; a 3×3 opening removes
   speckle; blobs smaller than a quarter of ``min_area`` are dropped;
4. only pixels inside the include zones (all the frame when there is none) and outside every mask
   count; zones are rasterised once per analysis size (again after a resolution change);
5. a frame moves when the counted area is at least ``min_area`` of the frame; if more than
   ``GLOBAL_CHANGE`` of the whole frame (masks included) changed at once, the frame is a global change
   (lights switched, camera moved, iris) and is vetoed: not motion, the background restarts from it.

Events: ``start`` once ``start_frames`` analysed frames in a row moved (time: the first of them),
``end`` once nothing moved for ``end_quiet_ms`` (time: the last frame that moved); both carry the union
box and the largest level of the event so far. Outside the schedule (site-local time windows) the
detector analyses nothing, records nothing, and ends an open event.

Per second, :class:`MotionSecond` holds the union of changed cells and the largest level; only seconds
with motion are emitted (the catalog stores nothing for still seconds). A frame source that looks less
than once a second during an event (:mod:`ronda.analytics.decode` looks every 2 s by default) leaves
seconds without a frame: up to ``BRIDGE_SECONDS`` of them between two looks that both saw motion are
"bridged" (the union of both looks' cells, the smaller level; counted in ``counts["bridged"]``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Literal, cast

import cv2
import numpy as np
import numpy.typing as npt

from ronda.analytics.model import GRID_COLS, GRID_ROWS, Box, MotionSecond, pack_cells
from ronda.analytics.settings import MotionSettings, TimeWindow, Zone
from ronda.timeutil import zone as tz_zone

ANALYSIS_WIDTH = 320
BACKGROUND_TAU_MS = 1500.0  # time constant of the running-average background (still pixels)
FOREGROUND_TAU_MS = 15000.0  # ... and of changed pixels: how long a stopped object stays "motion"
GLOBAL_CHANGE = 0.5  # share of the whole frame: above it a frame is a global change, not motion
BRIDGE_SECONDS = 2  # at most this many seconds between two looks of one event are bridged
CELL_SHARE = 0.03  # share of a grid cell's analysed pixels that must change for the cell to count
NOISE_FACTOR = 4.0  # the threshold is never below this many noise sigmas

Gray = npt.NDArray[np.uint8]
FrameNeed = Literal["all", "keyframes", "idle"]
"""What the detector needs from its frame source now (see :attr:`MotionDetector.frame_need`)."""


def threshold_for(sensitivity: int) -> float:
    """Gray-level difference that counts as change: 60 at sensitivity 1, ~19 at 50, 6 at 100."""
    s = min(100, max(1, int(sensitivity)))
    return 60.0 * (0.1 ** ((s - 1) / 99))


def analysis_size(width: int, height: int) -> tuple[int, int]:
    """(w, h) the detector works at for a ``width``×``height`` frame: 320 wide, aspect kept, even height."""
    if width <= 0 or height <= 0:
        raise ValueError(f"bad frame size {width}x{height}")
    w = min(ANALYSIS_WIDTH, width)
    h = max(2, int(round(height * w / width / 2)) * 2)
    return w, h


def to_analysis_gray(frame: npt.NDArray[np.uint8]) -> Gray:
    """Any uint8 gray or BGR frame → the blurred-free gray picture at the analysis size."""
    if frame.ndim == 3:
        if frame.shape[2] == 1:
            frame = frame[:, :, 0]
        elif frame.shape[2] == 3:
            frame = cast(Gray, cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
        else:
            raise ValueError(f"unsupported frame shape {frame.shape}: gray HxW or BGR HxWx3")
    elif frame.ndim != 2:
        raise ValueError(f"unsupported frame shape {frame.shape}: gray HxW or BGR HxWx3")
    if frame.dtype != np.uint8:
        raise ValueError(f"unsupported frame dtype {frame.dtype}: uint8")
    h, w = frame.shape
    size = analysis_size(w, h)
    if (w, h) == size:
        return np.ascontiguousarray(frame)
    return cast(Gray, cv2.resize(frame, size, interpolation=cv2.INTER_AREA))


@dataclass(slots=True, frozen=True)
class MotionEvent:
    """``motion.start`` / ``motion.end`` (docs/analytics.md); box normalised, level 0..100."""

    kind: Literal["start", "end"]
    time_ms: int
    box: Box
    level: int


@dataclass(slots=True, frozen=True)
class FrameMotion:
    """What one analysed frame showed."""

    time_ms: int
    moving: bool  # counted area ≥ min_area (and not vetoed)
    level: float  # % of the analysed area that changed (0 when not moving)
    cells: frozenset[tuple[int, int]]  # (col, row) on the 16×9 grid (empty when not moving)
    box: Box | None  # normalised bounding box of the counted change (None when not moving)
    veto: str | None = None  # "global_change", "first_frame", "schedule" when the frame was not judged


@dataclass(slots=True)
class MotionResult:
    """Everything :meth:`MotionDetector.process` has to say about one frame."""

    frame: FrameMotion
    events: list[MotionEvent] = field(default_factory=list)
    seconds: list[MotionSecond] = field(default_factory=list)  # seconds completed by this frame


def in_schedule(windows: Sequence[TimeWindow], time_ms: int, tz: tzinfo) -> bool:
    """Whether ``time_ms`` falls in one of the site-local ``windows`` (an empty list: always).

    A window whose end is before its start spans midnight: it starts on its listed days and its part
    after midnight belongs to the day before.
    """
    if not windows:
        return True
    local = datetime.fromtimestamp(time_ms / 1000, UTC).astimezone(tz)
    minute = local.hour * 60 + local.minute
    day = local.weekday()
    for w in windows:
        start = _minutes(w.start)
        end = _minutes(w.end)
        if start <= end:
            if day in w.days and start <= minute < end:
                return True
        else:
            if day in w.days and minute >= start:
                return True
            if (day - 1) % 7 in w.days and minute < end:
                return True
    return False


def brightness_fit(cur: npt.NDArray[np.float32], bg: npt.NDArray[np.float32]) -> tuple[float, float]:
    """(gain, offset) with ``cur ≈ gain * bg + offset``: the background's quartiles mapped onto the frame's.

    On a sparse sample (every 4th pixel both ways); a moving object covering less than a quarter of the
    frame barely moves the quartiles, so it is not "corrected" away.
    """
    cq = np.percentile(cur[::4, ::4], (25, 50, 75))
    bq = np.percentile(bg[::4, ::4], (25, 50, 75))
    spread = float(bq[2] - bq[0])
    gain = float(cq[2] - cq[0]) / spread if spread > 4.0 else 1.0
    gain = min(2.0, max(0.5, gain))
    return gain, float(cq[1]) - gain * float(bq[1])


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def _union(a: Box | None, b: Box | None) -> Box | None:
    if a is None:
        return b
    if b is None:
        return a
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


class _Raster:
    """Zones rasterised at one analysis size, with the grid-cell geometry."""

    def __init__(self, size: tuple[int, int], zones: Sequence[Zone]) -> None:
        w, h = size
        self.size = size
        includes = [z for z in zones if z.kind == "include"]
        masks = [z for z in zones if z.kind == "mask"]
        if includes:
            area = np.zeros((h, w), np.uint8)
            for z in includes:
                cv2.fillPoly(area, [self._poly(z, w, h)], 255)
        else:
            area = np.full((h, w), 255, np.uint8)
        for z in masks:
            cv2.fillPoly(area, [self._poly(z, w, h)], 0)
        self.area = area
        self.area_px = int(cv2.countNonZero(area))
        # Analysed pixels per grid cell: a cell counts when CELL_SHARE of *its analysed* pixels changed.
        per_cell = cv2.resize(area.astype(np.float32) / 255.0, (GRID_COLS, GRID_ROWS), interpolation=cv2.INTER_AREA)
        self.cell_area = per_cell

    @staticmethod
    def _poly(z: Zone, w: int, h: int) -> npt.NDArray[np.int32]:
        pts = np.array([[x * w, y * h] for x, y in z.points], np.float32)
        return np.round(pts).astype(np.int32).reshape(-1, 1, 2)


class MotionDetector:
    """One camera's motion state. Feed :meth:`process` frames in time order; read events and seconds."""

    def __init__(
        self,
        settings: MotionSettings | None = None,
        zones: Sequence[Zone] = (),
        *,
        camera_id: int = 0,
        timezone: str | tzinfo = "UTC",
        start_frames: int = 2,
        end_quiet_ms: int = 2000,
    ) -> None:
        self.settings = settings or MotionSettings()
        self.zones = [z for z in zones if z.kind in ("include", "mask")]
        self.camera_id = camera_id
        self.tz: tzinfo = tz_zone(timezone) if isinstance(timezone, str) else timezone
        if start_frames < 1:
            raise ValueError("start_frames must be at least 1")
        self.start_frames = start_frames
        self.end_quiet_ms = end_quiet_ms
        self.threshold = threshold_for(self.settings.sensitivity)
        self._raster: _Raster | None = None
        self._bg: npt.NDArray[np.float32] | None = None
        self._last_ms: int | None = None
        self._kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
        self._last_moving: tuple[int, frozenset[tuple[int, int]], float] | None = None  # (second, cells, level)
        self._changed: Gray = np.zeros((1, 1), np.uint8)  # the last judged frame's changed pixels (0/255)
        # event state
        self._run = 0  # consecutive moving frames
        self._run_start_ms = 0
        self._run_box: Box | None = None
        self._run_level = 0.0
        self._in_event = False
        self._event_box: Box | None = None
        self._event_level = 0.0
        self._last_motion_ms = 0
        # per-second state
        self._second: int | None = None
        self._second_cells: set[tuple[int, int]] = set()
        self._second_level = 0.0
        self.counts: dict[str, int] = {
            "frames": 0,
            "moving": 0,
            "global_change": 0,
            "resets": 0,
            "schedule": 0,
            "bridged": 0,
        }

    # ----------------------------------------------------------------------------------------- state
    @property
    def busy(self) -> bool:
        """Something is moving or an event is open: a frame source should deliver every frame it can."""
        return self._in_event or self._run > 0

    @property
    def wants_frames(self) -> bool:
        """Motion was seen but no event started yet: frames *now* decide whether it is one.

        The adaptive frame source (:mod:`ronda.analytics.decode`) decodes every frame only while this is
        true, so an event is confirmed in ``start_frames`` frames at the analysis rate instead of as many
        keyframes; once it runs, a frame per second (the keyframes) is enough to follow and end it.
        """
        return self._run > 0 and not self._in_event

    @property
    def frame_need(self) -> FrameNeed:
        """``all`` while a start is being confirmed (every frame at the analysis rate); ``keyframes``
        during an event (a frame a second keeps the per-second grid whole and finds the end);
        ``idle`` otherwise (a sparse look is enough to notice that something begins)."""
        if self._in_event:
            return "keyframes"
        return "all" if self._run > 0 else "idle"

    @property
    def in_event(self) -> bool:
        return self._in_event

    def reset(self) -> None:
        """Forget the background (e.g. after a gap in the stream); events and seconds stay."""
        self._bg = None
        self._last_ms = None
        self._run = 0
        self._run_box = None
        self._run_level = 0.0
        self._last_moving = None

    # ----------------------------------------------------------------------------------------- frames
    def process(self, frame: npt.NDArray[np.uint8], time_ms: int) -> MotionResult:
        """Judge one frame taken at wall time ``time_ms``."""
        self.counts["frames"] += 1
        out = MotionResult(frame=FrameMotion(time_ms, False, 0.0, frozenset(), None, "schedule"))
        out.seconds.extend(self._roll_second(time_ms))
        if not in_schedule(self.settings.schedule, time_ms, self.tz):
            self.counts["schedule"] += 1
            if self._in_event:
                out.events.append(self._end())
            self.reset()
            return out
        if self._last_ms is not None and time_ms - self._last_ms > 10 * BACKGROUND_TAU_MS:
            self.reset()  # a long gap: the old background says nothing about now
        gray = to_analysis_gray(frame)
        cur = cv2.blur(gray, (5, 5)).astype(np.float32)
        size = (cur.shape[1], cur.shape[0])
        if self._raster is None or self._raster.size != size:
            if self._raster is not None:
                self.counts["resets"] += 1
            self._raster = _Raster(size, self.zones)
            self.reset()
        dt = 0.0 if self._last_ms is None else max(0.0, float(time_ms - self._last_ms))
        self._last_ms = time_ms
        if self._bg is None:
            self._bg = cur
            out.frame = FrameMotion(time_ms, False, 0.0, frozenset(), None, "first_frame")
            out.events.extend(self._quiet(time_ms))
            return out
        fm = self._judge(cur, self._bg, self._raster, time_ms)
        if fm.veto == "global_change":
            self._bg = cur
        else:
            # Selective update: still pixels follow the frame quickly; changed ones only slowly, so a
            # passing object leaves no ghost behind (it never got into the background), while one that
            # stops (a parked car) is absorbed within about FOREGROUND_TAU_MS.
            fast = 1.0 - math.exp(-dt / BACKGROUND_TAU_MS) if dt > 0 else 0.5
            slow = 1.0 - math.exp(-dt / FOREGROUND_TAU_MS) if dt > 0 else 0.05
            fg = cv2.dilate(self._changed, self._kernel)
            cv2.accumulateWeighted(cur, self._bg, fast, mask=cv2.bitwise_not(fg))
            cv2.accumulateWeighted(cur, self._bg, slow, mask=fg)
        out.frame = fm
        if fm.moving:
            self.counts["moving"] += 1
            self._second_cells |= fm.cells
            self._second_level = max(self._second_level, fm.level)
            was_in_event = self._in_event
            out.events.extend(self._moving(fm))
            sec = time_ms // 1000
            if was_in_event and self._last_moving is not None and 1 < sec - self._last_moving[0] <= 1 + BRIDGE_SECONDS:
                out.seconds.extend(self._bridge(self._last_moving, sec, fm))
            self._last_moving = (sec, fm.cells, fm.level)
        else:
            self._last_moving = None
            out.events.extend(self._quiet(time_ms))
        return out

    def flush(self, time_ms: int | None = None) -> MotionResult:
        """The stream ended: close the open second and the open event (at its last motion)."""
        out = MotionResult(frame=FrameMotion(time_ms or self._last_ms or 0, False, 0.0, frozenset(), None, "flush"))
        out.seconds.extend(self._roll_second(None))
        if self._in_event:
            out.events.append(self._end())
        self.reset()
        return out

    # ----------------------------------------------------------------------------------------- internals
    def _judge(
        self, cur: npt.NDArray[np.float32], bg: npt.NDArray[np.float32], r: _Raster, time_ms: int
    ) -> FrameMotion:
        gain, offset = brightness_fit(cur, bg)
        signed = cv2.subtract(cur, bg * gain + offset)
        diff = np.abs(signed)
        # Noise floor: the spread (MAD) of the sampled differences, ≈ 0.67 sigma for Gaussian noise;
        # the spread, not the median, so that a global shift the fit missed does not raise it.
        sample = signed[::4, ::4]
        noise = float(np.median(np.abs(sample - np.median(sample)))) / 0.6745
        thr = max(self.threshold, NOISE_FACTOR * noise)
        changed = cv2.morphologyEx((diff > thr).astype(np.uint8) * 255, cv2.MORPH_OPEN, self._kernel)
        self._changed = cast(Gray, changed)
        w, h = r.size
        frame_px = w * h
        if cv2.countNonZero(changed) > GLOBAL_CHANGE * frame_px:
            self.counts["global_change"] += 1
            return FrameMotion(time_ms, False, 0.0, frozenset(), None, "global_change")
        counted = cv2.bitwise_and(changed, changed, mask=r.area)
        min_px = self.settings.min_area * frame_px
        n, labels, stats, _ = cv2.connectedComponentsWithStats(counted, connectivity=8)
        if n > 1:
            small = stats[1:, cv2.CC_STAT_AREA] < max(2.0, min_px / 4)
            if small.any():
                keep = np.concatenate(([False], ~small))
                counted = keep[labels].astype(np.uint8)
                stats = stats[np.concatenate(([True], ~small))]
        px = int(stats[1:, cv2.CC_STAT_AREA].sum()) if len(stats) > 1 else 0
        if px == 0 or px < min_px or r.area_px == 0:
            return FrameMotion(time_ms, False, 0.0, frozenset(), None)
        x0 = int(stats[1:, cv2.CC_STAT_LEFT].min())
        y0 = int(stats[1:, cv2.CC_STAT_TOP].min())
        x1 = int((stats[1:, cv2.CC_STAT_LEFT] + stats[1:, cv2.CC_STAT_WIDTH]).max())
        y1 = int((stats[1:, cv2.CC_STAT_TOP] + stats[1:, cv2.CC_STAT_HEIGHT]).max())
        box: Box = (round(x0 / w, 4), round(y0 / h, 4), round(x1 / w, 4), round(y1 / h, 4))
        share = cv2.resize((counted > 0).astype(np.float32), (GRID_COLS, GRID_ROWS), interpolation=cv2.INTER_AREA)
        hit = share >= CELL_SHARE * np.maximum(r.cell_area, 1e-6)
        hit &= share > 0
        rows, cols = np.nonzero(hit)
        cells = frozenset(zip(cols.tolist(), rows.tolist(), strict=True))
        level = 100.0 * px / r.area_px
        return FrameMotion(time_ms, True, level, cells, box)

    def _bridge(
        self, last: tuple[int, frozenset[tuple[int, int]], float], sec: int, fm: FrameMotion
    ) -> list[MotionSecond]:
        """Seconds between two looks that both saw motion in the same event (a frame source that looks
        every 2 s during events): the object was in between, so each such second gets the union of the
        two looks' cells and the smaller level, rather than a hole in the per-second record."""
        cells = pack_cells(set(last[1] | fm.cells))
        level = _level(min(last[2], fm.level))
        self.counts["bridged"] += sec - last[0] - 1
        return [MotionSecond(self.camera_id, s, cells, level) for s in range(last[0] + 1, sec)]

    def _moving(self, fm: FrameMotion) -> list[MotionEvent]:
        self._last_motion_ms = fm.time_ms
        if self._in_event:
            self._event_box = _union(self._event_box, fm.box)
            self._event_level = max(self._event_level, fm.level)
            return []
        if self._run == 0:
            self._run_start_ms = fm.time_ms
            self._run_box = None
            self._run_level = 0.0
        self._run += 1
        self._run_box = _union(self._run_box, fm.box)
        self._run_level = max(self._run_level, fm.level)
        if self._run < self.start_frames:
            return []
        self._in_event = True
        self._event_box = self._run_box
        self._event_level = self._run_level
        box = self._event_box or (0.0, 0.0, 1.0, 1.0)
        return [MotionEvent("start", self._run_start_ms, box, _level(self._event_level))]

    def _quiet(self, time_ms: int) -> list[MotionEvent]:
        self._run = 0
        if self._in_event and time_ms - self._last_motion_ms >= self.end_quiet_ms:
            return [self._end()]
        return []

    def _end(self) -> MotionEvent:
        ev = MotionEvent(
            "end", self._last_motion_ms, self._event_box or (0.0, 0.0, 1.0, 1.0), _level(self._event_level)
        )
        self._in_event = False
        self._event_box = None
        self._event_level = 0.0
        self._run = 0
        return ev

    def _roll_second(self, time_ms: int | None) -> list[MotionSecond]:
        sec = None if time_ms is None else time_ms // 1000
        if sec == self._second:
            return []
        done: list[MotionSecond] = []
        if self._second is not None and self._second_cells:
            done.append(
                MotionSecond(self.camera_id, self._second, pack_cells(self._second_cells), _level(self._second_level))
            )
        self._second = sec
        self._second_cells = set()
        self._second_level = 0.0
        return done


def _level(share: float) -> int:
    """0..100, never 0 for a frame that moved."""
    return min(100, max(1, int(math.ceil(share)))) if share > 0 else 0
