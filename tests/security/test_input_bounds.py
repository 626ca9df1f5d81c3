"""Issue 10, input that is small but deep or slow, and unbounded resources (items 3, 10, 16, 17, 18,
19, 21, 23), against the real site over HTTP, WebSocket, raw sockets and a real mosquitto broker."""

from __future__ import annotations

import base64
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select
from websockets.sync.client import connect

from ronda.access.service import create_user
from ronda.store.access_models import Organisation
from ronda.store.db import Database
from tests.events.test_notify import Broker
from tests.helpers import PW, Client, RondaProcess, free_port, iso, wait_for, write_config


def nested(depth: int, leaf: Any = 1) -> Any:
    """``{"a": {"a": ... leaf}}`` with ``depth`` objects."""
    out = leaf
    for _ in range(depth):
        out = {"a": out}
    return out


def insert_event(site, camera_id: int | None, payload_json: str, etype: str = "test.legacy") -> int:
    """A row written straight into the database, as rows stored before the ingest checks existed."""
    con = sqlite3.connect(site.data_dir / "ronda.db", timeout=30)
    try:
        with con:
            cur = con.execute(
                "INSERT INTO events (time_ms, type, source, severity, camera_id, payload) VALUES "
                "(?, ?, 'external', 'info', ?, ?)",
                (int(time.time() * 1000), etype, camera_id, payload_json),
            )
            return int(cur.lastrowid or 0)
    finally:
        con.close()


def timeline_path(site, cam: int, start_ms: int | None = None) -> str:
    now = int(time.time() * 1000)
    start = now - 600_000 if start_ms is None else start_ms
    return f"/api/v1/timeline?cameras={cam}&start={iso(start)}&end={iso(now + 60_000)}"


# --- item 3: deep payloads, listings that cannot fail, deleting and redacting -----------------------
def test_item03_deep_event_payload_refused(site, users):
    admin, viewer = users["admin"], users["viewer_a"]
    cam = site.cam("Camera 1")
    for depth in (9, 300, 5000):  # 5000: deeper than Python's own JSON parser goes
        deep = '{"a":' * depth + "1" + "}" * depth
        body = f'{{"type": "test.deep", "camera": {cam}, "payload": {deep}}}'
        r = admin.req("POST", "/api/v1/events", content=body, headers={"content-type": "application/json"})
        assert r.status_code in (400, 422), (depth, r.status_code, r.text[:300])
    # the limit itself is accepted, and so are wide-but-small payloads up to the element count
    ok = admin.req("POST", "/api/v1/events", json={"type": "test.deep", "camera": cam, "payload": nested(8)})
    assert ok.status_code == 202, ok.text
    many = {f"k{i}": i for i in range(600)}
    r = admin.req("POST", "/api/v1/events", json={"type": "test.deep", "camera": cam, "payload": many})
    assert r.status_code == 422, r.text
    for bad in ({"x": "nul\u0000byte"}, {"n": 2**70}, {"rule_chain": [1]}):
        r = admin.req("POST", "/api/v1/events", json={"type": "test.deep", "camera": cam, "payload": bad})
        assert r.status_code == 422, (bad, r.text)
    # NaN is not JSON, but Python's parser takes it: it must not be stored either
    raw = f'{{"type": "test.deep", "camera": {cam}, "payload": {{"v": NaN}}}}'
    r = admin.req("POST", "/api/v1/events", content=raw, headers={"content-type": "application/json"})
    assert r.status_code in (400, 422), r.text
    for c in (admin, viewer):
        assert c.req("GET", "/api/v1/events?limit=50").status_code == 200
        assert c.req("GET", timeline_path(site, cam)).status_code == 200


