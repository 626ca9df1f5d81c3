"""Steps of the wall clock, seen against the monotonic clock, and the clock retention counts age by.

The wall clock can step (NTP correcting a clock that was off, an operator setting the time, a virtual
machine resumed); the monotonic clock never does. Between two samples both should advance by the same
amount (NTP slewing differs by 0.5 ms/s at most): a larger difference is a step, and the recorder
stores it as a ``system.clock_jump`` event.

Retention must not take a step for the passing of time: a clock set one hour ahead by mistake would
make an hour of footage look older than it is and delete it at once, irreversibly. So retention counts
age by a steady clock (``steady_ms``) that follows the wall clock back at once (deleting less is always
safe) but forward no faster than twice real time: a forward step is absorbed over as long again as
its size, so a mistake corrected within that time costs at most the time it lasted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ronda.timeutil import now_ms

# A difference between the two clocks this large between two samples is a step (the same threshold the
# session clock uses to re-anchor a capture session: recording/timeline.py).
STEP_MS = 1000
# How much faster than real time the steady clock may run while it catches up with a forward step.
CATCH_UP = 1.0


def monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


@dataclass(slots=True, frozen=True)
class ClockStep:
    step_ms: int  # positive: the wall clock jumped forward
    expected_ms: int  # where the wall clock should be had it not stepped
    wall_ms: int  # where it is


class ClockWatch:
    """Call ``sample()`` every second or so; it returns the step seen since the previous sample."""

    def __init__(
        self,
        step_ms: int = STEP_MS,
        wall: Callable[[], int] = now_ms,
        mono: Callable[[], int] = monotonic_ms,
    ) -> None:
        self._threshold = step_ms
        self._wall, self._mono = wall, mono
        self._last_wall = wall()
        self._last_mono = mono()
        self._steady = self._last_wall

    def sample(self) -> ClockStep | None:
        wall, mono = self._wall(), self._mono()
        elapsed = max(0, mono - self._last_mono)
        expected = self._last_wall + elapsed
        self._steady = min(wall, self._steady + int(elapsed * (1 + CATCH_UP)))
        self._last_wall, self._last_mono = wall, mono
        step = wall - expected
        return ClockStep(step, expected, wall) if abs(step) >= self._threshold else None

    @property
    def steady_ms(self) -> int:
        """The wall clock, except that a recent forward step is only partly counted (see the module)."""
        wall = self._wall()
        return min(wall, self._steady + max(0, self._mono() - self._last_mono))
