"""Wiring: configuration → database → recorder → API, run until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import signal
from collections.abc import Callable
from pathlib import Path

import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from ronda.access import keys
from ronda.access.audit import AuditLog
from ronda.access.rights import ensure_builtin_roles
from ronda.access.secrets import SecretBox
from ronda.access.service import AuthService
from ronda.analytics import repository as analytics_repo
from ronda.analytics.model import MotionSecond
from ronda.analytics.plates import retention as plate_retention
from ronda.analytics.service import AnalyticsService
from ronda.analytics.settings import AnalyticsSettings
from ronda.api.app import create_app
from ronda.api.context import AppContext
from ronda.api.protocols import Limits, protocols
from ronda.cluster import federation, federation_alarms
from ronda.cluster.leases import LeaseKeeper
from ronda.cluster.nodes import NodeClient, UrlSigner
from ronda.cluster.presence import NodePresence
from ronda.cluster.roles import ROLES
from ronda.config import CameraConfig, Config
from ronda.devices import registry
from ronda.devices.onvif.camera import dome_from_row
from ronda.devices.ptz import PtzDriver
from ronda.events.service import EventsService
from ronda.media import segment_source
from ronda.media.evidence import SITE_KEY_FILE, load_site_key
from ronda.ptz.drivers import DriverFactory, Drivers, simulated_factory
from ronda.ptz.service import PtzService
from ronda.recording.archive import Archiver
from ronda.recording.recorder import Recorder
from ronda.store import repos
from ronda.store.db import Database
from ronda.store.models import Camera
from ronda.timeutil import now_ms

log = logging.getLogger(__name__)


def private_data_dir(data_dir: Path) -> None:
    """Create the data directory owner-only (0700), and tighten one an older version left open.

    It holds the database (users, password hashes, audit), keys, recordings and exports: nothing in
    it is for other local users. New files are private through the process umask (cli.main); files an
    older version created 0644 are unreachable once their directory is 0700, so recordings are not
    walked (there may be millions). The database files and keys are tightened too, being small.
    """
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for p in [data_dir, *data_dir.glob("ronda.db*"), data_dir / "keys", *data_dir.glob("keys/*")]:
        keys.tighten(p, 0o700)


def open_database(cfg: Config, migrate: bool) -> Database:
    private_data_dir(cfg.data_dir)
    db = Database(cfg.database_url, cfg.database.busy_timeout_seconds)
    if migrate:
        db.upgrade()
    db.check()
    return db


def load_secrets(cfg: Config) -> SecretBox:
    return SecretBox.load_or_create(cfg.data_dir / "keys" / "secrets.key")


def import_cameras(db: Database, secrets: SecretBox, cameras: list[CameraConfig]) -> None:
    """Cameras declared in the configuration are added once, by name; the API manages them after. A
    camera's ``analytics`` block likewise fills the camera's analytics settings only while it has none
    (a camera added now, or one added before analytics existed); after that the API owns them."""
    with db.session() as s:
        existing = {c.name for c in repos.list_cameras(s)}
    for c in cameras:
        if c.name in existing:
            continue
        registry.create_camera(
            db,
            secrets,
            registry.CameraCreate(
                name=c.name,
                url=c.main.url,
                record_main=c.main.record,
                sub_url=c.sub.url if c.sub else None,
                record_sub=c.sub.record if c.sub else False,
                username=c.username,
                password=c.password,
                retention_days=c.retention_days,
                audio=c.audio,
                transport=c.transport,
            ),
            check_reachable=False,
        )
    with_analytics = {c.name: c.analytics for c in cameras if c.analytics is not None}
    if with_analytics:
        with db.session() as s:
            for cam in repos.list_cameras(s):
                settings = with_analytics.get(cam.name)
                if settings is not None and analytics_repo.get_settings(s, cam.id) is None:
                    analytics_repo.put_settings(s, cam.id, settings, "config", now_ms())


def keys_dir(cfg: Config) -> Path:
    return cfg.data_dir / "keys"


def site_key(cfg: Config) -> Ed25519PrivateKey:
    """The site's evidence signing key (Ed25519), created on first use; publish its public half."""
    return load_site_key(keys_dir(cfg) / SITE_KEY_FILE)


def open_audit(cfg: Config, db: Database) -> AuditLog:
    return AuditLog.open(db, keys_dir(cfg))


def ptz_driver_factory(cfg: Config, secrets: SecretBox) -> DriverFactory:
    """Which PTZ driver a camera gets (``ronda.ptz.drivers``): an ONVIF dome for a camera added by ONVIF
    whose device reported PTZ (built from its row without I/O: it connects on first use), none for the
    others; the in-process simulated dome on the cameras named by ``ptz.simulated_domes`` (API tests)."""

    def real(cam: Camera) -> PtzDriver | None:
        return dome_from_row(cam, secrets)

    if cfg.ptz.simulated_domes:
        return simulated_factory(cfg.ptz.simulated_domes, fallback=real)
    return real


