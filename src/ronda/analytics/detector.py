"""The object detector: a YOLO-family ONNX model on onnxruntime, CPU by default (docs/analytics.md).

``Detector(path).detect(frame)`` takes a BGR ``uint8`` frame (``H × W × 3``, what OpenCV and PyAV's
``to_ndarray(format="bgr24")`` give) and returns :class:`~ronda.analytics.model.Detection` values with
boxes normalised 0-1 in that frame.

Output layouts understood (read from the model's first output, checked once when the model loads):

- ``yolov5``: ``[1, N, 5 + C]``, rows ``(cx, cy, w, h, objectness, p(class)…)`` in input pixels. The
  converted default model (``ronda.analytics.darknet``) and YOLOv5/v7 exports.
- ``yolov8``: ``[1, 4 + C, N]``, columns ``(cx, cy, w, h, score(class)…)`` in input pixels, no
  objectness. YOLOv8/v11 exports.

Anything else is a :class:`ModelError`, as is a file that is not ONNX: the message says what was
found, never an onnxruntime traceback. Class names come from the model's metadata (``names``: a JSON
list, or the ``{0: 'person', …}`` text Ultralytics writes), else from a names file next to the model
(``model.names`` or ``model.txt``, one per line), else COCO's 80.
"""

from __future__ import annotations

import ast
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from ronda.analytics.model import Detection

log = logging.getLogger(__name__)

MAX_MODEL_BYTES = 300 << 20
MAX_INPUT = 1280  # pixels: a model that wants more is refused (CPU cost grows with the square)
DEFAULT_DYNAMIC_INPUT = 640  # for models whose input size is not fixed
MAX_DETECTIONS = 300
LETTERBOX_GRAY = 114
NESTED_SHARE = 0.85

COCO80 = (
    "person bicycle car motorbike aeroplane bus train truck boat traffic_light fire_hydrant stop_sign "
    "parking_meter bench bird cat dog horse sheep cow elephant bear zebra giraffe backpack umbrella handbag "
    "tie suitcase frisbee skis snowboard sports_ball kite baseball_bat baseball_glove skateboard surfboard "
    "tennis_racket bottle wine_glass cup fork knife spoon bowl banana apple sandwich orange broccoli carrot "
    "hot_dog pizza donut cake chair sofa pottedplant bed diningtable toilet tvmonitor laptop mouse remote "
    "keyboard cell_phone microwave oven toaster sink refrigerator book clock vase scissors teddy_bear "
    "hair_drier toothbrush"
).split()
COCO80 = [n.replace("_", " ") for n in COCO80]
# Ultralytics' COCO names differ from Darknet's for a few classes; Ronda speaks Darknet's (STREET_CLASSES).
_ALIASES = {"motorcycle": "motorbike", "airplane": "aeroplane", "couch": "sofa", "potted plant": "pottedplant",
            "dining table": "diningtable", "tv": "tvmonitor"}  # fmt: skip

Layout = Literal["yolov5", "yolov8"]


class ModelError(ValueError):
    """The model cannot be used; the message says why (shown to the administrator)."""


@dataclass(slots=True, frozen=True)
class ModelInfo:
    path: Path
    layout: Layout
    input_width: int
    input_height: int
    names: tuple[str, ...]


def _parse_names(raw: str) -> list[str] | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        value: object = json.loads(raw)
    except ValueError:
        try:
            value = ast.literal_eval(raw)  # Ultralytics: "{0: 'person', 1: 'bicycle', ...}"
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
    if isinstance(value, dict):
        try:
            items = sorted((int(k), str(v)) for k, v in value.items())
        except (TypeError, ValueError):
            return None
        if [k for k, _ in items] != list(range(len(items))):
            return None
        return [v for _, v in items]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _names_next_to(path: Path) -> list[str] | None:
    for candidate in (path.with_suffix(".names"), path.with_suffix(".txt")):
        try:
            if candidate.is_file() and candidate.stat().st_size < 1 << 20:
                names = [ln.strip() for ln in candidate.read_text("utf-8").splitlines() if ln.strip()]
                if names:
                    return names
        except (OSError, UnicodeDecodeError):
            continue
    return None


def _imgsz(raw: str) -> tuple[int, int] | None:
    """Ultralytics' ``imgsz`` metadata ("[320, 320]", height then width)."""
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if isinstance(value, int):
        value = [value, value]
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and 32 <= v <= MAX_INPUT for v in value):
        return value[0], value[1]
    return None


Floats = npt.NDArray[np.float32]
Ints = npt.NDArray[np.int64]


