"""Live view: which stream to show, HLS from the recorder's fragments, and fMP4 over WebSocket.

Media URLs carry a stream token (``<video>`` and ``WebSocket`` cannot send an Authorization
header) bound to the caller's session or API key; every request re-checks that session (or key) and
that the user still holds the ``live`` right on the camera, and an open socket re-checks every few
seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, WebSocket, WebSocketDisconnect
from fastapi import Path as PathParam
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from ronda.access.rights import LIVE
from ronda.access.service import Principal
from ronda.access.tokens import PLAYLIST_TTL_S
from ronda.api.context import AppContext
from ronda.api.deps import (
    Caller,
    CameraId,
    Ctx,
    Token,
    camera_right,
    declare_ws,
    stream_caller,
    stream_principal,
    stream_right,
    ws_close_code,
)
from ronda.api.routes.auth import origin_ok, until_closed
from ronda.api.schemas import M3U8, M4S, MP4
from ronda.api.schemas.live import LiveInfo
from ronda.cluster.nodes import Peer
from ronda.errors import DomainError, NotFound, Unavailable
from ronda.media import live_view
from ronda.media.live import LiveFragment, LiveHub, LiveTail

router = APIRouter(tags=["live"])
StreamKind = Annotated[str, PathParam(pattern="^(main|sub)$")]
# The video socket re-checks its session and right every 10 s (the events socket every 3 s). At 3 s a
# later recorded-playback test on the same server showed frames two segments off, 3 runs of 3, and
# never at 10 s (2 of 2); the cause was not found (docs/live.md).
RECHECK_S = 10.0
MAX_QUEUE = 40  # fragments (~10 s) a slow viewer may lag before it is moved to the newest keyframe
MESSAGE_BYTES = 4 << 20  # fragments sent together (a backlog) fill binary messages up to this size
# A send that cannot go out for this long (the viewer stopped reading): the viewer is disconnected,
# so that nothing is held for it. The server's WebSocket protocol drops such a peer after
# http.ws_write_stall_seconds already (ronda.api.protocols); this bounds the send on any server.
SEND_STALL_S = 20.0
RELAY_MAX_MESSAGE = 32 << 20  # a fragment from the recording node (a 4K keyframe fits many times)
LiveToken = Annotated[Principal, stream_caller(LIVE)]
NewPlaylistToken = Annotated[Principal, stream_caller(LIVE, new_playlist=True)]


def hub(ctx: AppContext) -> LiveHub:
    if ctx.live is None:
        db, root = ctx.db, ctx.cfg.recordings_dir
        ctx.live = LiveHub(
            root,
            lambda camera_id, stream: live_view.history(db, root, camera_id, stream),
            signals=ctx.recorder,  # the recorder wakes it when a fragment lands
        )
    return ctx.live


@router.get("/cameras/{camera_id}/live", response_model=LiveInfo, **camera_right(LIVE))
def live_info(
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
    return live_view.live_info(ctx.db, ctx.auth.issuer, caller, camera_id, view, stream, hevc)


async def _recorded_tail(ctx: Ctx, camera_id: CameraId, stream: StreamKind) -> LiveTail:
    """The live tail of a stream the camera records (not found otherwise)."""
    await asyncio.to_thread(live_view.recorded_stream, ctx.db, camera_id, stream)
    return hub(ctx).get(camera_id, stream)


async def _remote(ctx: AppContext, camera_id: int) -> Peer | None:
    """The node of the cluster that records the camera, when it is another one (its live view is there)."""
    return await asyncio.to_thread(ctx.nodes.live_peer, camera_id) if ctx.nodes is not None else None


async def _fetch(ctx: AppContext, peer: Peer, path: str) -> bytes:
    assert ctx.nodes is not None
    return (await ctx.nodes.get(peer, path)).content


def _with_token(playlist: str, token: str) -> str:
    """The recording node's playlist names its parts without a token: each gets the viewer's."""
    out = []
    for line in playlist.splitlines():
        if line and not line.startswith("#"):
            line = f"{line}?token={token}"
        elif line.startswith("#EXT-X-MAP:"):
            line = re.sub(r'URI="([^"?]+)"', lambda m: f'URI="{m.group(1)}?token={token}"', line)
        out.append(line)
    return "\n".join(out) + "\n"


recorded_tail = _recorded_tail  # for the federation's peer routes (api/routes/federation.py)


async def _ready_tail(ctx: AppContext, camera_id: int, stream: str, segments: int) -> LiveTail:
    tail = hub(ctx).get(camera_id, stream)
    if not await tail.wait_for(lambda: len(tail.segments) >= segments, 15.0):
        raise Unavailable("no live video from this camera right now (offline or not recording)", retry_after=5)
    return tail


ready_tail = _ready_tail  # for the federation's peer routes


def _bandwidth(tail: LiveTail) -> int:
    frags = list(tail.fragments)[-40:]
    seconds = sum(f.duration_s for f in frags) or 1.0
    return int(sum(len(f.data) for f in frags) * 8 / seconds)


@router.get("/media/{camera_id}/live.m3u8", response_class=Response, responses=M3U8,
            **stream_right(LIVE, new_playlist=True))  # fmt: skip
async def live_master(
    ctx: Ctx,
    p: NewPlaylistToken,
    camera_id: CameraId,
    token: Token,
    stream: Annotated[str, Query(pattern="^(main|sub)$")] = "main",
) -> Response:
    """HLS entry point: a multivariant playlist naming the live media playlist, with a token of a few
    minutes bound to the same session (each request still re-checks session and right). Only a token
    handed out by the API opens it, not a playlist's own, so a player cannot renew its access alone."""
    dims = await asyncio.to_thread(live_view.recorded_stream, ctx.db, camera_id, stream)
    remote = await _remote(ctx, camera_id)
    if remote is not None:  # recorded by another node: what its tail says
        v = json.loads(await _fetch(ctx, remote, f"/live/{camera_id}/{stream}/variant"))
        bandwidth, codecs = int(v["bandwidth"]), str(v["codecs"])
        res = f",RESOLUTION={v['resolution']}" if v.get("resolution") else ""
    else:
        tail = await _ready_tail(ctx, camera_id, stream, 3)
        init = tail.inits[tail.segments[-1].init_version]
        bandwidth, codecs, res = _bandwidth(tail), init.codecs, ""
        if init.video is not None and dims.get("width") and dims.get("height"):
            res = f",RESOLUTION={dims['width']}x{dims['height']}"
    long_token = ctx.auth.issuer.issue_stream_token(p.binding(), camera_id, LIVE, ttl_s=PLAYLIST_TTL_S,
                                                    playlist=True)  # fmt: skip
    body = (
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        f'#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},CODECS="{codecs}"{res}\n'
        f"live/{stream}/index.m3u8?token={long_token}\n"
    )
    await asyncio.to_thread(ctx.audit.append, p.actor, "live.start", "ok", camera_id, None, None, p.source_ip,
                            {"stream": stream, "via": "hls"})  # fmt: skip
    return Response(body, media_type="application/vnd.apple.mpegurl")


