"""The security headers of every HTTP answer, as plain ASGI middleware.

Each header is set unless the route set its own: ``Content-Security-Policy``, ``X-Content-Type-Options``,
``X-Frame-Options``, ``Referrer-Policy``, and ``Cache-Control: no-store`` under ``/api/``. Plain ASGI (it
only edits the ``http.response.start`` message): Starlette's ``BaseHTTPMiddleware`` would run every
request in a task of its own and pass every body through a memory stream, which cost the camera list
about a fifth of its time.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class SecurityHeaders:
    def __init__(self, app: ASGIApp, csp: str) -> None:
        self.app = app
        self.always = (
            ("Content-Security-Policy", csp),
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            ("Referrer-Policy", "no-referrer"),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = scope["path"].startswith("/api/")

        async def with_headers(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                headers = MutableHeaders(scope=msg)
                for name, value in self.always:
                    headers.setdefault(name, value)
                if api:
                    headers.setdefault("Cache-Control", "no-store")
            await send(msg)

        await self.app(scope, receive, with_headers)
