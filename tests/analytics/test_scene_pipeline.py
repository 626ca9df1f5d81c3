"""Graffiti end to end (issue 14): the generated painted-wall clip (tests/analytics/wallclip.py) served by
the simulator (``--clip``), recorded by ``ronda serve``, analysed by the worker processes from the
recorder's own fragments (motion → objects → graffiti, and tamper beside them), a rule on
``graffiti.detected`` raising an alarm, and the event's before/after pictures fetched over HTTP the way
the client would. The clip loops every 60 s: a painter stands in front of the watched plaster while
strokes appear, then leaves; the marks stay until the loop starts again."""

from __future__ import annotations

import time
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from ronda.devices.simcontrol import SimulatorProcess
from ronda.timeutil import parse_iso
from tests.analytics.test_street_pipeline import rows
from tests.analytics.wallclip import ZONE, wall_clip
from tests.helpers import RondaProcess, camera_ids, catalog, free_port, wait_for, write_config

pytestmark = pytest.mark.slow


def _gray(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert img is not None
    return img


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Any:
    clip = wall_clip("strokes")
    truth = clip.load()
    base = tmp_path_factory.mktemp("wall")
    sim = SimulatorProcess(cameras=1, clips={1: clip.video}, log_dir=base, start_timeout=240)
    sim.start()
    data_dir = base / "data"
    port = free_port()
    # a 5 s hold (default 10): the clean wall at each loop's start (0-8 s, before the painter comes) is then
    # seen as "cleaned" and every loop paints it again, so that a loop the analytics saw whole comes soon
    analytics = {"detectors": ["motion", "objects", "graffiti", "tamper"], "zones": truth["zones"],
                 "graffiti": {"hold_seconds": 5}}  # fmt: skip
    cams = [{"name": "Wall", "main": {"url": sim.url("cam1")}, "sub": {"url": sim.url("cam1", sub=True)},
             "analytics": analytics}]  # fmt: skip
    cfg = write_config(data_dir, port, cams, analytics={"enabled": True, "workers": 1})
    ronda = RondaProcess(cfg, base / "ronda.log", port)
    ronda.start()
    try:
        cid = camera_ids(data_dir)["Wall"]
        wait_for(lambda: catalog(data_dir, cid)[0], 60, what="a segment of the wall camera")
        http = httpx.Client(base_url=ronda.base, timeout=30,
                            headers={"Authorization": f"Bearer {ronda.login('admin', 'admin-test-pw')}"})  # fmt: skip

        def analysing() -> bool:
            st = http.get(f"/api/v1/cameras/{cid}/analytics/status").json()
            return st["state"] == "running" and st["fps"] > 0

        wait_for(analysing, 120, what="the wall camera analysed")
        armed_ms = time.time() * 1000  # the graffiti zone learnt its look by now
        rule = {"name": "Graffiti on the wall", "trigger": {"types": ["graffiti.detected"], "cameras": [cid]},
                "actions": [{"type": "raise_alarm", "priority": "high", "category": "vandalism",
                             "title": "Graffiti on {camera_name}", "incident": "graffiti:{camera}",
                             "dedupe_window_s": 0}]}  # fmt: skip
        r = http.post("/api/v1/rules", json=rule)
        assert r.status_code == 201, r.text
        yield {"http": http, "cid": cid, "data_dir": data_dir, "log": base / "ronda.log", "truth": truth,
               "info": sim.clip_info("cam1"), "armed_ms": armed_ms}  # fmt: skip
        http.close()
    finally:
        ronda.close()
        sim.close()


def test_graffiti_raises_an_alarm_with_before_and_after_over_http(site: dict[str, Any]) -> None:
    http: httpx.Client = site["http"]
    cid = site["cid"]

    def alarm() -> dict[str, Any] | None:
        found = [a for a in http.get("/api/v1/alarms", params={"camera": cid}).json() if a["category"] == "vandalism"]
        return found[0] if found else None

    # a whole loop (60 s) plus the hold after the painter leaves, the first loop's learning and latency
    wait_for(alarm, 200, what="a graffiti alarm", interval=2.0)
    a = alarm()
    assert a is not None and a["title"] == "Graffiti on Wall" and a["priority"] == "high"
    detail = http.get(f"/api/v1/alarms/{a['id']}").json()
    events = [e for e in detail["events"] if e["type"] == "graffiti.detected"]
    assert len(events) == 1, detail["events"]
    ev = events[0]
    p = ev["payload"]
    assert p["zone"] == "plaster" and p["images"] == ["after", "before"], p
    assert p["track"] is not None and p["track"]["class"] == "person", p  # the painter
    # when: after the painter left (clip 27 s) + the hold, in the loop it happened
    info = site["info"]
    loop_ms = info["frames"] * 1000 / info["fps"]

    def in_loop(event: dict[str, Any]) -> float:
        return ((parse_iso(event["time"]) - info["epoch_ms"]) % loop_ms) / 1000

    want = site["truth"]["expect"][0]
    assert want["after_s"] <= in_loop(ev) <= want["before_s"] + 4, in_loop(ev)  # + the recorder's and workers' latency

    # the pictures: of a loop the analytics saw from its start. In the loop it was started in, the zone
    # learnt its look whenever that was (the strokes half done, the painter there): that look is then
    # the "before" by design, and the next loop's event has the clean wall.
    def whole_loop_event() -> dict[str, Any] | None:
        found = http.get("/api/v1/events", params={"camera": cid, "type": "graffiti.detected"}).json()
        # (the painting's event: after a loop that began mid-stroke, the wall going back from the finished
        # strokes to clean at the next loop's start is a change the detector reports too)
        return next((e for e in reversed(found)
                     if parse_iso(e["time"]) - in_loop(e) * 1000 >= site["armed_ms"] - 5000
                     and want["after_s"] <= in_loop(e) <= want["before_s"] + 4), None)  # fmt: skip

    try:
        ev, whole = wait_for(whole_loop_event, 75, what="a graffiti event of a loop seen whole", interval=2.0), True
    except AssertionError:
        # The zone learnt its look with the strokes under way, and the looping clip then reads as "cleaned,
        # then painted the same again": a surface back to its earlier look is restored without an event, by
        # design (graffiti.py). The alarm's own painting event is then the one to look at.
        whole = False
    p = ev["payload"]
    images = {}
    for name in (None, "before", "after"):
        r = http.get(f"/api/v1/events/{ev['id']}/snapshot.jpg", params={"image": name} if name else None)
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg", (name, r.status_code)
        images[name] = _gray(r.content)
    assert images[None].shape == images["after"].shape == images["before"].shape
    h, w = images["after"].shape
    (zx0, zy0), (zx1, zy1) = ZONE[0], ZONE[2]
    x0, y0, x1, y1 = p["box"]
    assert zx0 - 0.02 <= x0 < x1 <= zx1 + 0.02 and zy0 - 0.02 <= y0 < y1 <= zy1 + 0.02, p["box"]
    r = (slice(int(y0 * h) + 4, int(y1 * h) - 4), slice(int(x0 * w) + 4, int(x1 * w) - 4))
    dark_after, dark_before = (images["after"][r] < 90).mean(), (images["before"][r] < 90).mean()
    if whole:
        assert dark_after > 0.05 > dark_before, (dark_after, dark_before)  # the paint is on "after" only
    else:  # "before" is the half-painted wall the zone learnt: the event's strokes are on "after" only
        assert dark_after > 0.05 and dark_after > dark_before + 0.05, (dark_after, dark_before)
    # nothing else went wrong on the way
    assert not [t for _, t, _, _ in rows(site["data_dir"], "tamper.")], "tamper on a camera nobody touched"
    log = site["log"].read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]