@router.get("/media/{camera_id}/live/{stream}/index.m3u8", response_class=Response, responses=M3U8,
            **stream_right(LIVE))  # fmt: skip
async def live_playlist(ctx: Ctx, p: LiveToken, camera_id: CameraId, stream: StreamKind, token: Token) -> Response:
    await asyncio.to_thread(live_view.recorded_stream, ctx.db, camera_id, stream)
    remote = await _remote(ctx, camera_id)
    if remote is not None:
        text = (await _fetch(ctx, remote, f"/live/{camera_id}/{stream}/index.m3u8")).decode()
        return Response(_with_token(text, token), media_type="application/vnd.apple.mpegurl")
    tail = await _ready_tail(ctx, camera_id, stream, 1)
    body = tail.playlist(lambda v: f"init-{v}.mp4?token={token}", lambda n: f"{n}.m4s?token={token}")
    return Response(body, media_type="application/vnd.apple.mpegurl")


@router.get("/media/{camera_id}/live/{stream}/init-{version}.mp4", response_class=Response, responses=MP4,
            **stream_right(LIVE))  # fmt: skip
async def live_init(
    ctx: Ctx, p: LiveToken, camera_id: CameraId, stream: StreamKind,
    version: Annotated[int, PathParam(ge=1, le=2**31)], token: Token,
) -> Response:  # fmt: skip
    remote = await _remote(ctx, camera_id)
    if remote is not None:
        data = await _fetch(ctx, remote, f"/live/{camera_id}/{stream}/init-{version}.mp4")
        return Response(data, media_type="video/mp4")
    tail = await _recorded_tail(ctx, camera_id, stream)
    init = tail.inits.get(version)
    if init is None:
        raise NotFound("initialisation section")
    return Response(init.data, media_type="video/mp4")


@router.get("/media/{camera_id}/live/{stream}/{seq}.m4s", response_class=Response, responses=M4S,
            **stream_right(LIVE))  # fmt: skip
