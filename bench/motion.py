"""Benchmark: CPU per 720p15 camera of Ronda's motion path (decode included) vs Debian's ``motion``.

The generated street clip (``tests/analytics/streetclip.py``: 1280x720, 15 fps, 75 s, people, cars, a
swaying tree under a mask, a lighting ramp, sensor noise) is served by the simulator (``--clip 1=...``)
over RTSP. In the same window, side by side on the same stream:

- Ronda's motion path as the product runs it (the ``ronda`` figure, mode ``pipeline``):
  ``bench/_pipeline_worker.py`` follows the fragments the recorder writes (an ``ffmpeg -c copy`` with the
  recorder's muxer settings, run here; its CPU is reported as ``recorder_cpu`` and not counted: a camera
  is recorded anyway, and motion is what analytics adds) with ``analytics/frames.py`` (adaptive decoding)
  and ``analytics/motion_analyser.py``, with the clip's include zone and tree mask, 5 fps;
- for comparison (under ``modes``), ``bench/_motion_worker.py``: a PyAV RTSP client with
  :mod:`ronda.analytics.decode` and :class:`ronda.analytics.motion.MotionDetector`, one process per
  decode mode (adaptive with a look every 2 s, every keyframe during events, every keyframe, everything);
- Debian's ``motion`` 4.5 daemon through :class:`bench._motiond.MotionDaemon` (Debian's detection
  defaults: threshold 1500 px, despeckle EedDl, noise tune; the same zones as its PGM mask; no output but
  event hooks; ``event_gap`` 2 s like Ronda's end rule).

CPU is read from /proc over the measuring window. Recall (:mod:`tests.analytics.groundtruth`): the
ground-truth movements in the include zone (``motion_intervals``, per loop of the clip, wholly inside
the window) that an event overlaps (±1 s); ``false_events``: events overlapping none;
``lighting_events``: events starting in the lighting-only section.

    python bench/motion.py [--seconds 160] [--warmup 10]

The clip and its ground truth come from the analytics test media (``tests.analytics.streetclip``,
``tests.analytics.groundtruth``), served by ``ronda sim --clip``.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.analytics import groundtruth  # noqa: E402
from tests.analytics.fragments import MUX  # noqa: E402
from tests.analytics.streetclip import street_clip  # noqa: E402

from bench._common import own_cpu, result, tree_cpu  # noqa: E402
from bench._motiond import MotionDaemon  # noqa: E402
from ronda.devices.simcontrol import SimulatorProcess  # noqa: E402

# name → (decode mode, idle keyframe interval ms); the first gives the ``ronda`` figure
# name → (decode mode, idle keyframe interval ms, in-event keyframe interval ms)
MODES: dict[str, tuple[str, int, int]] = {
    "adaptive": ("adaptive", 2000, 2000),  # Ronda's default: a look every 2 s unless confirming a start
    "adaptive-1s-events": ("adaptive", 2000, 0),  # every keyframe (1 s GOP) during events
    "adaptive-1s": ("adaptive", 0, 0),  # every keyframe, idle or not
    "keyframes": ("keyframes", 0, 0),  # every keyframe, never more
    "all": ("all", 0, 0),  # every frame decoded
}
TOLERANCE_MS = 1000
# The recorder's muxer settings with its default segment length (recording.segment_seconds: 6 s)
RECORDER_MUX = [("6" if prev == "-segment_time" else v) for prev, v in zip(["", *MUX[:-1]], MUX, strict=True)]
EVENT_GAP_S = 2


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------- Ronda


def ronda_events(path: Path) -> tuple[list[tuple[float, float]], dict[str, Any]]:
    spans: list[tuple[float, float]] = []
    counts: dict[str, Any] = {}
    start: int | None = None
    for line in path.read_text().splitlines() if path.is_file() else []:
        ev = json.loads(line)
        if ev["kind"] == "start":
            start = ev["time_ms"]
        elif ev["kind"] == "end" and start is not None:
            spans.append((start, ev["time_ms"]))
            start = None
        elif ev["kind"] == "counts":
            counts = ev
    if start is not None:
        spans.append((start, int(time.time() * 1000)))
    return spans, counts


# ------------------------------------------------------------------------------------------- scoring


def score(
    spans: list[tuple[float, float]], truth: groundtruth.GroundTruth, info: dict[str, Any], t0: float, t1: float
) -> dict[str, Any]:
    moves = groundtruth.wall_intervals(truth.motion_intervals, info, t0, t1)
    quiet = groundtruth.wall_intervals([truth.lighting_only], info, t0, t1)
    loop_ms = int(info["frames"]) * 1000 / int(info["fps"])
    near = groundtruth.wall_intervals(truth.motion_intervals, info, t0 - loop_ms, t1 + loop_ms)
    inside = [x for x in spans if x[1] >= t0 and x[0] <= t1]
    slack = TOLERANCE_MS
    found = sum(1 for m in moves if any(m[0] - slack <= x[1] and x[0] - slack <= m[1] for x in inside))
    return {
        "recall": round(groundtruth.recall(inside, moves, slack), 3) if moves else None,
        "found": found,
        "movements": len(moves),
        "events": len(inside),
        # an event overlapping no movement at all (also none cut by the window's edges)
        "false_events": sum(1 for x in inside if not any(m[0] - slack <= x[1] and x[0] - slack <= m[1] for m in near)),
        "lighting_events": groundtruth.events_during(inside, quiet),
    }


# ------------------------------------------------------------------------------------------- main


def wait_stream(url: str, seconds: float = 300) -> None:
    """Until the camera serves (the simulator answers 503 while it encodes a new clip once)."""
    import av

    deadline = time.monotonic() + seconds
    while True:
        try:
            av.open(url, options={"rtsp_transport": "tcp"}, timeout=10).close()
            return
        except av.FFmpegError as e:
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} does not serve: {e}") from e
            log(f"  waiting for {url}: {e}")
            time.sleep(3)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=160.0, help="measuring window (the clip loops every 75 s)")
    p.add_argument("--warmup", type=float, default=10.0)
    p.add_argument("--fps", type=float, default=5.0)
    a = p.parse_args()
    log("street clip: generating or reading the cached one")
    clip = street_clip()
    truth = groundtruth.load(clip.truth)
    zones = [z for z in truth.zones() if z["kind"] in ("include", "mask")]
    work = Path(tempfile.mkdtemp(prefix="bench-motion-"))
    procs: dict[str, subprocess.Popen[bytes]] = {}
    md: MotionDaemon | None = None
    try:
        with SimulatorProcess(cameras=1, clips={1: clip.video}, log_dir=work) as sim:
            url = sim.url("cam1")
            info = sim.clip_info("cam1")
            size = (int(truth.doc["width"]), int(truth.doc["height"]))
            log(f"simulator: {url} ({size[0]}x{size[1]} 15 fps, clip of {info['frames']} frames)")
            wait_stream(url)
            md = MotionDaemon(
                url, size, event_gap=EVENT_GAP_S, include=[truth.zone("include")], exclude=[truth.zone("mask")]
            ).start()
            assert md.proc is not None
            partial = work / "partial"
            partial.mkdir()
            procs["recorder"] = subprocess.Popen(
                ["ffmpeg", "-loglevel", "error", "-rtsp_transport", "tcp", "-i", url, "-map", "0:v", "-c", "copy",
                 *RECORDER_MUX, str(partial / "s_%06d.mp4.partial")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=(work / "recorder.log").open("wb"),
            )  # fmt: skip
            procs["pipeline"] = subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("_pipeline_worker.py")), "--partial-dir", str(partial),
                 "--zones", json.dumps(zones), "--out", str(work / "pipeline.jsonl")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=(work / "pipeline.log").open("wb"),
            )  # fmt: skip
            for name, (mode, key_ms, event_key_ms) in MODES.items():
                procs[name] = subprocess.Popen(
                    [sys.executable, str(Path(__file__).with_name("_motion_worker.py")), "--url", url,
                     "--zones", json.dumps(zones), "--fps", str(a.fps), "--mode", mode,
                     "--key-interval-ms", str(key_ms), "--event-key-interval-ms", str(event_key_ms),
                     "--out", str(work / f"{name}.jsonl")],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=(work / f"{name}.log").open("wb"),
                )  # fmt: skip
            for left in range(int(a.warmup), 0, -5):
                log(f"  warming up, {left} s")
                time.sleep(min(5, left))
            md.wait_streaming()
            for name, proc in procs.items():
                if proc.poll() is not None:
                    raise SystemExit(f"{name} exited with {proc.returncode}; see {work}")
            procs["motion"] = md.proc
            cpu0 = {n: (tree_cpu([p.pid]) if n == "motion" else own_cpu(p.pid)) for n, p in procs.items()}
            t0 = time.time() * 1000
            m0 = time.monotonic()
            end = m0 + a.seconds
            while (left := end - time.monotonic()) > 0:
                log(f"  measuring, {left:.0f} s left")
                time.sleep(min(10, left))
            dt = time.monotonic() - m0
            t1 = time.time() * 1000
            cpu = {
                n: 100.0 * ((tree_cpu([p.pid]) if n == "motion" else own_cpu(p.pid)) - cpu0[n]) / dt
                for n, p in procs.items()
            }
            # Let events that were open at the window's end close (end = 2 s quiet) before stopping.
            time.sleep(EVENT_GAP_S + 1.5)
            mspans = md.events(t1)
            for name, proc in procs.items():
                if name != "motion":
                    proc.send_signal(signal.SIGINT)
            for name, proc in procs.items():
                if name == "motion":
                    continue
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
    finally:
        if md is not None:
            md.close()
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    report: dict[str, Any] = {}
    for mode in ["pipeline", *MODES]:
        spans, counts = ronda_events(work / f"{mode}.jsonl")
        report[mode] = {"cpu": round(cpu[mode], 2), **score(spans, truth, info, t0, t1),
                        "decoded": counts.get("decode", {}).get("decoded"),
                        "errors": counts.get("errors")}  # fmt: skip
        log(f"ronda {mode}: {report[mode]}")
    base = {"cpu": round(cpu["motion"], 2), **score(mspans, truth, info, t0, t1)}
    log(f"motion: {base}")
    log(f"work dir: {work}")
    r = report["pipeline"]
    print(
        result(
            "motion", "CPU per 720p15 camera, motion path with decode", "% of a core",
            r["cpu"], base["cpu"], "Debian motion 4.5 (bench/_motiond.py: netcam RTSP, same zones)",
            recall=r["recall"], baseline_recall=base["recall"], seconds=a.seconds, fps=a.fps, mode="pipeline",
            recorder_cpu=round(cpu["recorder"], 2),
            false_events=r["false_events"], baseline_false_events=base["false_events"],
            lighting_events=r["lighting_events"], baseline_lighting_events=base["lighting_events"],
            modes={m: report[m] for m in MODES}, baseline_detail=base,
        )
    )  # fmt: skip


if __name__ == "__main__":
    main()
