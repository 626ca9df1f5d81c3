"""What every route works with: the site's configuration, database, keys and running roles.

``ronda.runtime`` builds one; ``ronda.api.app.create_app`` serves it. Routes and dependencies import it
from here (not from ``app``, which imports the routes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ronda.access.audit import AuditLog
from ronda.access.secrets import SecretBox
from ronda.access.service import AuthService
from ronda.analytics.service import AnalyticsService
from ronda.cluster.federation import Federation
from ronda.cluster.nodes import NodeClient
from ronda.cluster.presence import NodePresence
from ronda.cluster.roles import ROLES
from ronda.config import Config
from ronda.events.service import EventsService
from ronda.media.export_jobs import ExportJobs
from ronda.media.live import LiveHub
from ronda.media.snapshot import SnapshotCache
from ronda.ptz.service import PtzService
from ronda.recording.recorder import Recorder
from ronda.store.catalog_cache import CatalogCache
from ronda.store.db import Database


@dataclass
class AppContext:
    cfg: Config
    db: Database
    secrets: SecretBox
    audit: AuditLog
    auth: AuthService
    events: EventsService  # bus, rules, alarms, notifications
    recorder: Recorder | None = None
    snapshots: SnapshotCache = field(default_factory=SnapshotCache)
    live: LiveHub | None = None  # started on the first live view
    exports: ExportJobs | None = None  # made by create_app when not given
    ptz: PtzService | None = None  # steering domes (docs/ptz.md)
    analytics: AnalyticsService | None = None  # worker processes, started with the recorder (docs/analytics.md)
    roles: frozenset[str] = frozenset(ROLES)  # what this process runs (ronda serve --role)
    nodes: NodeClient | None = None  # a node of a cluster: fetches from the other nodes (docs/cluster.md)
    federation: Federation | None = None  # remote sites and peers (docs/cluster.md, Federation)
    presence: NodePresence | None = None  # this node's row in ``nodes`` when no lease keeper keeps it
    catalog: CatalogCache = field(default_factory=CatalogCache)  # the camera list's rows (store/catalog_cache.py)
    started: bool = False
    # Whether the server is stopping (set by ``ronda serve``): a long answer (a peer's alarm stream) ends
    # then, instead of holding the graceful shutdown for its whole timeout.
    stopping: Callable[[], bool] = lambda: False
