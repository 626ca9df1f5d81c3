"""Notification channels against real peers on 127.0.0.1: a push service that decrypts with http_ece,
aiosmtpd, an HTTP webhook receiver and a real mosquitto broker; plus the rate-limit and quiet-hours logic."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import json
import os
import shutil
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import http_ece
import jwt
import paho.mqtt.client as paho
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from paho.mqtt.enums import CallbackAPIVersion

from ronda.access.netguard import Allowance
from ronda.events.notify import Notification
from ronda.events.notify.email import SmtpSettings, send_email
from ronda.events.notify.limits import QuietHours, RateLimiter
from ronda.events.notify.mqtt import MqttPublisher
from ronda.events.notify.webhook import send_webhook, sign, verify_signature
from ronda.events.notify.webpush import MAX_PUSH_PAYLOAD, build_payload, ensure_vapid_key, send_webpush
from tests.helpers import free_port

# The peers below listen on 127.0.0.1, which outbound deliveries refuse unless the site allows it.
LOCAL = Allowance.parse(["127.0.0.1/32"])

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(range(256)) + b"\xff\xd9"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def alarm_notification(**kw: Any) -> Notification:
    base: dict[str, Any] = {
        "alarm_id": 42,
        "event_id": "ev-7",
        "title": "Camera offline: Piazza Duomo",
        "body": "Camera 3 stopped sending video at 21:04.",
        "priority": "high",
        "category": "camera offline",
        "camera_ids": [3],
        "time_ms": 1_767_000_000_000,
        "url": "/#/alarms/42",
        "snapshot_url": "https://vms.example.org/api/alarms/42/snapshot.jpg",
        "snapshot_jpeg": JPEG,
    }
    base.update(kw)
    return Notification(**base)


# -- a scripted HTTP peer (push service, webhook receiver) --------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpPeer:
    """Answers each POST with the next scripted status (the last one repeats) and records it."""

    statuses: list[int]
    requests: list[Received] = field(default_factory=list)
    extra_headers: dict[str, str] = field(default_factory=dict)

    def serve(self) -> tuple[ThreadingHTTPServer, int]:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                peer.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status = peer.statuses[min(len(peer.requests), len(peer.statuses)) - 1]
                self.send_response(status)
                for k, v in peer.extra_headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, server.server_address[1]


@pytest.fixture
def http_peer() -> Iterator[Callable[..., tuple[HttpPeer, int]]]:
    servers: list[ThreadingHTTPServer] = []

    def start(*statuses: int, headers: dict[str, str] | None = None) -> tuple[HttpPeer, int]:
        peer = HttpPeer(list(statuses), extra_headers=headers or {})
        server, port = peer.serve()
        servers.append(server)
        return peer, port

    try:
        yield start
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()


# -- Web Push -----------------------------------------------------------------------------------------


def browser_subscription(endpoint: str) -> tuple[dict[str, Any], ec.EllipticCurvePrivateKey, bytes]:
    """What pushManager.subscribe() produces: the browser's P-256 key and a 16-byte auth secret."""
    key = ec.generate_private_key(ec.SECP256R1())
    auth = os.urandom(16)
    pub = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return {"endpoint": endpoint, "keys": {"p256dh": b64url(pub), "auth": b64url(auth)}}, key, auth


