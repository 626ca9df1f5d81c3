"""The operator client's playback view in real headless Chromium: the frame shown at a past instant
(read from the clock camera's time code), the timeline (runs, scrubbing, selection), export with
progress and download verified by ``ronda verify``, bookmark and evidence lock from a selection, an API
error shown to the user, and the rights of a viewer."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime

import pytest

from tests.browser import READ_FRAME_CODE, ConsoleErrors
from tests.helpers import PW, catalog, iso, wait_for

pytestmark = pytest.mark.browser
GOP_MS = 1000  # the clock camera's keyframe interval
SLACK_MS = 300  # catalog times are the recorder's estimate of the capture time
SPAN_MS = 5 * 60 * 1000  # the timeline's closest zoom: about 0.3 s per pixel here


@pytest.fixture(scope="module")
def clock(site):
    cid = site.cam("Clock")
    wait_for(lambda: len(catalog(site.data_dir, cid)[0]) >= 8, 90, what="eight segments of the clock camera")
    return cid


def ms_of(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000


def tile(camera_id: int) -> str:
    return f'[data-testid=video-tile][data-camera-id="{camera_id}"]'


def open_playback(page, base: str, user: str, cameras: list[int], at_ms: int) -> None:
    """Signs in straight into the playback view (the live view's players are never started)."""
    page.goto(f"{base}/#/playback?cameras={','.join(map(str, cameras))}&at={iso(at_ms)}&span={SPAN_MS}")
    page.get_by_test_id("login-username").fill(user)
    page.get_by_test_id("login-password").fill(PW)
    page.get_by_test_id("login-submit").click()
    page.wait_for_selector(".pb[data-ready=true]", timeout=30000)


def shown_code(page, camera_id: int, near_ms: int) -> int:
    """The time code of the frame on screen once the tile shows a frame near ``near_ms`` and settles."""
    sel = tile(camera_id)
    page.wait_for_function(
        """([sel, near]) => { const v = document.querySelector(sel);
             const ms = Number(v.closest('figure').querySelector('[data-testid=tile-time]').dataset.wallMs);
             return v.readyState >= 2 && !v.seeking && Math.abs(ms - near) < 5000; }""",
        arg=[sel, near_ms],
        timeout=15000,
    )
    time.sleep(0.3)
    code = page.evaluate(READ_FRAME_CODE, sel)
    assert code is not None, "no time code readable on screen"
    return code


def settled_code(page, camera_id: int) -> int:
    time.sleep(0.4)
    code = page.evaluate(READ_FRAME_CODE, tile(camera_id))
    assert code is not None, "no time code readable on screen"
    return code


def timeline_point(page, ms: int) -> tuple[float, float]:
    """Page coordinates of instant ``ms`` on the first camera row of the timeline."""
    return page.evaluate(
        """(ms) => { const tl = document.querySelector('[data-testid=timeline]').rondaTimeline;
             const r = tl.canvas.getBoundingClientRect(); return [r.left + tl.xOf(ms), r.top + 36 + 12]; }""",
        ms,
    )


def select_range(page, start_ms: int, end_ms: int) -> tuple[int, int]:
    (x0, y), (x1, _) = timeline_point(page, start_ms), timeline_point(page, end_ms)
    page.keyboard.down("Shift")
    page.mouse.move(x0, y)
    page.mouse.down()
    page.mouse.move(x1, y, steps=6)
    page.mouse.up()
    page.keyboard.up("Shift")
    page.wait_for_selector("[data-testid=pb-selection]:not([hidden])")
    tl = page.get_by_test_id("timeline")
    return (
        page.evaluate("(s) => Date.parse(s)", tl.get_attribute("data-selection-start")),
        page.evaluate("(s) => Date.parse(s)", tl.get_attribute("data-selection-end")),
    )


def covers(site, camera_id: int, ms: int) -> bool:
    return any(s.start_ms <= ms < s.end_ms for s in catalog(site.data_dir, camera_id)[0])


def tile_wall_ms(page, camera_id: int) -> int:
    """The wall-clock time the tile's caption gives for its frame (0 when it shows none)."""
    caption = page.locator(f"figure[data-camera-id='{camera_id}'] [data-testid=tile-time]")
    return int(caption.get_attribute("data-wall-ms") or 0)


def play_for(page, speed: str, seconds: float) -> None:
    page.get_by_test_id("pb-speed").select_option(speed)
    page.get_by_test_id("pb-play").click()
    time.sleep(seconds)
    page.get_by_test_id("pb-play").click()


def test_playback_frame_timeline_export_bookmark_and_lock(browser, site, users, clock, tmp_path):
    """The clock camera and Camera 1 side by side: the clock's time code checks the picture, Camera 1's
    caption checks that the grid stays together."""
    cam1 = site.cam("Camera 1")
    segs, _ = catalog(site.data_dir, clock)
    at = segs[-6].start_ms + 1700
    target = segs[-3].start_ms + 1500
    # an operator's event between the two, for "next event"
    mark = segs[-5].start_ms + 2500
    event = {"type": "test.playback_mark", "camera": clock, "time": iso(mark)}
    r = users["admin"].req("POST", "/api/v1/events", json=event)
    assert r.status_code == 202, r.text
    first_event = min(
        ms
        for e in users["admin"].req("GET", f"/api/v1/events?camera={clock}&since={iso(at + 500)}").json()
        if (ms := int(ms_of(e["time"]))) > at + 500
    )
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    errors = ConsoleErrors(page)
    errors.expect(422)  # the evidence lock with a past "until" below
    try:
        started = time.monotonic()
        open_playback(page, site.ronda.base, "admin", [clock, cam1], at)

        # the frame on screen is the requested instant (within one GOP), and the tile says so
        code = shown_code(page, clock, at)
        print(f"opened at {iso(at)}: frame {code - at:+d} ms, {time.monotonic() - started:.1f} s")
        assert abs(code - at) <= GOP_MS + SLACK_MS, code - at
        shown = tile_wall_ms(page, clock)
        assert abs(shown - code) <= GOP_MS + SLACK_MS, (shown, code)
        if covers(site, cam1, at):  # (another test may have stopped it)
            assert abs(tile_wall_ms(page, cam1) - shown) <= 300, (tile_wall_ms(page, cam1), shown)

        # the timeline shows the clock camera's recorded runs around the instant
        tl = page.get_by_test_id("timeline")
        assert tl.get_attribute("aria-label")
        page.wait_for_function("() => Number(document.querySelector('[data-testid=timeline]').dataset.runs) >= 1")
        covered = page.evaluate(
            """([cid, at]) => document.querySelector('[data-testid=timeline]').rondaTimeline
                 .data.cameras[String(cid)].runs.some((r) => r.s <= at && at < r.e)""",
            [clock, at],
        )
        assert covered, "no recorded run under the opened instant"

        # the next event
        page.get_by_test_id("pb-next-event").click()
        code = shown_code(page, clock, first_event)
        assert abs(code - first_event) <= GOP_MS + SLACK_MS, (code - first_event, first_event - mark)

        # clicking the timeline elsewhere moves the picture there
        x, y = timeline_point(page, target)
        page.mouse.click(x, y)
        code = shown_code(page, clock, target)
        print(f"scrubbed to {iso(target)}: frame {code - target:+d} ms")
        assert abs(code - target) <= GOP_MS + SLACK_MS + 300, code - target  # + a pixel of the timeline

        if covers(site, cam1, target):
            assert abs(tile_wall_ms(page, cam1) - tile_wall_ms(page, clock)) <= 300

        # 1x forward, then 4x backward (emulated by seeking back)
        play_for(page, "1", 1.5)
        forward = settled_code(page, clock)
        assert 700 <= forward - code <= 3500, forward - code
        play_for(page, "-4", 1.5)
        back = settled_code(page, clock)
        # backward past the first recording loaded (the hour before is loaded on the way)
        x, y = timeline_point(page, at - 1000)
        page.mouse.click(x, y)
        before = shown_code(page, clock, at - 1000)
        page.get_by_test_id("pb-speed").select_option("-8")
        page.get_by_test_id("pb-play").click()
        loaded_from = segs[-6].start_ms
        wait_for(
            lambda: (page.evaluate(READ_FRAME_CODE, tile(clock)) or loaded_from) < loaded_from - 3000,
            15,
            0.2,
            "-8x past the first recording loaded",
        )
        page.get_by_test_id("pb-play").click()
        earlier = settled_code(page, clock)
        print(f"1x 1.5 s: {forward - code:+d} ms; -4x 1.5 s: {back - forward:+d} ms; -8x to {earlier - before:+d} ms")
        assert -9000 <= back - forward <= -1500, back - forward
        assert earlier < loaded_from - 2000, earlier - loaded_from
        page.get_by_test_id("pb-speed").select_option("1")

        # a 20-second selection, exported through the UI, downloaded and verified
        sel_start, sel_end = select_range(page, segs[-8].start_ms + 500, segs[-8].start_ms + 20500)
        assert 19000 <= sel_end - sel_start <= 21000, sel_end - sel_start
        page.get_by_test_id("pb-export").click()
        page.get_by_test_id("export-reason").fill("browser test")
        page.get_by_test_id("export-case").fill("CASE-17")
        page.get_by_test_id("export-form-submit").click()
        page.wait_for_selector("[data-testid=export-form]", state="detached")
        job = page.locator(".pb-job").first  # the newest (the user's earlier exports are listed too)
        assert job.get_by_test_id("export-progress").count() == 1
        job_id = job.get_attribute("data-job-id")
        page.wait_for_selector(f"[data-job-id='{job_id}'] [data-testid=export-download]:not([hidden])", timeout=60000)
        assert job.get_attribute("data-status") == "done"
        with page.expect_download() as info:
            job.get_by_test_id("export-download").click()
        # through the browser's download manager (a short-lived link), not an in-page Blob
        assert "/file?token=" in info.value.url and info.value.suggested_filename.endswith(".zip")
        zip_path = tmp_path / "export.zip"
        info.value.save_as(zip_path)
        r = subprocess.run(
            [sys.executable, "-m", "ronda.cli", "verify", str(zip_path)], capture_output=True, text=True, timeout=60
        )
        assert r.returncode == 0 and "valid" in r.stdout, r.stdout + r.stderr

        # a bookmark from the selection
        page.get_by_test_id("pb-bookmark").click()
        page.get_by_test_id("bookmark-title").fill("Van at the bins")
        page.get_by_test_id("bookmark-note").fill("plate unreadable")
        page.get_by_test_id("bookmark-form-submit").click()
        page.wait_for_selector("[data-testid=bookmark-form]", state="detached")
        marks = [m for m in users["admin"].req("GET", "/api/v1/bookmarks").json() if m["title"] == "Van at the bins"]
        assert sorted((m["camera"], m["start"], m["end"], m["note"]) for m in marks) == sorted(
            (c, iso(sel_start), iso(sel_end), "plate unreadable") for c in (clock, cam1)
        )
        page.wait_for_function(
            """(cid) => document.querySelector('[data-testid=timeline]').rondaTimeline
                 .data.cameras[String(cid)].bookmarks.some((b) => b.title === 'Van at the bins')""",
            arg=clock,
        )

        # an evidence lock: the API's refusal is shown on the form, then a valid one is made
        page.get_by_test_id("pb-lock").click()
        page.get_by_test_id("lock-reason").fill("case CASE-17")
        page.get_by_test_id("lock-until").fill("2020-01-01T00:00")
        page.get_by_test_id("lock-form-submit").click()
        page.wait_for_selector("[data-testid=lock-form] [role=alert]:has-text('until must be in the future')")
        page.get_by_test_id("lock-until").fill("")
        page.get_by_test_id("lock-form-submit").click()
        page.wait_for_selector("[data-testid=lock-form]", state="detached")
        locks = [x for x in site.ronda.api("GET", "/api/v1/evidence-locks").json() if x["reason"] == "case CASE-17"]
        assert sorted((x["camera"], x["start"], x["end"]) for x in locks) == sorted(
            (c, iso(sel_start), iso(sel_end)) for c in (clock, cam1)
        )
        for x in locks:  # leave the shared site's retention as it was
            assert site.ronda.api("DELETE", f"/api/v1/evidence-locks/{x['id']}").status_code == 204
        assert not errors.errors, errors.errors
    finally:
        page.close()


def test_viewer_sees_no_export_and_only_its_cameras(browser, site, users):
    cam1 = site.cam("Camera 1")
    segs, _ = catalog(site.data_dir, cam1)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = ConsoleErrors(page)
    try:
        open_playback(page, site.ronda.base, "viewer_a", [cam1], segs[-1].start_ms)
        names = page.locator("[data-testid=pb-camera-list] li").all_inner_texts()
        assert "Camera 1" in " ".join(names)
        assert not any(n.strip() in ("Camera 2", "Camera 4", "Clock") for n in names), names
        select_range(page, segs[-1].start_ms - 60000, segs[-1].start_ms - 30000)
        assert page.get_by_test_id("pb-play-selection").is_visible()
        for action in ("pb-export", "pb-bookmark", "pb-lock"):
            assert page.get_by_test_id(action).count() == 0, action
        assert not errors.errors, errors.errors
    finally:
        page.close()


def test_site_time_zone_helpers_and_dst_days(browser, site):
    """Wall-clock input in the site's zone and the axis of 23 h / 25 h days (Europe/Rome, 2026)."""
    page = browser.new_page()
    try:
        page.goto(site.ronda.base + "/")
        out = page.evaluate(
            """async () => {
              const { axisTicks, fromLocalInput, toLocalInput } = await import('./js/timeline.js');
              const tz = 'Europe/Rome';  // passed explicitly: no helper reads a global zone
              const day = (s, e, hours) => ({ s: Date.parse(s), e: Date.parse(e), hours });
              const autumn = day('2026-10-24T22:00:00Z', '2026-10-25T23:00:00Z', 25);
              const spring = day('2026-03-28T23:00:00Z', '2026-03-29T22:00:00Z', 23);
              const hours = (d) => axisTicks(d.s, d.e, [d], 2400, tz).ticks.map((x) => x.label.slice(0, 5));
              return {
                back: toLocalInput(Date.parse('2026-10-25T00:30:00Z'), tz),
                twice: new Date(fromLocalInput('2026-10-25T02:30', tz)).toISOString(),
                skipped: new Date(fromLocalInput('2026-03-29T02:30', tz)).toISOString(),
                autumn: hours(autumn), spring: hours(spring),
                label: axisTicks(autumn.s, autumn.e, [autumn], 2400, tz).days[0].label,
              };
            }"""
        )
        assert out["back"] == "2026-10-25T02:30:00"
        assert out["twice"] == "2026-10-25T00:30:00.000Z"  # the first 02:30
        assert out["skipped"] == "2026-03-29T01:30:00.000Z"  # 03:30 summer time
        assert out["autumn"][:4] == ["01:00", "02:00", "02:00", "03:00"] and len(out["autumn"]) == 24, out["autumn"]
        assert out["spring"][:3] == ["01:00", "03:00", "04:00"] and len(out["spring"]) == 22, out["spring"]
        assert "25 h" in out["label"]
    finally:
        page.close()
