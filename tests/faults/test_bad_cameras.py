"""Cameras that send garbage (issue 16, "Faults"): one real Ronda records two good simulated cameras next
to hostile ones (tests/faults/hostile_rtsp.py): a TCP server answering RTSP with random bytes, one that
accepts and says nothing, an RTSP camera whose SPS is broken, one whose SPS declares 16K (15360x8640), and
one whose RTP timestamps jump an hour back every few seconds of a session.

What a user must see: each bad camera offline with a reason code the web client translates
(web/static/js/reasons.js), the good cameras recording without a hole, the hostile camera's recording (if
any) without overlapping or negative segments, and Ronda's memory (its whole process tree) bounded.
The window is ``RONDA_BADCAM_SECONDS`` long (default 45).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ronda.devices.simcontrol import SimulatorProcess
from ronda.media.snapshot import SnapshotError, jpeg_of_last_keyframe
from tests.faults.hostile_rtsp import (
    GarbageServer,
    HostileRtsp,
    SilentServer,
    Stream,
    backwards,
    broken_sps,
    make_clip,
    replace_nals,
    sps_with_size,
)
from tests.helpers import (
    RondaProcess,
    camera_ids,
    catalog,
    ffprobe_json,
    free_port,
    overlaps,
    uncovered,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.slow  # a real ronda serve, the simulator, hostile servers and ffmpeg

WINDOW_S = float(os.environ.get("RONDA_BADCAM_SECONDS", "45"))
PAGE = os.sysconf("SC_PAGE_SIZE")

# camera name -> the reason its status must give
BAD = {
    "Garbage": "not_rtsp",
    "Silent": "camera_unreachable",
    "Broken SPS": "video_invalid",
    "16K": "resolution_too_large",
}


def tree_rss(pid: int) -> dict[str, int]:
    """Resident bytes of a process (``ronda``) and of its descendants by command name, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    comm: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            statm = (entry / "statm").read_text().split()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        comm[int(entry.name)] = stat.split("(", 1)[1].rsplit(")", 1)[0]
        children.setdefault(ppid, []).append(int(entry.name))
        rss[int(entry.name)] = int(statm[1]) * PAGE
    out = {"ronda": rss.get(pid, 0), "ffprobe.one": 0}  # ffprobe.one: the largest single ffprobe
    todo = list(children.get(pid, []))
    while todo:
        p = todo.pop()
        out[comm.get(p, "?")] = out.get(comm.get(p, "?"), 0) + rss.get(p, 0)
        if comm.get(p) == "ffprobe":
            out["ffprobe.one"] = max(out["ffprobe.one"], rss.get(p, 0))
        todo += children.get(p, [])
    return out


@dataclass
class BadSite:
    ronda: RondaProcess
    data_dir: Path
    ids: dict[str, int]
    start_ms: int
    end_ms: int = 0
    rss: list[dict[str, int]] = field(default_factory=list)  # every 0.5 s from Ronda's start
    window_from: int = 0  # the first sample of the test window
    servers: dict[str, object] = field(default_factory=dict)


