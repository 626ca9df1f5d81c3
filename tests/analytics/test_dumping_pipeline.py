"""Issue 14's dumping acceptance end to end: the generated dumping clip (``tests/analytics/dumpclip.py``)
served by the simulator (``--clip``), recorded by ``ronda serve``, analysed by the worker processes from
the recorder's own fragments (motion → objects → dumping), a rule created through the API turning
``dumping.detected`` into an alarm, and the alarm read back as a user reads it (HTTP API).

Clip time is wall time (``SimulatorProcess.clip_info``): the run lasts until one drop of the bag, at
least 8 s after the start (the background is learnt from the first pictures), has had hold + 3 s and a
margin. Whatever else the loop shows in that time (people standing 8 and 20 s, a parked car, a shadow,
the light ramp, the bag's removal, possibly seen by an analyser that started with the bag in view) must
raise nothing: exactly one alarm, with one event.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from ronda.devices.simcontrol import SimulatorProcess
from ronda.timeutil import parse_iso
from tests.analytics import groundtruth
from tests.analytics.dumpclip import dumping_clip
from tests.analytics.test_dumping import iou
from tests.helpers import RondaProcess, camera_ids, catalog, free_port, wait_for, write_config

pytestmark = pytest.mark.slow
HOLD_S = 10


def dumping_rows(data_dir: Path) -> list[tuple[int, int, dict[str, Any]]]:
    con = sqlite3.connect(f"file:{data_dir / 'ronda.db'}?mode=ro", uri=True, timeout=30)
    try:
        found = con.execute("SELECT id, time_ms, payload FROM events WHERE type LIKE 'dumping.%' ORDER BY id")
        return [(i, ms, json.loads(p) if p else {}) for i, ms, p in found]
    finally:
        con.close()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    clip = dumping_clip()
    truth = groundtruth.load(clip.truth)
    base = tmp_path_factory.mktemp("dumping")
    sim = SimulatorProcess(cameras=1, clips={1: clip.video}, log_dir=base, start_timeout=240)
    sim.start()
    data_dir = base / "data"
    port = free_port()
    cams = [{"name": "Via Roma", "main": {"url": sim.url("cam1")}, "sub": {"url": sim.url("cam1", sub=True)},
             "analytics": {"detectors": ["dumping"], "zones": truth.zones()}}]  # fmt: skip
    cfg = write_config(data_dir, port, cams, analytics={"enabled": True, "workers": 1})
    ronda = RondaProcess(cfg, base / "ronda.log", port)
    ronda.start()
    try:
        cam = camera_ids(data_dir)["Via Roma"]
        token = ronda.login("admin", "admin-test-pw")
        http = httpx.Client(base_url=ronda.base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        r = http.post("/api/v1/rules", json={
            "name": "Illegal dumping", "trigger": {"types": ["dumping.detected"], "sources": ["analytics"]},
            "actions": [{"type": "raise_alarm", "priority": "high", "category": "dumping",
                         "title": "Dumping at {camera_name}"}],
        })  # fmt: skip
        assert r.status_code == 201, r.text
        rule = r.json()["id"]
        wait_for(lambda: catalog(data_dir, cam)[0], 60, what="a segment of the camera")
        t0 = time.time() * 1000
        info = sim.clip_info("cam1")
        drop = truth.doc["drop"]
        drops = groundtruth.wall_intervals([(drop["frame"], drop["frame"])], info, t0 + 8000, t0 + 400_000)
        drop_ms = drops[0][0]
        end = drop_ms + (HOLD_S + 3) * 1000 + 12_000  # the alarm's deadline, and the writer's batch
        time.sleep(max(0.0, (end - time.time() * 1000) / 1000))
        t1 = time.time() * 1000
        alarms = [a for a in http.get("/api/v1/alarms", params={"limit": 100}).json() if a["rule"] == rule]
        details = [http.get(f"/api/v1/alarms/{a['id']}").json() for a in alarms]
        status = http.get(f"/api/v1/cameras/{cam}/analytics/status").json()
        http.close()
        yield {"truth": truth, "info": info, "t0": t0, "t1": t1, "drop_ms": drop_ms, "alarms": details,
               "rows": dumping_rows(data_dir), "status": status, "log": base / "ronda.log"}  # fmt: skip
    finally:
        ronda.close()
        sim.close()


def test_the_drop_gives_exactly_one_alarm_on_time_with_box_carrier_and_clip(run: dict[str, Any]) -> None:
    truth: groundtruth.GroundTruth = run["truth"]
    drop = truth.doc["drop"]
    print(f"status: {run['status']}")
    print(f"dumping events: {run['rows']}")
    assert len(run["alarms"]) == 1, [(a["id"], a["title"], a["event_count"]) for a in run["alarms"]]
    alarm = run["alarms"][0]
    assert alarm["event_count"] == 1 and len(alarm["events"]) == 1, alarm
    assert alarm["priority"] == "high" and alarm["title"] == "Dumping at Via Roma"
    ev = alarm["events"][0]
    assert ev["type"] == "dumping.detected" and ev["severity"] == "warning" and ev["source"] == "analytics"
    at = parse_iso(ev["time"])
    late = (at - run["drop_ms"]) / 1000
    alarm_late = (parse_iso(alarm["created"]) - run["drop_ms"]) / 1000
    print(f"dumping.detected {late:.1f} s after the drop, the alarm {alarm_late:.1f} s after it")
    assert 0 < late <= HOLD_S + 3, late
    p = ev["payload"]
    assert iou(p["box"], drop["box"]) >= 0.5, (p["box"], drop["box"])
    assert ev["snapshot"], "the event has a snapshot with the box drawn"
    walker = next(o for o in truth.objects if o["id"] == drop["carrier"])
    walker_in = groundtruth.frame_ms(run["info"], walker["first_frame"], 0)
    loop_ms = truth.frames * 1000 / truth.fps
    walker_in += round((run["drop_ms"] - groundtruth.frame_ms(run["info"], drop["frame"], 0)) / loop_ms) * loop_ms
    carrier = p["carrier"]
    assert carrier is not None and carrier["class"] == "person", p
    assert abs(carrier["first_ms"] - walker_in) <= 4000, (carrier, walker_in)  # the walker, from his first steps
    assert p["clip"] == {"start_ms": carrier["first_ms"] - 2000, "end_ms": p["since"] + 2000}
    assert p["clip"]["start_ms"] <= walker_in + 2000 and p["clip"]["end_ms"] >= run["drop_ms"]
    assert p["plate"] is None and p["zone"] == "kerb"
    # nothing else: the events table has this one dumping event
    assert [i for i, _, _ in run["rows"]] == [ev["id"]], run["rows"]
    assert "Traceback" not in run["log"].read_text(errors="replace")
