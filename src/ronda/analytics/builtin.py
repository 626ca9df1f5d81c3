"""The analysers Ronda ships, by the detector name a camera's settings use (``AnalyticsSettings.detectors``).

Order matters: a worker feeds each frame to a camera's analysers in this order, and later ones read what
earlier ones noted on the frame (``objects`` runs only where ``motion`` saw something).
"""

from __future__ import annotations

from ronda.analytics import motion_analyser, objects
from ronda.analytics.pipeline import AnalyserFactory

BUILTIN: dict[str, AnalyserFactory] = {
    "motion": motion_analyser.factory("UTC"),
    "objects": objects.factory({}),
}
