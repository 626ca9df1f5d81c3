"""The motion detector on synthetic frames (numpy), and the motion frame source on real H.264/H.265."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import av
import av.container
import numpy as np
import numpy.typing as npt
import pytest

from ronda.analytics.decode import MotionFrames, frames_for_motion
from ronda.analytics.model import GRID_COLS, GRID_ROWS, MotionSecond, unpack_cells
from ronda.analytics.motion import MotionDetector, MotionEvent, MotionResult, brightness_fit, in_schedule
from ronda.analytics.settings import MotionSettings, TimeWindow, Zone
from ronda.devices import simmedia

W, H = 640, 360
FPS = 5
T0 = int(datetime(2026, 6, 1, 10, 0, tzinfo=UTC).timestamp() * 1000)  # a Monday, 10:00 UTC


def scene(seed: int = 1, w: int = W, h: int = H) -> npt.NDArray[np.float32]:
    """A textured still street-ish background (smooth gradients plus a few blocks)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = 90 + 40 * np.sin(xx / 37.0) * np.cos(yy / 23.0) + 30 * (yy / h)
    for _ in range(12):
        x, y = int(rng.integers(0, w - 60)), int(rng.integers(0, h - 40))
        img[y : y + 40, x : x + 60] += float(rng.integers(-40, 40))
    return img


