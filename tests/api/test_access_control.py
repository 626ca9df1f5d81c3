"""Access control over real HTTP/WebSocket against the shared site: the rights matrix and attacks."""

from __future__ import annotations

import base64
import contextlib
import json
import sqlite3
import time

import jwt
import pytest
from sqlalchemy import select
from websockets.sync.client import connect

from ronda.access.service import LOGIN_FAILED, create_user
from ronda.store.access_models import Organisation, Role, RoleScope, User, UserRole
from ronda.store.db import Database
from tests.helpers import PW, Client, catalog, elsewhere, iso, wait_for

ODD, EVEN = ("Camera 1", "Camera 3"), ("Camera 2", "Camera 4")


def recordings_path(site, name: str) -> str:
    now = int(time.time() * 1000)
    return f"/api/v1/cameras/{site.cam(name)}/recordings?start={iso(now - 600_000)}&end={iso(now)}"


@pytest.mark.parametrize(
    ("user", "allowed"),
    [
        ("admin", ODD + EVEN),
        ("operator", ODD + EVEN),
        ("viewer_a", ODD),
        ("viewer_b", EVEN),  # through the share with the Municipio
        ("night", ()),  # outside its time profile
    ],
)
def test_camera_visibility_live_and_playback(site, users, user, allowed):
    c = users[user]
    listed = {x["name"] for x in c.req("GET", "/api/v1/cameras").json()}
    plain = {f"Camera {n}" for n in range(1, 5)}
    assert listed & plain == set(allowed)
    if user != "admin":
        assert not listed - plain, "sees cameras outside its groups"
    for name in ODD + EVEN:
        cid = site.cam(name)
        expect = 200 if name in allowed else 404
        assert c.req("GET", f"/api/v1/cameras/{cid}").status_code == expect, (user, name)
        assert c.req("GET", recordings_path(site, name)).status_code == expect, (user, name, "playback")
        timeline = recordings_path(site, name).replace("/recordings?", "/timeline?")
        assert c.req("GET", timeline).status_code == expect, (user, name, "timeline")
        assert c.req("GET", f"/api/v1/cameras/{cid}/snapshot").status_code == expect, (user, name, "live")


@pytest.mark.parametrize(
    ("user", "camera", "status"),
    [("admin", "Camera 1", 200), ("operator", "Camera 1", 403), ("viewer_a", "Camera 1", 403),
     ("viewer_a", "Camera 2", 404), ("night", "Camera 1", 404)],
)  # fmt: skip
def test_manage_cameras_right(site, users, user, camera, status):
    r = users[user].req("PATCH", f"/api/v1/cameras/{site.cam(camera)}", json={"retention_days": 30})
    assert r.status_code == status, r.text
    if user != "admin":
        assert (
            users[user].req("POST", "/api/v1/cameras", json={"name": "x", "url": "rtsp://127.0.0.1/x"}).status_code
            == 403
        )


@pytest.mark.parametrize("path", ["/api/v1/users", "/api/v1/roles", "/api/v1/audit", "/api/v1/storage"])
def test_viewer_cannot_reach_admin_endpoints(site, users, path):
    for u in ("operator", "viewer_a", "viewer_b", "night"):
        assert users[u].req("GET", path).status_code == 403, (u, path)
    assert users["admin"].req("GET", path).status_code == 200


def test_me_returns_rights(site, users):
    me = users["viewer_a"].req("GET", "/api/v1/me").json()
    assert me["username"] == "viewer_a" and me["rights"] == ["live", "playback"]
    assert set(me["cameras"]) == {str(site.cam(n)) for n in ODD}
    assert users["night"].req("GET", "/api/v1/me").json()["rights"] == []


def test_viewer_does_not_see_camera_urls(site, users):
    cam = users["viewer_a"].req("GET", f"/api/v1/cameras/{site.cam('Camera 1')}").json()
    assert "url" not in cam["streams"]["main"]
    assert "url" in users["admin"].req("GET", f"/api/v1/cameras/{site.cam('Camera 1')}").json()["streams"]["main"]


