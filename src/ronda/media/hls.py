"""HLS playlists built from the recorder's own segments (no transcoding, no extra files).

Each recorded segment is a standalone fragmented MP4 (``ftyp moov (moof mdat)*``), so one file serves
as both the HLS initialisation section (``EXT-X-MAP`` with a byte range over ``ftyp+moov``) and the
media segment (``EXT-X-BYTERANGE`` over the rest). Segments restart their timestamps at zero, so every
segment after the first carries ``EXT-X-DISCONTINUITY``; ``EXT-X-PROGRAM-DATE-TIME`` gives each one
its wall-clock time, which is how a gap is skipped and how players show real time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ronda.recording import boxes
from ronda.timeutil import to_iso


@lru_cache(maxsize=65536)
def init_length(path: str) -> int:
    """Bytes of ``ftyp`` + ``moov`` at the start of a fragmented MP4 (segments never change; the
    cache is keyed by the path string, which hashes far faster than a ``Path``).

    Raises BoxError (a ValueError) when the file has no complete ``moov``, OSError when unreadable."""
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        try:
            for box in boxes.walk_file(f, size):
                if box.end > size:
                    break
                if box.kind == b"moov":
                    return box.end
        except boxes.BoxError as e:
            raise boxes.BoxError(f"{Path(path).name}: {e}") from None
    raise boxes.BoxError(f"{Path(path).name}: no complete moov box")


@dataclass(slots=True)
class PlaylistItem:
    segment_id: int
    start_ms: int
    end_ms: int
    size: int
    init_len: int


def vod_playlist(items: list[PlaylistItem], url_for: str, start_offset_s: float = 0.0) -> str:
    """``url_for`` is a format string with ``{id}`` for each segment's URL (token included)."""
    target = max(1, math.ceil(max((it.end_ms - it.start_ms) / 1000 for it in items)))
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    if start_offset_s > 0:
        lines.append(f"#EXT-X-START:TIME-OFFSET={start_offset_s:.3f},PRECISE=YES")
    for i, it in enumerate(items):
        url = url_for.format(id=it.segment_id)
        if i:
            lines.append("#EXT-X-DISCONTINUITY")
        lines += [
            f"#EXT-X-PROGRAM-DATE-TIME:{to_iso(it.start_ms)}",
            f'#EXT-X-MAP:URI="{url}",BYTERANGE="{it.init_len}@0"',
            f"#EXTINF:{(it.end_ms - it.start_ms) / 1000:.3f},",
            f"#EXT-X-BYTERANGE:{it.size - it.init_len}@{it.init_len}",
            url,
        ]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"
