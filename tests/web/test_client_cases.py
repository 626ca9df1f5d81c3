"""Cases and fines in real headless Chromium against the real server and simulator (docs/cases.md).

End to end: a ``dumping.detected`` event on Camera 1 (posted through the events API: the dumping detector
itself is another part) meets a rule that raises an alarm; in the alarm's detail "Open case" makes the case
from the alarm's events in one click and opens it; "Attach evidence package" makes a signed export of the
case's footage, whose hash appears when it is signed; review, fine reference and amount, "Issue the fine";
"Print report" shows the server's report. The test then downloads the package (the case's "Download"
button), runs ``ronda verify`` on it with the site's published key, and checks that the report's SHA-256
is the package's and its fingerprint the key's.

Rights in the browser: a Municipio case worker sees only the Municipio's cases in the list (the Polizia
Locale's case of the same camera is not there, nor can it be opened); a viewer without the ``cases``
right has no Cases entry.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
import uuid

import pytest

from tests.api.test_cases_api import town_case_worker
from tests.browser import ConsoleErrors
from tests.helpers import PW, Client, iso, wait_for

pytestmark = pytest.mark.browser
API = "/api/v1"


def ronda(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ronda.cli", *args], capture_output=True, text=True, timeout=300)


def sign_in(page, base: str, hash_path: str, user: str, password: str = PW) -> None:
    page.goto(f"{base}/#{hash_path}")
    page.get_by_test_id("login-username").fill(user)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()


def test_dumping_alarm_to_fine_with_a_verified_report(browser, site, users, tmp_path):
    admin, op = users["admin"], users["operator"]
    cam1 = site.cam("Camera 1")
    mark = uuid.uuid4().hex[:8]
    rule = {"name": f"Dumping {mark}", "trigger": {"types": ["dumping.detected"], "cameras": [cam1]},
            "actions": [{"type": "raise_alarm", "priority": "high", "title": f"Illegal dumping {mark}",
                         "incident": "{rule}:{camera}", "dedupe_window_s": 0}]}  # fmt: skip
    r = admin.req("POST", f"{API}/rules", json=rule)
    assert r.status_code == 201, r.text
    rule_id = r.json()["id"]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = ConsoleErrors(page)
    try:
        event = {
            "type": "dumping.detected",
            "camera": cam1,
            "time": iso(int(time.time() * 1000) - 40_000),
            "text": f"bag left {mark}",
            "payload": {"class": "bag", "plate": "AB 123 CD"},
        }
        r = op.req("POST", f"{API}/events", json=event)
        assert r.status_code == 202, r.text
        event_id = r.json()["ids"][0]

        def raised() -> list[dict]:
            got = op.req("GET", f"{API}/alarms", params={"camera": cam1}).json()
            return [a for a in got if a.get("rule") == rule_id]

        alarm = wait_for(raised, 20, interval=0.3, what="the dumping alarm")[0]

        # the alarm → "Open case": one click, and the case is open
        sign_in(page, site.ronda.base, f"/alarms/{alarm['id']}", "operator")
        page.get_by_test_id("alarm-open-case").click()
        page.wait_for_url("**/#/cases/*", timeout=15000)
        case_id = int(page.url.rsplit("/", 1)[1])
        page.wait_for_selector("[data-testid=case-status][data-status=draft]", timeout=15000)
        case = op.req("GET", f"{API}/cases/{case_id}").json()
        assert case["type"] == "dumping" and case["camera"] == cam1 and case["plate"] == "AB123CD"
        assert {"kind": "event", "id": event_id} in [{"kind": k["kind"], "id": k["id"]} for k in case["links"]]
        assert {"kind": "alarm", "id": alarm["id"]} in [{"kind": k["kind"], "id": k["id"]} for k in case["links"]]
        assert case["number"] in page.get_by_test_id("case-number").inner_text()

        # attach the evidence package; its hash shows once it is signed
        page.get_by_test_id("case-evidence-add").click()
        done = page.wait_for_selector("[data-testid=case-evidence][data-status=done]", timeout=120_000)
        sha = done.get_attribute("data-sha256")
        export_id = done.get_attribute("data-export-id")
        assert sha and len(sha) == 64 and page.get_by_test_id("case-evidence-sha256").inner_text() == sha

        # review, the fine, issued
        page.get_by_test_id("case-to-under_review").click()
        page.wait_for_selector("[data-testid=case-status][data-status=under_review]")
        page.get_by_test_id("case-fine-reference").fill(f"VV-{mark}")
        page.get_by_test_id("case-fine-amount").fill("80,00")
        page.get_by_test_id("case-save").click()
        wait_for(lambda: op.req("GET", f"{API}/cases/{case_id}").json()["fine_amount"] == "80.00", 10,
                 what="the fine saved")  # fmt: skip
        page.wait_for_selector("[data-testid=case-to-fine_issued]")
        page.get_by_test_id("case-to-fine_issued").click()
        page.wait_for_selector("[data-testid=case-status][data-status=fine_issued]")

        # the printable report, on the page
        page.get_by_test_id("case-print").click()
        page.wait_for_selector("[data-testid=case-report][data-loaded='1']", timeout=20000)
        frame = page.frame_locator("[data-testid=case-report]")
        report_sha = frame.get_by_test_id("report-sha256").inner_text()
        fingerprint = frame.get_by_test_id("report-fingerprint").inner_text()
        assert "Fine issued" in frame.locator("table.facts").inner_text()
        assert "ronda verify" in frame.get_by_test_id("report-verify").inner_text()

        # the package itself: its SHA-256 is the report's, and `ronda verify` confirms it with the site key
        pkg = tmp_path / "evidence.zip"
        with page.expect_download(timeout=30000) as download:
            page.get_by_test_id("case-evidence-download").click()
        download.value.save_as(pkg)
        assert download.value.suggested_filename == f"case-{case['number']}.zip"
        assert op.req("GET", f"{API}/exports/{export_id}").status_code == 200
        assert hashlib.sha256(pkg.read_bytes()).hexdigest() == report_sha == sha
        pub = tmp_path / "site.pem"
        pub.write_text(ronda("keys", "public", "--data-dir", str(site.data_dir)).stdout)
        v = ronda("verify", str(pkg), "--pubkey", str(pub))
        assert v.returncode == 0 and v.stdout.startswith("valid"), v.stdout + v.stderr
        assert fingerprint in v.stdout
        assert errors.errors == []
    finally:
        page.close()
        admin.req("DELETE", f"{API}/rules/{rule_id}")


def test_an_institution_sees_only_its_cases_in_the_browser(browser, site, users):
    op, admin = users["operator"], users["admin"]
    cam2 = site.cam("Camera 2")  # the Polizia Locale's, shared with the Municipio
    name, pw = town_case_worker(site)
    town = Client(site, name, pw)
    mark = uuid.uuid4().hex[:8]

    def event() -> list[int]:
        r = admin.req("POST", f"{API}/events", json={"type": "graffiti.detected", "camera": cam2})
        return r.json()["ids"]

    police = op.req("POST", f"{API}/cases", json={"events": event(), "title": f"police {mark}"}).json()
    own = town.req("POST", f"{API}/cases", json={"events": event(), "title": f"town {mark}"}).json()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = ConsoleErrors(page)
    errors.expect(404)  # the police case opened by its address
    try:
        sign_in(page, site.ronda.base, "/cases", name, pw)
        page.get_by_test_id("case-filter-text").fill(mark)
        page.get_by_test_id("case-filter-text").press("Enter")
        # the filtered list is its own case alone (the unfiltered first load may still be on screen a moment)
        page.wait_for_function(
            "(id) => { const r = [...document.querySelectorAll('[data-testid=case-row]')].map((e) => e.dataset.caseId);"
            " return r.length === 1 && r[0] === id; }",
            arg=str(own["id"]),
        )
        page.goto(f"{site.ronda.base}/#/cases/{police['id']}")
        page.wait_for_selector("[data-testid=case-detail] .error, .case-detail-pane .error", timeout=10000)
        assert f"police {mark}" not in page.content()

        assert errors.errors == []
    finally:
        page.close()
    # a viewer without the cases right: no Cases entry, and the view refuses
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = ConsoleErrors(page)
    try:
        sign_in(page, site.ronda.base, "/cases", "viewer_b")
        page.wait_for_selector("[data-testid=nav-live]")
        assert page.get_by_test_id("nav-cases").count() == 0
        assert page.locator("main .error").inner_text() == "403"
        assert errors.errors == []
    finally:
        page.close()


def test_the_case_shows_its_events_pictures(browser, site, users):
    """A case made from a graffiti event shows the event's snapshot and its before/after images, fetched
    with the session; leaving the case revokes the pictures' object URLs."""
    from tests.api.test_cases_more import analytics_event

    op = users["operator"]
    cam1 = site.cam("Camera 1")
    eid, _ = analytics_event(site, cam1, "graffiti.detected", ("before", "after"))
    r = op.req("POST", f"{API}/cases", json={"events": [eid]})
    assert r.status_code == 201, r.text
    case = r.json()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = ConsoleErrors(page)
    try:
        sign_in(page, site.ronda.base, f"/cases/{case['id']}", "operator")
        page.wait_for_selector("[data-testid=case-pictures]", timeout=15000)
        wait_for(lambda: page.locator("[data-testid=case-picture][data-picture=ok]").count() == 3, 15,
                 what="the three pictures loaded")  # fmt: skip
        shown = page.eval_on_selector_all(
            "[data-testid=case-picture]", "els => els.map(e => [e.dataset.image, e.naturalWidth, e.src])"
        )
        assert [(name, width) for name, width, _ in shown] == [("snapshot", 160), ("after", 160), ("before", 160)]
        assert all(src.startswith("blob:") for _, _, src in shown)
        # leaving the case (back to the list) revokes them
        assert errors.errors == []
        page.evaluate("() => { location.hash = '#/cases'; }")
        page.wait_for_function("() => !document.querySelector('[data-testid=case-detail]')")
        alive = page.evaluate(
            "async (urls) => Promise.all(urls.map((u) => fetch(u).then(() => true, () => false)))",
            [src for _, _, src in shown],
        )
        assert alive == [False, False, False]  # (the failed fetches log their own errors: not the page's)
    finally:
        page.close()
