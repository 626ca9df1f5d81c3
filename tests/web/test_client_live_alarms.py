"""The operator client's live view and alarm manager in real headless Chromium: the 2×2 grid plays,
single view, rights, keyboard, phone layout, an alarm raised by the simulator handled through the UI,
and a Web Push message delivered to the service worker that opens the alarm."""

from __future__ import annotations

import json
import time

import pytest

from tests.browser import ConsoleErrors
from tests.helpers import PW, wait_for
from tests.web.test_client_shell import login

pytestmark = pytest.mark.browser
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
REPORT = "test.web_report"

# [currentTime, decoded frames] of the live video of a camera (in the grid or the single view)
PROGRESS = """(sel) => [...document.querySelectorAll(sel)].map(
  (v) => [Number(v.dataset.cameraId), v.currentTime, v.getVideoPlaybackQuality().totalVideoFrames, v.videoWidth])"""
TILES = "video[data-testid=video-tile]"
IDS = "(els) => els.map((e) => Number(e.dataset.cameraId))"
NOTIFICATIONS = "() => navigator.serviceWorker.ready.then((r) => r.getNotifications())"
PLAYING = """(sel) => { const v = [...document.querySelectorAll(sel)];
  return v.length > 0 && v.every((x) => x.readyState >= 2 && x.currentTime > 0 && !x.paused); }"""


def operator_image_link(site, alarm_id: int) -> str:
    """The alarm picture's link signed for the operator with the site's key, as a push carries it."""
    import sqlite3

    from ronda.access.image_links import ImageLinks, image_path
    from ronda.access.keys import load_or_create_key

    with sqlite3.connect(f"file:{site.data_dir / 'ronda.db'}?mode=ro", uri=True) as db:
        uid, version = db.execute("SELECT id, token_version FROM users WHERE username = 'operator'").fetchone()
    signer = ImageLinks(load_or_create_key(site.data_dir / "keys" / "tokens.key"))
    return image_path(alarm_id, signer.sign(alarm_id, uid, version, ttl_s=300))


def open_client(browser, site, user: str, viewport=DESKTOP, **context_args):
    context = browser.new_context(viewport=viewport, **context_args)
    page = context.new_page()
    errors = ConsoleErrors(page)
    login(page, site.ronda.base, user, PW)
    page.wait_for_selector("[data-testid=nav-live]")
    return context, page, errors


def assert_all_advance(page, selector: str, seconds: float = 3.0, limit: float = 15.0) -> dict[int, tuple[float, int]]:
    """Every video matching ``selector`` plays: currentTime and decoded frames go up.

    Each video must advance by at least 3 frames and ``seconds * 0.4`` of media time; a loaded test
    machine may take longer than ``seconds`` to get there (up to ``limit``), but a stuck video never does.
    """
    page.wait_for_function(PLAYING, arg=selector, timeout=20000)
    before = {c: (t, f) for c, t, f, _w in page.evaluate(PROGRESS, selector)}
    start = time.monotonic()
    time.sleep(seconds)
    while True:
        after = {c: (t, f) for c, t, f, _w in page.evaluate(PROGRESS, selector)}
        advance = {c: (after[c][0] - before[c][0], after[c][1] - before[c][1]) for c in before}
        behind = {c: a for c, a in advance.items() if a[0] <= seconds * 0.4 or a[1] < 3}
        if not behind or time.monotonic() - start > limit:
            break
        time.sleep(0.5)
    took = time.monotonic() - start
    for cam, (dt, frames) in advance.items():
        assert dt > seconds * 0.4, f"camera {cam}: currentTime advanced {dt:.2f} s in {took:.1f} s"
        assert frames >= 3, f"camera {cam}: only {frames} frames decoded in {took:.1f} s"
    return advance


def focused_camera(page) -> int | None:
    return page.evaluate("() => { const c = document.activeElement.dataset.cameraId; return c ? Number(c) : null; }")


