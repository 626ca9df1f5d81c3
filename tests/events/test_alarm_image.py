"""Push with image (issue 14): a dumping alarm's Web Push (decrypted here with http_ece, as the browser
would) carries a link to the alarm's picture signed for its recipient; the link returns the snapshot
without a login, 403 with another user's credentials, 401 once expired or altered, and every fetch is
audited. The e-mail carries the picture inline. Real ``ronda serve``, real aiosmtpd, a real push
service peer; the analytics event is stored the way the analytics service stores it
(``repos.add_events`` with its snapshot under ``DATA/analytics/snapshots/``) and goes through the outbox
relay, the rules engine and the alarm manager of the running server."""

from __future__ import annotations

import email.policy
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import http_ece
import numpy as np
import pytest
from aiosmtpd.controller import Controller

from ronda.analytics.snapshot import draw_box
from ronda.store import repos
from ronda.store.db import Database
from tests.events.test_notify import HttpPeer, Inbox, browser_subscription
from tests.helpers import PW, Client, RondaProcess, free_port, wait_for, write_config

PUBLIC = "https://vms.sanlucido.example"


class World:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.data = base / "data"
        self.inbox = Inbox()
        self.smtp = Controller(self.inbox, hostname="127.0.0.1", port=free_port())
        self.push = HttpPeer([201])
        self.push_server, self.push_port = self.push.serve()
        self.port = free_port()
        cfg = write_config(self.data, self.port, [], events={
            "default_rules": False, "public_url": PUBLIC, "webpush_allow_private_endpoints": True,
            "notify_limit": 100, "smtp": {"host": "127.0.0.1", "port": self.smtp.port,
                                          "sender": "ronda@sanlucido.example"}})  # fmt: skip
        self.config = cfg
        self.ronda = RondaProcess(cfg, base / "ronda.log", self.port)
        self.keys: dict[str, tuple[Any, bytes]] = {}

    def add_user(self, name: str, role: str) -> None:
        subprocess.run([sys.executable, "-m", "ronda.cli", "user", "add", name, "--role", role, "--config",
                        str(self.config)], env={**os.environ, "RONDA_PASSWORD": PW}, check=True,
                       capture_output=True, timeout=60)  # fmt: skip

    def subscribe(self, client: Client, name: str, channels: list[str]) -> None:
        sub, key, auth = browser_subscription(f"http://127.0.0.1:{self.push_port}/push/{name}")
        self.keys[name] = (key, auth)
        assert client.req("POST", "/api/v1/notifications/push-subscriptions", json=sub).status_code == 201
        r = client.req("PUT", "/api/v1/notifications/prefs",
                       json={"channels": channels, "email": f"{name}@sanlucido.example"})  # fmt: skip
        assert r.status_code == 200, r.text

    def pushed(self, name: str) -> list[dict[str, Any]]:
        key, auth = self.keys[name]
        out = []
        for req in list(self.push.requests):
            if req.path == f"/push/{name}":
                plain = http_ece.decrypt(req.body, private_key=key, auth_secret=auth, version="aes128gcm")
                out.append(json.loads(plain))
        return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("alarm-image"))
    w.smtp.start()
    try:
        w.ronda.start()
        w.add_user("chief", "administrator")
        yield w
    finally:
        w.ronda.close()
        w.smtp.stop()
        w.push_server.shutdown()
        w.push_server.server_close()


