"""Start and drive the camera simulator (:mod:`ronda.devices.simulator`) from tests and ``ronda demo``.

Example::

    with SimulatorProcess(cameras=4, log_dir=tmp_path) as sim:
        url = sim.url("cam1")                 # rtsp://127.0.0.1:PORT/cam1
        sim.stall_camera("cam2")
        sim.cameras()["cam2"]["state"]        # "stalled"
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from ronda.devices.simulator import SECURE_PASSWORD, SECURE_USER

__all__ = ["SECURE_PASSWORD", "SECURE_USER", "SimulatorError", "SimulatorProcess", "free_port"]

_PR_SET_PDEATHSIG = 1


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now (the usual small race applies)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class SimulatorError(RuntimeError):
    pass


class SimulatorProcess:
    """The simulator as a child process (dies with its parent thread through ``PR_SET_PDEATHSIG``).

    ``start_timeout`` covers the first-run clip encoding (~2 s per camera on 2 cores); later starts take
    about a second.  Logs go to ``<log_dir>/simulator.log`` when ``log_dir`` is given, else are discarded.
    """

    def __init__(
        self,
        cameras: int = 4,
        *,
        rtsp_port: int | None = None,
        control_port: int | None = None,
        cache_dir: Path | str | None = None,
        log_dir: Path | str | None = None,
        host: str = "127.0.0.1",
        start_timeout: float = 300.0,
        env: dict[str, str] | None = None,
        onvif: bool = False,
        onvif_port: int | None = None,
        discovery_port: int = 0,
        dome: bool = False,
        clock_offsets: dict[int, float] | None = None,
        clips: Mapping[int, Path | str] | None = None,
    ) -> None:
        """``onvif``: every camN is also an ONVIF device (:meth:`onvif_url`); ``discovery_port``: answer
        WS-Discovery probes there (3702 for multicast clients, 0: off); ``dome``: cam1 is the PTZ dome;
        ``clock_offsets``: camera number -> seconds its ONVIF clock runs ahead; ``clips``: camera number ->
        a video file it serves looped (``--clip K=FILE``; :meth:`clip_info` places it on the wall clock)."""
        self.cameras_count = cameras
        self.host = host
        self.rtsp_port = rtsp_port or free_port(host)
        self.control_port = control_port or free_port(host)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.log_path = Path(log_dir) / "simulator.log" if log_dir is not None else None
        self.start_timeout = start_timeout
        self.env = env
        self.onvif_port = (onvif_port or free_port(host)) if onvif else None
        self.discovery_port = discovery_port
        self.dome = dome
        self.clock_offsets = dict(clock_offsets or {})
        self.clips = {int(k): Path(v) for k, v in (clips or {}).items()}
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def control_url(self) -> str:
        return f"http://{self.host}:{self.control_port}"

    def start(self) -> SimulatorProcess:
        if self.proc is not None:
            raise SimulatorError("simulator already started")
        argv = [
            sys.executable, "-m", "ronda.devices.simulator",
            "--cameras", str(self.cameras_count),
            "--rtsp-port", str(self.rtsp_port),
            "--control-port", str(self.control_port),
            "--host", self.host,
        ]  # fmt: skip
        if self.cache_dir is not None:
            argv += ["--cache", str(self.cache_dir)]
        if self.onvif_port is not None:
            argv += ["--onvif-port", str(self.onvif_port), "--discovery-port", str(self.discovery_port)]
        if not self.dome:
            argv.append("--no-dome")
        for number, seconds in self.clock_offsets.items():
            argv += ["--clock-offset", f"{number}={seconds}"]
        for number, path in self.clips.items():
            argv += ["--clip", f"{number}={path}"]
        out: IO[bytes] | int = subprocess.DEVNULL
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self.log_path, "ab")
            out = self._log
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
            preexec_fn=_die_with_parent,
        )  # fmt: skip
        try:
            self._wait_ready()
        except BaseException:
            self.close()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.start_timeout
        while True:
            rc = self.proc.poll()
            if rc is not None:
                reason = self._error_line()
                if reason is not None:  # the simulator said what is wrong (e.g. a missing GStreamer element)
                    where = f" (log: {self.log_path})" if self.log_path is not None else ""
                    raise SimulatorError(f"the camera simulator did not start: {reason}{where}")
                raise SimulatorError(f"simulator exited with code {rc} during start{self._log_tail()}")
            if self._port_open(self.rtsp_port):
                try:
                    if self._request("GET", "/health", timeout=2).get("ok"):
                        return
                except (OSError, ValueError):
                    pass
            if time.monotonic() > deadline:
                raise SimulatorError(
                    f"simulator not ready after {self.start_timeout:.0f} s "
                    f"(rtsp {self.host}:{self.rtsp_port}, control {self.control_url}){self._log_tail()}"
                )
            time.sleep(0.1)

    def _port_open(self, port: int) -> bool:
        try:
            with socket.create_connection((self.host, port), timeout=0.5):
                return True
        except OSError:
            return False

    def _error_line(self) -> str | None:
        """The simulator's own one-line error (``simulator: error: ...``) from its log, if any."""
        if self.log_path is None:
            return None
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return None
        errors = [line.split("simulator: error:", 1)[1].strip() for line in lines if "simulator: error:" in line]
        return errors[-1] if errors else None

    def _log_tail(self, lines: int = 30) -> str:
        if self.log_path is None:
            return " (no log: pass log_dir to SimulatorProcess)"
        try:
            text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return f"\n--- {self.log_path} (tail) ---\n" + "\n".join(text)

    def close(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; waits for the process."""
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> SimulatorProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ URLs

    def url(self, name: str, sub: bool = False, user: str | None = None, password: str | None = None) -> str:
        """RTSP URL of camera ``name`` (``cam1``.., ``hevc``, ``audio``, ``secure``, ``clock``, ``clock25``).

        Credentials are percent-encoded into the URL.
        """
        path = f"/{name}/sub" if sub else f"/{name}"
        if sub and not name.startswith("cam"):
            raise ValueError(f"{name} has no sub-stream")
        auth = ""
        if user is not None:
            auth = urllib.parse.quote(user, safe="")
            if password is not None:
                auth += ":" + urllib.parse.quote(password, safe="")
            auth += "@"
        return f"rtsp://{auth}{self.host}:{self.rtsp_port}{path}"

    # ------------------------------------------------------------------ control

    def _request(self, method: str, path: str, timeout: float = 10.0, body: Any = None) -> Any:
        data = (b"" if body is None else json.dumps(body).encode()) if method == "POST" else None
        req = urllib.request.Request(self.control_url + path, method=method, data=data)  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310  (http://host:port)
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace")
            raise SimulatorError(f"{method} {path}: HTTP {exc.code} {body}") from None

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/health")

    def cameras(self) -> dict[str, Any]:
        """``{"cam1": {"state": "running", "sessions": {"main": 1, "sub": 0}, ...}, ...}``"""
        return self._request("GET", "/cameras")

    def camera(self, name: str) -> dict[str, Any]:
        return self._request("GET", f"/cameras/{name}")

    def stop_camera(self, name: str) -> None:
        """Power the camera off: its RTSP connections are closed and new requests get RTSP 404."""
        self._request("POST", f"/cameras/{name}/stop")

    def stall_camera(self, name: str) -> None:
        """Connections stay open but no more media (nor RTCP) is sent."""
        self._request("POST", f"/cameras/{name}/stall")

    def start_camera(self, name: str) -> None:
        """Back to normal after stop or stall (calls off a reboot under way)."""
        self._request("POST", f"/cameras/{name}/start")

    def reboot_camera(self, name: str, seconds: float, new_paths: bool = True) -> dict[str, Any]:
        """Power the camera off now and on after ``seconds``; with ``new_paths`` it comes back serving its
        streams at new mount paths (``/cam1-b``, ``/cam1-b/sub``; different at every such reboot), which its
        ONVIF profiles give from then on; the old paths answer 404. :meth:`stream_path` reads the current
        ones."""
        return self._request("POST", f"/cameras/{name}/reboot", body={"seconds": seconds, "new_paths": new_paths})

    def stream_path(self, name: str, kind: str = "main") -> str:
        """The mount path camera ``name``'s ``kind`` stream is served at now (it moves at a reboot with
        new paths)."""
        return str(self.camera(name)["paths"][kind])

    # ------------------------------------------------------------------ ONVIF

    def onvif_url(self, number: int) -> str:
        """Device service of camera ``number`` (needs ``onvif=True``)."""
        if self.onvif_port is None:
            raise SimulatorError("ONVIF is not served: SimulatorProcess(onvif=True)")
        return f"http://{self.host}:{self.onvif_port}/onvif/{number}/device_service"

    def raise_event(self, name: str, kind: str, state: bool | None = True) -> dict[str, Any]:
        """``kind`` ``tamper`` or ``input`` on/off, or ``motion`` forced on/off (None: follow the clip)."""
        return self._request("POST", f"/cameras/{name}/{kind}", body={"state": state})

    def set_clock_offset(self, name: str, seconds: float) -> None:
        """The camera's ONVIF clock runs ``seconds`` ahead of the host's from now on."""
        self._request("POST", f"/cameras/{name}/clock", body={"offset": seconds})

    def ptz_position(self, name: str = "cam1") -> dict[str, Any]:
        """``{"pan", "tilt", "zoom", "moving"}`` of the dome."""
        return self._request("GET", f"/cameras/{name}/ptz")

    # ------------------------------------------------------------------ clips

    def clip_info(self, name: str) -> dict[str, Any]:
        """Where a ``clips`` camera's clip is on the wall clock: ``{"frames", "fps", "epoch_ms", "loop_ms",
        "loop_starts_ms", "width", "height", ...}``; frame f of loop L is sent at
        ``epoch_ms + (L * frames + f) * 1000 / fps`` (:func:`ronda.devices.simclip.frame_time_ms`)."""
        return self._request("GET", f"/cameras/{name}/clip")
