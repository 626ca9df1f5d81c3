"""ONVIF end to end, on real parts: the simulator's ONVIF devices (a PTZ dome and a fixed camera), a real
``ronda serve`` that discovers them, adds the dome by ONVIF, records its main and sub streams, pulls its
events, and a dome move seen in the recorded frames."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ronda.devices.simcontrol import SimulatorProcess
from ronda.devices.simdome import read_position_code
from ronda.devices.simulator import ONVIF_PASSWORD, ONVIF_USER
from tests.helpers import RondaProcess, catalog, free_port, wait_for, write_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorProcess]:
    logs = tmp_path_factory.mktemp("onvif-sim")
    with SimulatorProcess(cameras=2, onvif=True, dome=True, discovery_port=3702, log_dir=logs) as s:
        yield s


@pytest.fixture(scope="module")
def ronda(tmp_path_factory: pytest.TempPathFactory, sim: SimulatorProcess) -> Iterator[RondaProcess]:
    base = tmp_path_factory.mktemp("onvif-ronda")
    port = free_port()
    config = write_config(base / "data", port, [], ptz={"session_timeout_seconds": 2})
    proc = RondaProcess(config, base / "ronda.log", port)
    proc.data_dir = base / "data"  # type: ignore[attr-defined]
    proc.start()
    try:
        yield proc
    finally:
        proc.close()


@pytest.fixture(scope="module")
def dome(ronda: RondaProcess, sim: SimulatorProcess) -> dict[str, Any]:
    body = {"name": "Dome", "onvif": {"address": sim.onvif_url(1), "username": ONVIF_USER, "password": ONVIF_PASSWORD}}
    r = ronda.api("POST", "/api/v1/cameras", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_discover_then_add_the_dome(ronda: RondaProcess, sim: SimulatorProcess) -> None:
    r = ronda.api("GET", "/api/v1/onvif/discover", params={"target": "127.0.0.1", "timeout": 2})
    assert r.status_code == 200, r.text
    found = {d["address"]: d for d in r.json()}
    assert {sim.onvif_url(1), sim.onvif_url(2)} <= set(found), found
    added = {c.get("onvif_address") for c in ronda.api("GET", "/api/v1/cameras").json()}
    for n in (1, 2):  # (in any order of the tests: the dome may be added already)
        assert found[sim.onvif_url(n)]["added"] is (sim.onvif_url(n) in added), (n, found, added)
    assert found[sim.onvif_url(1)]["manufacturer"]

    body = {"name": "Wrong", "onvif": {"address": sim.onvif_url(2), "username": ONVIF_USER, "password": "wrong"}}
    refused = ronda.api("POST", "/api/v1/cameras", json=body)
    assert refused.status_code == 422, refused.text  # wrong password: nothing created
    assert all(c["name"] != "Wrong" for c in ronda.api("GET", "/api/v1/cameras").json())


def test_added_dome_records_main_and_sub(ronda: RondaProcess, sim: SimulatorProcess, dome: dict[str, Any]) -> None:
    assert dome["ptz"] is True
    assert {s["kind"] if isinstance(s, dict) else s for s in dome["streams"]} >= {"main", "sub"}, dome["streams"]
    assert dome["device"]["manufacturer"]
    for stream in ("main", "sub"):
        wait_for(lambda stream=stream: catalog(ronda.data_dir, dome["id"], stream)[0], 60,
                 what=f"a recorded {stream} segment of the dome")  # fmt: skip
    r = ronda.api("GET", "/api/v1/onvif/discover", params={"target": "127.0.0.1", "timeout": 2})
    assert {d["address"]: d["added"] for d in r.json()}[sim.onvif_url(1)] is True


def test_camera_events_become_ronda_events(ronda: RondaProcess, sim: SimulatorProcess, dome: dict[str, Any]) -> None:
    """A tampering and a digital input raised on the device reach Ronda as events of that camera."""
    time.sleep(2)  # (the recorder subscribes once the camera is in its catalog)
    sim.raise_event("cam1", "tamper", True)
    sim.raise_event("cam1", "input", True)

    def seen() -> set[str]:
        r = ronda.api("GET", "/api/v1/events", params={"camera": dome["id"], "limit": 200})
        assert r.status_code == 200, r.text
        types = {e["type"] for e in r.json()}
        return types if any(t.startswith("tamper.") for t in types) and "input.active" in types else set()

    wait_for(seen, 45, what="tamper and input events from the dome")


def _pan_in_recording(ronda: RondaProcess, camera_id: int, since_ms: int) -> list[float]:
    """The pan coded in each frame of the sub-stream segments that start after ``since_ms``."""
    segs = [s for s in catalog(ronda.data_dir, camera_id, "sub")[0] if s.start_ms >= since_ms]
    pans: list[float] = []
    for seg in segs:
        path = ronda.data_dir / "recordings" / seg.path
        cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "gray", "pipe:1"]
        luma = subprocess.run(cmd, capture_output=True, timeout=60, check=True).stdout
        n = 640 * 360
        pans += [p.pan for i in range(len(luma) // n) if (p := read_position_code(luma[i * n : (i + 1) * n], 640))]
    return pans


def _at(sim: SimulatorProcess, pan: float) -> bool:
    return abs(sim.ptz_position("cam1")["pan"] - pan) < 1e-3


def _recorded_at(ronda: RondaProcess, camera_id: int, pan: float, what: str) -> list[float]:
    """Frames recorded from now on show the dome at ``pan``."""
    since = int(time.time() * 1000) + 300
    pans = wait_for(lambda: _pan_in_recording(ronda, camera_id, since), 30, what=f"recorded frames {what}")
    assert all(p == pytest.approx(pan, abs=0.01) for p in pans), (what, pans[:5])
    return pans


def test_steer_the_dome_through_ronda_and_see_it_in_the_recording(ronda: RondaProcess, sim: SimulatorProcess,
                                                                   dome: dict[str, Any]) -> None:  # fmt: skip
    """PTZ commands through Ronda's API reach the real (simulated) ONVIF dome; the recording shows them;
    a preset saved in Ronda is the camera's; the state names who holds the dome."""
    cid = dome["id"]
    r = ronda.api("POST", f"/api/v1/cameras/{cid}/ptz", json={"action": "absolute", "pan": -0.6, "tilt": 0, "zoom": 0})
    assert r.status_code == 200, r.text
    assert r.json()["holder"] == "admin"
    wait_for(lambda: _at(sim, -0.6), 10, what="the dome at pan -0.6")
    _recorded_at(ronda, cid, -0.6, "at pan -0.6")
    made = ronda.api("POST", f"/api/v1/cameras/{cid}/ptz/presets", json={"name": "Piazza"})
    assert made.status_code == 201, made.text
    presets = ronda.api("GET", f"/api/v1/cameras/{cid}/ptz/presets").json()
    assert made.json() in presets, presets
    r = ronda.api("POST", f"/api/v1/cameras/{cid}/ptz", json={"action": "absolute", "pan": 0.4, "tilt": 0, "zoom": 0})
    assert r.status_code == 200, r.text
    wait_for(lambda: _at(sim, 0.4), 10, what="the dome at pan 0.4")
    _recorded_at(ronda, cid, 0.4, "at pan 0.4")
    state = ronda.api("GET", f"/api/v1/cameras/{cid}/ptz").json()
    assert state["position"]["pan"] == pytest.approx(0.4, abs=0.01), state


