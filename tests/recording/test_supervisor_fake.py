"""StreamRecorder (recording/supervisor.py) driven by a fake ffmpeg: restarts, stalls, lies.

The fake (tests/recording/fake/ffmpeg.py) gets the real argument list and the camera URL through the
real inherited pipe, writes real fragmented MP4 segments and the CSV segment list; what it does wrong
is chosen per test. The catalog is a real SQLite database, recovery uses the real ffprobe. The
watchdog's time constants are shortened so that each test takes a second or two.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ronda.config import RecordingConfig
from ronda.recording import supervisor
from ronda.recording.supervisor import StreamRecorder, StreamSpec
from ronda.recording.volume import init_volume
from ronda.store.db import Database
from ronda.store.models import Camera, CameraStream, Gap, Segment
from tests.media.fixtures import base

FAKE = Path(__file__).parent / "fake" / "ffmpeg.py"
SECRET_URL = "rtsp://user:s3cr3t-pw@127.0.0.1:9/cam"  # noqa: S105 (a test password)


class Rig:
    def __init__(self, tmp: Path, behaviour: dict[str, Any]) -> None:
        self.db = Database(f"sqlite:///{tmp / 'r.db'}")
        self.db.upgrade()
        with self.db.session() as s:
            s.add(Camera(id=1, name="fake", created_ms=0))
        self.root = tmp / "rec"
        self.root.mkdir()
        init_volume(self.root)
        self.fake_dir = tmp / "fake"
        self.fake_dir.mkdir()
        src = tmp / "source.mp4"
        src.write_bytes(base())
        self.ffmpeg = self.fake_dir / "ffmpeg"
        self.ffmpeg.write_text(f"#!{sys.executable}\n" + FAKE.read_text())
        self.ffmpeg.chmod(0o755)
        (self.fake_dir / "behaviour.json").write_text(json.dumps({"source": str(src), **behaviour}))
        self.cfg = RecordingConfig.model_construct(
            ffmpeg=str(self.ffmpeg), segment_seconds=1.0, stall_timeout_seconds=0.5,
            backoff_initial_seconds=0.05, backoff_max_seconds=0.2,
        )  # fmt: skip
        self.rec: StreamRecorder | None = None

    def calls(self) -> list[dict[str, Any]]:
        path = self.fake_dir / "calls.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []

    def segments(self) -> list[Segment]:
        with self.db.session() as s:
            rows = list(s.query(Segment).filter_by(camera_id=1).order_by(Segment.start_ms))
            s.expunge_all()
            return rows

    def gaps(self) -> list[Gap]:
        with self.db.session() as s:
            rows = list(s.query(Gap).filter_by(camera_id=1).order_by(Gap.start_ms))
            s.expunge_all()
            return rows

    def start(self, codec: str | None = "h264", **spec_kw: Any) -> StreamRecorder:
        """A recorder of the fake camera, started (in the running event loop)."""
        spec = StreamSpec(camera_id=1, stream="main", url=SECRET_URL, codec=codec, audio=False, **spec_kw)
        self.rec = StreamRecorder(spec, self.db, self.root, self.cfg)
        self.rec.start()
        return self.rec

    async def run(self, until: Callable[[], bool], limit_s: float = 10.0, **spec_kw: Any) -> None:
        self.start(**spec_kw)
        assert self.rec is not None
        deadline = time.monotonic() + limit_s
        try:
            while not until():
                assert time.monotonic() < deadline, f"timed out; gaps {[g.reason for g in self.gaps()]}"
                await asyncio.sleep(0.05)
        finally:
            await self.rec.stop()
            self.db.dispose()


@pytest.fixture(autouse=True)
def fast_watchdog(monkeypatch):
    monkeypatch.setattr(supervisor, "WATCHDOG_S", 0.05)
    monkeypatch.setattr(supervisor, "CONNECT_GRACE_S", 0.3)
    monkeypatch.setattr(supervisor, "STALL_KILL_GRACE_S", 0.2)


def _assert_catalog_sound(rig: Rig) -> None:
    segs = rig.segments()
    now = int(time.time() * 1000)
    for a, b in zip(segs, segs[1:], strict=False):
        assert b.start_ms >= a.end_ms, "overlapping segments"
    for s in segs:
        assert s.end_ms - s.start_ms < 60_000, f"implausible segment {s.start_ms}..{s.end_ms}"
        assert s.end_ms <= now + 2_000, "a segment in the future"
        assert (rig.root / s.path).suffix == ".mp4" and (rig.root / s.path).stat().st_size == s.bytes


def test_records_and_keeps_the_secret_off_the_command_line(tmp_path):
    rig = Rig(tmp_path, {})
    asyncio.run(rig.run(lambda: len(rig.segments()) >= 3))
    _assert_catalog_sound(rig)
    call = rig.calls()[0]
    assert not any("s3cr3t" in a for a in call["argv"]), "the camera password is on the command line"
    assert "s3cr3t-pw" in call["input"], "the URL did not reach ffmpeg through the pipe"
    assert [g.reason for g in rig.gaps()] == ["ronda_stopped"]
    assert not list((rig.root / ".partial" / "1-main").glob("*.partial")), "stop left an open segment"


def test_restarts_after_death_and_recovers_the_cut_segment(tmp_path):
    rig = Rig(tmp_path, {"runs": [{"segments": 2, "then": "die"}, {}]})
    asyncio.run(rig.run(lambda: len(rig.calls()) >= 2 and sum(not s.recovered for s in rig.segments()) >= 3))
    _assert_catalog_sound(rig)
    reasons = [g.reason for g in rig.gaps()]
    assert reasons[0] == "capture_crashed", reasons
    assert any(s.recovered for s in rig.segments()), "the cut segment was not recovered"
    assert rig.rec is not None and rig.rec.status.sessions >= 2


def test_stall_is_detected_and_the_stuck_process_killed(tmp_path):
    rig = Rig(tmp_path, {"runs": [{"segments": 2, "then": "stall", "ignore_term": True}, {}]})
    asyncio.run(rig.run(lambda: len(rig.calls()) >= 2 and len(rig.segments()) >= 3))
    _assert_catalog_sound(rig)
    assert "stream_stalled" in [g.reason for g in rig.gaps()]
    first_pid = int((rig.fake_dir / "pids").read_text().split()[0])
    with pytest.raises(ProcessLookupError):
        os.kill(first_pid, 0)  # SIGTERM was ignored: it was killed


def test_a_lying_segment_list_neither_stops_recording_nor_enters_the_catalog(tmp_path):
    lies = ["gone_000099.mp4.partial,0.000000,1.000000", "not a list line", "x_000001.mp4.partial,1.2.3,4",
            "../../etc_000000.mp4.partial,0,1"]  # fmt: skip
    rig = Rig(tmp_path, {"lies": lies, "lie_times_at": [1], "lie_numbers_at": [2]})
    asyncio.run(rig.run(lambda: len(rig.segments()) >= 5))
    _assert_catalog_sound(rig)
    assert rig.rec is not None and rig.rec.status.sessions == 1, "a lie restarted the capture"
    assert "recorder_error" not in [g.reason for g in rig.gaps()]
    assert sum(s.recovered for s in rig.segments()) == 2, "the two lied-about segments are timed from their files"


def test_error_exit_is_a_gap_with_a_reason_and_backs_off(tmp_path):
    rig = Rig(tmp_path, {"segments": 0, "stderr": "Connection refused", "exit_code": 1})
    asyncio.run(rig.run(lambda: len(rig.calls()) >= 3, limit_s=5))
    gaps = rig.gaps()
    assert gaps[0].reason == "camera_unreachable" and len(gaps) == 2  # one outage, then stopped
    assert not rig.segments()


# What VLC's RTSP server makes Debian's ffmpeg print when asked for TCP (tests/recording/test_transport.py).
REFUSED_TCP = (
    "[rtsp @ 0x562312aef5c0] method SETUP failed: 461 Unsupported transport\n"
    "[concat @ 0x562312addac0] Impossible to open 'rtsp://127.0.0.1:18554/x'\npipe:6: Protocol not supported"
)


def _transports(rig: Rig) -> list[str]:
    return [next(ln.split()[-1] for ln in c["input"].splitlines() if ln.startswith("option rtsp_transport "))
            for c in rig.calls()]  # fmt: skip


def _stream_row(rig: Rig, tcp_refused_ms: int | None = None) -> int:
    with rig.db.session() as s:
        row = CameraStream(camera_id=1, kind="main", url="rtsp://127.0.0.1:9/cam", tcp_refused_ms=tcp_refused_ms)
        s.add(row)
        s.flush()
        return row.id


def _refused_ms(rig: Rig, row: int) -> int | None:
    with rig.db.session() as s:
        return s.get(CameraStream, row).tcp_refused_ms


def test_auto_falls_back_to_udp_at_once_without_a_gap_and_remembers(tmp_path):
    rig = Rig(tmp_path, {"runs": [{"segments": 0, "stderr": REFUSED_TCP, "exit_code": 1}, {}]})
    row = _stream_row(rig)
    asyncio.run(rig.run(lambda: len(rig.segments()) >= 2, stream_row_id=row, transport="auto"))
    assert _transports(rig) == ["tcp", "udp"]
    assert [g.reason for g in rig.gaps()] == ["ronda_stopped"], "the refused TCP left a gap"
    assert rig.rec is not None and rig.rec.status.transport == "udp"
    assert _refused_ms(rig, row) is not None, "the refusal is not in the catalog for the next start"


def test_tcp_refused_is_its_own_reason_and_nothing_else_is_tried(tmp_path):
    rig = Rig(tmp_path, {"segments": 0, "stderr": REFUSED_TCP, "exit_code": 1})
    asyncio.run(rig.run(lambda: len(rig.calls()) >= 3, limit_s=5, transport="tcp"))
    assert set(_transports(rig)) == {"tcp"}
    assert [g.reason for g in rig.gaps()] == ["transport_refused", "ronda_stopped"]
    assert not rig.segments()


def test_auto_goes_straight_to_udp_after_a_recent_refusal(tmp_path):
    rig = Rig(tmp_path, {})
    row = _stream_row(rig, tcp_refused_ms=int(time.time() * 1000) - 60_000)
    asyncio.run(rig.run(lambda: len(rig.segments()) >= 1, stream_row_id=row, transport="auto",
                        tcp_refused_ms=_refused_ms(rig, row)))  # fmt: skip
    assert _transports(rig) == ["udp"]


def test_auto_tries_tcp_again_after_an_hour_and_forgets_the_refusal_when_it_works(tmp_path):
    rig = Rig(tmp_path, {})
    old = int(time.time() * 1000) - 2 * 3_600_000
    row = _stream_row(rig, tcp_refused_ms=old)
    asyncio.run(rig.run(lambda: len(rig.segments()) >= 1, stream_row_id=row, transport="auto", tcp_refused_ms=old))
    assert _transports(rig) == ["tcp"]
    assert _refused_ms(rig, row) is None and rig.rec is not None and rig.rec.spec.tcp_refused_ms is None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie (exited, not yet reaped) counts as gone
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def _fake_children(rig: Rig) -> list[int]:
    """This process's children running the rig's fake ffmpeg (a test session has others: servers...)."""
    out = []
    for t in Path("/proc/self/task").iterdir():
        for pid in (t / "children").read_text().split():
            with contextlib.suppress(OSError):
                if str(rig.fake_dir).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    out.append(int(pid))
    return out


def _pids(rig: Rig) -> list[int]:
    path = rig.fake_dir / "pids"
    return [int(x) for x in path.read_text().split()] if path.exists() else []


async def _stops_at_once(rec: StreamRecorder, otherwise: str) -> None:
    """``rec.stop()`` returns within 3 s; ``otherwise`` says what it waited for when it does not."""
    t0 = time.monotonic()
    try:
        await asyncio.wait_for(rec.stop(), 10)
    except TimeoutError:
        pytest.fail(otherwise)
    assert time.monotonic() - t0 < 3, otherwise


def test_a_stop_while_ffmpeg_starts_stops_it(tmp_path, monkeypatch):
    """A camera deleted or edited just as its capture starts (seconds after it was added, on a busy box):
    stop() came while ffmpeg was being spawned and found no process to signal. It must still end the
    capture: before, the new ffmpeg recorded the deleted camera on and stop(), so the API request, never
    returned."""
    rig = Rig(tmp_path, {})
    real_spawn = supervisor.ffmpeg.spawn

    async def main() -> None:
        spawning = asyncio.Event()

        async def slow_spawn(*a: Any, **kw: Any) -> Any:
            spawning.set()
            await asyncio.sleep(0.5)  # the stop lands here
            return await real_spawn(*a, **kw)

        monkeypatch.setattr(supervisor.ffmpeg, "spawn", slow_spawn)
        rec = rig.start()
        await asyncio.wait_for(spawning.wait(), 10)
        await _stops_at_once(rec, "stop() did not return: the capture started after it goes on recording")
        assert rec.ffmpeg_pid is None and rec.status.state == "stopped"
        left = [p for p in _pids(rig) + _fake_children(rig) if _alive(p)]
        assert len(_pids(rig)) <= 1 and not left, f"an ffmpeg is left recording: {left}"

    try:
        asyncio.run(main())
    finally:
        for pid in _pids(rig):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        rig.db.dispose()
    assert not rig.segments(), "a segment was recorded after the stop"
    assert [g.reason for g in rig.gaps()] == ["ronda_stopped"]


def test_a_stop_between_a_failure_and_its_backoff_is_not_slept_through(tmp_path, monkeypatch):
    """stop() arriving while a failed attempt is written down, before the backoff's sleep starts, cuts
    that sleep short: before, the sleep cleared the wake-up and the stop (an API request deleting the
    camera) waited out the backoff, up to a minute for a broken stream."""
    rig = Rig(tmp_path, {"segments": 0, "stderr": "Connection refused", "exit_code": 1})
    rig.cfg = rig.cfg.model_copy(update={"backoff_initial_seconds": 30.0, "backoff_max_seconds": 30.0})
    real_failed = StreamRecorder._failed

    async def main() -> None:
        failing = asyncio.Event()

        async def slow_failed(self: StreamRecorder, *a: Any, **kw: Any) -> None:
            failing.set()
            await asyncio.sleep(0.3)  # the stop lands here
            await real_failed(self, *a, **kw)

        monkeypatch.setattr(StreamRecorder, "_failed", slow_failed)
        rec = rig.start()
        await asyncio.wait_for(failing.wait(), 10)
        await _stops_at_once(rec, "stop() waited out the 30 s backoff")

    try:
        asyncio.run(main())
    finally:
        rig.db.dispose()
    assert [g.reason for g in rig.gaps()] == ["camera_unreachable", "ronda_stopped"]


def test_a_resume_while_the_pause_is_written_down_is_not_slept_through(tmp_path, monkeypatch):
    """The disk has room again (resume()) while the pause's gap is still being written: recording
    starts again at once. Before, the paused stream's hour-long sleep cleared that wake-up and the camera
    stayed unrecorded for up to an hour."""
    rig = Rig(tmp_path, {})
    real_gap = StreamRecorder._gap

    async def main() -> None:
        pausing = asyncio.Event()

        async def slow_gap(self: StreamRecorder, reason: str, *a: Any, **kw: Any) -> None:
            if reason == "disk_full":
                pausing.set()
                await asyncio.sleep(0.3)  # the resume lands here
            await real_gap(self, reason, *a, **kw)

        monkeypatch.setattr(StreamRecorder, "_gap", slow_gap)
        rec = rig.start()
        try:
            deadline = time.monotonic() + 10
            while not rig.segments():
                assert time.monotonic() < deadline, "no segment before the pause"
                await asyncio.sleep(0.05)
            rec.pause("disk_full")
            await asyncio.wait_for(pausing.wait(), 10)
            rec.resume()
            deadline = time.monotonic() + 5
            while rec.status.sessions < 2 or rec.status.state != "recording":
                assert time.monotonic() < deadline, f"not recording 5 s after the resume: {rec.status.state}"
                await asyncio.sleep(0.05)
        finally:
            await asyncio.wait_for(rec.stop(), 10)

    try:
        asyncio.run(main())
    finally:
        rig.db.dispose()
    assert "disk_full" in [g.reason for g in rig.gaps()]


def test_a_stop_during_the_first_probe_ends_it_at_once(tmp_path):
    """A camera deleted while its first probe waits on a silent device: the stop kills ffprobe and returns
    at once, instead of keeping the API request waiting up to probe_timeout_seconds."""
    rig = Rig(tmp_path, {})
    probe = rig.fake_dir / "ffprobe"  # a probe that hangs (a camera that accepts and never answers)
    probe.write_text(f"#!{sys.executable}\nimport os, time\nopen({str(rig.fake_dir / 'probe.pid')!r}, 'w')"
                     ".write(str(os.getpid()))\ntime.sleep(60)\n")  # fmt: skip
    probe.chmod(0o755)
    rig.cfg = rig.cfg.model_copy(update={"ffprobe": str(probe), "probe_timeout_seconds": 30.0})
    pid_file = rig.fake_dir / "probe.pid"

    async def main() -> None:
        rec = rig.start(codec=None)
        deadline = time.monotonic() + 10
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline, "the probe did not start"
            await asyncio.sleep(0.05)
        await _stops_at_once(rec, "stop() waited for the probe")
        assert rec.status.state == "stopped"
        assert not _alive(int(pid_file.read_text())), "ffprobe is left running"

    try:
        asyncio.run(main())
    finally:
        rig.db.dispose()
    assert not rig.calls(), "a capture started after the stop"
    assert [g.reason for g in rig.gaps()] == ["ronda_stopped"]
