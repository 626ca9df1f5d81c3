"""End to end: a camera goes offline in the simulator -> event -> default rule -> one alarm, seen live
by a permitted user's WebSocket (not by a user without rights to the camera), pushed to a phone
(Web Push, decrypted here with http_ece like a browser), e-mailed (aiosmtpd), published to MQTT
(a real mosquitto) and posted to a webhook (valid HMAC). The camera comes back -> the same alarm is
updated, not duplicated."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from email import message_from_bytes

import http_ece
import pytest
from aiosmtpd.controller import Controller
from websockets.sync.client import connect

from ronda.devices.simcontrol import SimulatorProcess
from ronda.events.notify.webhook import verify_signature
from tests.events.test_notify import Broker, HttpPeer, Inbox, Subscriber, browser_subscription
from tests.helpers import PW, Client, RondaProcess, camera_ids, catalog, free_port, wait_for, write_config

WEBHOOK_SECRET = "e2e-webhook-secret-0123456789"  # noqa: S105


class Socket:
    """A WebSocket client of /api/v1/ws collecting messages in a thread."""

    def __init__(self, ronda: RondaProcess, client: Client) -> None:
        ticket = client.req("POST", "/api/v1/ws-ticket").json()["ticket"]
        self.ws = connect(f"ws://127.0.0.1:{ronda.port}/api/v1/ws?ticket={ticket}", open_timeout=10).__enter__()
        self.messages: list[dict] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            while True:
                self.messages.append(json.loads(self.ws.recv()))
        except Exception:
            return

    def alarms(self, camera: int) -> list[dict]:
        return [m for m in self.messages if m["kind"] == "alarm" and camera in m["alarm"]["cameras"]]

    def close(self) -> None:
        self.ws.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("e2e")
    stack = []
    sim = SimulatorProcess(cameras=1, log_dir=base).start()
    stack.append(sim.close)
    broker = Broker(base)
    broker.start()
    stack.append(broker.stop)
    inbox = Inbox()
    smtp_port = free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    stack.append(smtp.stop)
    push, hook = HttpPeer([201]), HttpPeer([200])
    servers = [push.serve(), hook.serve()]
    for srv, _ in servers:
        stack.append(srv.shutdown)
    port = free_port()
    cfg = write_config(
        base / "data", port, [{"name": "Piazza", "main": {"url": sim.url("cam1", sub=True)}}],
        site={"name": "San Lucido"},
        events={"smtp": {"host": "127.0.0.1", "port": smtp_port, "sender": "ronda@sanlucido.example"},
                "mqtt": {"host": "127.0.0.1", "port": broker.port}, "public_url": "https://vms.sanlucido.example",
                "webpush_allow_private_endpoints": True, "allowed_destinations": ["127.0.0.1/32"],
                "notify_limit": 3, "notify_window_seconds": 5,
                "sensors": {"bin-7": {"name": "Smart bin, via Roma", "cameras": [1], "type": "sensor.bin_full"}}},
    )  # fmt: skip
    ronda = RondaProcess(cfg, base / "ronda.log", port)
    ronda.start()
    stack.append(ronda.close)
    try:
        # a user without rights to any camera
        subprocess.run([sys.executable, "-m", "ronda.cli", "user", "add", "blind", "--role", "viewer", "--config",
                        str(cfg)], env={"RONDA_PASSWORD": PW, "PATH": "/usr/bin:/bin"}, check=True,
                       capture_output=True, timeout=60)  # fmt: skip
        cam = camera_ids(base / "data")["Piazza"]
        wait_for(lambda: catalog(base / "data", cam)[0], 40, what="Piazza recording")
        yield {"sim": sim, "ronda": ronda, "cam": cam, "inbox": inbox, "push": push, "hook": hook,
               "push_port": servers[0][1], "hook_port": servers[1][1], "broker": broker, "config": cfg}  # fmt: skip
    finally:
        for stop in reversed(stack):
            try:
                stop()
            except Exception:
                pass


def test_camera_offline_alarm_reaches_everyone_once(world):
    ronda, cam = world["ronda"], world["cam"]
    site = type("S", (), {"ronda": ronda})()
    admin, blind = Client(site, "admin", "admin-test-pw"), Client(site, "blind")
    # the administrator's phone subscribes to Web Push; e-mail in its preferences
    sub, browser_key, auth = browser_subscription(f"http://127.0.0.1:{world['push_port']}/push/phone-1")
    assert admin.req("GET", "/api/v1/notifications/vapid-public-key").json()["key"]
    assert admin.req("POST", "/api/v1/notifications/push-subscriptions", json=sub).status_code == 201
    r = admin.req("PUT", "/api/v1/notifications/prefs", json={"channels": ["webpush", "email"],
                                                               "email": "duty@sanlucido.example"})  # fmt: skip
    assert r.status_code == 200, r.text
    # a rule calling a webhook when a camera goes offline
    hook_url = f"http://127.0.0.1:{world['hook_port']}/ronda"
    r = admin.req("POST", "/api/v1/rules", json={
        "name": "Offline to the control room system", "trigger": {"types": ["camera.offline"]},
        "actions": [{"type": "webhook", "url": hook_url, "secret": WEBHOOK_SECRET}],
    })  # fmt: skip
    assert r.status_code == 201, r.text
    mqtt = Subscriber(world["broker"].port, "e2e-test", persistent=False)
    ws_admin, ws_blind = Socket(ronda, admin), Socket(ronda, blind)
    try:
        world["sim"].stop_camera("cam1")
        t0 = time.monotonic()
        msg = wait_for(lambda: ws_admin.alarms(cam), 30, interval=0.05, what="the alarm on the admin's WebSocket")[0]
        print(f"camera stopped -> alarm on WebSocket: {time.monotonic() - t0:.2f} s")
        alarm = msg["alarm"]
        assert msg["change"] == "created" and alarm["priority"] == "high" and "Piazza" in alarm["title"]
        aid = alarm["id"]

        # Web Push: decrypt like the browser would
        # Only this phone's deliveries: other tests of the module push to phones of their own.
        def phone() -> list:
            return [r for r in list(world["push"].requests) if r.path == "/push/phone-1"]

        wait_for(phone, 15, interval=0.1, what="a Web Push delivery")
        req = phone()[0]
        assert req.headers["content-encoding"] == "aes128gcm"
        assert req.headers["authorization"].startswith("vapid t=")
        plain = http_ece.decrypt(req.body, private_key=browser_key, auth_secret=auth, version="aes128gcm")
        pushed = json.loads(plain)
        assert pushed["alarm_id"] == aid and pushed["url"].endswith(f"/alarms/{aid}"), pushed

        # e-mail
        wait_for(lambda: world["inbox"].messages, 15, interval=0.1, what="an alarm e-mail")
        _, rcpt, raw = world["inbox"].messages[0]
        mail = message_from_bytes(raw)
        assert rcpt == ["duty@sanlucido.example"] and "Piazza" in mail["Subject"]
        assert f"https://vms.sanlucido.example/#/alarms/{aid}" in raw.decode(errors="replace")

        # MQTT: the alarm's retained state and the camera's ON flag
        topic = f"ronda/san-lucido/alarms/{aid}"
        wait_for(lambda: topic in mqtt.topics(), 15, interval=0.1, what=f"MQTT {topic}")
        payload = json.loads([p for t, p, _ in mqtt.messages if t == topic][0])
        assert payload["id"] == aid
        wait_for(lambda: (f"ronda/san-lucido/camera/{cam}/alarm", b"ON") in [(t, p) for t, p, _ in mqtt.messages],
                 10, what="camera alarm ON")  # fmt: skip

        # webhook with a valid signature
        wait_for(lambda: world["hook"].requests, 15, interval=0.1, what="the webhook")
        h = world["hook"].requests[0]
        assert verify_signature(WEBHOOK_SECRET, h.headers["x-ronda-timestamp"], h.body, h.headers["x-ronda-signature"])
        assert json.loads(h.body)["event"]["type"] == "camera.offline"
        assert not verify_signature("wrong-secret-wrong-secret", h.headers["x-ronda-timestamp"], h.body,
                                    h.headers["x-ronda-signature"])  # fmt: skip

        # the user without rights to the camera saw nothing of it
        assert not ws_blind.alarms(cam)
        assert blind.req("GET", f"/api/v1/alarms/{aid}").status_code == 404

        # camera back: the same alarm is updated, not a second one
        world["sim"].start_camera("cam1")

        def back_online():
            history = [e["text"] for e in admin.req("GET", f"/api/v1/alarms/{aid}").json()["history"]]
            return "camera.online" in history

        wait_for(back_online, 40, interval=0.3, what="the alarm updated with camera.online")
        assert [m for m in ws_admin.alarms(cam) if m["change"] == "updated"]
        alarms = [a for a in admin.req("GET", f"/api/v1/alarms?camera={cam}").json() if a["rule"] == alarm["rule"]]
        assert len(alarms) == 1 and alarms[0]["event_count"] >= 2, alarms
        assert len(phone()) == 1, "the update must not notify again"
    finally:
        mqtt.close()
        ws_admin.close()
        ws_blind.close()


def test_mqtt_sensor_ingest_and_junk(world):
    """A smart bin reports over MQTT: the event is stored with the bin's camera; junk is counted and
    dropped, and the bus goes on."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    site = type("S", (), {"ronda": world["ronda"]})()
    admin = Client(site, "admin", "admin-test-pw")
    before = admin.req("GET", "/api/v1/events/stats").json()
    pub = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="bin-7-gateway")
    pub.connect("127.0.0.1", world["broker"].port)
    pub.loop_start()
    try:
        base = "ronda/san-lucido/ingest"
        for topic, body in [
            (f"{base}/bin-7", b'{"text": "bin full", "severity": "warning", "uid": "r-1"}'),
            (f"{base}/bin-7", b"\xff\xfe not json"),
            (f"{base}/bin-7", b'["a list"]'),
            (f"{base}/bin-7", b'{"type": "BAD TYPE"}'),
            (f"{base}/no-such-sensor", b'{"text": "x"}'),
            (f"{base}/bin-7", b'{"text": "bin full", "uid": "r-1"}'),  # a resend: ignored
        ]:
            pub.publish(topic, body, qos=1).wait_for_publish(5)
    finally:
        pub.loop_stop()
        pub.disconnect()

    def stored():
        return admin.req("GET", "/api/v1/events?type=sensor.bin_full").json()

    events = wait_for(stored, 10, interval=0.2, what="the bin event")
    time.sleep(1)
    events = stored()
    assert len(events) == 1, events
    assert events[0]["cameras"] == [world["cam"]] and events[0]["source"] == "external"
    assert events[0]["payload"]["sensor"] == "bin-7" and events[0]["text"] == "bin full"
    after = admin.req("GET", "/api/v1/events/stats").json()
    assert after["rejected_mqtt"] - before["rejected_mqtt"] == 4, after
    assert admin.req("GET", "/api/v1/health").json()["status"] in ("ok", "degraded")


