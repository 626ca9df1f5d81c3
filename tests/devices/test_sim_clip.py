"""``ronda sim --clip K=FILE``: a video file served as a camera, checked over real RTSP with ffprobe/ffmpeg,
and its place on the wall clock (the control port's ``GET /cameras/camK/clip``)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from ronda.devices import simclip
from ronda.devices.simcontrol import SimulatorError, SimulatorProcess, free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None, reason="needs ffmpeg"),
]

CODE_SIZE = (320, 240)
CODE_FRAMES = 45  # 3 s at 15 fps
CODE_BITS = 8
BLOCK = CODE_SIZE[0] // CODE_BITS


def _gst_rtsp_available() -> bool:
    try:
        import gi

        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import GstRtspServer  # noqa: F401
    except (ImportError, ValueError):
        return False
    return True


def code_frame(index: int) -> bytes:
    """A gray 320x240 picture whose top row of 8 blocks (40 px) carries ``index`` in binary, white = 1."""
    w, h = CODE_SIZE
    row = b"".join((b"\xeb" if index >> (CODE_BITS - 1 - i) & 1 else b"\x10") * BLOCK for i in range(CODE_BITS))
    return row * BLOCK + b"\x80" * (w * (h - BLOCK))


def read_code(luma: bytes, width: int, height: int) -> int:
    """The index of :func:`code_frame` from a decoded luma plane of any size."""
    scale_x, block_y = width / CODE_SIZE[0], int(BLOCK * height / CODE_SIZE[1]) // 2
    value = 0
    for i in range(CODE_BITS):
        x = int((i * BLOCK + BLOCK // 2) * scale_x)
        value = value << 1 | (1 if luma[block_y * width + x] > 128 else 0)
    return value


def make_code_clip(path: Path) -> None:
    """A 3 s MP4 at 15 fps, each frame numbered by :func:`code_frame`."""
    w, h = CODE_SIZE
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{w}x{h}", "-r", "15",
           "-i", "-", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "10", "-pix_fmt", "yuv420p",
           str(path)]  # fmt: skip
    data = b"".join(code_frame(i) for i in range(CODE_FRAMES))
    subprocess.run(cmd, input=data, check=True, timeout=60)


@pytest.fixture(scope="module")
def clip_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    big = d / "big.mkv"  # larger than 1920x1080, not 15 fps, another container
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=2560x1440:rate=25", "-t", "1",
                    "-c:v", "libx264", "-preset", "ultrafast", str(big)], check=True, timeout=120)  # fmt: skip
    code = d / "code.mp4"
    make_code_clip(code)
    junk = d / "junk.mp4"
    junk.write_text("not a video\n")
    return {"big": big, "code": code, "junk": junk}


@pytest.fixture(scope="module")
def clipsim(tmp_path_factory: pytest.TempPathFactory, clip_files: dict[str, Path]) -> Iterator[SimulatorProcess]:
    if not _gst_rtsp_available():
        pytest.skip("needs PyGObject + gst-rtsp-server")
    clips = {1: clip_files["big"], 2: clip_files["code"]}
    with SimulatorProcess(cameras=3, dome=True, clips=clips, log_dir=tmp_path_factory.mktemp("clipsim")) as sim:
        yield sim


def probe(url: str) -> dict:
    cmd = ["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-timeout", "5000000", "-show_entries",
           "stream=codec_name,width,height,r_frame_rate,has_b_frames", "-of", "json", url]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    assert res.returncode == 0, res.stderr
    streams = json.loads(res.stdout)["streams"]
    assert len(streams) == 1, streams
    return streams[0]


def test_clip_served_main_and_sub_at_its_size(clipsim: SimulatorProcess) -> None:
    # a 2560x1440 clip: main capped to 1920x1080, sub 640 wide; camera 1's clip replaces the dome
    main, sub = probe(clipsim.url("cam1")), probe(clipsim.url("cam1", sub=True))
    assert (main["codec_name"], main["width"], main["height"], main["r_frame_rate"]) == ("h264", 1920, 1080, "15/1")
    assert (sub["codec_name"], sub["width"], sub["height"], sub["r_frame_rate"]) == ("h264", 640, 360, "15/1")
    assert main["has_b_frames"] == 0
    # a small clip keeps its size on main; the sub-stream is 640 wide whatever the clip
    assert (probe(clipsim.url("cam2"))["width"], probe(clipsim.url("cam2"))["height"]) == (320, 240)
    assert (probe(clipsim.url("cam2", sub=True))["width"], probe(clipsim.url("cam2", sub=True))["height"]) == (640, 480)
    # the other cameras are unchanged test patterns
    assert (probe(clipsim.url("cam3"))["width"], probe(clipsim.url("cam3"))["height"]) == (1920, 1080)
    with pytest.raises(SimulatorError, match="not a dome"):
        clipsim.ptz_position("cam1")
    with pytest.raises(SimulatorError, match="does not serve a clip"):
        clipsim.clip_info("cam3")


def test_clip_encoding_is_camera_like_and_cached(clipsim: SimulatorProcess, clip_files: dict[str, Path]) -> None:
    info = clipsim.clip_info("cam1")
    assert (info["frames"], info["fps"], info["width"], info["height"]) == (15, 15, 1920, 1080)
    cache = clipsim.cache_dir or simclip.simmedia.default_cache_dir()
    digest = simclip.content_hash(clip_files["big"])
    assert info["sha256"] == digest
    main = simclip.clips_dir(cache) / f"{digest[:24]}_main.h264"
    aus = simclip.simmedia.index_annexb(main.read_bytes(), "h264")
    assert [a.key for a in aus] == [True] + [False] * 14  # a closed 1 s GOP, AUD before every frame
    data = main.read_bytes()
    first_key = data[aus[0].offset : aus[0].offset + aus[0].size]
    assert b"\x00\x00\x01\x67" in first_key and b"\x00\x00\x01\x68" in first_key  # SPS and PPS before the IDR
    mtime = main.stat().st_mtime_ns
    # a second simulator with the same file (another name) does not encode again
    copy = clip_files["big"].with_name("copy-of-big.mkv")
    shutil.copyfile(clip_files["big"], copy)
    log_dir = clip_files["big"].parent / "second"
    with SimulatorProcess(cameras=1, clips={1: copy}, log_dir=log_dir) as second:
        assert second.clip_info("cam1")["sha256"] == digest
    log = (log_dir / "simulator.log").read_text()
    assert "copy-of-big.mkv: cached" in log and "encoding" not in log, log
    assert main.stat().st_mtime_ns == mtime


class FrameReader:
    """ffmpeg decoding an RTSP stream to gray pictures; each frame's code and the wall time it arrived."""

    def __init__(self, url: str, size: tuple[int, int]) -> None:
        self.size = size
        cmd = ["ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-fflags", "nobuffer", "-flags",
               "low_delay", "-i", url, "-f", "rawvideo", "-pix_fmt", "gray", "-"]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.seen: list[tuple[float, int]] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        w, h = self.size
        assert self.proc.stdout is not None
        while True:
            data = self.proc.stdout.read(w * h)
            if len(data) < w * h:
                return
            self.seen.append((time.time() * 1000, read_code(data, w, h)))

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def test_clip_frames_are_on_the_wall_clock(clipsim: SimulatorProcess) -> None:
    info = clipsim.clip_info("cam2")
    assert (info["frames"], info["fps"], info["loop_ms"]) == (CODE_FRAMES, 15, 3000.0)
    starts = info["loop_starts_ms"]
    assert starts[0] == info["epoch_ms"] and all(b - a == pytest.approx(3000.0) for a, b in pairwise(starts))
    assert abs(starts[-1] - time.time() * 1000) < 3100  # the loop under way began at most one loop ago
    readers = [FrameReader(clipsim.url("cam2"), (320, 240)), FrameReader(clipsim.url("cam2", sub=True), (640, 480))]
    try:
        time.sleep(8)  # more than two loops
    finally:
        for r in readers:
            r.close()
    for r in readers:
        assert len(r.seen) >= 50, len(r.seen)
        codes = [c for _, c in r.seen]
        assert all(0 <= c < CODE_FRAMES for c in codes), codes
        assert any(a == CODE_FRAMES - 1 and b == 0 for a, b in pairwise(codes)), "never saw the clip loop"
        for arrived_ms, code in r.seen:
            loop, expected = simclip.frame_at(info, arrived_ms)
            # the frame on screen was sent at most a few frames before it was decoded here
            late = (expected - code) % CODE_FRAMES
            assert late <= 6, (code, expected, late)
            sent = simclip.frame_time_ms(info, code, loop if code <= expected else loop - 1)
            assert -5 <= arrived_ms - sent <= 450


