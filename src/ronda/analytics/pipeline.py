"""What the analytics runtime hands an analyser and what it takes back (docs/analytics.md, Pipeline).

The runtime (frames.py, worker.py, service.py) decodes a camera's frames in a worker process and
feeds each sampled :class:`Frame` to the camera's analysers, in order. An analyser is anything with
``feed(frame) -> results`` (:class:`FrameAnalyser`); it runs in the worker process, on the camera's
analysis thread, and may take its time: frames that arrive meanwhile are dropped and counted, never
queued without bound. What it returns travels to the main process, which stores it:

* :class:`~ronda.analytics.model.MotionSecond` rows → the motion catalog (``store_motion``);
* :class:`EventOut` → an ``events`` row (``repos.add_events``) and its snapshot file.

Analysers come from factories (:data:`AnalyserFactory`): the built-in ones by detector name
(``AnalyticsSettings.detectors``), and plugins named in the configuration (``analytics.plugins``:
``"package.module:factory"``), which run on every camera they accept. A factory is called in the
worker with the camera's id and settings and returns an analyser, or None to leave the camera alone.
Earlier analysers can leave notes on the frame for later ones (``frame.notes["motion"]``: the boxes
that moved, so an object detector runs only on motion).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ronda.analytics.model import GRID_COLS, GRID_ROWS, Box, MotionSecond, TrackedObject, pack_cells
from ronda.analytics.settings import AnalyticsSettings

if TYPE_CHECKING:  # numpy comes with the 'analytics' extra; importing this module must not need it
    import numpy as np

# Event types an analyser may raise (contract.md, Analytics): anything else is refused and counted.
EVENT_PREFIXES = ("motion.", "object.", "dumping.", "graffiti.", "tamper.", "plate.")


class Picture(Protocol):
    """The decoded picture behind a frame (a PyAV ``VideoFrame`` in the worker)."""

    width: int
    height: int

    def to_ndarray(self, **kwargs: Any) -> Any: ...


@dataclass(slots=True)
class Frame:
    """One decoded, sampled picture of a camera. Conversions are made on first use and kept."""

    camera_id: int
    time_ms: int  # estimated capture time (wall clock, epoch ms)
    picture: Picture
    notes: dict[str, Any] = field(default_factory=dict)
    _gray: np.ndarray | None = None
    _bgr: np.ndarray | None = None

    @property
    def width(self) -> int:
        return int(self.picture.width)

    @property
    def height(self) -> int:
        return int(self.picture.height)

    def gray(self) -> np.ndarray:
        """Luma, ``height × width`` uint8 (no colour conversion: the decoder's Y plane)."""
        import numpy as np

        if self._gray is None:
            self._gray = np.asarray(self.picture.to_ndarray(format="gray"))
        return self._gray

    def bgr(self) -> np.ndarray:
        """``height × width × 3`` uint8, OpenCV's channel order."""
        import numpy as np

        if self._bgr is None:
            self._bgr = np.asarray(self.picture.to_ndarray(format="bgr24"))
        return self._bgr

    def jpeg(self, boxes: Iterable[Box] = (), quality: int = 80) -> bytes:
        """The frame as a JPEG, with ``boxes`` (normalised) drawn: an event's snapshot."""
        import cv2

        img = self.bgr().copy()
        w, h = self.width, self.height
        for x0, y0, x1, y1 in boxes:
            cv2.rectangle(img, (int(x0 * w), int(y0 * h)), (int(x1 * w), int(y1 * h)), (0, 0, 255), 2)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise ValueError("JPEG encoding failed")
        return bytes(buf)


@dataclass(slots=True, frozen=True)
class EventOut:
    """An event an analyser raises; stored as an ``events`` row with ``source="analytics"``."""

    type: str  # e.g. "motion.start", "object.detected" (EVENT_PREFIXES)
    time_ms: int
    payload: dict[str, Any]
    box: Box | None = None  # normalised [x0, y0, x1, y1]; also put in the payload as "box"
    snapshot: bytes | None = field(default=None, repr=False)  # JPEG
    severity: str = "info"


@dataclass(slots=True, frozen=True)
class TrackEnded:
    """A tracked object is gone (left the picture or lost): stored for object search."""

    camera_id: int
    obj: TrackedObject


Result = MotionSecond | EventOut | TrackEnded


class FrameAnalyser(Protocol):
    def feed(self, frame: Frame) -> Iterable[Result]:
        """Analyse one frame; return what it found (may be nothing)."""
        ...


AnalyserFactory = Callable[[int, AnalyticsSettings], FrameAnalyser | None]


class PluginError(ValueError):
    """A configured plugin cannot be loaded (the message says which and why)."""


def load_plugin(spec: str) -> AnalyserFactory:
    """``"package.module:factory"`` (or ``"package.module.factory"``) → the factory it names."""
    mod_name, sep, attr = spec.partition(":")
    if not sep:
        mod_name, _, attr = spec.rpartition(".")
    if not mod_name or not attr:
        raise PluginError(f"analytics plugin {spec!r}: expected 'package.module:factory'")
    try:
        module = importlib.import_module(mod_name)
    except Exception as e:  # an import error of any kind is the plugin's, reported with its name
        raise PluginError(f"analytics plugin {spec!r}: cannot import {mod_name}: {type(e).__name__}: {e}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise PluginError(f"analytics plugin {spec!r}: {mod_name} has no callable {attr!r}")
    return factory


class FrameDifference:
    """Built-in stand-in motion analyser: the difference to the previous analysed frame on a small
    grey picture. Enough for the pipeline's own tests and as a fallback; ``analytics/motion.py``
    is the real detector (zones, masks, lighting changes)."""

    SMALL = (GRID_COLS * 10, GRID_ROWS * 10)  # 160 × 90: one cell is 10 × 10 pixels
    END_AFTER_MS = 2000

    def __init__(self, camera_id: int, settings: AnalyticsSettings) -> None:
        import numpy as np

        self.camera_id = camera_id
        self.threshold = max(4, int(60 - settings.motion.sensitivity * 0.5))
        self.min_area = settings.motion.min_area
        self._prev: np.ndarray | None = None
        self._second: int | None = None
        self._cells = np.zeros((GRID_ROWS, GRID_COLS), dtype=bool)
        self._level = 0
        self._active_since: int | None = None
        self._last_motion = 0
        self._box: Box | None = None
        self._size: tuple[int, int] | None = None

    def feed(self, frame: Frame) -> list[Result]:
        import cv2
        import numpy as np

        out: list[Result] = []
        small = cv2.resize(frame.gray(), self.SMALL, interpolation=cv2.INTER_AREA).astype(np.int16)
        prev, self._prev = self._prev, small
        if (frame.width, frame.height) != self._size:
            # Another stream set-up (resolution): nothing to compare with; an episode under way ends.
            self._size, prev = (frame.width, frame.height), None
            if self._active_since is not None:
                out.append(self._end())
        second = frame.time_ms // 1000
        if self._second is not None and second != self._second and self._cells.any():
            cells = {(int(c), int(r)) for r, c in zip(*np.nonzero(self._cells), strict=True)}
            out.append(MotionSecond(self.camera_id, self._second, pack_cells(cells), self._level))
            self._cells[:] = False
            self._level = 0
        self._second = second
        if prev is None or prev.shape != small.shape:
            return out  # first frame, or a new picture size: nothing to compare with
        moved = np.abs(small - prev) > self.threshold
        share = float(moved.mean())
        if share >= max(self.min_area, 1e-9):
            cells = moved.reshape(GRID_ROWS, 10, GRID_COLS, 10).any(axis=(1, 3))
            self._cells |= cells
            self._level = max(self._level, min(100, round(share * 100)))
            ys, xs = np.nonzero(moved)
            w, h = self.SMALL
            box = (float(xs.min()) / w, float(ys.min()) / h, float(xs.max() + 1) / w, float(ys.max() + 1) / h)
            self._box = box
            self._last_motion = frame.time_ms
            frame.notes["motion"] = [box]
            if self._active_since is None:
                self._active_since = frame.time_ms
                payload: dict[str, Any] = {"box": list(box), "zone": None}
                out.append(EventOut("motion.start", frame.time_ms, payload, box, frame.jpeg([box])))
        elif self._active_since is not None and frame.time_ms - self._last_motion >= self.END_AFTER_MS:
            out.append(self._end())
        return out

    def _end(self) -> EventOut:
        assert self._active_since is not None
        payload = {"box": list(self._box or (0.0, 0.0, 1.0, 1.0)), "zone": None,
                   "duration_ms": self._last_motion - self._active_since}  # fmt: skip
        self._active_since = None
        return EventOut("motion.end", self._last_motion, payload, self._box)
