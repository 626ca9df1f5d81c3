"""A user's video file served as a simulated camera (``ronda sim --clip K=FILE``).

The file (any format ffmpeg reads) is re-encoded once to the simulator's camera-like H.264 (see
:mod:`ronda.devices.simmedia`: Annex-B, AUD, SPS/PPS before keyframes, 15 fps, closed 1 s GOP, no
B-frames): a main stream at the clip's own size capped at 1920x1080 and a sub-stream 640 wide, both with
even dimensions and the same frames. The result is cached in ``<cache>/v1/clips/`` under the SHA-256 of the
file's content (and of these encoding settings), so a second start, or a copy of the file elsewhere, costs
only the hash.

The simulator shows frame ``k mod frames`` of such a clip at tick ``k`` of its 15 fps wall-clock pacer, on
both streams and for every viewer, so where the clip is at a given wall-clock time is known
(:func:`frame_at`, :func:`frame_time_ms`; the control port's ``GET /cameras/camK/clip`` gives the numbers).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ronda.devices import simmedia

ENCODING_VERSION = "clip1"  # part of the cache key: change it when the encoding below changes
MAX_MAIN = simmedia.MAIN_SIZE
SUB_WIDTH = 640
FPS = simmedia.FPS

ProgressLine = Callable[[str], None]


class ClipError(ValueError):
    """A ``--clip`` argument or file that cannot be served; the message is one line for the user."""


@dataclass(frozen=True)
class ClipMedia:
    """An encoded clip in the cache."""

    source: str  # the file's name (not its path: logs and the control port show it)
    sha256: str
    frames: int
    fps: int
    main: Path
    sub: Path
    main_size: tuple[int, int]
    sub_size: tuple[int, int]

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["main"], d["sub"] = self.main.name, self.sub.name
        return d


# ------------------------------------------------------------------------------------------ arguments


def parse_clip_args(items: Iterable[str], cameras: int) -> dict[int, Path]:
    """``["2=street.mp4", ...]`` → ``{2: Path("street.mp4")}``; :class:`ClipError` for a bad K, a K
    given twice or a file that does not exist or cannot be read."""
    clips: dict[int, Path] = {}
    for item in items:
        number, sep, name = item.partition("=")
        if not sep or not name:
            raise ClipError(f"--clip {item!r}: expected K=FILE, e.g. 2=street.mp4")
        try:
            k = int(number)
        except ValueError:
            raise ClipError(f"--clip {item!r}: K must be a camera number, e.g. 2=street.mp4") from None
        if not 1 <= k <= cameras:
            raise ClipError(f"--clip {item!r}: there is no camera {k} (cameras 1..{cameras})")
        if k in clips:
            raise ClipError(f"--clip {item!r}: camera {k} already has a clip")
        path = Path(name).expanduser()
        if not path.is_file():
            raise ClipError(f"--clip {item!r}: no such file")
        if not os.access(path, os.R_OK):
            raise ClipError(f"--clip {item!r}: the file cannot be read (permissions)")
        clips[k] = path.resolve()
    return clips


# ------------------------------------------------------------------------------------------ encoding


def clips_dir(cache_dir: Path) -> Path:
    return simmedia.media_dir(cache_dir) / "clips"


def content_hash(path: Path) -> str:
    h = hashlib.sha256(ENCODING_VERSION.encode() + b"\0")
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _even(n: float) -> int:
    return max(2, int(n) // 2 * 2)


def _probe(path: Path, ffprobe: str) -> tuple[int, int, float]:
    """(width, height, duration s) of the file's first video stream, display aspect applied."""
    cmd = [ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries",
           "stream=width,height,sample_aspect_ratio,duration:format=duration", "-of", "json", str(path)]  # fmt: skip
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        raise ClipError(f"{path.name}: ffprobe did not answer within 60 s") from None
    streams: list[dict[str, Any]] = []
    info: dict[str, Any] = {}
    if res.returncode == 0:
        try:
            info = json.loads(res.stdout or "{}")
        except ValueError:
            info = {}
        streams = list(info.get("streams") or [])
    if not streams:
        last = (res.stderr.strip().splitlines() or ["no video stream"])[-1]
        raise ClipError(f"{path.name}: not a video ffmpeg can read ({last})")
    st = streams[0]
    w, h = int(st.get("width") or 0), int(st.get("height") or 0)
    if w <= 0 or h <= 0:
        raise ClipError(f"{path.name}: its video stream has no picture size")
    sar = str(st.get("sample_aspect_ratio") or "1:1")
    num, _, den = sar.partition(":")
    try:
        ratio = int(num) / int(den)
    except (ValueError, ZeroDivisionError):
        ratio = 1.0
    if ratio > 0 and ratio != 1.0:
        w = round(w * ratio)
    fmt = info.get("format") if isinstance(info.get("format"), dict) else {}
    duration = 0.0
    for value in (st.get("duration"), (fmt or {}).get("duration")):
        try:
            duration = float(str(value))
            break
        except ValueError:
            continue
    return w, h, duration


