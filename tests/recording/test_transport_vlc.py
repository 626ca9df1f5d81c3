"""Recording from an RTSP server not written here: VLC's, from Debian (``cvlc``, package vlc-bin and
vlc-plugin-base, installed by ``scripts/setup.sh --test``).

VLC's RTSP server (``--sout '#rtp{sdp=rtsp://…}'``) streams RTP over UDP only: it answers a TCP
``SETUP`` with ``461 Unsupported transport``. A real ``ronda serve`` with its own data dir records it:
a camera set to ``tcp`` is offline with ``transport_refused``; one left at ``auto`` records over UDP
without a gap; stopping VLC opens a gap with the camera's reason and recording resumes when VLC is back
(straight over UDP: the refusal is remembered, TCP is not asked for again).

VLC will not run as root ("VLC is not supposed to be run as root"), and its ``vlc-wrapper`` only
drops a set-uid bit; under root the test runs it as ``nobody`` with util-linux's ``setpriv``, from a
directory that user can read.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import RondaProcess, catalog, free_port, probe_frames, uncovered, wait_for, write_config

pytestmark = pytest.mark.slow

NOBODY = 65534
CLIP_SECONDS = 120  # VLC ends the RTP session (RTCP BYE) at the end of its input, even with --loop


class Vlc:
    """``cvlc`` serving one clip as ``rtsp://127.0.0.1:PORT/x`` until stopped."""

    def __init__(self, clip: Path, home: Path, port: int, log: Path) -> None:
        self.clip, self.home, self.port, self.log = clip, home, port, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"rtsp://127.0.0.1:{port}/x"

    def start(self) -> None:
        argv = ["cvlc", "-q", str(self.clip), "--sout", f"#rtp{{sdp={self.url}}}", "--sout-keep"]
        if os.geteuid() == 0:
            argv = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--", *argv]
        with self.log.open("ab") as log:
            env = {**os.environ, "HOME": str(self.home)}
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True
            )

        def listening() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"cvlc exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                return False

        wait_for(listening, 20, interval=0.2, what="VLC's RTSP port")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


@pytest.fixture
def vlc_dir() -> Iterator[Path]:
    """A directory VLC can read (pytest's tmp_path is private to root) with a test clip in it."""
    if shutil.which("cvlc") is None:
        pytest.fail("cvlc is missing: run scripts/setup.sh --test (packages vlc-bin vlc-plugin-base)")
    d = Path(tempfile.mkdtemp(prefix="ronda-vlc-"))
    try:
        d.chmod(0o755)
        clip = d / "clip.mp4"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15", "-t", str(CLIP_SECONDS),
             "-c:v", "libx264", "-preset", "ultrafast", "-g", "15", "-bf", "0", "-pix_fmt", "yuv420p", str(clip)],
            check=True, timeout=120,
        )  # fmt: skip
        clip.chmod(0o644)
        home = d / "home"
        home.mkdir()
        if os.geteuid() == 0:
            os.chown(home, NOBODY, NOBODY)
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _camera(ronda: RondaProcess, cid: int) -> dict:
    r = ronda.api("GET", f"/api/v1/cameras/{cid}")
    assert r.status_code == 200, r.text
    return r.json()


def _tcp_refused_ms(data_dir: Path, cid: int) -> int | None:
    con = sqlite3.connect(f"file:{data_dir / 'ronda.db'}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute("SELECT tcp_refused_ms FROM camera_streams WHERE camera_id=? AND kind='main'",
                           (cid,)).fetchone()[0]  # fmt: skip
    finally:
        con.close()


