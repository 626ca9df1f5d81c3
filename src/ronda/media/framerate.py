"""The video frame rate of a recorded segment, measured from its own fragments.

Cameras are recorded as they send (``-c copy``): 15, 25 or 30 fps, sometimes a fraction. Players need
the real rate to step one frame, so it is read from the media itself: the durations of the video
samples of the first fragments, from box headers only (a few hundred bytes per fragment).

The rate is the camera's frame interval, not the average over the file: a camera (or the simulator
under load) that drops frames leaves samples of two or three intervals, and an average would call a
25 fps stream with half its frames missing 12.5 fps. The interval is the lower quartile of the
sample durations: right while fewer than three quarters of the frames are missing, and only a little
short of the nominal interval for a camera whose timestamps jitter.
"""

from __future__ import annotations

import struct
from functools import lru_cache

from ronda.recording import fmp4

MEASURE_SECONDS = 2.0  # enough fragments (one per 250 ms) to see the camera's frame interval
MAX_BOXES = 256


@lru_cache(maxsize=4096)
def segment_frame_rate(path: str) -> float | None:
    """Frames per second of the video track of a recorded segment, or None when the file cannot tell
    (missing, unreadable, no video, too short). Segments never change, so the answer is cached."""
    try:
        return _measure(path)
    except (OSError, ValueError, struct.error):
        return None


def _measure(path: str) -> float | None:
    init: fmp4.Init | None = None
    durations: list[int] = []
    total = 0
    with open(path, "rb") as f:
        for _ in range(MAX_BOXES):
            start = f.tell()
            head = f.read(16)
            box = fmp4.box_header(head, 0)
            if box is None:
                break
            kind, _hlen, size = box
            if kind == b"moov":
                f.seek(0)
                init = fmp4.parse_init(f.read(start + size))
            elif kind == b"moof" and init is not None and init.video is not None:
                f.seek(start)
                moof = f.read(size)
                video = init.video
                found = _sample_durations(moof, video)
                durations += found
                total += sum(found)
                if total >= MEASURE_SECONDS * video.timescale:
                    break
            f.seek(start + size)
    # the last sample of a file has no successor to time it: it may be missing or guessed
    durations = [d for d in durations[:-1] if d > 0]
    if init is None or init.video is None or len(durations) < 2:
        return None
    interval = sorted(durations)[len(durations) // 4]
    return round(init.video.timescale / interval, 3)


def _sample_durations(moof: bytes, video: fmp4.Track) -> list[int]:
    """Durations (in the track's timescale) of the video samples of one ``moof``."""
    out: list[int] = []
    for t0, t1 in fmp4.find_all(moof, [b"moof", b"traf"]):
        tfhd = fmp4.find_all(moof, [b"tfhd"], t0, t1)
        if not tfhd:
            continue
        h0 = tfhd[0][0]
        flags = int.from_bytes(moof[h0 + 1 : h0 + 4], "big")
        if struct.unpack_from(">I", moof, h0 + 4)[0] != video.track_id:
            continue
        default = video.default_duration
        pos = h0 + 8 + (8 if flags & 0x01 else 0) + (4 if flags & 0x02 else 0)
        if flags & 0x08:
            default = struct.unpack_from(">I", moof, pos)[0]
        for r0, _r1 in fmp4.find_all(moof, [b"trun"], t0, t1):
            rflags = int.from_bytes(moof[r0 + 1 : r0 + 4], "big")
            count = struct.unpack_from(">I", moof, r0 + 4)[0]
            pos = r0 + 8 + (4 if rflags & 0x01 else 0) + (4 if rflags & 0x04 else 0)
            per = 4 * bin(rflags & 0xF00).count("1")
            if rflags & 0x100:
                out += [struct.unpack_from(">I", moof, pos + i * per)[0] for i in range(count)]
            else:
                out += [default] * count
    return out
