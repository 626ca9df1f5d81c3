"""The HTTP side of the simulated ONVIF devices: one port, camera K under ``/onvif/K/``.

- ``POST /onvif/K/device_service``, ``media_service``, ``ptz_service`` (domes), ``events_service``,
  ``events/subscription/ID``: SOAP 1.2
- ``GET /onvif/K/snapshot.jpg``: a JPEG of the camera's picture now (HTTP Digest)

Every operation but the few ONVIF allows before authentication needs a WS-UsernameToken
(PasswordDigest) or HTTP Digest; credentials that are given are always checked. A powered-off camera
(control port ``stop``) closes the connection without an answer.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ronda.devices.onvif_sim import device, media, ptz
from ronda.devices.onvif_sim.auth import Credentials
from ronda.devices.onvif_sim.events import EventHub
from ronda.devices.onvif_sim.model import Endpoint, SimCamera, dispatch
from ronda.devices.onvif_sim.soap import MAX_BODY, SoapFault, envelope, fault, parse

_PATH = re.compile(
    r"^/onvif/(\d+)/(device_service|media_service|ptz_service|events_service|events/subscription/(\d+)|snapshot\.jpg)$"
)
SNAPSHOT_TTL = 1.0  # s: snapshots asked within this time share one grab


class Snapshots:
    """Grabs one frame of a camera's main stream with ffmpeg and encodes it as JPEG (cached briefly)."""

    def __init__(self, ep: Endpoint) -> None:
        self.ep = ep
        self._cache: dict[int, tuple[float, bytes]] = {}
        self._locks: dict[int, threading.Lock] = {}

    def get(self, cam: SimCamera) -> bytes:
        lock = self._locks.setdefault(cam.number, threading.Lock())
        with lock:
            hit = self._cache.get(cam.number)
            if hit is not None and time.monotonic() - hit[0] < SNAPSHOT_TTL:
                return hit[1]
            url = self.ep.rtsp(cam.profiles[0].path)
            cmd = ["ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-i", url]
            cmd += ["-frames:v", "1", "-q:v", "4", "-f", "image2", "-c:v", "mjpeg", "pipe:1"]
            res = subprocess.run(cmd, capture_output=True, timeout=15, check=False)
            if res.returncode != 0 or not res.stdout.startswith(b"\xff\xd8"):
                raise OSError(f"no picture from {url}: {res.stderr.decode(errors='replace').strip()[-200:]}")
            self._cache[cam.number] = (time.monotonic(), res.stdout)
            return res.stdout


