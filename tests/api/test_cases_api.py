"""Cases and fines over real HTTP against the shared site (docs/cases.md): a case made from events and from
an alarm, the status flow with its refused steps, notes, the fine, the audit entry of every change with
before/after, the list's filters and paging, the organisation scope and the ``cases`` right, and the
report (HTML and PDF) listing the evidence package's SHA-256 and the site key's fingerprint, checked
against the downloaded package and ``ronda verify``."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import time
import uuid
import zipfile
import zlib
from decimal import Decimal

import pytest
from sqlalchemy import select

from ronda.cases import service
from ronda.errors import Invalid
from ronda.store.access_models import CameraGroup, Organisation, Role, RoleScope
from ronda.store.db import Database
from tests.helpers import Client, iso, wait_for

API = "/api/v1"


def ronda(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ronda.cli", *args], capture_output=True, text=True, timeout=300)


def now_ms() -> int:
    return int(time.time() * 1000)


def post_event(client: Client, camera: int, type_: str = "dumping.detected", ago_s: float = 30, **extra) -> int:
    body = {"type": type_, "camera": camera, "time": iso(now_ms() - int(ago_s * 1000)), **extra}
    r = client.req("POST", f"{API}/events", json=body)
    assert r.status_code == 202, r.text
    return int(r.json()["ids"][0])


def new_case(client: Client, events: list[int], **extra) -> dict:
    r = client.req("POST", f"{API}/cases", json={"events": events, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def audit(site, action: str, case_id: int) -> list[dict]:
    r = site.ronda.api("GET", f"{API}/audit", params={"action": action, "limit": 1000})
    assert r.status_code == 200, r.text
    return [e for e in r.json() if (e.get("details") or {}).get("case") == case_id]


# --- pure rules -------------------------------------------------------------------------------------------
def test_plates_amounts_and_types():
    assert service.normalise_plate("ab 123-cd") == "AB123CD"
    assert service.to_cents(Decimal("80")) == 8000 and service.amount_text(8005) == "80.05"
    with pytest.raises(Invalid):
        service.to_cents(Decimal("-1"))
    with pytest.raises(Invalid):
        service.to_cents(Decimal("1.001"))
    assert service.type_of("dumping.detected") == "dumping" and service.type_of("graffiti.detected") == "graffiti"
    assert service.type_of("camera.offline") == "incident"
    assert service.number_of(2026, 123) == "2026-000123"
    # every status reaches closed, and nothing leaves it
    assert service.TRANSITIONS["closed"] == () and all(s in service.TRANSITIONS for s in service.STATUSES)


# --- the case, its flow and its audit ------------------------------------------------------------------------
def test_case_from_events_status_flow_notes_fine_and_audit(site, users):
    op = users["operator"]
    cam1 = site.cam("Camera 1")
    mark = uuid.uuid4().hex[:10]
    eid = post_event(op, cam1, text=f"bag {mark}", payload={"plate": "ab 123 cd"})
    case = new_case(op, [eid], offender=f"man in red {mark}")
    assert re.fullmatch(r"\d{4}-\d{6}", case["number"]) and case["status"] == "draft"
    assert case["type"] == "dumping" and case["camera"] == cam1 and case["cameras"] == [cam1]
    assert case["plate"] == "AB123CD" and case["currency"] == "EUR" and case["fine_amount"] is None
    ev = op.req("GET", f"{API}/events", params={"camera": cam1, "since": iso(now_ms() - 120_000)}).json()
    assert case["offence_time"][:19] == next(e for e in ev if e["id"] == eid)["time"][:19]
    assert {"kind": "event", "id": eid} in [{"kind": k["kind"], "id": k["id"]} for k in case["links"]]
    assert case["next_statuses"] == ["under_review"]
    cid = case["id"]

    # the contract's shape: type and title given
    other = new_case(op, [post_event(op, cam1, "sensor.bin_full")], type="incident", title=f"Bin {mark}")
    assert other["type"] == "incident" and other["title"] == f"Bin {mark}" and other["number"] != case["number"]

    def status(to: str, text: str = "", want: int = 200) -> dict:
        r = op.req("POST", f"{API}/cases/{cid}/status", json={"status": to, "text": text})
        assert r.status_code == want, (to, r.status_code, r.text)
        return r.json()

    status("fine_issued", want=409)  # not reviewed yet
    status("closed", want=409)
    assert status("under_review")["status"] == "under_review"
    assert "reference and amount" in status("fine_issued", want=409)["detail"]  # no fine yet: says so
    bad = op.req("PATCH", f"{API}/cases/{cid}", json={"fine_amount": "80.001"})
    assert bad.status_code == 422
    assert op.req("PATCH", f"{API}/cases/{cid}", json={"fine_amount": -5}).status_code == 422
    assert op.req("PATCH", f"{API}/cases/{cid}", json={"status": "closed"}).status_code == 422  # not a field
    r = op.req("PATCH", f"{API}/cases/{cid}", json={"fine_reference": f"VV-{mark}", "fine_amount": "80.50"})
    assert r.status_code == 200, r.text
    assert r.json()["fine_amount"] == "80.50" and r.json()["fine_reference"] == f"VV-{mark}"
    r = op.req("POST", f"{API}/cases/{cid}/notes", json={"text": f"seen on the footage {mark}"})
    assert r.status_code == 201 and r.json()["notes"][-1]["text"] == f"seen on the footage {mark}"
    assert op.req("POST", f"{API}/cases/{cid}/notes", json={"text": ""}).status_code == 422
    assert status("fine_issued", "notified by post")["status"] == "fine_issued"
    assert op.req("PATCH", f"{API}/cases/{cid}", json={"fine_amount": "10"}).status_code == 409  # issued
    status("draft", want=409)
    assert status("closed")["status"] == "closed"
    assert op.req("PATCH", f"{API}/cases/{cid}", json={"title": "later"}).status_code == 409
    status("under_review", want=409)
    # dismissing needs a reason
    oid = other["id"]
    assert op.req("POST", f"{API}/cases/{oid}/status", json={"status": "under_review"}).status_code == 200
    assert op.req("POST", f"{API}/cases/{oid}/status", json={"status": "dismissed"}).status_code == 422
    assert op.req("POST", f"{API}/cases/{oid}/status", json={"status": "dismissed", "text": "a bin"}).status_code == 200

    # every change audited, with before and after
    created = audit(site, "case.create", cid)
    assert len(created) == 1 and created[0]["actor"] == "operator" and created[0]["camera_id"] == cam1
    assert created[0]["details"]["after"]["status"] == "draft"
    updates = audit(site, "case.update", cid)
    assert len(updates) == 1
    assert updates[0]["details"]["before"] == {"fine_amount": None, "fine_reference": ""}
    assert updates[0]["details"]["after"] == {"fine_amount": "80.50", "fine_reference": f"VV-{mark}"}
    steps = [
        (e["details"]["before"]["status"], e["details"]["after"]["status"]) for e in audit(site, "case.status", cid)
    ]
    assert sorted(steps) == sorted([("draft", "under_review"), ("under_review", "fine_issued"),
                                    ("fine_issued", "closed")])  # fmt: skip
    assert len(audit(site, "case.note", cid)) == 1
    assert ronda("audit", "verify", "--data-dir", str(site.data_dir)).returncode == 0


def test_list_filters_and_paging(site, users):
    op = users["operator"]
    cam1, cam3 = site.cam("Camera 1"), site.cam("Camera 3")
    mark = uuid.uuid4().hex[:10]
    a = new_case(op, [post_event(op, cam1, ago_s=300)], title=f"A {mark}", plate="FF111AA")
    b = new_case(op, [post_event(op, cam3, "graffiti.detected", ago_s=60)], title=f"B {mark}")
    op.req("POST", f"{API}/cases/{b['id']}/status", json={"status": "under_review"})

    def ids(**params) -> list[int]:
        r = op.req("GET", f"{API}/cases", params=params)
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()]

    assert ids(text=mark) == [b["id"], a["id"]]  # newest offence first
    assert ids(text=mark, status="under_review") == [b["id"]]
    assert ids(text=mark, type="dumping") == [a["id"]]
    assert ids(text=mark, camera=cam3) == [b["id"]]
    assert ids(text=mark, plate="f111") == [a["id"]]
    assert ids(text=mark, start=iso(now_ms() - 120_000)) == [b["id"]]
    assert ids(text=mark, end=iso(now_ms() - 120_000)) == [a["id"]]
    r = op.req("GET", f"{API}/cases", params={"text": mark, "limit": 1, "offset": 1})
    assert [c["id"] for c in r.json()] == [a["id"]] and r.headers["x-total-count"] == "2"
    for bad in (
        {"status": "open"},
        {"limit": 0},
        {"limit": 10_000},
        {"start": "yesterday"},
        {"type": "theft"},
        {"text": "a\x00b"},
    ):
        assert op.req("GET", f"{API}/cases", params=bad).status_code == 422, bad
    assert op.req("GET", f"{API}/cases", params={"start": iso(now_ms()), "end": iso(now_ms() - 1)}).status_code == 422


def test_bad_input_is_refused_clearly(site, users):
    op = users["operator"]
    cam1 = site.cam("Camera 1")
    for body, want in (({}, 422), ({"events": [2**62]}, 404), ({"events": ["x"]}, 422),
                       ({"events": [1], "type": "theft"}, 422), ({"events": list(range(1, 102))}, 422),
                       ({"events": [1], "title": "a\nb"}, 422), ({"alarm": 2**31 - 2}, 404),
                       ({"bookmark": 2**31 - 2}, 404), ({"events": [1], "extra": 1}, 422),
                       ({"events": [1], "title": "   "}, 422), ({"alarm": 2**40}, 422),
                       ({"events": [1], "offender": "a\x00b"}, 422)):  # fmt: skip
        r = op.req("POST", f"{API}/cases", json=body)
        assert r.status_code == want, (body, r.status_code, r.text)
    r = site.ronda.api("POST", f"{API}/events", json={"type": "system.note"})
    assert r.status_code == 202
    r = site.ronda.api("POST", f"{API}/cases", json={"events": r.json()["ids"]})
    assert r.status_code == 422 and "camera" in r.json()["detail"]
    assert op.req("GET", f"{API}/cases/{2**31 - 2}").status_code == 404
    case = new_case(op, [post_event(op, cam1)])
    assert op.req("POST", f"{API}/cases/{case['id']}/evidence", json={"export": "../../etc"}).status_code == 422
    assert op.req("POST", f"{API}/cases/{case['id']}/evidence", json={"export": "doesnotexist0"}).status_code == 404


# --- organisation scope and the cases right ------------------------------------------------------------------
def town_case_worker(site) -> tuple[str, str]:
    """A new Municipio (organisation B) user with the cases right on the even cameras (which the Polizia
    Locale shares with it), with live, playback and export: (name, password)."""
    db = Database(f"sqlite:///{site.data_dir / 'ronda.db'}")
    name, pw = f"town_cases_{uuid.uuid4().hex[:6]}", f"Mx-{uuid.uuid4().hex}!"
    with db.session() as s:
        town = s.scalar(select(Organisation).where(Organisation.name == "Municipio"))
        even = s.scalar(select(CameraGroup).where(CameraGroup.name == "Even cameras"))
        assert town is not None and even is not None
        role = Role(name=name, organisation_id=town.id, rights=["live", "playback", "export", "cases"])
        s.add(role)
        s.flush()
        s.add(RoleScope(role_id=role.id, camera_group_id=even.id))
        town_id = town.id
    db.dispose()
    r = site.ronda.api("POST", f"{API}/users", json={"username": name, "password": pw, "roles": [name],
                                                     "organisation_id": town_id})  # fmt: skip
    assert r.status_code == 201, r.text
    return name, pw


@pytest.fixture(scope="module")
def muni(site, users) -> Client:
    """A Municipio (organisation B) case worker: cases, live, playback and export on the even cameras."""
    return Client(site, *town_case_worker(site))


def test_an_institution_sees_only_its_own_cases(site, users, muni):
    op, viewer_a, admin = users["operator"], users["viewer_a"], users["admin"]
    cam1, cam2 = site.cam("Camera 1"), site.cam("Camera 2")
    mark = uuid.uuid4().hex[:10]
    police_even = new_case(op, [post_event(op, cam2)], title=f"police even {mark}")
    police_odd = new_case(op, [post_event(op, cam1)], title=f"police odd {mark}")
    # the Municipio opens a case on the shared camera (from an event the administrator stored)
    r = site.ronda.api("POST", f"{API}/events", json={"type": "graffiti.detected", "camera": cam2})
    town = new_case(muni, r.json()["ids"], title=f"town {mark}")
    assert town["organisation_id"] is not None and town["organisation_id"] != police_even["organisation_id"]

    def listed(client: Client) -> set[int]:
        r = client.req("GET", f"{API}/cases", params={"text": mark})
        assert r.status_code == 200, r.text
        return {c["id"] for c in r.json()}

    assert listed(muni) == {town["id"]}
    assert listed(op) == {police_even["id"], police_odd["id"]}
    assert listed(admin) == {town["id"], police_even["id"], police_odd["id"]}
    for cid in (police_even["id"], police_odd["id"]):
        assert muni.req("GET", f"{API}/cases/{cid}").status_code == 404
        assert muni.req("GET", f"{API}/cases/{cid}/report.html").status_code == 404
        assert muni.req("POST", f"{API}/cases/{cid}/notes", json={"text": "x"}).status_code == 404
    assert op.req("GET", f"{API}/cases/{town['id']}").status_code == 404
    assert op.req("PATCH", f"{API}/cases/{town['id']}", json={"title": "x"}).status_code == 404
    assert admin.req("GET", f"{API}/cases/{town['id']}").status_code == 200
    # no cases right: 403 (the list, a case on a camera it sees, opening one); a camera it cannot see: 404
    assert viewer_a.req("GET", f"{API}/cases").status_code == 403
    assert viewer_a.req("GET", f"{API}/cases/{police_odd['id']}").status_code == 403
    assert viewer_a.req("POST", f"{API}/cases", json={"events": [post_event(op, cam1)]}).status_code == 403
    assert viewer_a.req("GET", f"{API}/cases/{police_even['id']}").status_code == 404
    assert muni.req("POST", f"{API}/cases", json={"events": [post_event(op, cam1)]}).status_code == 404
    assert muni.req("GET", f"{API}/cases", params={"camera": cam1}).status_code == 404


# --- evidence and the report -------------------------------------------------------------------------------
def pdf_text(data: bytes) -> str:
    """The text of an fpdf2 PDF: its content streams, inflated."""
    out = []
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            out.append(zlib.decompress(m.group(1)).decode("latin-1"))
        except zlib.error:
            out.append(m.group(1).decode("latin-1"))
    return "\n".join(out)


def test_evidence_package_and_report_list_the_hashes(site, users, tmp_path):
    op = users["operator"]
    cam1 = site.cam("Camera 1")
    case = new_case(op, [post_event(op, cam1, ago_s=20)])
    cid = case["id"]
    r = op.req("POST", f"{API}/cases/{cid}/evidence", json={})
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "pending"

    def done() -> dict | None:
        got = op.req("GET", f"{API}/cases/{cid}").json()["evidence"][0]
        return got if got["status"] != "pending" else None

    ev = wait_for(done, 120, interval=1, what="the case's evidence package")
    assert ev["status"] == "done", ev
    job = op.req("GET", f"{API}/exports/{ev['export_id']}").json()
    assert job["name"] == f"case-{case['number']}.zip"
    pkg = tmp_path / "pkg.zip"
    pkg.write_bytes(op.req("GET", f"{API}/exports/{ev['export_id']}/download").content)
    assert hashlib.sha256(pkg.read_bytes()).hexdigest() == ev["sha256"]
    pub = tmp_path / "site.pem"
    pub.write_text(ronda("keys", "public", "--data-dir", str(site.data_dir)).stdout)
    v = ronda("verify", str(pkg), "--pubkey", str(pub))
    assert v.returncode == 0 and ev["key_fingerprint"] in v.stdout, v.stdout + v.stderr
    assert {f["name"] for f in ev["files"]} >= {"snapshot.jpg", "report.txt"}
    # the package references the case
    with zipfile.ZipFile(pkg) as z:
        assert json.loads(z.read("manifest.json"))["case"] == case["number"]
    assert len(audit(site, "case.evidence", cid)) == 1 and len(audit(site, "case.evidence_ready", cid)) == 1
    # attaching the same export again: refused; an export of another case: refused
    again = op.req("POST", f"{API}/cases/{cid}/evidence", json={"export": ev["export_id"]})
    assert again.status_code == 409, again.text
    other = new_case(op, [post_event(op, cam1)])
    wrong = op.req("POST", f"{API}/cases/{other['id']}/evidence", json={"export": ev["export_id"]})
    assert wrong.status_code == 422 and other["number"] in wrong.json()["detail"], wrong.text

    html = op.req("GET", f"{API}/cases/{cid}/report.html")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "script-src" not in html.headers["content-security-policy"]
    assert ev["sha256"] in html.text and ev["key_fingerprint"] in html.text
    assert "ronda verify FILE.zip --pubkey" in html.text and case["number"] in html.text
    pdf = op.req("GET", f"{API}/cases/{cid}/report.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    text = pdf_text(pdf.content)
    assert ev["sha256"] in text and ev["key_fingerprint"] in text and "ronda verify" in text


def test_report_escapes_what_users_typed(site, users):
    op = users["operator"]
    case = new_case(op, [post_event(op, site.cam("Camera 3"))], title="<script>alert(1)</script>",
                    offender="<img src=x onerror=alert(1)> è ü 東京")  # fmt: skip
    html = op.req("GET", f"{API}/cases/{case['id']}/report.html").text
    assert "<script>" not in html and "<img src=x" not in html and "&lt;script&gt;" in html
    pdf = op.req("GET", f"{API}/cases/{case['id']}/report.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
