"""Pre-encoded media for the camera simulator.

Clips are encoded once with the system ``ffmpeg`` (libx264/libx265, drawtext) into a cache directory and
served later without transcoding.  Encoding is camera-like: Annex-B elementary streams with an access unit
delimiter (AUD) before every frame and SPS/PPS (VPS) repeated before every keyframe, 15 fps, a closed
1-second GOP (keyframe every 15 frames), no B-frames and no scene-cut keyframes.

Files (inside ``<cache>/v1``):

- ``camN_main.h264``: 1920x1080, ~3.5 Mbit/s; ``camN_sub.h264``: 640x360, ~500 kbit/s.
  Odd cameras show a moving scene (``testsrc2``), even cameras a still pattern with slight noise; every
  picture shows "CAM N" in large letters.
- ``hevc_main.h265``: 1920x1080 H.265 labelled "HEVC".
- ``audio_main.h264``: 1280x720 H.264 labelled "AUDIO" (the simulator adds a live G.711 tone).
- ``dome_scene.yuv``: one 3840x2160 raw I420 picture, the scene the simulated PTZ dome looks at
  (:mod:`ronda.devices.simdome` cuts its view out of it).

Run ``python -m ronda.devices.simmedia --cameras N [--cache DIR]`` to prepare a cache ahead of time.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

CACHE_VERSION = "v1"
FPS = 15
GOP = 15  # frames between keyframes (1 s)
CLIP_SECONDS = 10
CLIP_FRAMES = FPS * CLIP_SECONDS
FONT_FILE = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")

MAIN_SIZE = (1920, 1080)
SUB_SIZE = (640, 360)
AUDIO_SIZE = (1280, 720)

Progress = Callable[[int, int, str], None]
"""``progress(done, total, label)``: called after each finished (or skipped) clip job."""


@dataclass(frozen=True)
class AccessUnit:
    offset: int
    size: int
    key: bool


def default_cache_dir() -> Path:
    env = os.environ.get("RONDA_SIM_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "ronda" / "sim"


def media_dir(cache_dir: Path) -> Path:
    return Path(cache_dir) / CACHE_VERSION


def camera_files(cache_dir: Path, number: int) -> tuple[Path, Path]:
    """(main, sub) clip paths of camera ``number`` (1-based)."""
    d = media_dir(cache_dir)
    return d / f"cam{number}_main.h264", d / f"cam{number}_sub.h264"


def hevc_file(cache_dir: Path) -> Path:
    return media_dir(cache_dir) / "hevc_main.h265"


def audio_video_file(cache_dir: Path) -> Path:
    return media_dir(cache_dir) / "audio_main.h264"


def dome_scene_file(cache_dir: Path) -> Path:
    return media_dir(cache_dir) / "dome_scene.yuv"


DOME_SCENE_SIZE = (3840, 2160)


# --------------------------------------------------------------------------------------------- encoding


def x264_args(bitrate_k: int, frames: int | None = CLIP_FRAMES) -> list[str]:
    """ffmpeg output options of the simulator's camera-like H.264 (``frames`` None: as many as come)."""
    return [
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        "-g", str(GOP), "-keyint_min", str(GOP), "-sc_threshold", "0", "-bf", "0", "-flags", "+cgop",
        "-b:v", f"{bitrate_k}k", "-maxrate", f"{bitrate_k * 8 // 7}k", "-bufsize", f"{bitrate_k}k",
        "-x264-params", "aud=1:repeat-headers=1:scenecut=0:open-gop=0",
        *(["-frames:v", str(frames)] if frames is not None else []), "-f", "h264",
    ]  # fmt: skip


def _x265_args(bitrate_k: int) -> list[str]:
    params = f"keyint={GOP}:min-keyint={GOP}:scenecut=0:bframes=0:open-gop=0:repeat-headers=1:aud=1:log-level=error"
    return [
        "-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-b:v", f"{bitrate_k}k", "-x265-params", params,
        "-frames:v", str(CLIP_FRAMES), "-f", "hevc",
    ]  # fmt: skip


def _escape_filter_path(path: Path) -> str:
    return str(path).replace("\\", "\\\\").replace(":", "\\:").replace("'", "\\'")


