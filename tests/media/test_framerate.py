"""The frame rate of a recorded segment, measured from its fragments (``ronda.media.framerate``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ronda.media.framerate import segment_frame_rate


def fragmented(out: Path, rate: int, vf: str | None = None) -> Path:
    """A 3 s test pattern at ``rate`` fps, fragmented as the recorder writes segments (``vf`` may drop
    frames; the others keep their timestamps)."""
    args = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size=320x180:rate={rate}", "-t", "3"]
    if vf:
        args += ["-vf", vf, "-fps_mode", "passthrough"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-g", str(rate), "-bf", "0", "-movflags",
             "+frag_keyframe+empty_moov+default_base_moof", "-frag_duration", "250000", str(out)]  # fmt: skip
    subprocess.run(args, check=True, timeout=60)
    return out


@pytest.mark.parametrize("rate", [15, 25, 30])
def test_the_rate_of_a_stream(tmp_path, rate):
    assert segment_frame_rate(str(fragmented(tmp_path / f"r{rate}.mp4", rate))) == pytest.approx(rate, abs=0.01)


def test_missing_frames_do_not_lower_the_rate(tmp_path):
    """One frame in four dropped (a camera, or the simulator under load): the average rate would be
    18.75 fps, the frame interval is still 1/25 s."""
    path = fragmented(tmp_path / "drops.mp4", 25, "select='not(eq(mod(n\\,4)\\,1))'")
    assert segment_frame_rate(str(path)) == pytest.approx(25, abs=0.01)


def test_unreadable_files_have_no_rate(tmp_path):
    assert segment_frame_rate(str(tmp_path / "missing.mp4")) is None
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x10ftypisom" + b"x" * 100)
    assert segment_frame_rate(str(junk)) is None
    full = fragmented(tmp_path / "full.mp4", 25).read_bytes()
    for cut in (20, len(full) // 3):
        part = tmp_path / f"cut{cut}.mp4"
        part.write_bytes(full[:cut])
        rate = segment_frame_rate(str(part))
        assert rate is None or rate == pytest.approx(25, abs=0.01)
