"""The FastAPI application: REST under /api/v1.

Every route declares the right it needs (``ronda.api.deps``: checked by a dependency, shown as
``x-ronda-right`` in the OpenAPI document) and its response model (``ronda.api.schemas``); feature code
raises ``ronda.errors`` domain errors, mapped to HTTP statuses here, once (``STATUS``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from ronda import __version__
from ronda.api.context import AppContext
from ronda.api.headers import SecurityHeaders
from ronda.api.limits import BodyLimit
from ronda.config import tile_source
from ronda.errors import (
    Conflict,
    DeviceError,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    TooLarge,
    TooManyRequests,
    Unauthenticated,
    Unavailable,
)
from ronda.media.export_jobs import ExportJobs
from ronda.store.db import unreachable
from ronda.tasks import cancel_and_wait

log = logging.getLogger(__name__)
MAX_BODY = 1 << 20
MAX_PLAN_BODY = 5 << 20  # PUT /api/v1/map/plan (routes/map.py enforces the per-type limits)
# What a request that needs the database gets while it is unreachable (``ronda.store.db.unreachable``).
DATABASE_AWAY = (
    "the database is unreachable; recording continues to disk and the catalog catches up when it answers "
    "again: retry later"
)


# The web client is scripts and styles from its own origin only (no inline script, handler or style
# attribute: src/ronda/web/static has none), so an injected string can never run. blob: carries the
# MSE video, the map plan and snapshots; WebSockets and the service worker are same-origin.
def content_security_policy(tiles: str | None = None) -> str:
    """The client's policy; ``tiles`` (``config.tile_source`` of ``map.tile_url``) is the one other place
    images may come from: the geographic map's tile server."""
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        f"img-src 'self' blob: data:{f' {tiles}' if tiles else ''}",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "worker-src 'self'",
        "manifest-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])  # fmt: skip


# Domain errors (ronda.errors) → HTTP, in this one place.
STATUS: dict[type[DomainError], int] = {
    NotFound: 404,
    Forbidden: 403,
    Conflict: 409,
    Invalid: 422,
    TooLarge: 413,
    TooManyRequests: 429,
    Unavailable: 503,
    Unauthenticated: 401,
    DeviceError: 502,
}


def error_status(exc: DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def error_response(exc: DomainError) -> JSONResponse:
    headers: dict[str, str] = {}
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="ronda"'
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    body: dict[str, Any] = {"detail": exc.detail}
    if exc.code is not None:
        body["code"] = exc.code
    for k, v in getattr(exc, "extra", {}).items():
        body.setdefault(k, v)
    return JSONResponse(body, status_code=error_status(exc), headers=headers or None)


def create_app(ctx: AppContext, manage_recorder: bool = True) -> FastAPI:
    if ctx.exports is None:
        ctx.exports = ExportJobs(ctx.db, ctx.cfg, ctx.audit, node=ctx.nodes.me if ctx.nodes is not None else "local")
        if ctx.nodes is not None:  # a package made on another API node is fetched from it (docs/cluster.md)
            ctx.exports.remote = ctx.nodes.fetch_export
    exports = ctx.exports

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if ctx.presence is not None:  # shown in ``nodes`` from the start (docs/cluster.md)
            await ctx.presence.start()
        upkeep = asyncio.create_task(exports.upkeep(), name="export-upkeep")
        await ctx.events.start()
        if manage_recorder and ctx.recorder is not None:
            await ctx.recorder.start()
            if ctx.analytics is not None:
                await ctx.analytics.start()
        if ctx.ptz is not None:
            await ctx.ptz.start()
        if ctx.federation is not None:
            await ctx.federation.start()
        ctx.started = True
        try:
            yield
        finally:
            if ctx.federation is not None:
                await ctx.federation.stop()
            if ctx.ptz is not None:
                await ctx.ptz.close()
            if ctx.live is not None:
                await ctx.live.close()
            if ctx.nodes is not None:
                await ctx.nodes.close()
            if manage_recorder and ctx.analytics is not None:
                await ctx.analytics.stop()  # its workers first: they read the recorder's files
            if manage_recorder and ctx.recorder is not None:
                await ctx.recorder.stop()
            await ctx.events.stop()
            await cancel_and_wait(upkeep)
            await exports.close()
            if ctx.presence is not None:  # last: a clean stop is ``stopped``, not ``down``
                await ctx.presence.stop()

    app = FastAPI(
        title="Ronda",
        version=__version__,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    tiles = ctx.cfg.map.tile_url
    csp = content_security_policy(tile_source(tiles) if tiles else None)
    app.add_middleware(BodyLimit, default=MAX_BODY, per_route={("PUT", "/api/v1/map/plan"): MAX_PLAN_BODY})
    app.add_middleware(SecurityHeaders, csp=csp)  # outside BodyLimit: its 413 gets them too

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        return error_response(exc)

    async def database_error(request: Request, exc: Exception) -> JSONResponse:
        if not unreachable(exc):  # a bug, not an outage: a 500 with its traceback in the log
            raise exc
        return error_response(Unavailable(DATABASE_AWAY, retry_after=5, code="database_unavailable"))

    for cls in (sa_exc.DBAPIError, sa_exc.TimeoutError):
        app.add_exception_handler(cls, database_error)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", "invalid"), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    from ronda.api.routes import (
        alarms,
        analytics,
        auth,
        bookmarks,
        cameras,
        cases,
        events,
        federation,
        live,
        map,
        media,
        notifications,
        onvif,
        plates,
        ptz,
        rules,
        system,
        timeline,
        users,
    )

    # In this order: it is the order of matching and of the OpenAPI document.
    for module in (system, auth, cameras, onvif, users, media, live, bookmarks, timeline, events, alarms, rules,
                   notifications, map, ptz, analytics, plates, cases, federation):  # fmt: skip
        app.include_router(module.router, prefix="/api/v1")

    from ronda.api.routes import metrics

    app.include_router(metrics.router)  # /metrics: where Prometheus looks by default
    _document_errors(app)
    if ctx.nodes is not None:  # a node of a cluster: what the other nodes fetch from it (signed URLs only)
        from ronda.api.routes.internal import internal_app
        from ronda.cluster.nodes import INTERNAL

        app.mount(INTERNAL, internal_app(ctx, error_response))

    @app.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    async def api_not_found(rest: str) -> JSONResponse:
        return JSONResponse({"detail": "not found"}, status_code=404)

    # The web client: static files, no server-side state (after every /api route).
    import mimetypes
    from pathlib import Path

    mimetypes.add_type("application/manifest+json", ".webmanifest")
    mimetypes.add_type("text/javascript", ".js")

    from starlette.staticfiles import StaticFiles

    app.mount("/", StaticFiles(directory=Path(__file__).parent.parent / "web" / "static", html=True), name="web")
    return app


def _document_errors(app: FastAPI) -> None:
    """Declare the 422 answers as they are: FastAPI's list of field errors, or one sentence naming the
    problem (``ronda.errors.Invalid("...")`` from a feature's own checks). Clients and schema checkers
    (schemathesis) then see the document and the answers agree."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        err = schema.get("components", {}).get("schemas", {}).get("HTTPValidationError")
        if err is not None:
            listed = err.get("properties", {}).get("detail", {"type": "array"})
            err["properties"]["detail"] = {"title": "Detail", "anyOf": [listed, {"type": "string"}]}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
