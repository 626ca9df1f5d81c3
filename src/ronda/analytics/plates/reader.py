"""Reading a licence plate in a picture: localise, rectify, recognise, decode by format (docs/analytics.md,
Licence plates).

``PlateReader().read(image, box)`` takes a BGR ``uint8`` picture and, optionally, a vehicle's box
(normalised 0-1); it returns the best :class:`PlateRead` or None. The models are RapidOCR's PP-OCR
text detector and recogniser, loaded from the ``rapidocr`` wheel (never downloaded: a wheel without
them is a :class:`ReaderError`), once per process.

1. **Localise.** The region (the vehicle box grown a little, or the whole picture) is scaled so that
   plate characters are large enough for the text detector (a vehicle crop to ``VEHICLE_SIDE`` px, a
   whole picture to at most ``FRAME_SIDE``; small pictures are enlarged) and RapidOCR's detector finds
   text boxes in it. Boxes on one line, close together, are joined (a plate's groups are often found
   apart); a plate-shaped line (aspect ``MIN_ASPECT``-``MAX_ASPECT``, tall enough) is a candidate.
2. **Rectify.** Each candidate's rotated box is warped, from the full-resolution picture, to the
   recogniser's 48 px height.
3. **Recognise and decode.** The recogniser gives, for each column of the crop, the probability of
   every character it knows. Instead of taking the likeliest character at each column (and guessing
   O or 0 afterwards), the columns are decoded against each plate format of format.py (a letter where
   the format has a letter, a digit where it has a digit; Viterbi over the CTC alignment): the
   likeliest reading that *is* a valid plate, with the evidence behind every character. A stray
   character before or after the plate (the EU band's country letter, a screw, the dealer's frame)
   may be left out. When no format fits well, the free reading is kept if it passes the generic EU
   rule.
4. **Confidence** of a reading: the geometric mean of its characters' probabilities, lowered by how
   much less likely the formatted reading is than the free one (a text the model reads as something
   else is forced into a plate only at a low confidence). Reads under ``min_confidence`` are dropped.

Bounded: pictures over ``MAX_PIXELS`` are refused, at most ``MAX_CANDIDATES`` text lines are
recognised per call, and a call stops looking at further candidates after ``timeout_s`` (it returns
the best read so far).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from ronda.analytics.plates.format import BY_NAME, DIGITS, TEMPLATES, Template, fit, validate

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]
Image = npt.NDArray[np.uint8]

MAX_PIXELS = 40_000_000  # a picture larger than this (e.g. 8000×5000) is refused
MAX_SIDE = 8192
VEHICLE_SIDE = 320  # a vehicle crop is scaled to this longer side for the text detector
FRAME_SIDE = 1280  # a whole picture is scaled down to at most this longer side
MIN_FRAME_SIDE = 800  # … and small pictures (a plate close-up) up to at least this one
MAX_UPSCALE = 6.0
MAX_CANDIDATES = 12
REC_HEIGHT = 48
MAX_REC_WIDTH = 640
STRETCH = 1.5
PAD_X, PAD_Y = 0.12, 0.12  # plate characters are condensed: widened, they get more of the recogniser's columns
MIN_ASPECT, MAX_ASPECT = 1.6, 9.0  # a plate's text line (one-line plates; two-line ones read line by line)
MIN_TEXT_PX = 7  # a text line lower than this in the original picture cannot be read
ALNUM = DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DEFAULT_MIN_CONFIDENCE = 0.5
NEG = -1e9


class ReaderError(RuntimeError):
    """The reader cannot work (models missing, bad input); the message says why."""


@dataclass(slots=True, frozen=True)
class PlateRead:
    plate: str  # normalised: capitals and digits
    confidence: float  # 0..1
    format: str | None  # a format name of format.py ("it", "it-moto", …, "eu" for the generic rule)
    box: Box  # normalised, in the picture given to read()
    quad: npt.NDArray[np.float32] = field(repr=False)  # 4×2 corners in picture pixels (tl, tr, br, bl)
    crop: Image = field(repr=False)  # the rectified plate, BGR (for a snapshot)
    text: str = ""  # what the recogniser read freely (for diagnosis)
    chars: tuple[float, ...] = ()  # each character's probability (0..1), for a track's per-character vote


# ---------------------------------------------------------------------------------------------- models


def models_dir() -> Path:
    try:
        import rapidocr
    except ImportError as e:  # the 'analytics' extra is not installed
        raise ReaderError(f"licence plate reading needs the 'rapidocr' package (the analytics extra): {e}") from None
    return Path(rapidocr.__file__).resolve().parent / "models"


_DET_MODEL = "PP-OCRv6_det_small.onnx"
_REC_MODEL = "PP-OCRv6_rec_small.onnx"


class _Models:
    """RapidOCR's detector (through its API) and the recogniser's ONNX session (run here, for the
    per-column probabilities RapidOCR's API does not give)."""

    def __init__(self, threads: int) -> None:
        folder = models_dir()
        det, rec = folder / _DET_MODEL, folder / _REC_MODEL
        for p in (det, rec):
            if not p.is_file():  # RapidOCR would download it: refuse instead (offline, and no surprises)
                raise ReaderError(f"rapidocr's model {p.name} is not in {folder}: reinstall the rapidocr wheel")
        import onnxruntime as ort
        from rapidocr import RapidOCR

        self.ocr: Any = RapidOCR(
            params={
                "Global.log_level": "error",
                "Global.use_cls": False,
                "Det.model_path": str(det),
                "Det.limit_type": "max",
                "Det.limit_side_len": 2048,  # the reader scales pictures itself
                "Det.box_thresh": 0.4,
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
        )
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.rec = ort.InferenceSession(str(rec), opts, providers=["CPUExecutionProvider"])
        self.rec_input = self.rec.get_inputs()[0].name
        chars = self.rec.get_modelmeta().custom_metadata_map.get("character", "").splitlines()
        if not chars:
            raise ReaderError(f"{rec.name} has no character list")
        classes = ["<blank>", *chars, " "]  # CTC blank first, space last (PP-OCR's layout)
        # Columns of each plate character in the model's output: capitals, and lower case folded in.
        upper = [classes.index(c) if c in classes else -1 for c in ALNUM]
        lower = [classes.index(c.lower()) if c.isalpha() and c.lower() in classes else -1 for c in ALNUM]
        if min(upper) < 0:
            raise ReaderError(f"{rec.name} cannot read every capital and digit")
        self.upper = np.array(upper)
        self.lower = np.array([u if low < 0 else low for u, low in zip(upper, lower, strict=True)])
        self.lock = threading.Lock()
        self.stretch = STRETCH

    def detect(self, img: Image) -> list[npt.NDArray[np.float32]]:
        # use_det/use_cls/use_rec on every call: RapidOCR keeps the last call's choice.
        out = self.ocr(img, use_det=True, use_cls=False, use_rec=False)
        boxes = getattr(out, "boxes", None)
        if boxes is None:
            return []
        return [np.asarray(b, np.float32).reshape(4, 2) for b in boxes]

    def recognise(self, crop: Image) -> npt.NDArray[np.float32]:
        """``T × 37`` probabilities per column: the 36 plate characters, then everything else."""
        h, w = crop.shape[:2]
        width = int(min(MAX_REC_WIDTH, max(REC_HEIGHT, math.ceil(REC_HEIGHT * w / max(1, h) * self.stretch))))
        resized = cv2.resize(crop, (width, REC_HEIGHT), interpolation=cv2.INTER_CUBIC)
        x = (resized.astype(np.float32).transpose(2, 0, 1) / 255.0 - 0.5) / 0.5
        probs = self.rec.run(None, {self.rec_input: x[None]})[0][0]
        chars = np.maximum(probs[:, self.upper], probs[:, self.lower])
        other = np.clip(1.0 - chars.sum(axis=1, keepdims=True), 1e-6, 1.0)
        return np.concatenate([chars, other], axis=1).astype(np.float32)


_shared: dict[int, _Models] = {}
_shared_lock = threading.Lock()


def _models(threads: int) -> _Models:
    with _shared_lock:
        if threads not in _shared:
            _shared[threads] = _Models(threads)
        return _shared[threads]


# --------------------------------------------------------------------------------------------- decoding


@dataclass(slots=True)
class _Decoded:
    plate: str
    format: str | None
    score: float  # log-probability of the path
    char_probs: list[float]


def _free(probs: npt.NDArray[np.float32]) -> tuple[str, list[float], list[tuple[int, int]], float]:
    """Best path over (36 characters + gap): text, each character's probability, its columns, log-prob."""
    best = probs.argmax(axis=1)
    score = float(np.log(probs.max(axis=1)).sum())
    text, cps, spans = [], [], []
    prev = -1
    for t, c in enumerate(best):
        if c < 36 and c != prev:
            text.append(ALNUM[c])
            cps.append(float(probs[t, c]))
            spans.append((t, t))
        elif c < 36:
            cps[-1] = max(cps[-1], float(probs[t, c]))
            spans[-1] = (spans[-1][0], t)
        prev = c
    return "".join(text), cps, spans, score


def _template_mask(t: Template) -> npt.NDArray[np.bool_]:
    mask = np.zeros((len(t), 36), bool)
    for k in range(len(t)):
        for ch in t.allowed(k):
            mask[k, ALNUM.index(ch)] = True
    return mask


_MASKS = {t.name: _template_mask(t) for t in TEMPLATES}


def _viterbi(logp: npt.NDArray[np.float32], mask: npt.NDArray[np.bool_]) -> tuple[float, str, list[float]] | None:
    """The likeliest CTC path that spells exactly one allowed character per template position.

    ``logp``: ``T × 37`` log-probabilities (36 characters, then "gap": blank, space, anything else).
    States per column: ``gap[k]`` (before position k, k = 0..K) and ``char[k, c]``. A character
    held over several columns is one character; two equal characters in a row need a gap between
    them, as in CTC. Returns (log-probability, text, each character's best column probability)."""
    n_t, k_n = logp.shape[0], mask.shape[0]
    if n_t < k_n:
        return None
    lc, lg = logp[:, :36].astype(np.float64), logp[:, 36].astype(np.float64)
    allowed = np.where(mask, 0.0, NEG)
    cols = np.arange(36)
    rows = np.arange(k_n)
    gap = np.full(k_n + 1, NEG)
    char = np.full((k_n, 36), NEG)
    gap[0] = lg[0]
    char[0] = lc[0] + allowed[0]
    back_gap = np.full((n_t, k_n + 1), -1, np.int16)  # -1: stayed a gap; c: came from char[k-1, c]
    back_char = np.full((n_t, k_n, 36), -1, np.int16)  # -1: stayed; -2: came from gap[k]; c': from char[k-1, c']
    for t in range(1, n_t):
        best_c = char.argmax(axis=1)
        best_v = char[rows, best_c]
        masked = char.copy()
        masked[rows, best_c] = NEG
        sec_c = masked.argmax(axis=1)
        sec_v = masked[rows, sec_c]
        new_gap = gap.copy()
        take = best_v > gap[1:]
        new_gap[1:][take] = best_v[take]
        back_gap[t, 1:] = np.where(take, best_c, -1)
        new_gap += lg[t]
        prev_v = np.full((k_n, 36), NEG)
        prev_c = np.full((k_n, 36), -1, np.int64)
        if k_n > 1:
            same = cols[None, :] == best_c[:-1, None]
            prev_v[1:] = np.where(same, sec_v[:-1, None], best_v[:-1, None])
            prev_c[1:] = np.where(same, sec_c[:-1, None], best_c[:-1, None])
        cand = np.stack([char, np.broadcast_to(gap[:k_n, None], (k_n, 36)), prev_v])
        pick = cand.argmax(axis=0)
        back_char[t] = np.where(pick == 0, -1, np.where(pick == 1, -2, prev_c))
        char = cand.max(axis=0) + lc[t] + allowed
        gap = new_gap
    end_c = int(char[k_n - 1].argmax())
    end_char = float(char[k_n - 1, end_c])
    total = max(end_char, float(gap[k_n]))
    if total <= NEG / 2:
        return None
    kind, k, c = ("gap", k_n, -1) if gap[k_n] >= end_char else ("char", k_n - 1, end_c)
    letters = [0] * k_n
    probs = [0.0] * k_n
    for t in range(n_t - 1, 0, -1):
        if kind == "char":
            letters[k] = c
            probs[k] = max(probs[k], math.exp(lc[t, c]))
            b = int(back_char[t, k, c])
            if b == -2:
                kind = "gap"
            elif b >= 0:
                k, c = k - 1, b
        else:
            b = int(back_gap[t, k])
            if b >= 0:
                kind, k, c = "char", k - 1, b
    if kind == "char":
        letters[k] = c
        probs[k] = max(probs[k], math.exp(lc[0, c]))
    return total, "".join(ALNUM[i] for i in letters), probs


VARIANTS = ("plain", "wide")  # ways to look at a candidate line, until one is SURE ("sharp" gained nothing)
SURE = 0.8
EU_DISCOUNT = 0.85  # a reading no known format vouches for is trusted less
MAX_DROPPED = 2  # stray characters that may be left out before or after the plate


def decode(probs: npt.NDArray[np.float32]) -> tuple[_Decoded | None, str]:
    """The best plate reading of one recognised line (``T × 37`` probabilities), and the free text."""
    text, cps, spans, free_score = _free(probs)
    logp = np.log(np.clip(probs, 1e-9, 1.0))
    best: _Decoded | None = None
    n = len(text)
    for t in TEMPLATES:
        for head in range(MAX_DROPPED + 1):
            for tail in range(MAX_DROPPED + 1):
                # Only plausible cuts: the free reading minus the stray characters is about the template's length.
                if abs(n - head - tail - len(t)) > 1 or head + tail > max(0, n - len(t)):
                    continue
                # A left-out character's columns are cut off and count at the free path's own odds:
                # leaving out costs nothing by itself, but what is left must be a plate.
                lo = spans[head - 1][1] + 1 if head else 0
                hi = spans[n - tail][0] if tail else len(logp)
                lp = logp[lo:hi]
                extra = float(logp[:lo].max(axis=1).sum()) + float(logp[hi:].max(axis=1).sum())
                res = _viterbi(lp, _MASKS[t.name])
                if res is None:
                    continue
                score, plate, probs_k = res
                if fit(plate, t) != plate:  # what the columns cannot say (an old plate's province code)
                    continue
                score += extra + t.prior - 0.05 * (head + tail)
                cand = _Decoded(plate, t.name, score, probs_k)
                if best is None or cand.score > best.score + 1e-9:
                    best = cand
    if best is not None:
        best.score -= free_score  # ≤ 0: how much less likely than the free reading
    plain, fmt = validate(text)
    if fmt == "eu" and (best is None or best.score < -3.0) and not partial_italian(plain):
        best = _Decoded(plain, "eu", 0.0, [p * EU_DISCOUNT for p in cps])
    return best, text


def partial_italian(plate: str) -> bool:
    """A reading that is the start or the end of a current Italian plate with characters missing (the
    recogniser lost one at an edge): not a foreign plate, not to be reported as one."""
    it = BY_NAME["it"]
    for n in range(len(plate), len(it)):
        head = Template("head", it.classes[:n], it.letters)
        tail = Template("tail", it.classes[-n:], it.letters)
        if len(plate) == n and (fit(plate, head) is not None or fit(plate, tail) is not None):
            return True
    return False


def confidence(d: _Decoded) -> float:
    if not d.char_probs:
        return 0.0
    gm = math.exp(sum(math.log(max(p, 1e-6)) for p in d.char_probs) / len(d.char_probs))
    penalty = math.exp(min(0.0, d.score) / max(1, len(d.char_probs)) * 2.0)
    worst = min(d.char_probs)
    return float(max(0.0, min(1.0, gm * penalty * (0.5 + 0.5 * worst))))


# ----------------------------------------------------------------------------------------- localising


def _line_key(q: npt.NDArray[np.float32]) -> tuple[float, float, float]:
    """A text box's centre height, height and left edge."""
    ys = q[:, 1]
    return float(ys.mean()), float(np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])) / 2, float(q[:, 0].min())