def test_item03_bad_stored_event_is_shown_redacted_not_500(site, users):
    admin, viewer = users["admin"], users["viewer_a"]
    cam = site.cam("Camera 1")
    # The timeline lists a camera's first 1000 events of the range: it starts at this test's rows, which
    # other tests' event floods on the same camera (item 16) would otherwise push out of the list.
    since = int(time.time() * 1000) - 1
    deep = insert_event(site, cam, json.dumps(nested(400)))
    nan = insert_event(site, cam, '{"v": NaN}')
    fine = insert_event(site, cam, '{"plate": "AB123CD", "zone": "gate"}')
    for c in (admin, viewer):
        r = c.req("GET", f"/api/v1/events?camera={cam}&type=test.legacy&limit=100")
        assert r.status_code == 200, r.text[:300]
        by_id = {e["id"]: e for e in r.json()}
        # a plate in any event is shown only to who may read the camera's plates (events/plate_privacy.py)
        whole = {"plate": "AB123CD", "zone": "gate"} if c is admin else {"zone": "gate"}
        assert by_id[fine]["payload"] == whole
        for bad in (deep, nan):
            assert by_id[bad]["payload"] == {} and by_id[bad]["redacted"], by_id[bad]
        r = c.req("GET", timeline_path(site, cam, since))
        assert r.status_code == 200, r.text[:300]
        shown = {e["id"]: e for e in r.json()["cameras"][str(cam)]["events"]}
        whole = {"plate": "AB123CD", "zone": "gate"} if c is admin else {"zone": "gate"}
        assert shown[deep]["redacted"] and shown[fine]["payload"] == whole
    for e in (deep, nan, fine):
        admin.req("DELETE", f"/api/v1/events/{e}")


def test_item03_admin_deletes_and_redacts_events_audited(site, users):
    admin, viewer, operator = users["admin"], users["viewer_a"], users["operator"]
    cam = site.cam("Camera 1")
    secret = insert_event(site, cam, '{"name": "Mario Rossi", "plate": "AB123CD"}')
    junk = insert_event(site, cam, json.dumps(nested(300)))
    for c, status in ((viewer, 403), (operator, 403)):
        assert c.req("DELETE", f"/api/v1/events/{junk}").status_code == status
        assert c.req("POST", f"/api/v1/events/{secret}/redact", json={"reason": "x"}).status_code == status
    assert users["viewer_b"].req("DELETE", f"/api/v1/events/{junk}").status_code == 404  # cannot see camera 1
    r = admin.req("POST", f"/api/v1/events/{secret}/redact", json={"reason": "GDPR request 42"})
    assert r.status_code == 200, r.text
    assert r.json()["payload"] == {} and r.json()["redacted"] and "text" not in r.json()
    listed = {e["id"]: e for e in admin.req("GET", f"/api/v1/events?camera={cam}&type=test.legacy").json()}
    assert listed[secret]["payload"] == {} and listed[secret]["redacted"]
    assert admin.req("DELETE", f"/api/v1/events/{junk}").status_code == 204
    assert admin.req("DELETE", f"/api/v1/events/{junk}").status_code == 404
    assert admin.req("DELETE", "/api/v1/events/99999999999").status_code in (404, 422)
    listed = {e["id"] for e in admin.req("GET", f"/api/v1/events?camera={cam}&type=test.legacy").json()}
    assert junk not in listed
    audit = admin.req("GET", "/api/v1/audit?actor=admin&limit=50").json()
    actions = {(a["action"], (a["details"] or {}).get("event")) for a in audit}
    assert ("event.redact", secret) in actions and ("event.delete", junk) in actions
    redact = next(a for a in audit if a["action"] == "event.redact" and a["details"]["event"] == secret)
    assert redact["details"]["reason"] == "GDPR request 42" and redact["camera_id"] == cam
    admin.req("DELETE", f"/api/v1/events/{secret}")


# --- item 19: dates out of range ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("9999-12-31T22:00:00-14:00", "9999-12-31T23:59:59-14:00"),
        ("0001-01-01T00:00:00+14:00", "0001-01-01T02:00:00+14:00"),
        ("9999-12-31T22:00:00Z", "9999-12-31T23:59:59Z"),
        ("1969-12-31T20:00:00Z", "1969-12-31T22:00:00Z"),
    ],
)
def test_item19_out_of_range_dates_are_422(site, users, start, end):
    admin = users["admin"]
    cam = site.cam("Camera 1")
    checks = [
        ("POST", "/api/v1/evidence-locks", {"json": {"camera": cam, "start": start, "end": end, "reason": "x"}}),
        ("GET", f"/api/v1/timeline?cameras={cam}&start={start}&end={end}", {}),
        ("GET", f"/api/v1/cameras/{cam}/timeline?start={start}&end={end}", {}),
        ("GET", f"/api/v1/cameras/{cam}/recordings?start={start}&end={end}", {}),
        ("GET", f"/api/v1/events?since={start}&until={end}", {}),
        ("GET", f"/api/v1/bookmarks?camera={cam}&start={start}&end={end}", {}),
        ("GET", f"/api/v1/audit?since={start}&until={end}", {}),
        ("GET", f"/api/v1/media/{cam}/vod.m3u8?start={start}&token=x", {}),
        ("POST", "/api/v1/events", {"json": {"type": "test.when", "camera": cam, "time": end}}),
        ("POST", "/api/v1/bookmarks", {"json": {"camera": cam, "start": start, "end": end, "title": "x"}}),
        ("POST", "/api/v1/exports", {"json": {"cameras": [cam], "start": start, "end": end}}),
    ]
    failed = []
    for method, path, kw in checks:
        r = admin.req(method, path.replace("+", "%2B"), **kw)
        if r.status_code >= 500 or r.status_code < 400:
            failed.append((method, path.split("?")[0], r.status_code, r.text[:120]))
    assert not failed, failed


