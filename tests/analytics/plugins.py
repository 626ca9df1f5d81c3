"""Analyser plugins for the runtime's tests, loaded by the workers through ``analytics.plugins``.

Which cameras a plugin takes: ``RONDA_TEST_PLUGIN_CAMERAS`` (comma-separated ids; all when unset). The
misbehaviour is switched by marker files named in the environment, so a test can turn it off again.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ronda.analytics.pipeline import Frame, Result
from ronda.analytics.settings import AnalyticsSettings


def _mine(camera_id: int) -> bool:
    ids = os.environ.get("RONDA_TEST_PLUGIN_CAMERAS")
    return not ids or str(camera_id) in ids.split(",")


class Slow:
    """A detector made deliberately slow: 2 s per frame (while ``RONDA_TEST_SLOW_FILE`` exists, if set)."""

    def __init__(self, seconds: float = 2.0) -> None:
        self.seconds = seconds
        self.marker = os.environ.get("RONDA_TEST_SLOW_FILE")

    def feed(self, frame: Frame) -> list[Result]:
        if self.marker is None or Path(self.marker).exists():
            time.sleep(self.seconds)
        return []


class Crash:
    """Ends the whole worker process at a frame, once per marker file (``RONDA_TEST_CRASH_FILE``)."""

    def feed(self, frame: Frame) -> list[Result]:
        marker = Path(os.environ["RONDA_TEST_CRASH_FILE"])
        if marker.exists():
            marker.unlink()
            os._exit(7)
        return []


class Hang:
    """Never returns from one frame, once per marker file (``RONDA_TEST_HANG_FILE``)."""

    def feed(self, frame: Frame) -> list[Result]:
        marker = Path(os.environ["RONDA_TEST_HANG_FILE"])
        if marker.exists():
            marker.unlink()
            time.sleep(3600)
        return []


def slow(camera_id: int, settings: AnalyticsSettings) -> Slow | None:
    return Slow() if _mine(camera_id) else None


def crash(camera_id: int, settings: AnalyticsSettings) -> Crash | None:
    return Crash() if _mine(camera_id) else None


def hang(camera_id: int, settings: AnalyticsSettings) -> Hang | None:
    return Hang() if _mine(camera_id) else None


class Broken:
    """Raises on every frame."""

    def feed(self, frame: Frame) -> list[Result]:
        raise ValueError(f"bad frame at {frame.time_ms}")


def broken(camera_id: int, settings: AnalyticsSettings) -> Broken | None:
    return Broken() if _mine(camera_id) else None


class ClockReader:
    """Reads the simulator clock camera's time code from every 5th frame analysed and reports it with the
    frame's time, as an event (``motion.clock_check``: a motion type, so the pipeline stores it)."""

    def __init__(self) -> None:
        self.n = 0

    def feed(self, frame: Frame) -> list[Result]:
        from ronda.analytics.pipeline import EventOut
        from ronda.devices.simulator import read_clock_code

        self.n += 1
        gray = frame.gray()
        code = read_clock_code(gray.tobytes(), gray.shape[1])
        if code is None or self.n % 5:
            return []
        return [EventOut("motion.clock_check", frame.time_ms, {"code": code})]


def clock(camera_id: int, settings: AnalyticsSettings) -> ClockReader | None:
    return ClockReader() if _mine(camera_id) else None
