"""Playback of a 25 fps camera: the player steps one real frame (1/25 s), not the 1/15 s it once assumed.

The simulator's ``clock25`` camera is the clock camera at 25 fps: each frame carries its capture time
as a machine-readable code, and ``requestVideoFrameCallback`` names the media time of the frame shown.
"""

from __future__ import annotations

import time

import pytest

from tests.browser import READ_FRAME_CODE, ConsoleErrors
from tests.helpers import PW, catalog, iso, wait_for

pytestmark = pytest.mark.browser
FRAME_S = 1 / 25

# Records the media time of every frame presented by `selector` in window.shownTimes.
WATCH_FRAMES = """(selector) => {
  const v = document.querySelector(selector);
  window.shownTimes = [];
  const onFrame = (_now, meta) => { window.shownTimes.push(meta.mediaTime); v.requestVideoFrameCallback(onFrame); };
  v.requestVideoFrameCallback(onFrame);
}"""


@pytest.fixture(scope="module")
def clock25(site):
    r = site.ronda.api("POST", "/api/v1/cameras", json={"name": "Clock 25", "url": site.sim.url("clock25")})
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    wait_for(lambda: len(catalog(site.data_dir, cid)[0]) >= 5, 90, what="five segments of the 25 fps clock camera")
    yield cid
    site.ronda.api("DELETE", f"/api/v1/cameras/{cid}")


def recordings(site, cid: int, start_ms: int) -> dict:
    r = site.ronda.api(
        "GET", f"/api/v1/cameras/{cid}/recordings", params={"start": iso(start_ms), "end": iso(start_ms + 60_000)}
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_recordings_carry_the_stream_frame_rate(site, clock25):
    segs, _ = catalog(site.data_dir, clock25)
    assert recordings(site, clock25, segs[1].start_ms)["frame_rate"] == pytest.approx(25, abs=0.2)
    clock = site.cam("Clock")
    segs, _ = catalog(site.data_dir, clock)
    assert recordings(site, clock, segs[-3].start_ms)["frame_rate"] == pytest.approx(15, abs=0.2)


def presented(page, selector: str, count: int) -> float:
    """Media time of the frame presented once the player has shown ``count`` frames since watching."""
    page.wait_for_function(
        "([sel, n]) => !document.querySelector(sel).seeking && window.shownTimes.length >= n",
        arg=[selector, count],
        timeout=10000,
    )
    time.sleep(0.2)
    return page.evaluate("() => window.shownTimes[window.shownTimes.length - 1]")


def test_player_steps_one_real_frame(browser, site, clock25):
    """The player page (``js/playback.js``): ``step(±1)`` moves by exactly one frame of the stream."""
    segs, _ = catalog(site.data_dir, clock25)
    token = site.ronda.login("admin", "admin-test-pw")
    page = browser.new_page(viewport={"width": 800, "height": 600})
    errors = ConsoleErrors(page)
    try:
        at = iso(segs[-4].start_ms + 1500)
        page.goto(f"{site.ronda.base}/player.html#camera={clock25}&mode=vod&at={at}&token={token}")
        page.wait_for_function(
            "() => { const v = document.querySelector('video');"
            " return window.rondaPlayer && v.readyState >= 2 && !v.seeking; }",
            timeout=20000,
        )
        page.evaluate("() => document.querySelector('video').pause()")
        page.evaluate(WATCH_FRAMES, "video")
        moves, codes = [], []
        prev = page.evaluate("() => document.querySelector('video').currentTime")
        for n, direction in enumerate((1, 1, 1, -1), 1):
            code_before = page.evaluate(READ_FRAME_CODE, "video")
            page.evaluate(f"() => window.rondaPlayer.step({direction})")
            now = presented(page, "video", n)
            moves.append(round(now - prev, 3))
            prev = now
            codes.append(page.evaluate(READ_FRAME_CODE, "video") - code_before)
        print(f"presented media time moved by {moves} s, time codes by {codes} ms")
        # the first step counts from the frame shown, which may sit up to a frame before currentTime
        assert all(abs(m - FRAME_S) < 0.006 for m in moves[1:3]), f"steps forward moved {moves} s"
        assert abs(moves[3] + FRAME_S) < 0.006, f"a step back moved {moves[3]} s"
        assert all(0 < c <= 70 for c in codes[1:3]), f"steps forward advanced the time code by {codes} ms"
        assert -70 <= codes[3] < 0, f"a step back moved the time code by {codes[3]} ms"
        assert not errors.errors
    finally:
        page.close()


def test_playback_view_steps_one_real_frame(browser, site, clock25):
    """The operator client's playback view: the step buttons move one frame, and the tile's time
    follows the frame on screen."""
    segs, _ = catalog(site.data_dir, clock25)
    at = segs[-4].start_ms + 1500
    sel = f'[data-testid=video-tile][data-camera-id="{clock25}"]'
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = ConsoleErrors(page)
    try:
        page.goto(f"{site.ronda.base}/#/playback?cameras={clock25}&at={iso(at)}&span=300000")
        page.get_by_test_id("login-username").fill("admin")
        page.get_by_test_id("login-password").fill(PW)
        page.get_by_test_id("login-submit").click()
        page.wait_for_selector(".pb[data-ready=true]", timeout=30000)
        page.wait_for_function(f"() => !document.querySelector('{sel}').seeking", timeout=10000)
        page.evaluate(WATCH_FRAMES, sel)
        caption = page.locator(f"figure[data-camera-id='{clock25}'] [data-testid=tile-time]")
        results, moves = [], []
        prev = page.evaluate(f"() => document.querySelector('{sel}').currentTime")
        for n, button in enumerate(("pb-step-forward", "pb-step-forward", "pb-step-forward", "pb-step-back"), 1):
            code_before = page.evaluate(READ_FRAME_CODE, sel)
            page.get_by_test_id(button).click()
            now = presented(page, sel, n)
            moves.append(round(now - prev, 3))
            prev = now
            time.sleep(0.3)  # the caption follows the picture at the next clock tick (250 ms)
            code = page.evaluate(READ_FRAME_CODE, sel)
            results.append((code - code_before, int(caption.get_attribute("data-wall-ms") or 0) - code))
        print(f"media time moved {moves} s; (time code moved ms, caption minus time code ms) per step: {results}")
        offsets = [r[1] for r in results]
        assert all(abs(m - FRAME_S) < 0.006 for m in moves[1:3]), f"steps forward moved {moves} s"
        assert abs(moves[3] + FRAME_S) < 0.006, f"a step back moved {moves[3]} s"
        assert all(0 < r[0] <= 70 for r in results[1:3]), f"steps forward moved the time code {results}"
        assert -70 <= results[3][0] < 0, f"a step back moved the time code {results[3][0]} ms"
        # the caption names the frame on screen: its offset from the time code stays put from step to step
        assert max(offsets) - min(offsets) <= 20, f"the caption drifted from the picture: {offsets}"
        assert not errors.errors
    finally:
        page.close()