def test_item19_parse_iso_range():
    from ronda.timeutil import MAX_MS, MIN_MS, parse_iso, to_iso

    assert parse_iso("1970-01-01T00:00:00Z") == 0 == MIN_MS
    assert to_iso(MAX_MS) is not None and parse_iso(to_iso(MAX_MS) or "") == MAX_MS
    for bad in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "1969-12-31T23:59:59Z", "99999-01-01"):
        with pytest.raises(ValueError):
            parse_iso(bad)


# --- item 21: what the unauthenticated health check tells -----------------------------------------------
def test_item21_health_without_login_tells_no_figures(site, users):
    anon = site.ronda.anon("GET", "/api/v1/health")
    assert anon.status_code == 200
    body = anon.json()
    assert body["status"] in ("ok", "degraded")
    for name, state in body["checks"].items():
        assert isinstance(state, str) and len(state) < 40, (name, state)
    text = anon.text
    for word in ("bytes", "free", "total", "path", "streams", "volume", "/"):
        assert word not in text.replace("/api", ""), (word, text)
    # a viewer is logged in but manages nothing: the same short answer
    assert users["viewer_a"].req("GET", "/api/v1/health").json() == body | {"status": body["status"]}
    full = users["admin"].req("GET", "/api/v1/health").json()
    assert isinstance(full["checks"]["storage"], dict) and "recording" in full["checks"], full


# --- items 3 and 23 over MQTT: one validator for both paths ---------------------------------------------
@pytest.fixture(scope="module")
def mqtt_site(tmp_path_factory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("mqtt_site")
    broker = Broker(base)
    broker.start()
    port = free_port()
    cfg = write_config(
        base / "data", port, [], site={"name": "Bounds"},
        events={"mqtt": {"host": "127.0.0.1", "port": broker.port},
                "sensors": {"gate-1": {"name": "Gate sensor", "type": "sensor.gate"}}},
    )  # fmt: skip
    ronda = RondaProcess(cfg, base / "ronda.log", port)
    try:
        ronda.start()
        admin = Client(type("S", (), {"ronda": ronda})(), "admin", "admin-test-pw")
        yield {"ronda": ronda, "broker": broker, "admin": admin}
    finally:
        ronda.close()
        broker.stop()


def publish(port: int, messages: list[bytes], topic: str = "ronda/bounds/ingest/gate-1") -> None:
    pub = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"gw-{time.monotonic_ns()}")
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    try:
        for body in messages:
            pub.publish(topic, body, qos=1).wait_for_publish(5)
    finally:
        pub.loop_stop()
        pub.disconnect()


def test_item23_mqtt_ingest_uses_the_http_validator(mqtt_site):
    admin = mqtt_site["admin"]
    before = admin.req("GET", "/api/v1/events/stats").json()["rejected_mqtt"]
    bad = [
        {"text": "chain", "uid": "b-1", "payload": {"rule_chain": [1, 2, 3]}},  # item 23: silences every rule
        {"text": "deep", "uid": "b-2", "payload": nested(300)},  # item 3 over MQTT
        {"text": "deep9", "uid": "b-3", "payload": nested(9)},
        {"text": "wide", "uid": "b-4", "payload": {f"k{i}": i for i in range(600)}},
        {"text": "nul", "uid": "b-5", "payload": {"k": "a\u0000b"}},
        {"text": "spoof", "uid": "b-6", "payload": {"by": "admin"}},
    ]
    good = {"text": "ok", "uid": "g-1", "payload": {"gate": "north", "count": 3}}
    publish(mqtt_site["broker"].port, [json.dumps(m).encode() for m in [*bad, good]])

    def stored() -> list[dict[str, Any]]:
        return admin.req("GET", "/api/v1/events?type=sensor.gate").json()

    wait_for(lambda: any(e.get("text") == "ok" for e in stored()), 10, interval=0.2, what="the good event")
    time.sleep(0.5)
    texts = sorted(e.get("text") for e in stored())
    assert texts == ["ok"], texts
    assert admin.req("GET", "/api/v1/events/stats").json()["rejected_mqtt"] - before == len(bad)
    assert admin.req("GET", "/api/v1/events?limit=100").status_code == 200


