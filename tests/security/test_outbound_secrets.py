"""Issue 10, outbound requests and secrets: webhook and Web Push destinations (items 6, 12), secrets at
rest (item 15), security headers, X-Forwarded-For and camera probes.

Every peer is a real socket on 127.0.0.1. Refusals of other addresses happen at validation, before any
packet leaves: the addresses used for them (10.x, 169.254.169.254, 224.0.0.1, ...) are never connected to.
"""

from __future__ import annotations

import base64
import os
import re
import socket
import sqlite3
import stat
import subprocess
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ronda.access import netguard
from ronda.events.notify import Notification
from ronda.events.notify.webhook import send_webhook
from ronda.events.notify.webpush import ensure_vapid_key, send_webpush
from tests.conftest import SECURE_PASSWORD
from tests.helpers import catalog, wait_for
from tests.security.conftest import new_org_admin

LOOPBACK_SPELLINGS = ["127.1", "0x7f000001", "2130706433", "0177.0.0.1", "localhost.", "LocalHost",
                      "ip6-localhost", "[::ffff:127.0.0.1]", "[::1]", "0", "[::]", "foo.localhost"]  # fmt: skip
OTHER_PRIVATE = ["10.1.2.3", "192.168.0.10", "172.16.5.5", "169.254.169.254", "100.64.0.1", "224.0.0.1",
                 "[fe80::1]", "[fd00::1]", "[2002:7f00:1::1]", "[64:ff9b::a01:203]"]  # fmt: skip


class CountingServer:
    """A TCP listener on 127.0.0.1 that answers any HTTP request with 201 and counts connections."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.requests: list[bytes] = []
        self._stop = False
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            with conn:
                conn.settimeout(5)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    head, _, body = data.partition(b"\r\n\r\n")
                    m = re.search(rb"content-length:\s*(\d+)", head, re.I)
                    need = int(m.group(1)) if m else 0
                    while len(body) < need:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        body += chunk
                    self.requests.append(head + b"\r\n\r\n" + body)
                    conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    def close(self) -> None:
        self._stop = True
        self._t.join(2)
        self.sock.close()


@pytest.fixture
def counting() -> Iterator[CountingServer]:
    s = CountingServer()
    try:
        yield s
    finally:
        s.close()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def subscription(endpoint: str) -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    pub = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return {"endpoint": endpoint, "keys": {"p256dh": b64url(pub), "auth": b64url(os.urandom(16))}}


def note() -> Notification:
    return Notification(alarm_id=1, event_id=None, title="t", body="b")


# -- item 12: Web Push endpoints ------------------------------------------------------------------------


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS + OTHER_PRIVATE)
def test_item12_push_endpoint_loopback_spellings(site, users, host):
    r = users["viewer_a"].req("POST", "/api/v1/notifications/push-subscriptions",
                              json=subscription(f"https://{host}/push/{uuid.uuid4().hex}"))  # fmt: skip
    assert r.status_code == 422, (host, r.status_code, r.text)


def test_item12_push_endpoint_that_does_not_resolve_is_refused(site, users):
    # A push service that cannot be resolved is no subscription (and may resolve inward later).
    r = users["viewer_a"].req("POST", "/api/v1/notifications/push-subscriptions",
                              json=subscription("https://push.example.invalid/x"))  # fmt: skip
    assert r.status_code == 422, r.text
    # a public address passes the same check (checked here without sending anything anywhere)
    netguard.check_url("https://8.8.8.8/push/x", schemes=("https",))


async def test_item12_push_send_checks_the_address_it_connects_to(tmp_path: Path, counting: CountingServer) -> None:
    """A subscription that got into the database some other way (older version, restored backup) is
    still refused when sending, before any connection; the admin's allow list lets it through."""
    key = ensure_vapid_key(tmp_path / "vapid.pem")
    for host in ("127.1", "0x7f000001", "2130706433", "[::ffff:127.0.0.1]", "127.0.0.1"):
        res = await send_webpush(subscription(f"http://{host}:{counting.port}/push/a"), note(), key,
                                 "mailto:a@example.org", attempts=1)  # fmt: skip
        assert not res.ok, (host, res)
        # py_vapid cannot put an [IPv6] origin into the token, which ends it before any connection too
        assert "refused" in (res.error or "") or host.startswith("["), (host, res)
    assert counting.connections == 0
    allow = netguard.Allowance.parse(["127.0.0.1/32"])
    res = await send_webpush(subscription(f"http://127.1:{counting.port}/push/a"), note(), key,
                             "mailto:a@example.org", attempts=1, allow=allow)  # fmt: skip
    assert res.ok, res
    assert counting.connections == 1 and counting.requests[0].startswith(b"POST /push/a ")