def analytics_settings(db: Database) -> Callable[[int], AnalyticsSettings]:
    """A camera's stored analytics settings; with none, motion over the whole frame."""

    def read(camera_id: int) -> AnalyticsSettings:
        with db.session() as s:
            return analytics_repo.get_settings(s, camera_id) or AnalyticsSettings()

    return read


def motion_store(db: Database) -> Callable[[list[MotionSecond]], None]:
    """Where the analytics service writes its per-second motion records (one batch, one transaction)."""

    def write(rows: list[MotionSecond]) -> None:
        with db.session() as s:
            analytics_repo.add_motion(s, rows)

    return write


def analytics_prune(db: Database, default_retention_days: float, data_dir: Path | None = None,
                    plate_retention_days: float | None = None) -> Callable[[], None]:  # fmt: skip
    """Motion and object records of cameras with no recording at all (retention's hook never sees them);
    plate reads past ``plate_retention_days`` (with their crops under ``data_dir``)."""

    def prune() -> None:
        with db.session() as s:
            analytics_repo.prune_unrecorded(s, now_ms(), default_retention_days)
        if data_dir is not None and plate_retention_days is not None:
            with db.session() as s:
                plate_retention.prune_expired(s, data_dir, now_ms(), plate_retention_days, default_retention_days)

    return prune


def footage_prune(data_dir: Path) -> analytics_repo.PruneHook:
    """What goes with deleted footage: motion and object records, plate reads and their crops."""
    plates = plate_retention.footage_hook(data_dir)

    def prune(s: Session, deleted_until: dict[int, int]) -> None:
        analytics_repo.prune(s, deleted_until)
        plates(s, deleted_until)

    return prune


def archive_prefix(cfg: Config) -> str:
    """The archive's key prefix: ``archive.prefix``, else the site name made key-safe."""
    assert cfg.archive is not None
    return cfg.archive.prefix or re.sub(r"[^A-Za-z0-9._-]+", "-", cfg.site.name).strip("-") or "ronda"


def build(cfg: Config, migrate: bool, record: bool = True, roles: frozenset[str] = frozenset(ROLES)) -> AppContext:
    """The process's services. ``roles`` (``ronda.cluster.roles``): without ``recorder`` nothing records
    here (an API-only node); with ``cfg.nats`` set, ``events`` and ``api`` decide which bus consumers run
    here (events/service.py); without it every process runs them all (docs/cluster.md)."""
    record = record and "recorder" in roles
    db = open_database(cfg, migrate)
    db.quiet_outage_logs()
    secrets = load_secrets(cfg)
    audit = open_audit(cfg, db)
    with db.session() as s:
        ensure_builtin_roles(s)
    import_cameras(db, secrets, cfg.cameras)
    auth = AuthService(db, keys_dir(cfg), secrets, audit, shared_tickets=cfg.cluster is not None)
    recorder = None
    if record and cfg.recording.enabled:
        # Cluster mode: only the cameras this node holds a lease for (docs/cluster.md, leases and failover).
        leases = LeaseKeeper(db, cfg.cluster, sorted(roles)) if cfg.cluster is not None else None
        recorder = Recorder(cfg, db, secrets, audit=audit, leases=leases)
    events = EventsService(cfg, db, audit, secrets, roles=roles)
    if recorder is not None:
        recorder.on_events = events.relay.poke  # camera offline/online: published at once
    ptz = PtzService(cfg.ptz, db, audit, Drivers(db, ptz_driver_factory(cfg, secrets)))
    events.engine.ptz = ptz  # the rules' ptz_preset action (events cannot import ptz: layers)
    analytics = None
    if recorder is not None:
        # Motion and object records go with the footage they describe (retention.py's hook).
        recorder.retention.on_deleted = footage_prune(cfg.data_dir)
    # The read path of recorded footage; with an archive, its client is made (and its secret read) now,
    # so a missing secret stops the start instead of failing the first playback.
    source = segment_source.of(cfg, db)
    if recorder is not None and cfg.archive is not None and source.store is not None:
        recorder.retention.archive = source.store
        node = cfg.cluster.node if cfg.cluster is not None else "local"
        recorder.archiver = Archiver(cfg.archive, db, cfg.recordings_dir, source.store, archive_prefix(cfg), node)
    if recorder is not None and cfg.analytics.enabled:
        # Analytics reads the fragments this process's recorder writes (no second camera connection).
        analytics = AnalyticsService(cfg.analytics, db, cfg.recordings_dir, cfg.data_dir,
                                     settings_for=analytics_settings(db), store_motion=motion_store(db),
                                     on_events=events.relay.poke, log_level=cfg.log_level,
                                     housekeeping=analytics_prune(db, cfg.storage.default_retention_days, cfg.data_dir,
                                                                  cfg.analytics.plate_retention_days),
                                     timezone=cfg.site.timezone)  # fmt: skip
    nodes = node_client(cfg, db, recorder)
    if nodes is not None:  # playback, HLS VOD and export read another node's recent footage through it
        segment_source.of(cfg, db).remote = nodes.fetch_segment
    fed = federation.Federation(db, federation.load_key(keys_dir(cfg)), cfg.site.name,
                                spool_dir=cfg.data_dir / "spool")  # docs/cluster.md  # fmt: skip
    federation_alarms.attach(fed)  # remote alarms pushed to this centre's users
    # Every node of a cluster is in ``nodes``: a recorder through its lease keeper, any other node here.
    presence = None
    if cfg.cluster is not None and (recorder is None or recorder.leases is None):
        presence = NodePresence(db, cfg.cluster, roles)
    return AppContext(cfg=cfg, db=db, secrets=secrets, audit=audit, auth=auth, recorder=recorder, events=events,
                      ptz=ptz, analytics=analytics, nodes=nodes, roles=roles, federation=fed,
                      presence=presence)  # fmt: skip


