"""The PTZ panel of a dome's single view in real headless Chromium, on real parts: the simulator's ONVIF
dome added to the shared site by ONVIF, steered through Ronda's API by the client. The joystick drag and
the arrow keys move it (its position read from the simulator's control port), releasing stops it, a preset
saved in the panel brings it back, an administrator's takeover shows the operator who holds the dome and
until when, and a user without the `ptz` right sees no panel."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from ronda.devices.simcontrol import SimulatorProcess
from ronda.devices.simulator import ONVIF_PASSWORD, ONVIF_USER
from ronda.store.access_models import CameraGroup, CameraGroupMember
from ronda.store.db import Database
from tests.helpers import wait_for
from tests.web.test_client_live_alarms import DESKTOP, PHONE, open_client

pytestmark = pytest.mark.browser
SINGLE_VIDEO = ".live-single video[data-testid=video-tile]"


@pytest.fixture(scope="module")
def dome(site, users, tmp_path_factory) -> Iterator[tuple[dict[str, Any], SimulatorProcess]]:
    """The simulator's dome (cam1), added by ONVIF to the shared site, in the operator's and viewer_a's
    group "Odd cameras" (the operator has `ptz` there, viewer_a only live and playback)."""
    logs = tmp_path_factory.mktemp("ptz-sim")
    with SimulatorProcess(cameras=1, onvif=True, dome=True, log_dir=logs) as sim:
        body = {"name": f"Dome {secrets.token_hex(3)}",
                "onvif": {"address": sim.onvif_url(1), "username": ONVIF_USER, "password": ONVIF_PASSWORD}}  # fmt: skip
        r = users["admin"].req("POST", "/api/v1/cameras", json=body)
        assert r.status_code == 201, r.text
        cam = r.json()
        assert cam["ptz"] is True, cam
        try:
            db = Database(f"sqlite:///{site.data_dir / 'ronda.db'}")
            with db.session() as s:
                group = s.scalar(select(CameraGroup).where(CameraGroup.name == "Odd cameras"))
                s.add(CameraGroupMember(group_id=group.id, camera_id=cam["id"]))
            db.dispose()
            # the live view shows the camera's last picture; before the first segment it is a 404 the
            # page logs, so the tests start once the dome has recorded
            wait_for(
                lambda: users["admin"].req("GET", f"/api/v1/cameras/{cam['id']}/snapshot").status_code == 200,
                60,
                what="the dome's first picture",
            )
            yield cam, sim
        finally:
            users["admin"].req("DELETE", f"/api/v1/cameras/{cam['id']}")


def pan(sim: SimulatorProcess) -> float:
    return float(sim.ptz_position("cam1")["pan"])


def settled(sim: SimulatorProcess, what: str, timeout: float = 5.0) -> float:
    """The dome's pan once it stopped (a stopped dome stays put: checked over half a second)."""

    def still() -> float | None:
        before = sim.ptz_position("cam1")
        time.sleep(0.5)
        after = sim.ptz_position("cam1")
        return after["pan"] if not after["moving"] and after["pan"] == before["pan"] else None

    return float(wait_for(still, timeout, interval=0.1, what=what))


def place(operator, cam_id: int, sim: SimulatorProcess, at: float) -> None:
    body = {"action": "absolute", "pan": at, "tilt": 0, "zoom": 0}
    r = operator.req("POST", f"/api/v1/cameras/{cam_id}/ptz", json=body)
    assert r.status_code == 200, r.text
    wait_for(lambda: abs(pan(sim) - at) < 1e-3, 10, what=f"the dome at pan {at}")


def open_single(browser, site, user: str, cam_id: int, viewport=DESKTOP):
    context, page, errors = open_client(browser, site, user, viewport=viewport)
    page.evaluate("(id) => { location.hash = `#/live/${id}`; }", cam_id)
    page.wait_for_selector(SINGLE_VIDEO)
    return context, page, errors


