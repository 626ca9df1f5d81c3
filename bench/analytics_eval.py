"""Evaluation harness of the analytics detectors (issue 14): precision, recall, detection delay, event →
alarm latency and CPU per camera, one JSON line per detector.

Every detector runs as the worker runs it: the shipped analysers (``analytics.builtin.BUILTIN``, in the
order a camera's settings give), fed with frames decoded by PyAV from labelled clips, 5 of the clips'
15 frames per second at 640×360 (the simulator's sub-stream; the street clip is scaled to it). The clips
and their truth are the generated ones the tests use (``tests/analytics/``: ``streetclip``, ``wallclip``,
``dumpclip``), plus the generated plate set (``platesynth``) for the plate reader; ``--clip FILE.mp4``
adds your own footage with a ``FILE.json`` truth in the same ``expect``/``none_of`` form (see
``wallclip.py``).

Scoring, per detector, over every clip it is run on:

- an expected event (``{"type", "after_s", "before_s"}``) is found when the detector raises an event of
  that type inside the window (clip time); each raised event matches at most one expectation;
- every other event of the detector's types (``dumping.``, ``graffiti.``, ``tamper.``…) is a false alarm;
- ``precision`` = found / raised, ``recall`` = found / expected; ``delay_s``: median of (event time −
  ``onset_s``) where the truth gives the moment the thing happened (else ``after_s``);
- ``ms_per_frame``: CPU time (this thread) of the detector's own ``feed`` per analysed frame, the
  analysers it needs (motion, objects) and decoding not counted; ``cpu_pct`` = that at 5 fps, in % of one
  core; ``chain_cpu_pct``: the same with the analysers it brings along (decoding still excluded);
- ``alarm_latency_ms`` (with ``--alarms``): a real ``ronda serve`` (fresh data dir, recording off) with one
  rule raising an alarm for the detector's event type; the median time from an event posted with
  ``time`` = now to the alarm row's creation (``GET /api/v1/alarms``), over 20 events.

Plates: ``recall`` = exact reads / plates, ``precision`` = exact reads / plates read (a wrong read is a
false read), over the sharp 90–120 px set and the blurred 60–80 px set (``recall_sharp``,
``recall_blurred``), ``ms_per_read``.

    python bench/analytics_eval.py [--detectors motion,graffiti,...] [--alarms] [--clip FILE.mp4 ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ronda.analytics.builtin import BUILTIN  # noqa: E402
from ronda.analytics.pipeline import EventOut, Frame  # noqa: E402
from ronda.analytics.settings import AnalyticsSettings  # noqa: E402

BASE_MS = 1_800_000_000_000
SUB = (640, 360)
ANALYSED_FPS = 5
PREFIX = {"motion": ("motion.start",), "objects": ("object.line_crossed",), "dumping": ("dumping.",),
          "graffiti": ("graffiti.",), "tamper": ("tamper.",)}  # fmt: skip


@dataclass
class Clip:
    name: str
    video: Path
    truth: dict[str, Any]  # zones, expect [{type, after_s, before_s, onset_s?}], none_of [prefix]


@dataclass
class Tally:
    detector: str
    found: int = 0
    raised: int = 0
    expected: int = 0
    delays: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    chain_cpu_s: float = 0.0
    frames: int = 0
    clips: list[str] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)
    false_alarms: list[str] = field(default_factory=list)


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------- clips
def wall_clips() -> list[Clip]:
    from tests.analytics.wallclip import CLIPS, wall_clip

    out = []
    for name in CLIPS:
        c = wall_clip(name)
        out.append(Clip(f"wall:{name}", c.video, c.load()))
    return out


def street_clips() -> list[Clip]:
    """The street clip: motion episodes and line crossings as expectations."""
    from tests.analytics import groundtruth
    from tests.analytics.streetclip import street_clip

    c = street_clip()
    gt = groundtruth.load(c.truth)
    fps = gt.fps
    expect: list[dict[str, Any]] = []
    for a, b in gt.motion_intervals:
        expect.append({"type": "motion.start", "after_s": a / fps - 1.0, "before_s": b / fps, "onset_s": a / fps})
    for x in gt.line_crossings:
        t = x["frame"] / fps
        expect.append({"type": "object.line_crossed", "after_s": t - 2.0, "before_s": t + 3.0, "onset_s": t,
                       "class": x["class"]})  # fmt: skip
    truth = {"zones": gt.zones(), "expect": expect, "none_of": []}
    return [Clip("street", c.video, truth)]


def dump_clips() -> list[Clip]:
    """The dumping clip: one drop (raised within hold + 3 s of it, box IoU ≥ 0.5 with the bag's), and its
    negatives (people standing, a parked car, a shadow, a lighting ramp, the tree) that must raise none."""
    from tests.analytics.dumpclip import dumping_clip

    from ronda.analytics.settings import DumpingSettings

    c = dumping_clip()
    truth = json.loads(c.truth.read_text())
    drop = truth["drop"]["frame"] / truth["fps"]
    hold = DumpingSettings().hold_seconds
    expect = [{"type": "dumping.detected", "after_s": drop, "before_s": drop + hold + 3.0, "onset_s": drop,
               "box": truth["drop"]["box"]}]  # fmt: skip
    return [Clip("dumping", c.video, {"zones": truth["zones"], "expect": expect, "none_of": []})]


def own_clips(paths: list[str]) -> list[Clip]:
    out = []
    for p in paths:
        video = Path(p)
        truth = json.loads(video.with_suffix(".json").read_text())
        out.append(Clip(f"own:{video.name}", video, truth))
    return out


# ----------------------------------------------------------------------------------------- running
def frames(clip: Clip) -> Iterator[Frame]:
    import av

    with av.open(str(clip.video)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 15)
        every = max(1, round(fps / ANALYSED_FPS))
        for i, picture in enumerate(container.decode(stream)):
            if i % every:
                continue
            if (picture.width, picture.height) != SUB:
                picture = picture.reformat(width=SUB[0], height=SUB[1])
            yield Frame(1, BASE_MS + round(i / fps * 1000), picture)


def run(detector: str, clip: Clip, tally: Tally) -> None:
    settings = AnalyticsSettings.model_validate({"detectors": [detector], "zones": clip.truth.get("zones", [])})
    names = [n for n in BUILTIN if n in settings.detectors]  # the workers' order (later ones read earlier notes)
    analysers = [(n, BUILTIN[n](1, settings)) for n in names]
    events: list[tuple[float, EventOut]] = []
    for frame in frames(clip):
        tally.frames += 1
        for name, a in analysers:
            if a is None:
                continue
            t0 = time.thread_time()
            results = list(a.feed(frame))
            spent = time.thread_time() - t0
            tally.chain_cpu_s += spent
            if name == detector:
                tally.cpu_s += spent
            for r in results:
                if isinstance(r, EventOut) and r.type.startswith(PREFIX[detector]):
                    events.append(((r.time_ms - BASE_MS) / 1000, r))
    score(clip, events, tally)


def _matches(want: dict[str, Any], t: float, e: EventOut) -> bool:
    if not e.type.startswith(want["type"]) or not want["after_s"] <= t <= want["before_s"]:
        return False
    for key in ("class", "direction"):
        if key in want and e.payload.get(key) != want[key]:
            return False
    return "box" not in want or (e.box is not None and iou(e.box, want["box"]) >= 0.5)


def iou(a: Any, b: Any) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def score(clip: Clip, events: list[tuple[float, EventOut]], tally: Tally) -> None:
    prefixes = PREFIX[tally.detector]
    wanted = [w for w in clip.truth.get("expect", []) if w["type"].startswith(prefixes)]
    used: set[int] = set()
    tally.clips.append(clip.name)
    tally.expected += len(wanted)
    tally.raised += len(events)
    for w in wanted:
        hit = next((i for i, (t, e) in enumerate(events) if i not in used and _matches(w, t, e)), None)
        if hit is None:
            tally.misses.append(f"{clip.name}:{w['type']}@{w['after_s']:.0f}-{w['before_s']:.0f}s")
            continue
        used.add(hit)
        tally.found += 1
        tally.delays.append(events[hit][0] - float(w.get("onset_s", w["after_s"])))
    for i, (t, e) in enumerate(events):
        if i not in used:
            tally.false_alarms.append(f"{clip.name}:{e.type}@{t:.1f}s")


def report(t: Tally, alarm_ms: float | None) -> dict[str, Any]:
    per_frame = 1000 * t.cpu_s / t.frames if t.frames else 0.0
    chain = 1000 * t.chain_cpu_s / t.frames if t.frames else 0.0
    return {
        "bench": "analytics_eval", "detector": t.detector,
        "precision": round(t.found / t.raised, 3) if t.raised else (1.0 if not t.expected else 0.0),
        "recall": round(t.found / t.expected, 3) if t.expected else None,
        "found": t.found, "raised": t.raised, "expected": t.expected,
        "delay_s": round(statistics.median(t.delays), 2) if t.delays else None,
        "alarm_latency_ms": None if alarm_ms is None else round(alarm_ms, 1),
        "ms_per_frame": round(per_frame, 3), "cpu_pct": round(per_frame * ANALYSED_FPS / 10, 3),
        "chain_cpu_pct": round(chain * ANALYSED_FPS / 10, 3), "frames": t.frames, "fps": ANALYSED_FPS,
        "size": f"{SUB[0]}x{SUB[1]}", "clips": t.clips, "misses": t.misses[:10], "false_alarms": t.false_alarms[:10],
    }  # fmt: skip


# ----------------------------------------------------------------------------------------- plates
def plates_line() -> dict[str, Any]:
    """The reader on the generated plate sets (``platesynth``), each plate read in its vehicle's box as the
    ``plates`` analyser reads it; plate-less street pictures count the false reads."""
    from tests.analytics import platesynth

    from ronda.analytics.plates.reader import PlateReader

    reader = PlateReader()
    out: dict[str, Any] = {"bench": "analytics_eval", "detector": "plates"}
    total_ok = total_read = total = 0
    ms: list[float] = []
    for name in ("sharp", "blurred"):
        samples = platesynth.plate_set(name)
        ok = read = 0
        for s in samples:
            t0 = time.thread_time()
            got = reader.read(s.image, s.vehicle)
            ms.append(1000 * (time.thread_time() - t0))
            if got is not None:
                read += 1
                ok += got.plate == s.plate
        out[f"recall_{name}"] = round(ok / len(samples), 3)
        total_ok, total_read, total = total_ok + ok, total_read + read, total + len(samples)
        _log(f"plates {name}: {ok}/{len(samples)} exact, {read} read")
    false = sum(reader.read(img) is not None for img in platesynth.plateless())
    out.update(precision=round(total_ok / (total_read + false), 3) if total_read + false else None,
               recall=round(total_ok / total, 3), plates=total, false_reads_plateless=false,
               ms_per_read=round(statistics.median(ms), 1), cpu_pct=None)  # fmt: skip
    return out


# ----------------------------------------------------------------------------------------- alarms
def alarm_latency(types: list[str]) -> dict[str, float]:
    """Median ms from an event to its alarm's creation (the alarm's ``created`` − ``first_event``, both
    the server's clock), through a real ``ronda serve`` with one rule per type."""
    import os
    import subprocess
    import tempfile

    import httpx
    from tests.helpers import free_port, write_config

    from bench._common import stop, wait_up
    from ronda.timeutil import parse_iso

    password = "eval-Password-7391"
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        cams = [{"name": "Eval camera", "main": {"url": "rtsp://127.0.0.1:9/eval"}}]
        cfg = write_config(Path(tmp) / "data", port, cams, recording={"enabled": False})
        py = [sys.executable, "-m", "ronda.cli"]
        subprocess.run([*py, "db", "upgrade", "--config", str(cfg)], check=True, capture_output=True)
        subprocess.run([*py, "user", "add", "admin", "--role", "administrator", "--config", str(cfg)], check=True,
                       capture_output=True, env={**os.environ, "RONDA_PASSWORD": password})  # fmt: skip
        log_file = Path(tmp) / "ronda.log"
        with log_file.open("wb") as log_out:
            proc = subprocess.Popen([*py, "serve", "--config", str(cfg)], stdout=log_out, stderr=log_out)
        base = f"http://127.0.0.1:{port}/api/v1"
        try:
            wait_up(base + "/health", proc, log_file)
            login = httpx.post(base + "/auth/login", json={"username": "admin", "password": password})
            login.raise_for_status()
            h = {"Authorization": f"Bearer {login.json()['access_token']}"}
            with httpx.Client(base_url=base, headers=h, timeout=10) as c:
                cam = c.get("/cameras").json()[0]["id"]
                for typ in types:
                    action = {"type": "raise_alarm", "title": f"eval {typ}", "dedupe_window_s": 0}
                    rule = {"name": f"eval {typ}", "trigger": {"types": [typ]}, "actions": [action]}
                    r = c.post("/rules", json=rule)
                    if r.status_code >= 300:
                        raise SystemExit(f"rule for {typ}: {r.status_code} {r.text}")
                    lat: list[float] = []
                    for i in range(20):
                        c.post("/events", json={"type": typ, "camera": cam, "payload": {"n": i}}).raise_for_status()
                        deadline = time.monotonic() + 10
                        while time.monotonic() < deadline:
                            rows = [a for a in c.get("/alarms", params={"state": "open"}).json()
                                    if a["title"] == f"eval {typ}"]  # fmt: skip
                            if rows:
                                a = rows[0]
                                lat.append(parse_iso(a["created"]) - parse_iso(a["first_event"]))
                                c.post(f"/alarms/{a['id']}/close", json={"reason": "eval"})
                                break
                            time.sleep(0.005)
                    out[typ] = statistics.median(lat) if lat else float("nan")
                    _log(f"alarm latency {typ}: {out[typ]:.1f} ms over {len(lat)} events")
        finally:
            stop(proc)
    return out


# ----------------------------------------------------------------------------------------- main
SOURCES: dict[str, Callable[[], list[Clip]]] = {
    "motion": street_clips, "objects": street_clips, "dumping": dump_clips,
    "graffiti": wall_clips, "tamper": wall_clips,
}  # fmt: skip
CITY = {"dumping", "graffiti", "tamper"}
ALARM_TYPE = {"motion": "motion.start", "objects": "object.line_crossed", "dumping": "dumping.detected",
              "graffiti": "graffiti.detected", "tamper": "tamper.covered", "plates": "plate.hotlist"}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--detectors", default="motion,objects,dumping,graffiti,tamper,plates")
    ap.add_argument("--alarms", action="store_true", help="also measure event → alarm through a real server")
    ap.add_argument("--clip", action="append", default=[], help="your own clip FILE.mp4 with FILE.json truth")
    args = ap.parse_args(argv)
    wanted = [d.strip() for d in args.detectors.split(",") if d.strip()]
    unknown = [d for d in wanted if d not in SOURCES and d != "plates"]
    if unknown:
        ap.error(f"unknown detector(s): {', '.join(unknown)}")
    alarms = alarm_latency([ALARM_TYPE[d] for d in wanted]) if args.alarms else {}
    extra = own_clips(args.clip)
    city: dict[str, float] = {}
    for d in wanted:
        if d == "plates":
            line = plates_line()
            line["alarm_latency_ms"] = alarms.get(ALARM_TYPE[d])
            print(json.dumps(line), flush=True)
            continue
        tally = Tally(d)
        clips = SOURCES[d]() + extra
        for clip in clips:
            _log(f"{d}: {clip.name}")
            run(d, clip, tally)
        line = report(tally, alarms.get(ALARM_TYPE[d]))
        if d in CITY:
            city[d] = line["cpu_pct"]
        print(json.dumps(line), flush=True)
    if set(city) == CITY:  # the budget: these three on one camera at 5 fps 640×360, ≤ 5 % of a core
        total = round(sum(city.values()), 3)
        print(json.dumps({"bench": "analytics_eval", "detector": "+".join(sorted(CITY)), "cpu_pct": total,
                          "budget_pct": 5.0, "within": total <= 5.0}), flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
