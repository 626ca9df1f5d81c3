"""Placing segments on the wall-clock timeline.

Inside one capture session the camera's stream timestamps are the truth for durations, so
consecutive segments touch exactly. The wall clock only anchors the session: the segment list line
for a segment arrives when the first packet of the next segment does, so ``now - end_ts`` anchors
the session to within network latency. If the anchor drifts from the wall clock by more than the
allowed skew (camera clock running fast or slow, NTP step), the session is re-anchored; a segment
is never placed before the end of the previous one, so a clock step can never create an overlap.

After a backward step the wall clock cannot say how long a break in recording lasted (it puts the next
session's start before the previous segment's end); the monotonic clock can. So a new session starts no
earlier than the previous segment's end plus the monotonic time elapsed since it was placed (when that
happened in this process): an outage keeps its length in the timeline, even while the footage's times
run ahead of the stepped-back wall clock.

A line that arrives late is not a clock that moved: on a loaded box the segment list can reach the
recorder seconds after ffmpeg wrote it, and re-anchoring on it would put a hole of that delay in the
timeline (a ``clock_adjusted`` gap, no video missing) and every later time off by as much. When the
monotonic clock of each arrival is known, the session re-anchors at once only on what a delay cannot
cause: a wall-clock step (wall minus monotonic moved) or a line arriving early; lateness re-anchors only
once it lasted ``LATE_SEGMENTS`` segments in a row (a camera clock running slow), by the least of them.
"""

from __future__ import annotations

from dataclasses import dataclass

# Lateness that makes a lasting drift, not a delivery delay: this many segments in a row, arriving over
# at least LATE_SPAN_MS of the monotonic clock (a backlog drained at once arrives all within a moment).
LATE_SEGMENTS = 3
LATE_SPAN_MS = 10_000


@dataclass(slots=True)
class Placement:
    start_ms: int
    end_ms: int
    reanchored_by_ms: int = 0  # non-zero when this segment moved the anchor (for an event)
    hole_before_ms: int = 0  # time between the previous segment and this one (needs a gap)
    end_mono_ms: int | None = None  # the monotonic clock at the segment's end, when known


class SessionClock:
    """Anchors one capture session's stream time (seconds) to UTC epoch milliseconds."""

    def __init__(self, floor_ms: int | None, max_skew_ms: int = 1000, floor_mono_ms: int | None = None) -> None:
        self._floor = floor_ms  # end of the last segment of this stream, from any session
        self._floor_mono = floor_mono_ms  # the monotonic clock at that end (None: another process's)
        self._anchor: int | None = None  # epoch ms of stream time 0
        self._max_skew = max_skew_ms
        self._continuing = False  # True once this session has placed a segment
        self._wall_mono: int | None = None  # wall minus monotonic clock when the anchor was set
        self._late: list[tuple[int, int]] = []  # (ms late, monotonic arrival) of consecutive late segments

    @property
    def anchored(self) -> bool:
        return self._anchor is not None

    @property
    def last_end_ms(self) -> int | None:
        return self._floor

    def place(self, start_s: float, end_s: float, received_ms: int, received_mono_ms: int | None = None) -> Placement:
        dur = max(1, int(round((end_s - start_s) * 1000)))
        reanchored = 0
        expected_end = None if self._anchor is None else self._anchor + int(round(end_s * 1000))
        if expected_end is None:
            self._anchor = received_ms - int(round(end_s * 1000))
            if self._floor is not None and self._floor_mono is not None and received_mono_ms is not None:
                # A lower bound of the true start that no wall-clock step moves (the floor's line may
                # have arrived late, never early): it wins only after the wall clock stepped back.
                since_floor = received_mono_ms - self._floor_mono
                self._anchor = max(self._anchor, self._floor + since_floor - int(round(end_s * 1000)))
        else:
            assert self._anchor is not None
            late = received_ms - expected_end
            stepped = (received_mono_ms is None or self._wall_mono is None
                       or abs(received_ms - received_mono_ms - self._wall_mono) > self._max_skew)  # fmt: skip
            if late > self._max_skew and not stepped:
                # Late with the wall clock where it was: a delivery delay, unless it lasts.
                assert received_mono_ms is not None
                self._late.append((late, received_mono_ms))
                if len(self._late) >= LATE_SEGMENTS and received_mono_ms - self._late[0][1] >= LATE_SPAN_MS:
                    reanchored = min(x for x, _ in self._late)
                    self._anchor += reanchored
                    self._late.clear()
            elif abs(late) > self._max_skew:
                new_anchor = received_ms - int(round(end_s * 1000))
                reanchored = new_anchor - self._anchor
                self._anchor = new_anchor
                self._late.clear()
            else:
                self._late.clear()
        if received_mono_ms is not None and (self._wall_mono is None or reanchored):
            self._wall_mono = received_ms - received_mono_ms
        assert self._anchor is not None
        start = self._anchor + int(round(start_s * 1000))
        hole = 0
        if self._floor is not None:
            if start < self._floor:
                # Never overlap the previous segment, even after a backwards clock step.
                start = self._floor
            elif reanchored == 0 and start - self._floor < self._max_skew and self._continuing:
                # Same session, rounding only: keep segments touching.
                start = self._floor
            else:
                hole = start - self._floor
        end = start + dur
        self._floor = end
        self._floor_mono = received_mono_ms
        self._continuing = True
        return Placement(start, end, reanchored, hole, received_mono_ms)

    def place_recovered(self, duration_ms: int, file_mtime_ms: int, end_mono_ms: int | None = None) -> Placement:
        """A crash-recovered segment: it ended when its file was last written. Its last fragment may be
        cut away, so it can look a few ms shorter than the time since the previous segment: within the
        allowed skew it starts where that one ended (no hole that nothing explains)."""
        start = file_mtime_ms - duration_ms
        hole = 0
        if self._floor is not None:
            if start - self._floor < self._max_skew:
                start = self._floor
            else:
                hole = start - self._floor
        end = start + duration_ms
        self._floor = end
        self._floor_mono = end_mono_ms
        return Placement(start, end, 0, hole, end_mono_ms)