@pytest.fixture(scope="module")
def report_alarm(site, users):
    """A low-priority alarm from an operator's manual event on Camera 2 (through a rule made here)."""
    admin, operator = users["admin"], users["operator"]
    rule = {
        "name": "web client test report",
        "trigger": {"types": [REPORT]},
        "actions": [{"type": "raise_alarm", "priority": "low", "title": "{camera_name}: {text}",
                     "instructions": "Look, then close.", "incident": "{rule}:{camera}:{text}"}],
    }  # fmt: skip
    r = admin.req("POST", "/api/v1/rules", json=rule)
    assert r.status_code == 201, r.text
    rule_id = r.json()["id"]
    try:
        text = f"report {time.time():.0f}"
        r = operator.req("POST", "/api/v1/events", json={"type": REPORT, "camera": site.cam("Camera 2"), "text": text})
        assert r.status_code == 202, r.text

        def mine():
            return [a for a in operator.req("GET", "/api/v1/alarms?state=open").json() if text in a["title"]]

        yield wait_for(mine, 10, interval=0.1, what="the report alarm")[0]
    finally:
        admin.req("DELETE", f"/api/v1/rules/{rule_id}")


@pytest.mark.smoke  # the smoke tier's browser test: login, live video in Chromium
def test_grid_plays_single_view_and_keyboard(browser, site, users, record_property):
    context, page, errors = open_client(browser, site, "operator")
    cams = [site.cam(f"Camera {n}") for n in range(1, 5)]
    try:
        page.get_by_test_id("layout-4").click()
        page.wait_for_function("(n) => document.querySelectorAll('video[data-testid=video-tile]').length === n", arg=4)
        shown = page.eval_on_selector_all(TILES, IDS)
        assert shown == cams, shown
        advance = assert_all_advance(page, TILES)
        record_property("grid_advance", json.dumps(advance))
        # the grid plays the sub-stream where a camera has one (Camera 1), the single view the main stream
        widths = {c: w for c, _t, _f, w in page.evaluate(PROGRESS, TILES)}
        assert widths[cams[0]] == 640, widths

        # keyboard: the tiles are one tab stop, the arrows move in the 2×2 grid, Enter opens, Escape returns
        page.locator(".live-grid .tile").first.focus()
        page.keyboard.press("ArrowRight")
        assert focused_camera(page) == cams[1]
        page.keyboard.press("ArrowDown")
        assert focused_camera(page) == cams[3]
        page.keyboard.press("ArrowLeft")
        assert focused_camera(page) == cams[2]
        assert page.locator(".live-grid [tabindex='0']").count() == 1
        page.keyboard.press("Enter")
        page.wait_for_function("(id) => location.hash === `#/live/${id}`", arg=cams[2])
        page.wait_for_function(PLAYING, arg=".live-single " + TILES, timeout=20000)
        page.keyboard.press("Escape")
        page.wait_for_function("() => location.hash === '#/live'")
        page.wait_for_selector(".live-grid " + TILES)

        # double-click a tile: single view with the main stream, low latency
        page.locator(f".live-grid .tile[data-camera-id='{cams[0]}']").dblclick()
        page.wait_for_selector(".live-single " + TILES)
        assert_all_advance(page, ".live-single " + TILES)
        assert page.evaluate(PROGRESS, ".live-single " + TILES)[0][3] == 1920
        assert page.locator(".live-grid").count() == 0  # the grid's players were stopped
        page.get_by_test_id("live-back").click()
        page.wait_for_function("(n) => document.querySelectorAll('video[data-testid=video-tile]').length === n", arg=4)
        assert not errors.errors, errors.errors
    finally:
        context.close()


def test_viewer_sees_only_its_cameras(browser, site, users):
    context, page, errors = open_client(browser, site, "viewer_b")
    even = {site.cam("Camera 2"), site.cam("Camera 4")}
    try:
        page.wait_for_selector(TILES)
        tree = set(page.eval_on_selector_all("[data-testid=camera-item]", IDS))
        assert tree == even, tree
        tiles = set(page.eval_on_selector_all(TILES, IDS))
        assert tiles == even, tiles
        assert page.locator("[data-testid=nav-admin]").count() == 0
        # the search filters as one types
        page.get_by_test_id("camera-search").fill("4")
        page.wait_for_function("() => document.querySelectorAll('[data-testid=camera-item]').length === 1")
        assert page.inner_text("[data-testid=camera-item]").strip() == "Camera 4"
        assert not errors.errors, errors.errors
    finally:
        context.close()


