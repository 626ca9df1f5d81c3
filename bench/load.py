"""Benchmark: 100 concurrent operators on 32 recording cameras, against the same run with 10 operators.

One simulator (``--cameras`` cameras, main + sub) and one ``ronda serve`` recording them all (main and
sub, production segment length); ``--operators`` users ``opNNN`` with the built-in operator role, each
its own login. A rule raises one alarm per camera on ``load.alarm`` events, and one such event per
camera is posted before the load, so that operators have alarms to ack.

The load generator is locust, headless, as a library, in its own process (``bench/_load_users.py``,
pinned to CPU 1; Ronda and the simulator are not pinned). Each operator logs in, lists its cameras,
opens the events WebSocket and a 4-tile live grid over the low-latency WebSocket (the sub-streams),
then, 1-5 s apart: lists cameras, asks the timeline of its tiles, acks an alarm, switches its grid to
the next four cameras (see ``bench/_load_users.py`` for the weights and for how the frame delay is
measured). Operators start at ``--spawn-rate`` per second; each phase then runs ``--seconds``.

Phase 1: ``--operators-small`` operators (the baseline); phase 2: ``--operators``, same server, same
recording. ``ronda`` = p99 ms of the camera list in phase 2, ``baseline`` = the same in phase 1.
``errors`` = failed requests plus WebSocket failures (a socket refused or closed by the server) of
both phases: it must be 0. ``gaps`` = unexplained holes (longer than a frame) in the catalog of every
camera's main and sub stream over both phases, after Ronda has stopped and closed its segments.

    python bench/load.py [--operators-small 10] [--operators 100] [--cameras 32] [--seconds 60]
                         [--spawn-rate 2] [--warmup 20]
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import ADMIN_PASSWORD, RondaProcess, free_port, uncovered, write_config  # noqa: E402

from bench._common import own_cpu, result, tree_cpu  # noqa: E402
from ronda.devices import simmedia  # noqa: E402
from ronda.devices.simcontrol import SimulatorProcess  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = ADMIN_PASSWORD  # every account: seed_demo sets the admin's too
FRAME_MS = 1000 / 15
LOADGEN_SATURATED = 0.9  # of its core: then the figures measure the load generator, not Ronda
ALARM_RULE: dict[str, Any] = {
    "name": "Load bench alarm",
    "trigger": {"types": ["load.alarm"]},
    "actions": [{"type": "raise_alarm", "priority": "high", "category": "bench", "title": "Load on {camera_name}"}],
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def children_cpu() -> float:
    """CPU seconds of this process's reaped children (the load generator, once it has exited)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def seed_users(cfg_path: Path, operators: int) -> None:
    """Before ``ronda serve`` starts: the cameras (as it imports them), the demo's organisation whose
    operator role covers every camera (``seed_demo``), and ``operators`` users ``opNNN`` with that role
    in that organisation, each its own password hash."""
    from ronda import runtime
    from ronda.access.demo_setup import POLICE, seed_demo
    from ronda.access.service import create_user
    from ronda.config import load_config
    from ronda.store.access_models import Organisation

    cfg = load_config(cfg_path)
    db = runtime.open_database(cfg, migrate=False)
    try:
        runtime.import_cameras(db, runtime.load_secrets(cfg), cfg.cameras)
        con = sqlite3.connect(cfg.data_dir / "ronda.db")
        ids = dict(con.execute("SELECT name, id FROM cameras").fetchall())
        con.close()
        seed_demo(db, {n: ids[f"Camera {n}"] for n in range(1, len(ids) + 1)}, PASSWORD)
        with db.session() as s:
            police = s.query(Organisation).filter_by(name=POLICE).one().id
        log(f"creating {operators} operators")
        for n in range(1, operators + 1):
            create_user(db, f"op{n:03d}", PASSWORD, ["operator"], police)
    finally:
        db.dispose()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per set-up request


def prepare_site(ronda: RondaProcess, cameras: int, warmup: float) -> None:
    """The alarm rule, every camera recording, one open alarm per camera."""
    r = ronda.api("POST", "/api/v1/rules", json=ALARM_RULE)
    if r.status_code != 201:
        raise SystemExit(f"the alarm rule: {r.status_code} {r.text[:300]}")
    deadline = time.monotonic() + 60 + 2 * cameras
    while True:
        cams = ronda.api("GET", "/api/v1/cameras").json()
        recording = [c["id"] for c in cams if c["status"] == "recording"]
        if len(recording) == cameras:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(recording)} of {cameras} cameras recording after {60 + 2 * cameras} s")
        log(f"  {len(recording)} of {cameras} cameras recording")
        time.sleep(3)
    for left in range(int(warmup), 0, -5):  # a few segments and live fragments on every stream
        log(f"  warming up, {left} s")
        time.sleep(min(5, left))
    events = [{"type": "load.alarm", "camera": c["id"], "uid": f"load-{c['id']}"} for c in cams]
    r = ronda.api("POST", "/api/v1/events", json=events)
    if r.status_code != 202:
        raise SystemExit(f"posting events: {r.status_code} {r.text[:300]}")
    deadline = time.monotonic() + 30
    while len(ronda.api("GET", "/api/v1/alarms?state=open").json()) < cameras:
        if time.monotonic() > deadline:
            raise SystemExit("the alarms of the load.alarm events did not appear within 30 s")
        time.sleep(0.5)


