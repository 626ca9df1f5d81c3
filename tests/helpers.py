"""Test helpers: run the real ``ronda`` process, read its catalog, check coverage of a timeline."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import yaml

ADMIN = "admin"
ADMIN_PASSWORD = "admin-test-pw"  # noqa: S105


def iso(ms: int) -> str:
    """Epoch ms → ISO 8601 UTC with milliseconds, as the API speaks it."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def write_private(path: Path, data: bytes) -> None:
    """Write a file into a site's data directory as Ronda does: folders 700, files 600 (a test that
    puts files there must not make it look world-readable: tests/security, item 15)."""
    old = os.umask(0o077)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    finally:
        os.umask(old)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(data_dir: Path, port: int, cameras: list[dict[str, Any]], **extra: Any) -> Path:
    cfg: dict[str, Any] = {
        "data_dir": str(data_dir),
        "http": {"host": "127.0.0.1", "port": port},
        "recording": {"segment_seconds": 4, "stall_timeout_seconds": 5, "backoff_max_seconds": 4},
        "storage": {"check_interval_seconds": 2},
        "cameras": cameras,
        "log_level": "info",
        # No internet tiles in tests: the geographic map's test serves its own from loopback.
        "map": {"tile_url": None},
        # Analytics decodes every recorded camera: only the tests that are about it turn it on.
        "analytics": {"enabled": False},
    }
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k].update(v)
        else:
            cfg[k] = v
    path = data_dir.parent / f"{data_dir.name}.yaml"
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg))
    return path


