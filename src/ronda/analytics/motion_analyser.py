"""The ``motion`` analyser: :class:`~ronda.analytics.motion.MotionDetector` in the worker pipeline.

Feeds each frame's luma to the detector and turns what it says into results: ``motion.start`` (with a
snapshot and the moving box) and ``motion.end`` events, and the per-second grid records motion search
reads. It notes the moving box on the frame (``frame.notes["motion"]``) for the objects analyser, and
tells the frame source what it needs next (:attr:`need`: every frame while a start is being confirmed,
otherwise a sparse keyframe look; see frames.py).
"""

from __future__ import annotations

from typing import Any

from ronda.analytics.motion import MotionDetector, MotionEvent
from ronda.analytics.pipeline import AnalyserFactory, EventOut, Frame, Result
from ronda.analytics.settings import AnalyticsSettings


class MotionAnalyser:
    def __init__(self, camera_id: int, settings: AnalyticsSettings, timezone: str = "UTC") -> None:
        self.detector = MotionDetector(settings.motion, settings.zones, camera_id=camera_id, timezone=timezone)
        self.all_frames = settings.motion.decode == "all"
        self._start_box: tuple[float, float, float, float] | None = None

    @property
    def need(self) -> str:
        return "all" if self.all_frames else self.detector.frame_need

    def feed(self, frame: Frame) -> list[Result]:
        result = self.detector.process(frame.gray(), frame.time_ms)
        if result.frame.moving and result.frame.box is not None:
            frame.notes["motion"] = [result.frame.box]
        out: list[Result] = list(result.seconds)
        for e in result.events:
            out.append(self._event(e, frame))
        return out

    def _event(self, e: MotionEvent, frame: Frame) -> EventOut:
        payload: dict[str, Any] = {"box": [round(v, 4) for v in e.box], "level": e.level}
        if e.kind == "start":
            return EventOut("motion.start", e.time_ms, payload, e.box, frame.jpeg([e.box]))
        return EventOut("motion.end", e.time_ms, payload, e.box)


def factory(timezone: str) -> AnalyserFactory:
    """The ``motion`` analyser factory for a site in ``timezone`` (schedules are in site time)."""

    def make(camera_id: int, settings: AnalyticsSettings) -> MotionAnalyser:
        return MotionAnalyser(camera_id, settings, timezone)

    return make
