"""A camera's analytics settings: the defaults, what is accepted, and clear refusals of bad input (the
same model checks the API body and the YAML block)."""

from __future__ import annotations

from typing import Any

import pytest

from ronda.analytics import repository as repo
from ronda.analytics.settings import AnalyticsSettings
from ronda.errors import Invalid

SQUARE = [[0.1, 0.1], [0.4, 0.1], [0.4, 0.4], [0.1, 0.4]]


def refusal(data: Any) -> str:
    with pytest.raises(Invalid) as e:
        repo.validate_settings(data)
    detail = e.value.detail
    assert isinstance(detail, list) and detail
    return "; ".join(f"{'.'.join(str(p) for p in d['loc'])}: {d['msg']}" for d in detail)


def test_defaults_run_motion_over_the_whole_frame() -> None:
    s = repo.validate_settings({})
    assert s == AnalyticsSettings()
    assert s.detectors == ["motion"] and s.zones == [] and s.stream == "auto"


def test_a_full_setting_is_accepted_and_round_trips() -> None:
    data = {
        "detectors": ["motion", "objects"],
        "stream": "sub",
        "zones": [
            {"name": "street", "kind": "include", "points": SQUARE, "classes": ["car"], "min_score": 0.5},
            {"name": "tree", "kind": "mask", "points": [[0.8, 0], [1, 0], [1, 0.3]]},
            {"name": "gate", "kind": "line", "points": [[0.2, 0.9], [0.8, 0.9]]},
        ],
        "motion": {"fps": 5, "sensitivity": 70, "min_area": 0.01,
                   "schedule": [{"days": [0, 1, 2, 3, 4], "start": "20:00", "end": "06:00"}]},
        "objects": {"min_score": 0.5, "classes": ["person", "car"]},
    }  # fmt: skip
    s = repo.validate_settings(data)
    assert repo.validate_settings(s.model_dump(mode="json")) == s
    assert [z.kind for z in s.zones] == ["include", "mask", "line"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"zones": [{"name": "a", "kind": "include", "points": [[0, 0], [1, 1]]}]}, "at least 3 points, got 2"),
        ({"zones": [{"name": "a", "kind": "include", "points": [[0, 0], [1.5, 0], [1, 1]]}]}, "outside the frame"),
        ({"zones": [{"name": "a", "kind": "include", "points": [[0, 0], [-0.1, 0.5], [1, 1]]}]}, "outside the frame"),
        ({"zones": [{"name": "a", "kind": "mask", "points": [[0, 0], [1, 1], [1, 0], [0, 1]]}]}, "crosses itself"),
        ({"zones": [{"name": "a", "kind": "mask", "points": [[0, 0], [0.005, 0], [0, 0.005]]}]}, "no area"),
        ({"zones": [{"name": "l", "kind": "line", "points": [[0, 0], [1, 1], [0, 1]]}]}, "exactly 2 points"),
        ({"detectors": ["motion", "faces"]}, "detectors.1"),
        ({"zones": [{"name": "a", "kind": "moat", "points": SQUARE}]}, "zones.0.kind"),
        ({"zones": [{"name": "a", "kind": "mask", "points": SQUARE}] * 2}, "zone names must be unique"),
        ({"zones": [{"name": "a", "kind": "mask", "points": SQUARE, "colour": "red"}]}, "zones.0.colour"),
        ({"motoin": {"fps": 5}}, "motoin: Extra inputs are not permitted"),
        ({"motion": {"fps": 100}}, "motion.fps"),
        ({"motion": {"schedule": [{"start": "25:00"}]}}, "not a time of day"),
        ({"stream": "third"}, "stream"),
        ([1, 2], "Input should be a valid dictionary"),
    ],
)
def test_bad_settings_are_refused_with_where_and_why(data: Any, expected: str) -> None:
    assert expected in refusal(data)


def test_graffiti_brings_objects_and_motion_and_its_settings_are_checked() -> None:
    s = repo.validate_settings({"detectors": ["graffiti", "tamper"], "graffiti": {"hold_seconds": 30},
                                "tamper": {"sensitivity": 80, "hold_seconds": 3}})  # fmt: skip
    assert s.detectors == ["motion", "objects", "graffiti", "tamper"]
    assert (s.graffiti.hold_seconds, s.graffiti.sensitivity, s.tamper.sensitivity) == (30, 50, 80)
    assert repo.validate_settings({"detectors": ["tamper"]}).detectors == ["tamper"]  # tamper needs no tracks
    assert "graffiti.hold_seconds" in refusal({"graffiti": {"hold_seconds": 0.5}})
    assert "tamper.sensitivity" in refusal({"tamper": {"sensitivity": 0}})
    assert "tamper.blur" in refusal({"tamper": {"blur": 1}})