class RondaProcess:
    """``ronda serve`` as a real child process (so tests can SIGTERM or kill -9 it)."""

    def __init__(self, config: Path, log: Path, port: int, role: str = "all") -> None:
        self.config = config
        self.log = log
        self.port = port
        self.role = role  # ronda serve --role (docs/cluster.md)
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = f"http://127.0.0.1:{port}"
        self.token: str | None = None
        self.env: dict[str, str] | None = None  # the server's environment (None: the tests' own)

    def prepare(self, check_user: bool = False) -> None:
        """The schema, and an administrator for the tests (exists already after a restart)."""
        subprocess.run(
            [sys.executable, "-m", "ronda.cli", "db", "upgrade", "--config", str(self.config)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [sys.executable, "-m", "ronda.cli", "user", "add", ADMIN, "--role", "administrator", "--config",
             str(self.config)],
            env={**os.environ, "RONDA_PASSWORD": ADMIN_PASSWORD}, capture_output=True, timeout=120, check=check_user,
        )  # fmt: skip

    def start(self, timeout: float = 30) -> None:
        self.prepare()
        self.token = None
        self.spawn(timeout)

    def spawn(self, timeout: float = 30, healthy: Callable[[int], bool] = lambda status: status == 200) -> None:
        """``ronda serve`` (with ``--role`` unless it is ``all``), until its health answers ``healthy``."""
        role = [] if self.role == "all" else ["--role", self.role]
        logf = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ronda.cli", "serve", "--config", str(self.config), *role],
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ronda exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if healthy(httpx.get(self.base + "/api/v1/health", timeout=1).status_code):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("ronda did not become healthy:\n" + self.log.read_text()[-3000:])

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def terminate(self, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        self.proc = None
        return rc

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)
        self.proc = None

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def login(self, username: str, password: str) -> str:
        r = httpx.post(self.base + "/api/v1/auth/login", json={"username": username, "password": password}, timeout=30)
        r.raise_for_status()
        return str(r.json()["access_token"])

    def api(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """A request as the test administrator (logs in on first use)."""
        extra = kw.pop("headers", {})
        for _ in range(2):
            if self.token is None:
                self.token = self.login(ADMIN, ADMIN_PASSWORD)
            r = httpx.request(method, self.base + path, timeout=30,
                              headers={"Authorization": f"Bearer {self.token}", **extra}, **kw)  # fmt: skip
            if r.status_code != 401:
                break
            self.token = None  # expired or revoked (e.g. password reset by a test): log in again
        return r

    def anon(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return httpx.request(method, self.base + path, timeout=30, **kw)


def ffmpeg_children_of(data_dir: Path) -> list[int]:
    """PIDs of ffmpeg processes writing into this data dir (to find orphans)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"ffmpeg") and any(str(data_dir).encode() in a for a in cmd):
            pids.append(int(entry.name))
    return pids


@dataclass
class SegRow:
    id: int
    camera_id: int
    stream: str
    start_ms: int
    end_ms: int
    bytes: int
    path: str
    sha256: str
    recovered: bool


@dataclass
class GapRow:
    camera_id: int
    stream: str
    start_ms: int
    end_ms: int | None
    reason: str


def catalog(data_dir: Path, camera_id: int, stream: str = "main") -> tuple[list[SegRow], list[GapRow]]:
    con = sqlite3.connect(f"file:{data_dir / 'ronda.db'}?mode=ro", uri=True, timeout=30)
    try:
        segs = [
            SegRow(*r[:8], bool(r[8]))
            for r in con.execute(
                "SELECT id, camera_id, stream, start_ms, end_ms, bytes, path, sha256, recovered FROM segments "
                "WHERE camera_id=? AND stream=? ORDER BY start_ms",
                (camera_id, stream),
            )
        ]
        gaps = [
            GapRow(*r)
            for r in con.execute(
                "SELECT camera_id, stream, start_ms, end_ms, reason FROM gaps WHERE camera_id=? AND stream=? "
                "ORDER BY start_ms",
                (camera_id, stream),
            )
        ]
    finally:
        con.close()
    return segs, gaps


def camera_ids(data_dir: Path) -> dict[str, int]:
    con = sqlite3.connect(f"file:{data_dir / 'ronda.db'}?mode=ro", uri=True, timeout=30)
    try:
        return {name: cid for cid, name in con.execute("SELECT id, name FROM cameras")}
    finally:
        con.close()


def uncovered(segs: list[SegRow], gaps: list[GapRow], start: int, end: int, now: int) -> list[tuple[int, int]]:
    """Holes in [start, end] not covered by any segment or gap (open gaps run until now)."""
    spans = sorted(
        [(s.start_ms, s.end_ms) for s in segs] + [(g.start_ms, g.end_ms if g.end_ms is not None else now) for g in gaps]
    )
    holes = []
    cur = start
    for a, b in spans:
        if b <= cur:
            continue
        if a > cur:
            holes.append((cur, min(a, end)))
        cur = max(cur, b)
        if cur >= end:
            break
    if cur < end:
        holes.append((cur, end))
    return [(a, b) for a, b in holes if b > a]


def overlaps(segs: list[SegRow]) -> list[tuple[int, int]]:
    out = []
    for a, b in zip(segs, segs[1:], strict=False):
        if b.start_ms < a.end_ms:
            out.append((a.id, b.id))
    return out


def probe_frames(path: Path) -> tuple[bool, bool]:
    """Decode the first and the last frame of a file: (first_ok, last_ok)."""

    def decodes(args: list[str]) -> bool:
        r = subprocess.run(
            ["ffmpeg", "-v", "error", *args, "-f", "null", "-"], capture_output=True, timeout=60, check=False
        )
        return r.returncode == 0 and not r.stderr.strip()

    first = decodes(["-i", str(path), "-map", "0:v:0", "-frames:v", "1"])
    last = decodes(["-sseof", "-0.5", "-i", str(path), "-map", "0:v:0"])
    return first, last


def ffprobe_json(path: Path) -> dict[str, Any]:
    r = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", "-show_streams", "-show_format", str(path)],
        capture_output=True,
        timeout=30,
        check=True,
    )
    return json.loads(r.stdout)


def wait_for(pred: Any, timeout: float, interval: float = 0.5, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


PW = ADMIN_PASSWORD  # the demo accounts share it; admin keeps the password the site uses


class Client:
    """A signed-in user of the site. Its access token lives 15 minutes and session-wide fixtures outlive
    that, so an *expired* token is renewed (refresh, else a new login) before a request; a token the
    server revoked (logout, password change, disabled user) is left alone, so tests still see the 401."""

    def __init__(self, site, username: str, password: str = PW) -> None:
        self.site = site
        self.username, self.password = username, password
        self._login()

    def _login(self) -> None:
        r = self.site.ronda.anon("POST", "/api/v1/auth/login", json={"username": self.username,
                                                                     "password": self.password})  # fmt: skip
        assert r.status_code == 200, r.text
        self._use(r.json())

    def _use(self, tokens: dict) -> None:
        self.tokens = tokens
        self.h = {"Authorization": f"Bearer {tokens['access_token']}"}
        claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
        self.expires = float(claims["exp"])

    def _renew_if_expired(self) -> None:
        if time.time() < self.expires - 30:
            return
        r = self.site.ronda.anon("POST", "/api/v1/auth/refresh", json={"refresh_token": self.tokens["refresh_token"]})
        if r.status_code == 200:
            self._use(r.json())
            return
        login = self.site.ronda.anon("POST", "/api/v1/auth/login", json={"username": self.username,
                                                                         "password": self.password})  # fmt: skip
        if login.status_code == 200:
            self._use(login.json())

    def req(self, method: str, path: str, **kw) -> httpx.Response:
        self._renew_if_expired()
        return self.site.ronda.anon(method, path, headers={**self.h, **kw.pop("headers", {})}, **kw)


def clock_codes(path: Path, width: int = 640) -> list[int | None]:
    """The time code of every frame of a clock camera recording, in decoding order (only the code's
    two block rows are decoded into memory). Each frame once: without ``-fps_mode passthrough`` ffmpeg
    repeats a frame to fill a late one's time (a step of 0 ms that is not in the file)."""
    from ronda.devices.simulator import CLOCK_BLOCK, read_clock_code

    rows = 2 * CLOCK_BLOCK
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-fps_mode", "passthrough", "-vf", f"crop={width}:{rows}:0:0",
         "-pix_fmt", "gray", "-f", "rawvideo", "-"],
        capture_output=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    size = width * rows
    return [read_clock_code(raw[i : i + size], width) for i in range(0, len(raw) - size + 1, size)]


def make_fmp4(out: Path, seconds: int) -> Path:
    """A small test-pattern video written as the recorder writes segments (fragmented MP4, 1 s GOP)."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=15", "-t", str(seconds),
         "-c:v", "libx264", "-preset", "ultrafast", "-g", "15", "-bf", "0",
         "-movflags", "+frag_keyframe+empty_moov+default_base_moof", "-f", "mp4", str(out)],
        check=True, timeout=60,
    )  # fmt: skip
    return out


def elsewhere(site: Any) -> httpx.Client:
    """An HTTP client connecting from a loopback address of its own (the whole 127/8 is local). Tests that
    fail logins on purpose use it, so that the shared site's per-address login throttle for 127.0.0.1 is
    not spent for every other test (whatever order the tests run in)."""
    addr = f"127.{secrets.randbelow(250) + 2}.{secrets.randbelow(254) + 1}.{secrets.randbelow(254) + 1}"
    return httpx.Client(base_url=site.ronda.base, timeout=60, transport=httpx.HTTPTransport(local_address=addr))