def phase(ronda: RondaProcess, sim: SimulatorProcess, operators: int, a: argparse.Namespace, out: Path) -> dict:
    log(f"phase: {operators} operators ({a.spawn_rate:g}/s), then {a.seconds:g} s")
    cmd = [sys.executable, str(ROOT / "bench" / "_load_users.py"), "--host", ronda.base,
           "--users", str(operators), "--spawn-rate", str(a.spawn_rate), "--seconds", str(a.seconds),
           "--password", PASSWORD, "--out", str(out)]  # fmt: skip
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "1", *cmd]
    c0, s0, t0, g0 = tree_cpu([ronda.pid]), own_cpu(ronda.pid), time.monotonic(), tree_cpu([sim.pid or 0])
    l0 = children_cpu()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=sys.stderr, check=False)
    dt = time.monotonic() - t0
    if proc.returncode != 0 or not out.exists():
        raise SystemExit(f"the load generator failed ({proc.returncode})")
    doc: dict[str, Any] = json.loads(out.read_text())
    doc["server_cpu"] = round((own_cpu(ronda.pid) - s0) / dt, 3)  # the ronda serve process (API, supervisor)
    doc["ronda_tree_cpu"] = round((tree_cpu([ronda.pid]) - c0) / dt, 3)  # with its ffmpeg recorders
    doc["sim_cpu"] = round((tree_cpu([sim.pid or 0]) - g0) / dt, 3)
    doc["loadgen_cpu"] = round((children_cpu() - l0) / dt, 3)
    doc["errors"] = doc["http_errors"] + doc["ws_errors"]
    req = doc["requests"]
    log(f"  {operators} operators: " + "; ".join(f"{k} p50 {v['p50_ms']} p99 {v['p99_ms']} ms (n={v['count']}"
        + (f", {v['failures']} failed" if v["failures"] else "") + ")" for k, v in req.items()))  # fmt: skip
    log(f"  frame delay p50 {doc['ws_p50_ms']} p99 {doc['ws_p99_ms']} ms over {doc['ws_frames']} fragments, "
        f"{doc['ws_sockets']} sockets ({doc['ws_cut']} not closing cleanly), "
        f"longest pause {doc['ws_max_gap_ms']} ms; errors {doc['errors']}; "
        f"CPU (cores): ronda serve {doc['server_cpu']}, with recorders {doc['ronda_tree_cpu']}, "
        f"simulator {doc['sim_cpu']}, load generator {doc['loadgen_cpu']}")  # fmt: skip
    for line in doc["error_samples"]:
        log(f"  error: {line}")
    return doc