def sizes_for(width: int, height: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """(main, sub) picture sizes of a clip of ``width`` x ``height`` (square pixels)."""
    scale = min(1.0, MAX_MAIN[0] / width, MAX_MAIN[1] / height)
    main = (_even(width * scale), _even(height * scale))
    sub = (SUB_WIDTH, _even(SUB_WIDTH * height / width))
    return main, sub


def _bitrate(size: tuple[int, int], full: tuple[int, int], full_k: int) -> int:
    return max(200, full_k * size[0] * size[1] // (full[0] * full[1]))


def _meta_path(cache_dir: Path, digest: str) -> Path:
    return clips_dir(cache_dir) / f"{digest[:24]}.json"


def _load(cache_dir: Path, digest: str) -> ClipMedia | None:
    meta = _meta_path(cache_dir, digest)
    try:
        d = json.loads(meta.read_text())
        media = ClipMedia(
            source=str(d["source"]), sha256=str(d["sha256"]), frames=int(d["frames"]), fps=int(d["fps"]),
            main=clips_dir(cache_dir) / str(d["main"]), sub=clips_dir(cache_dir) / str(d["sub"]),
            main_size=(int(d["main_size"][0]), int(d["main_size"][1])),
            sub_size=(int(d["sub_size"][0]), int(d["sub_size"][1])),
        )  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None
    if media.sha256 != digest or not (media.main.is_file() and media.sub.is_file()):
        return None
    return media


def prepare_clip(path: Path, cache_dir: Path, progress: ProgressLine | None = None) -> ClipMedia:
    """The encoded clip of ``path`` (encoded now unless cached). :class:`ClipError` when ffmpeg cannot
    read it; RuntimeError when ffmpeg is missing or fails."""
    path = Path(path)
    try:
        digest = content_hash(path)
    except OSError as exc:
        raise ClipError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    cached = _load(cache_dir, digest)
    if cached is not None:
        if progress:
            progress(f"clip {path.name}: cached ({cached.frames} frames, {cached.main_size[0]}x{cached.main_size[1]})")
        return cached
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    if ffmpeg is None or ffprobe is None:
        raise RuntimeError("ffmpeg/ffprobe not found on PATH (Debian: apt-get install ffmpeg)")
    width, height, duration = _probe(path, ffprobe)
    main_size, sub_size = sizes_for(width, height)
    out = clips_dir(cache_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = digest[:24]
    main, sub = out / f"{stem}_main.h264", out / f"{stem}_sub.h264"
    tag = f".partial-{os.getpid()}-{time.monotonic_ns()}"
    tmp_main, tmp_sub = main.with_name(main.name + tag), sub.with_name(sub.name + tag)
    # square pixels first, then 15 fps (frames dropped or repeated, as a camera would), then both sizes
    graph = (
        f"[0:v:0]scale=iw*sar:ih,setsar=1,fps={FPS},format=yuv420p,split=2[a][b];"
        f"[a]scale={main_size[0]}:{main_size[1]},setsar=1[main];[b]scale={sub_size[0]}:{sub_size[1]},setsar=1[sub]"
    )
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(path), "-an", "-sn", "-dn",
            "-filter_complex", graph,
            "-map", "[main]", *_x264(_bitrate(main_size, simmedia.MAIN_SIZE, 3500)), str(tmp_main),
            "-map", "[sub]", *_x264(_bitrate(sub_size, simmedia.SUB_SIZE, 500)), str(tmp_sub),
            "-progress", "pipe:1", "-stats_period", "1"]  # fmt: skip
    expected = max(1, round(duration * FPS))
    t0 = time.monotonic()
    if progress:
        progress(f"clip {path.name}: encoding {width}x{height} to {main_size[0]}x{main_size[1]} + "
                 f"{sub_size[0]}x{sub_size[1]} H.264, {FPS} fps (once)")  # fmt: skip
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)  # fmt: skip
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("frame=") and progress:
                done = int(line.split("=", 1)[1] or 0)
                pct = min(99, 100 * done // expected)
                progress(f"clip {path.name}: {pct}% ({done}/~{expected} frames, {time.monotonic() - t0:.0f} s)")
        stderr = proc.stderr.read() if proc.stderr else ""
        proc.wait()
        if proc.returncode != 0 or not (tmp_main.exists() and tmp_sub.exists()):
            last = (stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
            raise ClipError(f"{path.name}: ffmpeg could not re-encode it ({last})")
        frames = _count_frames(tmp_main)
        if frames == 0 or frames != _count_frames(tmp_sub):
            raise ClipError(f"{path.name}: the encoded streams have no frames or differ in length")
        os.replace(tmp_main, main)
        os.replace(tmp_sub, sub)
    finally:
        tmp_main.unlink(missing_ok=True)
        tmp_sub.unlink(missing_ok=True)
    media = ClipMedia(path.name, digest, frames, FPS, main, sub, main_size, sub_size)
    tmp_meta = _meta_path(cache_dir, digest).with_suffix(".json" + tag)
    tmp_meta.write_text(json.dumps(media.to_json(), indent=1))
    os.replace(tmp_meta, _meta_path(cache_dir, digest))
    if progress:
        progress(f"clip {path.name}: ready, {frames} frames ({frames / FPS:.1f} s) in {time.monotonic() - t0:.1f} s")
    return media


def _x264(bitrate_k: int) -> list[str]:
    args = simmedia.x264_args(bitrate_k, frames=None)
    return args


def _count_frames(path: Path) -> int:
    return sum(1 for _ in simmedia.index_annexb(path.read_bytes(), "h264"))


# ----------------------------------------------------------------------------------- clip on the clock


def frame_time_ms(info: Mapping[str, Any], frame: int, loop: int) -> float:
    """Wall-clock time (Unix ms) at which the simulator sends ``frame`` (0-based) of loop ``loop`` of a clip
    camera, from ``info`` = the control port's ``GET /cameras/camK/clip``."""
    return float(info["epoch_ms"]) + (loop * int(info["frames"]) + frame) * 1000.0 / int(info["fps"])


def frame_at(info: Mapping[str, Any], wall_ms: float) -> tuple[int, int]:
    """(loop, frame) the simulator sent last at ``wall_ms`` (Unix ms)."""
    tick = int((wall_ms - float(info["epoch_ms"])) * int(info["fps"]) // 1000)
    n = int(info["frames"])
    return tick // n, tick % n
