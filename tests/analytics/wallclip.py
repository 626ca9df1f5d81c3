"""Generated scenes with ground truth for the graffiti and tamper analysers (docs/analytics.md, Test media).

Every picture is a real photograph, composited: the wall is the building front of ``bus.jpg`` (its
plaster, stone courses, windows and balconies; ``ultralytics`` wheel), the street view for tamper is
``bus.jpg`` itself, and the people are its two pedestrians cut out with GrabCut (``streetclip``'s
outlines). Only the paint strokes and the tamper effects (a dark cloth, a torch, a blur, a turn) are
drawn. Clips are 640x360 (the simulator's sub-stream size), 15 fps, H.264 with a 1 s GOP, with ffmpeg's
temporal sensor noise, and each starts and ends with the plain scene where that matters.

``wall_clip(name)`` returns ``(video, truth)`` paths, generated once into
``<sim cache>/testmedia/<VERSION>/`` (like ``street_clip``); ``python -m tests.analytics.wallclip``
makes them all. The truth (JSON) holds ``fps``, ``frames``, ``zones`` (the form ``PUT
/cameras/{id}/analytics`` takes) and ``expect``: the events the clip must give, each ``{"type",
"after_s", "before_s"}`` (raised in that window of clip time), and ``none_of`` types it must not give.

| clip | seconds | what happens |
|---|---|---|
| ``strokes`` | 60 | a man walks to the wall (8-11 s), stands in front of the watched plaster while spray |
| | | paint strokes appear on it beside him (12-22 s), walks off (23-27 s); the marks stay |
| ``damage`` | 45 | a man stands in front of the facade's dark sign (9-17 s); the sign is torn off meanwhile (13 s) |
| ``passers`` | 60 | people walk past in front of the wall, one stops in front of the watched zone for 3 s |
| ``wall_light`` | 60 | nothing moves; the light ramps down to 45 % (10-25 s) and back (35-50 s) |
| ``cover`` | 40 | the street view; 12-27 s a dark cloth over the lens |
| ``blind`` | 40 | 12-27 s a torch into the lens (most of the picture saturated) |
| ``defocus`` | 40 | 12-27 s out of focus (Gaussian blur, sigma 7 px) |
| ``turn`` | 40 | 12-27 s the camera is turned (the view moves down the street and rotates 6 degrees) |
| ``light`` | 40 | the light ramps down to 40 % (10-22 s), stays, and back (28-36 s) |
| ``close`` | 40 | a passer-by walks right past the lens (14-16 s), a hand covers it for 3 s (24.5-27.5 s) |
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from tests.analytics.clipenc import h264_writer, write_json
from tests.analytics.streetclip import COAT_OUTLINE, JACKET_OUTLINE, Sprite, _cutout, default_cache_dir, testdata

VERSION = "wall-2"
WIDTH, HEIGHT = 640, 360
FPS = 15
GRAFFITI = "plaster"
# The watched plaster between the first two windows of the facade (normalised).
ZONE = [[0.22, 0.12], [0.36, 0.12], [0.36, 0.6], [0.22, 0.6]]
WALL_ZONES = [{"name": GRAFFITI, "kind": "graffiti", "points": ZONE}]
CLIPS = ("strokes", "damage", "passers", "wall_light", "cover", "blind", "defocus", "turn", "light", "close")
TAMPER = ("covered", "blinded", "defocused", "moved")


@dataclass(frozen=True)
class WallClip:
    video: Path
    truth: Path

    def load(self) -> dict[str, Any]:
        return dict(json.loads(self.truth.read_text()))


# ------------------------------------------------------------------------------------------- assets


@cache
def _bus() -> np.ndarray:
    import cv2

    bus = cv2.imread(str(testdata("bus.jpg")))
    if bus is None:
        raise ValueError("bus.jpg cannot be read")
    return bus


@cache
def _people() -> dict[str, Sprite]:
    bus = _bus()
    return {"coat": _cutout(bus, COAT_OUTLINE, 205), "jacket": _cutout(bus, JACKET_OUTLINE, 195),
            "close": _cutout(bus, COAT_OUTLINE, 560)}  # fmt: skip


@cache
def _wall() -> np.ndarray:
    """The facade of bus.jpg above the bus (x 100-700, rows 0-230) over its pavement."""
    import cv2

    bus = _bus()
    bg = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    bg[0:245] = cv2.resize(bus[0:230, 100:700], (WIDTH, 245), interpolation=cv2.INTER_CUBIC)
    bg[245:HEIGHT] = cv2.resize(bus[935:1080, 0:810], (WIDTH, HEIGHT - 245), interpolation=cv2.INTER_AREA)
    return bg


def _street_view(turn: float = 0.0) -> np.ndarray:
    """bus.jpg seen by the tamper camera: x 45-765, y 290-695; ``turn`` 0..1 moves the view down the
    street by 300 px and rotates it 6 degrees."""
    import cv2

    bus = _bus()
    cx, cy = 405.0, 492.5 + 300.0 * turn  # the photo point at the frame's centre
    a, k = math.radians(6.0 * turn), 720 / WIDTH
    rot = k * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    m = np.hstack([rot, (np.array([cx, cy]) - rot @ np.array([WIDTH / 2, HEIGHT / 2]))[:, None]])  # frame -> photo
    return cv2.warpAffine(bus, m, (WIDTH, HEIGHT), flags=cv2.INTER_AREA | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT)  # fmt: skip


def _paste(frame: np.ndarray, sprite: Sprite, x: int, feet_y: int) -> tuple[float, float, float, float] | None:
    """``sprite`` with its box's bottom at ``feet_y`` and its box's left at ``x``; its visible box."""
    bx0, by0, bx1, by1 = sprite.box
    ox, oy = x - bx0, feet_y - by1
    h, w = sprite.alpha.shape
    fx0, fy0, fx1, fy1 = max(0, ox), max(0, oy), min(WIDTH, ox + w), min(HEIGHT, oy + h)
    if fx0 >= fx1 or fy0 >= fy1:
        return None
    a = sprite.alpha[fy0 - oy : fy1 - oy, fx0 - ox : fx1 - ox, None]
    src = sprite.rgb[fy0 - oy : fy1 - oy, fx0 - ox : fx1 - ox].astype(np.float32)
    frame[fy0:fy1, fx0:fx1] = (src * a + frame[fy0:fy1, fx0:fx1] * (1 - a)).astype(np.uint8)
    vx0, vy0, vx1, vy1 = max(0, x), max(0, feet_y - (by1 - by0)), min(WIDTH, x + bx1 - bx0), min(HEIGHT, feet_y)
    return (vx0 / WIDTH, vy0 / HEIGHT, vx1 / WIDTH, vy1 / HEIGHT)


def _walker(sprite: str, t0: float, t1: float, x0: float, x1: float, stop: tuple[float, float, float] | None = None
            ) -> Callable[[np.ndarray, float], tuple[float, float, float, float] | None]:  # fmt: skip
    """A person walking from x0 to x1 (pixels, the box's left) between t0 and t1; with ``stop`` =
    ``(x, start, end)`` they stand at x from start to end (clip seconds)."""
    people = _people()
    legs = [(t0, stop[1], x0, stop[0]), (stop[1], stop[2], stop[0], stop[0]), (stop[2], t1, stop[0], x1)] if stop \
        else [(t0, t1, x0, x1)]  # fmt: skip

    def draw(frame: np.ndarray, t: float) -> tuple[float, float, float, float] | None:
        for a, b, xa, xb in legs:
            if a <= t <= b:
                x = xa + (t - a) / (b - a) * (xb - xa)
                s = people[sprite] if x1 >= x0 else people[sprite].mirrored()
                bob = 0 if xa == xb else 2 * abs(math.sin(2 * math.pi * t))
                return _paste(frame, s, round(x), round(352 - bob))
        return None

    return draw


# ---------------------------------------------------------------------------------------- graffiti


def _strokes() -> list[np.ndarray]:
    """Spray-paint tags inside the zone: polylines in frame pixels."""
    zx0, zy0, zx1, zy1 = ZONE[0][0] * WIDTH, ZONE[0][1] * HEIGHT, ZONE[2][0] * WIDTH, ZONE[2][1] * HEIGHT
    w, h = zx1 - zx0, zy1 - zy0
    rel = [
        [(0.1, 0.15), (0.25, 0.45), (0.4, 0.12), (0.55, 0.45), (0.7, 0.1)],  # a zigzag "W"
        [(0.15, 0.6), (0.15, 0.25), (0.45, 0.3), (0.15, 0.42), (0.5, 0.62)],  # an "R"-like loop
        [(0.6, 0.25), (0.9, 0.2), (0.75, 0.2), (0.75, 0.65)],  # a "T"
        [(0.05, 0.72), (0.5, 0.68), (0.95, 0.74)],  # an underline
    ]
    return [np.array([(zx0 + x * w, zy0 + y * h) for x, y in s], np.float32) for s in rel]


def _paint(frame: np.ndarray, strokes: list[np.ndarray], u: float) -> None:
    """The first ``u`` (0..1) of the strokes, drawn in order, as soft dark-blue spray."""
    import cv2

    if u <= 0:
        return
    layer = np.zeros(frame.shape[:2], np.uint8)
    total = len(strokes) * u
    for i, pts in enumerate(strokes):
        part = min(1.0, total - i)
        if part <= 0:
            break
        seg = np.cumsum([0.0] + [float(np.linalg.norm(b - a)) for a, b in zip(pts, pts[1:], strict=False)])
        upto = part * seg[-1]
        keep = [pts[0]]
        for j in range(1, len(pts)):
            if seg[j] <= upto:
                keep.append(pts[j])
            else:
                f = (upto - seg[j - 1]) / (seg[j] - seg[j - 1])
                keep.append(pts[j - 1] + f * (pts[j] - pts[j - 1]))
                break
        cv2.polylines(layer, [np.round(np.array(keep) * 4).astype(np.int32)], False, 255, 4, cv2.LINE_AA, shift=2)
    a = cv2.GaussianBlur(layer, (0, 0), 1.0).astype(np.float32)[..., None] / 255 * 0.9
    paint = np.array([120, 40, 30], np.float32)  # BGR: dark blue
    frame[:] = (frame * (1 - a) + paint * a).astype(np.uint8)


def _gain(frame: np.ndarray, g: float) -> np.ndarray:
    import cv2

    return frame if g == 1.0 else cv2.convertScaleAbs(frame, alpha=g)


def _ramp(t: float, down: tuple[float, float], up: tuple[float, float], low: float) -> float:
    if down[0] <= t < down[1]:
        return 1 - (1 - low) * (t - down[0]) / (down[1] - down[0])
    if down[1] <= t < up[0]:
        return low
    if up[0] <= t < up[1]:
        return low + (1 - low) * (t - up[0]) / (up[1] - up[0])
    return 1.0


def _drift(t: float, seconds: float) -> float:
    return 1 + 0.03 * math.sin(2 * math.pi * t / seconds)


# ------------------------------------------------------------------------------------------ scenes

Scene = Callable[[float], np.ndarray]


def _strokes_scene() -> tuple[float, Scene, dict[str, Any]]:
    wall, strokes = _wall(), _strokes()
    painter = _walker("coat", 8.0, 27.0, -80, 700, stop=(175, 11.0, 23.0))

    def at(t: float) -> np.ndarray:
        f = wall.copy()
        _paint(f, strokes, min(1.0, max(0.0, (t - 12.0) / 10.0)))
        painter(f, t)
        return _gain(f, _drift(t, 60))

    # the painter stands in front of the zone's lower right part (x 175-245 px): 11-23 s
    return 60.0, at, {"zones": WALL_ZONES, "expect": [{"type": "graffiti.detected", "after_s": 26.0, "before_s": 45.0}],
                      "none_of": ["tamper."], "painter": {"stands": [11.0, 23.0], "leaves": 27.0}}  # fmt: skip


SIGN_ZONE = [[0.53, 0.4], [0.74, 0.4], [0.74, 0.6], [0.53, 0.6]]  # the dark sign on the facade


@cache
def _wall_without_sign() -> np.ndarray:
    """The wall with its dark sign torn off (the sign's pixels in-painted from around them)."""
    import cv2

    wall = _wall()
    gray = cv2.cvtColor(wall, cv2.COLOR_BGR2GRAY)
    mask = np.zeros(gray.shape, np.uint8)
    roi = (slice(152, 210), slice(345, 470))
    mask[roi] = (gray[roi] < 70).astype(np.uint8) * 255
    mask = cv2.dilate(cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8)), np.ones((5, 5), np.uint8))
    return cv2.inpaint(wall, mask, 7, cv2.INPAINT_TELEA)


