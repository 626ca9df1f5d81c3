"""What a live view plays: the camera's recorded streams, the choice between them for the browser, and
the URLs (with a stream token) of its HLS and WebSocket forms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ronda.access.rights import LIVE
from ronda.access.service import Principal
from ronda.access.tokens import PLAYLIST_TTL_S, STREAM_TTL_S, TokenIssuer
from ronda.errors import Invalid, NotFound
from ronda.store import repos
from ronda.store.db import Database

BROWSER_CODECS = {"h264"}  # what every current browser decodes in MSE/HLS; HEVC only some
HEVC_REASON = "This camera's {which} stream is H.265 (HEVC), which this browser cannot decode. {instead}"
HISTORY_SEGMENTS = 2  # completed segments a live view starts with (HLS players want a few behind the edge)


def streams(db: Database, camera_id: int) -> dict[str, dict[str, Any]]:
    """The recorded streams of a camera: kind → codec, size; NotFound for a missing or deleted camera."""
    with db.session() as s:
        cam = repos.get_camera(s, camera_id)
        if cam is None:
            raise NotFound("camera")
        return {
            st.kind: {"codec": st.codec, "width": st.width, "height": st.height, "recorded": st.record}
            for st in cam.streams
            if st.record
        }


def recorded_stream(db: Database, camera_id: int, stream: str) -> dict[str, Any]:
    """The stream's codec and size; NotFound at once for a stream the camera does not record (nothing
    to follow, no waiting)."""
    found = streams(db, camera_id).get(stream)
    if found is None:
        raise NotFound(f"{stream}-stream")
    return found


def history(db: Database, recordings_dir: Path, camera_id: int, stream: str) -> list[Path]:
    """The latest completed segments a live view starts with (those still on the local disk: an archived
    one is not worth a download for a second of lead-in)."""
    with db.session() as s:
        rows = repos.latest_segments(s, camera_id, stream, HISTORY_SEGMENTS)
        return [recordings_dir / r.path for r in rows if r.location == "local"]


def choose_stream(streams: dict[str, dict[str, Any]], view: str, hevc: bool) -> tuple[str | None, str | None]:
    """``(stream to play or None for snapshots, why the choice differs from the wish)``."""
    wish = "sub" if view == "grid" and "sub" in streams else "main"
    if wish not in streams:
        wish = next(iter(streams), "main")
    order = [wish] + [k for k in ("main", "sub") if k != wish and k in streams]
    playable = [k for k in order if k in streams and (streams[k]["codec"] in BROWSER_CODECS or hevc)]
    if not playable:
        if not streams:
            return None, "This camera records no stream: only snapshots can be shown."
        return None, HEVC_REASON.format(which=wish, instead="Showing a snapshot every 2 seconds instead.")
    if playable[0] != wish:
        return playable[0], HEVC_REASON.format(which=wish, instead=f"Showing the H.264 {playable[0]}-stream instead.")
    return wish, None


def live_info(
    db: Database, issuer: TokenIssuer, caller: Principal, camera_id: int, view: str, stream: str | None, hevc: bool
) -> dict[str, Any]:
    """What to play for this camera (``live`` on it is the route's declared right)."""
    recorded = streams(db, camera_id)
    if stream is not None:
        if stream not in recorded:
            raise Invalid(f"this camera records no {stream}-stream")
        chosen, reason = choose_stream({stream: recorded[stream]}, "single", hevc)
        if chosen is None and len(recorded) > 1:
            chosen, reason = choose_stream(recorded, view, hevc)
    else:
        chosen, reason = choose_stream(recorded, view, hevc)
    token = issuer.issue_stream_token(caller.binding(), camera_id, LIVE)
    base = f"/api/v1/media/{camera_id}"
    urls: dict[str, str] = {"snapshot": f"{base}/snapshot.jpg?token={token}"}
    if chosen is not None:
        urls["hls"] = f"{base}/live.m3u8?stream={chosen}&token={token}"
        urls["ws"] = f"{base}/live.ws?stream={chosen}&token={token}"
    return {
        "camera": camera_id,
        "stream": chosen,
        "mode": "video" if chosen else "snapshot",
        "streams": {k: {**v, "browser": v["codec"] in BROWSER_CODECS} for k, v in recorded.items()},
        "reason": reason,
        "urls": urls,
        "expires_in": STREAM_TTL_S,
        # The HLS player keeps following the media playlist with a token this long: a client playing
        # HLS loads a fresh live info and URL before then.
        "playlist_expires_in": PLAYLIST_TTL_S,
    }
