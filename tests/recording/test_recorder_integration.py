"""The recorder against real RTSP cameras (simulator), real ffmpeg and a real ``ronda serve``.

One recording session (the session-wide ``site``) serves every test here; they run in file order
because the later ones stop, kill and restart Ronda.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.helpers import (
    catalog,
    ffmpeg_children_of,
    ffprobe_json,
    overlaps,
    probe_frames,
    uncovered,
    wait_for,
)

FRAME_MS = 1000 / 15
PLAIN = [f"Camera {n}" for n in range(1, 5)]


def now_ms() -> int:
    return int(time.time() * 1000)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_catalog_sound(site, name: str, stream: str = "main", check_play: bool = False, since_ms: int = 0) -> None:
    """No overlap; every row's file (ending at or after ``since_ms``) exists, is complete (sha256) and
    ends in .mp4; with ``check_play``, plays."""
    segs, _ = catalog(site.data_dir, site.cam(name), stream)
    assert not overlaps(segs), f"{name}: overlapping segments {overlaps(segs)}"
    for s in segs:
        if s.end_ms < since_ms:
            continue
        f = site.data_dir / "recordings" / s.path
        assert f.suffix == ".mp4" and f.exists(), f"{name}: catalog points at missing {s.path}"
        assert f.stat().st_size == s.bytes and sha256(f) == s.sha256, f"{name}: {s.path} differs from catalog"
        if check_play:
            assert probe_frames(f) == (True, True), f"{name}: {s.path} does not play"


def test_faults_stall_and_outage(site):
    """Stall → stream_stalled gap within 10 s; 20 s outage → one gap (±2 s), resumes ≤ 10 s after."""
    stall_id, out_id = site.cam("Stall"), site.cam("Outage")
    wait_for(lambda: catalog(site.data_dir, stall_id)[0] and catalog(site.data_dir, out_id)[0], 40, what="segments")
    t_stall = now_ms()
    site.sim.stall_camera("cam5")
    t_off = now_ms()
    site.sim.stop_camera("cam6")

    def stalled_gap():
        return [g for g in catalog(site.data_dir, stall_id)[1] if g.reason == "stream_stalled"]

    wait_for(stalled_gap, 10, what="a stream_stalled gap")
    assert now_ms() - t_stall <= 10_500
    wait_for(
        lambda: site.ronda.api("GET", f"/api/v1/cameras/{stall_id}").json()["status_reason"] == "stream_stalled",
        3,
        what="the camera to show as stalled",
    )
    assert site.ronda.api("GET", f"/api/v1/cameras/{stall_id}").json()["status"] == "offline"

    time.sleep(max(0, 20 - (now_ms() - t_off) / 1000))
    t_on = now_ms()
    site.sim.start_camera("cam6")
    site.sim.start_camera("cam5")

    def resumed():
        return [s for s in catalog(site.data_dir, out_id)[0] if s.start_ms > t_off]

    first = wait_for(resumed, 25, what="recording to resume after the outage")[0]
    assert first.start_ms - t_on <= 10_000, f"resumed {first.start_ms - t_on} ms after the camera came back"
    segs, gaps = catalog(site.data_dir, out_id)
    outage = [g for g in gaps if g.end_ms is None or g.end_ms > t_off - 5000]
    assert len(outage) == 1, outage
    g = outage[0]
    # A powered-off camera refuses connections; the simulator shares one RTSP port, so it says 404.
    assert g.reason in ("camera_unreachable", "stream_not_found"), g
    assert abs(g.start_ms - t_off) <= 2000 and abs(g.end_ms - t_on) <= 10_000 and g.end_ms >= t_on - 2000
    assert g.end_ms == first.start_ms  # the gap ends exactly where video starts again
    wait_for(lambda: [s for s in catalog(site.data_dir, stall_id)[0] if s.start_ms > t_on], 25, what="stall resume")


def test_wrong_password_is_auth_failed(site):
    cid = site.cam("WrongPassword")
    gaps = wait_for(lambda: catalog(site.data_dir, cid)[1], 20, what="a gap for the wrong password")
    assert gaps[0].reason == "auth_failed"
    cam = site.ronda.api("GET", f"/api/v1/cameras/{cid}").json()
    assert cam["status"] == "offline" and cam["status_reason"] == "auth_failed"
    assert not catalog(site.data_dir, cid)[0]


def test_password_with_special_characters_records(site):
    segs = wait_for(lambda: catalog(site.data_dir, site.cam("Secure"))[0], 30, what="Secure camera segments")
    assert segs
    log = (site.ronda.log).read_text()
    assert "p@ss" not in log and "p%40ss" not in log  # ffmpeg output is redacted


def test_hevc_records_tagged_hvc1(site):
    segs = wait_for(lambda: catalog(site.data_dir, site.cam("HEVC"))[0], 30, what="HEVC segments")
    f = site.data_dir / "recordings" / segs[0].path
    info = ffprobe_json(f)
    v = info["streams"][0]
    assert v["codec_name"] == "hevc" and v["codec_tag_string"] == "hvc1"
    assert probe_frames(f) == (True, True)


def test_g711_camera_records_video(site):
    segs = wait_for(lambda: catalog(site.data_dir, site.cam("G711"))[0], 30, what="G.711 camera segments")
    info = ffprobe_json(site.data_dir / "recordings" / segs[0].path)
    assert [s["codec_type"] for s in info["streams"]] == ["video"]


def test_continuous_recording_of_four_cameras(site):
    """≥ 60 s of four cameras: covered by segments (touching) except recorded gaps; files play.

    The last 62 s or more are checked, not the whole session: in a long test session (any order) that
    would be hundreds of files to decode per camera."""
    first = max(now_ms() - 62_000, min(catalog(site.data_dir, site.cam(n))[0][0].start_ms for n in PLAIN))
    wait_for(lambda: all(catalog(site.data_dir, site.cam(n))[0][-1].end_ms - first >= 62_000 for n in PLAIN),
             90, interval=1, what="62 s of recording")  # fmt: skip
    for name in PLAIN:
        segs, gaps = catalog(site.data_dir, site.cam(name))
        # from `first` (or this camera's first segment): in any order of the tests, the window may hold a
        # gap another test made, such as Ronda stopped; it must be a recorded gap
        window = (max(first, segs[0].start_ms), segs[-1].end_ms)
        segs = [s for s in segs if s.end_ms > first]
        assert window[1] - window[0] >= 60_000
        holes = uncovered(segs, gaps, *window, now=now_ms())
        assert all(b - a < FRAME_MS for a, b in holes), f"{name}: unexplained holes {holes}"
        for a, b in zip(segs, segs[1:], strict=False):
            assert abs(b.start_ms - a.end_ms) < FRAME_MS or any(
                g.start_ms <= a.end_ms and (g.end_ms or now_ms()) >= b.start_ms for g in gaps
            ), f"{name}: segments do not touch: {a} {b}"
        assert all(s.end_ms - s.start_ms <= 10_500 for s in segs)
        assert_catalog_sound(site, name, check_play=True, since_ms=first)
    subs, _ = catalog(site.data_dir, site.cam("Camera 1"), "sub")
    assert subs and ffprobe_json(site.data_dir / "recordings" / subs[0].path)["streams"][0]["width"] == 640


def _partial_files(site, cid: int) -> list[Path]:
    return sorted((site.data_dir / "recordings" / ".partial" / f"{cid}-main").glob("*.partial"))


def _wait_mid_segment(site, cid: int, min_bytes: int = 200_000) -> Path:
    def mid():
        files = _partial_files(site, cid)
        return files[-1] if files and files[-1].stat().st_size >= min_bytes else None

    return wait_for(mid, 20, interval=0.1, what="a partial segment with complete fragments")


def test_kill9_of_one_ffmpeg_child(site):
    cid = site.cam("Camera 2")
    partial = _wait_mid_segment(site, cid)
    victims = [
        p
        for p in ffmpeg_children_of(site.data_dir)
        if f"/{cid}-main/".encode() in Path(f"/proc/{p}/cmdline").read_bytes()
    ]
    assert len(victims) == 1
    t_kill = now_ms()
    os.kill(victims[0], signal.SIGKILL)

    def recovered():
        return [s for s in catalog(site.data_dir, cid)[0] if s.recovered and s.end_ms >= t_kill - 10_000]

    rec = wait_for(recovered, 20, what="the killed segment to be recovered")
    assert not partial.exists()
    f = site.data_dir / "recordings" / rec[0].path
    assert probe_frames(f) == (True, True)
    wait_for(lambda: [s for s in catalog(site.data_dir, cid)[0] if s.start_ms > t_kill], 25, what="resume")
    assert_catalog_sound(site, "Camera 2")
    assert (
        len(
            [
                p
                for p in ffmpeg_children_of(site.data_dir)
                if f"/{cid}-main/".encode() in Path(f"/proc/{p}/cmdline").read_bytes()
            ]
        )
        == 1
    )


def test_kill9_of_the_supervisor(site):
    cid = site.cam("Camera 3")
    _wait_mid_segment(site, cid)
    before = {n: len(catalog(site.data_dir, site.cam(n))[0]) for n in PLAIN}
    t_kill = now_ms()
    site.ronda.kill9()
    # ffmpeg children die with their supervisor: no orphan holding a second camera session.
    wait_for(lambda: not ffmpeg_children_of(site.data_dir), 3, interval=0.1, what="ffmpeg children to die")
    assert _partial_files(site, cid), "the cut segment should still be on disk"
    site.ronda.start()
    rec = wait_for(
        lambda: [s for s in catalog(site.data_dir, cid)[0] if s.recovered and s.end_ms >= t_kill - 10_000],
        20,
        what="recovery of the cut segment",
    )
    assert probe_frames(site.data_dir / "recordings" / rec[0].path) == (True, True)
    for name in PLAIN:
        wait_for(lambda name=name: len(catalog(site.data_dir, site.cam(name))[0]) > before[name] + 1, 30,
                 what=f"{name} to record again")  # fmt: skip
        segs, gaps = catalog(site.data_dir, site.cam(name))
        restart = [g for g in gaps if g.reason == "recorder_restart" and g.start_ms >= t_kill - 12_000]
        assert len(restart) == 1 and restart[0].end_ms is not None, (name, gaps)
        assert_catalog_sound(site, name)


def test_clean_stop_is_one_ronda_stopped_gap(site):
    assert site.ronda.terminate() == 0
    t_stop = now_ms()
    assert not ffmpeg_children_of(site.data_dir)
    for name in PLAIN:
        assert not _partial_files(site, site.cam(name)), "a clean stop closes every segment"
    # The window a crash can hit between a segment's rename and its catalog row: a complete file
    # at its final name that the catalog does not know. The next start must index it again.
    orphan = catalog(site.data_dir, site.cam("Camera 4"))[0][-1]
    con = sqlite3.connect(site.data_dir / "ronda.db", timeout=30)
    with con:
        con.execute("DELETE FROM segments WHERE id = ?", (orphan.id,))
    con.close()
    time.sleep(30)
    t_start = now_ms()
    site.ronda.start()
    for name in PLAIN:
        cid = site.cam(name)
        wait_for(lambda cid=cid: [s for s in catalog(site.data_dir, cid)[0] if s.start_ms > t_stop], 30,
                 what=f"{name} to record after the restart")  # fmt: skip
        segs, gaps = catalog(site.data_dir, cid)
        stop_gaps = [g for g in gaps if g.end_ms is None or g.end_ms > t_stop - 5000]
        stop_gaps = [g for g in stop_gaps if g.start_ms < t_start]
        assert len(stop_gaps) == 1 and stop_gaps[0].reason == "ronda_stopped", (name, stop_gaps)
        g = stop_gaps[0]
        assert g.end_ms - g.start_ms >= 30_000
        assert abs(g.start_ms - t_stop) <= 2000
        # The whole history of the camera is covered: segments + gaps, at most 1 s unexplained.
        holes = uncovered(segs, gaps, segs[0].start_ms, segs[-1].end_ms, now=now_ms())
        assert sum(b - a for a, b in holes) <= 1000, (name, holes)
        assert_catalog_sound(site, name)
    back = [s for s in catalog(site.data_dir, site.cam("Camera 4"))[0] if s.path == orphan.path]
    assert len(back) == 1 and back[0].recovered, "the uncatalogued segment was not indexed again"
    assert back[0].sha256 == orphan.sha256 and back[0].start_ms == orphan.start_ms
    assert abs(back[0].end_ms - orphan.end_ms) <= 100, (back[0], orphan)


@pytest.mark.parametrize("name", PLAIN)
def test_nothing_half_written_is_indexed(site, name):
    segs, _ = catalog(site.data_dir, site.cam(name))
    assert all(not s.path.endswith(".partial") for s in segs)
