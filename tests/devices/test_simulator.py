"""The camera simulator, tested over real RTSP/TCP with ffprobe/ffmpeg."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from ronda.devices.simcontrol import SECURE_PASSWORD, SECURE_USER, SimulatorProcess

pytestmark = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None, reason="needs ffmpeg/ffprobe"
)

TCP = ["-rtsp_transport", "tcp"]


def _gst_rtsp_available() -> bool:
    try:
        import gi

        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import GstRtspServer  # noqa: F401
    except (ImportError, ValueError):
        return False
    return True


@pytest.fixture(scope="module")
def simproc(tmp_path_factory) -> Iterator[SimulatorProcess]:
    if not _gst_rtsp_available():
        pytest.skip("needs PyGObject + gst-rtsp-server")
    with SimulatorProcess(cameras=2, log_dir=tmp_path_factory.mktemp("simulator")) as sim:
        yield sim


def ffprobe(url: str, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    cmd = ["ffprobe", "-v", "error", *TCP, "-timeout", "5000000", *args, "-of", "json", url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def streams(url: str) -> list[dict]:
    res = ffprobe(url, "-show_entries", "stream=codec_name,codec_type,width,height,sample_rate,channels")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)["streams"]


def wait_until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class Viewer:
    """``ffmpeg -c copy -f null`` on one URL, counting received video packets from ``-progress``."""

    def __init__(self, url: str, *extra: str) -> None:
        cmd = ["ffmpeg", "-nostdin", "-v", "error", *TCP, *extra, "-i", url, "-map", "0:v", "-c", "copy"]
        cmd += ["-f", "null", "-progress", "pipe:1", "-stats_period", "0.25", "-"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.frames = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("frame="):
                self.frames = int(line.split("=", 1)[1])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        return self.proc.stderr.read() if self.proc.stderr else ""


def test_main_and_sub_stream(simproc):
    (main,) = streams(simproc.url("cam1"))
    assert (main["codec_name"], main["width"], main["height"]) == ("h264", 1920, 1080)
    (sub,) = streams(simproc.url("cam1", sub=True))
    assert (sub["codec_name"], sub["width"], sub["height"]) == ("h264", 640, 360)


def decode_one_frame(url: str) -> subprocess.CompletedProcess[str]:
    """Receive and decode one video frame of ``url`` (what a recorder and a player both need)."""
    cmd = ["ffmpeg", "-nostdin", "-v", "error", *TCP, "-timeout", "5000000", "-i", url, "-map", "0:v:0"]
    cmd += ["-frames:v", "1", "-f", "null", "-progress", "pipe:1", "-"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.smoke
def test_every_mount_answers_with_a_frame(simproc):
    mounts = {(name, kind): path for name, cam in simproc.cameras().items() for kind, path in cam["paths"].items()}
    assert set(mounts.values()) == {
        "/cam1",
        "/cam1/sub",
        "/cam2",
        "/cam2/sub",
        "/hevc",
        "/audio",
        "/secure",
        "/clock",
        "/clock25",
    }
    failed = {}
    for (name, kind), path in sorted(mounts.items()):
        creds = {"user": SECURE_USER, "password": SECURE_PASSWORD} if name == "secure" else {}
        res = decode_one_frame(simproc.url(name, sub=kind == "sub", **creds))
        if res.returncode != 0 or "frame=1" not in res.stdout:
            failed[path] = (res.returncode, res.stderr.strip()[-300:])
    assert not failed, failed


def test_hevc(simproc):
    (video,) = streams(simproc.url("hevc"))
    assert video["codec_name"] == "hevc"
    assert video["height"] in (720, 1080)


def test_audio_camera_has_h264_and_pcmu(simproc):
    found = {s["codec_type"]: s for s in streams(simproc.url("audio"))}
    assert found["video"]["codec_name"] == "h264"
    assert found["audio"]["codec_name"] == "pcm_mulaw"
    assert int(found["audio"]["sample_rate"]) == 8000 and found["audio"]["channels"] == 1


def test_clock_camera_is_live_h264(simproc):
    (video,) = streams(simproc.url("clock"))
    assert video["codec_name"] == "h264"


def test_secure_needs_the_right_password(simproc):
    wrong = ffprobe(simproc.url("secure", user=SECURE_USER, password="wrong"), "-show_streams")
    assert wrong.returncode != 0
    assert "401" in wrong.stderr
    anonymous = ffprobe(simproc.url("secure"), "-show_streams")
    assert anonymous.returncode != 0 and "401" in anonymous.stderr
    url = simproc.url("secure", user=SECURE_USER, password=SECURE_PASSWORD)
    assert "%40" in url and "%3A" in url and "%23" in url and "%25" in url
    (video,) = streams(url)
    assert (video["codec_name"], video["width"]) == ("h264", 1920)


def test_timestamps_increase_across_clip_loops(simproc):
    # the clips are 10 s long: 12.5 s of packets cross at least one loop boundary
    res = ffprobe(
        simproc.url("cam1"),
        "-select_streams", "v", "-show_entries", "packet=pts,flags", "-read_intervals", "%+12.5",
        timeout=40,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    packets = [p for p in json.loads(res.stdout)["packets"] if p.get("pts") is not None]
    assert len(packets) >= 170, len(packets)  # ~15 fps in real time
    pts = [int(p["pts"]) for p in packets]
    deltas = [b - a for a, b in zip(pts, pts[1:], strict=False)]
    assert min(deltas) > 0, "pts went backwards or repeated"
    assert all(abs(d - 6000) <= 90 for d in deltas), sorted(set(deltas))  # 90 kHz / 15 fps
    keys = [i for i, p in enumerate(packets) if "K" in p["flags"]]
    assert len(keys) >= 11
    assert {b - a for a, b in zip(keys, keys[1:], strict=False)} == {15}
    # the pusher kept its pace meanwhile, and says so (bench/capacity.py tells a simulator short of CPU so)
    pacer = simproc.health()["pacers"]["15"]
    assert pacer["ticks"] >= 170 and pacer["skipped"] == 0, pacer


def test_sessions_are_counted_per_stream(simproc):
    a = Viewer(simproc.url("cam1"))
    b = Viewer(simproc.url("cam1"))
    try:
        wait_until(lambda: simproc.cameras()["cam1"]["sessions"] == {"main": 2, "sub": 0}, 10, "2 sessions")
    finally:
        a.close()
        b.close()
    wait_until(lambda: simproc.cameras()["cam1"]["sessions"] == {"main": 0, "sub": 0}, 10, "no session")


def test_stop_then_start(simproc):
    viewer = Viewer(simproc.url("cam2", sub=True))
    try:
        wait_until(lambda: viewer.frames > 5, 10, "frames")
        simproc.stop_camera("cam2")
        assert simproc.cameras()["cam2"]["state"] == "stopped"
        # the running client sees the stream end (connection closed)
        viewer.proc.wait(timeout=5)
        t0 = time.monotonic()
        res = ffprobe(simproc.url("cam2"), "-show_streams")
        assert res.returncode != 0 and "404" in res.stderr
        assert time.monotonic() - t0 < 5
        assert ffprobe(simproc.url("cam2", sub=True), "-show_streams").returncode != 0
        assert simproc.cameras()["cam2"]["sessions"] == {"main": 0, "sub": 0}
    finally:
        viewer.close()
        simproc.start_camera("cam2")
    assert simproc.cameras()["cam2"]["state"] == "running"
    (video,) = streams(simproc.url("cam2"))
    assert video["width"] == 1920


def test_stall_keeps_connection_but_sends_nothing(simproc):
    viewer = Viewer(simproc.url("cam2"), "-timeout", "3000000")
    try:
        wait_until(lambda: viewer.frames > 5, 10, "frames")
        simproc.stall_camera("cam2")
        assert simproc.cameras()["cam2"]["state"] == "stalled"
        time.sleep(1.0)  # let in-flight packets and progress reports drain
        frozen = viewer.frames
        time.sleep(1.5)
        assert viewer.frames == frozen, "packets still arrive while stalled"
        # the connection (and its RTSP session) is still there
        assert viewer.alive()
        assert simproc.cameras()["cam2"]["sessions"]["main"] == 1
        # with nothing at all on the socket (no RTCP either), the client's 3 s I/O timeout fires;
        # ffmpeg then flushes the last frame or two its parser was holding, so frames may grow a bit
        viewer.proc.wait(timeout=10)
    finally:
        err = viewer.close()
        simproc.start_camera("cam2")
    assert "timed out" in err.lower(), err
    fresh = Viewer(simproc.url("cam2"))
    try:
        wait_until(lambda: fresh.frames > 5, 10, "frames after start")
    finally:
        fresh.close()
