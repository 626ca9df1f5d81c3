"""Fragments written the way the recorder writes them (recording/ffmpeg.py's segment muxer options), by
a real ffmpeg from a synthetic moving picture, for the analytics runtime's tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

# The recorder's muxer settings (recording/ffmpeg.py capture_args): fragmented MP4 segments, a fragment
# every 250 ms written through at once.
MUX = [
    "-f", "segment", "-segment_time", "1", "-segment_format", "mp4",
    "-segment_format_options",
    "movflags=+frag_keyframe+empty_moov+default_base_moof:frag_duration=250000:flush_packets=1",
]  # fmt: skip


def encoder_args(size: str, codec: str, fps: int = 15) -> list[str]:
    enc = ["-c:v", "libx265", "-x265-params", "log-level=none"] if codec == "hevc" else ["-c:v", "libx264"]
    return ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}", "-map", "0:v", *enc, "-g", str(fps),
            "-pix_fmt", "yuv420p", "-preset", "ultrafast"]  # fmt: skip


def write_segments(partial_dir: Path, session: str, size: str = "320x240", seconds: float = 3.0,
                   codec: str = "h264") -> list[Path]:  # fmt: skip
    """Finished segment files of ``seconds`` of video (as fast as ffmpeg can)."""
    partial_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", *encoder_args(size, codec), "-t", str(seconds), *MUX,
         str(partial_dir / f"{session}_%06d.mp4.partial")],
        check=True, timeout=120,
    )  # fmt: skip
    return sorted(partial_dir.glob(f"{session}_*.mp4.partial"))


def live_writer(partial_dir: Path, session: str, size: str = "320x240", seconds: float = 30.0,
                codec: str = "h264") -> subprocess.Popen[bytes]:  # fmt: skip
    """A real-time writer (``-re``), as the recorder writes a camera's stream."""
    partial_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        ["ffmpeg", "-loglevel", "error", "-re", *encoder_args(size, codec), "-t", str(seconds), *MUX,
         str(partial_dir / f"{session}_%06d.mp4.partial")],
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
