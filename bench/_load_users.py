"""The load generator of bench/load.py: N operators as locust users (headless, as a library), one run.

Started by bench/load.py in its own process (locust's gevent monkey-patching stays out of the
orchestrator); writes its figures as one JSON file. Each operator (user ``opNNN``, its own login):

- at start: logs in, lists its cameras, opens the events WebSocket (``POST /ws-ticket`` then
  ``/api/v1/ws``) as the web client does, and a 4-tile live grid: per tile ``GET /cameras/{id}/live
  ?view=grid`` (the sub-stream) and its low-latency WebSocket ``/media/{id}/live.ws`` (fMP4 fragments);
- then, between think times (1-5 s): lists cameras (weight 3), asks the timeline of its four cameras over the
  last 10 minutes (2), acks an alarm (1: ``GET /alarms?state=open`` and ``POST /alarms/{id}/take``,
  an alarm of its cameras when there is one), switches its grid to the next four cameras (1).

Frame delay (ms), per live socket: each fragment's arrival time minus the end of its last frame on the
stream's continuous timeline (``tfdt`` + the run's duration), less the smallest such difference on the
same socket: how much later than the socket's most punctual fragment it came. It measures the delay
the server adds under load (queueing, a busy event loop), not the camera-to-screen latency. The
burst of fragments sent when a socket opens (from the newest keyframe on) is left out: the first
``SKIP_S`` seconds of each socket.

    python bench/_load_users.py --host http://127.0.0.1:P --users N --spawn-rate R --seconds S
                                --password PW --out FILE.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

from gevent import monkey

monkey.patch_all()

import gevent  # noqa: E402
import websocket  # noqa: E402  (websocket-client, a locust dependency)
from locust import FastHttpUser, between, events, task  # noqa: E402
from locust.env import Environment  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ronda.recording import boxes, fmp4  # noqa: E402

SKIP_S = 1.5  # the opening burst of a live socket (from the newest keyframe on)
TILES = 4
DEFLATE_OFFER = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"  # what Chromium sends
PASSWORD = ""  # set by main()
_numbers = itertools.count(1)

steady = False  # all operators started: request times count from then on (logins: from the start)
# Filled by the users, read by main() at the end (one process, greenlets only: no locking needed).
latencies: dict[str, list[float]] = {}  # request name -> response times (ms), successes only
failures: dict[str, int] = {}
frame_delays: list[float] = []
ws_stats = {
    "frames": 0,
    "sockets": 0,
    "errors": 0,
    "max_gap_ms": 0.0,
    "alarm_messages": 0,
    "acks": 0,
    "ready": 0,
    "cut": 0,
}
error_samples: list[str] = []


@events.request.add_listener
def _on_request(name: str, response_time: float, exception: Exception | None, **_: Any) -> None:
    if exception is None:
        if not steady and name != "login":
            return
        latencies.setdefault(name, []).append(response_time)
    else:
        failures[name] = failures.get(name, 0) + 1
        if len(error_samples) < 20:
            error_samples.append(f"{name}: {exception!r}"[:300])


def ws_error(what: str) -> None:
    ws_stats["errors"] += 1
    if len(error_samples) < 20:
        error_samples.append(what[:300])


def fragment_starts(data: bytes) -> list[int]:
    """Where each fragment (moof) of a live message starts: one, or several back to back."""
    starts, pos = [], 0
    for kind, _payload, end in boxes.iter_boxes(data):
        if kind == b"moof":
            starts.append(pos)
        pos = end
    if not starts:
        raise ValueError("a live message without a moof")
    return starts


class LiveTile:
    """One tile's low-latency WebSocket, read by its own greenlet."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.closing = False
        self.sock: websocket.WebSocket | None = None
        self.reader = gevent.spawn(self._run)

    def _run(self) -> None:
        t0 = time.monotonic()
        try:
            # Offers permessage-deflate as browsers do: a server that took it would deflate every fragment
            # for every viewer (websocket-client cannot inflate, so that shows here as socket errors).
            self.sock = websocket.create_connection(self.url, timeout=15, suppress_origin=True, header=[DEFLATE_OFFER])
        except Exception as e:  # noqa: BLE001 - any failure to open is an error of the run
            ws_error(f"live ws open {self.url.split('?')[0]}: {e!r}")
            return
        events.request.fire(request_type="WS", name="live ws open", response_time=(time.monotonic() - t0) * 1000,
                            response_length=0, exception=None, context={})  # fmt: skip
        ws_stats["sockets"] += 1
        if self.closing:  # the grid was switched while this tile was still connecting
            self.sock.send_close()
        # A live socket stays open with a 15 s receive timeout: no fragment for that long is an error.
        init: fmp4.Init | None = None
        expect_init = False
        offsets: list[float] = []
        opened = last = time.monotonic()
        try:
            while True:
                opcode, data = self.sock.recv_data()
                now = time.monotonic()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005
                    if not self.closing:
                        ws_error(f"live ws closed by the server: {code} {data[2:].decode(errors='replace')}")
                    return
                if opcode == websocket.ABNF.OPCODE_TEXT:
                    expect_init = json.loads(data).get("type") == "init"
                    continue
                if expect_init:
                    init, expect_init = fmp4.parse_init(data), False
                    continue
                if init is None or init.video is None:
                    ws_error("live ws: a fragment before its initialisation section")
                    return
                # a message holds one fragment, or several back to back (the server sends a backlog so)
                starts = fragment_starts(data)
                run = fmp4.parse_moof(data[starts[-1] :], init).tracks[init.video.track_id]
                ws_stats["frames"] += len(starts)
                if now - opened >= SKIP_S:
                    ws_stats["max_gap_ms"] = max(ws_stats["max_gap_ms"], (now - last) * 1000)
                    # its last frame's end: a fragment cannot leave before its last frame was captured
                    offsets.append(now - (run.decode_time + run.duration) / init.video.timescale)
                last = now
        except Exception as e:  # noqa: BLE001
            if not self.closing:
                ws_error(f"live ws {self.url.split('?')[0]}: {e!r}")
        finally:
            if offsets:
                best = min(offsets)
                frame_delays.extend((o - best) * 1000 for o in offsets)

    def close(self) -> None:
        self.closing = True
        hang_up(self.sock, self.reader)