def test_joystick_keys_presets_and_takeover(browser, site, users, dome):
    cam, sim = dome
    cid = cam["id"]
    operator, admin = users["operator"], users["admin"]
    place(operator, cid, sim, -0.9)
    context, page, errors = open_single(browser, site, "operator", cid)
    errors.expect(409)  # the refused command of the takeover
    try:
        pad = page.get_by_test_id("ptz-pad")
        pad.wait_for()
        assert page.get_by_test_id("ptz-pad").get_attribute("aria-label")
        box = pad.bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

        # drag right (a fifth of the radius: 0.4 pan units/s) and hold past the 1 s dead-man: the
        # client's refreshes keep the dome moving
        start = settled(sim, "the dome still at its start")
        page.mouse.move(cx, cy)
        page.mouse.down()
        page.mouse.move(cx + box["width"] / 10, cy, steps=4)
        t0 = time.monotonic()
        wait_for(lambda: pan(sim) > start + 0.05, 5, interval=0.05, what="the dome panning right")
        time.sleep(max(0.0, 1.5 - (time.monotonic() - t0)))
        mid = pan(sim)
        time.sleep(1.0)
        late = pan(sim)
        assert late > mid + 0.1, f"the dome stopped while the pad was held: {mid} then {late}"
        page.wait_for_function("() => document.querySelector('[data-testid=ptz-status]').dataset.holder === 'operator'")
        page.mouse.up()
        stopped = settled(sim, "the dome stopped after the release")
        time.sleep(1.0)
        assert pan(sim) == stopped, "the dome moved on after the release"
        assert stopped > start + 0.3

        # arrow keys while the pad has the focus: left moves it back, keyup stops
        pad.focus()
        page.keyboard.down("ArrowLeft")
        wait_for(lambda: pan(sim) < stopped - 0.2, 5, interval=0.05, what="the dome panning left on ArrowLeft")
        page.keyboard.up("ArrowLeft")
        here = settled(sim, "the dome stopped after keyup")

        # save a preset here, move away, go to it
        name = f"Gate {secrets.token_hex(2)}"
        page.get_by_test_id("ptz-preset-name").fill(name)
        page.get_by_test_id("ptz-preset-save").click()
        go = page.locator("[data-testid=ptz-preset-go]", has_text=name)
        go.wait_for()
        page.locator(".live-single .tile").focus()  # the arrows on the video steer as well
        page.keyboard.down("ArrowRight")
        wait_for(lambda: pan(sim) > here + 0.2, 5, interval=0.05, what="the dome panning right on ArrowRight")
        page.keyboard.up("ArrowRight")
        away = settled(sim, "the dome stopped away from the preset")
        assert abs(away - here) > 0.2
        go.click()
        wait_for(lambda: abs(pan(sim) - here) < 0.01, 10, what=f"the dome back at the preset ({here})")

        # rename it
        page.locator(f"li[data-token='{go.get_attribute('data-token')}'] [data-testid=ptz-preset-rename]").click()
        page.get_by_test_id("ptz-preset-newname").fill(name + " north")
        page.get_by_test_id("ptz-preset-rename-ok").click()
        page.locator("[data-testid=ptz-preset-go]", has_text=name + " north").wait_for()

        # zoom: the wheel on the pad zooms in a step, '-' on the pad zooms out; Home goes home (0, 0, 0)
        zoom = float(sim.ptz_position("cam1")["zoom"])
        page.mouse.move(cx, cy)
        page.mouse.wheel(0, -120)
        wait_for(lambda: sim.ptz_position("cam1")["zoom"] > zoom + 0.09, 5, interval=0.05, what="the dome zoomed in")
        pad.focus()
        page.keyboard.press("-")
        wait_for(lambda: abs(sim.ptz_position("cam1")["zoom"] - zoom) < 0.01, 5, interval=0.05, what="zoomed out")
        page.get_by_test_id("ptz-home").click()
        wait_for(lambda: abs(pan(sim)) < 1e-3, 10, interval=0.05, what="the dome at home")

        # the operator steers; the administrator (priority 100 > 50) takes the dome over through the API
        # and keeps it: the operator's next refresh is refused and the panel names the holder
        page.mouse.move(cx, cy)
        page.mouse.down()
        page.mouse.move(cx + box["width"] / 10, cy, steps=2)
        holding = threading.Event()
        answers: list[int] = []

        def hold() -> None:
            while not holding.is_set():
                answers.append(admin.req("POST", f"/api/v1/cameras/{cid}/ptz", json={"action": "stop"}).status_code)
                time.sleep(0.3)

        keeper = threading.Thread(target=hold, daemon=True)
        keeper.start()
        try:
            takeover = page.get_by_test_id("ptz-takeover")
            takeover.wait_for(state="visible", timeout=10000)
            assert "admin" in takeover.inner_text()
            assert takeover.get_attribute("data-holder") == "admin"
            assert "disabled" in (pad.get_attribute("class") or "")
            assert page.get_by_test_id("ptz-home").is_disabled()
            page.mouse.up()
        finally:
            holding.set()
            keeper.join(5)
        assert answers and set(answers) == {200}, answers
        # the admin's session ends a second after their last command: the pad is usable again
        takeover.wait_for(state="hidden", timeout=10000)
        assert "disabled" not in (pad.get_attribute("class") or "")
        assert not errors.errors, errors.errors
    finally:
        context.close()