async def live_segment(
    ctx: Ctx, p: LiveToken, camera_id: CameraId, stream: StreamKind, seq: Annotated[int, PathParam(ge=0, le=2**62)],
    token: Token,
) -> Response:  # fmt: skip
    remote = await _remote(ctx, camera_id)
    if remote is not None:
        data = await _fetch(ctx, remote, f"/live/{camera_id}/{stream}/{seq}.m4s")
        return Response(data, media_type="video/iso.segment")
    tail = await _recorded_tail(ctx, camera_id, stream)
    seg = tail.hls_segment(seq)
    if seg is None:
        raise NotFound("live segment (it has left the live window)")
    return Response(seg.data(), media_type="video/iso.segment")


@router.websocket("/media/{camera_id}/live.ws")
@declare_ws(stream_right(LIVE))
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
        p = await asyncio.to_thread(stream_principal, ctx, token, camera_id, LIVE)
    except DomainError as e:
        await ws.close(code=ws_close_code(e), reason=str(e.detail))
        return
    binding = p.binding()  # what the token was bound to: re-checked while the socket is open
    try:
        await asyncio.to_thread(live_view.recorded_stream, ctx.db, camera_id, stream)
    except NotFound:
        await ws.close(code=4404, reason=f"this camera records no {stream}-stream")
        return
    source_ip = ws.client.host if ws.client else None
    await asyncio.to_thread(ctx.audit.append, p.actor, "live.start", "ok", camera_id, None, None, source_ip,
                            {"stream": stream, "via": "websocket"})  # fmt: skip

    async def recheck() -> tuple[int, str] | None:
        # The session (or API key) still live, the right still held?
        now = await asyncio.to_thread(ctx.auth.principal_for_binding, binding, "stream")
        if now is None:
            return 4401, "the session of this stream token has ended"
        if not now.can(LIVE, camera_id):
            return 4403, "the 'live' right on this camera was withdrawn"
        return None

    try:
        remote = await _remote(ctx, camera_id)
    except DomainError as e:
        await ws.close(code=ws_close_code(e), reason=str(e.detail))
        return
    if remote is not None:  # recorded by another node of the cluster: its fragments, passed through
        await _relay(ws, ctx, remote, camera_id, stream, recheck)
    else:
        await follow_tail(ws, ctx, camera_id, stream, recheck)


Recheck = Callable[[], Awaitable[tuple[int, str] | None]]


async def follow_tail(ws: WebSocket, ctx: AppContext, camera_id: int, stream: str, recheck: Recheck | None) -> None:
    """Sends the stream's fragments from the newest keyframe on, until the viewer leaves; ``recheck`` (every
    ``RECHECK_S``) gives a close code and reason when the viewer may no longer watch."""
    tail = hub(ctx).get(camera_id, stream)
    queue = tail.subscribe()
    reader = asyncio.create_task(until_closed(ws))
    watcher: asyncio.Task[tuple[int, str]] | None = None
    try:
        if not await tail.wait_for(lambda: bool(tail.start_point()), 10.0):
            await ws.close(code=4503, reason="no live video from this camera right now")
            return
        start = tail.start_point()
        async with asyncio.timeout(SEND_STALL_S):
            sent_version = await _send(ws, tail, [*start, *_drain(queue, start[-1].seq)], 0)
        need_key = False
        reader.add_done_callback(queue.wake)
        if recheck is not None:
            watcher = asyncio.create_task(_refusal(recheck))
            watcher.add_done_callback(queue.wake)
        # Per fragment: no task, no asyncio.wait; the queue's own wait only when it is empty.
        while not reader.done():
            if watcher is not None and watcher.done():
                code, reason = watcher.result()  # (a database error ends the socket, as before)
                await ws.close(code=code, reason=reason)
                break
            if queue.empty():
                await queue.ready()
                continue
            item = queue.get_nowait()
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
            # What queued up meanwhile goes with it: a viewer the server fell behind on gets its backlog
            # in one message, so a busy server makes fewer sends instead of falling further behind.
            items: list[Any] = [item]
            ended = False
            while not queue.empty() and len(items) < MAX_QUEUE:
                nxt = queue.get_nowait()
                if nxt is None:
                    ended = True
                    break
                items.append(nxt)
            async with asyncio.timeout(SEND_STALL_S):
                sent_version = await _send(ws, tail, items, sent_version)
            if ended:
                await ws.close(code=4503, reason="live view of this stream stopped")
                break
            # A send into a socket with room returns without yielding: let the other viewers and the
            # API run before this viewer's next message.
            await asyncio.sleep(0)
    except (WebSocketDisconnect, RuntimeError):
        pass
    except TimeoutError:  # the viewer takes no data: say why, if that can still get through
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(code=4008, reason="not reading: reconnect"), 1.0)
    finally:
        tail.unsubscribe(queue)
        await _cancel(reader, watcher)