def test_vlc_refuses_tcp_and_ronda_records_it_over_udp(vlc_dir, tmp_path):
    t0 = time.monotonic()
    vlc = Vlc(vlc_dir / "clip.mp4", vlc_dir / "home", free_port(), tmp_path / "vlc.log")
    data_dir = tmp_path / "data"
    port = free_port()
    ronda = RondaProcess(write_config(data_dir, port, []), tmp_path / "ronda.log", port)
    try:
        vlc.start()
        # The server really refuses TCP (if a VLC version accepted it, this test would prove nothing).
        probe = ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", vlc.url]
        tcp = subprocess.run(probe[:-1] + ["-rtsp_transport", "tcp", vlc.url], capture_output=True, timeout=30)
        assert tcp.returncode != 0 and b"461 Unsupported transport" in tcp.stderr, tcp.stderr
        udp = subprocess.run(probe[:-1] + ["-rtsp_transport", "udp", vlc.url], capture_output=True, timeout=30)
        assert udp.returncode == 0 and udp.stdout.strip() == b"h264", udp.stderr

        ronda.start()
        bad = ronda.api("POST", "/api/v1/cameras", json={"name": "Bad", "url": vlc.url, "transport": "sctp"})
        assert bad.status_code == 422, bad.text
        r = ronda.api("POST", "/api/v1/cameras", json={"name": "VLC tcp", "url": vlc.url, "transport": "tcp"})
        assert r.status_code == 201 and r.json()["transport"] == "tcp", r.text
        tcp_cam = r.json()["id"]
        r = ronda.api("POST", "/api/v1/cameras", json={"name": "VLC auto", "url": vlc.url})
        assert r.status_code == 201 and r.json()["transport"] == "auto", r.text
        auto_cam = r.json()["id"]

        # transport tcp: offline with the refused-transport reason, as status and as the open gap
        wait_for(lambda: _camera(ronda, tcp_cam)["status_reason"] == "transport_refused", 30,
                 what="the tcp camera's status transport_refused")  # fmt: skip
        assert _camera(ronda, tcp_cam)["status"] == "offline"
        gaps = catalog(data_dir, tcp_cam)[1]
        assert [(g.reason, g.end_ms) for g in gaps] == [("transport_refused", None)], gaps

        # transport auto: records over UDP, gap-free, and segments that play
        segs = wait_for(lambda: len(catalog(data_dir, auto_cam)[0]) >= 2 and catalog(data_dir, auto_cam)[0], 40,
                        what="two segments of the auto camera")  # fmt: skip
        cam = _camera(ronda, auto_cam)
        assert cam["status"] == "recording" and cam["recording"]["main"]["transport"] == "udp", cam
        assert catalog(data_dir, auto_cam)[1] == [], "auto must not leave a gap for the refused TCP"
        for seg in segs[:2]:
            assert probe_frames(data_dir / "recordings" / seg.path) == (True, True), seg
        assert _tcp_refused_ms(data_dir, auto_cam) is not None
        # the connection test connects as the recorder does
        r = ronda.api("POST", f"/api/v1/cameras/{tcp_cam}/test")
        assert r.status_code == 200 and r.json()["streams"]["main"]["reason"] == "transport_refused", r.text
        r = ronda.api("POST", f"/api/v1/cameras/{auto_cam}/test")
        assert r.status_code == 200 and r.json()["streams"]["main"]["codec"] == "h264", r.text

        # VLC stops: an open gap that says the camera is gone
        vlc.stop()
        stopped_ms = int(time.time() * 1000)
        gap = wait_for(lambda: [g for g in catalog(data_dir, auto_cam)[1] if g.end_ms is None
                                and g.reason in ("camera_unreachable", "stream_stalled")], 30,
                       what="an open camera_unreachable/stream_stalled gap")[0]  # fmt: skip
        assert gap.start_ms <= stopped_ms + 2000, (gap, stopped_ms)
        wait_for(lambda: _camera(ronda, auto_cam)["status"] == "offline", 15, what="the auto camera offline")
        before = len(catalog(data_dir, auto_cam)[0])

        # VLC is back: recording resumes (straight over UDP) and the gap closes where it does
        vlc.start()
        wait_for(lambda: len(catalog(data_dir, auto_cam)[0]) > before, 40, what="segments after VLC restarted")
        segs, gaps = catalog(data_dir, auto_cam)
        closed = [g for g in gaps if g.start_ms == gap.start_ms]
        assert closed and closed[0].end_ms is not None and closed[0].end_ms <= segs[before].start_ms, (gaps, segs)
        now = int(time.time() * 1000)
        assert uncovered(segs, gaps, segs[0].start_ms, segs[-1].end_ms, now) == []
        assert _camera(ronda, auto_cam)["recording"]["main"]["transport"] == "udp"
        # the refusal was remembered: the reconnect did not ask VLC for TCP again
        assert ronda.log.read_text().count(f"camera {auto_cam}/main: the camera refuses RTP over TCP") == 1

        # the tcp camera switched to udp through PATCH records as well
        r = ronda.api("PATCH", f"/api/v1/cameras/{tcp_cam}", json={"transport": "udp"})
        assert r.status_code == 200 and r.json()["transport"] == "udp", r.text
        wait_for(lambda: catalog(data_dir, tcp_cam)[0], 40, what="a segment of the camera patched to udp")
        assert [g.reason for g in catalog(data_dir, tcp_cam)[1]] == ["transport_refused", "camera_reconfigured"]
    finally:
        ronda.close()
        vlc.stop()
    assert time.monotonic() - t0 < 120