def _scene(label: str, size: tuple[int, int], moving: bool) -> str:
    w, h = size
    if moving:
        src = f"testsrc2=size={w}x{h}:rate={FPS}"
    else:
        src = f"smptehdbars=size={w}x{h}:rate={FPS}"
    font = f"fontfile='{_escape_filter_path(FONT_FILE)}':" if FONT_FILE.exists() else ""
    text = (
        f"drawtext={font}text='{label}':fontsize={h * 20 // 100}:fontcolor=white:"
        f"box=1:boxcolor=black@0.6:boxborderw={h // 36}:x=(w-text_w)/2:y=(h-text_h)/2"
    )
    chain = f"{src},{text}"
    if not moving:
        chain += ",noise=alls=4:allf=t"
    return chain + ",format=yuv420p"


@dataclass(frozen=True)
class _Job:
    label: str
    outputs: tuple[Path, ...]
    # argv without output file names; ``{0}``, ``{1}`` placeholders are replaced by temp output paths
    argv: tuple[str, ...]

    def complete(self) -> bool:
        return all(p.exists() and p.stat().st_size > 0 for p in self.outputs)


def _camera_job(cache_dir: Path, number: int) -> _Job:
    main, sub = camera_files(cache_dir, number)
    graph = (
        _scene(f"CAM {number}", MAIN_SIZE, moving=number % 2 == 1)
        + f",split=2[main][s];[s]scale={SUB_SIZE[0]}:{SUB_SIZE[1]}[sub]"
    )
    argv = (
        ["-filter_complex", graph]
        + ["-map", "[main]", *x264_args(3500), "{0}"]
        + ["-map", "[sub]", *x264_args(500), "{1}"]
    )
    return _Job(f"cam{number}", (main, sub), tuple(argv))


def _hevc_job(cache_dir: Path) -> _Job:
    argv = ["-filter_complex", _scene("HEVC", MAIN_SIZE, moving=True) + "[v]", "-map", "[v]"]
    argv += [*_x265_args(2500), "{0}"]
    return _Job("hevc", (hevc_file(cache_dir),), tuple(argv))


def _audio_job(cache_dir: Path) -> _Job:
    argv = ["-filter_complex", _scene("AUDIO", AUDIO_SIZE, moving=True) + "[v]", "-map", "[v]"]
    argv += [*x264_args(2000), "{0}"]
    return _Job("audio", (audio_video_file(cache_dir),), tuple(argv))


def _dome_job(cache_dir: Path) -> _Job:
    w, h = DOME_SCENE_SIZE
    font = f"fontfile='{_escape_filter_path(FONT_FILE)}':" if FONT_FILE.exists() else ""
    # a grid with a label in every cell, so a person sees where the dome looks
    labels = ",".join(
        f"drawtext={font}text='{chr(65 + c)}{r + 1}':fontsize=90:fontcolor=white:box=1:boxcolor=black@0.5:"
        f"x={c * w // 8 + 40}:y={r * h // 6 + 40}"
        for r in range(6)
        for c in range(8)
    )
    graph = f"testsrc2=size={w}x{h}:rate=1,drawgrid=w={w // 8}:h={h // 6}:t=6:c=white@0.9,{labels},format=yuv420p[v]"
    argv = ["-filter_complex", graph, "-map", "[v]", "-frames:v", "1", "-f", "rawvideo", "{0}"]
    return _Job("dome", (dome_scene_file(cache_dir),), tuple(argv))


def _jobs(cache_dir: Path, cameras: int) -> list[_Job]:
    jobs = [_camera_job(cache_dir, n) for n in range(1, cameras + 1)]
    jobs += [_hevc_job(cache_dir), _audio_job(cache_dir), _dome_job(cache_dir)]
    return jobs


_running: set[subprocess.Popen[str]] = set()
_running_lock = threading.Lock()
_cancelled = threading.Event()


def _run_job(job: _Job, ffmpeg: str) -> None:
    tag = f".partial-{os.getpid()}-{time.monotonic_ns()}"
    temps = [p.with_name(p.name + tag) for p in job.outputs]
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    argv += [a.format(*temps) if a.startswith("{") else a for a in job.argv]
    try:
        with _running_lock:
            if _cancelled.is_set():
                raise RuntimeError("cancelled")
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
            _running.add(proc)
        try:
            _, stderr = proc.communicate()
        finally:
            with _running_lock:
                _running.discard(proc)
        if proc.returncode != 0 or not all(t.exists() and t.stat().st_size > 0 for t in temps):
            tail = "\n".join(stderr.strip().splitlines()[-15:])
            raise RuntimeError(f"ffmpeg failed preparing {job.label} (exit {proc.returncode}):\n{tail}")
        for tmp, final in zip(temps, job.outputs, strict=True):
            os.replace(tmp, final)
    finally:
        for t in temps:
            t.unlink(missing_ok=True)


