"""The map and admin views in real headless Chromium against the shared recording site: rights,
adding a camera by URL (and the API's refusal of a bad one), uploading a plan and placing a camera,
a marker's live popup and alarm pulse, and the rules editor."""

from __future__ import annotations

import contextlib
import json
import time

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.api.test_map_api import png_bytes
from tests.browser import ConsoleErrors
from tests.helpers import PW, wait_for
from tests.web.test_client_shell import login

pytestmark = pytest.mark.browser

PLAYING = (
    "(sel) => { const v = document.querySelector(sel);"
    " return Boolean(v && v.readyState >= 2 && v.currentTime > 0 && !v.paused); }"
)


@contextlib.contextmanager
def session(browser, site, user: str, viewport=(1280, 860)):
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    errors = ConsoleErrors(page)
    try:
        login(page, site.ronda.base, user, PW)
        page.wait_for_selector("[data-testid=nav-live]")
        yield page, errors
        assert not errors.errors, errors.errors
    finally:
        page.close()


def test_viewer_sees_no_admin(browser, site, users):
    with session(browser, site, "viewer_a") as (page, _):
        assert page.locator("[data-testid=nav-admin]").count() == 0
        page.goto(site.ronda.base + "/#/admin/users")
        page.wait_for_selector("main.view-admin [role=alert]")
        assert page.locator(".admin-view, [data-testid^=admin-tab-]").count() == 0
        # the map is there, without the edit mode (the plan, or the geographic map while another test of
        # the shared site has removed the plan)
        page.goto(site.ronda.base + "/#/map")
        page.locator("[data-testid=map-stage]:visible, [data-testid=map-geo]:visible").first.wait_for()
        assert page.locator("[data-testid=map-edit]").count() == 0
    for path in ("/api/v1/users", "/api/v1/roles", "/api/v1/rules", "/api/v1/storage", "/api/v1/audit"):
        assert users["viewer_a"].req("GET", path).status_code == 403, path


def test_admin_adds_tests_and_deletes_a_camera_by_url(browser, site, users):
    name = f"Admin UI cam {int(time.time())}"
    url = site.sim.url("cam3", sub=True)
    bad = "file:///etc/passwd"
    expected = users["admin"].req("POST", "/api/v1/cameras", json={"name": "bad", "url": bad})
    assert expected.status_code == 422
    message = expected.json()["detail"][0]["msg"]
    with session(browser, site, "admin") as (page, errors):
        errors.expect(422)  # the refused URL below
        page.get_by_test_id("nav-admin").click()
        page.wait_for_selector("[data-testid=admin-tab-cameras][aria-selected=true]")
        for tab in ("cameras", "users", "roles", "rules", "storage", "audit"):
            assert page.get_by_test_id(f"admin-tab-{tab}").count() == 1
        form = page.get_by_test_id("camera-add")
        # a bad URL: the API's message is shown, nothing is added
        form.locator("input[name=name]").fill(name)
        form.locator("input[name=url]").fill(bad)
        form.locator("button[type=submit]").click()
        page.wait_for_selector(f"[data-testid=camera-add-error]:has-text({json.dumps(message)})")
        assert "url" in page.get_by_test_id("camera-add-error").inner_text()
        assert page.locator(f"[data-testid=admin-camera-row]:has-text({json.dumps(name)})").count() == 0
        # a good one appears in the list
        form.locator("input[name=url]").fill(url)
        form.locator("input[name=retention_days]").fill("7")
        form.locator("button[type=submit]").click()
        row = page.locator(f"[data-testid=admin-camera-row]:has-text({json.dumps(name)})")
        row.wait_for()
        cid = int(row.get_attribute("data-camera-id"))
        try:
            assert url in row.inner_text() and "7" in row.inner_text()
            # test connection: the simulator answers
            row.get_by_test_id("camera-test").click()
            page.wait_for_selector("[data-testid=camera-test-result]:has-text('Connection OK')", timeout=20000)
            # edit the retention
            row.get_by_test_id("camera-edit-open").click()
            page.get_by_test_id("camera-retention").fill("3")
            page.get_by_test_id("camera-edit").locator("button[type=submit]").click()
            wait_for(lambda: users["admin"].req("GET", f"/api/v1/cameras/{cid}").json()["retention_days"] == 3, 5,
                     0.2, what="retention 3 days")  # fmt: skip
            # disable, then delete with confirmation
            row = page.locator(f"[data-testid=admin-camera-row][data-camera-id='{cid}']")
            row.get_by_test_id("camera-enabled").uncheck()
            wait_for(lambda: users["admin"].req("GET", f"/api/v1/cameras/{cid}").json()["enabled"] is False, 5, 0.2,
                     what="camera disabled")  # fmt: skip
            row = page.locator(f"[data-testid=admin-camera-row][data-camera-id='{cid}']")
            # The list is drawn again when the camera's status changes (disabled → offline event); a
            # confirmation open at that moment is lost (seen in a loaded CI run: the "Yes" never came).
            # Noted as a client defect; the test asks again.
            for attempt in range(3):
                row.get_by_test_id("camera-delete").click()
                try:
                    row.get_by_test_id("camera-delete-yes").click(timeout=5000)
                    break
                except PlaywrightTimeout:
                    assert attempt < 2, "the delete confirmation never stayed"
            page.locator(f"[data-testid=admin-camera-row][data-camera-id='{cid}']").wait_for(state="detached")
            assert users["admin"].req("GET", f"/api/v1/cameras/{cid}").status_code == 404
        finally:
            users["admin"].req("DELETE", f"/api/v1/cameras/{cid}")
        # storage and audit tabs answer
        page.get_by_test_id("admin-tab-storage").click()
        page.wait_for_selector("[data-testid=storage-status] dt:has-text('state')")
        page.get_by_test_id("admin-tab-audit").click()
        page.locator("[data-testid=audit-search] input[name=action]").fill("camera.delete")
        page.locator("[data-testid=audit-search] button[type=submit]").click()
        page.wait_for_selector("[data-testid=audit-row]:has-text('camera.delete')")
        page.get_by_test_id("audit-verify").click()
        page.wait_for_selector("[data-testid=audit-verify-result]:has-text('intact')")


