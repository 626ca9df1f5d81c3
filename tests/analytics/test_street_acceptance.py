"""Issue 13's acceptance on the generated street clip (tests/analytics/streetclip.py), through the
analysers the workers run (``analytics.builtin.BUILTIN``: motion, then objects gated by motion), with the
clip's own zones: an include zone over the street, a mask over the swaying tree, a line across the
middle. Frames are decoded with PyAV and scaled to the simulator's sub-stream size (640×360), 5 of the
clip's 15 frames per second, as a camera's default settings ask.

What a user would see is asserted against the clip's ground truth:
- motion events cover every movement in the include zone, and none starts while only the light
  changes or only the masked tree sways;
- people and cars are detected and tracked with one track per crossing;
- the line crossing is counted once per crossing, in the right direction.

The end-to-end path (simulator → recorder → worker processes → events over HTTP) is
``test_street_pipeline.py``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest

from ronda.analytics.builtin import BUILTIN
from ronda.analytics.pipeline import EventOut, Frame, TrackEnded
from ronda.analytics.settings import AnalyticsSettings
from tests.analytics import groundtruth
from tests.analytics.streetclip import street_clip

av = pytest.importorskip("av")

BASE_MS = 1_800_000_000_000
SUB = (640, 360)
EVERY = 3  # 15 fps clip → 5 analysed frames per second (MotionSettings.fps default)


@dataclass
class Run:
    truth: groundtruth.GroundTruth
    events: list[tuple[int, EventOut]]  # (clip frame, event)
    ended: list[TrackEnded]

    def frame_of(self, ms: int) -> float:
        return (ms - BASE_MS) * self.truth.fps / 1000

    def of(self, type: str) -> list[tuple[int, EventOut]]:
        return [(f, e) for f, e in self.events if e.type == type]

    def motion_runs(self) -> list[tuple[float, float]]:
        """Motion episodes in clip frames, from each motion.start to its motion.end."""
        out: list[tuple[float, float]] = []
        start: float | None = None
        for _, e in self.events:
            if e.type == "motion.start":
                start = self.frame_of(e.time_ms)
            elif e.type == "motion.end" and start is not None:
                out.append((start, self.frame_of(e.time_ms)))
                start = None
        if start is not None:
            out.append((start, float(self.truth.frames)))
        return out


def _settings(truth: groundtruth.GroundTruth) -> AnalyticsSettings:
    return AnalyticsSettings.model_validate({"detectors": ["motion", "objects"], "zones": truth.zones()})


@pytest.fixture(scope="module")
def run() -> Run:
    clip = street_clip()
    truth = groundtruth.load(clip.truth)
    settings = _settings(truth)
    analysers = [BUILTIN[name](1, settings) for name in ("motion", "objects")]
    events: list[tuple[int, EventOut]] = []
    ended: list[TrackEnded] = []
    with av.open(str(clip.video)) as container:
        for i, picture in enumerate(container.decode(video=0)):
            if i % EVERY:
                continue
            frame = Frame(1, BASE_MS + round(i * 1000 / truth.fps), picture.reformat(width=SUB[0], height=SUB[1]))
            for a in analysers:
                assert a is not None
                for r in a.feed(frame):
                    if isinstance(r, EventOut):
                        events.append((i, r))
                    elif isinstance(r, TrackEnded):
                        ended.append(r)
    return Run(truth, events, ended)


def _overlaps(a: tuple[float, float], b: tuple[float, float], slack: float) -> bool:
    return a[0] <= b[1] + slack and b[0] <= a[1] + slack


def test_motion_covers_every_movement_in_the_include_zone(run: Run) -> None:
    runs = run.motion_runs()
    missed = [iv for iv in run.truth.motion_intervals if not any(_overlaps(iv, r, 0) for r in runs)]
    assert not missed, f"movements without a motion event: {missed}; motion episodes: {runs}"


def test_no_motion_from_light_or_the_masked_tree(run: Run) -> None:
    """Every motion episode starts during (or just before, by the start's confirmation) a real movement:
    none during the lighting ramp with nothing moving, none from the swaying tree under its mask."""
    slack = run.truth.fps  # one second
    starts = [run.frame_of(e.time_ms) for _, e in run.of("motion.start")]
    false = [s for s in starts if not any(a - slack <= s <= b + slack for a, b in run.truth.motion_intervals)]
    assert not false, f"motion started with nothing moving in the zone at clip frames {false}"
    lo, hi = run.truth.lighting_only
    assert not [s for s in starts if lo <= s <= hi]


def test_people_and_cars_are_tracked_one_track_per_crossing(run: Run) -> None:
    detected = run.of("object.detected")
    per_object: dict[str, set[int]] = {}
    for o in run.truth.objects:
        tracks = {int(e.payload["track"]) for f, e in detected
                  if e.payload["class"] == o["class"] and o["first_frame"] <= f <= o["last_frame"]}  # fmt: skip
        per_object[o["id"]] = tracks
    summary = {k: sorted(v) for k, v in per_object.items()}
    assert all(len(t) == 1 for t in per_object.values()), f"tracks per crossing object: {summary}"
    classes = Counter(e.payload["class"] for _, e in detected)
    expected = Counter(o["class"] for o in run.truth.objects)
    assert classes == expected, f"object.detected per class {dict(classes)}, crossings {dict(expected)}"
    for _, e in detected:  # the contract's payload
        p: dict[str, Any] = e.payload
        assert set(p) >= {"class", "score", "box", "track"} and 0 < p["score"] <= 1 and e.snapshot
        x0, y0, x1, y1 = p["box"]
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1


def test_line_crossed_once_per_crossing_in_its_direction(run: Run) -> None:
    """The line goes down the middle of the street, drawn top to bottom: 'in' is the walker's left
    walking that way, i.e. the right half of the picture: a left-to-right crossing is 'in'."""
    want = Counter((c["class"], "in" if c["direction"] == "left_to_right" else "out") for c in run.truth.line_crossings)
    got = Counter((e.payload["class"], e.payload["direction"]) for _, e in run.of("object.line_crossed"))
    assert got == want


def test_every_track_ends_with_its_record(run: Run) -> None:
    """What object search stores: each track's end, with a time span inside its object's crossing."""
    assert len(run.ended) >= len(run.truth.objects) - 1  # the last one may still be in view at the clip's end
    for t in run.ended:
        assert t.obj.first_ms <= t.obj.last_ms and t.obj.cls in {"person", "car"}
