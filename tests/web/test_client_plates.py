"""The plate search and the plate lists tab in real headless Chromium against a real ``ronda serve``
(tests/analytics/platesite.py: two organisations; plate reads fed through the analytics service's result
path): a user of the Municipio finds a plate read of its own camera, with its crop, and not the same
plate read on a Polizia Locale camera (shared with the Municipio for video, not for plates); a click
opens playback at the read; the search is audited. The organisation's rules manager adds a hotlist
with a plate in the admin tab and sees only its own lists."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from ronda.store.access_models import AuditEntry
from tests.analytics.platesite import PlateSite, plate_jpeg, plate_site
from tests.browser import ConsoleErrors
from tests.helpers import PW, iso

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlateSite]:
    with plate_site(tmp_path_factory.mktemp("plates-web")) as s:
        yield s


def sign_in(page, base: str, hash_path: str, user: str) -> None:
    page.goto(f"{base}/#{hash_path}")
    page.get_by_test_id("login-username").fill(user)
    page.get_by_test_id("login-password").fill(PW)
    page.get_by_test_id("login-submit").click()


def test_plate_search_shows_the_institutions_reads_only(browser, site: PlateSite) -> None:
    t = int(time.time() * 1000) - 600_000
    site.feed(1, "FA123KE", t, crop=plate_jpeg("FA123KE"))  # Polizia Locale's camera (shared with the Municipio)
    site.feed(3, "FA123KE", t + 60_000, crop=plate_jpeg("FA123KE"))  # the Municipio's own camera
    site.feed(4, "QQ999QQ", t + 120_000, crop=plate_jpeg("QQ999QQ"))
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = ConsoleErrors(page)
    try:
        sign_in(page, site.ronda.base, "/plates", "muni")
        page.get_by_test_id("nav-plates").wait_for()
        page.get_by_test_id("pl-plate").fill("fa 123")  # partial, lower case, a space
        page.get_by_test_id("pl-submit").click()
        page.wait_for_selector("[data-testid=pl-results][data-count]", timeout=20000)
        hits = page.get_by_test_id("pl-hit")
        assert hits.count() == 1
        hit = hits.first
        assert hit.get_attribute("data-plate") == "FA123KE"
        assert hit.get_attribute("data-camera") == str(site.cams[3])
        assert hit.get_by_test_id("pl-plate-text").inner_text() == "FA123KE"
        page.wait_for_selector("[data-testid=pl-crop][data-thumb=ok]", timeout=10000)
        width = page.eval_on_selector("[data-testid=pl-crop]", "img => img.complete && img.naturalWidth")
        assert width == 180  # the crop itself, decoded
        assert page.locator(f"[data-testid=pl-hit][data-camera='{site.cams[1]}']").count() == 0
        # (that read is there: the site's administrator finds it)
        everywhere = site.users["admin"].req("GET", "/api/v1/plates", params={
            "plate": "FA123KE", "start": iso(t - 1000), "end": iso(t + 180_000)}).json()  # fmt: skip
        assert sorted(r["camera"] for r in everywhere) == sorted([site.cams[1], site.cams[3]])

        # the search was audited with its query
        with site.db.session() as s:
            e = s.scalars(select(AuditEntry).where(AuditEntry.action == "plates.search", AuditEntry.actor == "muni")
                          .order_by(AuditEntry.seq.desc())).first()  # fmt: skip
            assert e is not None and e.details["plate"] == "fa 123" and e.details["results"] == 1

        assert not errors.errors, errors.errors
        # a click opens playback at the read (these cameras record nothing: only the address is checked)
        hit.get_by_role("button").click()
        page.wait_for_url("**/#/playback?*")
        assert f"cameras={site.cams[3]}" in page.url
    finally:
        page.close()


def test_plate_lists_tab_adds_a_hotlist_of_the_organisation(browser, site: PlateSite) -> None:
    admin = site.users["admin"]
    other = admin.req("POST", "/api/v1/plate-lists", json={"name": "Polizia wanted", "kind": "hotlist",
                                                           "organisation": site.orgs["A"]})  # fmt: skip
    assert other.status_code == 201, other.text
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = ConsoleErrors(page)
    try:
        sign_in(page, site.ronda.base, "/admin/plates", "muni_rules")
        page.get_by_test_id("plist-name").fill("Veicoli rubati")
        page.get_by_test_id("plist-kind").select_option("hotlist")
        page.get_by_test_id("plist-create").click()
        # its own list (other tests of the module may have made B lists too), never A's
        row = page.locator("[data-testid=plist-row]:has-text('Veicoli rubati')")
        row.wait_for(timeout=10000)
        assert row.count() == 1 and "Polizia wanted" not in page.get_by_test_id("plist-table").inner_text()
        row.get_by_test_id("plist-open").click()
        page.get_by_test_id("plist-plates").fill("gh 321 kl, rubata\nZZ*")
        page.get_by_test_id("plist-add").click()
        page.wait_for_selector("[data-testid=plist-entry][data-plate=GH321KL]", timeout=10000)
        assert page.locator("[data-testid=plist-entry]").count() == 2
        lists = site.users["muni_rules"].req("GET", "/api/v1/plate-lists").json()
        assert ("Veicoli rubati", site.orgs["B"], 2) in [(x["name"], x["organisation"], x["entries"]) for x in lists]
        assert {x["organisation"] for x in lists} == {site.orgs["B"]}
        assert not errors.errors, errors.errors
    finally:
        page.close()


def test_plate_lists_tab_imports_and_exports_a_csv_file(browser, site: PlateSite) -> None:
    """A police hotlist file picked in the list's page: the plates land on the list, the refused line is
    shown with its number and reason; *Export CSV* downloads the list, which reads as the import wants."""
    lst = site.users["muni_rules"].req("POST", "/api/v1/plate-lists", json={"name": "Ricercate CSV", "kind": "hotlist"})
    assert lst.status_code == 201, lst.text
    lid = lst.json()["id"]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = ConsoleErrors(page)
    try:
        sign_in(page, site.ronda.base, f"/admin/plates/{lid}", "muni_rules")
        page.get_by_test_id("plist-import-file").wait_for(timeout=10000)
        data = b"targa;nota\nAB 123 CD;furto\nnot a plate!;x\nEF456GH;rapina\n"
        page.get_by_test_id("plist-import-file").set_input_files(
            files=[{"name": "ricercate.csv", "mimeType": "text/csv", "buffer": data}])  # fmt: skip
        page.get_by_test_id("plist-import").click()
        page.wait_for_selector("[data-testid=plist-import-result]", timeout=10000)
        assert page.locator("[data-testid=plist-entry]").count() == 2
        assert page.locator("[data-testid=plist-entry][data-plate=AB123CD]").count() == 1
        refused = page.locator("[data-testid=plist-import-rejected] li")
        assert refused.count() == 1 and refused.first.get_attribute("data-line") == "3"
        assert "not a plate" in refused.first.inner_text()
        with page.expect_download(timeout=10000) as dl:
            page.get_by_test_id("plist-export").click()
        path = dl.value.path()
        assert path is not None
        with open(path, encoding="utf-8") as f:
            assert f.read().splitlines() == ["plate,note,valid_until", "AB123CD,furto,", "EF456GH,rapina,"]
        assert dl.value.suggested_filename == "Ricercate-CSV.csv"
        assert not errors.errors, errors.errors
    finally:
        page.close()
