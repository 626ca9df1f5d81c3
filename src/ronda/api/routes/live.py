"""Live view: which stream to show, HLS from the recorder's fragments, and fMP4 over WebSocket.

Media URLs carry a stream token (``<video>`` and ``WebSocket`` cannot send an Authorization
header) bound to the caller's session or API key; every request re-checks that session (or key) and
that the user still holds the ``live`` right on the camera, and an open socket re-checks every few
seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, WebSocket, WebSocketDisconnect
from fastapi import Path as PathParam

from ronda.access.rights import LIVE
from ronda.access.tokens import PLAYLIST_TTL_S, STREAM_TTL_S, InvalidToken
from ronda.api.app import AppContext
from ronda.api.deps import Caller, CameraId, Ctx, not_found, require_camera
from ronda.api.routes.auth import origin_ok
from ronda.api.routes.media import Token, refuse_playlist_token, stream_principal
from ronda.media import fmp4
from ronda.media.live import LiveFragment, LiveHub, LiveTail
from ronda.store import repos
from ronda.store.models import Camera

router = APIRouter(tags=["live"])
StreamKind = Annotated[str, PathParam(pattern="^(main|sub)$")]
# The video socket re-checks its session and right every 10 s (the events socket every 3 s). At 3 s a
# later recorded-playback test on the same server showed frames two segments off, 3 runs of 3, and
# never at 10 s (2 of 2); the cause was not found (docs/live.md).
RECHECK_S = 10.0
MAX_QUEUE = 40  # fragments (~10 s) a slow viewer may lag before it is moved to the newest keyframe
# A send that cannot go out for this long (the viewer stopped reading): the viewer is disconnected,
# so that nothing is held for it. The server's WebSocket protocol drops such a peer after
# http.ws_write_stall_seconds already (ronda.api.protocols); this bounds the send on any server.
SEND_STALL_S = 20.0
BROWSER_CODECS = {"h264"}  # what every current browser decodes in MSE/HLS; HEVC only some

HEVC_REASON = "This camera's {which} stream is H.265 (HEVC), which this browser cannot decode. {instead}"


HISTORY_SEGMENTS = 2  # completed segments a live view starts with (HLS players want a few behind the edge)


def hub(ctx: AppContext) -> LiveHub:
    if ctx.live is None:

        def history(camera_id: int, stream: str) -> list[Path]:
            with ctx.db.session() as s:
                rows = repos.latest_segments(s, camera_id, stream, HISTORY_SEGMENTS)
                return [ctx.cfg.recordings_dir / r.path for r in rows]

        ctx.live = LiveHub(ctx.cfg.recordings_dir, history, signals=ctx.recorder)  # the recorder wakes it
    return ctx.live


def _streams(ctx: AppContext, camera_id: int) -> dict[str, dict[str, Any]]:
    with ctx.db.session() as s:
        cam = s.get(Camera, camera_id)
        if cam is None or cam.deleted_ms is not None:
            raise not_found("camera")
        return {
            st.kind: {"codec": st.codec, "width": st.width, "height": st.height, "recorded": st.record}
            for st in cam.streams
            if st.record
        }


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


@router.get("/cameras/{camera_id}/live")
async def live_info(
    ctx: Ctx,
    caller: Caller,
    camera_id: CameraId,
    view: Annotated[str, Query(pattern="^(grid|single)$")] = "single",
    stream: Annotated[str | None, Query(pattern="^(main|sub)$")] = None,
    hevc: Annotated[bool, Query(description="the browser decodes H.265")] = False,
) -> dict[str, Any]:
    """What to play for this camera: the stream (the sub-stream for grid tiles when there is one),
    its HLS and low-latency WebSocket URLs, and a fallback with the reason when the browser
    cannot decode the camera's codec."""
    require_camera(caller, camera_id, LIVE)
    streams = await asyncio.to_thread(_streams, ctx, camera_id)
    if stream is not None:
        if stream not in streams:
            raise HTTPException(422, f"this camera records no {stream}-stream")
        streams_for_choice = {stream: streams[stream]}
        chosen, reason = choose_stream(streams_for_choice, "single", hevc)
        if chosen is None and len(streams) > 1:
            chosen, reason = choose_stream(streams, view, hevc)
    else:
        chosen, reason = choose_stream(streams, view, hevc)
    token = ctx.auth.issuer.issue_stream_token(caller.binding(), camera_id, LIVE)
    base = f"/api/v1/media/{camera_id}"
    urls: dict[str, str] = {"snapshot": f"{base}/snapshot.jpg?token={token}"}
    if chosen is not None:
        urls["hls"] = f"{base}/live.m3u8?stream={chosen}&token={token}"
        urls["ws"] = f"{base}/live.ws?stream={chosen}&token={token}"
    return {
        "camera": camera_id,
        "stream": chosen,
        "mode": "video" if chosen else "snapshot",
        "streams": {k: {**v, "browser": v["codec"] in BROWSER_CODECS} for k, v in streams.items()},
        "reason": reason,
        "urls": urls,
        "expires_in": STREAM_TTL_S,
        # The HLS player keeps following the media playlist with a token this long: a client playing
        # HLS loads a fresh live info and URL before then.
        "playlist_expires_in": PLAYLIST_TTL_S,
    }