def test_alarm_from_the_simulator_taken_and_closed_in_the_ui(browser, site, users, record_property):
    admin, operator = users["admin"], users["operator"]
    cam4 = site.cam("Camera 4")

    def open_cam4():
        alarms = operator.req("GET", f"/api/v1/alarms?state=open&camera={cam4}").json()
        return [a for a in alarms if a["camera"] == cam4]

    for a in open_cam4():  # an outage left open by an earlier test: the next one reopens or raises anew
        admin.req("POST", f"/api/v1/alarms/{a['id']}/close", json={"text": "closed before the web client test"})
    context, page, errors = open_client(browser, site, "operator")
    stopped = 0.0
    try:
        # a second tab watches Camera 4 live: its tile turns offline and red
        live = context.new_page()
        live_errors = ConsoleErrors(live)
        login(live, site.ronda.base, "operator", PW)
        live.wait_for_selector("[data-testid=nav-live]")
        live.goto(f"{site.ronda.base}/#/live/{cam4}")
        live.wait_for_selector(".live-single .tile:not(.offline):not(.alarm)")
        page.goto(site.ronda.base + "/#/alarms")
        page.wait_for_selector(".alarm-list")
        page.wait_for_timeout(300)  # the list has loaded; from now on new alarms come over the WebSocket
        stopped = time.time()
        site.sim.stop_camera("cam4")
        alarm = wait_for(open_cam4, 40, interval=0.1, what="the camera-offline alarm of Camera 4")[0]
        in_api = time.time()
        item = f"[data-testid=alarm-item][data-alarm-id='{alarm['id']}']"
        page.wait_for_selector(item, timeout=2000)
        shown = time.time()
        record_property("alarm_api_to_ui_s", round(shown - in_api, 3))
        record_property("camera_stop_to_ui_s", round(shown - stopped, 3))
        assert "Camera 4" in page.inner_text(item)
        assert page.get_attribute(item, "data-priority") == "high"
        assert page.get_attribute(".alarms", "data-last-sound") == "high"  # the operator has clicked: sound on
        live.wait_for_selector(".live-single .tile.offline.alarm .tile-flag:has-text('Alarm')", timeout=5000)
        assert "offline" in live.inner_text(".live-single .tile-status")
        live.close()
        assert not live_errors.errors, live_errors.errors

        page.click(item)
        page.wait_for_function("(id) => location.hash === `#/alarms/${id}`", arg=alarm["id"])
        page.wait_for_selector(".alarm-info h2:has-text('Camera 4')")
        page.get_by_test_id("alarm-take").click()
        page.wait_for_selector("[data-testid=alarm-owner]:has-text('operator')")
        page.get_by_test_id("alarm-close").click()
        page.get_by_test_id("alarm-text").fill("camera power restored by the web client test")
        page.get_by_test_id("alarm-text-ok").click()
        page.wait_for_selector("[data-testid=alarm-state]:has-text('Closed')")
        detail = operator.req("GET", f"/api/v1/alarms/{alarm['id']}").json()
        assert detail["state"] == "closed" and detail["close_reason"].startswith("camera power restored")
        # the camera's other offline events (its sub-stream, a retry) may join the open alarm at any
        # time: they are "event" entries between the operator's own actions
        handled = [e["action"] for e in detail["history"] if e["action"] != "event"]
        assert handled[-2:] == ["take", "close"], detail["history"]
        # the list beside the detail shows open alarms: it drops the closed one without a reload
        page.wait_for_selector(item, state="detached", timeout=3000)
        assert not errors.errors, errors.errors
    finally:
        context.close()
        site.sim.start_camera("cam4")
    # Camera 4 records again before the next test (other modules assume it does)
    wait_for(lambda: admin.req("GET", f"/api/v1/cameras/{cam4}").json()["recording"]["main"]["state"] == "recording",
             40, what="Camera 4 recording again")  # fmt: skip