def test_item12_netguard_checks_every_resolved_address() -> None:
    for host in [
        "127.1",
        "0x7f000001",
        "2130706433",
        "::ffff:127.0.0.1",
        "::1",
        "localhost.",
        "ip6-localhost",
        "10.0.0.1",
        "169.254.169.254",
        "224.0.0.1",
        "::",
        "2002:7f00:1::1",
        "64:ff9b::7f00:1",
    ]:
        with pytest.raises(netguard.DestinationRefused):
            netguard.resolve(host, 80)
    assert [str(a) for a in netguard.resolve("8.8.8.8", 443)] == ["8.8.8.8"]
    allow = netguard.Allowance.parse(["127.0.0.1/32", "hooks.example.org"])
    assert [str(a) for a in netguard.resolve("127.1", 80, allow)] == ["127.0.0.1"]
    with pytest.raises(netguard.DestinationRefused):
        netguard.resolve("127.0.0.2", 80, allow)
    # camera probes: private LAN addresses are fine, loopback and link-local are not
    assert netguard.resolve("192.168.1.20", 554, allow_private=True)
    for host in ("127.0.0.1", "169.254.169.254", "0.0.0.0"):
        with pytest.raises(netguard.DestinationRefused):
            netguard.resolve(host, 554, allow_private=True)


# -- item 6: webhook destinations -----------------------------------------------------------------------


def _hook_rule(url: str) -> dict[str, Any]:
    return {"name": f"hook {uuid.uuid4().hex[:8]}", "trigger": {"types": ["test.never"]},
            "actions": [{"type": "webhook", "url": url, "secret": "0123456789abcdef-secret"}]}  # fmt: skip


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS + OTHER_PRIVATE + ["127.0.0.1"])
def test_item06_webhook_to_private_destination_is_refused(site, users, host):
    r = users["admin"].req("POST", "/api/v1/rules", json=_hook_rule(f"http://{host}:9/hook"))
    assert r.status_code == 422, (host, r.text)
    assert "webhook" in r.text


def test_item06_webhook_public_destination_is_accepted(site, users):
    # .invalid never resolves, so nothing is ever sent; a name that does not resolve now is checked
    # again at send time
    r = users["admin"].req("POST", "/api/v1/rules", json=_hook_rule("https://hooks.example.invalid/hook"))
    assert r.status_code == 201, r.text
    users["admin"].req("DELETE", f"/api/v1/rules/{r.json()['id']}")


async def test_item06_webhook_send_time_check(counting: CountingServer) -> None:
    """At send time the address connected to is checked again (a name may resolve elsewhere by then):
    refused before any connection unless the allow list names it."""
    for host in ("127.0.0.1", "127.1", "localhost"):
        res = await send_webhook(f"http://{host}:{counting.port}/h", "secret-secret-16", {"a": 1}, attempts=1)
        assert not res.ok and "refused" in (res.error or ""), res
    assert counting.connections == 0
    allow = netguard.Allowance.parse(["127.0.0.1"])
    res = await send_webhook(f"http://127.1:{counting.port}/h", "secret-secret-16", {"a": 1}, attempts=1,
                             allow=allow)  # fmt: skip
    assert res.ok, res
    assert counting.connections == 1 and b"host: 127.1:" in counting.requests[0].lower()


