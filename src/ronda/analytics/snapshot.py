"""An event's snapshot: the frame as JPEG with the object's box and label drawn (docs/analytics.md)."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from ronda.analytics.model import Box

MAX_SNAPSHOT_PIXELS = 8192 * 8192
BOX_COLOR = (0, 200, 255)  # BGR: amber, visible on both day and night footage


class SnapshotError(ValueError):
    """The image cannot be read; the message says why."""


def _frame(image: bytes | npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    if isinstance(image, bytes | bytearray | memoryview):
        data = np.frombuffer(image, dtype=np.uint8)
        if data.size == 0:
            raise SnapshotError("the image is empty")
        frame = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if frame is None:
            raise SnapshotError("the image is not a JPEG or PNG OpenCV can decode")
        return np.asarray(frame, dtype=np.uint8)
    if image.ndim == 2:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise SnapshotError(f"a BGR uint8 frame H×W×3 is expected, got {image.dtype} {image.shape}")
    return image.copy()


def draw_box(image: bytes | npt.NDArray[np.uint8], box: Box, label: str = "", *, quality: int = 85,
             color: tuple[int, int, int] = BOX_COLOR) -> bytes:  # fmt: skip
    """JPEG bytes of ``image`` (JPEG/PNG bytes, or a BGR frame) with ``box`` (normalised) and ``label`` drawn."""
    frame = _frame(image)
    h, w = frame.shape[:2]
    if h * w > MAX_SNAPSHOT_PIXELS or h == 0 or w == 0:
        raise SnapshotError(f"the image is {w}x{h}: not a size a snapshot can have")
    x0, y0, x1, y1 = (min(1.0, max(0.0, float(v))) for v in box)
    p0 = (round(min(x0, x1) * (w - 1)), round(min(y0, y1) * (h - 1)))
    p1 = (round(max(x0, x1) * (w - 1)), round(max(y0, y1) * (h - 1)))
    thick = max(2, round(min(w, h) / 240))
    cv2.rectangle(frame, p0, p1, color, thick, cv2.LINE_AA)
    if label:
        text = label[:64]
        scale = max(0.4, min(w, h) / 720)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        # The label sits above the box, or inside its top when the box touches the frame's top.
        ty = p0[1] - base - 2 if p0[1] - th - base - 4 >= 0 else p0[1] + th + 2
        tx = min(p0[0], max(0, w - tw - 4))
        cv2.rectangle(frame, (tx, ty - th - 2), (tx + tw + 4, ty + base), color, cv2.FILLED)
        cv2.putText(frame, text, (tx + 2, ty), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, max(10, min(95, quality))])
    if not ok:
        raise SnapshotError("JPEG encoding failed")
    return jpeg.tobytes()