def _principal(ctx: AppContext, request: Request, token: str, camera_id: int, stream: str) -> Any:
    p = stream_principal(ctx, request, token, camera_id, LIVE)
    _recorded_stream(ctx, camera_id, stream)
    return p


def _recorded_stream(ctx: AppContext, camera_id: int, stream: str) -> None:
    """404 at once for a stream the camera does not record (nothing to follow, no waiting)."""
    if stream not in _streams(ctx, camera_id):
        raise not_found(f"{stream}-stream")


async def _ready_tail(ctx: AppContext, camera_id: int, stream: str, segments: int) -> LiveTail:
    tail = hub(ctx).get(camera_id, stream)
    if not await tail.wait_for(lambda: len(tail.segments) >= segments, 15.0):
        raise HTTPException(503, "no live video from this camera right now (offline or not recording)",
                            headers={"Retry-After": "5"})  # fmt: skip
    return tail


def _bandwidth(tail: LiveTail) -> int:
    frags = list(tail.fragments)[-40:]
    seconds = sum(f.duration_s for f in frags) or 1.0
    return int(sum(len(f.data) for f in frags) * 8 / seconds)


@router.get("/media/{camera_id}/live.m3u8", response_class=Response)
async def live_master(
    ctx: Ctx,
    request: Request,
    camera_id: CameraId,
    token: Token,
    stream: Annotated[str, Query(pattern="^(main|sub)$")] = "main",
) -> Response:
    """HLS entry point: a multivariant playlist naming the live media playlist, with a token of a few
    minutes bound to the same session (each request still re-checks session and right). Only a token
    handed out by the API opens it, not a playlist's own, so a player cannot renew its access alone."""
    refuse_playlist_token(ctx, token, camera_id, LIVE)
    p = await asyncio.to_thread(_principal, ctx, request, token, camera_id, stream)
    tail = await _ready_tail(ctx, camera_id, stream, 3)
    init = tail.inits[tail.segments[-1].init_version]
    video = init.video
    res = ""
    if video is not None:
        dims = await asyncio.to_thread(_streams, ctx, camera_id)
        d = dims.get(stream, {})
        if d.get("width") and d.get("height"):
            res = f",RESOLUTION={d['width']}x{d['height']}"
    long_token = ctx.auth.issuer.issue_stream_token(p.binding(), camera_id, LIVE, ttl_s=PLAYLIST_TTL_S,
                                                    playlist=True)  # fmt: skip
    body = (
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        f'#EXT-X-STREAM-INF:BANDWIDTH={_bandwidth(tail)},CODECS="{init.codecs}"{res}\n'
        f"live/{stream}/index.m3u8?token={long_token}\n"
    )
    await asyncio.to_thread(ctx.audit.append, p.actor, "live.start", "ok", camera_id, None, None, p.source_ip,
                            {"stream": stream, "via": "hls"})  # fmt: skip
    return Response(body, media_type="application/vnd.apple.mpegurl")


@router.get("/media/{camera_id}/live/{stream}/index.m3u8", response_class=Response)
async def live_playlist(ctx: Ctx, request: Request, camera_id: CameraId, stream: StreamKind, token: Token) -> Response:
    await asyncio.to_thread(_principal, ctx, request, token, camera_id, stream)
    tail = await _ready_tail(ctx, camera_id, stream, 1)
    body = tail.playlist(lambda v: f"init-{v}.mp4?token={token}", lambda n: f"{n}.m4s?token={token}")
    return Response(body, media_type="application/vnd.apple.mpegurl")


@router.get("/media/{camera_id}/live/{stream}/init-{version}.mp4", response_class=Response)
async def live_init(
    ctx: Ctx,
    request: Request,
    camera_id: CameraId,
    stream: StreamKind,
    version: Annotated[int, PathParam(ge=1, le=2**31)],
    token: Token,
) -> Response:
    await asyncio.to_thread(_principal, ctx, request, token, camera_id, stream)
    init = hub(ctx).get(camera_id, stream).inits.get(version)
    if init is None:
        raise not_found("initialisation section")
    return Response(init.data, media_type="video/mp4")


@router.get("/media/{camera_id}/live/{stream}/{seq}.m4s", response_class=Response)
async def live_segment(
    ctx: Ctx,
    request: Request,
    camera_id: CameraId,
    stream: StreamKind,
    seq: Annotated[int, PathParam(ge=0, le=2**62)],
    token: Token,
) -> Response:
    await asyncio.to_thread(_principal, ctx, request, token, camera_id, stream)
    seg = hub(ctx).get(camera_id, stream).hls_segment(seq)
    if seg is None:
        raise not_found("live segment (it has left the live window)")
    return Response(seg.data(), media_type="video/iso.segment")


