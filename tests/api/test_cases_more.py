"""Cases, what the first version lacked (docs/cases.md), over real HTTP against the shared site: the events'
pictures in the case and in its report (embedded, so the printout stands alone); the evidence package
downloaded by any worker of the case, not only the export's owner (audited like an export download); a
site administrator opening a case for an organisation; the package's SHA-256 recorded when the export ends
(not when someone next reads the case), and the report saying so when the file changed or is gone since."""

from __future__ import annotations

import base64
import hashlib
import re
import time
import uuid

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from ronda.analytics.service import image_path
from ronda.store import repos
from ronda.store.access_models import CameraGroup, Organisation, Role, RoleScope
from ronda.store.db import Database
from tests.api.test_cases_api import new_case, pdf_text, post_event
from tests.helpers import Client, write_private

API = "/api/v1"


def now_ms() -> int:
    return int(time.time() * 1000)


def jpeg(level: int) -> bytes:
    img = np.full((90, 160, 3), level, np.uint8)
    cv2.rectangle(img, (50, 30), (90, 70), (0, 0, 255), 2)
    return bytes(cv2.imencode(".jpg", img)[1])


def analytics_event(site, camera: int, type_: str = "graffiti.detected", images: tuple[str, ...] = ("before", "after"),
                    ago_s: float = 30) -> tuple[int, dict[str, bytes]]:  # fmt: skip
    """An analytics event with its snapshot and extra images, stored as the analytics service stores one
    (JPEGs under DATA/analytics/snapshots, the row through repos.add_events)."""
    t = now_ms() - int(ago_s * 1000)
    rel = f"analytics/snapshots/{camera}/{t}-{uuid.uuid4().hex[:6]}-{type_}.jpg"
    pictures = {"": jpeg(120)} | {n: jpeg(40 + 60 * i) for i, n in enumerate(images)}
    for name, data in pictures.items():
        write_private(site.data_dir / (image_path(rel, name) if name else rel), data)
    payload = {"zone": "wall", "images": sorted(images)} if images else {"zone": "kerb"}
    db = Database(f"sqlite:///{site.data_dir / 'ronda.db'}")
    try:
        with db.session() as s:
            [eid] = repos.add_events(s, [{"type": type_, "time_ms": t, "camera_id": camera, "severity": "warning",
                                          "source": "analytics", "snapshot": rel, "payload": payload,
                                          "box": [0.3, 0.3, 0.2, 0.2]}])  # fmt: skip
    finally:
        db.dispose()
    return eid, pictures


def org_ids(site) -> dict[str, int]:
    r = site.ronda.api("GET", f"{API}/organisations")
    assert r.status_code == 200, r.text
    return {o["name"]: o["id"] for o in r.json()}


def case_worker(site, org: str, group: str, rights: list[str]) -> Client:
    """A user of ``org`` with ``rights`` on the camera group ``group``."""
    db = Database(f"sqlite:///{site.data_dir / 'ronda.db'}")
    name, pw = f"cw_{uuid.uuid4().hex[:8]}", f"Cw-{uuid.uuid4().hex}!"
    with db.session() as s:
        o = s.scalar(select(Organisation).where(Organisation.name == org))
        g = s.scalar(select(CameraGroup).where(CameraGroup.name == group))
        assert o is not None and g is not None
        role = Role(name=name, organisation_id=o.id, rights=rights)
        s.add(role)
        s.flush()
        s.add(RoleScope(role_id=role.id, camera_group_id=g.id))
        oid = o.id
    db.dispose()
    r = site.ronda.api("POST", f"{API}/users", json={"username": name, "password": pw, "roles": [name],
                                                     "organisation_id": oid})  # fmt: skip
    assert r.status_code == 201, r.text
    return Client(site, name, pw)


def audit_of(site, action: str, case_id: int) -> list[dict]:
    r = site.ronda.api("GET", f"{API}/audit", params={"action": action, "limit": 1000})
    assert r.status_code == 200, r.text
    return [e for e in r.json() if (e.get("details") or {}).get("case") == case_id]


