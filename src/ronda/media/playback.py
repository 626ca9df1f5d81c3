"""Recorded playback through media URLs: one segment file, and HLS VOD playlists from any instant."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ronda.access.rights import LIVE, PLAYBACK
from ronda.access.service import Principal
from ronda.access.tokens import PLAYLIST_TTL_S, STREAM_TTL_S, TokenIssuer
from ronda.errors import Forbidden, Invalid, NotFound, Unavailable
from ronda.media import hls
from ronda.media.segment_source import SegmentGone, SegmentSource, SegmentUnavailable
from ronda.recording.boxes import BoxError
from ronda.store import repos
from ronda.store.db import Database
from ronda.store.models import Segment
from ronda.timeutil import iso_param

MAX_VOD_MS = 6 * 3600 * 1000


@dataclass(frozen=True)
class SegmentFile:
    path: Path
    start_ms: int
    end_ms: int


def segment_file(db: Database, source: SegmentSource, camera_id: int, segment_id: int) -> SegmentFile:
    """The recorded segment of this camera, local or archived (``source``: the read path); NotFound for
    another camera's, or one retention removed; Unavailable when its archive cannot be reached."""
    with db.session() as s:
        seg = s.get(Segment, segment_id)
        if seg is None or seg.camera_id != camera_id:
            raise NotFound("segment")
    try:
        path = source.readable(seg)
    except SegmentGone:
        raise NotFound("segment") from None
    except SegmentUnavailable as e:
        raise Unavailable(str(e)) from None
    return SegmentFile(path, seg.start_ms, seg.end_ms)


@dataclass(frozen=True)
class Playlist:
    body: str
    start_ms: int
    end_ms: int


def vod_playlist(
    db: Database, source: SegmentSource, issuer: TokenIssuer, caller: Principal, camera_id: int, start: str,
    end: str | None, stream: str,
) -> Playlist:  # fmt: skip
    """HLS VOD from ``start``: the segment holding it first (the player starts at the exact instant through
    ``EXT-X-START``), up to ``end`` (default: 1 h later, at most 6 h); gaps skipped."""
    s_ms = iso_param(start, "start")
    e_ms = iso_param(end, "end") if end else s_ms + 3_600_000
    if e_ms <= s_ms or e_ms - s_ms > MAX_VOD_MS:
        raise Invalid("end must be after start and at most 6 hours later")
    with db.session() as s:
        segs = repos.segments_overlapping(s, camera_id, stream, s_ms, e_ms)
    items = []
    for seg in segs:
        try:
            init_len = source.init_length(seg)  # an archived one: a range read of its first bytes
            items.append(hls.PlaylistItem(seg.id, seg.start_ms, seg.end_ms, seg.bytes, init_len))
        except (OSError, BoxError, SegmentUnavailable):
            continue  # deleted by retention meanwhile, unreadable or unreachable: skip, as a gap
    if not items:
        raise NotFound(message="no recordings in that range")
    # Segment URLs are followed by the player without the client's help, so their token outlives a
    # handed-out one, but only by minutes: the client loads a new playlist before it runs out (through
    # its live session); every request re-checks the session and the rights.
    ttl = min(int((items[-1].end_ms - items[0].start_ms) / 1000) + 120, PLAYLIST_TTL_S)
    seg_token = issuer.issue_stream_token(caller.binding(), camera_id, PLAYBACK, ttl_s=ttl, playlist=True)
    offset = max(0.0, (s_ms - items[0].start_ms) / 1000)
    return Playlist(hls.vod_playlist(items, f"segments/{{id}}.mp4?token={seg_token}", offset), s_ms, e_ms)


def stream_urls(db: Database, issuer: TokenIssuer, caller: Principal, camera_id: int, right: str) -> dict[str, Any]:
    """A 60-second token for ``right`` (live or playback) on the camera, bound to the caller's session or
    API key, and the media URLs that take it."""
    if not caller.can(right, camera_id):
        raise Forbidden(f"the '{right}' right on this camera is needed")
    with db.session() as s:
        if repos.get_camera(s, camera_id) is None:  # a site-wide grant covers any id
            raise NotFound()
    token = issuer.issue_stream_token(caller.binding(), camera_id, right)
    base = f"/api/v1/media/{camera_id}"
    urls = {"snapshot": f"{base}/snapshot.jpg?token={token}"} if right == LIVE else {
        "segment": f"{base}/segments/{{segment_id}}.mp4?token={token}",
        "vod": f"{base}/vod.m3u8?token={token}&start={{start}}"}  # fmt: skip
    # playlist_expires_in: how long the segment URLs of a VOD playlist opened with it keep working
    return {"token": token, "expires_in": STREAM_TTL_S, "right": right, "urls": urls,
            "playlist_expires_in": PLAYLIST_TTL_S}  # fmt: skip
