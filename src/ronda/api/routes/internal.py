"""``/internal/v1``: what one node of a site serves the others (``ronda.cluster.nodes``).

An API node that does not record a camera asks the recording node for its live view and for segments on
that node's own disk. These endpoints take no user credentials: every request must carry the URL
signature of ``UrlSigner`` (a key derived from the site's shared ``keys/secrets.key``), checked once for
the whole mount before any route runs, so no route here can forget it. They are outside ``/api/v1`` and
the OpenAPI document; the load balancer does not forward ``/internal`` (docs/deployment.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketClose

from ronda.api.context import AppContext
from ronda.api.files import FileAnswer
from ronda.cluster.nodes import SignatureError, UrlSigner
from ronda.errors import DomainError, NotFound
from ronda.store.models import ExportJobRow, Segment

log = logging.getLogger(__name__)
MAX_ID = 2**62


class SignedOnly:
    """Refuses (403) every request whose URL is not signed for its method and path."""

    def __init__(self, app: ASGIApp, signer: UrlSigner) -> None:
        self.app = app
        self.signer = signer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)  # lifespan
            return
        conn = HTTPConnection(scope)
        method = scope.get("method", "GET")  # a WebSocket handshake is a GET
        try:
            self.signer.verify(method, conn.url.path, conn.query_params.get("exp"), conn.query_params.get("sig"))
        except SignatureError as e:
            log.warning("internal request refused from %s: %s", conn.client.host if conn.client else "?", e)
            if scope["type"] == "websocket":
                await WebSocketClose(code=1008, reason="refused")(scope, receive, send)
            else:
                await JSONResponse({"detail": f"refused: {e}"}, status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _int(request: HTTPConnection, name: str, low: int = 1, high: int = MAX_ID) -> int:
    raw = str(request.path_params[name])
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise NotFound(name)
    return int(raw)


def _stream(request: HTTPConnection) -> str:
    stream = str(request.path_params["stream"])
    if stream not in ("main", "sub"):
        raise NotFound("stream")
    return stream


def internal_app(ctx: AppContext, error_response: Callable[[DomainError], Response]) -> ASGIApp:
    """The mount's application (``create_app`` mounts it at ``/internal/v1`` on a node of a cluster, with its
    mapping of domain errors to answers)."""
    from ronda.api.routes.cameras import cameras
    from ronda.api.routes.live import _bandwidth, _ready_tail, follow_tail, hub
    from ronda.media import live_view

    assert ctx.nodes is not None
    me = ctx.nodes.me

    def segment_path(segment_id: int) -> Any:
        with ctx.db.session() as s:
            seg = s.get(Segment, segment_id)
            if seg is None or seg.location != "local" or seg.node not in (me, "local"):
                raise NotFound("segment")
            path = ctx.cfg.recordings_dir / seg.path
        if not path.is_file():
            raise NotFound("segment")
        return path

    async def segment(request: Request) -> Response:
        path = await asyncio.to_thread(segment_path, _int(request, "segment_id"))
        return FileAnswer(path, what="segment", media_type="video/mp4")

    def export_path(job_id: str) -> Any:
        with ctx.db.session() as s:
            job = s.get(ExportJobRow, job_id)
            if job is None or job.status != "done" or job.node not in (me, "local"):
                raise NotFound("export")
        path = ctx.cfg.data_dir / "exports" / f"{job_id}.zip"
        if not path.is_file():
            raise NotFound("export")
        return path

    async def export(request: Request) -> Response:
        """A finished export's package this node made (another API node serves its download)."""
        job_id = str(request.path_params.get("job_id", ""))
        if not job_id or len(job_id) > 32 or not job_id.replace("-", "").replace("_", "").isalnum():
            raise NotFound("export")
        path = await asyncio.to_thread(export_path, job_id)
        return FileAnswer(path, what="export", media_type="application/zip")

    async def snapshot(request: Request) -> Response:
        jpeg = await cameras(ctx).snapshot(_int(request, "camera_id", high=2**31 - 1))
        return Response(jpeg, media_type="image/jpeg")

    async def live_variant(request: Request) -> Response:
        """What the API node's multivariant playlist says of the stream: bandwidth, codecs, size."""
        camera_id, stream = _int(request, "camera_id", high=2**31 - 1), _stream(request)
        dims = await asyncio.to_thread(live_view.recorded_stream, ctx.db, camera_id, stream)
        tail = await _ready_tail(ctx, camera_id, stream, 3)
        init = tail.inits[tail.segments[-1].init_version]
        size = None
        if init.video is not None and dims.get("width") and dims.get("height"):
            size = f"{dims['width']}x{dims['height']}"
        return JSONResponse({"bandwidth": _bandwidth(tail), "codecs": init.codecs, "resolution": size})

    async def live_playlist(request: Request) -> Response:
        camera_id, stream = _int(request, "camera_id", high=2**31 - 1), _stream(request)
        await asyncio.to_thread(live_view.recorded_stream, ctx.db, camera_id, stream)
        tail = await _ready_tail(ctx, camera_id, stream, 1)
        body = tail.playlist(lambda v: f"init-{v}.mp4", lambda n: f"{n}.m4s")
        return Response(body, media_type="application/vnd.apple.mpegurl")

    async def live_init(request: Request) -> Response:
        camera_id, stream = _int(request, "camera_id", high=2**31 - 1), _stream(request)
        await asyncio.to_thread(live_view.recorded_stream, ctx.db, camera_id, stream)
        init = hub(ctx).get(camera_id, stream).inits.get(_int(request, "version", high=2**31))
        if init is None:
            raise NotFound("initialisation section")
        return Response(init.data, media_type="video/mp4")

    async def live_segment(request: Request) -> Response:
        camera_id, stream = _int(request, "camera_id", high=2**31 - 1), _stream(request)
        await asyncio.to_thread(live_view.recorded_stream, ctx.db, camera_id, stream)
        seg = hub(ctx).get(camera_id, stream).hls_segment(_int(request, "seq", low=0))
        if seg is None:
            raise NotFound("live segment (it has left the live window)")
        return Response(seg.data(), media_type="video/iso.segment")

    async def live_socket(ws: WebSocket) -> None:
        """The stream's fragments as the public live socket sends them (the API node relays them); the API
        node checks the viewer's session and right."""
        await ws.accept()
        try:
            camera_id, stream = _int(ws, "camera_id", high=2**31 - 1), _stream(ws)
            await asyncio.to_thread(live_view.recorded_stream, ctx.db, camera_id, stream)
        except NotFound:
            await ws.close(code=4404, reason="no such stream")
            return
        await follow_tail(ws, ctx, camera_id, stream, None)

    def guarded(handler: Any) -> Any:
        async def run(request: Request) -> Response:
            try:
                response: Response = await handler(request)
                return response
            except DomainError as e:
                return error_response(e)

        return run

    live = "/live/{camera_id}/{stream}"
    app = Starlette(routes=[
        Route("/segments/{segment_id}.mp4", guarded(segment)),
        Route("/cameras/{camera_id}/snapshot.jpg", guarded(snapshot)),
        Route("/exports/{job_id}.zip", guarded(export)),
        Route(f"{live}/variant", guarded(live_variant)),
        Route(f"{live}/index.m3u8", guarded(live_playlist)),
        Route(f"{live}/init-{{version}}.mp4", guarded(live_init)),
        Route(f"{live}/{{seq}}.m4s", guarded(live_segment)),
        WebSocketRoute(f"{live}/ws", live_socket),
    ])  # fmt: skip
    return SignedOnly(app, ctx.nodes.signer)
