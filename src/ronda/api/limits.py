"""Request body limits, for declared lengths and for chunked bodies alike.

A ``Content-Length`` over the limit is refused before the body is read. A chunked body (no length)
is counted as it arrives and refused as soon as it passes the limit, so no route ever buffers more
than the limit. The refusal is an HTTP 413 (``BodyTooLarge`` is an ``HTTPException``, so FastAPI's
body parsing passes it on instead of turning it into a 400).
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOO_LARGE = "request body too large"


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"{TOO_LARGE} (limit {limit} bytes)")


class BodyLimit:
    """ASGI middleware: ``default`` bytes per request body, ``per_route`` for (method, path) pairs."""

    def __init__(self, app: ASGIApp, default: int, per_route: dict[tuple[str, str], int] | None = None) -> None:
        self.app = app
        self.default = default
        self.per_route = per_route or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_route.get((scope["method"], scope["path"]), self.default)
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > limit):
                await JSONResponse({"detail": f"{TOO_LARGE} (limit {limit} bytes)"}, status_code=413)(
                    scope, receive, send
                )
                return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return msg

        async def tracked(msg: Message) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge as e:  # raised where no exception handler turned it into a response
            if started:
                raise
            await JSONResponse({"detail": e.detail}, status_code=413)(scope, receive, send)