def node_client(cfg: Config, db: Database, recorder: Recorder | None) -> NodeClient | None:
    """On a node of a cluster: how it fetches live view and recent footage from the recording node
    (``ronda.cluster.nodes``), signing with a key derived from the site's shared secrets key."""
    if cfg.cluster is None:
        return None

    def records_here(camera_id: int) -> bool:
        return recorder is not None and any(cid == camera_id for cid, _ in list(recorder.streams))

    signer = UrlSigner.from_site_key(keys.fernet_key(keys_dir(cfg) / "secrets.key"))
    return NodeClient(db, signer, cfg.cluster.node, cfg.data_dir / "cache" / "nodes", records_here)


async def serve(ctx: AppContext, on_ready: object = None) -> None:
    app = create_app(ctx)
    h = ctx.cfg.http
    # uvicorn has no header timeout, no per-address connection limit and no bound on how long a
    # WebSocket send may wait for a peer that does not read: see ronda.api.protocols.
    http_protocol, ws_protocol = protocols(Limits(h.header_timeout_seconds, h.max_connections_per_ip,
                                                  h.ws_write_stall_seconds, h.trusted_proxies))  # fmt: skip
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=ctx.cfg.http.host,
            port=ctx.cfg.http.port,
            http=http_protocol,
            ws=ws_protocol,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
            # No permessage-deflate: browsers offer it and uvicorn accepts it by default, and then every
            # live fragment (H.264/H.265: it does not compress) was deflated once per viewer, ~0.4 ms a
            # sub-stream fragment and ~2 ms a 1080p one, with a compressor's memory per socket.
            ws_per_message_deflate=False,
            # uvicorn believes X-Forwarded-For from 127.0.0.1 by default: any local process, or a
            # proxy that passes the header through, could then write any address into the audit log
            # and dodge the login throttle. Only configured proxies are believed.
            proxy_headers=bool(ctx.cfg.http.trusted_proxies),
            forwarded_allow_ips=list(ctx.cfg.http.trusted_proxies) or None,
            ssl_certfile=str(ctx.cfg.http.tls_cert) if ctx.cfg.http.tls_cert else None,
            ssl_keyfile=str(ctx.cfg.http.tls_key) if ctx.cfg.http.tls_key else None,
        )
    )
    ctx.stopping = lambda: server.should_exit
    # uvicorn re-raises the signal that stopped it after the shutdown hooks ran (the recorder has
    # closed its segments by then); these handlers make that a clean exit 0 instead of a kill.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    # Everything loaded so far lives as long as the process: keep it out of the collector's full
    # passes, which otherwise stall the event loop for ~90 ms several times a minute under load.
    gc.collect()
    gc.freeze()
    await server.serve()
    if not server.started:
        raise RuntimeError(f"the API could not listen on {ctx.cfg.http.host}:{ctx.cfg.http.port}")


def run(ctx: AppContext) -> None:
    try:
        asyncio.run(serve(ctx))
    finally:
        ctx.audit.close()
        ctx.db.dispose()


def data_dir_config(data_dir: Path | None, config: Path | None) -> Config:
    from ronda.config import load_config

    if config is not None:
        return load_config(config)
    return load_config(None, overrides={"data_dir": str(data_dir or Path("./ronda-data"))})
