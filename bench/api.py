"""Benchmark: authenticated ``GET /api/v1/cameras`` (100 cameras, 50 connections) vs the same endpoint
without the auth check, and vs a bare Starlette route serving the same bytes (``bare_rps``,
``ratio_vs_bare``), same run. Server pinned to CPU 0, wrk to CPU 1; the run is invalid when the server is
not the bottleneck (< 90 % of its core).

    python bench/api.py [--seconds 20] [--connections 50] [--cameras 100]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import free_port, write_config  # noqa: E402

from bench._common import result, tree_cpu  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench-admin-pw"  # noqa: S105


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def prepare(base: Path, cameras: int) -> Path:
    data = base / "data"
    port = free_port()
    cams = [{"name": f"Camera {i}", "main": {"url": f"rtsp://127.0.0.1:9/cam{i}"},
             "sub": {"url": f"rtsp://127.0.0.1:9/cam{i}/sub"}} for i in range(1, cameras + 1)]  # fmt: skip
    cfg = write_config(data, port, cams, recording={"enabled": False})
    py = [sys.executable, "-m", "ronda.cli"]
    subprocess.run([*py, "db", "upgrade", "--config", str(cfg)], check=True, capture_output=True)
    subprocess.run([*py, "user", "add", "admin", "--role", "administrator", "--config", str(cfg)],
                   check=True, capture_output=True, env={**os.environ, "RONDA_PASSWORD": PASSWORD})  # fmt: skip
    return cfg


def run_variant(
    cfg: Path, variant: str, seconds: float, conns: int, body_file: Path | None = None
) -> tuple[float, float, float, bytes]:
    """``variant``: "auth" (Ronda as served), "no-auth" (Ronda without the auth check) or "bare" (a bare
    Starlette route serving ``body_file``). Returns requests/s, p99 ms, the server's CPU share and the body."""
    import yaml

    port = yaml.safe_load(cfg.read_text())["http"]["port"]
    base = f"http://127.0.0.1:{port}"
    cmd = ["taskset", "-c", "0", sys.executable, str(ROOT / "bench" / "_api_server.py"), "--config", str(cfg)]
    if variant == "no-auth":
        cmd.append("--no-auth")
    elif variant == "bare":
        cmd += ["--bare", str(body_file)]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                if httpx.get(base + "/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        headers: dict[str, str] = {}
        if variant != "bare":
            login = {"username": "admin", "password": PASSWORD}
            headers["Authorization"] = (
                "Bearer " + httpx.post(base + "/api/v1/auth/login", json=login).json()["access_token"]
            )
        hdr = [a for k, v in headers.items() for a in ("-H", f"{k}: {v}")]
        check = httpx.get(base + "/api/v1/cameras", headers=headers)
        assert check.status_code == 200 and len(check.json()) >= 100, check.text[:200]
        wrk = ["taskset", "-c", "1", "wrk", "-t1", f"-c{conns}", "--latency"]
        subprocess.run([*wrk, "-d3s", *hdr, base + "/api/v1/cameras"], capture_output=True, check=True)  # warm-up
        c0, t0 = tree_cpu([server.pid]), time.monotonic()
        out = subprocess.run([*wrk, f"-d{int(seconds)}s", *hdr, base + "/api/v1/cameras"], capture_output=True,
                             text=True, check=True).stdout  # fmt: skip
        cpu = (tree_cpu([server.pid]) - c0) / (time.monotonic() - t0)
    finally:
        server.terminate()
        server.wait(20)
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"99%\s+([0-9.]+)(us|ms|s)", out)
    assert m is not None, out
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"{non2xx.group(1)} failed requests:\n{out}")
    log(out)
    return rps, p99, cpu, check.content


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--cameras", type=int, default=100)
    a = p.parse_args()
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing: run scripts/setup.sh --test")
    with tempfile.TemporaryDirectory(prefix="ronda-bench-api-") as tmp:
        cfg = prepare(Path(tmp), a.cameras)
        log("baseline: without the auth check")
        b_rps, b_p99, b_cpu, _ = run_variant(cfg, "no-auth", a.seconds, a.connections)
        log("ronda: authenticated")
        r_rps, r_p99, r_cpu, body = run_variant(cfg, "auth", a.seconds, a.connections)
        body_file = Path(tmp) / "cameras.json"
        body_file.write_bytes(body)
        log(f"bare: a Starlette route serving the same {len(body)} bytes")
        x_rps, x_p99, x_cpu, _ = run_variant(cfg, "bare", a.seconds, a.connections, body_file)
    valid = min(r_cpu, b_cpu, x_cpu) >= 0.9
    log(f"authenticated {r_rps:.0f} req/s (p99 {r_p99:.1f} ms, server CPU {100 * r_cpu:.0f} %); "
        f"without auth {b_rps:.0f} req/s (p99 {b_p99:.1f} ms, server CPU {100 * b_cpu:.0f} %); "
        f"bare route {x_rps:.0f} req/s (p99 {x_p99:.1f} ms, server CPU {100 * x_cpu:.0f} %)")  # fmt: skip
    if not valid:
        log("INVALID: the server was not the bottleneck (< 90 % of its core)")
    print(result("api", "requests_per_second", "req/s", r_rps, b_rps, "same endpoint without auth",
                 p99_ms=round(r_p99, 2), baseline_p99_ms=round(b_p99, 2), server_cpu=round(r_cpu, 3),
                 bare_rps=round(x_rps, 1), ratio_vs_bare=round(r_rps / x_rps, 4), body_bytes=len(body),
                 cameras=a.cameras, connections=a.connections, valid=valid))  # fmt: skip
    return 0 if valid else 1


if __name__ == "__main__":
    sys.exit(main())
