"""The tamper analyser on generated clips of a real street photograph (tests/analytics/wallclip.py): a
cloth over the lens, a torch into it, a defocus and a turn each give their event once, with before and
after pictures, and ``tamper.cleared`` when the picture is back; a lighting ramp, a passer-by right at
the lens and a hand over it for 3 s give none."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.analytics.scenerun import run_clip

pytest.importorskip("av")


def _jpeg(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert img is not None and img.shape == (360, 640)
    return img


@pytest.mark.parametrize(("clip", "kind"), [("cover", "covered"), ("blind", "blinded"), ("defocus", "defocused"),
                                            ("turn", "moved")])  # fmt: skip
def test_each_tamper_gives_its_event_once_with_before_and_after(clip: str, kind: str) -> None:
    run = run_clip(clip, ["tamper"])
    got = [(round(t, 1), e.type) for t, e in run.events]
    want = {x["type"]: x for x in run.truth["expect"]}
    assert [ty for _, ty in got] == [f"tamper.{kind}", "tamper.cleared"], got
    for t, e in run.events:
        assert want[e.type]["after_s"] <= t <= want[e.type]["before_s"], (e.type, t)
    t, raised = run.events[0]
    assert raised.payload["kind"] == kind and raised.severity == "warning" and raised.snapshot
    before, after = _jpeg(raised.images["before"]), _jpeg(raised.images["after"])
    lo, hi = run.truth["incident"]
    assert raised.payload["since_ms"] - 1_800_000_000_000 >= lo * 1000  # the incident, not before it
    # "before" is the scene (sharp, contrasted), "after" is the tampered picture
    lap = cv2.Laplacian(before, cv2.CV_32F).var(), cv2.Laplacian(after, cv2.CV_32F).var()
    if kind == "covered":
        assert after.std() < 0.2 * before.std()
    elif kind == "blinded":
        assert (after >= 250).mean() > 0.5 > (before >= 250).mean()
    elif kind == "defocused":
        assert lap[1] < 0.3 * lap[0]
    else:
        assert cv2.matchTemplate(after, before, cv2.TM_CCOEFF_NORMED).max() < 0.5
    cleared = run.events[1][1]
    assert cleared.payload["kind"] == kind and not cleared.payload["relearned"]


@pytest.mark.parametrize("clip", ["light", "close"])
def test_light_ramp_and_a_passer_by_at_the_lens_give_nothing(clip: str) -> None:
    run = run_clip(clip, ["tamper"])
    assert run.of("tamper.") == []


def test_the_hand_over_the_lens_is_tamper_only_when_it_lasts() -> None:
    """The 'close' clip's hand covers the lens for 3 s: under the default hold (5 s) nothing, with a
    2 s hold it is a cover (so the clip does show something the hold is there to ignore)."""
    run = run_clip("close", ["tamper"], tamper={"hold_seconds": 2})
    assert [e.type for _, e in run.events] == ["tamper.covered", "tamper.cleared"]
    assert 24 <= run.events[0][0] <= 28.5


def test_tamper_runs_beside_motion_and_objects_on_the_wall() -> None:
    """The full pipeline on the painted wall (people, paint): no tamper."""
    run = run_clip("strokes", ["motion", "objects", "graffiti", "tamper"])
    assert run.of("tamper.") == [] and len(run.of("graffiti.")) == 1


def test_graffiti_and_tamper_ask_for_no_extra_decoding() -> None:
    """Both look once a second at most: the sparse keyframe looks are enough (the worker decodes every
    frame only while some analyser's ``need`` is ``all``)."""
    from ronda.analytics.builtin import BUILTIN
    from ronda.analytics.settings import AnalyticsSettings

    st = AnalyticsSettings.model_validate({"detectors": ["graffiti", "tamper"], "zones": [
        {"name": "w", "kind": "graffiti", "points": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]}]})  # fmt: skip
    for name in ("graffiti", "tamper"):
        a = BUILTIN[name](1, st)
        assert a is not None and getattr(a, "need", "all") != "all", name
    assert BUILTIN["graffiti"](1, AnalyticsSettings.model_validate({"detectors": ["graffiti"]})) is None  # no zone


def _bus_stop(with_track: bool) -> list[str]:
    """A bus pulls up in front of the camera for 30 s and fills most of the picture (a big dark-red
    side), then leaves. With its track noted by ``objects`` (as the worker notes it) the tamper clock
    does not run; without it, the same pictures are a turned or covered camera."""
    from ronda.analytics.model import TrackedObject
    from ronda.analytics.pipeline import EventOut, Frame
    from ronda.analytics.settings import AnalyticsSettings
    from ronda.analytics.tamper import TamperAnalyser
    from tests.analytics.platesynth import Picture
    from tests.analytics.wallclip import _street_view

    street = _street_view()
    h, w = street.shape[:2]
    side = street.copy()
    side[int(h * 0.1) : int(h * 0.95), :] = (40, 30, 120)  # the bus's flank, edge to edge
    cv2.rectangle(side, (40, int(h * 0.2)), (w - 40, int(h * 0.45)), (60, 60, 60), -1)  # its windows
    box = (0.0, 0.1, 1.0, 0.95)
    analyser = TamperAnalyser(1, AnalyticsSettings(detectors=["tamper"]))
    types: list[str] = []
    base = 1_800_000_000_000
    for i in range(0, 60 * 5):  # 60 s at 5 fps: the bus is there from 10 s to 40 s
        t = i * 200
        there = 10_000 <= t < 40_000
        frame = Frame(1, base + t, Picture(side if there else street))
        if there and with_track:
            frame.notes["objects"] = [TrackedObject(7, "bus", 0.9, box, base + 10_000, base + t)]
        types += [r.type for r in analyser.feed(frame) if isinstance(r, EventOut)]
    return types


def test_a_bus_in_front_of_the_camera_is_no_tamper() -> None:
    assert _bus_stop(with_track=False), "the test's bus must look like tamper without its track"
    assert _bus_stop(with_track=True) == []
