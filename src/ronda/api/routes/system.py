"""Health, storage and the nodes of the site."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request

from ronda.access.rights import MANAGE_CAMERAS
from ronda.api.deps import Ctx, principal, public, site_right
from ronda.api.schemas.system import HealthView, NodeView, StorageView
from ronda.errors import DomainError
from ronda.recording.health import health as node_health
from ronda.store import cluster_repo
from ronda.store.db import unreachable
from ronda.timeutil import now_ms

router = APIRouter(tags=["system"])


def _manages(request: Request) -> bool:
    """Whether the caller, if it is logged in at all, may see the site's figures: whom /storage
    answers, a site administrator (manage_cameras without an organisation)."""
    try:
        p = principal(request)
    except DomainError:  # no or refused credentials: the brief answer
        return False
    except Exception as e:  # the database is away: the caller cannot be checked, health still answers
        if unreachable(e):
            return False
        raise
    return p.site_scope and p.has(MANAGE_CAMERAS)


@router.get("/health", response_model=HealthView, **public())
def health(ctx: Ctx, request: Request) -> dict[str, Any]:
    """Status for load balancers and monitors, without login: ``ok`` or ``degraded`` and each check's
    state in a word. Storage figures, paths and stream counts tell an outsider how the site is built
    and how full its disks are: only a site administrator (as for ``/storage``) gets them."""
    h = node_health(ctx.db, ctx.recorder)
    return {"status": h.status, "checks": h.checks if _manages(request) else h.brief}


@router.get("/storage", response_model=StorageView, response_model_exclude_unset=True, **site_right(MANAGE_CAMERAS))
def storage(ctx: Ctx) -> dict[str, Any]:
    """The recording volume's state and figures (``{"state": "not recording here"}`` on a node without
    a recorder)."""
    return dict(ctx.recorder.storage) if ctx.recorder else {"state": "not recording here"}


def node_ttl_ms(ctx: Ctx) -> int:
    """How old a heartbeat may be before its node is shown down: the site's lease TTL."""
    return int(ctx.cfg.cluster.lease_ttl_seconds * 1000) if ctx.cfg.cluster is not None else 10_000


@router.get("/nodes", response_model=list[NodeView], **site_right(MANAGE_CAMERAS))
async def nodes(ctx: Ctx) -> list[dict[str, object]]:
    """Every node of the site that ever registered (a site with a ``cluster`` section; none on a single
    box), whatever its roles, with its state: ``up``, ``down`` (its heartbeat is older than the lease TTL
    and it did not stop cleanly) or ``stopped``."""

    def read() -> list[cluster_repo.NodeInfo]:
        with ctx.db.session() as s:
            return cluster_repo.list_nodes(s, now_ms(), node_ttl_ms(ctx))

    return [n.view() for n in await asyncio.to_thread(read)]
