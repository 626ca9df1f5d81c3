"""Benchmark: recorder failover, from ``kill -9`` of a recorder to the first new segment of each of its
cameras on another recorder, over several kills; the baseline is the lease TTL (the time a dead node's
leases take to expire, the floor of any lease-based failover).

A throw-away PostgreSQL 15 server (``tests/pg.py``), the camera simulator (6 cameras, main and sub stream:
12 cameras), three ``ronda serve --role recorder`` processes with 2 s segments and a ``--ttl`` second lease
TTL. Each round kills the recorder holding the most cameras, waits until every one of them has a segment
from another node (its start: when that node's first frame arrived), then starts the killed node again and
waits until the cameras are balanced before the next round.

    python bench/failover.py [--kills 3] [--ttl 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text  # noqa: E402
from tests.cluster import test_leases_failover as lf  # noqa: E402
from tests.helpers import ADMIN_PASSWORD, free_port, wait_for  # noqa: E402
from tests.pg import postgres_available, postgres_server  # noqa: E402

from bench._common import result  # noqa: E402
from ronda.devices.simcontrol import SimulatorProcess  # noqa: E402

NODES = ("n0", "n1", "n2")


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=3)
    ap.add_argument("--ttl", type=float, default=4.0, help="lease TTL in seconds (cluster.lease_ttl_seconds)")
    args = ap.parse_args()
    if not postgres_available():
        raise SystemExit("PostgreSQL 15 is not installed (scripts/setup.sh --test installs it)")
    lf.TTL_S = args.ttl  # the configuration writer of the process test reads it
    base = Path(tempfile.mkdtemp(prefix="ronda-bench-failover-"))
    base.chmod(0o755)
    samples: list[float] = []
    nodes: dict[str, lf.Node] = {}
    try:
        with postgres_server("ronda_failover", base_dir=base) as db_url, \
                SimulatorProcess(cameras=6, log_dir=base) as sim:  # fmt: skip
            engine = create_engine(db_url)
            cams = [{"name": f"{k}{s}", "main": {"url": sim.url(f"cam{k}", sub=s == "s")}}
                    for k in range(1, 7) for s in ("m", "s")]  # fmt: skip
            ports = {n: free_port() for n in NODES}
            cfgs = {n: lf._config(base, n, ports[n], db_url, cams if n == "n0" else [], True) for n in NODES}
            nodes = {n: lf.Node(cfgs[n], base / f"{n}.log", ports[n], "recorder", base / n) for n in NODES}
            env = {**os.environ, "RONDA_PASSWORD": ADMIN_PASSWORD}
            for a in (["db", "upgrade"], ["user", "add", "admin", "--role", "administrator"]):
                subprocess.run([sys.executable, "-m", "ronda.cli", *a, "--config", str(cfgs["n0"])], check=True,
                               capture_output=True, timeout=120, env=env)  # fmt: skip
            nodes["n0"].start()
            for n in NODES[1:]:
                shutil.copytree(base / "n0" / "keys", base / n / "keys", dirs_exist_ok=True)
                nodes[n].start()

            def balanced() -> bool:
                h = lf._holders(engine)
                return len(h) == len(cams) and Counter(h.values()) == {n: len(cams) // 3 for n in NODES}

            wait_for(balanced, 60, what="the cameras balanced")
            for k in range(args.kills):
                time.sleep(3 * 2)  # a few segments on every holder
                held = Counter(lf._holders(engine).values())
                victim = held.most_common(1)[0][0]
                lost = {c for c, n in lf._holders(engine).items() if n == victim}
                t_kill = int(time.time() * 1000)
                nodes[victim].kill9()
                firsts = wait_for(
                    lambda lost=lost, victim=victim, t_kill=t_kill: (
                        f if (f := lf._first_segment_by(engine, lost, victim, t_kill)).keys() == lost else None
                    ),
                    60, interval=0.2, what="the cameras recording elsewhere",
                )  # fmt: skip
                round_s = [(s - t_kill) / 1000 for s in firsts.values()]
                samples += round_s
                print(f"  kill {k + 1} ({victim}, {len(lost)} cameras): max {max(round_s):.2f} s, "
                      f"median {statistics.median(round_s):.2f} s", file=sys.stderr)  # fmt: skip
                nodes[victim].start()
                wait_for(balanced, 60, what="the cameras balanced again")
            with engine.connect() as c:
                failover_gaps = c.scalar(text("SELECT count(*) FROM gaps WHERE reason = 'failover'"))
            engine.dispose()
            for n in nodes.values():
                n.close()
    finally:
        for n in nodes.values():
            n.close()
        shutil.rmtree(base, ignore_errors=True)
    print(result("failover", "p99 s from recorder kill -9 to the first new segment of each of its cameras", "s",
                 pct(samples, 0.99), args.ttl, "lease TTL", p50_s=round(statistics.median(samples), 3),
                 kills=args.kills, cameras_moved=len(samples), failover_gaps=int(failover_gaps or 0),
                 segment_s=lf.SEGMENT_S))  # fmt: skip


if __name__ == "__main__":
    main()
