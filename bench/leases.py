"""Benchmark: recorder leases at city scale, 1,000 cameras over 10 recorder node processes on PostgreSQL.

Each node is its own process running the real lease code (``ronda.cluster.leases.LeaseKeeper``: the
registration, the ``SKIP LOCKED`` claims, renewals, the balance by capacity) against one real
PostgreSQL 15 server started here (or ``--db URL``); no video is recorded. Measured:

- ``assign_all_s``: from the first node's registration until every camera is leased to a live node and
  no node holds more than its fair share (the nodes start together);
- ``ronda`` (the figure): seconds from kill -9 of one node until every one of its cameras is leased to
  another live node. The baseline is the lease TTL, the least any fencing lease design can take (a
  node that stopped renewing may still be writing until its leases expire): ratio close to 1 is good;
- ``queries_per_s``: SQL statements per second of all nodes together at steady state (counted in the
  nodes over ``--steady`` seconds), and ``commits_per_s`` from PostgreSQL's own statistics.

    python bench/leases.py [--cameras 1000] [--nodes 10] [--ttl 10] [--steady 15] [--db URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sqlalchemy import create_engine, event, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from tests.helpers import free_port  # noqa: E402

from bench._common import result  # noqa: E402

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def node_main(name: str, url: str, ttl: float, counter: Path) -> None:
    """One recorder node: the lease keeper alone, ticking until killed; counts its SQL statements."""
    from ronda.cluster.leases import LeaseKeeper
    from ronda.config import ClusterConfig
    from ronda.store.db import Database

    db = Database(url)
    statements = [0]

    @event.listens_for(db.engine, "before_cursor_execute")
    def count(*_a: object) -> None:
        statements[0] += 1

    keeper = LeaseKeeper(db, ClusterConfig(node=name, capacity=1000, lease_ttl_seconds=ttl))

    async def run() -> None:
        await keeper.start()
        while True:
            counter.write_text(str(statements[0]))
            await asyncio.sleep(0.5)

    asyncio.run(run())


def start_postgres(base: Path) -> tuple[subprocess.Popen[bytes], str]:
    if not (PG_BIN / "initdb").exists():
        raise SystemExit("PostgreSQL 15 is not installed (scripts/setup.sh), or give --db URL")
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    data, port = base / "data", free_port()
    subprocess.run([*as_pg, str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
                   check=True, capture_output=True)  # fmt: skip
    proc = subprocess.Popen([*as_pg, str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port), "-k", str(base),
                             "-h", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 30
    while subprocess.run([str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                         capture_output=True, check=False).returncode != 0:  # fmt: skip
        if time.monotonic() > deadline:
            raise SystemExit("PostgreSQL did not start")
        time.sleep(0.2)
    subprocess.run([*as_pg, str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                    "ronda_bench"], check=True, capture_output=True)  # fmt: skip
    return proc, f"postgresql+psycopg://postgres@127.0.0.1:{port}/ronda_bench"


def prepare(url: str, cameras: int) -> None:
    from ronda.store.db import Database

    db = Database(url)
    with db.engine.begin() as c:
        c.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    db.upgrade()
    with db.engine.begin() as c:
        c.execute(text("INSERT INTO cameras (name, enabled, audio, transport, status, created_ms, ptz) "
                       "SELECT 'bench ' || g, true, false, 'auto', 'starting', 0, false "
                       "FROM generate_series(1, :n) g"), {"n": cameras})  # fmt: skip
    db.dispose()


def wait(pred, timeout: float, what: str) -> float:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return time.time()
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--node":
        _, _, name, url, ttl, counter = sys.argv
        node_main(name, url, float(ttl), Path(counter))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cameras", type=int, default=1000)
    ap.add_argument("--nodes", type=int, default=10)
    ap.add_argument("--ttl", type=float, default=10.0, help="lease TTL in seconds (cluster.lease_ttl_seconds)")
    ap.add_argument("--steady", type=float, default=15.0, help="seconds of steady state to count queries over")
    ap.add_argument("--db", help="a PostgreSQL URL to use (its public schema is dropped!); default: a new server")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ronda-bench-leases-"))
    pg, url = (None, args.db) if args.db else start_postgres(work)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        prepare(url, args.cameras)
        engine = create_engine(make_url(url))

        def leases() -> tuple[dict[str, int], int, int]:
            with engine.connect() as c:
                now = int(time.time() * 1000)
                rows = c.execute(text("SELECT l.node, count(*) FROM camera_leases l JOIN nodes n ON n.name = l.node "
                                      "WHERE l.expires_ms > :now AND n.last_seen_ms > :live GROUP BY l.node"),
                                 {"now": now, "live": now - int(args.ttl * 1000)}).all()  # fmt: skip
                started = c.execute(text("SELECT coalesce(min(started_ms), 0) FROM nodes")).scalar_one()
                commits = c.execute(text("SELECT xact_commit + xact_rollback FROM pg_stat_database "
                                         "WHERE datname = current_database()")).scalar_one()  # fmt: skip
            return {n: int(k) for n, k in rows}, int(started), int(commits)

        share = -(-args.cameras // args.nodes)
        for i in range(args.nodes):
            name = f"node{i:02d}"
            procs[name] = subprocess.Popen(
                [sys.executable, __file__, "--node", name, url, str(args.ttl), str(work / f"{name}.count")],
                stdout=subprocess.DEVNULL, stderr=(work / f"{name}.log").open("wb"),
            )  # fmt: skip

        def assigned() -> bool:
            per, _s, _c = leases()
            return sum(per.values()) == args.cameras and len(per) == args.nodes and max(per.values()) <= share

        done = wait(assigned, 300, "every camera assigned")
        assign_all_s = done - leases()[1] / 1000

        time.sleep(args.ttl)  # settled: only renewals from here on

        def statements() -> int:
            return sum(int((work / f"{n}.count").read_text() or 0) for n in procs)

        q0, c0, t0 = statements(), leases()[2], time.monotonic()
        time.sleep(args.steady)
        q1, c1, t1 = statements(), leases()[2], time.monotonic()
        queries_per_s = (q1 - q0) / (t1 - t0)
        commits_per_s = (c1 - c0 - 2) / (t1 - t0)  # (minus this script's own two reads)

        victim = sorted(procs)[len(procs) // 2]
        procs[victim].send_signal(signal.SIGKILL)
        procs[victim].wait()
        t_kill = time.time()
        del procs[victim]

        def reassigned() -> bool:
            per, _s, _c = leases()
            return sum(per.values()) == args.cameras and victim not in per

        reassign_s = wait(reassigned, 120, "the lost node's cameras reassigned") - t_kill
        per = leases()[0]
        print(f"assigned {args.cameras} cameras over {args.nodes} nodes in {assign_all_s:.2f} s; "
              f"{queries_per_s:.1f} statements/s at steady state; reassigned after kill -9 in {reassign_s:.2f} s "
              f"(TTL {args.ttl} s); now {min(per.values())}..{max(per.values())} per node",
              file=sys.stderr)  # fmt: skip
        print(result("leases", f"s from kill -9 of one of {args.nodes} recorder nodes to its cameras leased elsewhere "
                     f"({args.cameras} cameras)", "s", reassign_s, args.ttl, "lease TTL",
                     assign_all_s=round(assign_all_s, 3), queries_per_s=round(queries_per_s, 1),
                     commits_per_s=round(commits_per_s, 1), cameras=args.cameras, nodes=args.nodes,
                     ttl_s=args.ttl, max_per_node_after=max(per.values())))  # fmt: skip
        engine.dispose()
    finally:
        for p in procs.values():
            p.kill()
            p.wait()
        if pg is not None:
            pg.terminate()
            pg.wait(20)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
