"""Recorder leases (docs/cluster.md "Leases and failover"): which recorder node records which camera.

A recorder node registers itself (a new node epoch at each start), then every ``tick``: heartbeats,
renews the leases it holds, and claims free or expired ones up to its fair share of the cameras,
``ceil(cameras × capacity / live capacity)`` (never more than its capacity), only among cameras whose
``node_affinity`` allows it. A lease taken gets a new epoch (the fencing token every catalog write of
the camera names, ``ronda.store.cluster_repo.holds``). When a node joins, the others see a smaller share
at their next tick and give the surplus up: they stop those cameras first (their last segment is
catalogued under their epoch), then free the leases, which the new node takes at once. A node that
stops renewing (killed, cut off, frozen) loses its leases after ``lease_ttl_seconds``; the node taking
such a camera over opens a ``failover`` gap from the camera's last catalogued segment to its own first.

The keeper only decides; the recorder (``ronda.recording.recorder``, which cannot import this layer)
reads ``held`` and is told to reconcile through the ``on_change`` callback it installs at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field

from ronda import __version__
from ronda.cluster.presence import mark_stopped
from ronda.cluster.worker import OwnThread
from ronda.config import ClusterConfig
from ronda.store import cluster_repo
from ronda.store.db import Database
from ronda.timeutil import now_ms

log = logging.getLogger(__name__)

FAILOVER = "failover"  # the gap reason of a camera taken over from a node whose lease expired
RESTART = "recorder_restart"  # taken back from an earlier run of this same node (killed, restarted)
HUNGRY_POLL_S = 0.2  # below its share, a node polls this often (for 2 TTLs): it takes a freed camera at once


def fair_share(cameras: int, capacity: int, live_capacity: int) -> int:
    """How many cameras a node of ``capacity`` may hold when the live recorders add up to ``live_capacity``."""
    if cameras <= 0 or live_capacity <= 0:
        return 0
    return min(capacity, math.ceil(cameras * capacity / live_capacity))


def allowed(affinity: Collection[str] | None, node: str) -> bool:
    """A camera pinned to some nodes (``cameras.node_affinity``) may be recorded only there."""
    return not affinity or node in affinity


@dataclass(slots=True)
class TickResult:
    lost: set[int] = field(default_factory=set)
    taken: list[cluster_repo.Taken] = field(default_factory=list)
    released: list[int] = field(default_factory=list)
    share: int = 0


class LeaseKeeper:
    """This recorder node's leases, kept in PostgreSQL (or SQLite on one box) by a background loop."""

    def __init__(self, db: Database, cfg: ClusterConfig, roles: Collection[str] = ("recorder",)) -> None:
        self.db = db
        self.node = cfg.node
        self.capacity = cfg.capacity
        self.url = cfg.advertise_url
        self.roles = sorted(roles)
        self.ttl_ms = int(cfg.lease_ttl_seconds * 1000)
        self.node_epoch = 0
        # camera → (lease epoch, reason of the gap before its first segment here: failover | None)
        self._held: dict[int, tuple[int, str | None]] = {}
        self._on_change: Callable[[], Awaitable[object]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._hungry_since: float | None = None
        self._giving_up: set[int] = set()
        self.ticks = 0
        # Renewals, claims and releases in a thread of their own, never queued behind the recorder's work.
        self._thread = OwnThread(f"leases-{self.node}")

    # --- what the recorder reads ------------------------------------------------------------------
    def held(self) -> Mapping[int, tuple[int, str | None]]:
        return dict(self._held)

    def giving_up(self) -> set[int]:
        return set(self._giving_up)

    def epoch(self, camera_id: int) -> int | None:
        h = self._held.get(camera_id)
        return h[0] if h else None

    # --- lifecycle --------------------------------------------------------------------------------
    async def start(self, on_change: Callable[[], Awaitable[object]] | None = None, background: bool = True) -> None:
        """Register (new node epoch) and take a first share of leases before the recorder starts; then tick
        in the background (``background=False``: the caller ticks, as the tests and the benchmark do)."""
        self._on_change = on_change
        self.node_epoch = await self._thread.run(self._register)
        log.info("cluster node %s (epoch %d, pid %d): taking camera leases", self.node, self.node_epoch, os.getpid())
        await self.tick(notify=False)
        if background:
            self._task = asyncio.create_task(self._loop(), name="lease-keeper")

    async def stop(self) -> None:
        """After the recorder stopped its cameras: free every lease, so others take them without a TTL."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        held = {c: e for c, (e, _r) in self._held.items()}
        self._held.clear()
        try:
            await self._thread.run(self._release, held)
        except Exception as e:  # they expire after the TTL instead
            log.warning("could not release the camera leases: %s", e)
        try:
            if self.node_epoch:  # shown stopped (not down), and out of the others' live capacity at once
                await self._thread.run(mark_stopped, self.db, self.node, self.node_epoch)
        finally:
            self._thread.close()

    def _register(self) -> int:
        with self.db.session() as s:
            return cluster_repo.register_node(s, self.node, self.roles, self.url, self.capacity, now_ms(), __version__,
                                              self.ttl_ms)  # fmt: skip

    def _release(self, held: Mapping[int, int]) -> None:
        with self.db.session() as s:
            cluster_repo.release(s, self.node, held)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval())
            try:
                await self.tick()
            except Exception as e:  # a busy or unreachable database: the next tick retries (the TTL runs)
                log.warning("lease tick failed: %s", e)

    def _interval(self) -> float:
        normal = self.ttl_ms / 3000
        if self._hungry_since is not None and time.monotonic() - self._hungry_since < 2 * self.ttl_ms / 1000:
            return min(normal, HUNGRY_POLL_S)
        return normal

    # --- one pass ---------------------------------------------------------------------------------
    async def tick(self, notify: bool = True) -> TickResult:
        """Renew, claim up to the fair share, give up the surplus. Lost and taken cameras are reconciled
        by ``on_change`` at once; surplus cameras are stopped (through ``on_change``) before release."""
        held = {c: e for c, (e, _r) in self._held.items()}
        res, cams = await self._thread.run(self._claim_pass, held)
        # ``_held`` changes only here, on the event loop, where the recorder reads it.
        surplus = self._apply(res, cams)
        if (res.lost or res.taken) and notify and self._on_change is not None:
            await self._on_change()
        if surplus:
            # Out of the view first: the recorder stops them and catalogs their last segments under our
            # epoch; only then are the leases freed for the node that is short of its share.
            released = {c: self._held.pop(c)[0] for c in surplus if c in self._held}
            self._giving_up = set(released)
            try:
                if self._on_change is not None:
                    await self._on_change()
            finally:
                self._giving_up = set()
            await self._thread.run(self._release, released)
            res.released = sorted(released)
            log.info("gave up %d camera lease(s) for the balance: %s", len(released), res.released)
        return res

    def _claim_pass(self, held: dict[int, int]) -> tuple[TickResult, dict[int, list[str] | None]]:
        """The database part of a tick (one transaction, in a worker thread)."""
        now = now_ms()
        res = TickResult()
        with self.db.session() as s:
            cluster_repo.heartbeat(s, self.node, now)
            cams = cluster_repo.cameras(s)
            cluster_repo.ensure_leases(s, cams, now)
            kept = cluster_repo.renew(s, self.node, held, now, self.ttl_ms)
            res.lost = set(held) - kept
            recorders = [n for n in cluster_repo.live_nodes(s, now, self.ttl_ms) if "recorder" in n.roles]
            live_capacity = sum(n.capacity for n in recorders) + (0 if any(n.name == self.node for n in recorders)
                                                                  else self.capacity)  # fmt: skip
            share = fair_share(len(cams), self.capacity, live_capacity)
            res.share = share
            mine = {c for c in kept if c in cams and allowed(cams[c], self.node)}
            want = share - len(mine)
            if want > 0:
                # Cameras pinned to named nodes first: fewer nodes can take them.
                eligible = sorted((c for c, a in cams.items() if allowed(a, self.node) and c not in kept),
                                  key=lambda c: (cams[c] is None, c))  # fmt: skip
                res.taken = cluster_repo.claim(s, self.node, eligible, want, kept, now, self.ttl_ms)
        return res, cams

    def _apply(self, res: TickResult, cams: dict[int, list[str] | None]) -> list[int]:
        """Take the tick's result into ``_held``; returns the surplus cameras to give up."""
        share = res.share
        for c in res.lost:
            self._held.pop(c, None)
            log.warning("lost the lease of camera %d (taken over or deleted): stopping it", c)
        for t in res.taken:
            reason = None if t.previous_node is None else RESTART if t.previous_node == self.node else FAILOVER
            self._held[t.camera_id] = (t.epoch, reason)
            if reason:
                log.info("took camera %d over from %s (epoch %d)", t.camera_id, t.previous_node, t.epoch)
        # Surplus: deleted cameras, affinity changed away from us, or more than the share (the newest go).
        extra = sorted(c for c in self._held if c not in cams or not allowed(cams[c], self.node))
        keep = sorted(c for c in self._held if c not in extra)
        if len(keep) > share:
            extra += keep[share:]
        short = len(self._held) - len(extra) < share and len(cams) > len(self._held)
        if short and self._hungry_since is None:
            self._hungry_since = time.monotonic()
        elif not short:
            self._hungry_since = None
        self.ticks += 1
        return extra
