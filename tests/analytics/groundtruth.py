"""Ground truth of the generated street clip (:mod:`tests.analytics.streetclip`) and scoring against it,
shared by the acceptance tests and ``bench/``.

The truth is in clip frames (0-based, intervals ``[first, last]`` inclusive). A clip served by
``ronda sim --clip`` is on the wall clock: frame ``f`` of loop ``L`` is sent at
``epoch_ms + (L * frames + f) * 1000 / fps`` (``SimulatorProcess.clip_info``), so :func:`wall_intervals`
turns intervals in frames into wall-clock intervals (Unix ms) over a stretch of time, and :func:`recall`
scores detected events (wall-clock intervals) against them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Interval = tuple[float, float]


@dataclass(frozen=True)
class GroundTruth:
    doc: dict[str, Any]

    @property
    def fps(self) -> int:
        return int(self.doc["fps"])

    @property
    def frames(self) -> int:
        return int(self.doc["frames"])

    @property
    def objects(self) -> list[dict[str, Any]]:
        return list(self.doc["objects"])

    def zone(self, kind: str) -> list[list[float]]:
        """The points of the (first) zone of ``kind``: ``include``, ``mask`` or ``line``."""
        for z in self.doc["zones"]:
            if z["kind"] == kind:
                return [list(p) for p in z["points"]]
        raise KeyError(kind)

    def zones(self) -> list[dict[str, Any]]:
        """The zones as ``PUT /api/v1/cameras/{id}/analytics`` takes them."""
        return [dict(z) for z in self.doc["zones"]]

    @property
    def motion_intervals(self) -> list[tuple[int, int]]:
        """Frames during which something moves inside the include zone (merged over objects)."""
        return [(int(a), int(b)) for a, b in self.doc["motion_intervals"]]

    @property
    def lighting_only(self) -> tuple[int, int]:
        a, b = self.doc["lighting_only"]
        return int(a), int(b)

    @property
    def line_crossings(self) -> list[dict[str, Any]]:
        return list(self.doc["line_crossings"])

    def boxes(self, frame: int, cls: str | None = None, min_visible: float = 0.0) -> list[tuple[str, list[float]]]:
        """``[(object id, [x0, y0, x1, y1]), ...]`` of the objects (of class ``cls``) in ``frame``."""
        out = []
        for o in self.doc["objects"]:
            if cls is not None and o["class"] != cls or not o["first_frame"] <= frame <= o["last_frame"]:
                continue
            rows = o["boxes"]
            i = frame - int(rows[0][0])
            row = rows[i] if 0 <= i < len(rows) and rows[i][0] == frame else None
            row = row or next((r for r in rows if r[0] == frame), None)
            if row is not None and row[5] >= min_visible:
                out.append((o["id"], list(row[1:5])))
        return out


def load(path: Path | str) -> GroundTruth:
    return GroundTruth(json.loads(Path(path).read_text()))


def frame_ms(info: Mapping[str, Any], frame: float, loop: int) -> float:
    """Wall-clock ms at which ``frame`` of loop ``loop`` is sent (``info``: the simulator's clip info)."""
    return float(info["epoch_ms"]) + (loop * int(info["frames"]) + frame) * 1000.0 / int(info["fps"])


def wall_intervals(
    intervals: Iterable[tuple[int, int]], info: Mapping[str, Any], start_ms: float, end_ms: float
) -> list[Interval]:
    """Every interval (in clip frames) of every loop of the clip that lies wholly between ``start_ms`` and
    ``end_ms``, as wall-clock ms; an interval's end is the end of its last frame."""
    frames, fps = int(info["frames"]), int(info["fps"])
    first = math.floor((start_ms - float(info["epoch_ms"])) * fps / 1000 / frames) - 1
    last = math.ceil((end_ms - float(info["epoch_ms"])) * fps / 1000 / frames) + 1
    out = []
    for loop in range(max(0, first), last + 1):
        for a, b in intervals:
            wa, wb = frame_ms(info, a, loop), frame_ms(info, b + 1, loop)
            if wa >= start_ms and wb <= end_ms:
                out.append((wa, wb))
    return sorted(out)


def _overlaps(a: Interval, b: Interval, slack_ms: float) -> bool:
    return a[0] - slack_ms <= b[1] and b[0] - slack_ms <= a[1]


def recall(events: Sequence[Interval], truth: Sequence[Interval], slack_ms: float = 1000.0) -> float:
    """Share of the truth intervals that at least one event overlaps (each side widened by ``slack_ms``:
    detectors confirm motion over a few frames and end events after a quiet gap). Events and truth in the
    same time base (wall-clock ms). ValueError when there is no truth to score."""
    if not truth:
        raise ValueError("no ground-truth interval to score against")
    found = sum(1 for t in truth if any(_overlaps(t, e, slack_ms) for e in events))
    return found / len(truth)


def events_during(events: Sequence[Interval], quiet: Sequence[Interval], slack_ms: float = 0.0) -> int:
    """How many events start inside one of the ``quiet`` intervals (e.g. the lighting-only section, where
    nothing moves): each is a false alarm."""
    return sum(1 for e in events if any(q[0] + slack_ms <= e[0] <= q[1] - slack_ms for q in quiet))