def _drop_nested(xywh: Floats, score: Floats, cls: Ints, idx: Ints) -> Ints:
    """Of two same-class boxes where most of one (NESTED_SHARE of its area) lies inside the other, keep the
    better scored. YOLO's heads at different scales often both report one object, a part inside the
    whole (the cabin of a car inside the car); their IoU is below the NMS threshold, so NMS keeps both
    and one object would be counted twice."""
    order = idx[np.argsort(-score[idx], kind="stable")]
    x0, y0 = xywh[order, 0], xywh[order, 1]
    x1, y1 = x0 + xywh[order, 2], y0 + xywh[order, 3]
    area = np.maximum(xywh[order, 2] * xywh[order, 3], 1e-9)
    c = cls[order]
    kept: list[int] = []
    for i in range(order.size):
        if kept:
            k = np.array(kept)
            iw = np.clip(np.minimum(x1[i], x1[k]) - np.maximum(x0[i], x0[k]), 0, None)
            ih = np.clip(np.minimum(y1[i], y1[k]) - np.maximum(y0[i], y0[k]), 0, None)
            share = iw * ih / np.minimum(area[i], area[k])
            if np.any((c[k] == c[i]) & (share >= NESTED_SHARE)):
                continue
        kept.append(i)
    return order[kept]


def _dim(value: object, default: int) -> int:
    return value if isinstance(value, int) and value > 0 else default