def _sim(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "ronda.cli", "sim", "--rtsp-port", str(free_port()), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(
    ("clip", "message"),
    [
        ("2=/nonexistent/street.mp4", "no such file"),
        ("5={code}", "there is no camera 5 (cameras 1..2)"),
        ("0={code}", "there is no camera 0"),
        ("x={code}", "K must be a camera number"),
        ("{code}", "expected K=FILE"),
    ],
)
def test_bad_clip_argument_one_line(clip_files: dict[str, Path], clip: str, message: str) -> None:
    res = _sim("--cameras", "2", "--no-dome", "--clip", clip.format(code=clip_files["code"]))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("simulator: error: --clip"), res.stderr


def test_unreadable_clip_one_line(clip_files: dict[str, Path], tmp_path: Path) -> None:
    if not _gst_rtsp_available():
        pytest.skip("needs PyGObject + gst-rtsp-server")
    res = _sim("--cameras", "1", "--no-dome", "--clip", f"1={clip_files['junk']}")
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "junk.mp4: not a video ffmpeg can read" in lines[0], res.stderr
    # and through SimulatorProcess, as tests and the demo start it
    with pytest.raises(SimulatorError, match="junk.mp4: not a video ffmpeg can read"):
        SimulatorProcess(cameras=1, clips={1: clip_files["junk"]}, log_dir=tmp_path).start()


def test_demo_passes_clip_and_checks_it(clip_files: dict[str, Path], tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "ronda.cli", "demo", "--cameras", "2", "--data-dir", str(tmp_path / "data"),
           "--http-port", str(free_port()), "--clip", f"3={clip_files['code']}"]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 2
    assert (
        res.stderr.strip().splitlines()[-1] == f"ronda: --clip '3={clip_files['code']}': there is no camera 3 "
        "(cameras 1..2)"
    ), res.stderr