def test_plan_upload_place_camera_live_popup_and_alarm(browser, site, users):
    admin = users["admin"]
    cid = site.cam("Camera 1")
    admin.req("DELETE", f"/api/v1/map/cameras/{cid}")  # start unplaced
    for a in admin.req("GET", f"/api/v1/alarms?state=open&camera={cid}").json():  # left by other tests
        admin.req("POST", f"/api/v1/alarms/{a['id']}/close", json={"text": "map browser test: start clean"})
    rule = admin.req("POST", "/api/v1/rules", json={
        "name": f"map test {time.time()}", "trigger": {"types": ["test.map_alarm"], "cameras": [cid]},
        "actions": [{"type": "raise_alarm", "priority": "low", "title": "map test on {camera_name}"}]})  # fmt: skip
    assert rule.status_code == 201, rule.text
    alarm_ids: list[int] = []
    try:
        with session(browser, site, "admin") as (page, _):
            page.get_by_test_id("nav-map").click()
            page.get_by_test_id("map-edit").click()
            page.get_by_test_id("map-upload").set_input_files(
                files=[{"name": "plan.png", "mimeType": "image/png", "buffer": png_bytes(400, 300, (30, 41, 59))}]
            )
            page.wait_for_function(
                "() => { const i = document.querySelector('[data-testid=map-plan] img');"
                " return i && i.complete && i.naturalWidth === 400; }"
            )
            item = page.locator(f"[data-testid=map-camera-item][data-camera-id='{cid}']")
            plan = page.get_by_test_id("map-plan")

            def steady_box() -> dict | None:  # the plan is fitted to its pane, which settles after the upload
                before = plan.bounding_box()
                page.wait_for_timeout(300)
                return before if before == plan.bounding_box() else None

            box = wait_for(steady_box, 10, interval=0.1, what="the plan's size settled")
            item.drag_to(plan, target_position={"x": box["width"] * 0.3, "y": box["height"] * 0.6})
            marker = page.locator(f"[data-testid=map-marker][data-camera-id='{cid}']")
            marker.wait_for()
            pos = next(c for c in admin.req("GET", "/api/v1/map").json()["cameras"] if c["id"] == cid)
            assert abs(pos["x"] - 0.3) < 0.03 and abs(pos["y"] - 0.6) < 0.03, pos
            page.get_by_test_id("map-edit").click()  # done editing

            # an alarm on the camera makes its marker pulse
            page.wait_for_selector(f"[data-testid=map-marker][data-camera-id='{cid}'][data-alarm=false]")
            r = admin.req("POST", "/api/v1/events", json={"type": "test.map_alarm", "camera": cid})
            assert r.status_code == 202, r.text
            # (generous limits: a loaded test machine; how fast alarms arrive is bench/alarms.py's job)
            page.wait_for_selector(f"[data-testid=map-marker][data-camera-id='{cid}'][data-alarm=true]", timeout=20000)
            alarm_ids = [a["id"] for a in admin.req("GET", f"/api/v1/alarms?state=open&camera={cid}").json()
                         if a["title"].startswith("map test")]  # fmt: skip

            # closed while the client's event socket is down: the change is missed, and the map reads the
            # open alarms again when the socket is back (the server also drops a socket that falls behind)
            page.evaluate("() => { const ev = window.rondaApp.events; ev.delay = 3000; ev.ws.close(); }")
            for aid in alarm_ids:
                admin.req("POST", f"/api/v1/alarms/{aid}/close", json={"text": "map browser test"})
            page.wait_for_selector(f"[data-testid=map-marker][data-camera-id='{cid}'][data-alarm=false]", timeout=20000)

            # click → live popup of that camera plays
            page.locator(f"[data-testid=map-marker][data-camera-id='{cid}']").click()
            sel = f"[data-testid=map-live][data-camera-id='{cid}'] video"
            page.wait_for_function(PLAYING, arg=sel, timeout=20000)
            page.get_by_test_id("map-open-live").click()
            page.wait_for_function(f"() => location.hash === '#/live/{cid}'")
    finally:
        admin.req("DELETE", f"/api/v1/rules/{rule.json()['id']}")
        for aid in alarm_ids:
            admin.req("POST", f"/api/v1/alarms/{aid}/close", json={"text": "map browser test"})


