"""A hotlisted plate raises an alarm end to end (issue 14, Plates): pictures of a car carrying a generated
Italian plate go through the shipped analysers as a worker runs them (motion noted, the real YOLOv3-tiny
detector and tracker, the ``plates`` analyser with RapidOCR), the ``plate.read`` they raise goes through
the analytics service's result path into a real ``ronda serve``'s catalog, where the plate is on a
hotlist made through the API; a rule on ``plate.hotlist`` raises the alarm. Nothing is hand-made between
the picture and the alarm but the frames' motion note (the motion analyser's job, tested elsewhere)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from tests.analytics import platesynth
from tests.analytics.platesite import PlateSite, plate_site
from tests.helpers import iso, wait_for

cv2 = pytest.importorskip("cv2")
pytest.importorskip("rapidocr")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlateSite]:
    with plate_site(tmp_path_factory.mktemp("plate-hotlist")) as s:
        yield s


_Picture = platesynth.Picture


def _drive_by(groups: list[str], t0: int) -> list[Any]:
    """The plates analyser's results for 3 s of the car in view, then 6 s of an empty street (5 fps)."""
    from ronda.analytics.builtin import BUILTIN
    from ronda.analytics.pipeline import EventOut, Frame
    from ronda.analytics.settings import AnalyticsSettings

    rng = np.random.default_rng(11)
    scene, (cx, cy, cw, ch) = platesynth.car()
    plate = platesynth.render_plate(groups, platesynth.fonts()[-1], rng)
    img, _ = platesynth.paste(scene, plate, (cx + cw * 0.5, cy + ch * 0.68), 120, rng)
    img = cv2.resize(img, (1280, 544), interpolation=cv2.INTER_AREA)
    empty = cv2.resize(platesynth.plateless()[3], (1280, 544))
    settings = AnalyticsSettings(detectors=["plates"])
    analysers = [BUILTIN[n](1, settings) for n in BUILTIN if n in settings.detectors and n != "motion"]
    out: list[Any] = []
    for i in range(45):
        bgr = img if i < 15 else empty
        frame = Frame(1, t0 + i * 200, _Picture(bgr))
        frame.notes["motion"] = [(0.0, 0.0, 1.0, 1.0)]
        for a in analysers:
            out += [r for r in a.feed(frame) if isinstance(r, EventOut)]
    return out


def test_a_hotlisted_plate_read_from_pictures_raises_an_alarm(site: PlateSite) -> None:
    admin = site.users["admin"]
    text, groups = platesynth.random_plate(np.random.default_rng(2026))
    lst = admin.req("POST", "/api/v1/plate-lists", json={"name": "Rubate", "kind": "hotlist"}).json()
    spaced = f"{text[:2]} {text[2:5]} {text[5:]}"  # as an officer types it
    r = admin.req("POST", f"/api/v1/plate-lists/{lst['id']}/entries", json={"entries": [{"plate": spaced}]})
    assert r.status_code == 201, r.text
    rule = {"name": "stolen car", "enabled": True, "trigger": {"types": ["plate.hotlist"]},
            "actions": [{"type": "raise_alarm", "priority": "high", "title": "Stolen car"}]}  # fmt: skip
    assert admin.req("POST", "/api/v1/rules", json=rule).status_code == 201
    t0 = int(time.time() * 1000)
    results = _drive_by(groups, t0)
    reads = [e for e in results if e.type == "plate.read"]
    assert [e.payload["plate"] for e in reads] == [text], reads
    site.svc._write([("results", (site.cams[2], results))])  # the writer thread's path for a worker's results

    def alarm() -> Any:
        found = [a for a in admin.req("GET", "/api/v1/alarms").json() if a["title"] == "Stolen car"]
        return found[0] if found else None

    a = wait_for(alarm, 20, what="the alarm of the hotlist rule")
    assert a["camera"] == site.cams[2] and a["priority"] == "high"
    detail = admin.req("GET", f"/api/v1/alarms/{a['id']}").json()
    [ev] = detail["events"]
    assert ev["type"] == "plate.hotlist" and ev["payload"]["plate"] == text and ev["payload"]["list"] == "Rubate"
    got = admin.req("GET", "/api/v1/plates", params={"plate": text, "start": iso(t0 - 1000), "end": iso(t0 + 60_000)})
    assert [p["plate"] for p in got.json()] == [text]
    # a plate on no list raises nothing
    other, other_groups = platesynth.random_plate(np.random.default_rng(7))
    assert other != text
    more = _drive_by(other_groups, t0 + 20_000)
    assert [e.payload["plate"] for e in more if e.type == "plate.read"] == [other]
    site.svc._write([("results", (site.cams[2], more))])
    time.sleep(1.0)
    assert len([x for x in admin.req("GET", "/api/v1/alarms").json() if x["title"] == "Stolen car"]) == 1