def test_websocket_events_are_filtered_by_rights(site, users):
    base = site.ronda.base.replace("http", "ws")
    socks = {}
    with contextlib.ExitStack() as stack:
        for u in ("viewer_a", "viewer_b"):
            ticket = users[u].req("POST", "/api/v1/ws-ticket").json()["ticket"]
            socks[u] = stack.enter_context(connect(f"{base}/api/v1/ws?ticket={ticket}", open_timeout=10))
        con = sqlite3.connect(site.data_dir / "ronda.db", timeout=30)
        with con:
            for name in ("Camera 1", "Camera 2"):
                con.execute(
                    "INSERT INTO events (time_ms, type, source, severity, camera_id, payload) VALUES "
                    "(?, 'test.ping', 'external', 'info', ?, '{}')",
                    (int(time.time() * 1000), site.cam(name)),
                )
        con.close()
        got = {}
        for u, ws in socks.items():
            msgs = []
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                try:
                    msgs.append(json.loads(ws.recv(timeout=deadline - time.monotonic())))
                except TimeoutError:
                    break
            got[u] = {m["event"]["camera"] for m in msgs if m["event"]["type"] == "test.ping"}
    assert got["viewer_a"] == {site.cam("Camera 1")}
    assert got["viewer_b"] == {site.cam("Camera 2")}


def test_websocket_ticket_is_single_use_and_origin_checked(site, users):
    base = site.ronda.base.replace("http", "ws")
    ticket = users["viewer_a"].req("POST", "/api/v1/ws-ticket").json()["ticket"]
    with connect(f"{base}/api/v1/ws?ticket={ticket}", open_timeout=10):
        pass
    for url, headers in (
        (f"{base}/api/v1/ws?ticket={ticket}", {}),  # reused
        (f"{base}/api/v1/ws?ticket=forged", {}),
        (f"{base}/api/v1/ws", {}),
        (f"{base}/api/v1/ws?ticket={users['viewer_a'].req('POST', '/api/v1/ws-ticket').json()['ticket']}",
         {"Origin": "https://evil.example"}),
    ):  # fmt: skip
        with pytest.raises(Exception):  # noqa: B017  (refused: closed before or right after the handshake)
            with connect(url, additional_headers=headers, open_timeout=10) as ws:
                ws.recv(timeout=3)


