"""Benchmark: CPU per 720p 15 fps camera of Ronda's motion path (decoding included) vs Debian's ``motion``
daemon on the same RTSP stream, same run, with the event recall of each on the generated street clip.

The generated street clip (``tests/analytics/streetclip.py``: 1280x720, 15 fps, 75 s, people, a car, a
swaying tree, lighting drift, noise; ground truth in clip frames) is served by the simulator as camera 1
(``--clip``: H.264, 15 fps, 1 s GOP). Both sides watch ``rtsp://.../cam1`` (the 720p main stream), one
after the other for ``--seconds`` each, with the ground truth's include zone and tree mask:

- ``ronda``: Ronda's motion path in a child process (PyAV decoding + ``ronda.analytics`` motion at its
  default analysis rate), CPU of that process from ``/proc``;
- ``baseline``: ``motion`` 4.5 (Debian) through :mod:`bench._motiond` (config in a temp folder, the same
  zones as its mask file, no output but event hooks), CPU of the daemon from ``/proc``.

Recall: the share of ground-truth movements inside the include zone (``motion_intervals``, mapped to the
wall clock through the simulator's ``GET /cameras/cam1/clip``) that an event overlaps (1 s slack); only
movements wholly inside each side's window count. ``false_lighting`` counts events starting in the
lighting-only section.

    python bench/motion.py [--seconds 75] [--baseline-only]

Last line: ``{"bench": "motion", "metric": "cpu_per_camera", "unit": "% of a core", "ronda": X,
"baseline": Y, "baseline_name": "motion 4.5 (Debian)", "ratio": X/Y, "recall": R, "baseline_recall": B,
...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.analytics import groundtruth  # noqa: E402
from tests.analytics.streetclip import street_clip  # noqa: E402

from bench._common import own_cpu, result  # noqa: E402
from bench._motiond import MotionDaemon  # noqa: E402
from ronda.devices.simcontrol import SimulatorProcess  # noqa: E402

Interval = tuple[float, float]


# ------------------------------------------------------------------------------------ Ronda's half
# >>> RONDA MOTION PATH. This uses ronda.analytics.decode.frames_for_motion and
# ronda.analytics.motion.MotionDetector as the analytics branch documents them; until that code is in
# the tree this half fails with ImportError (run with --baseline-only meanwhile). If the worker's real
# entry point differs, change only this function.


def ronda_worker(url: str, zones: list[dict[str, Any]], seconds: float, out: Path) -> int:
    """Runs in a child process: motion on ``url`` for ``seconds`` after the first frame; writes the events
    (wall-clock ms) to ``out``. Prints ``ready`` at the first analysed frame."""
    from ronda.analytics import decode, motion, settings

    detector = motion.MotionDetector(zones=[settings.Zone(**z) for z in zones if z["kind"] in ("include", "mask")])
    events: list[tuple[str, int]] = []
    deadline: float | None = None
    for gray, time_ms in decode.frames_for_motion(
        url, need=lambda: detector.frame_need, options={"rtsp_transport": "tcp"}
    ):  # default analysis rate and decode mode
        if deadline is None:
            deadline = time.monotonic() + seconds
            print("ready", flush=True)
        events += [(e.kind, e.time_ms) for e in detector.process(gray, time_ms).events]
        if time.monotonic() > deadline:
            break
    events += [(e.kind, e.time_ms) for e in detector.flush().events]
    out.write_text(json.dumps(events))
    return 0


# <<< RONDA MOTION PATH


def _pairs(events: list[tuple[str, float]], until_ms: float) -> list[Interval]:
    out: list[Interval] = []
    start: float | None = None
    for kind, ms in events:
        if kind == "start":
            start = ms
        elif kind == "end" and start is not None:
            out.append((start, ms))
            start = None
    if start is not None:
        out.append((start, until_ms))
    return out


def run_ronda(url: str, zones: list[dict[str, Any]], seconds: float) -> tuple[float, list[Interval], Interval]:
    """(CPU % of a core, events, measured window in wall ms) of Ronda's motion path in a child process."""
    with tempfile.TemporaryDirectory(prefix="ronda-bench-motion-") as tmp:
        out = Path(tmp) / "events.json"
        cmd = [sys.executable, __file__, "--ronda-worker", url, "--zones", json.dumps(zones),
               "--seconds", str(seconds + 1), "--out", str(out)]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "ready":
            proc.wait(timeout=30)
            raise SystemExit(f"Ronda's motion worker did not start (exit {proc.returncode}): {line.strip()}")
        c0, t0, w0 = own_cpu(proc.pid), time.monotonic(), time.time() * 1000
        time.sleep(seconds)
        c1, t1, w1 = own_cpu(proc.pid), time.monotonic(), time.time() * 1000
        if proc.wait(timeout=60) != 0 or not out.is_file():
            raise SystemExit(f"Ronda's motion worker failed (exit {proc.returncode})")
        events = _pairs([(k, float(ms)) for k, ms in json.loads(out.read_text())], w1)
    return 100.0 * (c1 - c0) / (t1 - t0), events, (w0, w1)


