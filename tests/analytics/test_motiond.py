"""bench/_motiond.py: the mask file and the event log of Debian's motion (the baseline of bench/motion.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench._motiond import MotionDaemon, MotionError, mask_pgm


def test_mask_pgm_white_inside_include_black_in_masks() -> None:
    data = mask_pgm(
        (40, 20),
        [[[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]],
        [[[0.75, 0.0], [1.0, 0.0], [1.0, 0.5], [0.75, 0.5]]],
    )
    header, _, pixels = data.partition(b"255\n")
    assert header == b"P5\n40 20\n" and len(pixels) == 40 * 20
    at = lambda x, y: pixels[y * 40 + x]  # noqa: E731
    assert at(5, 10) == 0  # outside the include zone
    assert at(25, 15) == 255  # inside it
    assert at(35, 5) == 0  # inside the mask
    # no include zone: everything is watched but the masks
    open_all = mask_pgm((40, 20), None, [[[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]]).partition(b"255\n")[2]
    assert open_all[5 * 40 + 5] == 0 and open_all[15 * 40 + 35] == 255


def test_events_pair_starts_and_ends(tmp_path: Path) -> None:
    try:
        md = MotionDaemon("rtsp://127.0.0.1:1/x", (64, 36), workdir=tmp_path)
    except MotionError:
        pytest.skip("motion is not installed")
    md.events_file.write_text("start 100.5\nend 103.0\nstart 110.0\ngarbage\n")
    assert md.events(until_ms=120_000) == [(100_500.0, 103_000.0), (110_000.0, 120_000.0)]
    conf = md.config()
    for line in ("webcontrol_port 0", "stream_port 0", "picture_output off", "movie_output off", "event_gap 3"):
        assert line in conf.splitlines()
