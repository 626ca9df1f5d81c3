"""The ``objects`` analyser: the object detector and the tracker on one camera, gated by motion.

Runs in the worker process after the motion analyser (``pipeline.BUILTIN`` keeps that order). The
detector (a YOLO-family ONNX model, ``detector.py``) runs at ``objects.fps`` while the motion analyser
saw something in the last ``HOLD_MS`` (``frame.notes["motion"]``) and while any track is alive: an
object that stops moving (a person loitering, a parked car) stays tracked until it leaves or is lost,
so loitering can fire; a still street costs no inference at all. The tracker (``tracking.py``) turns
detections into stable tracks and zone events; each becomes an :class:`EventOut` (``object.detected``
once per track, ``object.entered``/``object.left`` per include zone, ``object.line_crossed`` with its
direction, ``object.loitering`` once per visit) and a track's end becomes a :class:`TrackEnded`, which
the service stores for object search.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ronda.analytics.model import TrackedObject
from ronda.analytics.pipeline import AnalyserFactory, EventOut, Frame, Result, TrackEnded
from ronda.analytics.settings import AnalyticsSettings

if TYPE_CHECKING:
    from ronda.analytics.detector import Detector
    from ronda.analytics.tracking import ObjectTracker

HOLD_MS = 2000  # after the last motion, the detector still looks this long (a slow walker's pauses)
SNAPSHOT_KINDS = frozenset({"detected", "line_crossed", "loitering"})  # the events worth a picture
_loaded: dict[str, Detector] = {}  # model path → detector, shared by the cameras of one worker process


def _detector(path: Path) -> Detector:
    from ronda.analytics.detector import Detector

    key = str(path)
    if key not in _loaded:
        _loaded[key] = Detector(path, threads=1)
    return _loaded[key]


class ObjectAnalyser:
    def __init__(self, camera_id: int, settings: AnalyticsSettings, detector: Detector) -> None:
        from ronda.analytics.tracking import ObjectTracker

        self.camera_id = camera_id
        self.detector = detector
        self.tracker: ObjectTracker = ObjectTracker(settings.zones, settings.objects)
        self.period_ms = 1000.0 / settings.objects.fps
        self._next_ms = 0.0
        self._motion_until = 0
        self._last_ms: int | None = None

    @property
    def need(self) -> str:
        """Every frame while something moves or is tracked (the tracker needs them close together)."""
        busy = self._last_ms is not None and (self._last_ms < self._motion_until or bool(self.tracker.tracks))
        return "all" if busy else "idle"

    def feed(self, frame: Frame) -> list[Result]:
        """Later analysers read ``frame.notes["objects"]`` (the live tracks after this frame, as
        :class:`TrackedObject` copies) and ``frame.notes["detected"]`` (True when the detector ran on
        this very frame, so a track's box is fresh)."""
        self._last_ms = frame.time_ms
        frame.notes["detected"] = False
        if frame.notes.get("motion"):
            self._motion_until = frame.time_ms + HOLD_MS
        live = self.tracker.tracks
        frame.notes["objects"] = [_copy(t) for t in live]
        if frame.time_ms >= self._motion_until and not live:
            return []
        if frame.time_ms < self._next_ms:
            return []
        self._next_ms = frame.time_ms + self.period_ms
        bgr = frame.bgr()
        found = self.detector.detect(bgr, min_score=self.tracker.detect_floor)
        before = {t.track: t for t in live}
        events = self.tracker.update(found, frame.time_ms)
        out: list[Result] = []
        for e in events:
            snapshot = None
            if e.kind in SNAPSHOT_KINDS:
                from ronda.analytics.snapshot import draw_box

                snapshot = draw_box(bgr, e.box, f"{e.cls} {e.score:.2f}")
            out.append(EventOut(e.type, e.time_ms, e.payload(), e.box, snapshot))
        frame.notes["detected"] = True
        frame.notes["objects"] = [_copy(t) for t in self.tracker.tracks]
        alive = {t.track for t in self.tracker.tracks}
        for track, obj in before.items():
            if track not in alive:
                out.append(TrackEnded(self.camera_id, _copy(obj)))
        return out


def _copy(t: TrackedObject) -> TrackedObject:
    return TrackedObject(t.track, t.cls, t.score, t.box, t.first_ms, t.last_ms, set(t.zones))


def factory(models: Mapping[str, str | Path]) -> AnalyserFactory:
    """The ``objects`` analyser factory for a worker whose configuration names these extra models. A
    model that cannot be loaded raises ``ModelError``: the worker shows it as the camera's last error."""
    from ronda.analytics.models import ModelRegistry

    registry = ModelRegistry(models)

    def make(camera_id: int, settings: AnalyticsSettings) -> ObjectAnalyser:
        return ObjectAnalyser(camera_id, settings, _detector(registry.path(settings.objects.model)))

    return make
