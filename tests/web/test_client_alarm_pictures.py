"""The alarm detail shows what the analytics saw (issue 14): the event's snapshot with its box and its
before/after images, the plate a dumping names (only to who may read the camera's plates) and a button
that plays the footage of who brought the object. Real ``ronda serve`` (the session's site), headless
Chromium; the analytics event is stored as the analytics service stores one (JPEGs under
``DATA/analytics/snapshots/``, the row through ``repos.add_events``) and a rule makes it an alarm."""

from __future__ import annotations

import time
import uuid

import cv2
import numpy as np
import pytest

from ronda.analytics.service import image_path
from ronda.store import repos
from ronda.store.db import Database
from tests.browser import ConsoleErrors
from tests.helpers import PW, wait_for, write_private

pytestmark = pytest.mark.browser
API = "/api/v1"


def _jpeg(level: int) -> bytes:
    img = np.full((180, 320, 3), level, np.uint8)
    cv2.rectangle(img, (100, 90), (160, 150), (0, 0, 255), 2)
    return bytes(cv2.imencode(".jpg", img)[1])


def _sign_in(page, base: str, hash_path: str, user: str) -> None:
    page.goto(f"{base}/#{hash_path}")
    page.get_by_test_id("login-username").fill(user)
    page.get_by_test_id("login-password").fill(PW)
    page.get_by_test_id("login-submit").click()


def test_alarm_detail_shows_the_pictures_the_plate_and_plays_the_carrier(browser, site, users):
    admin = users["admin"]
    cam = site.cam("Camera 1")
    mark = uuid.uuid4().hex[:8]
    rule = {"name": f"Pictures {mark}", "trigger": {"types": ["dumping.detected"], "cameras": [cam]},
            "actions": [{"type": "raise_alarm", "title": f"Bag left {mark}", "dedupe_window_s": 0,
                         "incident": "{rule}:{camera}"}]}  # fmt: skip
    r = admin.req("POST", f"{API}/rules", json=rule)
    assert r.status_code == 201, r.text
    rule_id = r.json()["id"]
    t = int(time.time() * 1000)
    rel = f"analytics/snapshots/{cam}/{t}-dumping.detected.jpg"
    for path, level in ((rel, 120), (image_path(rel, "before"), 60), (image_path(rel, "after"), 180)):
        write_private(site.data_dir / path, _jpeg(level))
    plate = {"plate": f"DU{mark[:3].upper()}MP", "camera": cam, "time_ms": t - 60_000, "confidence": 0.9}
    payload = {"zone": "kerb", "since": t - 10_000, "images": ["after", "before"],
               "clip": {"start_ms": t - 30_000, "end_ms": t - 8_000}, "plate": plate}  # fmt: skip
    db = Database(f"sqlite:///{site.data_dir / 'ronda.db'}")
    try:
        with db.session() as s:
            repos.add_events(s, [{"type": "dumping.detected", "time_ms": t, "camera_id": cam, "severity": "warning",
                                  "source": "analytics", "snapshot": rel, "payload": payload,
                                  "box": [0.3, 0.5, 0.2, 0.3]}])  # fmt: skip
    finally:
        db.dispose()

    def raised() -> list[dict]:
        return [a for a in admin.req("GET", f"{API}/alarms", params={"camera": cam}).json() if a.get("rule") == rule_id]

    alarm = wait_for(raised, 20, interval=0.3, what="the alarm")[0]
    for user, sees_plate in (("operator", True), ("viewer_a", False)):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors = ConsoleErrors(page)
        try:
            _sign_in(page, site.ronda.base, f"/alarms/{alarm['id']}", user)
            page.wait_for_selector("[data-testid=alarm-pictures]", timeout=15000)
            wait_for(lambda: page.locator("[data-testid=alarm-picture][data-picture=ok]").count() == 3, 15,  # noqa: B023
                     what=f"the three pictures loaded for {user}")  # fmt: skip
            widths = page.eval_on_selector_all("[data-testid=alarm-picture]", "els => els.map(e => e.naturalWidth)")
            assert widths == [320, 320, 320], widths
            plate_text = page.get_by_test_id("alarm-dumping-plate")
            if sees_plate:
                assert plate_text.inner_text().endswith(plate["plate"])
            else:
                assert plate_text.count() == 0
            page.get_by_test_id("alarm-play-carrier").click()
            page.wait_for_url(f"**/#/playback?cameras={cam}*", timeout=10000)
            assert not errors.errors, errors.errors
        finally:
            page.close()
    # closed before its rule goes: SQLite reuses a deleted rule's id, and a later rule with that id would
    # otherwise add its events to this open alarm (same incident key "{rule}:{camera}"; noted defect)
    assert admin.req("POST", f"{API}/alarms/{alarm['id']}/close", json={"text": "test done"}).status_code == 200
    admin.req("DELETE", f"{API}/rules/{rule_id}")