def prepare(
    cache_dir: Path | str | None, cameras: int, progress: Progress | None = None, workers: int | None = None
) -> None:
    """Encode every clip the simulator needs for ``cameras`` cameras; existing complete clips are kept.

    Safe to call concurrently from several processes (each writes to its own temp name and renames).
    """
    if cameras < 0:
        raise ValueError("cameras must be >= 0")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    media_dir(cache).mkdir(parents=True, exist_ok=True)
    jobs = _jobs(cache, cameras)
    total = len(jobs)
    todo = [j for j in jobs if not j.complete()]
    done = total - len(todo)
    if progress and done:
        progress(done, total, "cached")
    if not todo:
        return
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("ffmpeg not found on PATH (Debian: apt-get install ffmpeg)")
    n_workers = workers or max(1, min(len(todo), os.cpu_count() or 1))
    _cancelled.clear()
    with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="simmedia") as pool:
        futures = {pool.submit(_run_job, job, ffmpeg): job for job in todo}
        try:
            for fut in as_completed(futures):
                fut.result()
                done += 1
                if progress:
                    progress(done, total, futures[fut].label)
        except BaseException:
            # interrupted (SIGTERM/SIGINT) or failed: cancel pending jobs and kill running encoders
            _cancelled.set()
            for f in futures:
                f.cancel()
            with _running_lock:
                for proc in _running:
                    proc.kill()
            raise


# ----------------------------------------------------------------------------------------------- parsing

_START_CODE = re.compile(rb"\x00\x00\x01")


def index_annexb(data: bytes | memoryview, codec: str) -> list[AccessUnit]:
    """Split an Annex-B stream whose access units start with an AUD into access units.

    ``codec`` is ``"h264"`` or ``"h265"``.  An access unit is a keyframe when it holds an IDR (H.264) or an
    IRAP picture (H.265).
    """
    if codec not in ("h264", "h265"):
        raise ValueError(f"unsupported codec {codec!r}")
    buf = bytes(data)
    starts: list[int] = []
    keys: list[bool] = []
    n = len(buf)
    for m in _START_CODE.finditer(buf):
        pos = m.end()
        if pos >= n:
            break
        if codec == "h264":
            nal_type = buf[pos] & 0x1F
            is_aud, is_key = nal_type == 9, nal_type == 5
        else:
            nal_type = (buf[pos] >> 1) & 0x3F
            is_aud, is_key = nal_type == 35, 16 <= nal_type <= 21
        if is_aud:
            start = m.start() - 1 if m.start() > 0 and buf[m.start() - 1] == 0 else m.start()
            starts.append(start)
            keys.append(False)
        elif is_key and keys:
            keys[-1] = True
    if not starts:
        raise ValueError("no access unit delimiters found (encode with aud=1)")
    starts.append(n)
    return [AccessUnit(starts[i], starts[i + 1] - starts[i], keys[i]) for i in range(len(keys))]


# ------------------------------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ronda.devices.simmedia", description="Prepare the camera simulator's clips."
    )
    parser.add_argument("--cameras", type=int, required=True, help="number of simulated cameras")
    parser.add_argument(
        "--cache", type=Path, default=None, help="cache dir (default $RONDA_SIM_CACHE or ~/.cache/ronda/sim)"
    )
    parser.add_argument("--workers", type=int, default=None, help="parallel ffmpeg processes (default: cores)")
    args = parser.parse_args(argv)
    cache = args.cache or default_cache_dir()
    t0 = time.monotonic()

    def show(done: int, total: int, label: str) -> None:
        print(f"[{done}/{total}] {label}  ({time.monotonic() - t0:.1f} s)", flush=True)

    try:
        prepare(cache, args.cameras, progress=show, workers=args.workers)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"clips ready in {media_dir(cache)} ({time.monotonic() - t0:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
