"""The video frame rate of a recorded segment, measured from its own fragments.

Cameras are recorded as they send (``-c copy``): 15, 25 or 30 fps, sometimes a fraction. Players need
the real rate to step one frame, so it is read from the media itself: the video samples of the first
fragments and their total duration, from box headers only (a few hundred bytes per fragment).
"""

from __future__ import annotations

import struct
from functools import lru_cache

from ronda.media import fmp4

MEASURE_SECONDS = 2.0  # enough fragments (one per 250 ms) to average out a camera's timestamp jitter
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
    samples = duration = 0
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
                frag = fmp4.parse_moof(moof, init)
                run = frag.tracks.get(video.track_id)
                if run is not None:
                    duration += run.duration
                    samples += _video_samples(moof, video.track_id)
                if duration >= MEASURE_SECONDS * video.timescale:
                    break
            f.seek(start + size)
    if init is None or init.video is None or samples < 2 or duration <= 0:
        return None
    return round(samples * init.video.timescale / duration, 3)


def _video_samples(moof: bytes, track_id: int) -> int:
    count = 0
    for t0, t1 in fmp4.find_all(moof, [b"moof", b"traf"]):
        tfhd = fmp4.find_all(moof, [b"tfhd"], t0, t1)
        if not tfhd or struct.unpack_from(">I", moof, tfhd[0][0] + 4)[0] != track_id:
            continue
        for r0, _r1 in fmp4.find_all(moof, [b"trun"], t0, t1):
            count += struct.unpack_from(">I", moof, r0 + 4)[0]
    return count
