"""ONVIF end to end, on real parts: the simulator's ONVIF devices (a PTZ dome and a fixed camera), a real
``ronda serve`` that discovers them, adds the dome by ONVIF, records its main and sub streams, pulls its
events, and a dome move seen in the recorded frames."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ronda.devices.onvif.client import OnvifDevice
from ronda.devices.onvif.probe import probe_device
from ronda.devices.onvif.ptz import OnvifPtz
from ronda.devices.ptz import PtzPosition
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
    proc = RondaProcess(write_config(base / "data", port, []), base / "ronda.log", port)
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
    assert not found[sim.onvif_url(1)]["added"]
    assert found[sim.onvif_url(1)]["manufacturer"]

    body = {"name": "Dome", "onvif": {"address": sim.onvif_url(1), "username": ONVIF_USER, "password": "wrong"}}
    refused = ronda.api("POST", "/api/v1/cameras", json=body)
    assert refused.status_code == 422, refused.text  # wrong password: nothing created
    assert all(c["name"] != "Dome" for c in ronda.api("GET", "/api/v1/cameras").json())


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

    types = wait_for(seen, 45, what="tamper and input events from the dome")
    assert all(t.split(".")[0] in {"tamper", "input", "motion", "onvif", "camera"} for t in types), types


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


def test_a_dome_move_shows_in_the_recorded_frames(ronda: RondaProcess, sim: SimulatorProcess,
                                                  dome: dict[str, Any]) -> None:  # fmt: skip
    """Move the dome with Ronda's own PTZ driver; the frames recorded after show the new position."""

    info = asyncio.run(probe_device(sim.onvif_url(1), ONVIF_USER, ONVIF_PASSWORD))
    assert info.ptz and info.ptz_profile

    async def move(pan: float) -> None:
        async with OnvifDevice(sim.onvif_url(1), ONVIF_USER, ONVIF_PASSWORD, 8.0) as dev:
            await OnvifPtz(dev, str(info.ptz_profile), info.ptz_limits).absolute(PtzPosition(pan, 0.0, 0.0))

    asyncio.run(move(-0.6))
    wait_for(lambda: abs(sim.ptz_position("cam1")["pan"] + 0.6) < 1e-3, 10, what="the dome at pan -0.6")
    t0 = int(time.time() * 1000) + 500
    wait_for(lambda: _pan_in_recording(ronda, dome["id"], t0), 30, what="recorded frames at pan -0.6")
    asyncio.run(move(0.4))
    wait_for(lambda: abs(sim.ptz_position("cam1")["pan"] - 0.4) < 1e-3, 10, what="the dome at pan 0.4")
    t1 = int(time.time() * 1000) + 500
    after = wait_for(lambda: _pan_in_recording(ronda, dome["id"], t1), 30, what="recorded frames at pan 0.4")
    before = _pan_in_recording(ronda, dome["id"], t0)
    assert before[0] == pytest.approx(-0.6, abs=0.01), before[:5]
    assert after and all(p == pytest.approx(0.4, abs=0.01) for p in after), after[:5]
