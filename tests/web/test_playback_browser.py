"""Playback of recordings in real headless Chromium (HLS VOD from the catalog).

The clock camera's frames carry their capture time as a machine-readable code, so each check reads
the time of the frame actually on screen.
"""

from __future__ import annotations

import json
import random
import subprocess
import time
from pathlib import Path

import pytest

from ronda.devices.simulator import CLOCK_BLOCK, CLOCK_SIZE, read_clock_code
from tests.browser import READ_FRAME_CODE, ConsoleErrors
from tests.helpers import catalog, iso, wait_for

pytestmark = pytest.mark.browser
GOP_MS = 1000  # the clock camera's keyframe interval
SLACK_MS = 300  # catalog times are the recorder's estimate of capture time (RTSP delivery delay)


@pytest.fixture(scope="module")
def clock(site):
    cid = site.cam("Clock")
    wait_for(lambda: len(catalog(site.data_dir, cid)[0]) >= 10, 90, what="ten segments of the clock camera")
    return cid


@pytest.fixture(scope="module")
def clock_gap(site, clock):
    """A closed gap of at least 3 s in the clock camera's recording, followed by video (made once per
    module: stop the camera for a while, start it again)."""
    site.sim.stop_camera("clock")
    time.sleep(6)
    site.sim.start_camera("clock")

    def closed_gap():
        segs, gaps = catalog(site.data_dir, clock)
        done = [g for g in gaps if g.end_ms is not None and g.end_ms - g.start_ms >= 3000]
        return done and any(s.start_ms >= done[-1].end_ms for s in segs) and done[-1]

    return wait_for(closed_gap, 40, what="a closed gap in the clock recording followed by video")


@pytest.fixture(scope="module")
def token(site):
    return site.ronda.login("admin", "admin-test-pw")


def frame_code(page, selector: str = "video") -> int | None:
    return page.evaluate(READ_FRAME_CODE, selector)


def open_vod(browser, site, camera_id: int, at_ms: int, token: str):
    page = browser.new_page(viewport={"width": 800, "height": 600})
    errors = ConsoleErrors(page)
    page.goto(f"{site.ronda.base}/player.html#camera={camera_id}&mode=vod&at={iso(at_ms)}&token={token}")
    page.wait_for_function(
        "() => { const v = document.querySelector('video');"
        " return window.rondaPlayer && v && v.readyState >= 2 && !v.seeking; }",
        timeout=20000,
    )
    return page, errors


def settle(page, seconds: float = 0.3) -> int:
    """Pause, let the current frame settle, and read its code."""
    page.evaluate("() => document.querySelector('video').pause()")
    time.sleep(seconds)
    code = frame_code(page)
    assert code is not None, "no time code readable on screen"
    return code


def test_playback_starts_at_requested_instant(browser, site, clock, token, record_property):
    segs, _ = catalog(site.data_dir, clock)
    # instants inside continuous recording: segments whose neighbours touch them on both sides
    # (next to a stop or restart the catalog's and the media's durations may differ: see the issue notes)
    inner = [b for a, b, c in zip(segs, segs[1:], segs[2:], strict=False)
             if abs(b.start_ms - a.end_ms) <= 100 and abs(c.start_ms - b.end_ms) <= 100]  # fmt: skip
    rng = random.Random(7)
    errors_seen = []
    offsets = []
    for _ in range(3):
        seg = rng.choice(inner)
        at = rng.randrange(seg.start_ms, seg.end_ms)
        page, errors = open_vod(browser, site, clock, at, token)
        try:
            code = settle(page, 0.2)
            offsets.append(code - at)
            errors_seen += errors.errors
        finally:
            page.close()
    record_property("vod_start_offsets_ms", offsets)
    print(f"first frame minus requested instant (ms): {offsets}")
    for off in offsets:
        assert -GOP_MS - SLACK_MS <= off <= GOP_MS + SLACK_MS, offsets
    assert not errors_seen


def test_seek_across_segment_boundary_plays_on(browser, site, clock, token):
    segs, _ = catalog(site.data_dir, clock)
    # two touching segments (no gap between them)
    pair = [(a, b) for a, b in zip(segs, segs[1:], strict=False) if abs(b.start_ms - a.end_ms) <= 100][-1]
    boundary = pair[1].start_ms
    page, errors = open_vod(browser, site, clock, pair[0].start_ms, token)
    try:
        page.evaluate(f"async () => await window.rondaPlayer.seekWall({boundary - 1500})")
        page.evaluate("() => document.querySelector('video').play()")
        codes = []
        # Up to 8 s of wall time for 2 s of footage across the boundary: a loaded machine may stall the
        # player a moment while it fetches the next segment; a player stuck at the boundary still fails.
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and not (codes and codes[-1] - codes[0] >= 2500 and codes[-1] > boundary):
            time.sleep(0.25)
            c = frame_code(page)
            if c is not None:
                codes.append(c)
        assert codes, "nothing shown after the seek"
        assert codes[0] < boundary < codes[-1], f"did not play across {boundary}: {codes}"
        assert all(b >= a for a, b in zip(codes, codes[1:], strict=False)), f"time went backwards: {codes}"
        assert codes[-1] - codes[0] >= 2000, codes
        assert not errors.errors
    finally:
        page.close()