def test_item06_allowed_destinations_config_is_validated() -> None:
    from ronda.config import ConfigError, load_config

    cfg = load_config(overrides={"events": {"allowed_destinations": ["127.0.0.1/32", "hooks.example.org"]}},
                      environ={})  # fmt: skip
    assert cfg.events.allowed_destinations == ["127.0.0.1/32", "hooks.example.org"]
    with pytest.raises(ConfigError, match="allowed_destinations"):
        load_config(overrides={"events": {"allowed_destinations": ["10.0.0.0/33x"]}}, environ={})


# -- item 15: secrets at rest ---------------------------------------------------------------------------


def _cmdlines_under(root: int) -> list[str]:
    """``ps -eo pid,ppid,args`` of ``root`` and its descendants (other sessions on this machine run
    their own Secure camera), plus /proc/PID/cmdline of each, which ps may shorten."""
    out = subprocess.run(["ps", "-eo", "pid=,ppid=,args="], capture_output=True, text=True, check=True).stdout
    rows = [line.strip().split(None, 2) for line in out.splitlines() if line.strip()]
    parent = {int(r[0]): int(r[1]) for r in rows}
    args = {int(r[0]): r[2] if len(r) > 2 else "" for r in rows}

    def under(pid: int) -> bool:
        while pid > 1:
            if pid == root:
                return True
            pid = parent.get(pid, 0)
        return False

    lines = []
    for pid in args:
        if under(pid):
            lines.append(args[pid])
            try:
                lines.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                pass
    return lines


def test_item15_camera_password_not_on_any_command_line(site):
    wait_for(lambda: catalog(site.data_dir, site.cam("Secure"))[0], 40, what="the Secure camera to record")
    lines = _cmdlines_under(site.ronda.pid)
    recorders = [ln for ln in lines if ln.startswith("ffmpeg") and str(site.data_dir) in ln]
    secure = f".partial/{site.cam('Secure')}-main/"
    assert [ln for ln in recorders if secure in ln], "the Secure camera's recorder is not running"
    leaks = [ln for ln in lines if SECURE_PASSWORD in ln or "p%40ss" in ln or "rtsp://" in ln]
    assert not leaks, leaks


def test_item15_camera_test_probe_keeps_the_password_off_the_command_line(site, users):
    seen: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.extend(ln for ln in _cmdlines_under(site.ronda.pid) if ln.startswith("ffprobe"))
            time.sleep(0.02)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    try:
        r = users["admin"].req("POST", f"/api/v1/cameras/{site.cam('Secure')}/test")
    finally:
        stop.set()
        t.join(5)
    assert r.status_code == 200 and r.json()["ok"], r.text
    assert seen, "the probe was not seen running"
    assert not [ln for ln in seen if "p%40ss" in ln or SECURE_PASSWORD in ln], seen


def test_item15_data_dir_is_private(site):
    wait_for(lambda: catalog(site.data_dir, site.cam("Camera 1"))[0], 40, what="a recording")
    assert stat.S_IMODE(site.data_dir.stat().st_mode) & 0o077 == 0
    loose = []
    for root, dirs, files in os.walk(site.data_dir):
        for name in dirs + files:
            p = Path(root) / name
            try:
                mode = stat.S_IMODE(p.lstat().st_mode)
            except FileNotFoundError:
                continue  # a partial segment renamed meanwhile
            if mode & 0o077:
                loose.append(f"{p.relative_to(site.data_dir)} {mode:o}")
    assert not loose, loose[:20]