class OnvifServer:
    def __init__(self, cameras: list[SimCamera], ep: Endpoint, credentials: Credentials) -> None:
        self.cameras = {c.number: c for c in cameras}
        self.ep = ep
        self.credentials = credentials
        self.hub = EventHub()
        self.snapshots = Snapshots(ep)
        self.httpd = ThreadingHTTPServer((ep.host, ep.onvif_port), _make_handler(self))
        self.httpd.daemon_threads = True
        self.ep.onvif_port = self.httpd.server_address[1]
        self._stop = threading.Event()

    def start(self) -> OnvifServer:
        threading.Thread(target=self.httpd.serve_forever, name="sim-onvif", daemon=True).start()
        threading.Thread(target=self._poll_events, name="sim-onvif-events", daemon=True).start()
        return self

    def _poll_events(self) -> None:
        while not self._stop.wait(0.5):
            for cam in self.cameras.values():
                if cam.online():
                    self.hub.poll(cam)

    def close(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def online(self) -> list[SimCamera]:
        return [c for c in self.cameras.values() if c.online()]

    def command(self, cam: SimCamera, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A control-port command: ``tamper``/``input``/``motion`` ``{"state": bool}`` (motion: null
        follows the clip again), ``clock`` ``{"offset": seconds}``. Raises ValueError on bad input."""
        if action == "clock":
            offset = payload.get("offset")
            if not isinstance(offset, int | float) or isinstance(offset, bool) or abs(offset) > 10 * 365 * 86400:
                raise ValueError('clock needs {"offset": seconds}')
            cam.clock_offset = float(offset)
            return {"name": cam.name, "clock_offset": cam.clock_offset}
        state = payload.get("state")
        if action == "motion" and state is None:
            cam.motion_forced = None
            self.hub.poll(cam)
            return {"name": cam.name, "motion": cam.motion(), "forced": False}
        if not isinstance(state, bool):
            raise ValueError(f'{action} needs {{"state": true|false}}')
        self.hub.set(cam, action, state)
        return {"name": cam.name, action: state}

    # ------------------------------------------------------------------ one request

    def soap(
        self, cam: SimCamera, service: str, sub_id: str | None, body: bytes, auth_header: str | None, path: str
    ) -> bytes:
        """The response envelope; raises :class:`SoapFault` (its ``status`` is the HTTP status)."""
        req = parse(body)
        by_ws = self.credentials.check_ws(req, cam.now())
        by_digest = self.credentials.check_digest(auth_header, "POST", path)
        if not (by_ws or by_digest) and not (service == "device_service" and req.action in device.PRE_AUTH):
            raise SoapFault("ter:NotAuthorized", "authentication needed (WS-UsernameToken or HTTP Digest)", status=401)
        if sub_id is not None:
            return envelope(self.hub.subscription_call(cam, sub_id, req))
        handlers: dict[str, Callable[[SimCamera, Endpoint, Any], str]] = {
            "device_service": lambda c, e, r: dispatch(device.HANDLERS, c, e, r),
            "media_service": lambda c, e, r: dispatch(media.HANDLERS, c, e, r),
            "ptz_service": lambda c, e, r: dispatch(ptz.HANDLERS, c, e, r),
            "events_service": lambda c, e, r: self.hub.service_call(c, e, r),
        }
        if service == "ptz_service" and cam.dome is None:
            raise SoapFault("ter:ActionNotSupported", "this camera has no PTZ service", code="env:Receiver", status=404)
        return envelope(handlers[service](cam, self.ep, req))


def _make_handler(server: OnvifServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "RondaSimOnvif/1"
        protocol_version = "HTTP/1.1"
        # The headers and the body go out in two writes: with Nagle's algorithm the body waits for the
        # client's (delayed, up to 40 ms) acknowledgement of the headers on a kept connection.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _camera(self) -> tuple[SimCamera, re.Match[str]] | None:
            m = _PATH.match(self.path.split("?", 1)[0])
            cam = server.cameras.get(int(m.group(1))) if m else None
            if m is None or cam is None:
                self.close_connection = True
                self._reply(404, b"not found\n", "text/plain")
                return None
            if not cam.online():
                self.close_connection = True  # powered off: no answer at all
                return None
            return cam, m

        def do_POST(self) -> None:
            found = self._camera()
            if found is None:
                return
            cam, m = found
            soap_type = "application/soap+xml; charset=utf-8"
            try:
                length = int(self.headers.get("Content-Length") or "0")
            except ValueError:
                length = -1
            if length < 0 or length > MAX_BODY:
                self.close_connection = True
                exc = SoapFault("ter:WellFormed", f"request body missing or larger than {MAX_BODY} bytes", status=413)
                self._reply(exc.status, fault(exc), soap_type)
                return
            body = self.rfile.read(length)
            service = "events_service" if m.group(3) else m.group(2)
            try:
                out = server.soap(cam, service, m.group(3), body, self.headers.get("Authorization"), self.path)
            except SoapFault as exc:
                extra = {"WWW-Authenticate": server.credentials.challenge()} if exc.status == 401 else None
                # ONVIF: a Sender fault is HTTP 400, a Receiver fault 500
                status = 500 if exc.status == 400 and exc.code == "env:Receiver" else exc.status
                self._reply(status, fault(exc), soap_type, extra)
                return
            self._reply(200, out, soap_type)

        def do_GET(self) -> None:
            found = self._camera()
            if found is None:
                return
            cam, m = found
            if m.group(2) != "snapshot.jpg":
                self._reply(405, b"POST SOAP here\n", "text/plain")
                return
            try:
                ok = server.credentials.check_digest(self.headers.get("Authorization"), "GET", self.path)
            except SoapFault:
                ok = False
            if not ok:
                challenge = {"WWW-Authenticate": server.credentials.challenge()}
                self._reply(401, b"authentication required\n", "text/plain", challenge)
                return
            try:
                jpeg = server.snapshots.get(cam)
            except (OSError, subprocess.TimeoutExpired) as exc:
                self._reply(503, f"{exc}\n".encode(), "text/plain")
                return
            self._reply(200, jpeg, "image/jpeg")

    return Handler
