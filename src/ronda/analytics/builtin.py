"""The analysers Ronda ships, by the detector name a camera's settings use (``AnalyticsSettings.detectors``).

Order matters: a worker feeds each frame to a camera's analysers in this order, and later ones read what
earlier ones noted on the frame (``objects`` runs only where ``motion`` saw something; ``graffiti`` reads
the tracks ``objects`` noted).
"""

from __future__ import annotations

from ronda.analytics import motion_analyser, objects
from ronda.analytics.pipeline import AnalyserFactory, FrameAnalyser
from ronda.analytics.plates import analyser as plates
from ronda.analytics.settings import AnalyticsSettings


def _dumping(camera_id: int, settings: AnalyticsSettings) -> FrameAnalyser | None:
    from ronda.analytics import dumping  # numpy and OpenCV: only in the worker processes

    return dumping.factory()(camera_id, settings)


def _graffiti(camera_id: int, settings: AnalyticsSettings) -> FrameAnalyser | None:
    from ronda.analytics import graffiti  # numpy and OpenCV: only in the worker processes

    return graffiti.factory(camera_id, settings)


def _tamper(camera_id: int, settings: AnalyticsSettings) -> FrameAnalyser | None:
    from ronda.analytics import tamper

    return tamper.factory(camera_id, settings)


BUILTIN: dict[str, AnalyserFactory] = {
    "motion": motion_analyser.factory("UTC"),
    "objects": objects.factory({}),
    "dumping": _dumping,  # reads the objects analyser's tracks (person and vehicle vetoes)
    "graffiti": _graffiti,
    "tamper": _tamper,
    "plates": plates.factory(),
}