def test_viewer_without_ptz_sees_no_pad_and_phone_layout(browser, site, users, dome):
    cam, _sim = dome
    context, page, errors = open_single(browser, site, "viewer_a", cam["id"])
    try:
        page.wait_for_timeout(1000)  # the panel would be there by now (it is built with the view)
        assert page.get_by_test_id("ptz-panel").count() == 0
        assert not errors.errors, errors.errors
    finally:
        context.close()
    context, page, errors = open_single(browser, site, "operator", cam["id"], viewport=PHONE)
    try:
        pad = page.get_by_test_id("ptz-pad")
        pad.wait_for()
        video, box = page.locator(SINGLE_VIDEO).bounding_box(), pad.bounding_box()
        assert box["y"] >= video["y"] + video["height"] - 1, "the panel is under the video on a phone"
        assert box["width"] >= 150 and box["x"] + box["width"] <= PHONE["width"]
        for control in ("ptz-zoom-in", "ptz-zoom-out", "ptz-home", "ptz-stop"):
            b = page.get_by_test_id(control).bounding_box()
            assert b["width"] >= 44 and b["height"] >= 44, (control, b)
        assert not errors.errors, errors.errors
    finally:
        context.close()


def test_patrol_start_stop_in_italian(browser, site, users, dome):
    """An administrator's patrol of two presets, started and stopped from the operator's panel (Italian)."""
    cam, sim = dome
    base = f"/api/v1/cameras/{cam['id']}/ptz"
    admin = users["admin"]
    tokens = []
    for at in (-0.5, 0.5):
        place(admin, cam["id"], sim, at)
        r = admin.req("POST", base + "/presets", json={"name": f"patrol {at}"})
        assert r.status_code == 201, r.text
        tokens.append(r.json()["token"])
    steps = [{"preset": t, "dwell_s": 1} for t in tokens]
    r = admin.req("POST", base + "/patrols", json={"name": "Ronda notturna", "steps": steps})
    assert r.status_code == 201, r.text
    patrol = r.json()["id"]
    # the administrator's session (1 s) ends: the operator may start the patrol
    wait_for(lambda: admin.req("GET", base).json()["holder"] is None, 10, what="the dome free")
    context, page, errors = open_client(browser, site, "operator", viewport=DESKTOP)
    try:
        page.evaluate("() => localStorage.setItem('ronda.lang', 'it')")
        page.evaluate("(id) => { location.hash = `#/live/${id}`; location.reload(); }", cam["id"])
        page.get_by_test_id("ptz-pad").wait_for()
        assert page.get_by_test_id("ptz-pad").get_attribute("aria-label").startswith("Joystick: trascina")
        page.locator("[data-testid=ptz-status]", has_text="Nessuno").wait_for()
        page.locator(f"[data-testid=ptz-patrol-start][data-patrol-id='{patrol}']").click()
        state = page.get_by_test_id("ptz-patrol-state")
        page.locator("[data-testid=ptz-patrol-state][data-state=running]").wait_for()
        assert "Ronda notturna" in state.inner_text() and "in corso" in state.inner_text()
        # round and round: the dome visits both presets
        wait_for(lambda: abs(pan(sim) + 0.5) < 0.01, 15, interval=0.05, what="the patrol at -0.5")
        wait_for(lambda: abs(pan(sim) - 0.5) < 0.01, 15, interval=0.05, what="the patrol at 0.5")
        page.get_by_test_id("ptz-patrol-stop").click()
        page.get_by_test_id("ptz-patrol-stop").wait_for(state="hidden")
        assert admin.req("GET", base).json()["patrol"] is None
        assert state.inner_text() == ""
        assert not errors.errors, errors.errors
    finally:
        context.close()
        admin.req("POST", base + "/patrol/stop")
        admin.req("DELETE", f"{base}/patrols/{patrol}")
