"""Every node of a site in ``nodes`` (docs/cluster.md, "The nodes of a site"), whatever its roles.

A recorder node registers and heartbeats through its lease keeper (``ronda.cluster.leases``), in the same
transaction as its lease renewals. Any other node of a site with a ``cluster`` section (an API, events or
analytics node, or a recorder with recording switched off) keeps its row here: it registers at start (a new
epoch, its roles, URL and version), heartbeats every ``lease_ttl_seconds / 3``, and marks itself stopped on
a clean stop. A node whose heartbeat is older than the TTL without such a mark is shown ``down``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection

from ronda import __version__
from ronda.cluster.worker import OwnThread
from ronda.config import ClusterConfig
from ronda.store import cluster_repo
from ronda.store.db import Database
from ronda.timeutil import now_ms

log = logging.getLogger(__name__)


def mark_stopped(db: Database, node: str, epoch: int) -> None:
    """A clean stop (blocking). A database that does not answer leaves the node ``down`` after the TTL."""
    try:
        with db.session() as s:
            cluster_repo.mark_stopped(s, node, epoch, now_ms())
    except Exception as e:
        log.warning("could not mark node %s stopped: %s", node, e)


class NodePresence:
    """This node's row in ``nodes``, for a process that holds no camera leases."""

    def __init__(self, db: Database, cfg: ClusterConfig, roles: Collection[str]) -> None:
        self.db = db
        self.node = cfg.node
        self.url = cfg.advertise_url
        self.roles = sorted(roles)
        self.ttl_ms = int(cfg.lease_ttl_seconds * 1000)  # the others judge this node by it (its row says so)
        self.interval_s = cfg.lease_ttl_seconds / 3
        self.epoch = 0
        self._task: asyncio.Task[None] | None = None
        self._thread = OwnThread(f"heartbeat-{self.node}")  # beats never queue behind the process's other work

    async def start(self) -> None:
        self.epoch = await self._thread.run(self._register)
        log.info("cluster node %s registered (epoch %d, roles %s)", self.node, self.epoch, ",".join(self.roles))
        self._task = asyncio.create_task(self._loop(), name="node-heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            if self.epoch:
                await self._thread.run(mark_stopped, self.db, self.node, self.epoch)
        finally:
            self._thread.close()

    def _register(self) -> int:
        with self.db.session() as s:
            # capacity 0: this node records nothing (it adds nothing to the recorders' live capacity)
            return cluster_repo.register_node(s, self.node, self.roles, self.url, 0, now_ms(), __version__,
                                              self.ttl_ms)  # fmt: skip

    def _beat(self) -> None:
        with self.db.session() as s:
            cluster_repo.heartbeat(s, self.node, now_ms())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self._thread.run(self._beat)
            except Exception as e:  # the database is away: the next beat retries (shown down meanwhile)
                log.warning("node heartbeat failed: %s", e)