def _damage_scene() -> tuple[float, Scene, dict[str, Any]]:
    wall, torn = _wall(), _wall_without_sign()
    vandal = _walker("jacket", 6.0, 20.0, -80, 700, stop=(385, 9.0, 17.0))

    def at(t: float) -> np.ndarray:
        f = (wall if t < 13.0 else torn).copy()
        vandal(f, t)
        return _gain(f, _drift(t, 45))

    zones = [{"name": "sign", "kind": "graffiti", "points": SIGN_ZONE}]
    return 45.0, at, {"zones": zones, "expect": [{"type": "graffiti.detected", "after_s": 20.0, "before_s": 36.0}],
                      "none_of": ["tamper."], "vandal": {"stands": [9.0, 17.0], "leaves": 20.0}}  # fmt: skip


def _passers_scene() -> tuple[float, Scene, dict[str, Any]]:
    wall = _wall()
    walkers = [_walker("coat", 5, 12, -80, 700), _walker("jacket", 15, 25, 700, -80, stop=(170, 18.5, 21.5)),
               _walker("jacket", 30, 37, -80, 700), _walker("coat", 40, 48, 700, -80),
               _walker("jacket", 41, 49, -120, 700)]  # fmt: skip

    def at(t: float) -> np.ndarray:
        f = wall.copy()
        for w in walkers:
            w(f, t)
        return _gain(f, _drift(t, 60))

    return 60.0, at, {"zones": WALL_ZONES, "expect": [], "none_of": ["graffiti.", "tamper."]}


