"""Ronda's motion path for bench/motion.py, alone in its own process so that /proc shows its CPU.

Reads one RTSP stream with PyAV (TCP), decodes it with :mod:`ronda.analytics.decode` in the given mode,
runs :class:`ronda.analytics.motion.MotionDetector` with the given zones, and writes one JSON line per
motion event (``{"kind", "time_ms", "box", "level"}``) to ``--out``; on SIGINT/SIGTERM it writes a last
line with its counters and exits 0.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ronda.analytics.decode import EVENT_KEY_INTERVAL_MS, IDLE_KEY_INTERVAL_MS, MotionFrames, frames_for_motion  # noqa: E402
from ronda.analytics.motion import MotionDetector  # noqa: E402
from ronda.analytics.settings import MotionSettings, Zone  # noqa: E402


class Stop(Exception):
    pass


def _stop(signum: int, frame: FrameType | None) -> None:
    raise Stop


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--zones", default="[]", help="JSON list of zones (name, kind, points)")
    p.add_argument("--fps", type=float, default=5.0)
    p.add_argument("--mode", default="adaptive")
    p.add_argument("--sensitivity", type=int, default=50)
    p.add_argument("--key-interval-ms", type=int, default=IDLE_KEY_INTERVAL_MS)
    p.add_argument("--event-key-interval-ms", type=int, default=EVENT_KEY_INTERVAL_MS)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    zones = [Zone(**z) for z in json.loads(a.zones) if z["kind"] in ("include", "mask")]
    det = MotionDetector(MotionSettings(fps=a.fps, sensitivity=a.sensitivity), zones)
    used: list[MotionFrames] = []
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    with a.out.open("w") as out:
        deadline = time.monotonic() + 180  # the simulator answers 503 while it encodes the clip once
        try:
            while True:
                try:
                    source = frames_for_motion(
                        a.url, fps=a.fps, mode=a.mode, need=lambda: det.frame_need,
                        options={"rtsp_transport": "tcp"}, frames=used, key_interval_ms=a.key_interval_ms,
                        event_key_interval_ms=a.event_key_interval_ms,
                    )  # fmt: skip
                    for gray, t in source:
                        for ev in det.process(gray, t).events:
                            out.write(json.dumps(asdict(ev)) + "\n")
                            out.flush()
                    break
                except ValueError as e:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"cannot read {a.url}: {e}") from e
                    time.sleep(1)
        except Stop:
            pass
        for ev in det.flush().events:
            out.write(json.dumps(asdict(ev)) + "\n")
        counts = dict(used[-1].counts) if used else {}
        errors = dict(used[-1].errors) if used else {}
        out.write(json.dumps({"kind": "counts", "decode": counts, "errors": errors, "detector": det.counts}) + "\n")


if __name__ == "__main__":
    main()
