"""``ronda serve`` as ``bench/alarms.py --diagnose`` runs it: the same build and serve as the CLI, plus
observers that ``ronda serve`` does not have, written as JSON to ``--stats`` on exit:

- the event loop's lateness (a task that sleeps 5 ms and records how late it wakes up, with the time
  of every wake-up more than 20 ms late);
- every garbage-collector pass (generation, duration, time), via ``gc.callbacks``;
- how long the event writer's transactions, the outbox relay's reads and the fan-out of one message
  take (those methods wrapped here, unchanged);
- the bus's and event writer's counters at the end.

``--gc-freeze`` tries a proposed change: ``gc.freeze()`` once the server is built, so that full
collections no longer walk the heap of the imported modules.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ronda import runtime  # noqa: E402
from ronda.config import load_config  # noqa: E402
from ronda.logs import setup_logging  # noqa: E402

LATE_MS = 20.0


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--stats", type=Path, required=True)
    p.add_argument("--gc-freeze", action="store_true")
    a = p.parse_args()
    cfg = load_config(a.config)
    setup_logging(cfg.log_level, cfg.log_format)
    ctx = runtime.build(cfg, migrate=False)

    gcs: list[tuple[float, int, float]] = []  # (time, generation, ms)
    started: dict[str, float] = {}

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started["t"] = time.perf_counter()
        elif "t" in started:
            gcs.append((time.time(), int(info["generation"]), (time.perf_counter() - started.pop("t")) * 1000.0))

    timings: dict[str, list[tuple[float, int]]] = {"write": [], "fetch": [], "fanout": []}  # (ms, rows)
    ev = ctx.events
    real_write, real_fetch, real_fanout = ev.writer._write, ev.relay._fetch, ev.fanout.handle

    def timed_write(events: list[Any]) -> Any:
        t = time.perf_counter()
        out = real_write(events)
        timings["write"].append(((time.perf_counter() - t) * 1000.0, len(events)))
        return out

    def timed_fetch(after: int) -> Any:
        t = time.perf_counter()
        out = real_fetch(after)
        if out:
            timings["fetch"].append(((time.perf_counter() - t) * 1000.0, len(out)))
        return out

    async def timed_fanout(msg: Any) -> None:
        t = time.perf_counter()
        await real_fanout(msg)
        timings["fanout"].append(((time.perf_counter() - t) * 1000.0, len(ev.fanout.clients)))

    ev.writer._write = timed_write  # type: ignore[method-assign]
    ev.relay._fetch = timed_fetch  # type: ignore[method-assign]
    ev.bus._subs["websocket"].handler = timed_fanout
    objects_at_start = len(gc.get_objects())
    if a.gc_freeze:
        gc.collect()
        gc.freeze()
    gc.callbacks.append(on_gc)
    lags: list[float] = []
    late: list[tuple[float, float]] = []

    async def watch() -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(0.005)
            lag = (loop.time() - t - 0.005) * 1000.0
            lags.append(lag)
            if lag > LATE_MS:
                late.append((time.time(), lag))

    async def serve() -> None:
        watcher = asyncio.create_task(watch())
        try:
            await runtime.serve(ctx)
        finally:
            watcher.cancel()
            stats = {"timings": timings, "lags_ms": lags, "late": late, "gc": gcs, "bus": ev.bus.stats(),
                     "writer": {"stored": ev.writer.stored, "duplicates": ev.writer.duplicates},
                     "relay_published": ev.relay.published, "rules_fired": ev.engine.fired,
                     "objects_at_start": objects_at_start, "objects_at_end": len(gc.get_objects()),
                     "frozen": gc.get_freeze_count()}  # fmt: skip
            a.stats.write_text(json.dumps(stats))

    try:
        asyncio.run(serve())
    finally:
        ctx.audit.close()
        ctx.db.dispose()


if __name__ == "__main__":
    main()
