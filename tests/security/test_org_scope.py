"""Organisation scope of global rights (issue 10: items 1, 2, 6, 7, 8, 19, 20), over real HTTP.

The attacker is mostly ``muni_admin``: the built-in administrator role given to a user of the Municipio,
which owns no camera of its own and is shared the even cameras of the Polizia Locale.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from sqlalchemy import select
from websockets.sync.client import connect

from ronda.access.service import create_user
from ronda.store.access_models import CameraGroup, CameraGroupMember, Organisation, Role, RoleScope
from ronda.store.db import Database
from tests.helpers import PW, Client, iso, wait_for
from tests.security.conftest import new_org_admin

STRONG = "Corvo-Bianco-42"  # passes the password policy


def _db(site) -> Database:
    return Database(f"sqlite:///{site.data_dir / 'ronda.db'}")


def _ids_by_name(site, model) -> dict[str, int]:
    db = _db(site)
    try:
        with db.session() as s:
            return {row.name: row.id for row in s.scalars(select(model))}
    finally:
        db.dispose()


def _org_ids(site) -> dict[str, int]:
    return _ids_by_name(site, Organisation)


def _user_id(client: Client) -> int:
    return int(client.req("GET", "/api/v1/me").json()["id"])


def _uname() -> str:
    return f"u{uuid.uuid4().hex[:8]}"


# --- item 1: users ---------------------------------------------------------------------------------------
def test_item01_org_admin_cannot_create_site_level_or_foreign_users(site, sec_users):
    muni, orgs = sec_users["muni_admin"], _org_ids(site)
    for extra in ({}, {"organisation_id": None}):
        name = _uname()
        r = muni.req("POST", "/api/v1/users", json={"username": name, "password": STRONG, "roles": ["administrator"],
                                                     **extra})  # fmt: skip
        assert r.status_code == 201, r.text
        assert r.json()["organisation_id"] == orgs["Municipio"], "an org admin made a site-level user"
        me = Client(site, name, STRONG).req("GET", "/api/v1/me").json()
        assert me["organisation_id"] == orgs["Municipio"]
    r = muni.req("POST", "/api/v1/users", json={"username": _uname(), "password": STRONG, "roles": ["viewer"],
                                                 "organisation_id": orgs["Polizia Locale"]})  # fmt: skip
    assert r.status_code == 403, r.text


def test_item01_org_admin_sees_and_edits_only_its_users(site, sec_users):
    muni, admin = sec_users["muni_admin"], sec_users["admin"]
    listed = {u["username"] for u in muni.req("GET", "/api/v1/users").json()}
    assert "muni_admin" in listed and "viewer_b" in listed
    assert not listed & {"admin", "operator", "viewer_a", "police_admin", "sec_usermgr"}, listed
    admin_id = _user_id(admin)
    op_id = _user_id(sec_users["operator"])
    for uid in (admin_id, op_id):
        assert muni.req("PATCH", f"/api/v1/users/{uid}", json={"password": "Hijacked-Pass-99"}).status_code == 404
        assert muni.req("PATCH", f"/api/v1/users/{uid}", json={"enabled": False}).status_code == 404
    assert admin.req("GET", "/api/v1/me").status_code == 200
    # its own users it does manage
    vb = _user_id(sec_users["viewer_b"])
    assert muni.req("PATCH", f"/api/v1/users/{vb}", json={"display_name": "Viewer B"}).status_code == 200
    # roles and organisations it lists are its own and the site's built-in ones
    roles = {r["name"] for r in muni.req("GET", "/api/v1/roles").json()}
    assert "Viewer (odd cameras)" not in roles and "administrator" in roles
    orgs = {o["name"] for o in muni.req("GET", "/api/v1/organisations").json()}
    assert orgs == {"Municipio"}


def test_item01_user_manager_cannot_reset_or_disable_who_outranks_it(site, sec_users):
    mgr, admin = sec_users["usermgr"], sec_users["admin"]
    admin_id = _user_id(admin)
    assert mgr.req("PATCH", f"/api/v1/users/{admin_id}", json={"password": "Hijacked-Pass-99"}).status_code == 403
    assert mgr.req("PATCH", f"/api/v1/users/{admin_id}", json={"enabled": False}).status_code == 403
    op_id = _user_id(sec_users["operator"])
    assert mgr.req("PATCH", f"/api/v1/users/{op_id}", json={"enabled": False}).status_code == 403
    assert admin.req("GET", "/api/v1/me").status_code == 200
    assert sec_users["operator"].req("GET", "/api/v1/me").status_code == 200


# --- item 2: exports, audit, shared cameras, map, rules, cameras it adds -------------------------------------
def test_item02_org_admin_does_not_see_other_organisations_exports(site, sec_users):
    admin, muni = sec_users["admin"], sec_users["muni_admin"]
    now = int(time.time() * 1000)
    body = {"cameras": [site.cam("Camera 2")], "start": iso(now - 20_000), "end": iso(now - 10_000),
            "reason": "scope test"}  # fmt: skip
    r = admin.req("POST", "/api/v1/exports", json=body)
    assert r.status_code == 202, r.text
    job = r.json()["id"]
    assert job not in {j["id"] for j in muni.req("GET", "/api/v1/exports").json()}
    assert muni.req("GET", f"/api/v1/exports/{job}").status_code == 404
    wait_for(lambda: admin.req("GET", f"/api/v1/exports/{job}").json()["status"] in ("done", "failed"), 60,
             what="the export")  # fmt: skip
    assert muni.req("GET", f"/api/v1/exports/{job}/download").status_code == 404
    assert muni.req("POST", f"/api/v1/exports/{job}/link").status_code == 404
    assert muni.req("DELETE", f"/api/v1/exports/{job}").status_code == 404


def test_item02_org_admin_audit_is_its_organisations(site, sec_users):
    muni = sec_users["muni_admin"]
    sec_users["admin"].req("GET", "/api/v1/me")  # something by the site admin exists
    rows = muni.req("GET", "/api/v1/audit?limit=1000").json()
    assert rows, "its own logins are its to see"
    members = {u["username"] for u in muni.req("GET", "/api/v1/users").json()}
    db = _db(site)
    try:  # deleted cameras too: their history stays the organisation's
        with db.session() as s:
            owned = set(s.scalars(select(CameraGroupMember.camera_id).join(
                CameraGroup, CameraGroup.id == CameraGroupMember.group_id).where(
                CameraGroup.organisation_id == _org_ids(site)["Municipio"])))  # fmt: skip
    finally:
        db.dispose()
    foreign = [r for r in rows if r["actor"].removesuffix("(api-key)") not in members and r["camera_id"] not in owned]
    assert not foreign, foreign[:3]
    assert not any(r["action"] == "login" and r["actor"] == "admin" for r in rows)
    assert muni.req("GET", "/api/v1/audit/verify").status_code == 403


def test_item02_shared_camera_is_viewed_never_managed(site, sec_users):
    muni, cam2 = sec_users["muni_admin"], site.cam("Camera 2")
    view = muni.req("GET", f"/api/v1/cameras/{cam2}")
    assert view.status_code == 200
    assert "username" not in view.json() and all("url" not in st for st in view.json()["streams"].values())
    listed = [c for c in muni.req("GET", "/api/v1/cameras").json() if c["id"] == cam2][0]
    assert all("url" not in st for st in listed["streams"].values())
    for method, path, body in (
        ("PATCH", f"/api/v1/cameras/{cam2}", {"name": "pwned"}),
        ("PATCH", f"/api/v1/cameras/{cam2}", {"retention_days": 1}),
        ("PATCH", f"/api/v1/cameras/{cam2}", {"url": "rtsp://127.0.0.1:9/x"}),
        ("POST", f"/api/v1/cameras/{cam2}/test", None),
        ("PUT", f"/api/v1/map/cameras/{cam2}", {"lat": 39.3, "lon": 16.0}),
        ("DELETE", f"/api/v1/cameras/{cam2}", None),
    ):
        r = muni.req(method, path, json=body) if body is not None else muni.req(method, path)
        assert r.status_code == 403, (method, path, r.status_code, r.text)
    assert sec_users["admin"].req("GET", f"/api/v1/cameras/{cam2}").json()["name"] == "Camera 2"


def test_item02_site_map_and_storage_are_for_the_site_administrator(site, sec_users):
    geo = (
        b'{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},'
        b'"geometry":{"type":"Point","coordinates":[16.0,39.3]}}]}'
    )
    for who in ("muni_admin", "police_admin"):
        c = sec_users[who]
        r = c.req("PUT", "/api/v1/map/plan", content=geo, headers={"content-type": "application/geo+json"})
        assert r.status_code == 403, (who, r.status_code, r.text)
        assert c.req("DELETE", "/api/v1/map/plan").status_code == 403, who
        assert c.req("GET", "/api/v1/storage").status_code == 403, who
    assert sec_users["admin"].req("GET", "/api/v1/storage").status_code == 200


def _alarm_rule(cameras, related=(), groups=None, webhook=None):
    trigger = {"types": ["sec.test"]}
    if cameras is not None:
        trigger["cameras"] = list(cameras)
    if groups is not None:
        trigger["groups"] = list(groups)
    # A unique incident key: SQLite reuses a deleted rule's id, and the default key "{rule}:{camera}"
    # would let a later test's rule update this test's closed alarm.
    actions = [{"type": "raise_alarm", "title": "Seen {text}", "related_cameras": list(related),
                "dedupe_window_s": 0, "incident": f"sec-{uuid.uuid4().hex[:8]}:{{camera}}"}]  # fmt: skip
    if webhook:
        actions.append({"type": "webhook", "url": webhook})
    return {"name": f"sec {uuid.uuid4().hex[:8]}", "trigger": trigger, "actions": actions}


def test_item02_org_admin_rules_stay_on_its_own_cameras(site, sec_users):
    muni, admin = sec_users["muni_admin"], sec_users["admin"]
    for cams in ([site.cam("Camera 1")], [site.cam("Camera 2")], None):
        r = muni.req("POST", "/api/v1/rules", json=_alarm_rule(cams))
        assert r.status_code == 422, (cams, r.status_code, r.text)
    theirs = admin.req("POST", "/api/v1/rules", json=_alarm_rule([site.cam("Camera 1")]))
    assert theirs.status_code == 201, theirs.text
    rid = theirs.json()["id"]
    try:
        assert rid not in {x["id"] for x in muni.req("GET", "/api/v1/rules").json()}
        assert muni.req("GET", f"/api/v1/rules/{rid}").status_code == 404
        assert muni.req("PUT", f"/api/v1/rules/{rid}", json=_alarm_rule([site.cam("Camera 1")])).status_code == 404
        assert muni.req("DELETE", f"/api/v1/rules/{rid}").status_code == 404
    finally:
        admin.req("DELETE", f"/api/v1/rules/{rid}")


def test_item02_org_admin_manages_the_camera_it_adds(site, sec_users):
    # A fresh administrator of the Municipio (camera probes are budgeted per user); the camera's name
    # resolves nowhere: nothing is ever connected to.
    muni = new_org_admin(site)
    url = "rtsp://camera-muni.invalid/m"
    r = muni.req("POST", "/api/v1/cameras", json={"name": f"Muni {uuid.uuid4().hex[:4]}", "url": url,
                                                   "record_main": False})  # fmt: skip
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    got = muni.req("GET", f"/api/v1/cameras/{cid}")
    assert got.status_code == 200, "an org admin added a camera it cannot see"
    assert got.json()["streams"]["main"]["url"] == url
    # its own camera it may write rules about
    rule = muni.req("POST", "/api/v1/rules", json=_alarm_rule([cid]))
    assert rule.status_code == 201, rule.text
    assert muni.req("DELETE", f"/api/v1/rules/{rule.json()['id']}").status_code == 204
    # the Polizia Locale neither sees nor manages it
    assert sec_users["police_admin"].req("GET", f"/api/v1/cameras/{cid}").status_code == 404
    assert muni.req("DELETE", f"/api/v1/cameras/{cid}").status_code == 204


# --- item 6: a rule's groups reach no further than its author -------------------------------------------------
@pytest.fixture(scope="module")
def even_rule_author(site, users):
    """A Polizia Locale rule author that sees only cameras 2 and 4."""
    groups = _group_ids(site)
    client = _police_user(site, "even_rules", "Rules on even cameras (sec)", ["live", "manage_rules"], "Even cameras")
    return client, groups["Odd cameras"], groups["Even cameras"]


def _group_ids(site) -> dict[str, int]:
    return _ids_by_name(site, CameraGroup)


def _police_user(site, name: str, role_name: str, rights: list[str], group: str) -> Client:
    """A Polizia Locale user whose one role has ``rights`` on the camera group ``group``."""
    db = _db(site)
    try:
        with db.session() as s:
            police = s.scalar(select(Organisation.id).where(Organisation.name == "Polizia Locale"))
            gid = s.scalar(select(CameraGroup.id).where(CameraGroup.name == group))
            role = Role(name=role_name, organisation_id=police, rights=rights)
            s.add(role)
            s.flush()
            s.add(RoleScope(role_id=role.id, camera_group_id=gid))
        create_user(db, name, PW, [role_name], organisation_id=police)
    finally:
        db.dispose()
    return Client(site, name)


def test_item06_rule_author_cannot_reach_other_cameras_through_groups(site, even_rule_author):
    author, odd, even = even_rule_author
    r = author.req("POST", "/api/v1/rules", json=_alarm_rule(None, groups=[odd]))
    assert r.status_code == 422, r.text
    r = author.req("POST", "/api/v1/rules", json=_alarm_rule([site.cam("Camera 2")], related=[site.cam("Camera 1")]))
    assert r.status_code == 422, r.text


# --- item 7: alarms seen through a related camera ---------------------------------------------------------------
def test_item07_related_camera_shows_no_details_and_allows_no_handling(site, sec_users):
    admin, muni = sec_users["admin"], sec_users["muni_admin"]
    cam1, cam2 = site.cam("Camera 1"), site.cam("Camera 2")
    rule = admin.req("POST", "/api/v1/rules", json=_alarm_rule([cam1], related=[cam2]))
    assert rule.status_code == 201, rule.text
    ticket = muni.req("POST", "/api/v1/ws-ticket").json()["ticket"]
    sock = connect(f"{site.ronda.base.replace('http', 'ws')}/api/v1/ws?ticket={ticket}", open_timeout=10)
    try:
        r = admin.req("POST", "/api/v1/events", json={"type": "sec.test", "camera": cam1, "text": "Mario Rossi AB123CD",
                                                       "payload": {"plate": "AB123CD"}})  # fmt: skip
        assert r.status_code == 202, r.text

        def mine():
            return [a for a in admin.req("GET", "/api/v1/alarms?state=open").json() if a["rule"] == rule.json()["id"]]

        alarm = wait_for(mine, 10, interval=0.2, what="the alarm")[0]
        assert "AB123CD" in alarm["title"]
        admin.req("POST", f"/api/v1/alarms/{alarm['id']}/comment", json={"text": "suspect Mario Rossi"})
        listed = [a for a in muni.req("GET", "/api/v1/alarms").json() if a["id"] == alarm["id"]]
        assert listed, "the related camera makes the alarm visible"
        assert "AB123CD" not in str(listed[0])
        detail = muni.req("GET", f"/api/v1/alarms/{alarm['id']}")
        assert detail.status_code == 200
        text = detail.text
        assert "AB123CD" not in text and "Mario Rossi" not in text, text
        assert detail.json()["may_handle"] is False
        for action, body in (("take", {}), ("close", {"text": "x"}), ("comment", {"text": "x"})):
            r = muni.req("POST", f"/api/v1/alarms/{alarm['id']}/{action}", json=body)
            assert r.status_code == 403, (action, r.status_code, r.text)
        assert admin.req("GET", f"/api/v1/alarms/{alarm['id']}").json()["state"] == "new"
        # the live alarm feed tells the same: the alarm, not its text
        pushed = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                msg = json.loads(sock.recv(timeout=max(0.1, deadline - time.monotonic())))
            except TimeoutError:
                break
            if msg.get("kind") == "alarm" and msg["alarm"]["id"] == alarm["id"]:
                pushed.append(msg)
                break
        assert pushed, "the related camera's organisation is told of the alarm"
        assert "AB123CD" not in json.dumps(pushed) and "Mario Rossi" not in json.dumps(pushed)
    finally:
        sock.close()
        admin.req("DELETE", f"/api/v1/rules/{rule.json()['id']}")
        # an open alarm on Camera 1 would show on later tests' maps and lists
        for a in admin.req("GET", "/api/v1/alarms?state=open").json():
            if a["rule"] == rule.json()["id"]:
                admin.req("POST", f"/api/v1/alarms/{a['id']}/close", json={"text": "test over"})


# --- item 8: evidence locks --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def second_locker(site, users):
    return _police_user(site, "locker2", "Lockers (sec)", ["live", "playback", "evidence_lock"], "Odd cameras")


def test_item08_only_creator_or_camera_manager_removes_a_lock(site, sec_users, second_locker):
    op, cam1 = sec_users["operator"], site.cam("Camera 1")
    now = int(time.time() * 1000)
    body = {"camera": cam1, "start": iso(now - 60_000), "end": iso(now - 30_000), "reason": "case 8"}
    lock = op.req("POST", "/api/v1/evidence-locks", json=body)
    assert lock.status_code == 201, lock.text
    lid = lock.json()["id"]
    assert second_locker.req("DELETE", f"/api/v1/evidence-locks/{lid}").status_code == 403
    assert sec_users["police_admin"].req("DELETE", f"/api/v1/evidence-locks/{lid}").status_code == 204
    mine = second_locker.req("POST", "/api/v1/evidence-locks", json=body)
    assert mine.status_code == 201
    assert mine.json()["until"] is not None, "a lock without an expiry"
    assert second_locker.req("DELETE", f"/api/v1/evidence-locks/{mine.json()['id']}").status_code == 204


@pytest.mark.parametrize(
    ("start", "end", "until"),
    [
        ("1970-01-01T00:00:00Z", "2100-01-01T00:00:00Z", None),
        ("2020-01-01T00:00:00Z", "2020-03-01T00:00:00Z", None),  # two months of footage
        (None, None, "2100-01-01T00:00:00Z"),  # held for 75 years
    ],
)
def test_item08_lock_ranges_and_durations_are_bounded(site, sec_users, start, end, until):
    now = int(time.time() * 1000)
    body = {"camera": site.cam("Camera 1"), "start": start or iso(now - 60_000), "end": end or iso(now - 1000),
            "reason": "too much"}  # fmt: skip
    if until:
        body["until"] = until
    r = sec_users["operator"].req("POST", "/api/v1/evidence-locks", json=body)
    assert r.status_code == 422, r.text


# --- item 19 (users part) and item 20 -----------------------------------------------------------------------------
def test_item19_user_in_missing_organisation_is_422(site, sec_users):
    body = {"username": _uname(), "password": STRONG, "roles": ["viewer"], "organisation_id": 987654}
    r = sec_users["admin"].req("POST", "/api/v1/users", json=body)
    assert r.status_code == 422, r.text


@pytest.mark.parametrize("password", ["12345678", "password", "{name}", "{name}1", "qwertyuiop", "letmein123"])
def test_item20_weak_passwords_are_refused(site, sec_users, password):
    admin, name = sec_users["admin"], _uname()
    pw = password.format(name=name)
    r = admin.req("POST", "/api/v1/users", json={"username": name, "password": pw, "roles": ["viewer"]})
    assert r.status_code == 422, (pw, r.text)
    assert "password" in r.text


def test_item20_strong_passwords_pass_and_changes_are_checked(site, sec_users):
    admin, name = sec_users["admin"], _uname()
    r = admin.req("POST", "/api/v1/users", json={"username": name, "password": STRONG, "roles": ["viewer"]})
    assert r.status_code == 201, r.text
    me = Client(site, name, STRONG)
    r = me.req("PATCH", "/api/v1/me", json={"password": "password1", "current_password": STRONG})
    assert r.status_code == 422, r.text
    r = admin.req("PATCH", f"/api/v1/users/{_user_id(me)}", json={"password": "12345678"})
    assert r.status_code == 422, r.text