def test_item15_webhook_secret_encrypted_at_rest_and_masked(site, users):
    secret = f"plain-{uuid.uuid4().hex}"
    body = _hook_rule("https://hooks.example.invalid/hook")
    body["actions"][0]["secret"] = secret
    r = users["admin"].req("POST", "/api/v1/rules", json=body)
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    try:
        assert secret not in r.text
        assert secret not in users["admin"].req("GET", f"/api/v1/rules/{rid}").text
        con = sqlite3.connect(f"file:{site.data_dir / 'ronda.db'}?mode=ro", uri=True, timeout=30)
        try:
            (stored,) = con.execute("SELECT actions FROM rules WHERE id=?", (rid,)).fetchone()
        finally:
            con.close()
        assert secret not in stored and "webhook" in stored
    finally:
        users["admin"].req("DELETE", f"/api/v1/rules/{rid}")


def test_item15_backup_is_private_from_its_first_byte(site, tmp_path):
    """Someone who can write the target directory pre-creates the archive's temporary file, world-readable,
    and keeps it open: the backup must not write the database into that file."""
    from ronda.access.backup import backup

    out = tmp_path / "site.zip"
    trap = out.with_name(out.name + ".partial")
    trap.write_bytes(b"")
    trap.chmod(0o666)
    with trap.open("rb") as spy:
        backup(site.data_dir, f"sqlite:///{site.data_dir / 'ronda.db'}", out)
        leaked = spy.read()
    assert leaked == b"", "the backup went into a file another user holds open"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with zipfile.ZipFile(out) as z:
        assert "ronda.db" in z.namelist()


# -- also: headers, X-Forwarded-For ---------------------------------------------------------------------


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for k, v in attrs:
            if k.startswith("on") or (v or "").strip().lower().startswith("javascript:"):
                self.inline.append(f"{tag} {k}={v}")
        self._in_script = tag == "script" and not dict(attrs).get("src")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(data.strip()[:80])


def test_csp_and_security_headers_on_the_web_client(site):
    for path in ("/", "/player.html", "/api/v1/health"):
        r = site.ronda.anon("GET", path)
        assert r.status_code == 200, path
        h = r.headers
        csp = h.get("content-security-policy", "")
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, (path, csp)
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";")[0]
        assert "object-src 'none'" in csp and "base-uri" in csp
        assert h.get("x-content-type-options") == "nosniff"
        assert h.get("referrer-policy") == "no-referrer"


def test_csp_web_client_has_no_inline_script():
    static = Path(__file__).resolve().parents[2] / "src" / "ronda" / "web" / "static"
    for page in static.glob("*.html"):
        p = _Scripts()
        p.feed(page.read_text(encoding="utf-8"))
        assert not p.inline, (page.name, p.inline)


def test_xff_is_not_trusted_without_a_configured_proxy(site, users):
    name = f"xff-{uuid.uuid4().hex[:8]}"
    r = site.ronda.anon("POST", "/api/v1/auth/login", json={"username": name, "password": "wrong-password"},
                        headers={"X-Forwarded-For": "6.6.6.6", "X-Real-IP": "6.6.6.6",
                                 "Forwarded": "for=6.6.6.6"})  # fmt: skip
    assert r.status_code == 401
    rows = users["admin"].req("GET", "/api/v1/audit", params={"actor": name}).json()
    assert rows, "the failed login was not audited"
    assert {row["source_ip"] for row in rows} == {"127.0.0.1"}, rows


def test_xff_trusted_proxies_config() -> None:
    from ronda.config import load_config

    cfg = load_config(overrides={"http": {"trusted_proxies": ["127.0.0.1", "10.0.0.0/8"]}}, environ={})
    assert cfg.http.trusted_proxies == ["127.0.0.1", "10.0.0.0/8"]
    assert load_config(environ={}).http.trusted_proxies == []


# -- also: camera creation and tests are no port scanner for organisation administrators ---------------


def _municipio_group(site, camera_ids: list[int]) -> None:
    """Put cameras into a group the Municipio owns, so its administrator manages them."""
    from sqlalchemy import select

    from ronda.store.access_models import CameraGroup, CameraGroupMember, Organisation
    from ronda.store.db import Database

    db = Database(f"sqlite:///{site.data_dir / 'ronda.db'}")
    try:
        with db.session() as s:
            org = s.scalar(select(Organisation).where(Organisation.name == "Municipio"))
            g = CameraGroup(organisation_id=org.id, name=f"probe targets {uuid.uuid4().hex[:6]}")
            s.add(g)
            s.flush()
            for cid in camera_ids:
                s.add(CameraGroupMember(group_id=g.id, camera_id=cid))
    finally:
        db.dispose()


