"""The generated street clip and its ground truth (tests/analytics/streetclip.py): the picture shows what
the truth says, and the scoring helpers (tests/analytics/groundtruth.py) count right."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from tests.analytics import groundtruth
from tests.analytics.streetclip import FPS, FRAMES, HEIGHT, WIDTH, StreetClip, bikes_clip, street_clip

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
SMALL = (320, 180)


@pytest.fixture(scope="session")
def street() -> StreetClip:
    return street_clip()  # generated once per VERSION into the simulator's cache


@pytest.fixture(scope="session")
def truth(street: StreetClip) -> groundtruth.GroundTruth:
    return groundtruth.load(street.truth)


@pytest.fixture(scope="session")
def small_frames(street: StreetClip) -> np.ndarray:
    """Every frame of the clip, gray, 320x180 (float32, frames x h x w)."""
    w, h = SMALL
    cmd = ["ffmpeg", "-v", "error", "-i", str(street.video), "-vf", f"scale={w}:{h}:flags=area",
           "-f", "rawvideo", "-pix_fmt", "gray", "-"]  # fmt: skip
    raw = subprocess.run(cmd, capture_output=True, check=True, timeout=300).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w).astype(np.float32)


def _box_px(box: list[float], size: tuple[int, int] = SMALL) -> tuple[int, int, int, int]:
    w, h = size
    return int(box[0] * w), int(box[1] * h), int(np.ceil(box[2] * w)), int(np.ceil(box[3] * h))


def _overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _poly_box(points: list[list[float]]) -> list[float]:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return [min(xs), min(ys), max(xs), max(ys)]


@pytest.mark.slow
@needs_ffmpeg
def test_clip_is_720p15_h264(street: StreetClip) -> None:
    cmd = ["ffprobe", "-v", "error", "-count_packets", "-show_entries",
           "stream=codec_name,width,height,r_frame_rate,nb_read_packets", "-of", "json", str(street.video)]  # fmt: skip
    st = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)["streams"][0]
    assert (st["codec_name"], st["width"], st["height"], st["r_frame_rate"]) == ("h264", WIDTH, HEIGHT, f"{FPS}/1")
    assert int(st["nb_read_packets"]) == FRAMES


@pytest.mark.slow
@needs_ffmpeg
def test_ground_truth_content(truth: groundtruth.GroundTruth) -> None:
    people, cars = truth.doc["classes"]["person"], truth.doc["classes"]["car"]
    assert len(people) >= 5 and len(cars) == 2
    for cls in ("person", "car"):
        dirs = {o["direction"] for o in truth.objects if o["class"] == cls}
        assert dirs == {"left_to_right", "right_to_left"}, cls
    for o in truth.objects:
        # one crossing of the line per walk or drive, in the object's direction; inside the zone a while
        assert [c["direction"] for c in o["line_crossings"]] == [o["direction"]], o["id"]
        assert sum(b - a + 1 for a, b in o["in_zone"]) >= 2 * FPS, o["id"]
        assert all(0 <= v <= 1 for r in o["boxes"] for v in r[1:5])
    assert len(truth.line_crossings) == len(truth.objects)
    # the lighting-only section: at least 10 s with no object at all
    lo_a, lo_b = truth.lighting_only
    assert lo_b - lo_a >= 10 * FPS
    assert not any(truth.boxes(f) for f in range(lo_a, lo_b + 1))
    assert not any(a <= lo_b and lo_a <= b for a, b in truth.motion_intervals)
    # nothing but the tree moves inside the mask
    tree = _poly_box(truth.zone("mask"))
    assert not any(_overlap(r[1:5], tree) for o in truth.objects for r in o["boxes"])
    # the tree is inside the include zone (else its mask would prove nothing)
    assert _overlap(tree, _poly_box(truth.zone("include")))


@pytest.mark.slow
@needs_ffmpeg
def test_objects_are_where_the_truth_says(truth: groundtruth.GroundTruth, small_frames: np.ndarray) -> None:
    empty = small_frames[5]  # frame 5: only the background (the first crossing starts at 3 s)
    assert not truth.boxes(5)
    for o in truth.objects:
        mid = [r for r in o["boxes"] if r[5] == 1.0]
        row = mid[len(mid) // 2]
        f = int(row[0])
        x0, y0, x1, y1 = _box_px(row[1:5])
        scale = empty.mean() / small_frames[f].mean()  # the light drifts
        inside = np.abs(small_frames[f][y0:y1, x0:x1] * scale - empty[y0:y1, x0:x1]).mean()
        ring = np.abs(small_frames[f] * scale - empty)
        ring[y0:y1, x0:x1] = 0
        assert inside > 12, (o["id"], inside)  # the object differs from the empty street there
        assert ring.mean() < 4, (o["id"], ring.mean())  # and nothing much elsewhere


@pytest.mark.slow
@needs_ffmpeg
def test_light_ramps_and_only_the_tree_sways(truth: groundtruth.GroundTruth, small_frames: np.ndarray) -> None:
    lo_a, lo_b = truth.lighting_only
    means = small_frames.mean(axis=(1, 2))
    assert means[lo_a + 10 * FPS - 5] < 0.75 * means[lo_a]  # a ramp down by a third...
    steps = np.abs(np.diff(means[lo_a : lo_b + 1]))
    assert steps.max() < 2  # ...slow: never a step (0.3 a frame on average; encoding adds jitter)
    tx0, ty0, tx1, ty1 = _box_px(_poly_box(truth.zone("mask")))
    # during the lighting-only section, after the light is matched, no pixel changes beyond noise
    for f in range(lo_a + 1, lo_b + 1):
        cur, prev = small_frames[f], small_frames[f - 1] * (means[f] / means[f - 1])
        assert np.percentile(np.abs(cur - prev), 99.9) < 12, f
    # the tree moves when nothing else does (frames 0..44: before the first person), a wall does not
    tree = np.abs(np.diff(small_frames[:45, ty0:ty1, tx0:tx1], axis=0)).mean()
    wall = np.abs(np.diff(small_frames[:45, 10:60, 200:300], axis=0)).mean()
    assert tree > 2 * wall, (tree, wall)


@pytest.mark.slow
def test_bikes_clip_is_there() -> None:
    path = bikes_clip()
    assert path.stat().st_size > 400_000
    cmd = ["ffprobe", "-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0", str(path)]
    assert subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip() == "640,272"


# ---------------------------------------------------------------------------------------- scoring


INFO = {"epoch_ms": 1_000_000.0, "frames": 150, "fps": 15}  # a 10 s clip that began at t = 1000 s


def test_wall_intervals_map_every_loop_inside_the_window() -> None:
    # frames 15..29 (1 s to 2 s into the clip) of each loop; window 1005 s .. 1032 s holds loops 1 and 2
    got = groundtruth.wall_intervals([(15, 29)], INFO, 1_005_000, 1_032_000)
    assert got == [(1_011_000.0, 1_012_000.0), (1_021_000.0, 1_022_000.0), (1_031_000.0, 1_032_000.0)]
    assert groundtruth.frame_ms(INFO, 0, 3) == 1_030_000.0


def test_recall_counts_truth_intervals_overlapped() -> None:
    truth = [(0.0, 1000.0), (5000.0, 6000.0), (10000.0, 11000.0)]
    assert groundtruth.recall([(500.0, 800.0), (9000.0, 10500.0)], truth) == pytest.approx(2 / 3)
    assert groundtruth.recall([(6500.0, 7000.0)], truth, slack_ms=1000) == pytest.approx(1 / 3)
    assert groundtruth.recall([(6500.0, 7000.0)], truth, slack_ms=0) == 0
    assert groundtruth.recall([(0.0, 20000.0)], truth) == 1.0
    with pytest.raises(ValueError):
        groundtruth.recall([], [])


def test_events_during_quiet() -> None:
    assert groundtruth.events_during([(100.0, 200.0), (1500.0, 1600.0)], [(1000.0, 2000.0)]) == 1
