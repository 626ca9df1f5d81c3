"""Benchmark: CPU per 720p15 camera of Ronda's motion path (decode included) vs Debian's ``motion``.

The generated street clip (``tests/analytics/streetclip.py``: 1280x720, 15 fps, 75 s, people, cars, a
swaying tree under a mask, a lighting ramp, sensor noise) is served by the simulator (``--clip 1=...``)
over RTSP. In the same window, side by side on the same stream:

- Ronda's motion path, ``bench/_motion_worker.py``: PyAV RTSP client, :mod:`ronda.analytics.decode`
  and :class:`ronda.analytics.motion.MotionDetector` with the clip's include zone and tree mask, 5 fps,
  one process per decode mode (``adaptive``, the default, gives the ``ronda`` figure; the others,
  reported under ``modes``, look at every keyframe during events, or always, or decode everything);
- Debian's ``motion`` 4.5 daemon (``motion -n``) on the same URL, Debian's distributed detection
  defaults (threshold 1500 px, despeckle EedDl, noise tune) with the same zones as a PGM mask, the same
  event rules (2 frames to start, 2 s quiet to end) and its light-switch filter on (50 %).

CPU is read from /proc over the measuring window. Recall: a ground-truth movement (one object's run
inside the include zone, per loop of the clip, wholly inside the window) is found when an event overlaps
it (±1 s: ``motion`` reports times to the second); ``false_events`` are events overlapping none.

    python bench/motion.py [--seconds 160] [--warmup 10]

The simulator's clip, the clip itself and its ground truth come from the analytics test media
(``tests.analytics.streetclip``, ``ronda sim --clip``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import own_cpu, result, tree_cpu  # noqa: E402
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
EVENT_GAP_S = 2


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------- Debian motion


def motion_config(work: Path, url: str, size: tuple[int, int], zones: list[dict[str, Any]]) -> Path:
    """A ``motion`` configuration for one network camera, events logged with wall-clock ms."""
    w, h = size
    mask = np.zeros((h, w), np.uint8)
    includes = [z for z in zones if z["kind"] == "include"]
    if not includes:
        mask[:] = 255
    for z in includes:
        cv2.fillPoly(mask, [np.round(np.array(z["points"]) * [w, h]).astype(np.int32)], 255)
    for z in zones:
        if z["kind"] == "mask":
            cv2.fillPoly(mask, [np.round(np.array(z["points"]) * [w, h]).astype(np.int32)], 0)
    pgm = work / "mask.pgm"
    pgm.write_bytes(f"P5\n{w} {h}\n255\n".encode() + mask.tobytes())
    hook = work / "event.sh"
    hook.write_text(f'#!/bin/sh\necho "$1 $(date +%s%3N)" >> {work / "events.log"}\n')
    hook.chmod(0o755)
    conf = work / "motion.conf"
    conf.write_text(
        "\n".join([
            "daemon off", "setup_mode off", f"log_file {work / 'motion.log'}", "log_level 5",
            f"target_dir {work}", f"netcam_url {url}", 'netcam_params rtsp_transport=tcp',
            f"width {w}", f"height {h}", "framerate 15",
            "threshold 1500", "noise_tune on", "despeckle_filter EedDl", f"mask_file {pgm}",
            "lightswitch_percent 50", "minimum_motion_frames 2", f"event_gap {EVENT_GAP_S}",
            "pre_capture 0", "post_capture 0", "picture_output off", "movie_output off",
            "webcontrol_port 0", "stream_port 0",
            f"on_event_start {hook} start", f"on_event_end {hook} end", "",
        ])
    )  # fmt: skip
    return conf


def motion_events(work: Path) -> list[tuple[int, int]]:
    """(start_ms, end_ms) of motion's events: the hook's wall clock; an end fires event_gap after the
    last motion."""
    path = work / "events.log"
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for line in path.read_text().splitlines() if path.is_file() else []:
        kind, ms = line.split()
        if kind == "start":
            start = int(ms)
        elif kind == "end" and start is not None:
            spans.append((start, max(start, int(ms) - EVENT_GAP_S * 1000)))
            start = None
    if start is not None:
        spans.append((start, int(time.time() * 1000)))
    return spans


# ------------------------------------------------------------------------------------------- Ronda


def ronda_events(path: Path) -> tuple[list[tuple[int, int]], dict[str, Any]]:
    spans: list[tuple[int, int]] = []
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


def movements(truth: dict[str, Any], info: dict[str, Any], t0: float, t1: float) -> list[tuple[float, float]]:
    """Wall-clock (start_ms, end_ms) of every ground-truth movement in the include zone, per loop,
    wholly inside [t0, t1]."""
    fps = int(info["fps"])
    frames = int(info["frames"])
    epoch = float(info["epoch_ms"])
    loop_ms = frames * 1000.0 / fps
    out = []
    first = int((t0 - epoch) // loop_ms) - 1
    last = int((t1 - epoch) // loop_ms) + 1
    for loop in range(max(0, first), last + 1):
        base = epoch + loop * loop_ms
        for obj in truth["objects"]:
            for a, b in obj["in_zone"]:
                s, e = base + a * 1000.0 / fps, base + (b + 1) * 1000.0 / fps
                if s >= t0 and e <= t1:
                    out.append((s, e))
    return sorted(out)


def score(spans: list[tuple[int, int]], truth_spans: list[tuple[float, float]], t0: float, t1: float) -> dict[str, Any]:
    def hit(a: tuple[float, float], b: tuple[float, float]) -> bool:
        return a[0] - TOLERANCE_MS <= b[1] and b[0] - TOLERANCE_MS <= a[1]

    inside = [s for s in spans if s[1] >= t0 and s[0] <= t1]
    found = sum(1 for m in truth_spans if any(hit(m, s) for s in inside))
    false = sum(1 for s in inside if not any(hit(m, s) for m in truth_spans))
    return {
        "recall": round(found / len(truth_spans), 3) if truth_spans else None,
        "found": found,
        "movements": len(truth_spans),
        "events": len(inside),
        "false_events": false,
    }


def lighting_events(
    spans: list[tuple[int, int]], truth: dict[str, Any], info: dict[str, Any], t0: float, t1: float
) -> int:
    """Events overlapping the clip's lighting-only section (nothing moves there)."""
    fps, frames, epoch = int(info["fps"]), int(info["frames"]), float(info["epoch_ms"])
    loop_ms = frames * 1000.0 / fps
    a, b = truth["lighting_only"]
    n = 0
    for loop in range(max(0, int((t0 - epoch) // loop_ms)), int((t1 - epoch) // loop_ms) + 1):
        s, e = epoch + loop * loop_ms + a * 1000.0 / fps, epoch + loop * loop_ms + (b + 1) * 1000.0 / fps
        if s >= t0 and e <= t1:
            # an event ending in the first second of the section is the previous movement's tail
            n += sum(1 for x in spans if x[0] <= e and x[1] >= s + TOLERANCE_MS)
    return n


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
    if shutil.which("motion") is None:
        raise SystemExit("Debian's motion is not installed: apt-get install -y motion")
    from tests.analytics.streetclip import street_clip

    log("street clip: generating or reading the cached one")
    clip = street_clip()
    truth = json.loads(Path(clip.truth).read_text())
    zones = [z for z in truth["zones"] if z["kind"] in ("include", "mask")]
    work = Path(tempfile.mkdtemp(prefix="bench-motion-"))
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        with SimulatorProcess(cameras=1, clips={1: clip.video}, log_dir=work) as sim:
            url = sim.url("cam1")
            info = sim.clip_info("cam1")
            size = (int(truth["width"]), int(truth["height"]))
            log(f"simulator: {url} ({size[0]}x{size[1]} 15 fps, clip of {info['frames']} frames)")
            wait_stream(url)
            mdir = work / "motion"
            mdir.mkdir()
            conf = motion_config(mdir, url, size, zones)
            procs["motion"] = subprocess.Popen(
                ["motion", "-n", "-c", str(conf)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=(mdir / "stderr.log").open("wb"),
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
            for name, proc in procs.items():
                if proc.poll() is not None:
                    raise SystemExit(f"{name} exited with {proc.returncode}; see {work}")
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
            for proc in procs.values():
                proc.send_signal(signal.SIGINT)
            for proc in procs.values():
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    truth_spans = movements(truth, info, t0, t1)
    report: dict[str, Any] = {}
    for mode in MODES:
        spans, counts = ronda_events(work / f"{mode}.jsonl")
        report[mode] = {"cpu": round(cpu[mode], 2), **score(spans, truth_spans, t0, t1),
                        "lighting_events": lighting_events(spans, truth, info, t0, t1),
                        "decoded": counts.get("decode", {}).get("decoded"),
                        "errors": counts.get("errors")}  # fmt: skip
        log(f"ronda {mode}: {report[mode]}")
    mspans = motion_events(mdir)
    base = {"cpu": round(cpu["motion"], 2), **score(mspans, truth_spans, t0, t1),
            "lighting_events": lighting_events(mspans, truth, info, t0, t1)}  # fmt: skip
    log(f"motion: {base}")
    log(f"work dir: {work}")
    r = report["adaptive"]
    print(
        result(
            "motion", "CPU per 720p15 camera, motion path with decode", "% of a core",
            r["cpu"], base["cpu"], "Debian motion 4.5 (netcam RTSP, same zones and event rules)",
            recall=r["recall"], baseline_recall=base["recall"], seconds=a.seconds, fps=a.fps, mode="adaptive",
            false_events=r["false_events"], baseline_false_events=base["false_events"],
            lighting_events=r["lighting_events"], baseline_lighting_events=base["lighting_events"],
            modes={m: report[m] for m in MODES}, baseline_detail=base,
        )
    )  # fmt: skip


if __name__ == "__main__":
    main()
