"""The simulator's reboot action: a camera that comes back after a reboot with new stream paths, which its
ONVIF profiles give (read with Ronda's ONVIF client, on onvif-zeep-async); the old paths answer 404."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest

from ronda.devices.onvif.adding import refresh_streams
from ronda.devices.simcontrol import SimulatorError, SimulatorProcess
from ronda.devices.simulator import ONVIF_PASSWORD, ONVIF_USER
from ronda.errors import DeviceError
from tests.helpers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe")]


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorProcess]:
    with SimulatorProcess(cameras=2, onvif=True, log_dir=tmp_path_factory.mktemp("sim-reboot")) as proc:
        yield proc


def ffprobe(url: str) -> subprocess.CompletedProcess[str]:
    cmd = ["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_entries", "stream=width", "-of", "csv=p=0"]
    return subprocess.run([*cmd, url], capture_output=True, text=True, timeout=30, check=False)


def onvif_uris(sim: SimulatorProcess, number: int) -> dict[str, str]:
    return asyncio.run(refresh_streams(sim.onvif_url(number), ONVIF_USER, ONVIF_PASSWORD, timeout_s=5))


def test_reboot_with_new_paths(sim: SimulatorProcess) -> None:
    old = onvif_uris(sim, 2)
    assert old == {"main": sim.url("cam2"), "sub": sim.url("cam2", sub=True)}
    out = sim.reboot_camera("cam2", 3, new_paths=True)
    t0 = time.monotonic()
    assert out["state"] == "stopped"
    assert sim.camera("cam2")["state"] == "stopped"
    # powered off: RTSP 404 on its paths, no ONVIF answer; the other camera serves on
    res = ffprobe(old["main"])
    assert res.returncode != 0 and "404" in res.stderr, res.stderr
    with pytest.raises(DeviceError):
        onvif_uris(sim, 2)
    assert ffprobe(sim.url("cam1")).returncode == 0

    wait_for(lambda: sim.camera("cam2")["state"] == "running", 15, what="cam2 back")
    assert time.monotonic() - t0 >= 2.5
    new = onvif_uris(sim, 2)
    base = f"rtsp://{sim.host}:{sim.rtsp_port}"
    assert new == {"main": f"{base}/cam2-b", "sub": f"{base}/cam2-b/sub"}, new
    assert sim.camera("cam2")["paths"] == {"main": "/cam2-b", "sub": "/cam2-b/sub"}
    assert sim.stream_path("cam2", "sub") == "/cam2-b/sub"
    assert ffprobe(new["main"]).stdout.split() == ["1920"]
    assert ffprobe(new["sub"]).stdout.split() == ["640"]
    for url in old.values():
        res = ffprobe(url)
        assert res.returncode != 0 and "404" in res.stderr, res.stderr

    # every such reboot moves the streams again; one without new paths keeps them
    sim.reboot_camera("cam2", 0.5, new_paths=True)
    wait_for(lambda: sim.stream_path("cam2") == "/cam2-c" and sim.camera("cam2")["state"] == "running", 15,
             what="cam2 back at /cam2-c")  # fmt: skip
    sim.reboot_camera("cam2", 0.5, new_paths=False)
    wait_for(lambda: sim.camera("cam2")["reboots"] == 3 and sim.camera("cam2")["state"] == "running", 15,
             what="cam2 back after a plain reboot")  # fmt: skip
    assert onvif_uris(sim, 2)["main"] == f"{base}/cam2-c"
    assert ffprobe(f"{base}/cam2-c").returncode == 0


def test_start_calls_a_reboot_off_and_bad_input_is_refused(sim: SimulatorProcess) -> None:
    sim.reboot_camera("cam1", 2, new_paths=True)
    sim.start_camera("cam1")
    time.sleep(3)
    assert sim.camera("cam1")["paths"]["main"] == "/cam1" and sim.camera("cam1")["state"] == "running"
    for body in ({"seconds": "soon"}, {"seconds": -1}, {"seconds": 1, "new_paths": "yes"}, [1]):
        with pytest.raises(SimulatorError, match="HTTP 400"):
            sim._request("POST", "/cameras/cam1/reboot", body=body)
    with pytest.raises(SimulatorError, match="HTTP 404"):
        sim.reboot_camera("cam9", 1)
    assert sim.camera("cam1")["state"] == "running"