# --- item 10: a live viewer that stops reading ---------------------------------------------------------------
def ws_open(port: int, path: str) -> socket.socket:
    """A WebSocket handshake over a raw socket with a tiny receive buffer, which then never reads."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())  # fmt: skip
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


class Watcher:
    """A live viewer that reads everything (websockets' client, in a thread): keeps the stream's tail running."""

    def __init__(self, url: str) -> None:
        self.ws = connect(url, open_timeout=10, max_size=None).__enter__()
        self.bytes = 0
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            while True:
                self.bytes += len(self.ws.recv())
        except Exception:
            return

    def close(self) -> None:
        self.ws.close()


def test_item10_live_viewer_that_stops_reading_is_bounded_and_dropped(site, users):
    admin = users["admin"]
    names = ("Camera 1", "Camera 2", "Camera 3", "Camera 4")
    socks: list[socket.socket] = []
    watchers: list[Watcher] = []
    t0 = time.monotonic()
    try:
        for n in names:
            live = admin.req("GET", f"/api/v1/cameras/{site.cam(n)}/live?stream=main").json()["urls"]["ws"]
            watchers.append(Watcher(site.ronda.base.replace("http", "ws") + live))
            socks += [ws_open(site.ronda.port, live) for _ in range(2)]
        # Each watched stream keeps its recent past in memory for everyone (30 s of fragments, the
        # HLS window of 12 GOPs): let that fill up first, then see what the stalled viewers add.
        time.sleep(max(0.0, 50 - (time.monotonic() - t0)))
        base = rss_mb(site.ronda.pid)
        samples = []
        while time.monotonic() - t0 < 70:
            time.sleep(2)
            samples.append(round(rss_mb(site.ronda.pid) - base, 1))
        growth = max(samples)
        closed = [tcp_state(s) != ESTABLISHED for s in socks]  # without reading: reading lets a close through
        watched = [round(w.bytes / 1e6, 1) for w in watchers]
        print(f"RSS growth over {len(samples) * 2} s with {len(socks)} stalled viewers: {samples} MB; "
              f"closed {closed}; watchers got {watched} MB")  # fmt: skip
        assert growth < 20, f"server RSS grew {growth} MB ({samples})"
        assert all(closed), f"stalled viewers still connected: {closed}"
        assert all(w.thread.is_alive() and w.bytes > 1e6 for w in watchers), f"a reading viewer was cut off: {watched}"
    finally:
        for s in socks:
            s.close()
        for w in watchers:
            w.close()


ESTABLISHED = 1  # tcpi_state of struct tcp_info (Linux)


def tcp_state(s: socket.socket) -> int:
    """The kernel's TCP state of our end: ESTABLISHED while the server keeps the connection; after a
    reset, CLOSE; after the server's FIN, CLOSE_WAIT."""
    return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)[0]


# --- item 16: a rule as large as allowed does not hold up the server --------------------------------------
def plate_rule(name: str, plates: list[str]) -> dict[str, Any]:
    return {"name": name, "trigger": {"types": ["test.plate16"], "plates": plates},
            "actions": [{"type": "bookmark", "title": "plate {text}"}]}  # fmt: skip


def health_under_event_flow(site, admin, cam: int, seconds: float = 5.0) -> tuple[int, list[float]]:
    """Health request latencies (s) while a sender posts batches of 100 events (about 200 a second)
    whose plates go through every plate of the test rules without matching any."""
    stop = threading.Event()
    posted = [0]

    def flow() -> None:
        i = 0
        while not stop.is_set():
            t0 = time.monotonic()
            batch = [
                {"type": "test.plate16", "camera": cam, "payload": {"plate": f"NO{i + k:06d}"}} for k in range(100)
            ]
            i += 100
            if admin.req("POST", "/api/v1/events", json=batch).status_code == 202:
                posted[0] += 100
            stop.wait(max(0.0, 0.5 - (time.monotonic() - t0)))

    lat: list[float] = []
    t = threading.Thread(target=flow, daemon=True)
    t.start()
    try:
        time.sleep(0.5)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            try:
                httpx.get(site.ronda.base + "/api/v1/health", timeout=10)
                lat.append(time.monotonic() - t0)
            except httpx.TimeoutException:
                lat.append(10.0)
            time.sleep(0.05)
    finally:
        stop.set()
        t.join(60)
    return posted[0], sorted(lat)


