"""Benchmark: how long a PTZ command takes through Ronda's API, vs the same command sent straight to the
camera by ONVIF, same run.

The camera is the simulator's ONVIF dome (``ronda sim``'s camera 1), added to a real ``ronda serve`` by
ONVIF (recording off: only the API and the PTZ service run). One sample (``ronda``): ``POST
/api/v1/cameras/{id}/ptz {"action": "absolute", ...}`` until the answer (the PTZ service sends the
ONVIF AbsoluteMove over its kept connection and answers when the camera has). Baseline: the same
AbsoluteMove from this process over its own kept ONVIF connection (``OnvifDevice`` + ``OnvifPtz``, the
client Ronda uses): the camera's own cost. Samples alternate, one request at a time, positions alternate
between two points so each command moves the dome.

    python bench/ptz.py [--requests 300]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import free_port, write_config  # noqa: E402

from bench._common import result, stop, wait_up  # noqa: E402
from ronda.devices.onvif.client import OnvifDevice  # noqa: E402
from ronda.devices.onvif.probe import probe_device  # noqa: E402
from ronda.devices.onvif.ptz import OnvifPtz  # noqa: E402
from ronda.devices.ptz import PtzPosition  # noqa: E402
from ronda.devices.simcontrol import SimulatorProcess  # noqa: E402
from ronda.devices.simulator import ONVIF_PASSWORD, ONVIF_USER  # noqa: E402

PASSWORD = "bench-ptz-admin-pw"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(
    base: str, token: str, camera_id: int, address: str, requests: int
) -> tuple[list[float], list[float]]:
    info = await probe_device(address, ONVIF_USER, ONVIF_PASSWORD)
    assert info.ptz_profile, "the simulated dome reports no PTZ profile"
    api_ms: list[float] = []
    direct_ms: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client, \
            OnvifDevice(address, ONVIF_USER, ONVIF_PASSWORD, 8.0) as dev:  # fmt: skip
        direct = OnvifPtz(dev, info.ptz_profile, info.ptz_limits)
        for i in range(requests + 10):  # the first 10 of each warm up (connections, caches)
            pan = 0.3 if i % 2 else -0.3
            t = time.perf_counter()
            r = await client.post(f"/api/v1/cameras/{camera_id}/ptz",
                                  json={"action": "absolute", "pan": pan, "tilt": 0.1, "zoom": 0.2})  # fmt: skip
            took = (time.perf_counter() - t) * 1000
            if r.status_code != 200:
                raise SystemExit(f"PTZ command through the API: {r.status_code} {r.text}")
            if i >= 10:
                api_ms.append(took)
            t = time.perf_counter()
            await direct.absolute(PtzPosition(-pan, 0.1, 0.2))
            if i >= 10:
                direct_ms.append((time.perf_counter() - t) * 1000)
            if i % 50 == 0:
                print(f"  {i}/{requests + 10}", file=sys.stderr, flush=True)
    return api_ms, direct_ms


def main() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # (the ONVIF library turns logging on when imported)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=300, help="samples of each (default 300)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ronda-bench-ptz-"))
    proc = None
    with SimulatorProcess(cameras=1, onvif=True, dome=True, log_dir=work) as sim:
        port = free_port()
        cfg = write_config(work / "data", port, [], recording={"enabled": False})
        py = [sys.executable, "-m", "ronda.cli"]
        subprocess.run([*py, "db", "upgrade", "--config", str(cfg)], check=True, capture_output=True)
        subprocess.run([*py, "user", "add", "admin", "--role", "administrator", "--config", str(cfg)],
                       check=True, capture_output=True, env={**os.environ, "RONDA_PASSWORD": PASSWORD})  # fmt: skip
        log = work / "ronda.log"
        proc = subprocess.Popen([sys.executable, "-m", "ronda.cli", "serve", "--config", str(cfg)],
                                stdout=log.open("wb"), stderr=subprocess.STDOUT)  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            wait_up(base + "/api/v1/health", proc, log)
            login = httpx.post(base + "/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
            login.raise_for_status()
            token = login.json()["access_token"]
            body = {"name": "Dome", "onvif": {"address": sim.onvif_url(1), "username": ONVIF_USER,
                                              "password": ONVIF_PASSWORD}}  # fmt: skip
            made = httpx.post(base + "/api/v1/cameras", json=body, headers={"Authorization": f"Bearer {token}"},
                              timeout=60)  # fmt: skip
            if made.status_code != 201:
                raise SystemExit(f"adding the dome by ONVIF: {made.status_code} {made.text}")
            print(f"ptz: {args.requests} absolute moves through the API and straight to the dome, alternating",
                  file=sys.stderr)  # fmt: skip
            api_ms, direct_ms = asyncio.run(measure(base, token, made.json()["id"], sim.onvif_url(1), args.requests))
        finally:
            stop(proc)
    ronda_p50, base_p50 = statistics.median(api_ms), statistics.median(direct_ms)
    print(f"through the API: p50 {ronda_p50:.1f} ms, p99 {pct(api_ms, 0.99):.1f} ms")
    print(f"straight to the camera: p50 {base_p50:.1f} ms, p99 {pct(direct_ms, 0.99):.1f} ms")
    print(result("ptz", "p50 ms of a PTZ command through the API", "ms", ronda_p50, base_p50,
                 "direct ONVIF AbsoluteMove to the same camera", p99_ms=round(pct(api_ms, 0.99), 2),
                 baseline_p99_ms=round(pct(direct_ms, 0.99), 2), requests=args.requests))  # fmt: skip


if __name__ == "__main__":
    main()