@router.websocket("/media/{camera_id}/live.ws")
async def live_ws(ws: WebSocket, camera_id: int) -> None:
    """Low-latency live view: fMP4 for Media Source Extensions. Messages: a JSON text
    ``{"type": "init", "mime": ..., "codecs": ...}`` followed by the binary initialisation section
    (again whenever the camera's codec set-up changes), then one binary message per fragment
    (moof + mdat, ~250 ms), starting at the newest keyframe."""
    ctx: AppContext = ws.app.state.ctx
    stream = ws.query_params.get("stream", "main")
    token = ws.query_params.get("token", "")
    if not origin_ok(ws):
        await ws.close(code=4403, reason="origin not allowed")
        return
    # Refusals after the handshake, so the browser sees the close code (a refused handshake is
    # only "1006" to it): 4401 = fetch a fresh token, 4403 = not allowed, 4404 = no such stream.
    await ws.accept()
    if stream not in ("main", "sub") or not 1 <= camera_id < 2**31:
        await ws.close(code=4404, reason="no such stream")
        return
    try:
        claims = ctx.auth.issuer.verify_stream_token(token, camera_id, LIVE)
    except InvalidToken:
        await ws.close(code=4401, reason="invalid or expired stream token")
        return
    p = await asyncio.to_thread(ctx.auth.principal_for_binding, claims.binding, "stream")
    if p is None:
        await ws.close(code=4401, reason="the session of this stream token has ended")
        return
    if not p.can(LIVE, camera_id):
        await ws.close(code=4403, reason="the 'live' right on this camera is needed")
        return
    try:
        await asyncio.to_thread(_recorded_stream, ctx, camera_id, stream)
    except HTTPException:
        await ws.close(code=4404, reason=f"this camera records no {stream}-stream")
        return
    source_ip = ws.client.host if ws.client else None
    await asyncio.to_thread(ctx.audit.append, p.actor, "live.start", "ok", camera_id, None, None, source_ip,
                            {"stream": stream, "via": "websocket"})  # fmt: skip
    tail = hub(ctx).get(camera_id, stream)
    queue = tail.subscribe()
    reader = asyncio.create_task(_drain_client(ws))
    try:
        if not await tail.wait_for(lambda: bool(tail.start_point()), 10.0):
            await ws.close(code=4503, reason="no live video from this camera right now")
            return
        start = tail.start_point()
        sent_version = 0
        for item in [*start, *_drain(queue, start[-1].seq)]:
            sent_version = await asyncio.wait_for(_send(ws, tail, item, sent_version), SEND_STALL_S)
        checked = time.monotonic()
        need_key = False
        while not reader.done():
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter, reader}, timeout=RECHECK_S, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                if reader in done:
                    break
            else:
                item = getter.result()
                if item is None:
                    await ws.close(code=4503, reason="live view of this stream stopped")
                    break
                if queue.qsize() > MAX_QUEUE:  # a slow viewer: skip ahead to the next keyframe
                    _drain(queue, 1 << 62)
                    need_key = True
                    continue
                if isinstance(item, LiveFragment) and need_key:
                    if not item.keyframe:
                        continue
                    need_key = False
                sent_version = await asyncio.wait_for(_send(ws, tail, item, sent_version), SEND_STALL_S)
            if time.monotonic() - checked > RECHECK_S:
                checked = time.monotonic()
                # The session (or API key) still live, the right still held?
                p = await asyncio.to_thread(ctx.auth.principal_for_binding, claims.binding, "stream")
                if p is None:
                    await ws.close(code=4401, reason="the session of this stream token has ended")
                    break
                if not p.can(LIVE, camera_id):
                    await ws.close(code=4403, reason="the 'live' right on this camera was withdrawn")
                    break
    except (WebSocketDisconnect, RuntimeError):
        pass
    except TimeoutError:  # the viewer takes no data: say why, if that can still get through
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(code=4008, reason="not reading: reconnect"), 1.0)
    finally:
        tail.unsubscribe(queue)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader


def _drain(queue: asyncio.Queue[Any], after_seq: int) -> list[Any]:
    """Everything queued, minus fragments already sent (seq <= after_seq)."""
    items = []
    while not queue.empty():
        item = queue.get_nowait()
        if isinstance(item, LiveFragment) and item.seq <= after_seq:
            continue
        items.append(item)
    return items


async def _send(ws: WebSocket, tail: LiveTail, item: Any, sent_version: int) -> int:
    if isinstance(item, fmp4.Init):
        return sent_version  # sent with the first fragment that needs it
    frag: LiveFragment = item
    if frag.init_version != sent_version:
        init = tail.inits.get(frag.init_version)
        if init is None:
            return sent_version
        await ws.send_json({"type": "init", "codecs": init.codecs, "mime": f'video/mp4; codecs="{init.codecs}"',
                            "version": frag.init_version})  # fmt: skip
        await ws.send_bytes(init.data)
        sent_version = frag.init_version
    await ws.send_bytes(frag.data)
    return sent_version


async def _drain_client(ws: WebSocket) -> None:
    """Read (and ignore) what the client sends, so a closed connection is noticed at once."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            msg = await ws.receive()
            if msg.get("type") == "websocket.disconnect":
                return
