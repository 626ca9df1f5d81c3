"""Health."""

from __future__ import annotations

from typing import Any, Literal

from ronda.api.schemas import Out


class HealthView(Out):
    status: Literal["ok", "degraded"]
    checks: dict[str, Any]  # one word per check; figures for a site administrator


class StorageView(Out):
    """The recording volume: ``state`` always (``ok``, ``disk_full``, ``locked_full``, ``volume_missing``,
    or ``not recording here``); the figures once the volume has been checked."""

    state: str
    detail: str | None = None
    used_bytes: int | None = None
    max_bytes: int | None = None
    free_bytes: int | None = None
    total_bytes: int | None = None
    free_percent: float | None = None
    deleted_last_pass: int | None = None
    # with the archive tier (docs/cluster.md): state (ok | failing), detail, backlog, archived
    archive: dict[str, Any] | None = None


class NodeView(Out):
    """A node of the site as registered in ``nodes`` (docs/cluster.md, "The nodes of a site")."""

    name: str
    roles: list[str]
    state: Literal["up", "down", "stopped"]  # down: no heartbeat for a lease TTL and no clean stop
    url: str | None  # cluster.advertise_url
    version: str | None
    epoch: int  # bumped at each start (a recorder's fencing generation)
    capacity: int | None  # recorder nodes only
    leases: int  # camera leases it holds now
    started: str
    last_seen: str
    stopped: str | None