@pytest.fixture(scope="module")
def bad_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BadSite]:
    base = tmp_path_factory.mktemp("badcam")
    frames = make_clip(base / "clip.h264")
    sps = next(n for au in frames for n in au if n[0] & 0x1F == 7)
    rtsp = HostileRtsp({
        "broken-sps": Stream(replace_nals(frames, 7, broken_sps(sps))),
        "16k": Stream(replace_nals(frames, 7, sps_with_size(sps, 15360, 8640))),
        # an hour back 6 s into every session, then on from there
        "backwards": Stream(frames, stamp=backwards(15, after_s=6, back_s=3600)),
    })  # fmt: skip
    garbage, silent = GarbageServer(), SilentServer()
    sim = SimulatorProcess(cameras=2, log_dir=base)
    ronda: RondaProcess | None = None
    sampling = threading.Event()
    try:
        sim.start()
        cams = [
            {"name": "Good 1", "main": {"url": sim.url("cam1")}},
            {"name": "Good 2", "main": {"url": sim.url("cam2")}},
            {"name": "Garbage", "main": {"url": garbage.url("cam")}},
            {"name": "Silent", "main": {"url": silent.url("cam")}},
            {"name": "Broken SPS", "main": {"url": rtsp.url("broken-sps")}},
            {"name": "16K", "main": {"url": rtsp.url("16k")}},
            {"name": "Backwards", "main": {"url": rtsp.url("backwards")}},
        ]
        data_dir = base / "data"
        port = free_port()
        ronda = RondaProcess(write_config(data_dir, port, cams), base / "ronda.log", port)
        ronda.start()
        ids = camera_ids(data_dir)
        site = BadSite(ronda, data_dir, ids, start_ms=0, servers={"rtsp": rtsp, "garbage": garbage, "silent": silent})
        pid = ronda.pid

        def sample() -> None:  # from the start: the first probes of the bad cameras are the costly ones
            while not sampling.is_set():
                site.rss.append(tree_rss(pid))
                sampling.wait(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        for n in (1, 2):
            wait_for(lambda n=n: catalog(data_dir, ids[f"Good {n}"])[0], 40, what=f"a segment of Good {n}")
        site.start_ms, site.window_from = int(time.time() * 1000), len(site.rss)
        time.sleep(WINDOW_S)
        sampling.set()
        sampler.join(5)
        site.end_ms = int(time.time() * 1000)
        yield site
    finally:
        sampling.set()
        if ronda is not None:
            ronda.close()
        sim.close()
        for s in (rtsp, garbage, silent):
            s.close()


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_camera_says_why(bad_site: BadSite, name: str) -> None:
    r = bad_site.ronda.api("GET", f"/api/v1/cameras/{bad_site.ids[name]}")
    assert r.status_code == 200, r.text
    cam = r.json()
    assert (cam["status"], cam.get("status_reason")) == ("offline", BAD[name]), cam
    segs, gaps = catalog(bad_site.data_dir, bad_site.ids[name])
    assert not segs, f"{name} recorded something: {segs}"
    assert gaps and gaps[-1].end_ms is None and gaps[-1].reason == BAD[name], gaps


def test_good_cameras_record_without_a_hole(bad_site: BadSite) -> None:
    for n in (1, 2):
        segs, gaps = catalog(bad_site.data_dir, bad_site.ids[f"Good {n}"])
        inside = [g for g in gaps if g.end_ms is None or g.end_ms > bad_site.start_ms]
        assert not inside, f"Good {n} has gaps in the window: {inside}"
        # the last segment may still be open at the window's end: allow one segment and a half
        holes = uncovered(segs, gaps, bad_site.start_ms, bad_site.end_ms - 6000, bad_site.end_ms)
        assert not holes, f"Good {n} has holes: {holes}"
        assert not overlaps(segs)


def test_backwards_timestamps_keep_the_timeline_ordered(bad_site: BadSite) -> None:
    segs, gaps = catalog(bad_site.data_dir, bad_site.ids["Backwards"])
    assert segs, "the camera whose timestamps jump back recorded nothing"
    assert not overlaps(segs), overlaps(segs)
    assert all(s.end_ms > s.start_ms for s in segs)
    assert all(s.end_ms - s.start_ms <= 30_000 for s in segs), [(s.start_ms, s.end_ms) for s in segs]
    # what was recorded covers the window (the jumps may cost a gap each, never a hole)
    now = int(time.time() * 1000)
    assert not uncovered(segs, gaps, bad_site.start_ms, bad_site.end_ms - 6000, now)


def test_memory_stays_bounded(bad_site: BadSite) -> None:
    samples = bad_site.rss[bad_site.window_from :]
    assert len(samples) > WINDOW_S, "too few samples"
    mb = 2**20
    own = [s["ronda"] for s in samples]
    ffmpeg = [s.get("ffmpeg", 0) for s in samples]  # the captures: one per stream that records
    probe = max(s["ffprobe.one"] for s in bad_site.rss)
    tree = [sum(v for k, v in s.items() if "." not in k) for s in samples]
    print(
        f"ronda {own[0] / mb:.0f} -> max {max(own) / mb:.0f} MB; captures {ffmpeg[0] / mb:.0f} -> max "
        f"{max(ffmpeg) / mb:.0f} MB; largest ffprobe {probe / mb:.0f} MB; tree max {max(tree) / mb:.0f} MB"
    )
    assert max(own) - own[0] < 100 * mb, f"Ronda itself grew from {own[0] / mb:.0f} to {max(own) / mb:.0f} MB"
    assert max(ffmpeg) - ffmpeg[0] < 100 * mb, (
        f"the captures grew from {ffmpeg[0] / mb:.0f} to {max(ffmpeg) / mb:.0f} MB"
    )
    # A probe decodes one picture of the size the SPS declares: the 16K camera's costs ~680 MB for a few
    # seconds (concat's inner probing takes no -max_pixels), once a minute at most (BROKEN_STREAM_RETRY_S).
    assert probe < 1024 * mb
    # and nothing keeps growing: the last quarter is no higher than the second one
    q = len(tree) // 4
    assert max(own[-q:]) < max(own[q : 2 * q]) + 30 * mb


def test_the_web_client_has_words_for_the_reasons() -> None:
    text = (Path(__file__).parents[2] / "src/ronda/web/static/js/reasons.js").read_text()
    for code in set(BAD.values()):
        assert text.count(f'"reason.{code}"') == 2, f"{code}: no words in English and Italian"


def test_a_16k_recording_is_not_decoded_for_a_snapshot(tmp_path: Path) -> None:
    """A file whose SPS declares 15360x8640 (recorded before the camera changed, or imported): the snapshot
    refuses it at once instead of decoding a 130-megapixel picture."""
    frames = make_clip(tmp_path / "clip.h264")
    sps = next(n for au in frames for n in au if n[0] & 0x1F == 7)
    big = replace_nals(frames, 7, sps_with_size(sps, 15360, 8640))
    (tmp_path / "16k.h264").write_bytes(b"".join(b"\x00\x00\x00\x01" + n for au in big for n in au))
    mp4 = tmp_path / "16k.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-max_pixels", "1000000", "-r", "15", "-i", str(tmp_path / "16k.h264"), "-c", "copy",
         "-movflags", "+frag_keyframe+empty_moov", str(mp4)],
        check=True, timeout=60, capture_output=True,
    )  # fmt: skip
    assert ffprobe_json(mp4)["streams"][0]["width"] == 15360
    t0 = time.monotonic()
    with pytest.raises(SnapshotError, match="max pixel"):
        asyncio.run(jpeg_of_last_keyframe("ffmpeg", mp4))
    assert time.monotonic() - t0 < 5
