"""Sessions and tokens (issue 10, items 4, 5, 9, 11, 13, 14, 22), over real HTTP/WebSocket against
the shared site. Every test that changes a password, logs out or fails logins works on accounts of
its own, so the shared demo accounts stay usable for the other tests; tests that fail logins on
purpose connect from a loopback address of their own (127.x.y.z), so they do not use up the
per-address login budget of 127.0.0.1 that every other test logs in from."""

from __future__ import annotations

import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from ronda.access.service import create_user
from ronda.store.access_models import Organisation
from ronda.store.db import Database
from ronda.store.event_models import PushSubscription
from tests.helpers import PW, Client, catalog, elsewhere, iso, wait_for

NEW_PW = "a-new-long-passphrase-9"  # noqa: S105
ODD_VIEWER = ["Viewer (odd cameras)"]


def new_user(site, users, prefix: str, roles: list[str] = ODD_VIEWER, org: str | None = "Polizia Locale") -> str:
    """A fresh account (the ``users`` fixture has created the demo organisations and roles)."""
    name = f"{prefix}_{secrets.token_hex(3)}"
    db = Database(f"sqlite:///{site.data_dir / 'ronda.db'}")
    try:
        with db.session() as s:
            org_id = s.scalar(select(Organisation.id).where(Organisation.name == org)) if org else None
        create_user(db, name, PW, roles, org_id)
    finally:
        db.dispose()
    return name


class Elsewhere:
    """Like ``tests.helpers.Client`` (logged in), but from its own loopback address."""

    def __init__(self, site, username: str) -> None:
        self.http = elsewhere(site)
        r = self.http.post("/api/v1/auth/login", json={"username": username, "password": PW})
        assert r.status_code == 200, r.text
        self.h = {"Authorization": f"Bearer {r.json()['access_token']}"}

    def req(self, method: str, path: str, **kw) -> httpx.Response:
        return self.http.request(method, path, headers={**self.h, **kw.pop("headers", {})}, **kw)


def refresh(site, token: str) -> httpx.Response:
    return site.ronda.anon("POST", "/api/v1/auth/refresh", json={"refresh_token": token})


def me(site, access: str) -> int:
    return site.ronda.anon("GET", "/api/v1/me", headers={"Authorization": f"Bearer {access}"}).status_code


def ws(site, path: str) -> ClientConnection:
    return connect(f"ws://127.0.0.1:{site.ronda.port}{path}", open_timeout=15, max_size=None)