def store_dumping_event(data_dir: Path, camera: int, t_ms: int) -> bytes:
    """A ``dumping.detected`` event with its snapshot (box drawn), stored as the analytics service
    stores one: the JPEG under DATA/analytics/snapshots/, the row through ``repos.add_events``."""
    frame = np.zeros((360, 640, 3), dtype=np.uint8)
    frame[:, :, 1] = np.linspace(40, 200, 640, dtype=np.uint8)[None, :]
    jpeg = draw_box(frame, (0.40, 0.55, 0.58, 0.85), "bag 0.91")
    rel = Path("analytics") / "snapshots" / str(camera) / f"{t_ms}-dumping.detected.jpg"
    (data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
    (data_dir / rel).write_bytes(jpeg)
    db = Database(f"sqlite:///{data_dir / 'ronda.db'}")
    try:
        with db.session() as s:
            repos.add_events(s, [{"type": "dumping.detected", "time_ms": t_ms, "camera_id": camera,
                                  "severity": "warning", "source": "analytics", "snapshot": str(rel),
                                  "payload": {"class": "bag", "box": [0.4, 0.55, 0.58, 0.85]},
                                  "box": [0.4, 0.55, 0.18, 0.3]}])  # fmt: skip
    finally:
        db.dispose()
    return jpeg


def test_dumping_alarm_push_carries_a_signed_image_link(world: World) -> None:
    ronda = world.ronda
    site = type("S", (), {"ronda": ronda})()
    admin, chief = Client(site, "admin", "admin-test-pw"), Client(site, "chief")
    r = admin.req("POST", "/api/v1/cameras", json={"name": "Via Roma", "url": "rtsp://viaroma.invalid/s",
                                                   "enabled": False})  # fmt: skip
    assert r.status_code == 201, r.text
    cam = r.json()["id"]
    world.subscribe(admin, "admin", ["webpush", "email"])
    world.subscribe(chief, "chief", ["webpush"])
    r = admin.req("POST", "/api/v1/rules", json={
        "name": "Illegal dumping", "trigger": {"types": ["dumping.detected"]},
        "actions": [{"type": "raise_alarm", "priority": "high", "category": "dumping",
                     "title": "Dumping at {camera_name}", "notify": ["webpush", "email"],
                     "notify_roles": ["administrator"]}]})  # fmt: skip
    assert r.status_code == 201, r.text

    jpeg = store_dumping_event(world.data, cam, int(time.time() * 1000))
    wait_for(lambda: world.pushed("admin") and world.pushed("chief"), 20, interval=0.1, what="both pushes")
    pushed = world.pushed("admin")[0]
    aid = pushed["alarm_id"]
    assert pushed["title"] == "Dumping at Via Roma"
    link = pushed.get("snapshot") or ""
    assert link.startswith(f"{PUBLIC}/api/v1/alarms/{aid}/image?t="), pushed
    parts = urlsplit(link)
    path = f"{parts.path}?{parts.query}"
    token = parse_qs(parts.query)["t"][0]
    assert len(link) < 200 and len(token) <= 120

    # the recipient's phone: no login, the picture with its box
    r = ronda.anon("GET", path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/jpeg" and r.content == jpeg
    assert "no-store" in r.headers["cache-control"]
    # the same user signed in is fine too; another user's credentials are not
    assert ronda.anon("GET", path, headers=admin.h).status_code == 200
    r = ronda.anon("GET", path, headers=chief.h)
    assert r.status_code == 403, r.text
    # the chief's own link is its own (another token), and works for the chief
    chief_link = world.pushed("chief")[0]["snapshot"]
    assert chief_link != link
    chief_path = chief_link.removeprefix(PUBLIC)
    assert ronda.anon("GET", chief_path, headers=chief.h).status_code == 200
    assert ronda.anon("GET", chief_path, headers=admin.h).status_code == 403

    # altered tokens: the MAC, the user, the expiry, another alarm's path; garbage; too long
    body, _, mac = token.rpartition(".")
    a, u, v, exp = body.split(".")
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    for bad_path in (
        f"/api/v1/alarms/{aid}/image?t={body}.{flipped}",
        f"/api/v1/alarms/{aid}/image?t={a}.{int(u) + 1}.{v}.{exp}.{mac}",
        f"/api/v1/alarms/{aid}/image?t={a}.{u}.{v}.{int(exp) + 3600}.{mac}",
        f"/api/v1/alarms/{aid + 1}/image?t={token}",
        f"/api/v1/alarms/{aid}/image?t=not-a-token-at-all-xxxxxxxx",
    ):
        r = ronda.anon("GET", bad_path)
        assert r.status_code == 401, (bad_path, r.status_code, r.text)
        assert r.headers.get("www-authenticate", "").startswith("Bearer")
    assert ronda.anon("GET", f"/api/v1/alarms/{aid}/image?t={'1' * 500}").status_code == 422

    # expiry: a link signed with the site's key (as the server signs) that expired a second ago is
    # refused; the same link with a future expiry passes, so the refusal is the expiry's
    from ronda.access.image_links import ImageLinks
    from ronda.access.keys import load_or_create_key

    signer = ImageLinks(load_or_create_key(world.data / "keys" / "tokens.key"))
    expired = signer.sign(aid, int(u), int(v), ttl_s=-1)
    r = ronda.anon("GET", f"/api/v1/alarms/{aid}/image?t={expired}")
    assert r.status_code == 401, r.text
    fresh = signer.sign(aid, int(u), int(v), ttl_s=60)
    assert ronda.anon("GET", f"/api/v1/alarms/{aid}/image?t={fresh}").status_code == 200
    # a link signed with the default TTL expires within the configured 5 minutes
    assert int(time.time()) < int(exp) <= int(time.time()) + 300

    # without a link, the caller's own credentials
    assert ronda.anon("GET", f"/api/v1/alarms/{aid}/image", headers=admin.h).content == jpeg
    assert ronda.anon("GET", f"/api/v1/alarms/{aid}/image").status_code == 401

    # every fetch is audited: who, which alarm, whether by link; the foreign attempt as denied
    entries = admin.req("GET", "/api/v1/audit", params={"action": "alarm.image", "limit": 100}).json()
    mine = [e for e in entries if (e.get("details") or {}).get("alarm") == aid]
    by_link = [e for e in mine if e["result"] == "ok" and e["details"]["via"] == "link"]
    assert {e["actor"] for e in by_link} == {"admin", "chief"}, mine
    assert all(e["camera_id"] == cam for e in by_link)
    assert [e for e in mine if e["result"] == "ok" and e["details"]["via"] == "token" and e["actor"] == "admin"]
    assert len([e for e in mine if e["result"] == "denied"]) == 2

    # e-mail: the picture inline and the link
    wait_for(lambda: world.inbox.messages, 15, interval=0.1, what="the alarm e-mail")
    [(_, rcpts, raw)] = world.inbox.messages
    assert rcpts == ["admin@sanlucido.example"]
    mail = message_from_bytes(raw, policy=email.policy.default)
    jpegs = [p for p in mail.walk() if p.get_content_type() == "image/jpeg"]
    assert len(jpegs) == 1 and jpegs[0].get_content() == jpeg
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    cid = str(jpegs[0]["Content-ID"]).strip().strip("<>")  # (a long id may come folded)
    assert f"cid:{cid}" in html
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert f"Snapshot: {PUBLIC}/api/v1/alarms/{aid}/image?t=" in text


def test_a_link_ends_with_its_account(world: World) -> None:
    """A password change or a disabled account ends the links made for it (401), like its sessions."""
    from ronda.access.image_links import ImageLinks
    from ronda.access.keys import load_or_create_key

    ronda = world.ronda
    world.add_user("temp", "administrator")
    site = type("S", (), {"ronda": ronda})()
    admin = Client(site, "admin", "admin-test-pw")
    alarms = admin.req("GET", "/api/v1/alarms").json()
    if not alarms:  # this test runs alone (or first): an alarm of its own, through the rule's path
        r = admin.req("POST", "/api/v1/cameras", json={"name": "Via Po", "url": "rtsp://viapo.invalid/s",
                                                       "enabled": False})  # fmt: skip
        assert r.status_code == 201, r.text
        rule = {"name": "Dumping (links)", "trigger": {"types": ["dumping.detected"]},
                "actions": [{"type": "raise_alarm", "title": "Dumping at {camera_name}"}]}  # fmt: skip
        assert admin.req("POST", "/api/v1/rules", json=rule).status_code == 201
        store_dumping_event(world.data, r.json()["id"], int(time.time() * 1000))
        alarms = wait_for(lambda: admin.req("GET", "/api/v1/alarms").json(), 20, interval=0.2, what="an alarm")
    aid = alarms[0]["id"]
    users = {u["username"]: u for u in admin.req("GET", "/api/v1/users").json()}
    uid = users["temp"]["id"]
    signer = ImageLinks(load_or_create_key(world.data / "keys" / "tokens.key"))
    link = f"/api/v1/alarms/{aid}/image?t={signer.sign(aid, uid, 0, ttl_s=60)}"
    assert ronda.anon("GET", link).status_code == 200
    r = admin.req("PATCH", f"/api/v1/users/{uid}", json={"enabled": False})
    assert r.status_code == 200, r.text
    assert ronda.anon("GET", link).status_code == 401
