"""Live view in real headless Chromium: low-latency (fMP4 over WebSocket into MSE) and HLS.

The clock camera stamps every frame with the wall-clock time in a machine-readable code, so the
page reads the capture time of the frame on screen: latency = shown - captured (same machine clock).
"""

from __future__ import annotations

import statistics
import time

import pytest

from tests.browser import READ_TIME_CODES, ConsoleErrors
from tests.helpers import catalog, wait_for

pytestmark = pytest.mark.browser


def open_player(browser, site, camera_id: int, mode: str, token: str):
    page = browser.new_page(viewport={"width": 800, "height": 600})
    errors = ConsoleErrors(page)
    page.goto(f"{site.ronda.base}/player.html#camera={camera_id}&mode={mode}&token={token}")
    return page, errors


def video_progress(page, seconds: float = 3.0) -> tuple[float, int]:
    """(currentTime advance, decoded frames advance) over ``seconds``."""
    q = (
        "() => { const v = document.querySelector('video');"
        " return [v.currentTime, v.getVideoPlaybackQuality().totalVideoFrames]; }"
    )
    t0, f0 = page.evaluate(q)
    time.sleep(seconds)
    t1, f1 = page.evaluate(q)
    return t1 - t0, f1 - f0


def wait_playing(page, timeout: float = 20.0) -> None:
    try:
        page.wait_for_function(
            "() => { const v = document.querySelector('video');"
            " return v && v.readyState >= 2 && v.currentTime > 0 && !v.paused; }",
            timeout=timeout * 1000,
        )
    except Exception as e:
        state = page.evaluate(
            "() => { const v = document.querySelector('video'); return {status: document.getElementById('status')"
            ".textContent, reason: document.getElementById('reason').textContent, ready: v.readyState,"
            " t: v.currentTime, paused: v.paused, error: v.error && v.error.message, src: v.currentSrc}; }"
        )
        raise AssertionError(f"{page.url.split('#')[1].split('&token')[0]}: not playing: {state}") from e


def latency_ms(page, frames: int = 45) -> list[int]:
    codes = page.evaluate(READ_TIME_CODES, ["video", frames])
    return [c["shown"] - c["code"] for c in codes]


@pytest.fixture(scope="module")
def clock(site):
    cid = site.cam("Clock")
    wait_for(lambda: catalog(site.data_dir, cid)[0], 40, what="a segment of the clock camera")
    return cid


def test_three_viewers_low_latency_and_hls_one_camera_connection(browser, site, clock, record_property):
    token = site.ronda.login("admin", "admin-test-pw")
    pages = []
    try:
        for mode in ("ll", "ll", "hls"):
            pages.append((mode, *open_player(browser, site, clock, mode, token)))
        for _mode, page, _errors in pages:
            wait_playing(page)
        results = {}
        for mode, page, _errors in pages:
            advance, frames = video_progress(page, 3.0)
            assert advance > 2.0, f"{mode}: currentTime advanced {advance:.2f} s in 3 s"
            assert frames >= 25, f"{mode}: only {frames} frames decoded in 3 s"
        ll = latency_ms(pages[0][1])
        hls = latency_ms(pages[2][1], 30)
        results["ll_p50_ms"] = statistics.median(ll)
        results["ll_max_ms"] = max(ll)
        results["hls_p50_ms"] = statistics.median(hls)
        for k, v in results.items():
            record_property(k, v)
        print(f"live latency: {results}")
        assert results["ll_p50_ms"] < 1000, f"low-latency view is {results['ll_p50_ms']} ms behind"
        assert results["hls_p50_ms"] < 10_000
        # however many viewers: the camera sees only the recorder's connection
        sessions = site.sim.camera("clock")
        assert sessions["sessions"]["main"] == 1, sessions
        for mode, _page, errors in pages:
            assert not errors.errors, f"{mode}: console errors {errors.errors}"
    finally:
        for _mode, page, _errors in pages:
            page.close()


def test_h265_camera_falls_back_to_snapshots_with_reason(browser, site):
    """Chromium here cannot decode HEVC: the page says so and shows refreshed snapshots."""
    cid = site.cam("HEVC")
    wait_for(lambda: catalog(site.data_dir, cid)[0], 40, what="a segment of the HEVC camera")
    token = site.ronda.login("admin", "admin-test-pw")
    page, errors = open_player(browser, site, cid, "ll", token)
    try:
        page.wait_for_function("() => !document.getElementById('reason').hidden", timeout=15000)
        reason = page.inner_text("#reason")
        assert "H.265" in reason and "snapshot" in reason, reason
        page.wait_for_function(
            "() => { const i = document.getElementById('snapshot'); return !i.hidden && i.naturalWidth > 0; }",
            timeout=15000,
        )
        first = page.evaluate("() => document.getElementById('snapshot').src")
        time.sleep(2.5)
        assert page.evaluate("() => document.getElementById('snapshot').src") != first, "snapshot not refreshed"
        assert not errors.errors, errors.errors
    finally:
        page.close()