def test_gap_is_skipped_not_hung(browser, site, clock, clock_gap, token):
    """Stop the camera for a while: playback across the recorded gap jumps to where video resumes."""
    gap = clock_gap
    page, errors = open_vod(browser, site, clock, gap.start_ms - 2500, token)
    try:
        page.evaluate("() => document.querySelector('video').play()")

        def past_gap():
            c = frame_code(page)
            return c is not None and c >= gap.end_ms - SLACK_MS

        wait_for(past_gap, 15, interval=0.25, what="playback to continue after the gap")
        t0 = page.evaluate("() => document.querySelector('video').currentTime")
        time.sleep(1.0)
        assert page.evaluate("() => document.querySelector('video').currentTime") > t0 + 0.5, "stuck after the gap"
        assert not errors.errors
    finally:
        page.close()


def test_speeds_and_frame_step(browser, site, clock, token):
    segs, _ = catalog(site.data_dir, clock)
    start = segs[-8].start_ms
    page, errors = open_vod(browser, site, clock, start, token)
    try:
        # 4x: about 4 s of recording per second
        c0 = settle(page)
        page.evaluate("() => { window.rondaPlayer.setRate(4); document.querySelector('video').play(); }")
        time.sleep(1.5)
        c1 = settle(page)
        assert 3500 <= c1 - c0 <= 9000, f"4x for 1.5 s advanced {c1 - c0} ms"
        # frame step: one frame (1/15 s, the stream's rate) at a time
        # (the first step after playing starts from the frame last presented, which at 4x may not be
        # the one currentTime names; it is not measured)
        page.evaluate("() => window.rondaPlayer.step(1)")
        time.sleep(0.4)
        steps, media_steps = [], []
        for _ in range(3):
            before = settle(page, 0.1)
            t_before = page.evaluate("() => document.querySelector('video').currentTime")
            page.evaluate("() => window.rondaPlayer.step(1)")
            time.sleep(0.4)
            steps.append(settle(page, 0.1) - before)
            media_steps.append(page.evaluate("() => document.querySelector('video').currentTime") - t_before)
        print(f"frame steps advanced {steps} ms, moved the player by {media_steps} s")
        assert all(0 < s <= 140 for s in steps), f"frame steps advanced {steps} ms"
        assert 120 <= sum(steps) <= 300, f"three frame steps advanced {steps} ms"
        # The player seeks from the frame on screen to the middle of the next frame interval, so
        # currentTime moves by the previous frame's interval: 1/15 s on a quiet machine, 47 or 97 ms
        # when the simulator ran late and stamped its frames unevenly (seen under load: the codes still
        # showed one frame per step). A skipped frame moves it two intervals or more, a stuck one 0.
        assert all(0.03 <= m <= 0.11 for m in media_steps), f"frame steps moved the player by {media_steps} s"
        page.evaluate("() => window.rondaPlayer.step(-1)")
        time.sleep(0.4)
        back = settle(page, 0.1)
        assert back < before + steps[-1], "stepping back did not go back"
        assert not errors.errors
    finally:
        page.close()


def frame_times_and_codes(path: Path) -> list[tuple[float, int | None]]:
    """(presentation time in s, time code) of every frame of a clock camera segment."""
    w = CLOCK_SIZE[0]
    rows = 2 * CLOCK_BLOCK
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-fps_mode", "passthrough", "-vf", f"crop={w}:{rows}:0:0",
         "-pix_fmt", "gray", "-f", "rawvideo", "-"],
        capture_output=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "frame=pts_time", "-of", "json", str(path)],
        capture_output=True, check=True, timeout=60, text=True,
    ).stdout  # fmt: skip
    times = [float(f["pts_time"]) for f in json.loads(probe)["frames"]]
    size = w * rows
    codes = [read_clock_code(raw[i : i + size], w) for i in range(0, len(raw) - size + 1, size)]
    assert len(codes) == len(times), (len(codes), len(times))
    return list(zip(times, codes, strict=True))