def join_lines(quads: list[npt.NDArray[np.float32]]) -> list[npt.NDArray[np.float32]]:
    """Boxes that sit on one line close together (a plate's groups found apart) joined into one,
    and every single box as well (the joined line may hold more than the plate)."""
    out = list(quads)
    order = sorted(range(len(quads)), key=lambda i: float(quads[i][:, 0].min()))
    used: set[int] = set()
    for i in order:
        if i in used:
            continue
        group = [i]
        cy, h, _ = _line_key(quads[i])
        right = float(quads[i][:, 0].max())
        for j in order:
            if j in used or j in group:
                continue
            cy2, h2, left2 = _line_key(quads[j])
            if left2 < right - 0.5 * h or left2 - right > 1.2 * max(h, h2):
                continue
            if abs(cy2 - cy) > 0.35 * max(h, h2) or not (0.6 < h2 / max(h, 1e-6) < 1.6):
                continue
            group.append(j)
            right = max(right, float(quads[j][:, 0].max()))
        if len(group) > 1:
            used.update(group)
            pts = np.concatenate([quads[k] for k in group])
            out.append(_order(cv2.boxPoints(cv2.minAreaRect(pts)).astype(np.float32)))
    return out


def _order(q: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Corners as top-left, top-right, bottom-right, bottom-left."""
    s = q.sum(axis=1)
    d = np.diff(q, axis=1).ravel()
    tl, br = q[np.argmin(s)], q[np.argmax(s)]
    tr, bl = q[np.argmin(d)], q[np.argmax(d)]
    return np.array([tl, tr, br, bl], np.float32)


def rectify(image: Image, quad: npt.NDArray[np.float32], pad_x: float = PAD_X, pad_y: float = PAD_Y) -> Image:
    """The quad's content, straightened, 48 px high (the recogniser's height), with a margin of
    ``pad_x``/``pad_y`` times the text's height around it (the detector's boxes can be tight on a
    plate's first and last character)."""
    w = float(np.linalg.norm(quad[1] - quad[0]) + np.linalg.norm(quad[2] - quad[3])) / 2
    h = float(np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1])) / 2
    scale = REC_HEIGHT / max(h * (1 + 2 * pad_y), 1.0)
    px, py = pad_x * h * scale, pad_y * h * scale
    out_w = int(min(MAX_REC_WIDTH, max(8, round(w * scale + 2 * px))))
    out_h = REC_HEIGHT
    dst = np.array([[px, py], [out_w - px, py], [out_w - px, out_h - py], [px, out_h - py]], np.float32)
    m = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
    return np.asarray(cv2.warpPerspective(image, m, (out_w, out_h), flags=cv2.INTER_CUBIC,
                                          borderMode=cv2.BORDER_REPLICATE), np.uint8)  # fmt: skip