def test_camera_motion_raises_an_alarm_and_sends_the_dome_to_a_preset(ronda: RondaProcess, sim: SimulatorProcess,
                                                                        dome: dict[str, Any]) -> None:  # fmt: skip
    """The acceptance chain: motion pulled from the camera → a Ronda event → a rule → an alarm, and the
    dome sent to a preset (after the previous holder's session ended)."""
    cid = dome["id"]
    tokens = {p["name"]: p["token"] for p in ronda.api("GET", f"/api/v1/cameras/{cid}/ptz/presets").json()}
    if "Gate" not in tokens:
        r = ronda.api(
            "POST", f"/api/v1/cameras/{cid}/ptz", json={"action": "absolute", "pan": -0.3, "tilt": 0, "zoom": 0}
        )
        assert r.status_code == 200, r.text
        wait_for(lambda: _at(sim, -0.3), 10, what="the dome at pan -0.3")
        r = ronda.api("POST", f"/api/v1/cameras/{cid}/ptz/presets", json={"name": "Gate"})
        assert r.status_code == 201, r.text
        tokens["Gate"] = r.json()["token"]
    r = ronda.api("POST", f"/api/v1/cameras/{cid}/ptz", json={"action": "absolute", "pan": 0.7, "tilt": 0, "zoom": 0})
    assert r.status_code == 200, r.text
    wait_for(lambda: _at(sim, 0.7), 10, what="the dome at pan 0.7")
    rule = {"name": "motion at the dome", "trigger": {"types": ["motion.start"], "cameras": [cid]},
            "actions": [{"type": "raise_alarm", "priority": "high", "title": "motion on {camera_name}"},
                        {"type": "ptz_preset", "camera": cid, "preset": tokens["Gate"]}]}  # fmt: skip
    made = ronda.api("POST", "/api/v1/rules", json=rule)
    assert made.status_code == 201, made.text
    # the administrator's session (2 s in this test's configuration) ends before the rule's move
    wait_for(lambda: ronda.api("GET", f"/api/v1/cameras/{cid}/ptz").json()["holder"] is None, 10,
             what="the administrator's hold on the dome to end")  # fmt: skip
    sim.raise_event("cam1", "motion", True)
    try:
        alarms = wait_for(lambda: [a for a in ronda.api("GET", "/api/v1/alarms", params={"state": "open"}).json()
                                   if a["camera"] == cid and a["title"].startswith("motion on")], 45,
                          what="an alarm from the dome's motion")  # fmt: skip
        assert alarms[0]["priority"] == "high"
        wait_for(lambda: _at(sim, -0.3), 20, what="the dome sent to the preset Gate")
        _recorded_at(ronda, cid, -0.3, "at the preset Gate")
    finally:
        sim.raise_event("cam1", "motion", None)
        ronda.api("DELETE", f"/api/v1/rules/{made.json()['id']}")