def test_clock_time_codes_follow_the_frame_times(site, clock):
    """The time code in a clock frame is the instant of that frame: consecutive frames of a recording
    differ in code by their difference in timestamp, even when the simulator ran late (frame step and
    playback checks read time codes). Stamping the time of the push instead made one frame read as
    0 or 350 ms after the previous one under load."""
    segs, _ = catalog(site.data_dir, clock)
    worst = []
    # the last five whole segments (a segment cut short by a gap another test made has few frames)
    for seg in [s for s in segs[:-1] if s.end_ms - s.start_ms >= 1500][-5:]:
        frames = [(t, c) for t, c in frame_times_and_codes(site.data_dir / "recordings" / seg.path) if c is not None]
        # (the first two frames after the recorder connects get (almost) one timestamp: not comparable)
        pairs = [(a, b) for a, b in zip(frames, frames[1:], strict=False) if b[0] - a[0] > 0.01]
        assert len(pairs) >= 10, f"segment {seg.path}: only {len(pairs)} comparable frames"
        off = [(b[1] - a[1]) - round((b[0] - a[0]) * 1000) for a, b in pairs]
        worst.append(max(map(abs, off)))
    assert len(worst) == 5, worst
    print(f"largest difference between code steps and timestamp steps per segment (ms): {worst}")
    assert max(worst) <= 2, worst


def test_playback_opened_at_the_end_of_a_run_shows_that_run(browser, site, clock, clock_gap, token, record_property):
    """An instant in the last second, or the last frame, of a recording run before a gap shows a frame
    of that run, not the first frame after the gap."""
    segs, _ = catalog(site.data_dir, clock)
    gap = clock_gap
    last = max((s for s in segs if s.end_ms <= gap.start_ms + 100), key=lambda s: s.end_ms)
    offsets = []
    for at in (last.end_ms - 1500, last.end_ms - 30):
        page, errors = open_vod(browser, site, clock, at, token)
        try:
            code = settle(page, 0.2)
            offsets.append(code - at)
            assert code < gap.end_ms - SLACK_MS, f"opened at {at}, shown a frame {code - at} ms later (after the gap)"
            assert code >= at - GOP_MS - SLACK_MS, f"opened at {at}, shown a frame {at - code} ms earlier"
            assert not errors.errors
        finally:
            page.close()
    record_property("end_of_run_offsets_ms", offsets)
    run, hole = last.end_ms - last.start_ms, gap.end_ms - gap.start_ms
    print(f"last segment of {run} ms before a {hole} ms gap: shown minus asked {offsets} ms")


def test_synchronised_playback_of_two_views(browser, site, clock, token):
    """Two players opened at different instants, then moved together to one wall-clock instant."""
    segs, _ = catalog(site.data_dir, clock)
    # The instant is the middle of a whole segment. A segment cut short by the gap an earlier test made
    # (the camera stopped) may end before "its start + 2 s": that instant is in the gap, and the players
    # rightly show the first frame after it (seen on a loaded machine, 7.5 s later).
    whole = [s for s in segs[:-1] if s.end_ms - s.start_ms >= 3000]
    assert len(whole) >= 5, f"only {len(whole)} whole segments of the clock camera"
    page = browser.new_page(viewport={"width": 1000, "height": 500})
    errors = ConsoleErrors(page)
    page.goto(f"{site.ronda.base}/player.html#camera={clock}&mode=vod&at={iso(whole[-5].start_ms)}&token={token}")
    page.wait_for_function("() => window.rondaPlayer && document.querySelector('video').readyState >= 2")
    target = (whole[-3].start_ms + whole[-3].end_ms) // 2
    try:
        page.evaluate(
            """async ([cameraId, at, token, target]) => {
              const { showRecorded, SyncGroup } = await import('./js/playback.js');
              const api = async (path, options = {}) => (await fetch(path, { ...options,
                headers: { ...(options.headers || {}), Authorization: `Bearer ${token}` } })).json();
              const v2 = document.createElement('video');
              v2.id = 'second'; v2.muted = true; document.body.appendChild(v2);
              const p2 = await showRecorded({ api, cameraId, video: v2, at });
              await new Promise((r) => v2.readyState >= 2 ? r() : v2.addEventListener('loadeddata', r, { once: true }));
              window.group = new SyncGroup([window.rondaPlayer, p2]);
              for (const v of document.querySelectorAll('video')) v.pause();
              await window.group.seekWall(target);
            }""",
            [clock, iso(whole[-1].start_ms), token, target],
        )
        time.sleep(1.5)
        a = settle(page, 0.1)
        b = frame_code(page, "#second")
        assert b is not None
        assert abs(a - b) <= 150, f"views differ by {a - b} ms"
        assert abs(a - target) <= GOP_MS + SLACK_MS, f"shown {a - target} ms from the requested instant"
        assert not errors.errors
    finally:
        page.close()