def test_camera_added_by_org_admin_is_offline_without_a_connection(site, sec_users, counting):
    """Contract kept: an unreachable camera is created "offline" — for an organisation administrator every
    new camera is, until the recorder reaches it (no connection is made while answering)."""
    r = sec_users["muni_admin"].req(
        "POST",
        "/api/v1/cameras",
        json={
            "name": f"lan cam {uuid.uuid4().hex[:6]}",
            "url": "rtsp://cam-not-installed.invalid/x",
            "record_main": False,
        },
    )
    assert r.status_code == 201, r.text
    try:
        assert r.json()["status"] == "offline"
    finally:
        sec_users["admin"].req("DELETE", f"/api/v1/cameras/{r.json()['id']}")


def test_camera_probe_is_no_port_scanner_for_org_admins(site, sec_users, counting):
    from tests.conftest import SECURE_PASSWORD as PWD
    from tests.helpers import free_port

    admin, muni = sec_users["admin"], new_org_admin(site)  # its own probe budget
    # adding: a camera on the server itself is refused before any connection, whatever listens there
    for url in (f"rtsp://127.0.0.1:{counting.port}/x", f"rtsp://127.1:{free_port()}/x", "rtsp://[::1]/x",
                "rtsp://169.254.169.254/x", f"rtsp://localhost:{counting.port}/x"):  # fmt: skip
        r = muni.req("POST", "/api/v1/cameras", json={"name": f"scan {uuid.uuid4().hex[:6]}", "url": url})
        assert r.status_code == 422, (url, r.text)
    assert counting.connections == 0
    # testing: three cameras a site administrator added (closed port, a port without RTSP, wrong password)
    targets = {
        "closed": {"url": f"rtsp://127.0.0.1:{free_port()}/x"},
        "no_rtsp": {"url": f"rtsp://127.0.0.1:{site.ronda.port}/x"},
        "auth": {"url": site.sim.url("secure"), "username": "admin", "password": PWD + "-wrong"},
    }
    ids = {}
    try:
        for k, extra in targets.items():
            r = admin.req("POST", "/api/v1/cameras", json={"name": f"probe {k} {uuid.uuid4().hex[:6]}", **extra,
                                                             "record_main": False})  # fmt: skip
            assert r.status_code == 201, r.text
            ids[k] = r.json()["id"]
        _municipio_group(site, list(ids.values()))
        # the site administrator gets the reasons
        detail = admin.req("POST", f"/api/v1/cameras/{ids['auth']}/test").json()["streams"]["main"]
        assert detail["reason"] == "auth_failed", detail
        answers, took = {}, {}

        def probe(k: str) -> None:
            t0 = time.monotonic()
            answers[k] = muni.req("POST", f"/api/v1/cameras/{ids[k]}/test")
            took[k] = time.monotonic() - t0

        threads = [threading.Thread(target=probe, args=(k,)) for k in ids]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        bodies = {
            k: (r.status_code, {kk: v for kk, v in r.json().items() if kk != "camera"}) for k, r in answers.items()
        }
        assert len({repr(b) for b in bodies.values()}) == 1, bodies
        assert bodies["closed"][0] == 200 and bodies["closed"][1]["streams"]["main"] == {
            "ok": False,
            "reason": "unavailable",
        }
        assert max(took.values()) - min(took.values()) < 1.5, took
        # a per-user budget: a sweep is cut off
        codes = [muni.req("POST", f"/api/v1/cameras/{ids['closed']}/test").status_code for _ in range(12)]
        assert 429 in codes, codes
    finally:
        for cid in ids.values():
            admin.req("DELETE", f"/api/v1/cameras/{cid}")