def hang_up(sock: websocket.WebSocket | None, reader: gevent.Greenlet) -> None:
    """A clean close: our close frame (a send: the reader greenlet may be in recv meanwhile), then the
    reader sees the server's close frame and ends; a socket that does not answer in 5 s is cut."""
    if sock is not None:
        try:
            sock.send_close()
        except Exception:  # noqa: BLE001, S110 - already gone: nothing to close
            pass
    reader.join(timeout=5)
    if not reader.dead:
        ws_stats["cut"] += 1
    if sock is not None:
        sock.abort()
        sock.shutdown()
    reader.kill()


class Operator(FastHttpUser):
    wait_time = between(1, 5)

    def on_start(self) -> None:
        self.n = next(_numbers)
        self.tiles: list[LiveTile] = []
        self.events_ws: websocket.WebSocket | None = None
        self.events_reader: gevent.Greenlet | None = None
        self.stopping = False
        self.grid_at = (self.n - 1) * TILES
        with self.client.post("/api/v1/auth/login", json={"username": f"op{self.n:03d}", "password": PASSWORD},
                              name="login", catch_response=True) as r:  # fmt: skip
            if r.status_code != 200:
                r.failure(f"login {r.status_code}")
                self.auth: dict[str, str] = {}
                self.cameras: list[int] = []
                ws_stats["ready"] += 1
                return  # its later requests fail too (401): all counted as errors
            self.auth = {"Authorization": "Bearer " + r.json()["access_token"]}
        self.cameras = self.list_cameras()
        self.open_events()
        self.open_grid()
        ws_stats["ready"] += 1

    def on_stop(self) -> None:
        self.stopping = True
        for tile in self.tiles:
            tile.close()
        self.tiles = []
        if self.events_reader is not None:
            hang_up(self.events_ws, self.events_reader)

    def list_cameras(self) -> list[int]:
        r = self.client.get("/api/v1/cameras", headers=self.auth, name="camera list")
        return sorted(c["id"] for c in r.json()) if r.status_code == 200 else []

    def grid_cameras(self) -> list[int]:
        n = len(self.cameras)
        if not n:
            return []
        return [self.cameras[(self.grid_at + i) % n] for i in range(min(TILES, n))]

    def open_grid(self) -> None:
        ws_base = "ws" + str(self.host).removeprefix("http")
        for cid in self.grid_cameras():
            r = self.client.get(f"/api/v1/cameras/{cid}/live?view=grid", headers=self.auth, name="live info")
            if r.status_code == 200:
                self.tiles.append(LiveTile(ws_base + r.json()["urls"]["ws"]))

    def open_events(self) -> None:
        r = self.client.post("/api/v1/ws-ticket", headers=self.auth, name="ws ticket")
        if r.status_code != 200:
            return
        url = "ws" + str(self.host).removeprefix("http") + "/api/v1/ws?ticket=" + r.json()["ticket"]
        try:
            self.events_ws = websocket.create_connection(url, timeout=15, suppress_origin=True)
        except Exception as e:  # noqa: BLE001
            ws_error(f"events ws open: {e!r}")
            return
        self.events_ws.settimeout(None)  # quiet for minutes when nothing happens: not an error
        self.events_reader = gevent.spawn(self._read_events, self.events_ws)

    def _read_events(self, sock: websocket.WebSocket) -> None:
        try:
            while True:
                opcode, data = sock.recv_data()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    if not self.stopping:
                        ws_error(f"events ws closed by the server: {data[:80]!r}")
                    return
                if opcode == websocket.ABNF.OPCODE_TEXT and b'"alarm"' in data:
                    ws_stats["alarm_messages"] += 1
        except Exception as e:  # noqa: BLE001
            if not self.stopping:
                ws_error(f"events ws: {e!r}")

    @task(3)
    def camera_list(self) -> None:
        self.list_cameras()

    @task(2)
    def timeline(self) -> None:
        end = time.time()
        iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
        cams = ",".join(str(c) for c in self.grid_cameras())
        self.client.get(f"/api/v1/timeline?cameras={cams}&start={iso(end - 600)}&end={iso(end)}",
                        headers=self.auth, name="timeline")  # fmt: skip

    @task(1)
    def ack_alarm(self) -> None:
        r = self.client.get("/api/v1/alarms?state=open", headers=self.auth, name="alarm list")
        if r.status_code != 200:
            return
        alarms = r.json()
        mine = [a for a in alarms if a.get("camera") in self.grid_cameras()] or alarms
        if not mine:
            return
        alarm = mine[self.n % len(mine)]
        with self.client.post(f"/api/v1/alarms/{alarm['id']}/take", headers=self.auth, json={"text": "on it"},
                              name="alarm ack", catch_response=True) as a:  # fmt: skip
            if a.status_code == 200:
                ws_stats["acks"] += 1
            else:
                a.failure(f"take {a.status_code}: {a.text[:100]}")

    @task(1)
    def switch_grid(self) -> None:
        for tile in self.tiles:
            tile.close()
        self.tiles = []
        self.grid_at += TILES
        self.open_grid()


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return round(v[lo] + (v[hi] - v[lo]) * (k - lo), 2)