def test_vapid_key_created_once_private_and_browser_ready(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "vapid.pem"
    first = ensure_vapid_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    raw = b64url_decode(first.public_key_b64)
    assert len(raw) == 65 and raw[0] == 4 and "=" not in first.public_key_b64
    assert ensure_vapid_key(path).public_key_b64 == first.public_key_b64  # never regenerated
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


async def test_webpush_delivers_encrypted_payload_with_vapid(tmp_path: Path, http_peer: Any) -> None:
    peer, port = http_peer(201)
    origin = f"http://127.0.0.1:{port}"
    sub, browser_key, auth = browser_subscription(f"{origin}/push/v1/secret-token")
    vapid = ensure_vapid_key(tmp_path / "vapid.pem")

    res = await send_webpush(sub, alarm_notification(), vapid.path, "mailto:ops@example.org", ttl_s=600, allow=LOCAL)
    assert res.ok and res.status == 201 and res.attempts == 1 and not res.gone
    assert "secret-token" not in res.target

    [req] = peer.requests
    assert req.path == "/push/v1/secret-token"
    assert req.headers["content-encoding"] == "aes128gcm"
    assert req.headers["ttl"] == "600"
    assert req.headers["urgency"] == "high"
    assert req.headers["topic"] == "alarm-42"
    plain = http_ece.decrypt(req.body, private_key=browser_key, auth_secret=auth, version="aes128gcm")
    doc = json.loads(plain)
    assert doc == {
        "alarm_id": 42,
        "title": "Camera offline: Piazza Duomo",
        "body": "Camera 3 stopped sending video at 21:04.",
        "url": "/#/alarms/42",
        "snapshot": "https://vms.example.org/api/alarms/42/snapshot.jpg",
        "priority": "high",
        "time": 1_767_000_000_000,
    }

    # Authorization: vapid t=<JWT>, k=<public key> (RFC 8292), checked as a push service would.
    scheme, _, params = req.headers["authorization"].partition(" ")
    assert scheme == "vapid"
    fields = dict(p.strip().split("=", 1) for p in params.split(","))
    assert fields["k"] == vapid.public_key_b64
    pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(fields["k"]))
    claims = jwt.decode(fields["t"], pub, algorithms=["ES256"], audience=origin)
    assert claims["sub"] == "mailto:ops@example.org"
    assert claims["exp"] > time.time()


async def test_webpush_gone_retry_and_size_limit(tmp_path: Path, http_peer: Any) -> None:
    vapid = ensure_vapid_key(tmp_path / "vapid.pem")
    peer, port = http_peer(410)
    sub, _, _ = browser_subscription(f"http://127.0.0.1:{port}/push/gone")
    res = await send_webpush(
        sub, alarm_notification(), vapid.path, "mailto:ops@example.org", backoff_s=0.01, allow=LOCAL
    )
    assert not res.ok and res.gone and res.status == 410 and res.attempts == 1

    peer, port = http_peer(503, 201)
    sub, key, auth = browser_subscription(f"http://127.0.0.1:{port}/push/busy")
    long_body = "Ж" * 5000  # two bytes each in UTF-8
    res = await send_webpush(
        sub, alarm_notification(body=long_body), vapid.path, "mailto:o@x.org", backoff_s=0.01, allow=LOCAL
    )
    assert res.ok and res.attempts == 2
    body = peer.requests[-1].body
    assert len(body) <= MAX_PUSH_PAYLOAD
    doc = json.loads(http_ece.decrypt(body, private_key=key, auth_secret=auth, version="aes128gcm"))
    assert doc["alarm_id"] == 42 and doc["body"].endswith("…") and doc["body"].startswith("ЖЖЖ")

    junk = {"endpoint": f"http://127.0.0.1:{port}/push/junk", "keys": {"p256dh": "bm90IGEga2V5", "auth": "x"}}
    res = await send_webpush(junk, alarm_notification(), vapid, "mailto:o@x.org")
    assert not res.ok and "invalid subscription" in (res.error or "") and len(peer.requests) == 2

    dead = f"http://127.0.0.1:{free_port()}/push/x"
    res = await send_webpush(
        browser_subscription(dead)[0],
        alarm_notification(),
        vapid.path,
        "mailto:o@x.org",
        attempts=2,
        backoff_s=0.01,
        allow=LOCAL,
    )
    assert not res.ok and res.attempts == 2 and "ConnectionError" in (res.error or "")
    assert "/push/x" not in (res.error or "")


def test_push_payload_truncation_keeps_json_valid() -> None:
    n = alarm_notification(body='"quoted" \\ and 😀 ' * 400)
    out = build_payload(n, limit=1000)
    assert len(out) <= 1000
    assert json.loads(out)["body"].endswith("…")


# -- Email --------------------------------------------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.logins: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"s3cret pw!"
        if isinstance(auth_data, LoginPassword):
            self.logins.append(auth_data.login)
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    ctl = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=inbox.authenticate, auth_require_tls=False)
    ctl.start()
    try:
        yield inbox, port
    finally:
        ctl.stop()