def frame(
    img: npt.NDArray[np.float32], noise: float = 2.0, rng: np.random.Generator | None = None
) -> npt.NDArray[np.uint8]:
    out = img
    if noise:
        rng = rng or np.random.default_rng()
        out = img + rng.normal(0, noise, img.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def blob(
    img: npt.NDArray[np.float32], cx: float, cy: float, bw: int = 30, bh: int = 70, value: float = 200
) -> npt.NDArray[np.float32]:
    """A person-sized rectangle centred at normalised (cx, cy)."""
    out = img.copy()
    h, w = img.shape
    x, y = int(cx * w - bw / 2), int(cy * h - bh / 2)
    out[max(0, y) : y + bh, max(0, x) : x + bw] = value
    return out


def run(
    det: MotionDetector, frames: Iterator[tuple[npt.NDArray[np.uint8], int]]
) -> tuple[list[MotionEvent], list[MotionResult]]:
    events: list[MotionEvent] = []
    results: list[MotionResult] = []
    last = T0
    for f, t in frames:
        r = det.process(f, t)
        events.extend(r.events)
        results.append(r)
        last = t
    r = det.flush(last)
    events.extend(r.events)
    results.append(r)
    return events, results


def ts(i: int) -> int:
    return T0 + i * 1000 // FPS


def still(n: int, base: npt.NDArray[np.float32], start: int = 0) -> Iterator[tuple[npt.NDArray[np.uint8], int]]:
    rng = np.random.default_rng(7)
    for i in range(start, start + n):
        yield frame(base, rng=rng), ts(i)


INCLUDE = Zone(name="street", kind="include", points=[(0.0, 0.4), (1.0, 0.4), (1.0, 1.0), (0.0, 1.0)])
TREE = Zone(name="tree", kind="mask", points=[(0.0, 0.0), (0.3, 0.0), (0.3, 0.35), (0.0, 0.35)])


def walker(
    base: npt.NDArray[np.float32], start: int, n: int, y: float = 0.7
) -> Iterator[tuple[npt.NDArray[np.uint8], int]]:
    """A person walking left to right across the include zone over n frames."""
    rng = np.random.default_rng(11)
    for k in range(n):
        cx = 0.1 + 0.8 * k / max(1, n - 1)
        yield frame(blob(base, cx, y), rng=rng), ts(start + k)


def test_walker_in_include_zone_gives_start_and_end_with_box() -> None:
    base = scene()
    det = MotionDetector(MotionSettings(fps=FPS), [INCLUDE, TREE])
    frames = [*still(10, base), *walker(base, 10, 20), *still(30, base, 30)]
    events, _ = run(det, iter(frames))
    assert [e.kind for e in events] == ["start", "end"], events
    start, end = events
    assert ts(10) <= start.time_ms <= ts(12)
    assert ts(28) <= end.time_ms <= ts(31)
    x0, y0, x1, y1 = end.box
    # The person's box spans the walk (x 0.1..0.9) at height y=0.7 ± 35 px of 360.
    assert x0 < 0.15 and x1 > 0.85, end.box
    assert 0.5 < y0 < 0.65 and 0.75 < y1 < 0.9, end.box
    assert 1 <= end.level <= 5
    assert det.counts["moving"] >= 18


def test_blob_only_in_mask_gives_nothing() -> None:
    base = scene()
    det = MotionDetector(MotionSettings(fps=FPS), [INCLUDE, TREE])
    rng = np.random.default_rng(3)
    frames = []
    for i in range(60):  # a "tree" swaying inside the mask: a bright blob moving back and forth
        cx = 0.15 + 0.08 * np.sin(i / 2.0)
        frames.append((frame(blob(base, cx, 0.17, bw=50, bh=50), rng=rng), ts(i)))
    events, results = run(det, iter(frames))
    assert events == []
    assert not any(r.frame.moving for r in results)
    assert all(r.seconds == [] for r in results)


def test_no_zones_means_whole_frame() -> None:
    base = scene()
    det = MotionDetector(MotionSettings(fps=FPS))
    events, _ = run(det, iter([*still(5, base), *walker(base, 5, 15, y=0.2), *still(20, base, 20)]))
    assert [e.kind for e in events] == ["start", "end"]


def test_global_brightness_step_is_not_motion() -> None:
    base = scene()
    det = MotionDetector(MotionSettings(fps=FPS, sensitivity=80), [INCLUDE])
    rng = np.random.default_rng(5)
    frames = []
    for i in range(60):
        gain, offset = (1.0, 0.0) if i < 20 else ((1.35, 25.0) if i < 40 else (0.6, -10.0))
        frames.append((frame(base * gain + offset, rng=rng), ts(i)))
    events, results = run(det, iter(frames))
    assert events == []
    assert not any(r.frame.moving for r in results)


@pytest.mark.parametrize(("gain", "offset"), [(1.25, 0.0), (0.8, 0.0), (1.0, 15.0), (1.1, -12.0)])
def test_moderate_brightness_step_is_corrected_not_vetoed(gain: float, offset: float) -> None:
    # Small enough that the global-change veto does not hide it: the gain/offset fit must absorb it.
    base = scene()
    det = MotionDetector(MotionSettings(fps=FPS, sensitivity=80), [INCLUDE])
    rng = np.random.default_rng(5)
    frames = [(frame(base if i < 10 else base * gain + offset, rng=rng), ts(i)) for i in range(30)]
    events, results = run(det, iter(frames))
    assert events == []
    assert det.counts["global_change"] == 0
    assert not any(r.frame.moving for r in results)


def test_brightness_fit_ignores_a_person() -> None:
    bg = scene()
    cur = blob(bg * 1.3 - 20, 0.5, 0.6, bw=60, bh=120)
    gain, offset = brightness_fit(cur, bg)
    assert gain == pytest.approx(1.3, abs=0.08)
    residual = np.abs(cur - (bg * gain + offset))
    assert float(np.median(residual)) < 3.0  # far below any threshold (6 at sensitivity 100)


def test_slow_lighting_ramp_is_not_motion() -> None:
    base = scene()
    det = MotionDetector(MotionSettings(fps=FPS, sensitivity=90), [INCLUDE])
    rng = np.random.default_rng(6)
    frames = []
    for i in range(300):  # one minute: dusk, brightness falls to 45 %
        g = 1.0 - 0.55 * i / 299
        frames.append((frame(base * g, rng=rng), ts(i)))
    events, results = run(det, iter(frames))
    assert events == []
    assert not any(r.frame.moving for r in results)


def test_sensor_noise_is_not_motion() -> None:
    base = scene()
    det = MotionDetector(MotionSettings(fps=FPS, sensitivity=100))
    rng = np.random.default_rng(8)
    events, results = run(det, ((frame(base, noise=25.0, rng=rng), ts(i)) for i in range(100)))
    assert events == []
    assert sum(r.frame.moving for r in results) == 0


def test_walker_still_found_in_heavy_noise() -> None:
    base = scene()
    det = MotionDetector(MotionSettings(fps=FPS), [INCLUDE])
    rng = np.random.default_rng(9)
    frames = [(frame(base, noise=10.0, rng=rng), ts(i)) for i in range(10)]
    frames += [(frame(blob(base, 0.1 + 0.04 * k, 0.7), noise=10.0, rng=rng), ts(10 + k)) for k in range(20)]
    events, _ = run(det, iter(frames))
    assert [e.kind for e in events] == ["start", "end"]


def test_single_frame_flash_does_not_start_an_event() -> None:
    base = scene()
    det = MotionDetector(MotionSettings(fps=FPS), [INCLUDE])
    frames = [*still(10, base)]
    frames.append((frame(blob(base, 0.5, 0.7)), ts(10)))
    frames += list(still(20, base, 11))
    events, _ = run(det, iter(frames))
    assert events == []


def test_grid_cells_and_seconds() -> None:
    base = scene()
    det = MotionDetector(MotionSettings(fps=FPS), camera_id=4)
    rng = np.random.default_rng(10)
    frames = [(frame(base, rng=rng), ts(i)) for i in range(10)]
    # A square flickering well inside grid cell (col 5, row 6): x 200..240, y 240..280 at 640x360
    # (cells are 40 px square here; the blur spreads a change by a few pixels).
    for k in range(10):
        img = base.copy()
        img[248:272, 208:232] = 250 if k % 2 else 10
        frames.append((frame(img, rng=rng), ts(10 + k)))
    frames += [(frame(base, rng=rng), ts(20 + i)) for i in range(15)]
    _, results = run(det, iter(frames))
    moving = [r.frame for r in results if r.frame.moving]
    assert moving
    for fm in moving:
        assert fm.cells == {(5, 6)}, fm.cells
    seconds = [s for r in results for s in r.seconds]
    assert [s.second for s in seconds] == [T0 // 1000 + 2, T0 // 1000 + 3]
    for s in seconds:
        assert s.camera_id == 4
        assert unpack_cells(s.cells) == {(5, 6)}
        assert 0 < s.level <= 2
    assert all(0 <= c < GRID_COLS and 0 <= r < GRID_ROWS for fm in moving for c, r in fm.cells)


def test_looks_every_two_seconds_during_an_event_leave_no_holes() -> None:
    """The default frame source looks every 2 s during an event: the seconds between are bridged."""
    base = scene()
    det = MotionDetector(MotionSettings(fps=FPS), [INCLUDE])
    rng = np.random.default_rng(12)
    s0 = T0 // 1000
    looks = [(frame(base, rng=rng), T0 + 1000 * i) for i in range(5)]  # idle
    looks += [(frame(blob(base, 0.1, 0.7), rng=rng), T0 + 5000), (frame(blob(base, 0.13, 0.7), rng=rng), T0 + 5200)]
    looks += [(frame(blob(base, 0.2 + 0.1 * k, 0.7), rng=rng), T0 + 7000 + 2000 * k) for k in range(4)]  # 7..13 s
    looks += [(frame(base, rng=rng), T0 + 15000 + 2000 * i) for i in range(4)]
    events, results = run(det, iter(looks))
    assert [e.kind for e in events] == ["start", "end"]
    seconds = [x for r in results for x in r.seconds]
    assert [x.second - s0 for x in seconds] == list(range(5, 14)), [x.second - s0 for x in seconds]
    assert det.counts["bridged"] == 4  # 6, 8, 10 and 12
    by = {x.second - s0: x for x in seconds}
    assert unpack_cells(by[10].cells) == unpack_cells(by[9].cells) | unpack_cells(by[11].cells)


def test_resolution_change_mid_stream_continues() -> None:
    det = MotionDetector(MotionSettings(fps=FPS), [INCLUDE])
    big, small = scene(1, 1280, 720), scene(1, 480, 360)  # 16:9 then 4:3: another analysis size
    frames = [*still(10, big), *walker(big, 10, 15)]
    frames += [(frame(small), ts(25 + i)) for i in range(5)]
    frames += [(frame(blob(small, 0.1 + 0.05 * k, 0.7)), ts(30 + k)) for k in range(15)]
    frames += list(still(20, small, 45))
    events, _ = run(det, iter(frames))
    assert det.counts["resets"] == 1
    kinds = [e.kind for e in events]
    assert kinds.count("start") >= 1 and kinds[-1] == "end"
    assert any(e.kind == "start" and e.time_ms >= ts(30) for e in events) or kinds == ["start", "end"]


def test_bgr_and_odd_sizes_accepted() -> None:
    det = MotionDetector()
    rng = np.random.default_rng(1)
    for i, (w, h) in enumerate([(1920, 1080), (333, 211), (100, 60), (320, 240)]):
        img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        det.process(img, ts(i))
    with pytest.raises(ValueError):
        det.process(np.zeros((10, 10, 4), np.uint8), ts(9))


def test_schedule_respected_in_site_time_zone() -> None:
    # 10:00 UTC on Monday 1 June 2026 is 12:00 in Rome: a window 08:00-11:00 Rome excludes it.
    windows = [TimeWindow(days=[0], start="08:00", end="11:00")]
    assert not in_schedule(windows, T0, __import__("zoneinfo").ZoneInfo("Europe/Rome"))
    assert in_schedule(windows, T0, UTC)
    night = [TimeWindow(days=[6], start="22:00", end="06:00")]  # Sunday 22:00 → Monday 06:00
    monday_5 = T0 - 5 * 3600 * 1000
    assert in_schedule(night, monday_5, UTC)
    assert not in_schedule(night, T0, UTC)
    base = scene()
    det = MotionDetector(MotionSettings(fps=FPS, schedule=windows), [INCLUDE], timezone="Europe/Rome")
    events, results = run(det, iter([*still(5, base), *walker(base, 5, 20), *still(20, base, 25)]))
    assert events == []
    assert det.counts["schedule"] == 45
    det = MotionDetector(MotionSettings(fps=FPS, schedule=windows), [INCLUDE], timezone="UTC")
    events, _ = run(det, iter([*still(5, base), *walker(base, 5, 20), *still(20, base, 25)]))
    assert [e.kind for e in events] == ["start", "end"]


def test_bad_time_zone_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        MotionDetector(timezone="Mars/Olympus")


# --------------------------------------------------------------------------------------------- decoding


@pytest.fixture(scope="module")
def media() -> dict[str, Path]:
    """The simulator's real H.264 (1080p main, 360p sub) and H.265 clips, encoded once by simmedia."""
    cache = simmedia.default_cache_dir()
    simmedia.prepare(cache, cameras=1)
    main, sub = simmedia.camera_files(cache, 1)
    return {"h264": main, "h264_sub": sub, "h265": simmedia.hevc_file(cache)}


def decode_all(
    src: str | Path | av.container.InputContainer, **kw: object
) -> tuple[list[tuple[npt.NDArray[np.uint8], int]], MotionFrames]:
    got: list[MotionFrames] = []
    frames = list(frames_for_motion(src, frames=got, wall0_ms=T0, **kw))  # type: ignore[arg-type]
    return frames, got[0]


@pytest.mark.parametrize("kind", ["h264", "h264_sub", "h265"])
def test_real_decode_all_and_keyframes(media: dict[str, Path], kind: str) -> None:
    frames, mf = decode_all(media[kind], fps=5, mode="all")
    # 10 s at 15 fps (a keyframe every 15 frames), delivered at 5 fps.
    assert mf.counts["decoded"] == 150 and mf.counts["delivered"] == 50, mf.counts
    assert not mf.errors
    assert all(f.shape == (180, 320) and f.dtype == np.uint8 for f, _ in frames)
    times = [t for _, t in frames]
    assert times[0] == T0 and times == sorted(times)
    assert all(190 <= b - a <= 210 for a, b in zip(times, times[1:], strict=False)), times[:10]
    assert 50 < float(frames[10][0].mean()) < 220  # a real picture, not black or garbage
    keys, mk = decode_all(media[kind], fps=5, mode="keyframes", key_interval_ms=0)
    assert mk.counts["decoded"] == 10 and mk.counts["skipped"] == 140
    assert [t for _, t in keys] == [T0 + 1000 * i for i in range(10)]
    # The keyframe pictures are the very same pictures full decoding gives at those times.
    full = dict((t, f) for f, t in frames)
    for f, t in keys:
        assert np.array_equal(f, full[t])


def test_rtsp_like_timestamps_first_packet_unstamped(media: dict[str, Path]) -> None:
    """An RTSP stream's first packet has no timestamp, the rest are 90 kHz: times run on evenly."""
    container = av.open(str(media["h264_sub"]))
    stream = container.streams.video[0]
    mf = MotionFrames("h264", fps=5, mode="all", time_base=Fraction(1, 90000), wall0_ms=T0)
    got: list[tuple[npt.NDArray[np.uint8], int]] = []
    for i, packet in enumerate(container.demux(stream)):
        if packet.size:
            packet.pts = packet.dts = None if i == 0 else 1_000_000 + i * 6000
            got.extend(mf.feed(packet))
    got.extend(mf.flush())
    container.close()
    times = [t for _, t in got]
    assert mf.counts["delivered"] == 50, mf.counts
    assert times[0] == T0 and all(190 <= b - a <= 210 for a, b in zip(times, times[1:], strict=False)), times[:5]


def test_adaptive_catches_up_mid_gop_exactly(media: dict[str, Path]) -> None:
    """Switching to full decoding mid-GOP replays the skipped packets: pictures equal full decoding's."""
    full, _ = decode_all(media["h264"], fps=15, mode="all")
    ref = dict((t, f) for f, t in full)
    container = av.open(str(media["h264"]))
    stream = container.streams.video[0]
    mf = MotionFrames.from_stream(stream, fps=15, mode="adaptive", wall0_ms=T0, key_interval_ms=0)
    got: list[tuple[npt.NDArray[np.uint8], int]] = []
    for i, packet in enumerate(container.demux(stream)):
        mf.active = 22 <= i < 40 or i >= 100  # switch on mid-GOP (frame 22 of GOP 15..29), off, on again
        got.extend(mf.feed(packet))
    got.extend(mf.flush())
    container.close()
    assert not mf.errors
    times = [t for _, t in got]
    assert len(times) == len(set(times))
    assert mf.counts["decoded"] < 150
    for f, t in got:
        assert np.array_equal(f, ref[t]), t
    expect = {T0 + round(k * 1000 / 15) for k in [*range(15, 41), *range(100, 150)]} | {
        T0 + 1000 * g for g in range(10)
    }
    assert set(times) >= expect - {T0 + round(40 * 1000 / 15)}


def test_resolution_change_in_the_stream(media: dict[str, Path], tmp_path: Path) -> None:
    """A sub-stream (640x360) followed by a main stream (1920x1080) in one Annex-B stream: the decoder
    takes the new SPS at the keyframe, frames keep coming, the detector carries on."""
    both = tmp_path / "both.h264"
    both.write_bytes(media["h264_sub"].read_bytes() + media["h264"].read_bytes())
    frames, mf = decode_all(both, fps=5, mode="all")
    assert mf.counts["decoded"] == 300 and not mf.errors, (mf.counts, mf.errors)
    assert len(frames) == 100 and all(f.shape == (180, 320) for f, _ in frames)
    det = MotionDetector()
    for f, t in frames:
        det.process(f, t)
    assert det.counts["frames"] == 100


def test_idle_key_interval(media: dict[str, Path]) -> None:
    keys, mk = decode_all(media["h264_sub"], fps=5, mode="keyframes", key_interval_ms=2000)
    assert [t for _, t in keys] == [T0 + 2000 * i for i in range(5)]
    assert mk.counts["decoded"] == 5
    # During an event (need "keyframes") every keyframe counts again: the per-second grid stays whole.
    keys, mk = decode_all(media["h264_sub"], fps=5, mode="adaptive", need=lambda: "keyframes")
    assert [t for _, t in keys] == [T0 + 2000 * i for i in range(5)]  # the default: every 2 s
    keys, mk = decode_all(media["h264_sub"], fps=5, mode="adaptive", need=lambda: "keyframes", event_key_interval_ms=0)
    assert [t for _, t in keys] == [T0 + 1000 * i for i in range(10)]


def test_frame_need_follows_the_event() -> None:
    base = scene()
    det = MotionDetector(MotionSettings(fps=FPS), [INCLUDE], start_frames=2)
    need = []
    for f, t in [*still(5, base), *walker(base, 5, 10), *still(20, base, 15)]:
        det.process(f, t)
        need.append(det.frame_need)
    # Frame 5 moves (a run of 1: confirming), frame 6 starts the event, 2 s after the walk it ends.
    assert need[:5] == ["idle"] * 5
    assert need[5] == "all" and det.wants_frames is False
    assert need[6:15] == ["keyframes"] * 9
    assert need[-1] == "idle" and need.count("all") == 1


def test_truncated_and_corrupt_input_counted_not_raised(media: dict[str, Path], tmp_path: Path) -> None:
    data = media["h264_sub"].read_bytes()
    truncated = tmp_path / "truncated.h264"
    truncated.write_bytes(data[: len(data) // 2 + 777])  # cut in the middle of a frame
    frames, mf = decode_all(truncated, fps=5, mode="all")
    assert 20 <= len(frames) <= 30
    corrupt = bytearray(data)
    rng = np.random.default_rng(4)
    for pos in rng.integers(2000, len(data) - 100, 8):
        corrupt[int(pos) : int(pos) + 64] = rng.integers(0, 256, 64, dtype=np.uint8).tobytes()
    bad = tmp_path / "corrupt.h264"
    bad.write_bytes(bytes(corrupt))
    det = MotionDetector()
    frames, mf = decode_all(bad, fps=5, mode="all")
    for f, t in frames:
        det.process(f, t)
    assert sum(mf.errors.values()) >= 1, (mf.counts, mf.errors)
    assert mf.errors.keys() <= {"decode", "corrupt", "format", "demux"}
    assert len(frames) >= 10  # decoding resumed at later keyframes
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match="cannot open|no video stream"):
        list(frames_for_motion(garbage))
    with pytest.raises(ValueError, match="unknown decode mode"):
        MotionFrames("h264", mode="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no decoder"):
        MotionFrames("not-a-codec")


def test_decode_feeds_detector_end_to_end(media: dict[str, Path]) -> None:
    """Camera 1's moving test pattern through decode + detector: motion found, seconds recorded."""
    det = MotionDetector(MotionSettings(fps=5))
    seconds: list[MotionSecond] = []
    events: list[MotionEvent] = []
    for f, t in frames_for_motion(media["h264_sub"], fps=5, need=lambda: det.frame_need, wall0_ms=T0):
        r = det.process(f, t)
        seconds += r.seconds
        events += r.events
    r = det.flush()
    seconds += r.seconds
    events += r.events
    assert [e.kind for e in events] == ["start", "end"]
    # Idle looks at 0 and 2 s, the start confirmed at ~2.2 s, looks at 4, 6, 8 s, 3, 5, 7 bridged.
    assert [s.second - T0 // 1000 for s in seconds] == list(range(2, 9))
