"""Snapshots: a JPEG of the latest keyframe the recorder has written (no second camera session)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from ronda.recording import ffmpeg as ffmpeg_proc


class SnapshotError(Exception):
    pass


async def jpeg_of_last_keyframe(ffmpeg: str, path: Path, timeout_s: float = 10.0) -> bytes:
    """Decode only keyframes of the last seconds of a (possibly growing) fragmented MP4."""
    args = [
        ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
        # a recording whose SPS declares a giant picture fails here instead of taking hundreds of MB
        "-max_pixels", str(ffmpeg_proc.MAX_PIXELS),
        "-sseof", "-3", "-skip_frame", "nokey", "-i", str(path),
        "-map", "0:v:0", "-update", "1", "-q:v", "4", "-f", "image2", "-c:v", "mjpeg", "pipe:1",
    ]  # fmt: skip
    try:
        code, out, err = await ffmpeg_proc.run(args, timeout_s)
    except TimeoutError:
        raise SnapshotError("snapshot decoding timed out") from None
    if code != 0 or not out:
        raise SnapshotError("no decodable frame: " + err.decode(errors="replace").strip()[-200:])
    # image2pipe with -update writes every keyframe's JPEG back to back; keep the last one.
    start = out.rfind(b"\xff\xd8\xff")
    return out[start:] if start >= 0 else out


class SnapshotCache:
    """One decode per camera per second however many clients ask."""

    def __init__(self, ttl_s: float = 1.0) -> None:
        self.ttl = ttl_s
        self._cache: dict[int, tuple[float, bytes]] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    async def get(self, camera_id: int, ffmpeg: str, candidates: list[Path]) -> bytes:
        lock = self._locks.setdefault(camera_id, asyncio.Lock())
        async with lock:
            hit = self._cache.get(camera_id)
            if hit and time.monotonic() - hit[0] < self.ttl:
                return hit[1]
            last_err: Exception | None = None
            for p in candidates:
                try:
                    data = await jpeg_of_last_keyframe(ffmpeg, p)
                except SnapshotError as e:
                    last_err = e
                    continue
                self._cache[camera_id] = (time.monotonic(), data)
                return data
            raise SnapshotError(str(last_err) if last_err else "no recording yet")