async def test_email_with_link_and_inline_snapshot(smtp_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    inbox, port = smtp_server
    settings = SmtpSettings(
        "127.0.0.1", port, starttls=False, username="ronda", password="s3cret pw!", sender="ronda@vms.example.org"
    )
    assert "s3cret" not in repr(settings)
    caplog.set_level("DEBUG")
    res = await send_email(
        settings, ["ops@example.org", "chief@example.org"], alarm_notification(), base_url="https://vms.example.org"
    )
    assert res.ok, res.error
    assert inbox.logins == [b"ronda"]

    [(mail_from, rcpts, raw)] = inbox.messages
    assert mail_from == "ronda@vms.example.org"
    assert rcpts == ["ops@example.org", "chief@example.org"]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    assert msg["Subject"] == "[Ronda] HIGH: Camera offline: Piazza Duomo"
    assert msg["To"] == "ops@example.org, chief@example.org"
    assert msg["X-Ronda-Alarm"] == "42"
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    assert "https://vms.example.org/#/alarms/42" in text.get_content()
    html_src = html.get_content()
    assert 'href="https://vms.example.org/#/alarms/42"' in html_src
    jpegs = [p for p in msg.walk() if p.get_content_type() == "image/jpeg"]
    assert len(jpegs) == 1 and jpegs[0].get_content() == JPEG
    cid = jpegs[0]["Content-ID"].strip("<>")
    assert f"cid:{cid}" in html_src
    assert "s3cret" not in caplog.text


async def test_email_bad_password_is_not_retried_nor_echoed(smtp_server: Any) -> None:
    inbox, port = smtp_server
    settings = SmtpSettings("127.0.0.1", port, starttls=False, username="ronda", password="wrong-pw", sender="r@x.org")
    res = await send_email(settings, ["ops@example.org"], alarm_notification(snapshot_jpeg=None), backoff_s=0.01)
    assert not res.ok and res.attempts == 1 and res.status == 535
    assert "wrong-pw" not in (res.error or "")
    assert inbox.messages == []


async def test_email_header_injection_is_neutralised(smtp_server: Any) -> None:
    inbox, port = smtp_server
    settings = SmtpSettings("127.0.0.1", port, starttls=False, sender="r@x.org")
    res = await send_email(settings, ["ops@example.org"], alarm_notification(title="Hi\r\nBcc: evil@x.org"))
    assert res.ok
    msg = email.message_from_bytes(inbox.messages[0][2], policy=email.policy.default)
    assert msg["Bcc"] is None and "Bcc: evil" in msg["Subject"]
    bad = await send_email(settings, ["ops@example.org\r\nBcc: evil@x.org"], alarm_notification())
    assert not bad.ok and bad.attempts == 0


# -- Webhook ------------------------------------------------------------------------------------------


async def test_webhook_retries_5xx_with_same_delivery_id_and_valid_signature(http_peer: Any) -> None:
    peer, port = http_peer(500, 500, 200)
    payload = {"alarm_id": 42, "title": "Camera offline", "città": "Roma"}
    res = await send_webhook(
        f"http://127.0.0.1:{port}/hook?token=abc", "hook-secret", payload, backoff_s=0.01, allow=LOCAL
    )
    assert res.ok and res.attempts == 3 and res.status == 200
    assert "token" not in res.target
    assert len(peer.requests) == 3
    ids = {r.headers["x-ronda-delivery"] for r in peer.requests}
    assert ids == {res.delivery_id}
    assert [r.headers["x-ronda-attempt"] for r in peer.requests] == ["1", "2", "3"]
    for r in peer.requests:
        assert r.body == b'{"alarm_id":42,"title":"Camera offline","citt\xc3\xa0":"Roma"}'
        ts, sig = r.headers["x-ronda-timestamp"], r.headers["x-ronda-signature"]
        assert sig.startswith("sha256=") and len(sig) == 7 + 64
        assert verify_signature("hook-secret", ts, r.body, sig)
        assert not verify_signature("other-secret", ts, r.body, sig)
        assert not verify_signature("hook-secret", ts, r.body + b" ", sig)
        assert not verify_signature("hook-secret", int(ts) + 1, r.body, sig)


async def test_webhook_4xx_not_retried_429_honours_retry_after_dead_port_gives_up(http_peer: Any) -> None:
    peer, port = http_peer(400)
    res = await send_webhook(f"http://127.0.0.1:{port}/hook", "s", {"a": 1}, backoff_s=0.01, allow=LOCAL)
    assert not res.ok and res.attempts == 1 and res.status == 400 and len(peer.requests) == 1

    peer, port = http_peer(429, 204, headers={"Retry-After": "0"})
    started = time.monotonic()
    res = await send_webhook(f"http://127.0.0.1:{port}/hook", "s", {"a": 1}, backoff_s=5, allow=LOCAL)
    assert res.ok and res.attempts == 2 and time.monotonic() - started < 2  # Retry-After: 0 beat the backoff

    dead = free_port()
    res = await send_webhook(
        f"http://127.0.0.1:{dead}/hook", "s", {"a": 1}, attempts=3, backoff_s=0.01, timeout_s=1, allow=LOCAL
    )
    assert not res.ok and res.attempts == 3 and res.status is None
    assert "ConnectError" in (res.error or "") and "gave up after 3 attempts" in (res.error or "")


def test_verify_signature_freshness_and_rotation() -> None:
    body = b'{"x":1}'
    now = 1_800_000_000
    sig = sign("k1", now, body)
    assert verify_signature("k1", str(now), body, sig, now=now + 299)
    assert not verify_signature("k1", str(now), body, sig, now=now + 301)  # replayed too late
    assert not verify_signature("k1", "not-a-number", body, sig, now=now)
    assert verify_signature("k1", now, body, f"{sign('k0', now, body)}, {sig}", now=now)


# -- MQTT ---------------------------------------------------------------------------------------------


class Broker:
    """A real mosquitto on 127.0.0.1 with persistence, so a persistent session survives a restart."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.conf = workdir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {workdir}/",
            f"log_dest file {workdir}/mosquitto.log",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # otherwise it drops to user mosquitto, which cannot write workdir
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.proc.stderr.read().decode() if self.proc.stderr else ''}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening")

    def stop(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        proc.terminate()  # SIGTERM: mosquitto saves its persistence file on the way out
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    if not (shutil.which("mosquitto") or os.path.exists("/usr/sbin/mosquitto")):
        pytest.fail("mosquitto is not installed (apt-get install -y mosquitto)")
    b = Broker(tmp_path)
    b.start()
    try:
        yield b
    finally:
        b.stop()


class Subscriber:
    def __init__(self, port: int, client_id: str, persistent: bool) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.subscribed = threading.Event()
        self.client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not persistent
        )
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe("ronda/#", qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.set()
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload, bool(m.retain)))
        self.client.reconnect_delay_set(1, 1)
        self.client.connect_async("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        assert self.subscribed.wait(5), "subscriber did not subscribe"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def topics(self) -> list[str]:
        return [t for t, _, _ in self.messages]

    async def wait_for(self, topic: str, count: int = 1, within_s: float = 10) -> list[tuple[str, bytes, bool]]:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            got = [m for m in self.messages if m[0] == topic]
            if len(got) >= count:
                return got
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {count}x {topic} in {self.topics()}")


async def retained_snapshot(port: int) -> dict[str, bytes]:
    """What a client connecting now sees: the retained messages (all flagged retain)."""
    s = Subscriber(port, f"snap-{time.monotonic_ns()}", persistent=False)
    try:
        await asyncio.sleep(0.3)
        assert all(r for _, _, r in s.messages)
        return {t: p for t, p, _ in s.messages}
    finally:
        s.close()


async def test_mqtt_topics_retain_and_offline_queue(broker: Broker) -> None:
    sub = Subscriber(broker.port, "ronda-test-sub", persistent=True)
    pub = MqttPublisher("127.0.0.1", broker.port, site_slug="Centro Storico", queue_limit=3)
    try:
        await pub.start(wait_s=5)
        assert pub.connected
        prefix = "ronda/centro_storico"

        await pub.publish_event({"type": "camera_offline", "camera_id": 3, "time": 1_767_000_000_000})
        [(_, payload, _)] = await sub.wait_for(f"{prefix}/events/camera_offline")
        assert json.loads(payload) == {"type": "camera_offline", "camera_id": 3, "time": 1_767_000_000_000}

        await pub.publish_alarm({"id": 42, "state": "new", "priority": "high", "camera_ids": [3, 4]})
        await sub.wait_for(f"{prefix}/camera/4/alarm")
        snap = await retained_snapshot(broker.port)
        assert json.loads(snap[f"{prefix}/alarms/42"])["state"] == "new"
        assert snap[f"{prefix}/camera/3/alarm"] == b"ON" and snap[f"{prefix}/camera/4/alarm"] == b"ON"
        assert snap[f"{prefix}/status"] == b"online"
        assert not [t for t in snap if "/events/" in t]  # events are not retained

        # A second alarm on camera 4 keeps it ON when the first closes.
        await pub.publish_alarm({"id": 43, "state": "in_progress", "camera_ids": [4]})
        await pub.publish_alarm({"id": 42, "state": "closed", "camera_ids": [3, 4]})
        await sub.wait_for(f"{prefix}/camera/3/alarm", 2)
        closing = await sub.wait_for(f"{prefix}/alarms/42", 3)
        assert json.loads(closing[1][1])["state"] == "closed" and closing[2][1] == b""
        snap = await retained_snapshot(broker.port)
        assert f"{prefix}/alarms/42" not in snap  # cleared
        assert snap[f"{prefix}/camera/3/alarm"] == b"OFF" and snap[f"{prefix}/camera/4/alarm"] == b"ON"

        # Broker down: publishes queue up (3 at most, oldest dropped), then flow after the reconnect.
        broker.stop()
        for _ in range(100):
            if not pub.connected:
                break
            await asyncio.sleep(0.05)
        assert not pub.connected
        await pub.publish_event({"type": "dropped_one"})
        await pub.publish_alarm({"id": 44, "state": "new", "camera_ids": [5]})  # alarm + camera ON
        await pub.publish_event({"type": "storage_low", "free_gb": 3})
        assert pub.queued == 3 and pub.dropped == 1
        broker.start()
        assert await pub.wait_connected(10)
        [(_, payload, _)] = await sub.wait_for(f"{prefix}/events/storage_low", within_s=15)
        assert json.loads(payload)["free_gb"] == 3
        await sub.wait_for(f"{prefix}/alarms/44")
        assert f"{prefix}/events/dropped_one" not in sub.topics()
        assert pub.queued == 0 and pub.connects == 2
    finally:
        await pub.stop()
        sub.close()


async def test_mqtt_queue_drops_oldest_while_never_connected() -> None:
    pub = MqttPublisher("127.0.0.1", free_port(), queue_limit=2)  # never started
    for i in range(5):
        await pub.publish_event({"type": f"e{i}"})
    assert pub.queued == 2 and pub.dropped == 3
    assert pub.event_topic("a/b+#") == "ronda/default/events/a_b"


# -- Rate limit and flood summary ---------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def n_of(kind: str, i: int, priority: str = "medium") -> Notification:
    return Notification(
        alarm_id=i, event_id=None, title=kind.title(), body="", priority=priority, category=kind, camera_ids=[i % 3]
    )


def test_rate_limit_holds_flood_and_summarises_at_window_end() -> None:
    clock = Clock()
    rl = RateLimiter(limit=5, window_s=60, clock=clock)
    sent = []
    for i in range(17):
        clock.t = 1000 + i
        kind = "camera offline" if i < 5 + 9 else "storage low"
        sent += rl.offer("user:1", n_of(kind, i, "high" if i == 15 else "medium"))
    assert [s.alarm_id for s in sent] == [0, 1, 2, 3, 4]
    assert rl.held("user:1") == 12
    assert rl.offer("user:2", n_of("camera offline", 99)) != []  # others are not affected
    assert rl.next_deadline() == 1060

    clock.t = 1059.9
    assert rl.flush() == []
    clock.t = 1060
    [(who, summary)] = rl.flush()
    assert who == "user:1"
    assert summary.title == "12 more alarms"
    assert summary.body == "12 more alarms in the last minute: 9 camera offline, 3 storage low"
    assert summary.priority == "high"  # the most urgent of the held ones
    assert summary.data["count"] == 12 and summary.data["alarm_ids"] == list(range(5, 17))
    assert summary.url == "/#/alarms"

    # The summary counts in the next window: 4 more pass, the 5th is held.
    out = [rl.offer("user:1", n_of("camera offline", 100 + i)) for i in range(5)]
    assert [len(o) for o in out] == [1, 1, 1, 1, 0]
    # If nobody flushed, the next offer after the window delivers the summary first.
    clock.t = 1125
    out2 = rl.offer("user:1", n_of("storage low", 200))
    assert [o.title for o in out2] == ["1 more alarm", "Storage Low"]
    assert rl.flush() == []


def test_rate_limit_window_without_flood_is_forgotten() -> None:
    clock = Clock()
    rl = RateLimiter(limit=2, window_s=30, clock=clock)
    assert rl.offer("u", n_of("x", 1)) and rl.offer("u", n_of("x", 2))
    clock.t += 31
    assert rl.flush() == [] and rl.next_deadline() is None
    assert rl.offer("u", n_of("x", 3)) and rl.offer("u", n_of("x", 4))
    assert rl.offer("u", n_of("x", 5)) == []
    clock.t += 30
    [(_, s)] = rl.flush()
    assert s.body == "1 more alarm in the last 30 s: 1 x"


# -- Quiet hours --------------------------------------------------------------------------------------


def utc_ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def test_quiet_hours_across_midnight() -> None:
    q = QuietHours.from_dict({"timezone": "Europe/Rome", "start": "22:00", "end": "07:00", "min_priority": "high"})
    # January: Rome is UTC+1.
    assert not q.active(utc_ms(2026, 1, 15, 20, 59))  # 21:59
    assert q.active(utc_ms(2026, 1, 15, 21, 0))  # 22:00
    assert q.active(utc_ms(2026, 1, 15, 23, 30))  # 00:30 next day
    assert q.active(utc_ms(2026, 1, 16, 5, 59))  # 06:59
    assert not q.active(utc_ms(2026, 1, 16, 6, 0))  # 07:00
    night = utc_ms(2026, 1, 15, 23, 30)
    assert q.allows("high", night) and not q.allows("medium", night) and not q.allows("low", night)
    assert q.allows("low", utc_ms(2026, 1, 16, 12, 0))

    day = QuietHours.from_dict({"timezone": "Europe/Rome", "start": "13:00", "end": "14:30", "min_priority": "medium"})
    assert day.active(utc_ms(2026, 1, 15, 12, 0)) and not day.active(utc_ms(2026, 1, 15, 13, 30))
    assert day.allows("medium", utc_ms(2026, 1, 15, 12, 0)) and not day.allows("low", utc_ms(2026, 1, 15, 12, 0))
    off = QuietHours.from_dict({"timezone": "UTC", "start": "00:00", "end": "00:00"})
    assert not off.active(utc_ms(2026, 1, 15, 0, 0))


def test_quiet_hours_follow_the_wall_clock_on_dst_nights() -> None:
    q = QuietHours.from_dict({"timezone": "Europe/Rome", "start": "22:00", "end": "07:00", "min_priority": "high"})
    # 29 March 2026, 01:00 UTC: 02:00 CET jumps to 03:00 CEST. A fixed +1 offset would get these wrong.
    assert q.active(utc_ms(2026, 3, 29, 4, 30))  # 06:30 CEST
    assert not q.active(utc_ms(2026, 3, 29, 5, 30))  # 07:30 CEST (06:30 at the winter offset)
    assert q.active(utc_ms(2026, 3, 28, 21, 0)) and not q.active(utc_ms(2026, 3, 28, 20, 59))  # 22:00 CET
    # 26 October 2025, 01:00 UTC: 03:00 CEST falls back to 02:00 CET.
    assert q.active(utc_ms(2025, 10, 26, 5, 59))  # 06:59 CET
    assert not q.active(utc_ms(2025, 10, 26, 6, 0))  # 07:00 CET (08:00 at the summer offset)
    assert q.active(utc_ms(2025, 10, 25, 20, 0)) and not q.active(utc_ms(2025, 10, 25, 19, 59))  # 22:00 CEST

    # An end time that the clock skips (02:30 does not exist on 29 March) passes with the jump.
    short = QuietHours.from_dict({"timezone": "Europe/Rome", "start": "23:00", "end": "02:30", "min_priority": "high"})
    assert short.active(utc_ms(2026, 3, 29, 0, 59))  # 01:59 CET
    assert not short.active(utc_ms(2026, 3, 29, 1, 0))  # 03:00 CEST
    # An end time that happens twice (02:15 on 26 October) is quiet both times, by the wall clock.
    assert short.active(utc_ms(2025, 10, 26, 0, 15))  # 02:15 CEST
    assert not short.active(utc_ms(2025, 10, 26, 0, 45))  # 02:45 CEST
    assert short.active(utc_ms(2025, 10, 26, 1, 15))  # 02:15 CET, the second time round


def test_quiet_hours_reject_bad_settings() -> None:
    with pytest.raises(ValueError, match="time zone"):
        QuietHours.from_dict({"timezone": "Europe/Atlantis", "start": "22:00", "end": "07:00"})
    with pytest.raises(ValueError, match="HH:MM"):
        QuietHours.from_dict({"timezone": "UTC", "start": "25:00", "end": "07:00"})
    with pytest.raises(ValueError, match="min_priority"):
        QuietHours.from_dict({"timezone": "UTC", "start": "22:00", "end": "07:00", "min_priority": "urgent"})