class Detector:
    """One loaded model. Not thread-safe: one per worker process (each runs its own cameras)."""

    def __init__(self, path: str | Path, *, threads: int = 1, names: list[str] | None = None,
                 nms_iou: float = 0.45) -> None:  # fmt: skip
        import onnxruntime as ort

        self.path = Path(path)
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            raise ModelError(f"model file {self.path} does not exist") from None
        except OSError as e:
            raise ModelError(f"model file {self.path}: {e.strerror or e}") from None
        if not self.path.is_file():
            raise ModelError(f"model file {self.path} is not a file")
        if size > MAX_MODEL_BYTES:
            raise ModelError(f"model file {self.path} is {size >> 20} MB; at most {MAX_MODEL_BYTES >> 20} MB is loaded")
        if size < 64:
            raise ModelError(f"model file {self.path} is {size} bytes: not an ONNX model")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, threads)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        # Idle workers must not spin on a shared CPU.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(str(self.path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own (pybind) exception types for every kind of bad file
            first = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
            raise ModelError(f"model file {self.path} is not a usable ONNX model ({first})") from None
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            shapes = [i.shape for i in inputs]
            raise ModelError(f"model {self.path.name}: expected one image input [1, 3, H, W], found {shapes}")
        shape = inputs[0].shape
        if isinstance(shape[1], int) and shape[1] != 3:
            raise ModelError(f"model {self.path.name}: the input has {shape[1]} channels, 3 (RGB) expected")
        self._input_name = inputs[0].name
        self._input_dtype = np.float16 if inputs[0].type == "tensor(float16)" else np.float32
        if inputs[0].type not in ("tensor(float)", "tensor(float16)"):
            raise ModelError(f"model {self.path.name}: input type {inputs[0].type}, float expected")
        meta = self._session.get_modelmeta().custom_metadata_map
        # A model whose input size is not fixed: the size it was trained at (Ultralytics' "imgsz"), else 640.
        fallback = _imgsz(meta.get("imgsz", "")) or (DEFAULT_DYNAMIC_INPUT, DEFAULT_DYNAMIC_INPUT)
        in_h = _dim(shape[2], fallback[0])
        in_w = _dim(shape[3], fallback[1])
        if in_h > MAX_INPUT or in_w > MAX_INPUT or in_h < 32 or in_w < 32:
            raise ModelError(f"model {self.path.name}: input {in_w}x{in_h}; 32 to {MAX_INPUT} pixels are supported")
        self.nms_iou = nms_iou

        meta_names = _parse_names(meta.get("names", ""))
        given = names or meta_names or _names_next_to(self.path)

        # The layout is read from a real run (output shapes are often symbolic in the file).
        try:
            out = self._run(np.zeros((1, 3, in_h, in_w), dtype=self._input_dtype))
        except Exception as e:  # a model whose graph fails on a valid input is unusable, say so
            first = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
            raise ModelError(f"model {self.path.name} fails on a {in_w}x{in_h} image ({first})") from None
        layout, classes = self._layout(out, given)
        if given is not None and len(given) != classes:
            if names or meta_names:
                raise ModelError(f"model {self.path.name} has {classes} classes but {len(given)} names")
            given = None
        if given is None:
            given = COCO80 if classes == 80 else [f"class{i}" for i in range(classes)]
        self.info = ModelInfo(self.path, layout, in_w, in_h, tuple(_ALIASES.get(n, n) for n in given))

    def _run(self, blob: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
        result = self._session.run(None, {self._input_name: blob})[0]
        return np.asarray(result, dtype=np.float32)

    def _layout(self, out: npt.NDArray[np.float32], names: list[str] | None) -> tuple[Layout, int]:
        shape = out.shape
        if len(shape) != 3 or shape[0] != 1:
            raise ModelError(
                f"model {self.path.name}: output shape {list(shape)} is not a YOLO layout "
                "([1, N, 5 + classes] as YOLOv5 or [1, 4 + classes, N] as YOLOv8)"
            )
        a, b = int(shape[1]), int(shape[2])
        if names is not None:
            if b == len(names) + 5:
                return "yolov5", b - 5
            if a == len(names) + 4:
                return "yolov8", a - 4
        # Without names: the box count N is much larger than the attribute count.
        if a > b and b > 5:
            return "yolov5", b - 5
        if b > a and a > 4:
            return "yolov8", a - 4
        raise ModelError(
            f"model {self.path.name}: output shape {list(shape)} is not a YOLO layout "
            "([1, N, 5 + classes] as YOLOv5 or [1, 4 + classes, N] as YOLOv8)"
        )

    @property
    def names(self) -> tuple[str, ...]:
        return self.info.names

    def letterbox(self, frame: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.floating], float, int, int]:
        """The frame fitted into the input (aspect kept, gray borders) as NCHW RGB 0-1, and how."""
        h, w = frame.shape[:2]
        in_w, in_h = self.info.input_width, self.info.input_height
        r = min(in_w / w, in_h / h)
        nw, nh = max(1, round(w * r)), max(1, round(h * r))
        px, py = (in_w - nw) // 2, (in_h - nh) // 2
        canvas = np.full((in_h, in_w, 3), LETTERBOX_GRAY, dtype=np.uint8)
        interp = cv2.INTER_AREA if r < 1 else cv2.INTER_LINEAR
        canvas[py : py + nh, px : px + nw] = cv2.resize(frame, (nw, nh), interpolation=interp)
        blob = cv2.dnn.blobFromImage(canvas, 1 / 255.0, swapRB=True)  # NCHW, RGB, float32
        return blob.astype(self._input_dtype, copy=False), r, px, py

    def detect(self, frame: npt.NDArray[np.uint8], *, min_score: float = 0.25,
               classes: set[str] | None = None) -> list[Detection]:  # fmt: skip
        """Objects in one BGR frame, best first; boxes normalised to the frame."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"a BGR uint8 frame H×W×3 is expected, got {frame.dtype} {frame.shape}")
        h, w = frame.shape[:2]
        blob, r, px, py = self.letterbox(frame)
        out = self._run(blob)[0]
        if self.info.layout == "yolov8":
            out = out.T  # [N, 4 + C]
            scores_all = out[:, 4:]
        else:
            scores_all = out[:, 5:] * out[:, 4:5]
        if scores_all.shape[1] != len(self.info.names):
            raise ModelError(f"model {self.path.name}: output changed shape to {list(out.shape)}")
        cls = scores_all.argmax(axis=1)
        score = scores_all[np.arange(len(cls)), cls]
        keep = score >= min_score
        if classes is not None:
            wanted = np.array([n in classes for n in self.info.names])
            keep &= wanted[cls]
        if not keep.any():
            return []
        boxes_c, cls, score = out[keep, :4], cls[keep], score[keep]
        # cx, cy, w, h (input pixels) -> x, y, w, h for NMS
        xywh = np.empty_like(boxes_c)
        xywh[:, 0] = boxes_c[:, 0] - boxes_c[:, 2] / 2
        xywh[:, 1] = boxes_c[:, 1] - boxes_c[:, 3] / 2
        xywh[:, 2:] = boxes_c[:, 2:]
        kept = cv2.dnn.NMSBoxesBatched(xywh.tolist(), score.tolist(), cls.tolist(), min_score, self.nms_iou)
        idx = np.asarray(kept, dtype=np.int64).reshape(-1)
        if idx.size == 0:
            return []
        idx = _drop_nested(xywh, score, cls, idx)[:MAX_DETECTIONS]
        sel = xywh[idx]
        x0 = np.clip((sel[:, 0] - px) / r / w, 0.0, 1.0)
        y0 = np.clip((sel[:, 1] - py) / r / h, 0.0, 1.0)
        x1 = np.clip((sel[:, 0] + sel[:, 2] - px) / r / w, 0.0, 1.0)
        y1 = np.clip((sel[:, 1] + sel[:, 3] - py) / r / h, 0.0, 1.0)
        names = self.info.names
        found = [
            Detection(names[int(c)], round(float(s), 4), (float(a), float(b), float(c2), float(d)))
            for c, s, a, b, c2, d in zip(cls[idx], score[idx], x0, y0, x1, y1, strict=True)
            if c2 > a and d > b
        ]
        found.sort(key=lambda d: -d.score)
        return found

    def time_inference(self, frame: npt.NDArray[np.uint8], runs: int = 20) -> float:
        """Median milliseconds of one whole ``detect`` call on this frame (after one warm-up)."""
        self.detect(frame)
        took = []
        for _ in range(max(1, runs)):
            t = time.perf_counter()
            self.detect(frame)
            took.append((time.perf_counter() - t) * 1000)
        return float(np.median(took))