def figures(posted: int, lat: list[float]) -> str:
    p50, p95, top = (round(x * 1000) for x in (lat[len(lat) // 2], lat[int(len(lat) * 0.95)], lat[-1]))
    return f"{posted} events; health p50 {p50} ms, p95 {p95} ms, max {top} ms over {len(lat)} requests"


def test_item16_big_rules_are_bounded_and_do_not_block_the_loop(site, users):
    admin = users["admin"]
    cam = site.cam("Camera 1")
    made: list[int] = []
    base = figures(*health_under_event_flow(site, admin, cam))  # the same flow without the rules
    wild = plate_rule("plates: all wildcards", [f"W{i:05d}*" for i in range(10_000)])
    too_many = plate_rule("plates: too many", [f"X{i:05d}" for i in range(10_001)])
    # the largest rule allowed: 10,000 plates, 100 of them with wildcards
    largest = plate_rule("plates: largest", [f"P{i:05d}" for i in range(9_900)] + [f"Q{i:03d}*Z" for i in range(100)])
    codes = []
    try:
        for rule in (wild, too_many, largest):
            r = admin.req("POST", "/api/v1/rules", json=rule)
            codes.append(r.status_code)
            if r.status_code == 201:
                made.append(r.json()["id"])
        posted, lat = health_under_event_flow(site, admin, cam)
    finally:
        for rid in made:
            admin.req("DELETE", f"/api/v1/rules/{rid}")
    with_rules = figures(posted, lat)
    print(f"without rules: {base}; with rules {codes}: {with_rules}")
    assert codes == [422, 422, 201], (codes, with_rules)
    assert posted >= 500, with_rules
    # The rule must not be what holds the server up: 200 ms, or the flow's own cost on a busy machine.
    base_p95 = float(base.split("p95 ")[1].split(" ms")[0]) / 1000
    assert lat[int(len(lat) * 0.95)] < max(0.2, 2 * base_p95) and lat[-1] < 1.0, (with_rules, base)


def test_item16_rule_count_and_string_sizes_are_bounded(site, users):
    admin = users["admin"]
    rule = {"name": "long zone", "trigger": {"types": ["x.y"], "zones": ["z" * 5000]},
            "actions": [{"type": "bookmark", "title": "t"}]}  # fmt: skip
    r = admin.req("POST", "/api/v1/rules", json=rule)
    assert r.status_code == 422, r.text[:200]
    from ronda.events.rules import MAX_RULES

    assert 0 < MAX_RULES <= 1000


# --- item 18: a viewer cannot flood the audit log ------------------------------------------------------
def test_item18_repeated_views_are_coalesced_in_the_audit_log(site, users):
    # A viewer of its own: views are coalesced per (actor, camera, address) for 60 s, and another test of
    # the shared site viewing Camera 1 as viewer_a just before would have opened the window earlier.
    name = f"coal{uuid.uuid4().hex[:8]}"
    db = Database(f"sqlite:///{site.data_dir / 'ronda.db'}")
    try:
        with db.session() as s:
            police = s.scalar(select(Organisation.id).where(Organisation.name == "Polizia Locale"))
        create_user(db, name, PW, ["Viewer (odd cameras)"], police)
    finally:
        db.dispose()
    viewer, admin = Client(site, name), users["admin"]
    cam = site.cam("Camera 1")
    since = iso(int(time.time() * 1000) - 1000)
    token = viewer.req("POST", f"/api/v1/cameras/{cam}/stream-token", json={"right": "live"}).json()["token"]
    codes = [viewer.req("GET", f"/api/v1/cameras/{cam}/snapshot").status_code for _ in range(40)]
    codes += [site.ronda.anon("GET", f"/api/v1/media/{cam}/snapshot.jpg?token={token}").status_code for _ in range(40)]
    assert codes.count(200) >= 70, codes
    entries = admin.req("GET", "/api/v1/audit", params={"actor": name, "action": "live.snapshot",
                                                         "camera": cam, "since": since}).json()  # fmt: skip
    assert 1 <= len(entries) <= 2, f"{len(entries)} audit entries for 80 snapshots"
    # security-relevant entries are never coalesced: three logins are three entries
    for _ in range(3):
        Client(site, name)
    logins = admin.req("GET", "/api/v1/audit", params={"actor": name, "action": "login", "since": since}).json()
    assert len(logins) >= 3, logins
    assert admin.req("GET", "/api/v1/audit/verify").json()["ok"] is True


def test_item18_coalesced_views_are_counted_when_the_window_ends(tmp_path):
    from ronda.access.audit import AuditLog

    db = Database(f"sqlite:///{tmp_path / 'ronda.db'}")
    db.upgrade()
    log = AuditLog.open(db, tmp_path / "keys", coalesce={"live.snapshot": 0.5})
    try:
        for _ in range(50):
            log.append("viewer", "live.snapshot", "ok", 3, source_ip="192.0.2.1")
        log.append("viewer", "live.snapshot", "ok", 4, source_ip="192.0.2.1")  # another camera: its own entry
        log.append("viewer", "login", "ok", source_ip="192.0.2.1")
        log.append("viewer", "login", "ok", source_ip="192.0.2.1")
        assert [r.action for r in log.search(newest_first=False)] == [
            "live.snapshot",
            "live.snapshot",
            "login",
            "login",
        ]
        wait_for(lambda: log.count() == 5, 5, interval=0.1, what="the count of repeats")
        summary = log.search(newest_first=True, limit=1)[0]
        assert summary.camera_id == 3 and summary.details["repeats"] == 49, summary
        log.append("viewer", "live.snapshot", "ok", 3, source_ip="192.0.2.1")  # a new window: one entry again
        log.append("viewer", "live.snapshot", "ok", 3, source_ip="192.0.2.1")
        log.close()  # writes the open window's count
        assert log.count() == 7 and log.verify().ok
    finally:
        db.dispose()


# --- item 17: slow headers ------------------------------------------------------------------------------------
def _closed(sock: socket.socket, within: float) -> float | None:
    """Seconds until the server closed the socket (EOF, reset or a 408), None if it stayed open."""
    t0 = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - t0 < within:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            return time.monotonic() - t0
        if not data or b" 408 " in data:
            return time.monotonic() - t0
    return None


def test_item17_slow_headers_are_cut_off_and_do_not_starve_others(site, users):
    port = site.ronda.port
    slow = socket.create_connection(("127.0.0.1", port))
    slow.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(100)]
    for s in idle[:50]:
        s.sendall(b"GET / HTTP/1.1\r\n")  # half a request; the other fifty send nothing at all
    t0 = time.monotonic()
    closed_at = None
    lat = []
    try:
        slow.settimeout(0.5)
        while time.monotonic() - t0 < 25 and closed_at is None:
            try:
                slow.sendall(b"X")  # one header byte every ~2 s
            except OSError:
                closed_at = time.monotonic() - t0
                break
            w = _closed(slow, 2.0)
            if w is not None:
                closed_at = time.monotonic() - t0
            t1 = time.monotonic()
            assert site.ronda.anon("GET", "/api/v1/health").status_code == 200
            lat.append(time.monotonic() - t1)
        print(f"slow-header socket closed after {closed_at} s; health max {max(lat) * 1000:.0f} ms")
        assert closed_at is not None and closed_at < 15, f"slow-header socket still open after {closed_at or 25} s"
        assert max(lat) < 1.0, lat
        open_idle = [s for s in idle if _closed(s, 0.3) is None]
        assert not open_idle, f"{len(open_idle)} of 100 idle sockets still open after {time.monotonic() - t0:.0f} s"
    finally:
        for s in [slow, *idle]:
            s.close()


def test_item17_connections_per_address_are_limited(site, users):
    socks = []
    try:
        for _ in range(300):
            socks.append(socket.create_connection(("127.0.0.1", site.ronda.port)))
        time.sleep(1)
        refused = sum(1 for s in socks if _closed(s, 0.05) is not None)
        assert refused >= 300 - 256, f"only {refused} of 300 connections refused"
    finally:
        for s in socks:
            s.close()
    wait_for(lambda: site.ronda.anon("GET", "/api/v1/health").status_code == 200, 10, what="health after the burst")