def closed_within(sock: ClientConnection, limit: float) -> float | None:
    """Seconds until the server closes ``sock`` (reading everything it sends), None if still open."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        try:
            sock.recv(timeout=0.5)
        except TimeoutError:
            continue
        except ConnectionClosed:
            return time.monotonic() - t0
    return None


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def lifetime(token: str) -> int:
    c = jwt.decode(token, options={"verify_signature": False})
    return int(c["exp"]) - int(c["iat"])


# --- item 4: a password change ends the other sessions; refresh-token reuse ends the session ----------
def test_item04_password_change_ends_other_sessions(site, users):
    name = new_user(site, users, "pwchange")
    here, other = Client(site, name), Client(site, name)
    r = here.req("PATCH", "/api/v1/me", json={"password": NEW_PW, "current_password": PW})
    assert r.status_code == 200, r.text
    # The other session is over: neither its access token nor its refresh token works any more.
    assert me(site, other.tokens["access_token"]) == 401
    assert refresh(site, other.tokens["refresh_token"]).status_code == 401
    # This session goes on with the tokens the change answered with; its old refresh token is spent.
    fresh = r.json()["session"]
    assert me(site, fresh["access_token"]) == 200
    later = refresh(site, fresh["refresh_token"])
    assert later.status_code == 200, later.text
    # The pre-change refresh token is spent; presented again it counts as reuse and ends the session.
    assert refresh(site, here.tokens["refresh_token"]).status_code == 401
    assert me(site, later.json()["access_token"]) == 401

    # An administrator's reset ends every session of the user, refresh tokens included.
    third = Client(site, name, NEW_PW)
    uid = users["admin"].req("GET", "/api/v1/users").json()
    uid = next(u["id"] for u in uid if u["username"] == name)
    r = users["admin"].req("PATCH", f"/api/v1/users/{uid}", json={"password": PW})
    assert r.status_code == 200, r.text
    assert refresh(site, third.tokens["refresh_token"]).status_code == 401
    assert me(site, third.tokens["access_token"]) == 401


def test_item04_refresh_token_reuse_revokes_the_session(site, users):
    name = new_user(site, users, "reuse")
    c = Client(site, name)
    first = c.tokens["refresh_token"]
    r = refresh(site, first)
    assert r.status_code == 200, r.text
    second = r.json()
    assert refresh(site, first).status_code == 401  # a stolen copy of the rotated token...
    # ...ends the session: the legitimate holder's newer tokens stop working too.
    assert refresh(site, second["refresh_token"]).status_code == 401
    assert me(site, second["access_token"]) == 401
    # Garbage never revokes anything and never answers 500.
    for junk in ("x" * 20, "a.b.c.d.e" * 3, first[:-3] + "AAA", "\u00e9" * 30):
        assert refresh(site, junk).status_code == 401


# --- item 5: stream tokens and sockets are bound to the session -------------------------------------------
def test_item05_stream_tokens_die_with_logout_password_change_and_key_revocation(site, users):
    cam = site.cam("Camera 1")

    def snapshot_url(client_headers: dict[str, str]) -> str:
        r = site.ronda.anon("POST", f"/api/v1/cameras/{cam}/stream-token", json={"right": "live"},
                            headers=client_headers)  # fmt: skip
        assert r.status_code == 200, r.text
        assert r.json()["expires_in"] <= 120
        return str(r.json()["urls"]["snapshot"])

    # logout
    c = Client(site, new_user(site, users, "st_logout"))
    url = snapshot_url(c.h)
    assert site.ronda.anon("GET", url).status_code == 200
    assert c.req("POST", "/api/v1/auth/logout").status_code == 204
    assert site.ronda.anon("GET", url).status_code in (401, 403)

    # password change (in another session of the same user)
    name = new_user(site, users, "st_pw")
    c, other = Client(site, name), Client(site, name)
    url = snapshot_url(other.h)
    assert c.req("PATCH", "/api/v1/me", json={"password": NEW_PW, "current_password": PW}).status_code == 200
    assert site.ronda.anon("GET", url).status_code in (401, 403)

    # API key revocation; a key's stream token also keeps only the key's rights
    c = Client(site, new_user(site, users, "st_key"))
    key = c.req("POST", "/api/v1/me/api-keys", json={"name": "cam", "rights": ["live"]}).json()
    url = snapshot_url({"X-API-Key": key["key"]})
    assert site.ronda.anon("GET", url).status_code == 200
    assert c.req("DELETE", f"/api/v1/me/api-keys/{key['id']}").status_code == 204
    assert site.ronda.anon("GET", url).status_code in (401, 403)
    narrow = c.req("POST", "/api/v1/me/api-keys", json={"name": "pb", "rights": ["playback"]}).json()
    r = site.ronda.anon("POST", f"/api/v1/cameras/{cam}/stream-token", json={"right": "live"},
                        headers={"X-API-Key": narrow["key"]})  # fmt: skip
    assert r.status_code == 403


def test_item05_api_key_cannot_mint_keys_that_outlive_its_revocation(site, users):
    c = Client(site, new_user(site, users, "key_mint"))
    key = c.req("POST", "/api/v1/me/api-keys", json={"name": "gw", "rights": ["live"]}).json()
    kh = {"X-API-Key": key["key"]}
    r = site.ronda.anon("POST", "/api/v1/me/api-keys", json={"name": "spare", "rights": ["live"]}, headers=kh)
    assert r.status_code == 403, r.text  # else revoking `key` would leave its spare working
    other = c.req("POST", "/api/v1/me/api-keys", json={"name": "other", "rights": ["live"]}).json()
    r = site.ronda.anon("DELETE", f"/api/v1/me/api-keys/{other['id']}", headers=kh)
    assert r.status_code == 403, r.text
    assert c.req("DELETE", f"/api/v1/me/api-keys/{key['id']}").status_code == 204
    assert site.ronda.anon("GET", "/api/v1/me", headers=kh).status_code == 401


def test_item05_hls_and_vod_tokens_are_short(site, users):
    c = Client(site, new_user(site, users, "st_hls"))
    cam = site.cam("Camera 1")
    info = c.req("GET", f"/api/v1/cameras/{cam}/live").json()
    master = site.ronda.anon("GET", info["urls"]["hls"])
    assert master.status_code == 200, master.text
    media = next(line for line in master.text.splitlines() if line.startswith("live/"))
    inner = token_of(media)
    assert lifetime(inner) <= 15 * 60, "the live media playlist token must be short"
    base = f"/api/v1/media/{cam}/"
    assert site.ronda.anon("GET", base + media).status_code == 200
    # VOD: the segment token of an hour-long playlist is short too.
    segs = catalog(site.data_dir, cam)[0]
    tok = c.req("POST", f"/api/v1/cameras/{cam}/stream-token", json={"right": "playback"}).json()
    vod = site.ronda.anon("GET", f"{base}vod.m3u8", params={"token": tok["token"], "start": iso(segs[0].start_ms)})
    assert vod.status_code == 200, vod.text
    seg_line = next(line for line in vod.text.splitlines() if line.startswith("segments/"))
    assert lifetime(token_of(seg_line)) <= 15 * 60
    # A playlist's token follows its playlist but cannot open a new one (no renewal without the session).
    assert site.ronda.anon("GET", f"{base}live.m3u8", params={"token": inner}).status_code == 401
    again = site.ronda.anon(
        "GET", f"{base}vod.m3u8", params={"token": token_of(seg_line), "start": iso(segs[0].start_ms)}
    )
    assert again.status_code == 401
    # Logging out ends both at once.
    assert c.req("POST", "/api/v1/auth/logout").status_code == 204
    assert site.ronda.anon("GET", base + media).status_code in (401, 403)
    assert site.ronda.anon("GET", base + seg_line).status_code in (401, 403)


@pytest.mark.parametrize("how", ["logout", "password"])
def test_item05_sockets_close_after_logout_or_password_change(site, users, how):
    name = new_user(site, users, f"ws_{how}")
    c = Client(site, name)
    cam = site.cam("Camera 1")
    ticket = c.req("POST", "/api/v1/ws-ticket").json()["ticket"]
    events = ws(site, f"/api/v1/ws?ticket={ticket}")
    live = ws(site, c.req("GET", f"/api/v1/cameras/{cam}/live").json()["urls"]["ws"])
    try:
        assert closed_within(live, 2) is None and closed_within(events, 1) is None
        if how == "logout":
            assert c.req("POST", "/api/v1/auth/logout").status_code == 204
        else:
            r = c.req("PATCH", "/api/v1/me", json={"password": NEW_PW, "current_password": PW})
            assert r.status_code == 200
        results: dict[str, float | None] = {}
        threads = [threading.Thread(target=lambda k=k, s=s: results.__setitem__(k, closed_within(s, 35)))
                   for k, s in (("events", events), ("live", live))]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(f"sockets closed after {how}: {results}")
        assert results["events"] is not None and results["events"] <= 30, results
        assert results["live"] is not None and results["live"] <= 30, results
    finally:
        events.close()
        live.close()


# --- item 9: exports follow the caller's current rights --------------------------------------------------------
def test_item09_export_not_downloadable_after_rights_withdrawn(site, users):
    name = new_user(site, users, "exporter", roles=["operator"])
    c = Client(site, name)
    cam = site.cam("Camera 1")
    segs = wait_for(lambda: len(catalog(site.data_dir, cam)[0]) >= 3 and catalog(site.data_dir, cam)[0], 40,
                    what="segments")  # fmt: skip
    end = segs[-1].end_ms - 500
    body = {"cameras": [cam], "start": iso(end - 4000), "end": iso(end), "reason": "test"}
    job = c.req("POST", "/api/v1/exports", json=body).json()
    done = wait_for(lambda: (j := c.req("GET", f"/api/v1/exports/{job['id']}").json())["status"] != "running" and j,
                    60, what="the export")  # fmt: skip
    assert done["status"] == "done", done
    link = c.req("POST", f"/api/v1/exports/{job['id']}/link").json()
    assert c.req("GET", f"/api/v1/exports/{job['id']}/download").status_code == 200
    # The export right is withdrawn (the session stays valid): nothing is downloadable any more.
    listed = users["admin"].req("GET", "/api/v1/users").json()
    uid = next(u["id"] for u in listed if u["username"] == name)
    r = users["admin"].req("PATCH", f"/api/v1/users/{uid}", json={"roles": ODD_VIEWER})
    assert r.status_code == 200, r.text
    assert c.req("GET", f"/api/v1/exports/{job['id']}/download").status_code in (403, 404)
    assert c.req("POST", f"/api/v1/exports/{job['id']}/link").status_code in (403, 404)
    assert site.ronda.anon("GET", link["url"]).status_code in (403, 404)
    # A link is bound to the session that asked for it: after logout it no longer works.
    r = users["admin"].req("PATCH", f"/api/v1/users/{uid}", json={"roles": ["operator"]})
    assert r.status_code == 200
    link = c.req("POST", f"/api/v1/exports/{job['id']}/link").json()
    assert site.ronda.anon("GET", link["url"]).status_code == 200
    assert c.req("POST", "/api/v1/auth/logout").status_code == 204
    assert site.ronda.anon("GET", link["url"]).status_code in (401, 403)


# --- item 11: a WebSocket opened with an API key keeps the key's rights ------------------------------------
def test_item11_send_events_key_socket_sees_no_events_and_dies_with_the_key(site, users):
    admin = users["admin"]
    key = admin.req("POST", "/api/v1/me/api-keys", json={"name": "sensor", "rights": ["send_events"]}).json()
    kh = {"X-API-Key": key["key"]}
    kticket = site.ronda.anon("POST", "/api/v1/ws-ticket", headers=kh)
    assert kticket.status_code == 200, kticket.text
    keyed = ws(site, f"/api/v1/ws?ticket={kticket.json()['ticket']}")
    control = ws(site, f"/api/v1/ws?ticket={admin.req('POST', '/api/v1/ws-ticket').json()['ticket']}")
    try:
        time.sleep(0.5)
        text = f"item11-{secrets.token_hex(4)}"
        r = admin.req("POST", "/api/v1/events", json={"type": "test.item11", "camera": site.cam("Camera 1"),
                                                     "text": text})  # fmt: skip
        assert r.status_code == 202, r.text

        def got(sock: ClientConnection, limit: float) -> bool:
            t0 = time.monotonic()
            while time.monotonic() - t0 < limit:
                try:
                    msg = sock.recv(timeout=0.5)
                except TimeoutError:
                    continue
                if isinstance(msg, str) and text in msg:
                    return True
            return False

        assert got(control, 15), "the control socket (a session) did not get the event"
        assert not got(keyed, 3), "a send_events-only key's socket received an event"
        assert admin.req("DELETE", f"/api/v1/me/api-keys/{key['id']}").status_code == 204
        took = closed_within(keyed, 35)
        print(f"key socket closed {took} s after revocation")
        assert took is not None and took <= 30
    finally:
        keyed.close()
        control.close()


# --- item 13: the login throttle cannot be raced ------------------------------------------------------------------
def test_item13_concurrent_wrong_passwords_are_counted_atomically(site, users):
    name = new_user(site, users, "race")
    http = elsewhere(site)

    def attempt(_: int) -> int:
        return http.post("/api/v1/auth/login", json={"username": name, "password": "wrong-pw-123"}).status_code

    with http, ThreadPoolExecutor(40) as pool:
        codes = list(pool.map(attempt, range(40)))
    evaluated, refused = codes.count(401), codes.count(429)
    print(f"40 concurrent wrong logins: {evaluated} evaluated (401), {refused} throttled (429)")
    assert evaluated + refused == 40, codes
    assert evaluated <= 5, f"{evaluated} wrong passwords were checked (limit 5)"


# --- item 14: TOTP enrolment needs the password; a missing code looks like any failure -------------------------
def test_item14_totp_enrolment_needs_password_and_refuses_api_keys(site, users):
    import pyotp

    c = Elsewhere(site, new_user(site, users, "totp_enrol"))
    assert c.req("POST", "/api/v1/me/totp").status_code in (403, 422)  # no password
    assert c.req("POST", "/api/v1/me/totp", json={"password": "not-my-password"}).status_code == 403
    key = c.req("POST", "/api/v1/me/api-keys", json={"name": "k", "rights": ["live"]}).json()
    r = c.http.post("/api/v1/me/totp", json={"password": PW}, headers={"X-API-Key": key["key"]})
    assert r.status_code == 403, r.text
    r = c.req("POST", "/api/v1/me/totp", json={"password": PW})
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    r = c.http.post("/api/v1/me/totp/confirm", json={"code": pyotp.TOTP(secret).now(), "password": PW},
                    headers={"X-API-Key": key["key"]})  # fmt: skip
    assert r.status_code == 403
    r = c.req("POST", "/api/v1/me/totp/confirm", json={"code": pyotp.TOTP(secret).now(), "password": PW})
    assert r.status_code == 200, r.text
    # With TOTP on, replacing it needs the current code as well as the password.
    assert c.req("POST", "/api/v1/me/totp", json={"password": PW}).status_code == 403
    assert c.req("POST", "/api/v1/me/totp", json={"password": PW, "code": "000000"}).status_code == 403 or (
        pyotp.TOTP(secret).now() == "000000"
    )
    # (the enrolment code was spent: the next step's code, which the verifier's window accepts)
    r = c.req("POST", "/api/v1/me/totp", json={"password": PW, "code": pyotp.TOTP(secret).at(time.time() + 30)})
    assert r.status_code == 200, r.text


def test_item14_missing_code_answers_like_a_wrong_password_and_is_counted(site, users):
    import pyotp

    name = new_user(site, users, "totp_login")
    c = Elsewhere(site, name)
    secret = c.req("POST", "/api/v1/me/totp", json={"password": PW}).json()["secret"]
    assert c.req("POST", "/api/v1/me/totp/confirm", json={"code": pyotp.TOTP(secret).now(),
                                                          "password": PW}).status_code == 200  # fmt: skip
    right = c.http.post("/api/v1/auth/login", json={"username": name, "password": PW})
    wrong = c.http.post("/api/v1/auth/login", json={"username": name, "password": "nope-nope-1"})
    assert right.status_code == wrong.status_code == 401
    assert right.json() == wrong.json()
    assert right.headers.get("www-authenticate") == wrong.headers.get("www-authenticate")
    # Both count: three more correct-password-without-code attempts reach the limit of 5.
    codes = [c.http.post("/api/v1/auth/login", json={"username": name, "password": PW}).status_code
             for _ in range(4)]  # fmt: skip
    assert codes[:3] == [401, 401, 401] and codes[3] == 429, codes


# --- item 22: a push endpoint of another user is not taken over ------------------------------------------------
def test_item22_push_endpoint_of_another_user_is_not_taken_over(site, users):
    endpoint = f"https://push.example.com/send/{secrets.token_hex(8)}"
    keys = {"p256dh": "B" + "A" * 86, "auth": "C" * 22}
    a = Client(site, new_user(site, users, "push_a"))
    b = Client(site, new_user(site, users, "push_b"))
    a_id = a.req("GET", "/api/v1/me").json()["id"]
    # A's subscription is stored as the API stores one: the endpoint's name resolves nowhere here, and
    # the server refuses endpoints it cannot check (item 12); ownership is checked before that.
    db = Database(f"sqlite:///{site.data_dir / 'ronda.db'}")
    try:
        with db.session() as s:
            s.add(PushSubscription(endpoint=endpoint, created_ms=int(time.time() * 1000), user_id=a_id,
                                   p256dh=keys["p256dh"], auth=keys["auth"]))  # fmt: skip
    finally:
        db.dispose()
    other = {"p256dh": "D" + "E" * 86, "auth": "F" * 22}
    r = b.req("POST", "/api/v1/notifications/push-subscriptions", json={"endpoint": endpoint, "keys": other})
    assert r.status_code == 409, r.text
    db = Database(f"sqlite:///{site.data_dir / 'ronda.db'}")
    try:
        with db.session() as s:
            rows = list(s.scalars(select(PushSubscription).where(PushSubscription.endpoint == endpoint)))
            assert [(x.user_id, x.p256dh, x.auth) for x in rows] == [(a_id, keys["p256dh"], keys["auth"])]
    finally:
        db.dispose()
    # The owner is not refused as a taker (here its re-post then meets the endpoint check).
    r = a.req("POST", "/api/v1/notifications/push-subscriptions", json={"endpoint": endpoint, "keys": other})
    assert r.status_code != 409, r.text