def _wall_light_scene() -> tuple[float, Scene, dict[str, Any]]:
    wall = _wall()
    return 60.0, lambda t: _gain(wall, _ramp(t, (10, 25), (35, 50), 0.45)), {
        "zones": WALL_ZONES, "expect": [], "none_of": ["graffiti.", "tamper."]}  # fmt: skip


def _incident(t: float, start: float = 12.0, end: float = 27.0, ease: float = 0.8) -> float:
    """0 before, 1 during, eased in and out over ``ease`` s."""
    if t < start or t > end + ease:
        return 0.0
    return min(1.0, (t - start) / ease, (end + ease - t) / ease)


def _tamper_scene(kind: str) -> tuple[float, Scene, dict[str, Any]]:
    import cv2

    view = _street_view()
    rng = np.random.default_rng(3)
    cloth = cv2.GaussianBlur(rng.normal(0, 1, (HEIGHT, WIDTH)).astype(np.float32), (0, 0), 9)
    cloth = (22 + 6 * cloth / max(1e-6, float(np.abs(cloth).max())))[..., None] * np.array([0.9, 0.95, 1.0], np.float32)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    spot = np.exp(-((xx - 300) ** 2 + (yy - 170) ** 2) / (2 * 220.0**2))[..., None]
    turned = _street_view(1.0)
    close = _walker("close", 14.0, 16.2, -300, 700)

    def at(t: float) -> np.ndarray:
        a = _incident(t)
        g = _drift(t, 40)
        if kind == "cover":
            f = view * (1 - a) + cloth * a
        elif kind == "blind":
            f = view.astype(np.float32) * (1 + 2.5 * a) + 600 * a * spot
        elif kind == "defocus":
            f = cv2.GaussianBlur(view, (0, 0), 7 * a) if a > 0.02 else view
        elif kind == "turn":
            f = view if a == 0 else turned if a == 1 else _street_view(a)
        elif kind == "light":
            f, g = view, _ramp(t, (10, 22), (28, 36), 0.4)
        else:  # close: a passer-by right at the lens, then a hand over it for 3 s
            f = view.copy()
            close(f, t)
            h = _incident(t, 24.5, 27.0, 0.5)
            f = f * (1 - h) + cloth * h if h > 0 else f
        return _gain(np.clip(f, 0, 255).astype(np.uint8), g)

    event = {"cover": "covered", "blind": "blinded", "defocus": "defocused", "turn": "moved"}.get(kind)
    expect = [{"type": f"tamper.{event}", "after_s": 16.0, "before_s": 21.0},
              {"type": "tamper.cleared", "after_s": 27.0, "before_s": 34.0}] if event else []  # fmt: skip
    return 40.0, at, {"zones": [], "expect": expect, "none_of": [] if event else ["tamper."],
                      "incident": [12.0, 27.0] if event else None}  # fmt: skip


