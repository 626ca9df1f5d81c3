"""The graffiti analyser on a generated wall (the facade of bus.jpg, tests/analytics/wallclip.py) with the
real detector and tracker in front of it (motion → objects → graffiti, as a worker runs them): strokes
sprayed by a man standing in front of the watched plaster give exactly one ``graffiti.detected`` after
he left, with before/after pictures and his track; a sign torn off while a man stood there is
``damage``; people walking past and stopping there give none; a lighting ramp gives none; a second loop
(the wall clean again, then painted again) re-arms silently and gives one more."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.analytics.scenerun import BASE_MS, run_clip
from tests.analytics.wallclip import ZONE

pytest.importorskip("av")
DETECTORS = ["motion", "objects", "graffiti"]


def _gray(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert img is not None and img.shape == (360, 640)
    return img


def test_strokes_give_one_event_with_before_after_and_the_painter() -> None:
    run = run_clip("strokes", DETECTORS)
    found = run.of("graffiti.")
    assert [e.type for _, e in found] == ["graffiti.detected"], found
    t, e = found[0]
    want = run.truth["expect"][0]
    assert want["after_s"] <= t <= want["before_s"], t
    p = e.payload
    assert p["zone"] == "plaster" and p["kind"] == "marks" and 0.03 < p["area"] < 0.6, p
    who = p["track"]
    stands = run.truth["painter"]["stands"]
    assert who is not None and who["class"] == "person", p
    assert who["first_ms"] - BASE_MS <= stands[0] * 1000 + 1000 and who["last_ms"] - BASE_MS >= stands[1] * 1000 - 1000
    # the box is on the plaster, where the strokes are
    x0, y0, x1, y1 = e.box or (0, 0, 0, 0)
    (zx0, zy0), (zx1, zy1) = ZONE[0], ZONE[2]
    assert zx0 - 0.01 <= x0 < x1 <= zx1 + 0.01 and zy0 - 0.01 <= y0 < y1 <= zy1 + 0.01, e.box
    # before: the clean plaster, after: the paint (darker where the strokes are)
    before, after = _gray(e.images["before"]), _gray(e.images["after"])
    r = (slice(int(y0 * 360) + 4, int(y1 * 360) - 4), slice(int(x0 * 640) + 4, int(x1 * 640) - 4))  # inside the box
    assert (after[r] < 90).mean() > 0.05 > (before[r] < 90).mean(), ((after[r] < 90).mean(), (before[r] < 90).mean())
    assert e.snapshot == e.images["after"] and e.severity == "warning"


def test_a_sign_torn_off_while_a_man_stood_there_is_damage() -> None:
    """The facade's dark sign disappears while a man stands in front of it (half of the watched zone
    changes at once, lighter): one event after he left, ``kind`` damage, with his track."""
    run = run_clip("damage", DETECTORS)
    found = run.of("graffiti.")
    assert [e.type for _, e in found] == ["graffiti.detected"], found
    t, e = found[0]
    want = run.truth["expect"][0]
    assert want["after_s"] <= t <= want["before_s"], t
    assert e.payload["zone"] == "sign" and e.payload["kind"] == "damage" and e.payload["area"] > 0.2, e.payload
    assert e.payload["track"] is not None and e.payload["track"]["class"] == "person"
    assert set(e.images) == {"before", "after"}


@pytest.mark.parametrize("clip", ["passers", "wall_light"])
def test_people_walking_past_and_lighting_give_nothing(clip: str) -> None:
    run = run_clip(clip, DETECTORS)
    assert run.of("graffiti.") == []


def test_people_walking_past_give_nothing_even_unseen_by_the_detector() -> None:
    """Without the objects veto (graffiti alone), passers-by change the wall from look to look and a
    3 s stop is shorter than the hold: still nothing."""
    run = run_clip("passers", ["graffiti"])
    assert run.of("graffiti.") == []


def test_rearms_after_the_event_and_a_cleaned_wall_is_silent() -> None:
    """Two loops: loop 2 starts with the wall clean for 8 s (back to the first reference: no event) and
    is painted again (a second event). The hold is 5 s here, so that the clean wall is seen for longer
    than the hold before the painter comes back."""
    run = run_clip("strokes", DETECTORS, loops=2, graffiti={"hold_seconds": 5})
    times = [round(t, 1) for t, _ in run.of("graffiti.")]
    length = run.truth["seconds"]
    want = run.truth["expect"][0]
    assert len(times) == 2, times
    assert want["after_s"] <= times[0] <= want["before_s"] - 5
    assert want["after_s"] <= times[1] - length <= want["before_s"] - 5