def test_a_flood_of_alarms_is_limited_and_summed_up(world):
    """Six alarms within the rate-limit window (3 per 5 s here): three pushes at once, then one push
    summing up the three held back when the window ends, decrypted like the phone would."""
    ronda, cam = world["ronda"], world["cam"]
    admin = Client(type("S", (), {"ronda": ronda})(), "admin", "admin-test-pw")
    # The limit is per user: an administrator of its own whose window no other test has used (the
    # offline alarm of the first test was pushed to "admin" maybe a moment ago).
    subprocess.run([sys.executable, "-m", "ronda.cli", "user", "add", "flood", "--role", "administrator", "--config",
                    str(world["config"])], env={"RONDA_PASSWORD": PW, "PATH": "/usr/bin:/bin"}, check=True,
                   capture_output=True, timeout=60)  # fmt: skip
    flood = Client(type("S", (), {"ronda": ronda})(), "flood")
    sub, browser_key, auth = browser_subscription(f"http://127.0.0.1:{world['push_port']}/push/phone-2")
    assert flood.req("POST", "/api/v1/notifications/push-subscriptions", json=sub).status_code == 201
    r = admin.req("POST", "/api/v1/rules", json={
        "name": "Bins overflowing", "trigger": {"types": ["sensor.flood_test"]},
        "actions": [{"type": "raise_alarm", "title": "Bin full: {text}", "incident": "{rule}:{text}",
                     "notify": ["webpush"], "notify_roles": ["administrator"]}],
    })  # fmt: skip
    assert r.status_code == 201, r.text

    def pushes() -> list[dict]:
        out = []
        for req in list(world["push"].requests):
            if req.path == "/push/phone-2":
                plain = http_ece.decrypt(req.body, private_key=browser_key, auth_secret=auth, version="aes128gcm")
                out.append(json.loads(plain))
        return out

    events = [{"type": "sensor.flood_test", "camera": cam, "text": f"bin {i}"} for i in range(1, 7)]
    assert admin.req("POST", "/api/v1/events", json=events).status_code == 202
    first = wait_for(lambda: len(pushes()) >= 3 and pushes(), 15, interval=0.1, what="the first three pushes")
    assert sorted(p["title"] for p in first) == ["Bin full: bin 1", "Bin full: bin 2", "Bin full: bin 3"], first
    time.sleep(1.0)
    assert len(pushes()) == 3, "the rest are held until the window ends"
    summary = wait_for(lambda: len(pushes()) >= 4 and pushes()[3], 10, interval=0.2, what="the summary push")
    assert summary["alarm_id"] is None and summary["title"] == "3 more alarms", summary
    assert summary["url"].endswith("/alarms"), summary
    alarms = [a for a in admin.req("GET", f"/api/v1/alarms?camera={cam}").json() if a["title"].startswith("Bin full")]
    assert len(alarms) == 6, "every alarm exists; only the notifications were limited"
    time.sleep(1.5)
    assert len(pushes()) == 4, "one summary, no repeat"
