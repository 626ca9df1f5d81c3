"""Writing a generated test clip: BGR frames piped to ffmpeg's libx264 with its temporal sensor noise,
and the clip's truth as JSON; each file appears under its name only once it is whole (a ``.partial-PID``
file first), so an interrupted generation never leaves a clip that looks ready."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


def _partial(path: Path) -> Path:
    return path.with_name(f"{path.stem}.partial-{os.getpid()}{path.suffix}")


@contextmanager
def h264_writer(video: Path, width: int, height: int, fps: int, *, luma_noise: int, chroma_noise: int,
                crf: int = 23) -> Iterator[Callable[[np.ndarray], None]]:  # fmt: skip
    """``write(frame)`` for each ``height × width`` BGR frame; the video is ``video`` when the block ends
    without an error (nothing otherwise). One keyframe a second, no B-frames, as a camera sends."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("ffmpeg not found on PATH")
    tmp = _partial(video)
    noise = f"noise=c0s={luma_noise}:c0f=t+u:c1s={chroma_noise}:c1f=t+u:c2s={chroma_noise}:c2f=t+u,format=yuv420p"
    cmd = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
           "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}", "-r", str(fps), "-i", "-",
           "-vf", noise, "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-g", str(fps), "-bf", "0",
           "-threads", "1", "-movflags", "+faststart", str(tmp)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    stdin = proc.stdin
    assert stdin is not None

    def write(frame: np.ndarray) -> None:
        stdin.write(np.ascontiguousarray(frame).tobytes())

    try:
        yield write
        stdin.close()
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.wait() != 0:
            raise RuntimeError(f"ffmpeg failed writing {video.name}: {err.strip()[-500:]}")
        os.replace(tmp, video)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        tmp.unlink(missing_ok=True)


def write_json(path: Path, doc: Any) -> None:
    """``doc`` as indented JSON at ``path``, replaced in one step."""
    tmp = _partial(path)
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, path)
