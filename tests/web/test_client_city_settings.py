"""The analytics editor's forms for the city detectors' own settings (dumping, graffiti, tamper,
licence plates), in real headless Chromium against the shared recording site: a form per ticked
detector, saved through the real ``PUT /cameras/{id}/analytics`` and read back through ``GET``; the
values come back after a reload; an out-of-range value shows the API's refusal naming the field and
changes nothing; settings the forms do not show (the motion schedule, the zones) survive a save; a
non-admin cannot open the editor."""

from __future__ import annotations

import copy

import pytest

from tests.browser import ConsoleErrors
from tests.helpers import PW, wait_for

pytestmark = pytest.mark.browser
CITY = ("dumping", "graffiti", "tamper", "plates")


def sign_in(page, base: str, hash_path: str, user: str = "admin") -> None:
    page.goto(f"{base}/#{hash_path}")
    page.get_by_test_id("login-username").fill(user)
    page.get_by_test_id("login-password").fill(PW)
    page.get_by_test_id("login-submit").click()


def settings_of(users, cam: int) -> dict:
    r = users["admin"].req("GET", f"/api/v1/cameras/{cam}/analytics")
    assert r.status_code == 200, r.text
    return r.json()


def test_city_detector_settings_save_reload_and_refusal(browser, site, users):
    cam, other = site.cam("Camera 3"), site.cam("Camera 4")
    original = settings_of(users, cam)
    # What the city forms do not show must survive their save: a motion schedule, a zone, motion values.
    start = copy.deepcopy(original)
    start["detectors"] = ["motion"]
    start["motion"] = {**start["motion"], "sensitivity": 65,
                       "schedule": [{"days": [0, 1, 2], "start": "08:00", "end": "18:00"}]}  # fmt: skip
    start["zones"] = [{"name": "Kerb", "kind": "dumping", "points": [[0.1, 0.5], [0.5, 0.5], [0.5, 0.9], [0.1, 0.9]]}]
    r = users["admin"].req("PUT", f"/api/v1/cameras/{cam}/analytics", json=start)
    assert r.status_code == 200, r.text
    before = settings_of(users, cam)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors = ConsoleErrors(page)
    errors.expect(422)  # the out-of-range value below
    try:
        sign_in(page, site.ronda.base, f"/admin/analytics/{cam}")
        page.get_by_test_id("an-save").wait_for(timeout=20000)
        assert page.get_by_test_id("an-camera").input_value() == str(cam)
        # no form while its detector is off; ticking it shows the form
        for det in CITY:
            assert page.get_by_test_id(f"an-city-{det}").is_hidden(), det
            page.get_by_test_id(f"an-detector-{det}").check()
            page.get_by_test_id(f"an-city-{det}").wait_for(state="visible")
        # the plate cameras offered: the site's other cameras by name, not this one
        options = page.get_by_test_id("an-dumping-plate_cameras").locator("option").all_inner_texts()
        assert "Camera 4" in options and "Camera 3" not in options, options

        page.get_by_test_id("an-dumping-hold_seconds").fill("20")
        page.get_by_test_id("an-dumping-max_area").fill("20")  # % of the picture
        page.get_by_test_id("an-dumping-plate_cameras").select_option(label="Camera 4")
        page.get_by_test_id("an-dumping-plate_window_s").fill("120")
        page.get_by_test_id("an-graffiti-sensitivity").fill("80")
        page.get_by_test_id("an-graffiti-hold_seconds").fill("30")
        page.get_by_test_id("an-tamper-hold_seconds").fill("12")
        page.get_by_test_id("an-plates-frame_mode").check()
        page.get_by_test_id("an-plates-frame_interval_s").fill("5")
        page.get_by_test_id("an-plates-min_confidence").fill("0.6")
        page.get_by_test_id("an-save").click()
        page.wait_for_function("() => document.querySelector('.an-body')?.dataset.saved === '1'")

        after = settings_of(users, cam)
        assert after["dumping"] == {**before["dumping"], "hold_seconds": 20.0, "max_area": 0.2,
                                    "plate_cameras": [other], "plate_window_s": 120.0}, after["dumping"]  # fmt: skip
        assert after["graffiti"] == {**before["graffiti"], "sensitivity": 80, "hold_seconds": 30.0}, after["graffiti"]
        assert after["tamper"] == {**before["tamper"], "hold_seconds": 12.0}, after["tamper"]
        assert after["plates"] == {**before["plates"], "frame_mode": True, "frame_interval_s": 5.0,
                                   "min_confidence": 0.6}, after["plates"]  # fmt: skip
        assert set(CITY) <= set(after["detectors"]), after["detectors"]
        for key in ("motion", "objects", "zones", "stream"):
            assert after[key] == before[key], key

        # reload: the values come back from the server into the forms
        page.reload()
        page.get_by_test_id("an-save").wait_for(timeout=20000)
        for det in CITY:
            assert page.get_by_test_id(f"an-city-{det}").is_visible(), det
        assert page.get_by_test_id("an-dumping-hold_seconds").input_value() == "20"
        assert page.get_by_test_id("an-dumping-max_area").input_value() == "20"
        chosen = page.eval_on_selector(
            "[data-testid=an-dumping-plate_cameras]", "s => [...s.selectedOptions].map((o) => o.textContent)"
        )
        assert chosen == ["Camera 4"], chosen
        assert page.get_by_test_id("an-graffiti-sensitivity").input_value() == "80"
        assert page.get_by_test_id("an-tamper-hold_seconds").input_value() == "12"
        assert page.get_by_test_id("an-plates-frame_mode").is_checked()
        assert page.get_by_test_id("an-plates-frame_interval_s").input_value() == "5"
        # a key the forms do not know (a newer server's) goes back as it came; a missing block gets the
        # model's defaults (this server refuses unknown keys, so the module is asked directly)
        read = page.evaluate("""async () => {
            const m = await import(location.origin + "/js/views/admin/ancity.js");
            return m.cityForms({ dumping: { hold_seconds: 12, future_key: "x" } }, []).read(); }""")
        assert read["dumping"]["future_key"] == "x" and read["dumping"]["hold_seconds"] == 12, read
        assert read["tamper"] == {"sensitivity": 50, "hold_seconds": 5}, read
        assert read["plates"]["frame_mode"] is False, read
        assert read["plates"]["classes"] == ["car", "truck", "bus", "motorbike"], read

        # out of range (tamper hold at most 600 s): the API's refusal, naming the field; nothing changes
        page.get_by_test_id("an-tamper-hold_seconds").fill("9999")
        page.get_by_test_id("an-save").click()
        err = page.get_by_test_id("an-save-error")
        wait_for(lambda: "tamper.hold_seconds" in err.inner_text(), 10, what="the refusal on screen")
        print("refusal shown:", err.inner_text())
        hold = page.get_by_test_id("an-tamper-hold_seconds")
        assert hold.get_attribute("aria-invalid") == "true"
        assert "600" in page.get_by_test_id("an-city-tamper").inner_text()  # the message next to the field
        assert settings_of(users, cam) == after

        # a rule across fields (dumping: smallest < largest object): said at the end of its form
        hold.fill("12")
        page.get_by_test_id("an-dumping-min_area").fill("30")
        page.get_by_test_id("an-save").click()
        dumping = page.get_by_test_id("an-city-dumping")
        rule = "min_area must be smaller than max_area"
        wait_for(lambda: rule in dumping.inner_text(), 10, what="the rule's refusal on its form")
        assert hold.get_attribute("aria-invalid") is None  # the previous refusal is gone
        assert settings_of(users, cam) == after

        # in Italian
        page.get_by_test_id("language").select_option("it")
        page.wait_for_selector("[data-testid=an-city-dumping] legend:has-text('Abbandono rifiuti')")
        assert not errors.errors, errors.errors
    finally:
        page.close()
        users["admin"].req("PUT", f"/api/v1/cameras/{cam}/analytics", json=original)


def test_non_admin_cannot_open_the_editor(browser, site, users):
    cam = site.cam("Camera 3")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = ConsoleErrors(page)
    try:
        sign_in(page, site.ronda.base, f"/admin/analytics/{cam}", user="operator")
        page.wait_for_selector("[data-testid=nav-live]")
        page.wait_for_selector("main [role=alert]")
        assert page.locator("[data-testid=an-save], [data-testid^=an-city-], [data-testid^=admin-tab-]").count() == 0
        assert not errors.errors, errors.errors
    finally:
        page.close()
    body = settings_of(users, cam)
    body["tamper"] = {**body["tamper"], "hold_seconds": 30.0}
    assert users["operator"].req("PUT", f"/api/v1/cameras/{cam}/analytics", json=body).status_code == 403
