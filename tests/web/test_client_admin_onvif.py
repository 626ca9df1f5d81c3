"""The admin Cameras screen's ONVIF parts in real headless Chromium, on real parts: the simulator's ONVIF
devices (a PTZ dome and a fixed camera, answering WS-Discovery) and a real ``ronda serve``. Find them,
add the dome with a wrong password (the API's reason shown, nothing added) and the right one (listed,
PTZ shown), read its device info, set its RTP transport to UDP and feed its main stream from the
sub profile; add the other by its ONVIF address; status reasons shown in words."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from ronda.devices.simcontrol import SimulatorProcess
from ronda.devices.simulator import ONVIF_PASSWORD, ONVIF_USER
from tests.browser import ConsoleErrors
from tests.helpers import PW, RondaProcess, free_port, wait_for, write_config
from tests.web.test_client_shell import login

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def onvif_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorProcess]:
    # WS-Discovery on a port of its own (not 3702): other simulators on this machine answer there, and
    # the unicast search below names the port.
    with SimulatorProcess(cameras=2, onvif=True, dome=True, discovery_port=free_port(),
                          log_dir=tmp_path_factory.mktemp("onvif-ui-sim")) as s:  # fmt: skip
        yield s


@pytest.fixture(scope="module")
def ronda(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RondaProcess]:
    base = tmp_path_factory.mktemp("onvif-ui-ronda")
    port = free_port()
    proc = RondaProcess(write_config(base / "data", port, []), base / "ronda.log", port)
    proc.start()
    try:
        yield proc
    finally:
        proc.close()


@contextlib.contextmanager
def admin_page(browser: Any, ronda: RondaProcess) -> Iterator[tuple[Any, ConsoleErrors]]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = ConsoleErrors(page)
    try:
        login(page, ronda.base, "admin", PW)
        page.wait_for_selector("[data-testid=nav-live]")
        page.goto(ronda.base + "/#/admin/cameras")
        page.wait_for_selector("[data-testid=admin-tab-cameras][aria-selected=true]")
        yield page, errors
        assert not errors.errors, errors.errors
    finally:
        page.close()


def cameras(ronda: RondaProcess) -> dict[str, dict[str, Any]]:
    r = ronda.api("GET", "/api/v1/cameras")
    assert r.status_code == 200, r.text
    return {c["name"]: c for c in r.json()}


def test_find_add_dome_and_set_transport(browser: Any, ronda: RondaProcess, onvif_sim: SimulatorProcess) -> None:
    dome_url, fixed_url = onvif_sim.onvif_url(1), onvif_sim.onvif_url(2)
    target = f"127.0.0.1:{onvif_sim.discovery_port}"
    expected = ronda.api("GET", "/api/v1/onvif/discover", params={"target": target, "multicast": "false"}).json()
    by_address = {d["address"]: d for d in expected}
    assert {dome_url, fixed_url} <= set(by_address), expected
    wrong = {"name": "x", "onvif": {"address": dome_url, "username": ONVIF_USER, "password": "wrong"}}
    refused = ronda.api("POST", "/api/v1/cameras", json=wrong)
    assert refused.status_code == 422, refused.text
    reason = refused.json()["detail"]
    assert isinstance(reason, str) and "ONVIF" in reason, reason

    added: list[int] = []
    try:
        with admin_page(browser, ronda) as (page, errors):
            errors.expect(422)  # the wrong password below
            # search by unicast, multicast off: both devices listed with what they said, none added
            page.get_by_test_id("onvif-target").fill(target)
            page.get_by_test_id("onvif-multicast").uncheck()
            page.get_by_test_id("onvif-search").click()
            page.wait_for_selector("[data-testid=onvif-search-status]:has-text('Searching')")
            assert page.get_by_test_id("onvif-search").is_disabled()
            dome_row = page.locator(f"[data-testid=onvif-result][data-address={json.dumps(dome_url)}]")
            dome_row.wait_for(timeout=15000)
            fixed_row = page.locator(f"[data-testid=onvif-result][data-address={json.dumps(fixed_url)}]")
            assert fixed_row.count() == 1
            for row, url in ((dome_row, dome_url), (fixed_row, fixed_url)):
                text = row.inner_text()
                assert by_address[url]["manufacturer"] in text and by_address[url]["model"] in text, text
                assert row.get_by_test_id("onvif-added").inner_text() == "No"

            # the dome with a wrong password: the API's reason, nothing added
            dome_row.get_by_test_id("onvif-add-open").click()
            form = page.get_by_test_id("onvif-add")
            assert page.evaluate("() => document.activeElement.name") == "name"  # keyboard: focus in the form
            form.locator("input[name=name]").fill("UI Dome")
            form.locator("input[name=username]").fill(ONVIF_USER)
            form.locator("input[name=password]").fill("wrong")
            form.get_by_test_id("onvif-add-submit").click()
            page.wait_for_selector(f"[data-testid=onvif-add-error]:has-text({json.dumps(reason)})", timeout=20000)
            assert "UI Dome" not in cameras(ronda)
            assert page.locator("[data-testid=admin-camera-row]:has-text('UI Dome')").count() == 0

            # the right password (typed, then Enter): listed with PTZ, the search row says added
            form.locator("input[name=password]").fill(ONVIF_PASSWORD)
            form.locator("input[name=password]").press("Enter")
            row = page.locator("[data-testid=admin-camera-row]:has-text('UI Dome')")
            row.wait_for(timeout=20000)
            dome = cameras(ronda)["UI Dome"]
            added.append(dome["id"])
            assert dome["ptz"] is True and dome["onvif_address"]
            assert row.get_by_test_id("camera-ptz").count() == 1
            assert dome_row.get_by_test_id("onvif-added").inner_text() == "Yes"
            assert dome_row.get_by_test_id("onvif-add-open").count() == 0

            # edit: device info read-only, the streams Ronda chose; transport → UDP
            row.get_by_test_id("camera-edit-open").click()
            edit = page.get_by_test_id("camera-edit")
            device = edit.get_by_test_id("camera-device")
            assert device.get_by_test_id("camera-device-manufacturer").inner_text() == dome["device"]["manufacturer"]
            assert device.get_by_test_id("camera-device-model").inner_text() == dome["device"]["model"]
            assert device.get_by_test_id("camera-device-ptz").inner_text() == "Yes"
            assert device.get_by_test_id("camera-device-onvifAddress").inner_text() == dome["onvif_address"]
            assert dome["streams"]["main"]["url"] in device.get_by_test_id("camera-device-main").inner_text()
            assert edit.get_by_test_id("camera-transport").input_value() == "auto"
            edit.get_by_test_id("camera-transport").select_option("udp")
            edit.get_by_test_id("camera-edit-save").click()
            wait_for(lambda: cameras(ronda)["UI Dome"]["transport"] == "udp", 10, 0.2, what="transport udp")
            dome_row_sel = f"[data-testid=admin-camera-row][data-camera-id='{dome['id']}']"
            dome_cell = f"{dome_row_sel} [data-testid=camera-transport-cell]"
            page.wait_for_selector(f"{dome_cell}:has-text('UDP')")

            # profiles: the device's sub profile feeds main, no sub stream; saved through the API
            sub_url = dome["streams"]["sub"]["url"]
            assert sub_url != dome["streams"]["main"]["url"]
            page.locator(dome_row_sel).get_by_test_id("camera-edit-open").click()
            edit = page.get_by_test_id("camera-edit")
            page.wait_for_selector("[data-testid=camera-profile-main]:not([disabled])", timeout=20000)
            main_select = edit.get_by_test_id("camera-profile-main")
            sub_select = edit.get_by_test_id("camera-profile-sub")
            assert (main_select.input_value(), sub_select.input_value()) == ("main", "sub")
            assert "1920×1080" in main_select.inner_text() and "640×360" in main_select.inner_text()
            main_select.select_option("sub")
            sub_select.select_option("")
            edit.get_by_test_id("camera-profiles-save").click()
            wait_for(lambda: cameras(ronda)["UI Dome"]["streams"]["main"]["url"] == sub_url, 20, 0.2,
                     what="main stream from the sub profile")  # fmt: skip
            assert "sub" not in cameras(ronda)["UI Dome"]["streams"]

            # the fixed camera by its ONVIF address, from the form next to the RTSP one: no PTZ
            by_addr = page.get_by_test_id("camera-add-onvif")
            by_addr.locator("input[name=name]").fill("UI Fixed")
            by_addr.locator("input[name=address]").fill(fixed_url)
            by_addr.locator("input[name=username]").fill(ONVIF_USER)
            by_addr.locator("input[name=password]").fill(ONVIF_PASSWORD)
            by_addr.get_by_test_id("camera-add-onvif-submit").click()
            fixed = page.locator("[data-testid=admin-camera-row]:has-text('UI Fixed')")
            fixed.wait_for(timeout=20000)
            added.append(cameras(ronda)["UI Fixed"]["id"])
            assert fixed.get_by_test_id("camera-ptz").count() == 0

            # a status reason in words (the code kept in data-reason), transport_refused in both languages
            r = ronda.api("POST", "/api/v1/cameras", json={"name": "UI Nowhere", "url": "rtsp://127.0.0.1:9/none"})
            assert r.status_code == 201, r.text
            added.append(r.json()["id"])
            page.get_by_role("button", name="Refresh").click()
            status = page.locator("[data-testid=admin-camera-row]:has-text('UI Nowhere') [data-testid=camera-status]")
            status.wait_for()
            assert status.get_attribute("data-reason") == "camera_unreachable"
            assert "camera unreachable" in status.inner_text()
            texts = page.evaluate("""async () => {
              const { reasonText } = await import("/js/reasons.js");
              const i18n = await import("/js/i18n.js");
              const en = reasonText("transport_refused");
              i18n.setLanguage("it");
              const it = reasonText("transport_refused");
              i18n.setLanguage("en");
              return [en, it, reasonText("something_new")];
            }""")
            assert texts[0].startswith("the camera refuses the RTP transport"), texts
            assert texts[1].startswith("la telecamera rifiuta il trasporto RTP"), texts
            assert texts[2] == "something_new"
    finally:
        for cid in added:
            ronda.api("DELETE", f"/api/v1/cameras/{cid}")