def run_motiond(
    url: str, size: tuple[int, int], truth: groundtruth.GroundTruth, seconds: float
) -> tuple[float, list[Interval], Interval]:
    """(CPU % of a core, events, measured window in wall ms) of Debian's motion daemon."""
    with MotionDaemon(url, size, include=[truth.zone("include")], exclude=[truth.zone("mask")]) as md:
        md.wait_streaming()
        w0 = time.time() * 1000
        cpu = md.cpu_percent(seconds)
        w1 = time.time() * 1000
        return cpu, md.events(w1), (w0, w1)


def score(
    events: list[Interval], window: Interval, truth: groundtruth.GroundTruth, info: dict[str, Any]
) -> dict[str, Any]:
    moves = groundtruth.wall_intervals(truth.motion_intervals, info, *window)
    quiet = groundtruth.wall_intervals([truth.lighting_only], info, *window)
    return {
        "recall": round(groundtruth.recall(events, moves), 3) if moves else None,
        "movements": len(moves),
        "events": len(events),
        "false_lighting": groundtruth.events_during(events, quiet),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=75.0, help="measured seconds per side (default 75)")
    parser.add_argument("--baseline-only", action="store_true", help="only Debian's motion (no ronda figure)")
    parser.add_argument("--ronda-worker", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--zones", default="[]", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ronda_worker:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        return ronda_worker(args.ronda_worker, json.loads(args.zones), args.seconds, args.out)

    t0 = time.monotonic()
    clip = street_clip()
    truth = groundtruth.load(clip.truth)
    print(f"street clip ready ({time.monotonic() - t0:.0f} s): {clip.video}", flush=True)
    log_dir = Path(tempfile.mkdtemp(prefix="ronda-bench-motion-sim-"))
    with SimulatorProcess(cameras=1, clips={1: clip.video}, log_dir=log_dir) as sim:
        info = sim.clip_info("cam1")
        url = sim.url("cam1")
        size = (int(info["width"]), int(info["height"]))
        print(f"simulator: {url} ({size[0]}x{size[1]}, {info['fps']} fps, {info['frames']} frames)", flush=True)
        base_cpu, base_events, base_window = run_motiond(url, size, truth, args.seconds)
        base = score(base_events, base_window, truth, info)
        print(f"motion (Debian): {base_cpu:.1f} % of a core, {base}", flush=True)
        if args.baseline_only:
            print(json.dumps({"bench": "motion", "metric": "cpu_per_camera", "unit": "% of a core", "ronda": None,
                              "baseline": round(base_cpu, 2), "baseline_name": "motion 4.5 (Debian)", "ratio": None,
                              "recall": None, "baseline_recall": base["recall"], "seconds": args.seconds,
                              "baseline_false_lighting": base["false_lighting"]}))  # fmt: skip
            return 0
        zones = truth.zones()
        ronda_cpu, ronda_events, ronda_window = run_ronda(url, zones, args.seconds)
        mine = score(ronda_events, ronda_window, truth, info)
        print(f"ronda: {ronda_cpu:.1f} % of a core, {mine}", flush=True)
    print(
        result(
            "motion",
            "cpu_per_camera",
            "% of a core",
            ronda_cpu,
            base_cpu,
            "motion 4.5 (Debian)",
            recall=mine["recall"],
            baseline_recall=base["recall"],
            false_lighting=mine["false_lighting"],
            baseline_false_lighting=base["false_lighting"],
            seconds=args.seconds,
            cpus=os.cpu_count(),
        )  # fmt: skip
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
