"""Licence plate reading (src/ronda/analytics/plates: format.py, reader.py, analyser.py, cli.py).

Accuracy is measured on generated plates pasted on real street pictures (platesynth.py): ≥ 95 % exact
reads for plates 90-120 px wide, ≥ 70 % for blurred ones 60-80 px wide (issue 14, Plates), read in the
vehicle's box as the analyser does; a few whole pictures go through ``ronda lpr read``.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from ronda.analytics.plates.format import validate
from tests.analytics import platesynth

ROOT = Path(__file__).resolve().parents[2]
pytest.importorskip("rapidocr")


@pytest.fixture(scope="module")
def reader():
    from ronda.analytics.plates.reader import PlateReader

    return PlateReader(timeout_s=30)


# ------------------------------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("text", "plate", "fmt"),
    [
        ("AB 123 CD", "AB123CD", "it"),
        ("ab-123-cd", "AB123CD", "it"),
        ("AB 12O CD", "AB120CD", "it"),  # O at a digit position is 0
        ("A8 123 CD", "AB123CD", "it"),  # 8 at a letter position is B
        ("AB 1Z3 CD", "AB123CD", "it"),  # Z at a digit position is 2
        ("AB I23 CD", "AB123CD", "it"),  # I at a digit position is 1
        ("AB 123 C0", "AB123CD", "it"),  # a 0 where an Italian letter is: D (O is never used)
        ("5B 123 CD", "SB123CD", "it"),  # 5 at a letter position is S
        ("AB 1Q3 CD", "AB103CD", "it"),  # Q at a digit position is 0
        ("EZ 433 WD", "EZ433WD", "it"),
        ("AB 12345", "AB12345", "it-moto"),
        ("MI 123456", "MI123456", "it-old"),
        ("RM A12345", "RMA12345", "it-old"),
        ("QA-123-BC", "QA123BC", "fr"),  # Q is a French letter, never an Italian one
        ("1234 BCD", "1234BCD", "es"),
        ("B MW 1234", "BMW1234", "eu"),  # German: no known template, the generic EU rule
        ("HELLO", "HELLO", None),
        ("10", "10", None),
        ("123456", "123456", None),
        ("ZZ 999 ZZ", "ZZ999ZZ", "it"),
    ],
)
def test_validate_normalises_by_position(text: str, plate: str, fmt: str | None) -> None:
    assert validate(text) == (plate, fmt)


def test_italian_letters_never_i_o_q_u() -> None:
    from ronda.analytics.plates.format import BY_NAME, fit

    it = BY_NAME["it"]
    for bad in "IOQU":
        got = fit(f"A{bad}123CD", it)
        assert got is None or bad not in got


@pytest.mark.parametrize(
    ("text", "partial"),
    [("955GD", True), ("0262VA", True), ("R955GD", True), ("AB123C", True), ("BMW1234", False), ("1234BCD", False)],
)
def test_partial_italian_is_not_a_foreign_plate(text: str, partial: bool) -> None:
    """A blurred Italian plate read with its first character lost ('955GD' at 0.996 was reported as a
    generic EU plate before this rule) is no plate at all."""
    from ronda.analytics.plates.reader import partial_italian

    assert partial_italian(text) is partial


# ------------------------------------------------------------------------------------------ accuracy


def _rate(reader, kind: str) -> tuple[float, list[str], float]:
    samples = platesynth.plate_set(kind)
    assert len(samples) >= 60
    ok, wrong, spent = 0, [], 0.0
    for s in samples:
        t0 = time.perf_counter()
        r = reader.read(s.image, s.vehicle)
        spent += time.perf_counter() - t0
        if r is not None and r.plate == s.plate:
            ok += 1
        else:
            wrong.append(f"{s.name} {s.plate}→{r.plate if r else None}")
    return ok / len(samples), wrong, spent / len(samples)


def test_sharp_plates_read_exactly(reader) -> None:
    rate, wrong, ms = _rate(reader, "sharp")
    print(f"sharp: {rate:.1%} exact, {ms * 1000:.0f} ms per vehicle read; missed {wrong}")
    assert rate >= 0.95, wrong


def test_small_blurred_plates_read(reader) -> None:
    rate, wrong, ms = _rate(reader, "blurred")
    print(f"blurred: {rate:.1%} exact, {ms * 1000:.0f} ms per vehicle read; missed {wrong}")
    assert rate >= 0.70, wrong


def test_no_plate_read_where_there_is_none(reader) -> None:
    """Street pictures with text (a bus's adverts, shop signs) and no plate: nothing, in the whole
    picture and in vehicle-sized boxes all over it."""
    false = []
    for img in platesynth.plateless():
        false += [r.plate for r in reader.read_all(img)]
        for box in ((0.0, 0.3, 0.5, 0.9), (0.5, 0.3, 1.0, 0.9), (0.25, 0.1, 0.75, 0.6)):
            false += [r.plate for r in reader.read_all(img, box)]
    assert false == []


def test_bad_pictures_are_refused_clearly(reader) -> None:
    from ronda.analytics.plates.reader import ReaderError

    with pytest.raises(ReaderError, match="uint8"):
        reader.read(np.zeros((100, 100, 3), np.float32))
    with pytest.raises(ReaderError, match="too small"):
        reader.read(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ReaderError, match="larger"):
        reader.read(np.zeros((9000, 10, 3), np.uint8))
    assert reader.read(np.zeros((200, 300, 3), np.uint8)) is None
    assert reader.read(np.zeros((200, 300, 3), np.uint8), (0.5, 0.5, 0.5, 0.5)) is None  # an empty box


# ----------------------------------------------------------------------------------------------- CLI


def test_cli_reads_pictures(tmp_path: Path) -> None:
    samples = [platesynth.plate_set("sharp")[i] for i in (0, 5, 9)]
    paths = []
    for s in samples:
        p = tmp_path / f"{s.name}.jpg"
        cv2.imwrite(str(p), s.image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        paths.append(p)
    # A close-up: the plate and a little around it, as an entry camera sees it.
    s = samples[1]
    x0, y0 = (s.quad.min(axis=0) - 25).astype(int).clip(0)
    x1, y1 = (s.quad.max(axis=0) + 25).astype(int)
    close = tmp_path / "close.png"
    cv2.imwrite(str(close), s.image[y0:y1, x0:x1])
    empty = tmp_path / "street.jpg"
    cv2.imwrite(str(empty), platesynth.plateless()[2])
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not a picture")
    args = [*map(str, paths), str(close), str(empty), str(junk), str(tmp_path / "missing.png")]
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-c", "import sys; from ronda.cli import main; sys.exit(main())", "lpr", "read", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    lines = [json.loads(ln) for ln in p.stdout.splitlines()]
    assert [ln["image"] for ln in lines] == args
    for ln, s in zip(lines[:3], samples, strict=True):
        assert ln["plate"] == s.plate and 0.5 <= ln["confidence"] <= 1.0, ln
    assert lines[3]["plate"] == samples[1].plate
    assert lines[4]["plate"] is None and "error" not in lines[4]
    assert lines[5]["plate"] is None and "not a picture" in lines[5]["error"]
    assert lines[6]["plate"] is None and "No such file" in lines[6]["error"]


def test_cli_help_and_bad_box() -> None:
    from ronda.analytics.plates import cli

    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["lpr", "read", "--vehicle", "0.5,0.2", "x.jpg"])
    out = io.StringIO()
    assert cli.run(args, out) == 0
    (line,) = [json.loads(ln) for ln in out.getvalue().splitlines()]
    assert line["plate"] is None and "--vehicle" in line["error"]
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-c", "import sys; from ronda.cli import main; sys.exit(main())", "lpr", "read", "--help"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 0 and "IMAGE" in p.stdout and "JSON" in p.stdout


# ------------------------------------------------------------------------------------------ analyser


_Picture = platesynth.Picture


def test_analyser_one_read_per_vehicle() -> None:
    """A car carrying a plate stands in view for 3 s, then leaves: the real detector and tracker follow
    it, the plates analyser reads it a few times and reports exactly one plate.read, the right plate."""
    from ronda.analytics.detector import Detector
    from ronda.analytics.objects import ObjectAnalyser
    from ronda.analytics.pipeline import EventOut, Frame
    from ronda.analytics.plates.analyser import factory
    from ronda.analytics.settings import AnalyticsSettings
    from tests.analytics.assets import builtin_model

    rng = np.random.default_rng(3)
    scene, (cx, cy, cw, ch) = platesynth.car()
    text, groups = platesynth.random_plate(rng)
    plate = platesynth.render_plate(groups, platesynth.fonts()[0], rng)
    img, _ = platesynth.paste(scene, plate, (cx + cw * 0.5, cy + ch * 0.68), 110, rng)
    img = cv2.resize(img, (1280, 544), interpolation=cv2.INTER_AREA)  # the plate ~73 px wide
    empty = cv2.resize(platesynth.plateless()[3], (1280, 544))
    settings = AnalyticsSettings(detectors=["plates"])
    assert settings.detectors[:2] == ["motion", "objects"]
    objects = ObjectAnalyser(1, settings, Detector(builtin_model()))
    plates = factory()(1, settings)
    events: list[EventOut] = []
    reads = 0
    original = plates.reader.read

    def counting(*a, **k):
        nonlocal reads
        reads += 1
        return original(*a, **k)

    plates.reader.read = counting  # type: ignore[method-assign]
    t = 1_000_000
    vehicles: set[int] = set()
    for i in range(45):  # 5 fps: 3 s of the car, then 6 s of the empty street
        bgr = img if i < 15 else empty
        noisy = np.clip(bgr.astype(np.int16) + rng.integers(-3, 4, bgr.shape), 0, 255).astype(np.uint8)
        frame = Frame(1, t, _Picture(noisy))
        frame.notes["motion"] = [(0.0, 0.0, 1.0, 1.0)]
        objects.feed(frame)
        vehicles |= {o.track for o in frame.notes["objects"] if o.cls in ("car", "truck", "bus")}
        events += [e for e in plates.feed(frame) if isinstance(e, EventOut)]
        t += 200
    assert [e.type for e in events] == ["plate.read"]
    e = events[0]
    assert e.payload["plate"] == text, e.payload
    assert set(e.payload) >= {"plate", "confidence", "box", "track", "format"}
    assert e.payload["format"] == "it" and isinstance(e.payload["track"], int)
    assert 1 <= reads <= settings.plates.reads_per_track * len(vehicles)  # rate-limited per track
    assert e.snapshot is not None and e.snapshot[:2] == b"\xff\xd8"
    crop = cv2.imdecode(np.frombuffer(e.snapshot, np.uint8), cv2.IMREAD_COLOR)
    assert crop.shape[1] < 200  # the plate crop, not the frame


def test_frame_mode_reads_without_a_vehicle() -> None:
    from ronda.analytics.pipeline import EventOut, Frame
    from ronda.analytics.plates.analyser import factory
    from ronda.analytics.settings import AnalyticsSettings

    s = platesynth.plate_set("sharp")[2]
    x0, y0 = (s.quad.min(axis=0) - 60).astype(int).clip(0)
    x1, y1 = (s.quad.max(axis=0) + 60).astype(int)
    close = np.ascontiguousarray(s.image[y0:y1, x0:x1])
    off = factory()(1, AnalyticsSettings(detectors=["plates"]))
    on = factory()(1, AnalyticsSettings(detectors=["plates"], plates={"frame_mode": True, "frame_interval_s": 1}))
    got: list[EventOut] = []
    for i in range(4):  # 2 s at 2 fps: two looks, one report (the same plate again is the same vehicle)
        f = Frame(1, 1_000_000 + i * 500, _Picture(close))
        assert off.feed(f) == []
        got += [e for e in on.feed(f) if isinstance(e, EventOut)]
    assert [(e.type, e.payload["plate"], e.payload["track"]) for e in got] == [("plate.read", s.plate, None)]


def _track_frames(texts: list[list[str]], seed: int = 5) -> tuple[list[np.ndarray], tuple[float, float, float, float]]:
    """The same car with its plate printed as each of ``texts`` (groups), one picture each: what a
    camera gives when one frame's character is smeared into another (here: printed as that other one,
    so that the reader's single reads are known)."""
    scene, (cx, cy, cw, ch) = platesynth.car()
    font = platesynth.fonts()[0]
    h, w = scene.shape[:2]
    vehicle = (cx / w, cy / h, (cx + cw) / w, (cy + ch) / h)
    out = []
    for groups in texts:
        plate = platesynth.render_plate(groups, font, np.random.default_rng(seed))
        img, _ = platesynth.paste(scene, plate, (cx + cw * 0.5, cy + ch * 0.68), 115, np.random.default_rng(seed))
        out.append(img)
    return out, vehicle


def test_a_tracks_reads_vote_character_by_character(reader) -> None:
    """Three reads of one vehicle, each wrong in a different character (8→3, B→E, M→N): no single read
    is the plate, so the best single read is wrong; voting position by position (each read's characters
    weighted by their confidence), two reads outvote the third everywhere and the plate is right."""
    from ronda.analytics.model import TrackedObject
    from ronda.analytics.pipeline import EventOut, Frame
    from ronda.analytics.plates.analyser import PlateAnalyser
    from ronda.analytics.settings import AnalyticsSettings

    truth = "FB482KM"
    texts = [["FB", "432", "KM"], ["FE", "482", "KM"], ["FB", "482", "KN"]]
    frames, vehicle = _track_frames(texts)
    singles = [reader.read(img, vehicle) for img in frames]
    assert [r.plate if r else None for r in singles] == ["".join(g) for g in texts]  # the reader reads each frame
    settings = AnalyticsSettings(detectors=["plates"]).plates
    plates = PlateAnalyser(1, settings, reader)
    t, events = 1_000_000, []
    for img in frames:
        f = Frame(1, t, _Picture(img))
        f.notes["objects"] = [TrackedObject(7, "car", 0.9, vehicle, 1_000_000, t)]
        f.notes["detected"] = True
        events += [e for e in plates.feed(f) if isinstance(e, EventOut)]
        t += 1000
    assert events == []  # no two reads agree: the track goes on
    end = Frame(1, t, _Picture(frames[0]))
    end.notes["objects"], end.notes["detected"] = [], True
    events += [e for e in plates.feed(end) if isinstance(e, EventOut)]
    assert [(e.type, e.payload["plate"]) for e in events] == [("plate.read", truth)]
    e = events[0]
    assert e.payload["format"] == "it" and e.payload["reads"] == 3 and e.payload["track"] == 7
    assert 0.0 < e.payload["confidence"] <= max(r.confidence for r in singles if r)
    assert e.snapshot is not None and e.snapshot[:2] == b"\xff\xd8"