def test_rules_tab(browser, site, users):
    invalid = {"name": "no actions", "trigger": {"types": ["camera.offline"]}, "actions": []}
    expected = users["admin"].req("POST", "/api/v1/rules", json=invalid)
    assert expected.status_code == 422
    message = expected.json()["detail"][0]["msg"]
    name = f"UI rule {int(time.time())}"
    with session(browser, site, "admin") as (page, errors):
        errors.expect(422)
        page.goto(site.ronda.base + "/#/admin/rules")
        page.wait_for_selector("[data-testid=admin-rule-row]:has-text('Camera offline')")
        assert page.locator("[data-testid=admin-rule-row]:has-text('Storage low')").count() == 1
        editor, error = page.get_by_test_id("rule-json"), page.get_by_test_id("rule-error")
        # not JSON at all: said so in the client
        editor.fill("{ not json")
        page.get_by_test_id("rule-create").click()
        page.wait_for_selector("[data-testid=rule-error]:has-text('Not valid JSON')")
        # JSON the API refuses: its message, naming the field
        editor.fill(json.dumps(invalid))
        page.get_by_test_id("rule-create").click()
        page.wait_for_selector(f"[data-testid=rule-error]:has-text({json.dumps(message)})")
        assert "actions" in error.inner_text()
        # a good one is created, toggled off and deleted
        good = {"name": name, "trigger": {"types": ["test.ui_rule"]},
                "actions": [{"type": "raise_alarm", "title": "ui rule"}]}  # fmt: skip
        editor.fill(json.dumps(good))
        page.get_by_test_id("rule-create").click()
        row = page.locator(f"[data-testid=admin-rule-row]:has-text({json.dumps(name)})")
        row.wait_for()
        rid = int(row.get_attribute("data-rule-id"))
        try:
            row.get_by_test_id("rule-enabled").uncheck()
            wait_for(lambda: users["admin"].req("GET", f"/api/v1/rules/{rid}").json()["enabled"] is False, 5, 0.2,
                     what="rule disabled")  # fmt: skip
            row = page.locator(f"[data-testid=admin-rule-row][data-rule-id='{rid}']")
            assert not row.get_by_test_id("rule-enabled").is_checked()
            row.locator("button.danger").click()
            row.get_by_role("button", name="Yes").click()
            row.wait_for(state="detached")
            assert users["admin"].req("GET", f"/api/v1/rules/{rid}").status_code == 404
        finally:
            users["admin"].req("DELETE", f"/api/v1/rules/{rid}")