async def _cancel(*tasks: asyncio.Task[Any] | None) -> None:
    for task in tasks:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _refusal(recheck: Recheck) -> tuple[int, str]:
    """Every ``RECHECK_S``, whether the viewer may still watch; returns the close code and reason once it
    may not. It runs beside the sending: a recheck waiting for the database (a busy box: audit writes, the
    recorder's catalog) must not hold up the fragments, as it did when it ran between two of them."""
    while True:
        await asyncio.sleep(RECHECK_S)
        refused = await recheck()
        if refused is not None:
            return refused


async def _relay(ws: WebSocket, ctx: AppContext, remote: Peer, camera_id: int, stream: str, recheck: Recheck) -> None:
    """The live socket of a camera another node records: that node's internal fragment socket
    (``/internal/v1/live/{camera}/{stream}/ws``, signed), message by message; the session and right are
    re-checked here as for a local stream."""
    assert ctx.nodes is not None
    url = ctx.nodes.signed_url(remote, f"/live/{camera_id}/{stream}/ws")
    url = "ws" + url.removeprefix("http")  # http → ws, https → wss
    reader = asyncio.create_task(until_closed(ws))
    watcher: asyncio.Task[tuple[int, str]] | None = None
    try:
        try:
            upstream = await ws_connect(url, open_timeout=10, max_size=RELAY_MAX_MESSAGE, ping_interval=20)
        except (OSError, InvalidHandshake, TimeoutError):
            await ws.close(code=4503, reason=f"the recording node {remote.name} is unreachable")
            return
        async with upstream:
            watcher = asyncio.create_task(_refusal(recheck))
            while not reader.done():
                getter = asyncio.ensure_future(upstream.recv())
                done, _ = await asyncio.wait({getter, reader, watcher}, timeout=RECHECK_S,
                                             return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
                if watcher in done:
                    getter.cancel()
                    code, reason = watcher.result()
                    await ws.close(code=code, reason=reason)
                    break
                if getter in done:
                    msg = getter.result()
                    send = ws.send_bytes(msg) if isinstance(msg, bytes) else ws.send_text(msg)
                    await asyncio.wait_for(send, SEND_STALL_S)
                else:
                    getter.cancel()
                    if reader in done:
                        break
    except ConnectionClosed as e:  # the recording node ended the stream: say why, as it did
        code = e.rcvd.code if e.rcvd is not None and e.rcvd.code >= 4000 else 4503
        reason = e.rcvd.reason if e.rcvd is not None and e.rcvd.reason else "live view of this stream stopped"
        with contextlib.suppress(Exception):
            await ws.close(code=code, reason=reason)
    except (WebSocketDisconnect, RuntimeError):
        pass
    except TimeoutError:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(code=4008, reason="not reading: reconnect"), 1.0)
    finally:
        await _cancel(reader, watcher)


def _drain(queue: asyncio.Queue[Any], after_seq: int) -> list[Any]:
    """Everything queued, minus fragments already sent (seq <= after_seq)."""
    items = []
    while not queue.empty():
        item = queue.get_nowait()
        if isinstance(item, LiveFragment) and item.seq <= after_seq:
            continue
        items.append(item)
    return items


async def _send(ws: WebSocket, tail: LiveTail, items: list[Any], sent_version: int) -> int:
    """Sends ``items`` (fragments; initialisation sections are skipped: each goes with the first fragment
    that needs it) and returns the init version the viewer now has. Fragments in a row with one init
    version go as one binary message of up to ``MESSAGE_BYTES``, moof/mdat pairs back to back, which a
    Media Source buffer appends as it does one: one send per message, not one per fragment."""
    run: list[bytes] = []
    size = 0
    for item in items:
        if not isinstance(item, LiveFragment):
            continue
        if run and (item.init_version != sent_version or size + len(item.data) > MESSAGE_BYTES):
            await ws.send_bytes(b"".join(run))  # (one fragment: joined, it is the same object, not a copy)
            run, size = [], 0
        if item.init_version != sent_version:
            init = tail.inits.get(item.init_version)
            if init is None:
                continue
            await ws.send_json({"type": "init", "codecs": init.codecs, "mime": f'video/mp4; codecs="{init.codecs}"',
                                "version": item.init_version})  # fmt: skip
            await ws.send_bytes(init.data)
            sent_version = item.init_version
        run.append(item.data)
        size += len(item.data)
    if run:
        await ws.send_bytes(b"".join(run))
    return sent_version