def test_phone_layout(browser, site, users, report_alarm):
    context, page, errors = open_client(browser, site, "operator", viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page.get_by_test_id("layout-4").click()
        page.wait_for_selector(TILES)
        boxes = [page.locator(".live-grid > *").nth(i).bounding_box() for i in range(2)]
        assert abs(boxes[0]["x"] - boxes[1]["x"]) < 1 and boxes[1]["y"] >= boxes[0]["y"] + boxes[0]["height"] - 1
        assert boxes[0]["width"] > PHONE["width"] * 0.9  # one column, full width
        assert_all_advance(page, ".live-grid > :first-child video")
        page.goto(site.ronda.base + "/#/alarms")
        item = f"[data-testid=alarm-item][data-alarm-id='{report_alarm['id']}']"
        page.wait_for_selector(item)
        box = page.locator(item).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        assert not page.locator(".alarm-detail-pane").is_visible()  # the list first, then the detail
        page.locator(item).tap()
        page.wait_for_selector(".alarm-info h2:visible")
        assert not page.locator(".alarm-list").is_visible()
        page.get_by_test_id("alarm-back").tap()
        page.wait_for_selector(item)
        assert not errors.errors, errors.errors
    finally:
        context.close()


def test_alarm_list_keyboard(browser, site, users, report_alarm):
    operator = users["operator"]  # a second alarm, so that there is somewhere to move to
    r = operator.req("POST", "/api/v1/events", json={"type": REPORT, "camera": site.cam("Camera 2"),
                                                     "text": f"second {time.time():.0f}"})  # fmt: skip
    assert r.status_code == 202, r.text
    wait_for(lambda: len(operator.req("GET", "/api/v1/alarms").json()) >= 2, 10, interval=0.1, what="two alarms")
    context, page, errors = open_client(browser, site, "operator")
    try:
        page.goto(site.ronda.base + "/#/alarms")
        page.get_by_test_id("alarm-filter-state").select_option("all")
        page.wait_for_function("() => document.querySelectorAll('[data-testid=alarm-item]').length >= 2")
        page.locator("[data-testid=alarm-item]").first.focus()
        first = page.evaluate("() => Number(document.activeElement.dataset.alarmId)")
        # Alarms arriving meanwhile re-sort the list (the focus stays on its alarm): the order that counts
        # is the one at the key press, taken by a capturing listener in the same moment. (Reading it after
        # the press failed once in CI: the list had been re-sorted in between.)
        page.evaluate(
            "() => document.addEventListener('keydown', () => { window.atPress = {from: Number("
            "document.activeElement.dataset.alarmId), ids: [...document.querySelectorAll("
            "'[data-testid=alarm-item]')].map(x => Number(x.dataset.alarmId))}; }, {capture: true, once: true})"
        )
        page.keyboard.press("ArrowDown")
        moved = page.evaluate(
            "() => { const {from, ids} = window.atPress; return {from, now: Number("
            "document.activeElement.dataset.alarmId), expected: ids[ids.indexOf(from) + 1]}; }"
        )
        assert moved["from"] == first and moved["now"] == moved["expected"] != first, moved
        target = moved["now"]
        page.keyboard.press("Enter")
        page.wait_for_function("(id) => location.hash === `#/alarms/${id}`", arg=target)
        page.wait_for_function("() => document.activeElement.matches('.alarm-info h2')")
        page.keyboard.press("Escape")
        page.wait_for_function("() => location.hash === '#/alarms'")
        page.wait_for_function("(id) => Number(document.activeElement.dataset.alarmId) === id", arg=target)
        page.get_by_test_id("alarm-filter-state").select_option("open")
        assert not errors.errors, errors.errors
    finally:
        context.close()


def test_push_message_shows_a_notification_that_opens_the_alarm(browser, site, users, report_alarm):
    base = site.ronda.base
    context, page, errors = open_client(browser, site, "operator", permissions=["notifications"])
    try:
        page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=15000)
        versions: list[dict] = []
        cdp = context.new_cdp_session(page)
        cdp.on("ServiceWorker.workerVersionUpdated", lambda e: versions.extend(e["versions"]))
        cdp.send("ServiceWorker.enable")

        def active_registration():
            page.wait_for_timeout(100)  # lets Playwright deliver the CDP events
            mine = [v for v in versions if v["scriptURL"] == base + "/sw.js" and v["status"] == "activated"]
            return mine[-1]["registrationId"] if mine else None

        registration = wait_for(active_registration, 10, interval=0.1, what="the active service worker")
        aid = report_alarm["id"]
        # the alarm's picture, signed for the operator as the server signs it for a push (5 min)
        link = operator_image_link(site, aid)
        payload = {"alarm_id": aid, "title": report_alarm["title"], "body": "Camera 2 · low", "url": f"/#/alarms/{aid}",
                   "snapshot": link, "priority": "high", "time": int(time.time() * 1000)}  # fmt: skip

        def shown_notifications():
            return page.evaluate(
                f"() => ({NOTIFICATIONS})().then((n) => n.map("
                "(x) => ({title: x.title, tag: x.tag, url: x.data.url, sticky: x.requireInteraction, image: x.image})))"
            )

        def deliver():
            cdp.send("ServiceWorker.deliverPushMessage",
                     {"origin": base, "registrationId": registration, "data": json.dumps(payload)})  # fmt: skip

        deliver()
        try:
            shown = wait_for(shown_notifications, 10, interval=0.2, what="the notification")
        except AssertionError:
            # Once in ~10 full runs under load, the DevTools delivery left no notification and no error
            # (cause not found: the worker was activated and running). The same message delivered again
            # must show it; the tag makes a second delivery replace, not add, a notification.
            print(f"push: no notification 10 s after the first delivery (worker versions: {versions}); again")
            deliver()
            shown = wait_for(shown_notifications, 10, interval=0.2, what=f"the notification (versions: {versions})")
        expected = {"title": report_alarm["title"], "tag": f"alarm-{aid}", "url": f"/#/alarms/{aid}", "sticky": True,
                    "image": base + link}  # fmt: skip
        assert shown == [expected]
        # the notification's link needs no login (the phone's notification has none): the server takes the
        # token and answers that this manual alarm has no picture (the bytes of a picture that exists:
        # tests/events/test_alarm_image.py), while the same link altered is refused as unauthenticated
        errors.expect(404, 401)
        fetch = "(u) => fetch(u, {credentials: 'omit'}).then(async (r) => [r.status, (await r.json()).detail])"
        assert page.evaluate(fetch, base + link) == [404, "image not found"], page.evaluate(fetch, base + link)
        assert page.evaluate(fetch, base + link[:-1] + ("A" if link[-1] != "A" else "B"))[0] == 401
        # a headless browser has no notification to click: call what the notificationclick handler calls
        worker = context.service_workers[0]
        worker.evaluate(
            "(tag) => self.registration.getNotifications({tag}).then((n) => self.openNotification(n[0])).then(() => 1)",
            f"alarm-{aid}",
        )
        page.wait_for_function("(id) => location.hash === `#/alarms/${id}`", arg=aid, timeout=5000)
        page.wait_for_selector(f".alarm-info h2:has-text('{report_alarm['title']}')")
        assert page.evaluate(f"() => ({NOTIFICATIONS})().then((n) => n.length)") == 0  # clicked: closed
        # the opt-in button knows the state (granted, but no subscription: off)
        page.wait_for_selector("[data-testid=push-toggle][data-state=off]")
        assert not errors.errors, errors.errors
        # the installed app starts offline from the cached shell (and says the server is unreachable)
        context.set_offline(True)
        page.reload()
        page.wait_for_selector("[data-testid=login-username]")
        page.wait_for_selector("[role=alert]:has-text('wrong')")
    finally:
        context.close()