def main() -> int:
    global PASSWORD, steady
    p = argparse.ArgumentParser()
    p.add_argument("--host", required=True)
    p.add_argument("--users", type=int, required=True)
    p.add_argument("--spawn-rate", type=float, default=2)
    p.add_argument("--seconds", type=float, required=True, help="after the last operator has started")
    p.add_argument("--password", required=True)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    PASSWORD = a.password
    env = Environment(user_classes=[Operator], host=a.host, events=events)
    runner = env.create_local_runner()
    t0 = time.monotonic()
    runner.start(a.users, spawn_rate=a.spawn_rate)
    ramp = a.users / a.spawn_rate
    shown = t0
    while ws_stats["ready"] < a.users or time.monotonic() < t0 + ramp:
        if time.monotonic() > t0 + ramp + 120:
            raise SystemExit(f"only {ws_stats['ready']} of {a.users} operators started within {ramp + 120:.0f} s")
        if time.monotonic() - shown >= 5:
            shown = time.monotonic()
            print(f"    starting: {ws_stats['ready']} of {a.users} operators in", file=sys.stderr, flush=True)
        gevent.sleep(0.5)
    steady = True
    end = time.monotonic() + a.seconds
    while (left := end - time.monotonic()) > 0:
        print(f"    {ws_stats['ready']} operators, {sum(map(len, latencies.values()))} requests, "
              f"{sum(failures.values()) + ws_stats['errors']} errors, {ws_stats['frames']} fragments; "
              f"{left:.0f} s left", file=sys.stderr, flush=True)  # fmt: skip
        gevent.sleep(min(10, left))
    runner.quit()  # stops the users (on_stop closes their sockets)
    gevent.sleep(0.5)
    requests = {
        name: {"count": len(v), "p50_ms": pct(v, 50), "p99_ms": pct(v, 99), "failures": failures.get(name, 0)}
        for name, v in sorted(latencies.items())
    }
    for name, n in failures.items():
        requests.setdefault(name, {"count": 0, "p50_ms": None, "p99_ms": None, "failures": n})
    doc = {
        "operators": a.users,
        "seconds": round(time.monotonic() - t0, 1),
        "requests": requests,
        "http_errors": sum(failures.values()),
        "ws_errors": ws_stats["errors"],
        "ws_frames": ws_stats["frames"],
        "ws_sockets": ws_stats["sockets"],
        "ws_p50_ms": pct(frame_delays, 50),
        "ws_p99_ms": pct(frame_delays, 99),
        "ws_max_gap_ms": round(ws_stats["max_gap_ms"], 1),
        "alarm_messages": ws_stats["alarm_messages"],
        "acks": ws_stats["acks"],
        "ws_cut": ws_stats["cut"],  # sockets that did not answer our close within 5 s
        "error_samples": error_samples,
    }
    a.out.write_text(json.dumps(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