def _scene(name: str) -> tuple[float, Scene, dict[str, Any]]:
    if name == "strokes":
        return _strokes_scene()
    if name == "damage":
        return _damage_scene()
    if name == "passers":
        return _passers_scene()
    if name == "wall_light":
        return _wall_light_scene()
    if name in ("cover", "blind", "defocus", "turn", "light", "close"):
        return _tamper_scene(name)
    raise ValueError(f"no wall clip {name!r} (one of {', '.join(CLIPS)})")


# ------------------------------------------------------------------------------------------ writer


def generate(name: str, out_dir: Path) -> WallClip:
    seconds, at, truth = _scene(name)
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = round(seconds * FPS)
    video = out_dir / f"{name}.mp4"
    with h264_writer(video, WIDTH, HEIGHT, FPS, luma_noise=6, chroma_noise=3, crf=21) as write:
        for f in range(frames):
            write(at(f / FPS))
    doc = {"version": VERSION, "name": name, "width": WIDTH, "height": HEIGHT, "fps": FPS, "frames": frames,
           "seconds": seconds, **truth,
           "sources": "bus.jpg (ultralytics wheel): facade, street and two pedestrians (GrabCut)"}  # fmt: skip
    path = out_dir / f"{name}.json"
    write_json(path, doc)
    return WallClip(video, path)


def wall_clip(name: str, cache_dir: Path | None = None) -> WallClip:
    """The clip ``name`` (one of :data:`CLIPS`) and its truth, generated on first use."""
    out = Path(cache_dir or default_cache_dir()) / VERSION
    clip = WallClip(out / f"{name}.mp4", out / f"{name}.json")
    if clip.video.is_file() and clip.truth.is_file():
        return clip
    return generate(name, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.analytics.wallclip", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", default=list(CLIPS))
    parser.add_argument("--out", type=Path, default=None, help="cache folder (default: the simulator cache)")
    parser.add_argument("--force", action="store_true", help="generate again even when cached")
    args = parser.parse_args(argv)
    for name in args.names:
        out = Path(args.out or default_cache_dir()) / VERSION
        clip = generate(name, out) if args.force else wall_clip(name, args.out)
        print(clip.video)
    return 0


if __name__ == "__main__":
    sys.exit(main())
