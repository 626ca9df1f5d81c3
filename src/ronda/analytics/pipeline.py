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
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ronda.analytics.model import Box, MotionSecond, TrackedObject
from ronda.analytics.settings import AnalyticsSettings

if TYPE_CHECKING:  # numpy comes with the 'analytics' extra; importing this module must not need it
    import numpy as np

# Event types an analyser may raise (contract.md, Analytics): anything else is refused and counted.
EVENT_PREFIXES = ("motion.", "object.", "dumping.", "graffiti.", "tamper.", "plate.")
IMAGE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,15}$")  # an event's extra image: also part of a file name
MAX_IMAGES = 4


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
    # More JPEGs by name (IMAGE_NAME, e.g. "before", "after"): stored next to the snapshot, named in the
    # payload's "images", served by GET /events/{id}/snapshot.jpg?image=NAME (docs/analytics.md).
    images: Mapping[str, bytes] = field(default_factory=dict, repr=False)


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