def catalog_gaps(db: Path, cameras: int, t_start: int, t_end: int) -> tuple[int, int]:
    """(unexplained holes longer than a frame, explained gaps) over [t_start, t_end], main and sub."""
    con = sqlite3.connect(db)
    unexplained = explained = 0

    class Row:  # the shape tests.helpers.uncovered reads
        def __init__(self, a: int, b: int | None) -> None:
            self.start_ms, self.end_ms = a, b

    try:
        for cid in range(1, cameras + 1):
            for stream in ("main", "sub"):
                segs = con.execute("SELECT start_ms, end_ms FROM segments WHERE camera_id=? AND stream=? "
                                   "ORDER BY start_ms", (cid, stream)).fetchall()  # fmt: skip
                gaps = con.execute("SELECT start_ms, end_ms FROM gaps WHERE camera_id=? AND stream=? AND "
                                   "start_ms < ? AND (end_ms IS NULL OR end_ms > ?)",
                                   (cid, stream, t_end, t_start)).fetchall()  # fmt: skip
                explained += len(gaps)
                holes = uncovered([Row(*s) for s in segs], [Row(*g) for g in gaps], t_start, t_end, t_end)
                unexplained += sum(1 for x, y in holes if y - x > FRAME_MS)
    finally:
        con.close()
    return unexplained, explained


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--operators-small", type=int, default=10, help="phase 1, the baseline")
    p.add_argument("--operators", type=int, default=100, help="phase 2")
    p.add_argument("--cameras", type=int, default=32)
    p.add_argument("--seconds", type=float, default=60, help="each phase, after its operators have started")
    p.add_argument(
        "--spawn-rate", type=float, default=2, help="operators started per second (a login is ~0.2 s of CPU: argon2id)"
    )
    p.add_argument("--warmup", type=float, default=20, help="recording before the load starts")
    a = p.parse_args()
    if a.cameras < 1 or a.operators < 1 or a.operators_small < 1:
        raise SystemExit("--cameras, --operators and --operators-small must be at least 1")
    log(f"preparing clips for {a.cameras} cameras (cached after the first run)")
    simmedia.prepare(simmedia.default_cache_dir(), a.cameras)
    with tempfile.TemporaryDirectory(prefix="ronda-bench-load-") as tmp:
        base = Path(tmp)
        data = base / "data"
        sim = SimulatorProcess(cameras=a.cameras, log_dir=base)
        sim.start()
        ronda: RondaProcess | None = None
        try:
            port = free_port()
            cams = [{"name": f"Camera {i}", "main": {"url": sim.url(f"cam{i}")},
                     "sub": {"url": sim.url(f"cam{i}", sub=True)}} for i in range(1, a.cameras + 1)]  # fmt: skip
            # Production defaults, but one thing: every operator here comes from 127.0.0.1, and each holds
            # ~6 connections (HTTP, the events socket, 4 live tiles); the per-address limit (256, against
            # one client hogging the server) would refuse most of them. Real operators have an address each.
            cfg = write_config(data, port, cams, recording={"segment_seconds": 6, "stall_timeout_seconds": 6},
                               storage={"check_interval_seconds": 5},
                               http={"max_connections_per_ip": 0})  # fmt: skip
            ronda = RondaProcess(cfg, base / "ronda.log", port)
            log(f"starting ronda serve with {a.cameras} cameras (main + sub)")
            ronda.prepare(check_user=True)  # the schema and the administrator
            seed_users(cfg, max(a.operators, a.operators_small))
            ronda.spawn(timeout=120)
            prepare_site(ronda, a.cameras, a.warmup)
            t_start = int(time.time() * 1000)
            small = phase(ronda, sim, a.operators_small, a, base / "small.json")
            big = phase(ronda, sim, a.operators, a, base / "big.json")
            t_end = int(time.time() * 1000)
            log("stopping ronda (it closes its open segments)")
            ronda.terminate(60)
            ronda = None
        except BaseException:
            if ronda is not None:
                log((base / "ronda.log").read_text()[-3000:])
            raise
        finally:
            if ronda is not None:
                ronda.close()
            sim.close()
        gaps, explained = catalog_gaps(data / "ronda.db", a.cameras, t_start, t_end)
    log(f"catalog over both phases: {gaps} unexplained holes, {explained} explained gaps")
    cam_small = small["requests"].get("camera list", {}).get("p99_ms")
    cam_big = big["requests"].get("camera list", {}).get("p99_ms")
    if cam_small is None or cam_big is None:
        raise SystemExit("no camera list answered in one of the phases")
    errors = small["errors"] + big["errors"]
    valid = errors == 0 and gaps == 0 and max(small["loadgen_cpu"], big["loadgen_cpu"]) < LOADGEN_SATURATED
    if max(small["loadgen_cpu"], big["loadgen_cpu"]) >= LOADGEN_SATURATED:
        log("INVALID: the load generator used its whole core: the figures measure it, not Ronda")

    def per_type(doc: dict[str, Any]) -> dict[str, list[float | None]]:
        return {k: [v["p50_ms"], v["p99_ms"]] for k, v in doc["requests"].items()}

    print(
        result("load", "camera_list_p99_ms", "ms", cam_big, cam_small, f"same run with {a.operators_small} operators",
               errors=errors, ws_p99_ms=big["ws_p99_ms"], baseline_ws_p99_ms=small["ws_p99_ms"],
               ws_p50_ms=big["ws_p50_ms"], gaps=gaps, explained_gaps=explained, operators=a.operators,
               operators_small=a.operators_small, cameras=a.cameras, seconds=a.seconds,
               p50_p99_ms=per_type(big), baseline_p50_p99_ms=per_type(small),
               requests=sum(v["count"] for v in big["requests"].values()),
               ws_frames=big["ws_frames"], ws_max_gap_ms=big["ws_max_gap_ms"], acks=big["acks"] + small["acks"],
               server_cpu=big["server_cpu"], baseline_server_cpu=small["server_cpu"],
               ronda_tree_cpu=big["ronda_tree_cpu"], sim_cpu=big["sim_cpu"], loadgen_cpu=big["loadgen_cpu"],
               valid=valid)
    )  # fmt: skip
    return 0 if valid else 1


if __name__ == "__main__":
    sys.exit(main())
