"""``GET /metrics`` for Prometheus (``ronda.cluster.metrics``; docs/cluster.md, "Operations").

Two ways in: the scrape token (``http.metrics_token_file``, sent as ``Authorization: Bearer``), which opens
this route and nothing else, so the monitoring system needs no user account; or a caller holding
``view_audit`` at site scope (an administrator's API key).
"""

from __future__ import annotations

import hmac
from pathlib import Path

from fastapi import APIRouter, Depends, Request, Response

from ronda.access.rights import VIEW_AUDIT
from ronda.api.context import AppContext
from ronda.api.deps import RIGHT_KEY, Declared, context, principal, require_site
from ronda.cluster.metrics import CONTENT_TYPE, MetricsCache, Sources
from ronda.errors import Unavailable

router = APIRouter(tags=["system"])


def scrape_token(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        token = path.read_text().strip()
    except OSError as e:
        raise Unavailable(f"http.metrics_token_file cannot be read: {e.strerror}") from None
    return token or None


def _scraper_or_admin(request: Request) -> None:
    ctx = context(request)
    token = scrape_token(ctx.cfg.http.metrics_token_file)
    auth = request.headers.get("authorization", "")
    if token is not None and auth.startswith("Bearer ") and hmac.compare_digest(auth[7:].encode(), token.encode()):
        return
    require_site(principal(request), VIEW_AUDIT)


def _sources(ctx: AppContext) -> Sources:
    recorder, relay = ctx.recorder, ctx.events.relay

    def states() -> dict[tuple[int, str], str]:
        return {key: rec.status.state for key, rec in list(recorder.streams.items())} if recorder else {}

    node = ctx.cfg.cluster.node if ctx.cfg.cluster is not None else "local"

    def published() -> int | None:  # no relay in this process (with NATS, an API node): the events node reports
        return relay.last_id if relay.running else None

    ttl_ms = int(ctx.cfg.cluster.lease_ttl_seconds * 1000) if ctx.cfg.cluster is not None else 10_000
    return Sources(node, ctx.roles, states, published, ttl_ms=ttl_ms)


@router.get("/metrics", response_class=Response, dependencies=[Depends(_scraper_or_admin)],
            responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
            openapi_extra={RIGHT_KEY: Declared("site", VIEW_AUDIT).as_dict()})  # fmt: skip
async def metrics(request: Request) -> Response:
    """Per-node and per-camera gauges in the Prometheus text format (cached a few seconds)."""
    ctx = context(request)
    cache: MetricsCache | None = getattr(request.app.state, "metrics_cache", None)
    if cache is None:
        cache = request.app.state.metrics_cache = MetricsCache()
    body = await cache.render(ctx.cfg, ctx.db, _sources(ctx))
    return Response(body, media_type=CONTENT_TYPE)