def variant_crop(image: Image, quad: npt.NDArray[np.float32], variant: str) -> Image:
    """The rectified line, looked at another way when the first look was doubtful: a wider margin
    (the detector cut a character), or sharpened (a blurred plate)."""
    if variant == "wide":
        return rectify(image, quad, pad_x=0.35, pad_y=0.15)
    crop = rectify(image, quad)
    if variant == "sharp":
        soft = cv2.GaussianBlur(crop, (0, 0), 1.5)
        crop = np.asarray(cv2.addWeighted(crop, 1.8, soft, -0.8, 0), np.uint8)
    return crop


def _as_bgr(image: Any) -> Image:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ReaderError("a picture is a uint8 array (BGR)")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ReaderError(f"a picture is H×W×3 BGR, got shape {image.shape}")
    h, w = image.shape[:2]
    if h < 8 or w < 8:
        raise ReaderError(f"the picture is {w}x{h}: too small")
    if h * w > MAX_PIXELS or max(h, w) > MAX_SIDE:
        raise ReaderError(f"the picture is {w}x{h}: larger than {MAX_PIXELS // 1_000_000} Mpx or {MAX_SIDE} px")
    return np.ascontiguousarray(image)


# ------------------------------------------------------------------------------------------------ reader


class PlateReader:
    """Reads plates; one per analyser or command, the models shared by the whole process."""

    def __init__(self, *, min_confidence: float = DEFAULT_MIN_CONFIDENCE, timeout_s: float = 2.0,
                 threads: int = 1) -> None:  # fmt: skip
        self.min_confidence = min_confidence
        self.timeout_s = timeout_s
        self.models = _models(threads)

    def read(self, image: Any, box: Box | None = None) -> PlateRead | None:
        """The best plate in ``image`` (inside the vehicle ``box``, normalised, if given), or None."""
        reads = self.read_all(image, box)
        return reads[0] if reads else None

    def read_all(self, image: Any, box: Box | None = None) -> list[PlateRead]:
        """Every plate read in the region, best first (same plate text counted once)."""
        img = _as_bgr(image)
        h, w = img.shape[:2]
        if box is not None:
            x0, y0, x1, y1 = (min(1.0, max(0.0, float(v))) for v in box)
            # A plate on the box's edge is still inside; more below (a detector's box often stops at the
            # bumper, the plate hangs under it).
            gx, gy = (x1 - x0) * 0.06, (y1 - y0) * 0.06
            px0, py0 = int((x0 - gx) * w), int((y0 - gy) * h)
            px1, py1 = int(math.ceil((x1 + gx) * w)), int(math.ceil((y1 + 2 * gy) * h))
            px0, py0, px1, py1 = max(0, px0), max(0, py0), min(w, px1), min(h, py1)
            if px1 - px0 < 8 or py1 - py0 < 8:
                return []
            region = img[py0:py1, px0:px1]
            side = VEHICLE_SIDE
            scale = min(MAX_UPSCALE, side / max(region.shape[:2]))
        else:
            px0 = py0 = 0
            region = img
            longest = max(h, w)
            scale = (
                FRAME_SIDE / longest if longest > FRAME_SIDE else min(MAX_UPSCALE, max(1.0, MIN_FRAME_SIDE / longest))
            )
        with self.models.lock:  # one inference at a time per process: the sessions are shared
            return self._read(img, region, (px0, py0), scale)

    def _read(self, img: Image, region: Image, origin: tuple[int, int], scale: float) -> list[PlateRead]:
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        scaled: Image = region
        if abs(scale - 1) >= 1e-3:
            scaled = np.asarray(cv2.resize(region, None, fx=scale, fy=scale, interpolation=interp), np.uint8)
        quads = [q / scale + np.array(origin, np.float32) for q in self.models.detect(scaled)]
        # The detector's cost is bounded by the picture's size; the timeout bounds what follows.
        deadline = time.monotonic() + self.timeout_s
        cands = []
        for q in join_lines(quads):
            q = _order(q)
            wq = float(np.linalg.norm(q[1] - q[0]))
            hq = float(np.linalg.norm(q[3] - q[0]))
            if hq < MIN_TEXT_PX or not (MIN_ASPECT <= wq / max(hq, 1e-6) <= MAX_ASPECT):
                continue
            cands.append((wq * hq, q))
        cands.sort(key=lambda c: -c[0])  # larger text first: a plate is the largest text on a vehicle
        found: dict[str, PlateRead] = {}
        ih, iw = img.shape[:2]
        for _, q in cands[:MAX_CANDIDATES]:
            if time.monotonic() > deadline:
                log.debug("plate reading: timeout after %d candidates", len(found))
                break
            best: tuple[float, _Decoded, str, Image] | None = None
            for variant in VARIANTS:
                crop = variant_crop(img, q, variant)
                d, text = decode(self.models.recognise(crop))
                if d is not None and (best is None or confidence(d) > best[0]):
                    best = (confidence(d), d, text, crop)
                if best is not None and best[0] >= SURE:
                    break  # the other looks are for doubtful reads only
            if best is None or best[0] < self.min_confidence:
                continue
            conf, d, text, crop = best
            x0, y0 = q.min(axis=0)
            x1, y1 = q.max(axis=0)
            nbox = (
                max(0.0, float(x0) / iw),
                max(0.0, float(y0) / ih),
                min(1.0, float(x1) / iw),
                min(1.0, float(y1) / ih),
            )
            chars = tuple(round(float(p), 4) for p in d.char_probs) if len(d.char_probs) == len(d.plate) else ()
            r = PlateRead(d.plate, round(conf, 3), d.format, nbox, q, crop, text, chars)
            if d.plate not in found or found[d.plate].confidence < r.confidence:
                found[d.plate] = r
        return sorted(found.values(), key=lambda r: -r.confidence)
