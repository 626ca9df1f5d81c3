"""ronda.analytics.snapshot: the event's JPEG with the box drawn where the object is."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ronda.analytics.snapshot import BOX_COLOR, SnapshotError, draw_box
from tests.analytics.assets import sample


def _decode(jpeg: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    return img


def test_box_drawn_on_a_real_jpeg() -> None:
    raw = sample("bus.jpg").read_bytes()
    out = draw_box(raw, (0.06, 0.37, 0.27, 0.83), "person 0.97")
    assert out[:2] == b"\xff\xd8"
    before, after = _decode(raw), _decode(out)
    assert after.shape == before.shape == (1080, 810, 3)
    h, w = after.shape[:2]
    # the left edge of the box, halfway down, is the box colour now (JPEG: roughly)
    x, y = round(0.06 * (w - 1)), round(0.6 * (h - 1))
    assert np.abs(after[y, x].astype(int) - BOX_COLOR).max() < 60
    assert np.abs(before[y, x].astype(int) - BOX_COLOR).max() >= 60
    # far from the box nothing changed beyond JPEG noise
    assert np.abs(after[50:100, 600:700].astype(int) - before[50:100, 600:700].astype(int)).mean() < 4


def test_frame_input_label_at_the_top_edge_and_bad_input() -> None:
    frame = np.zeros((180, 320, 3), np.uint8)
    out = _decode(draw_box(frame, (0.0, 0.0, 1.0, 0.5), "car"))
    assert out.shape == (180, 320, 3) and out[:20, :40].mean() > 50  # the label box inside the top edge
    assert not frame.any()  # the caller's frame is not drawn on
    with pytest.raises(SnapshotError, match="not a JPEG"):
        draw_box(b"not an image", (0, 0, 1, 1))
    with pytest.raises(SnapshotError, match="empty"):
        draw_box(b"", (0, 0, 1, 1))
    with pytest.raises(SnapshotError, match="BGR uint8"):
        draw_box(np.zeros((4, 4, 4), np.uint8), (0, 0, 1, 1))