# --- attacks ---------------------------------------------------------------------------------------
def _b64(d: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()


def test_forged_tokens_are_401(site, users):
    good = users["viewer_a"].tokens["access_token"]
    claims = jwt.decode(good, options={"verify_signature": False})
    admin_claims = {**claims, "sub": "1"}
    forged = [
        _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(admin_claims) + ".",
        jwt.encode(admin_claims, "not-the-key-" * 4, algorithm="HS256"),
        jwt.encode({**claims, "exp": int(time.time()) - 10}, "not-the-key-" * 4, algorithm="HS256"),
        good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
        ".".join([good.split(".")[0], _b64(admin_claims), good.split(".")[2]]),
        "garbage",
    ]
    for tok in forged:
        r = site.ronda.anon("GET", "/api/v1/me", headers={"Authorization": f"Bearer {tok}"})
        assert r.status_code == 401, tok
        assert r.headers.get("www-authenticate", "").lower().startswith("bearer")
    r = site.ronda.anon("GET", "/api/v1/cameras")
    assert r.status_code == 401 and "www-authenticate" in r.headers
    assert site.ronda.anon("GET", "/api/v1/me", headers={"Authorization": "Basic YWRtaW46eA=="}).status_code == 401


def test_logout_revokes_the_token(site, users):
    c = Client(site, "viewer_b")
    assert c.req("GET", "/api/v1/me").status_code == 200
    assert c.req("POST", "/api/v1/auth/logout").status_code == 204
    assert c.req("GET", "/api/v1/me").status_code == 401
    r = site.ronda.anon("POST", "/api/v1/auth/refresh", json={"refresh_token": c.tokens["refresh_token"]})
    assert r.status_code == 401


def test_refresh_rotates(site, users):
    c = Client(site, "viewer_b")
    r = site.ronda.anon("POST", "/api/v1/auth/refresh", json={"refresh_token": c.tokens["refresh_token"]})
    assert r.status_code == 200 and r.json()["expires_in"] >= 600
    again = site.ronda.anon("POST", "/api/v1/auth/refresh", json={"refresh_token": c.tokens["refresh_token"]})
    assert again.status_code == 401  # the old refresh token is spent


def test_brute_force_is_throttled_and_audited(site, users):
    # from an address of its own: the failures must not spend 127.0.0.1's budget for other tests
    with elsewhere(site) as http:
        codes = [
            http.post("/api/v1/auth/login", json={"username": "victim", "password": f"guess{i}"}).status_code
            for i in range(7)
        ]
        assert codes[:5] == [401] * 5 and codes[-1] == 429
        r = http.post("/api/v1/auth/login", json={"username": "victim", "password": PW})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0  # even the right password waits
        unknown = http.post("/api/v1/auth/login", json={"username": "nobody-here", "password": "x"})
    assert unknown.status_code == 401 and unknown.json()["detail"] == LOGIN_FAILED
    audit = users["admin"].req("GET", "/api/v1/audit", params={"actor": "victim", "action": "login"}).json()
    assert {a["result"] for a in audit} >= {"denied", "throttled"}


def test_mass_assignment_in_self_update(site, users):
    for body in ({"roles": ["administrator"]}, {"organisation_id": 1}, {"enabled": True}, {"username": "admin"}):
        r = users["viewer_a"].req("PATCH", "/api/v1/me", json=body)
        assert r.status_code == 422, body
    assert users["viewer_a"].req("GET", "/api/v1/me").json()["roles"] == ["Viewer (odd cameras)"]
    assert users["viewer_a"].req("GET", "/api/v1/users").status_code == 403


def test_operator_cannot_grant_roles_it_lacks(site, users):
    body = {"username": "x1", "password": "long-enough-9", "roles": []}
    r = users["operator"].req("POST", "/api/v1/users", json=body)
    assert r.status_code == 403  # no manage_users at all
    xss = {"username": "<script>alert(1)</script>", "password": "long-enough-9", "roles": ["viewer"]}
    r = users["admin"].req("POST", "/api/v1/users", json=xss)
    assert r.status_code == 422  # usernames are plain words
    db = Database(f"sqlite:///{site.data_dir / 'ronda.db'}")
    with db.session() as s:
        s.add(Role(name="User manager", rights=["manage_users", "live", "playback"], all_cameras=False))
    create_user(db, "usermgr", PW, ["User manager"])
    db.dispose()
    mgr = Client(site, "usermgr")
    for roles in (["administrator"], ["operator"]):
        r = mgr.req("POST", "/api/v1/users", json={"username": "escalate", "password": "long-enough-9", "roles": roles})
        assert r.status_code == 403, roles
    assert (
        mgr.req(
            "POST", "/api/v1/users", json={"username": "newbie", "password": "long-enough-9", "roles": ["viewer"]}
        ).status_code
        == 201
    )


def test_disable_and_role_change_take_effect_on_next_request(site, users):
    db = Database(f"sqlite:///{site.data_dir / 'ronda.db'}")
    with db.session() as s:
        police = s.scalar(select(Organisation.id).where(Organisation.name == "Polizia Locale"))
    create_user(db, "temp_viewer", PW, ["Viewer (odd cameras)"], organisation_id=police)
    c = Client(site, "temp_viewer")
    uid = c.req("GET", "/api/v1/me").json()["id"]
    assert c.req("GET", f"/api/v1/cameras/{site.cam('Camera 1')}").status_code == 200
    r = users["admin"].req("PATCH", f"/api/v1/users/{uid}", json={"roles": ["viewer"]})
    assert r.status_code == 200
    # Built-in viewer without a scope sees nothing: the change applies at once.
    assert c.req("GET", f"/api/v1/cameras/{site.cam('Camera 1')}").status_code == 404
    assert users["admin"].req("PATCH", f"/api/v1/users/{uid}", json={"enabled": False}).status_code == 200
    assert c.req("GET", "/api/v1/me").status_code == 401
    with db.session() as s:
        assert s.scalar(select(User.enabled).where(User.id == uid)) is False
    db.dispose()


def test_cookie_session_needs_csrf_header(site, users):
    r = site.ronda.anon("POST", "/api/v1/auth/login", json={"username": "viewer_a", "password": PW, "cookie": True})
    assert r.status_code == 200
    cookies = {"ronda_session": r.cookies["ronda_session"]}
    csrf = r.json()["csrf_token"]
    assert "httponly" in r.headers.get("set-cookie", "").lower()
    assert site.ronda.anon("GET", "/api/v1/me", cookies=cookies).status_code == 200
    assert site.ronda.anon("POST", "/api/v1/ws-ticket", cookies=cookies).status_code == 403
    assert (
        site.ronda.anon("POST", "/api/v1/ws-ticket", cookies=cookies, headers={"X-CSRF-Token": "0" * 64}).status_code
        == 403
    )
    assert (
        site.ronda.anon("POST", "/api/v1/ws-ticket", cookies=cookies, headers={"X-CSRF-Token": csrf}).status_code == 200
    )


def test_no_cors_for_other_origins(site, users):
    pre = site.ronda.anon("OPTIONS", "/api/v1/cameras", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})  # fmt: skip
    assert "access-control-allow-origin" not in pre.headers
    r = users["admin"].req("GET", "/api/v1/cameras", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers and "access-control-allow-credentials" not in r.headers


def test_xss_payload_in_camera_name_is_plain_json(site, users):
    payload = "<img src=x onerror=alert(1)>"
    r = users["admin"].req("POST", "/api/v1/cameras", json={"name": payload, "url": "rtsp://127.0.0.1:9/x"})
    assert r.status_code == 201
    got = users["admin"].req("GET", f"/api/v1/cameras/{r.json()['id']}")
    assert got.headers["content-type"].startswith("application/json")
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.json()["name"] == payload
    users["admin"].req("DELETE", f"/api/v1/cameras/{r.json()['id']}")


@pytest.mark.parametrize("evil", ["' OR '1'='1", "1; DROP TABLE cameras; --", '" OR 1=1 --', "%27%20OR%201%3D1"])
def test_sql_injection_strings_in_filters(site, users, evil):
    a = users["admin"]
    for path, params in (
        ("/api/v1/events", {"type": evil}),
        ("/api/v1/events", {"camera": evil}),
        ("/api/v1/events", {"since": evil}),
        ("/api/v1/audit", {"actor": evil}),
        ("/api/v1/audit", {"action": evil}),
        (f"/api/v1/cameras/{site.cam('Camera 1')}/recordings", {"start": evil, "end": evil}),
        (f"/api/v1/cameras/{site.cam('Camera 1')}/recordings", {"start": iso(0), "end": iso(1000), "stream": evil}),
    ):
        r = a.req("GET", path, params=params)
        assert r.status_code in (200, 422), (path, params, r.status_code)
        if r.status_code == 200:
            assert r.json() == [], (path, params)
    assert len(a.req("GET", "/api/v1/cameras").json()) >= 4  # tables intact


def test_api_key_scoped_and_revocable(site, users):
    a = users["admin"]
    r = a.req("POST", "/api/v1/me/api-keys", json={"name": "sensor gateway", "rights": ["live"]})
    assert r.status_code == 201
    key = r.json()["key"]
    h = {"X-API-Key": key}
    assert site.ronda.anon("GET", f"/api/v1/cameras/{site.cam('Camera 1')}", headers=h).status_code == 200
    assert site.ronda.anon("GET", recordings_path(site, "Camera 1"), headers=h).status_code == 403  # no playback
    assert site.ronda.anon("GET", "/api/v1/users", headers=h).status_code == 403
    assert a.req("DELETE", f"/api/v1/me/api-keys/{r.json()['id']}").status_code == 204
    assert site.ronda.anon("GET", "/api/v1/me", headers=h).status_code == 401
    r = users["viewer_a"].req("POST", "/api/v1/me/api-keys", json={"name": "x", "rights": ["manage_users"]})
    assert r.status_code == 403


def test_views_are_audited(site, users):
    cam = site.cam("Camera 1")
    users["viewer_a"].req("GET", f"/api/v1/cameras/{cam}/snapshot")
    # Repeated views of a camera within a minute are one entry (audit.COALESCE): ask for this camera's.
    params = {"actor": "viewer_a", "action": "live.snapshot", "camera": cam}
    entries = users["admin"].req("GET", "/api/v1/audit", params=params).json()
    assert entries and entries[0]["camera_id"] == cam and entries[0]["source_ip"] == "127.0.0.1"
    assert users["admin"].req("GET", "/api/v1/audit/verify").json()["ok"] is True


def test_database_holds_no_plaintext_camera_password(site):
    wait_for(lambda: catalog(site.data_dir, site.cam("Secure"))[0], 30, what="the secure camera to record")
    dump = "\n".join(sqlite3.connect(site.data_dir / "ronda.db").iterdump())
    assert "p@ss:w#rd%" not in dump and "p%40ss" not in dump and "w#rd" not in dump
    with Database(f"sqlite:///{site.data_dir / 'ronda.db'}").session() as s:
        assert s.scalars(select(RoleScope)).first() is not None
        assert s.scalars(select(UserRole)).first() is not None


def test_stream_token_paths(site, users):
    """Media URLs for <img>/<video> carry a 60 s token bound to user, camera and right."""
    va = users["viewer_a"]
    c1, c2, c3 = site.cam("Camera 1"), site.cam("Camera 2"), site.cam("Camera 3")
    live = va.req("POST", f"/api/v1/cameras/{c1}/stream-token", json={"right": "live"}).json()
    assert live["expires_in"] == 60
    img = site.ronda.anon("GET", live["urls"]["snapshot"])
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
    tok = live["token"]
    assert site.ronda.anon("GET", f"/api/v1/media/{c3}/snapshot.jpg", params={"token": tok}).status_code == 401
    assert (
        site.ronda.anon("GET", f"/api/v1/media/{c1}/snapshot.jpg", params={"token": tok[:-3] + "AAA"}).status_code
        == 401
    )
    assert va.req("POST", f"/api/v1/cameras/{c2}/stream-token", json={"right": "live"}).status_code == 404
    assert users["night"].req("POST", f"/api/v1/cameras/{c1}/stream-token", json={"right": "live"}).status_code == 404
    assert (
        users["viewer_b"].req("POST", f"/api/v1/cameras/{c2}/stream-token", json={"right": "export"}).status_code == 422
    )
    # Playback: a recorded segment, with byte ranges; the token fits only its camera and right.
    play = va.req("POST", f"/api/v1/cameras/{c1}/stream-token", json={"right": "playback"}).json()["token"]
    seg = catalog(site.data_dir, c1)[0][0]
    r = site.ronda.anon("GET", f"/api/v1/media/{c1}/segments/{seg.id}.mp4", params={"token": play},
                        headers={"Range": "bytes=0-99"})  # fmt: skip
    assert r.status_code == 206 and len(r.content) == 100 and r.content[4:8] == b"ftyp"
    assert site.ronda.anon("GET", f"/api/v1/media/{c1}/segments/{seg.id}.mp4", params={"token": tok}).status_code == 401
    other = catalog(site.data_dir, c2)[0][0]
    assert (
        site.ronda.anon("GET", f"/api/v1/media/{c1}/segments/{other.id}.mp4", params={"token": play}).status_code == 404
    )
    assert (
        site.ronda.anon("GET", f"/api/v1/media/{c2}/segments/{other.id}.mp4", params={"token": play}).status_code == 401
    )
    assert site.ronda.anon("GET", f"/api/v1/media/{c1}/segments/{seg.id}.mp4").status_code == 422  # no token


def test_stream_token_dies_with_the_right(site, users):
    db = Database(f"sqlite:///{site.data_dir / 'ronda.db'}")
    with db.session() as s:
        police = s.scalar(select(Organisation.id).where(Organisation.name == "Polizia Locale"))
    create_user(db, "short_lived", PW, ["Viewer (odd cameras)"], organisation_id=police)
    db.dispose()
    c = Client(site, "short_lived")
    cid = site.cam("Camera 1")
    url = c.req("POST", f"/api/v1/cameras/{cid}/stream-token", json={"right": "live"}).json()["urls"]["snapshot"]
    assert site.ronda.anon("GET", url).status_code == 200
    uid = c.req("GET", "/api/v1/me").json()["id"]
    assert users["admin"].req("PATCH", f"/api/v1/users/{uid}", json={"enabled": False}).status_code == 200
    # the token is still fresh, the user is not (its sessions end with it: 401, as after a logout)
    assert site.ronda.anon("GET", url).status_code in (401, 403)


def test_totp_enrolment_and_login(site, users):
    import pyotp

    db = Database(f"sqlite:///{site.data_dir / 'ronda.db'}")
    create_user(db, "with_totp", PW, ["viewer"])
    db.dispose()
    c = Client(site, "with_totp")
    secret = c.req("POST", "/api/v1/me/totp", json={"password": PW}).json()["secret"]
    wrong = "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"
    assert c.req("POST", "/api/v1/me/totp/confirm", json={"code": wrong, "password": PW}).status_code == 422
    r = c.req("POST", "/api/v1/me/totp/confirm", json={"code": pyotp.TOTP(secret).now(), "password": PW})
    assert r.status_code == 200
    login = {"username": "with_totp", "password": PW}
    r = site.ronda.anon("POST", "/api/v1/auth/login", json=login)
    assert r.status_code == 401 and "one-time code" in r.json()["detail"]
    r = site.ronda.anon("POST", "/api/v1/auth/login", json={**login, "totp": "123456"})
    assert r.status_code == 401
    code = pyotp.TOTP(secret).at(time.time() + 30)  # next step: the enrolment code cannot be replayed
    r = site.ronda.anon("POST", "/api/v1/auth/login", json={**login, "totp": code})
    assert r.status_code == 200, r.text
    replay = site.ronda.anon("POST", "/api/v1/auth/login", json={**login, "totp": code})
    assert replay.status_code == 401  # a code works once
