"""A camera added by ONVIF reboots and comes back with other stream URIs (the simulator's reboot with new
paths): Ronda asks the device again, records with the new URIs within seconds, and the time in between is
one gap whose reason says the camera restarted, not a long outage. Real parts: the simulator's RTSP and
ONVIF, a real ``ronda serve``, ffprobe on the recorded files."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ronda.devices.simcontrol import SimulatorProcess
from ronda.devices.simulator import ONVIF_PASSWORD, ONVIF_USER
from tests.helpers import RondaProcess, SegRow, catalog, free_port, wait_for, write_config

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe")]
REBOOT_S = 5


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorProcess]:
    with SimulatorProcess(cameras=1, onvif=True, log_dir=tmp_path_factory.mktemp("reboot-sim")) as s:
        yield s


@pytest.fixture(scope="module")
def ronda(tmp_path_factory: pytest.TempPathFactory, sim: SimulatorProcess) -> Iterator[RondaProcess]:
    base = tmp_path_factory.mktemp("reboot-ronda")
    port = free_port()
    config = write_config(base / "data", port, [])  # 4 s segments, 5 s stall timeout, backoff up to 4 s
    proc = RondaProcess(config, base / "ronda.log", port)
    proc.data_dir = base / "data"  # type: ignore[attr-defined]
    proc.start()
    try:
        yield proc
    finally:
        proc.close()


def plays(data_dir: Path, seg: SegRow) -> bool:
    path = data_dir / "recordings" / seg.path
    cmd = ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v", "-show_entries",
           "stream=nb_read_frames", "-of", "csv=p=0", str(path)]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    return res.returncode == 0 and int(res.stdout.strip() or 0) > 0


def test_a_camera_rebooting_with_new_stream_uris_keeps_recording(ronda: RondaProcess, sim: SimulatorProcess) -> None:
    data_dir: Path = ronda.data_dir  # type: ignore[attr-defined]
    body = {"name": "Gate", "onvif": {"address": sim.onvif_url(1), "username": ONVIF_USER, "password": ONVIF_PASSWORD}}
    r = ronda.api("POST", "/api/v1/cameras", json=body)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    for stream in ("main", "sub"):
        wait_for(lambda stream=stream: len(catalog(data_dir, cid, stream)[0]) >= 2, 60,
                 what=f"recorded {stream} segments")  # fmt: skip
    time.sleep(3)  # (the recorder's ONVIF follow-up knows the camera once it is in its catalog)

    t_reboot = int(time.time() * 1000)
    sim.reboot_camera("cam1", REBOOT_S, new_paths=True)
    wait_for(lambda: sim.camera("cam1")["state"] == "running", REBOOT_S + 10, interval=0.1, what="cam1 back")
    t_back = int(time.time() * 1000)
    assert sim.stream_path("cam1") == "/cam1-b"

    def resumed(stream: str) -> SegRow | None:
        return next((s for s in catalog(data_dir, cid, stream)[0] if s.start_ms > t_reboot), None)

    first_main = wait_for(lambda: resumed("main"), 90, interval=1, what="a main segment after the reboot")
    delay_s = (first_main.start_ms - t_back) / 1000
    assert delay_s < 30, f"recording resumed {delay_s:.0f} s after the camera came back"

    cam = ronda.api("GET", f"/api/v1/cameras/{cid}").json()
    base = f"rtsp://{sim.host}:{sim.rtsp_port}"
    assert cam["streams"]["main"]["url"] == f"{base}/cam1-b", cam["streams"]
    assert cam["streams"]["sub"]["url"] == f"{base}/cam1-b/sub", cam["streams"]
    wait_for(lambda: ronda.api("GET", f"/api/v1/cameras/{cid}").json()["status"] == "recording", 20,
             what="the camera's status back to recording")  # fmt: skip

    for stream in ("main", "sub"):
        first = wait_for(lambda stream=stream: resumed(stream), 30, what=f"a {stream} segment after the reboot")
        segs, gaps = catalog(data_dir, cid, stream)
        last = [s for s in segs if s.start_ms <= t_reboot][-1]
        assert last.end_ms <= t_reboot + 2000, (stream, last, t_reboot)
        between = [g for g in gaps if g.start_ms < first.start_ms and (g.end_ms or 1 << 62) > last.end_ms]
        assert len(between) == 1, (stream, between)
        (gap,) = between
        assert (gap.start_ms, gap.end_ms) == (last.end_ms, first.start_ms), (stream, gap, last, first)
        assert gap.reason == "camera_restarted", (stream, gap)
        assert plays(data_dir, last) and plays(data_dir, first), stream