def wait(pred, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def signed_case(site, op: Client) -> tuple[dict, dict]:
    """A case of Camera 1 with its evidence package signed."""
    case = new_case(op, [post_event(op, site.cam("Camera 1"), ago_s=20)])
    r = op.req("POST", f"{API}/cases/{case['id']}/evidence", json={})
    assert r.status_code == 202, r.text

    def done() -> dict | None:
        ev = op.req("GET", f"{API}/cases/{case['id']}").json()["evidence"][0]
        return ev if ev["status"] != "pending" else None

    ev = wait(done, 120, "the case's package")
    assert ev["status"] == "done", ev
    return case, ev


# --- 1. the events' pictures ----------------------------------------------------------------------------------
def test_the_case_carries_its_events_pictures_and_the_report_embeds_them(site, users):
    op = users["operator"]
    cam1 = site.cam("Camera 1")
    eid, pictures = analytics_event(site, cam1)
    plain = post_event(op, cam1, ago_s=25)  # an event without a picture adds none
    case = new_case(op, [eid, plain])
    shots = case["snapshots"]
    assert len(shots) == 1 and shots[0]["event"] == eid and shots[0]["camera"] == cam1
    assert shots[0]["images"] == ["after", "before"]
    assert shots[0]["url"] == f"{API}/events/{eid}/snapshot.jpg"
    for name in ("", "before", "after"):  # what the client fetches answers the stored pictures
        r = op.req("GET", shots[0]["url"], params={"image": name} if name else None)
        assert r.status_code == 200 and r.content == pictures[name], name

    html = op.req("GET", f"{API}/cases/{case['id']}/report.html").text
    embedded = re.findall(r'src="data:image/jpeg;base64,([^"]+)"', html)
    assert sorted(base64.b64decode(b) for b in embedded) == sorted(pictures.values())
    assert "before" in html and "after" in html
    pdf = op.req("GET", f"{API}/cases/{case['id']}/report.pdf").content
    assert len(re.findall(rb"/Subtype\s*/Image", pdf)) == 3
    text = pdf_text(pdf)
    assert re.search(r"\\?\(before\\?\)", text) and re.search(r"\\?\(after\\?\)", text)  # captions

    # the event expires (deleted here): the client has nothing to fetch, the report still embeds the files
    assert users["admin"].req("DELETE", f"{API}/events/{eid}").status_code == 204
    assert op.req("GET", shots[0]["url"]).status_code == 404
    html = op.req("GET", f"{API}/cases/{case['id']}/report.html").text
    embedded = re.findall(r'src="data:image/jpeg;base64,([^"]+)"', html)
    assert sorted(base64.b64decode(b) for b in embedded) == sorted(pictures.values())


# --- 2. every worker of the case downloads its package --------------------------------------------------------
@pytest.fixture(scope="module")
def police_worker(site, users) -> Client:
    """A second Polizia Locale case worker (cases, playback on the odd cameras; no export right)."""
    return case_worker(site, "Polizia Locale", "Odd cameras", ["playback", "cases"])


@pytest.fixture(scope="module")
def town_worker(site, users) -> Client:
    return case_worker(site, "Municipio", "Even cameras", ["live", "playback", "export", "cases"])


def test_every_worker_of_the_case_downloads_its_package(site, users, police_worker, town_worker, tmp_path):
    op, viewer_a = users["operator"], users["viewer_a"]
    case, ev = signed_case(site, op)
    cid = case["id"]
    # the export stays its owner's: the other worker does not get it there
    assert police_worker.req("GET", f"{API}/exports/{ev['export_id']}/download").status_code == 404
    r = police_worker.req("POST", f"{API}/cases/{cid}/evidence/{ev['id']}/link")
    assert r.status_code == 200, r.text
    link = r.json()
    assert link["name"] == f"case-{case['number']}.zip" and 0 < link["expires_in"] <= 600
    assert link["url"].startswith(f"{API}/cases/{cid}/evidence/{ev['id']}/file?token=")
    got = site.ronda.anon("GET", link["url"])  # the browser's download manager: no header, the token
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/zip"
    assert f"case-{case['number']}.zip" in got.headers["content-disposition"]
    assert hashlib.sha256(got.content).hexdigest() == ev["sha256"]
    downloads = [e for e in audit_of(site, "export.download", cid) if e["actor"] == police_worker.username]
    assert len(downloads) == 1 and downloads[0]["details"]["job"] == ev["export_id"]
    assert downloads[0]["details"]["number"] == case["number"] and downloads[0]["camera_id"] == site.cam("Camera 1")
    # who may not see the case: 404; who sees the camera without the cases right: 403; a bad token: 401
    assert town_worker.req("POST", f"{API}/cases/{cid}/evidence/{ev['id']}/link").status_code == 404
    assert viewer_a.req("POST", f"{API}/cases/{cid}/evidence/{ev['id']}/link").status_code == 403
    bad = site.ronda.anon("GET", f"{API}/cases/{cid}/evidence/{ev['id']}/file", params={"token": "x" * 40})
    assert bad.status_code == 401
    # a link is for its case's package only; an evidence id of another case, or none: 404
    other = new_case(op, [post_event(op, site.cam("Camera 1"))])
    assert op.req("POST", f"{API}/cases/{other['id']}/evidence/{ev['id']}/link").status_code == 404
    token = link["url"].split("token=", 1)[1]
    moved = site.ronda.anon("GET", f"{API}/cases/{other['id']}/evidence/{ev['id']}/file", params={"token": token})
    assert moved.status_code == 404
    assert op.req("POST", f"{API}/cases/{cid}/evidence/{2**31 - 2}/link").status_code == 404
    assert op.req("POST", f"{API}/cases/{cid}/evidence/0/link").status_code == 422


def test_a_package_not_yet_signed_is_not_offered(site, users):
    op = users["operator"]
    case = new_case(op, [post_event(op, site.cam("Camera 3"), ago_s=20)])
    r = op.req("POST", f"{API}/cases/{case['id']}/evidence", json={})
    assert r.status_code == 202, r.text
    got = op.req("POST", f"{API}/cases/{case['id']}/evidence/{r.json()['id']}/link")
    assert got.status_code in (200, 409), got.text  # 200 only once it is signed (it may be already)
    if got.status_code == 409:
        assert "pending" in got.json()["detail"] or "not signed" in got.json()["detail"]


# --- 3. a site administrator opens a case for an organisation ------------------------------------------------
def test_site_administrator_opens_a_case_for_an_organisation(site, users, town_worker):
    admin, op = users["admin"], users["operator"]
    orgs = org_ids(site)
    police, town = orgs["Polizia Locale"], orgs["Municipio"]
    cam1, cam2 = site.cam("Camera 1"), site.cam("Camera 2")
    # default: the organisation that owns the camera
    default = new_case(admin, [post_event(admin, cam1)])
    assert default["organisation_id"] == police
    assert op.req("GET", f"{API}/cases/{default['id']}").status_code == 200
    # for the Municipio, on the camera the Polizia Locale shares with it
    for_town = new_case(admin, [post_event(admin, cam2)], organisation_id=town)
    assert for_town["organisation_id"] == town
    assert town_worker.req("GET", f"{API}/cases/{for_town['id']}").status_code == 200
    assert op.req("GET", f"{API}/cases/{for_town['id']}").status_code == 404
    created = audit_of(site, "case.create", for_town["id"])
    assert len(created) == 1 and created[0]["details"]["after"]["organisation_id"] == town
    # the site's own case, said explicitly
    own = new_case(admin, [post_event(admin, cam1)], organisation_id=None)
    assert own["organisation_id"] is None
    assert op.req("GET", f"{API}/cases/{own['id']}").status_code == 404
    # an organisation that cannot see the camera, or none that exists: 422
    r = admin.req("POST", f"{API}/cases", json={"events": [post_event(admin, cam1)], "organisation_id": town})
    assert r.status_code == 422 and "camera" in r.json()["detail"], r.text
    r = admin.req("POST", f"{API}/cases", json={"events": [post_event(admin, cam1)], "organisation_id": 2**31 - 2})
    assert r.status_code == 422, r.text
    assert admin.req("POST", f"{API}/cases", json={"events": [1], "organisation_id": "x"}).status_code == 422
    # an organisation's user: its own organisation only
    ev2 = post_event(admin, cam2)
    r = town_worker.req("POST", f"{API}/cases", json={"events": [ev2], "organisation_id": police})
    assert r.status_code == 403, r.text
    r = town_worker.req("POST", f"{API}/cases", json={"events": [ev2], "organisation_id": None})
    assert r.status_code == 403, r.text
    assert new_case(town_worker, [ev2], organisation_id=town)["organisation_id"] == town


# --- 4. the package's hashes recorded when it is made ---------------------------------------------------------
def test_hashes_are_recorded_when_the_package_is_made_and_checked_in_the_report(site, users):
    op = users["operator"]
    case = new_case(op, [post_event(op, site.cam("Camera 3"), ago_s=20)])
    cid = case["id"]
    r = op.req("POST", f"{API}/cases/{cid}/evidence", json={})
    assert r.status_code == 202, r.text
    job_id = r.json()["export_id"]
    # nobody reads the case: the export job alone
    wait(lambda: op.req("GET", f"{API}/exports/{job_id}").json()["status"] != "running", 120, "the export")
    ready = wait(lambda: audit_of(site, "case.evidence_ready", cid), 10, "case.evidence_ready without a read")
    pkg = site.data_dir / "exports" / f"{job_id}.zip"
    sha = hashlib.sha256(pkg.read_bytes()).hexdigest()
    assert ready[0]["details"]["sha256"] == sha
    ev = op.req("GET", f"{API}/cases/{cid}").json()["evidence"][0]
    assert ev["status"] == "done" and ev["sha256"] == sha

    def report() -> str:
        html = op.req("GET", f"{API}/cases/{cid}/report.html")
        assert html.status_code == 200, html.text
        return html.text

    assert 'data-file="intact"' in report()
    # the file on the server changes: the report keeps the recorded hash and says the file differs
    data = pkg.read_bytes()
    pkg.write_bytes(data + b"tampered")
    html = report()
    assert 'data-file="changed"' in html and sha in html
    assert hashlib.sha256(data + b"tampered").hexdigest() not in html.split('data-testid="report-sha256"')[1][:200]
    assert "changed" in pdf_text(op.req("GET", f"{API}/cases/{cid}/report.pdf").content)
    r = op.req("POST", f"{API}/cases/{cid}/evidence/{ev['id']}/link")
    assert r.status_code == 409 and "changed" in r.json()["detail"], r.text
    # gone: said so
    pkg.unlink()
    html = report()
    assert 'data-file="gone"' in html and sha in html
    assert op.req("POST", f"{API}/cases/{cid}/evidence/{ev['id']}/link").status_code == 409
