"""Validated configuration: one YAML file plus ``RONDA__SECTION__KEY`` environment overrides.

Every model forbids unknown keys, so a typo fails loudly with the path of the bad key instead of
being silently ignored (a city's retention setting must never be dropped by a misspelling).
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ronda.access.netguard import Allowance
from ronda.analytics.settings import AnalyticsSettings
from ronda.timeutil import zone


class ConfigError(Exception):
    """A configuration problem, with a message meant for the person who wrote the file."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SiteConfig(_Model):
    name: str = Field("Ronda", description="Site name written into evidence packages.")
    timezone: str = Field("UTC", description="IANA time zone used to show times to operators.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        zone(v)  # ValueError naming the zone; the loader adds the key (site.timezone)
        return v


class HttpConfig(_Model):
    host: str = Field("127.0.0.1", description="Address the API binds to.")
    port: int = Field(8080, ge=1, le=65535, description="TCP port of the API and web client.")
    tls_cert: Path | None = Field(None, description="PEM certificate chain: serve HTTPS (phones and Web Push need it).")
    tls_key: Path | None = Field(None, description="PEM private key of tls_cert.")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks of reverse proxies whose X-Forwarded-For/-Proto headers are believed; "
        "empty (the default): the client address is the TCP peer, whatever the headers say.",
    )

    # Annotated, so that type checkers without the pydantic plugin see the defaults.
    header_timeout_seconds: Annotated[
        float, Field(ge=1, le=300, description="A client must send a request's headers within this time (slowloris).")
    ] = 10
    max_connections_per_ip: Annotated[
        int, Field(ge=0, description="Open connections one address may hold (trusted proxies: no limit); 0: no limit.")
    ] = 256
    ws_write_stall_seconds: Annotated[
        float, Field(ge=1, le=300, description="A WebSocket peer that takes no data for this long is disconnected.")
    ] = 10
    metrics_token_file: Path | None = Field(
        None,
        description="A file holding the bearer token Prometheus sends to GET /metrics (that route only); "
        "unset: only a site-scope view_audit holder may read /metrics.",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, v: list[str]) -> list[str]:
        for entry in v:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return v

    @model_validator(mode="after")
    def _tls_pair(self) -> HttpConfig:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        for f in (self.tls_cert, self.tls_key):
            if f is not None and not f.is_file():
                raise ValueError(f"{f} is not a readable file")
        return self


class DatabaseConfig(_Model):
    url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite file ronda.db in the data directory.")
    busy_timeout_seconds: float = Field(
        30.0, gt=0, le=300,
        description="SQLite: how long a write waits while another process holds the database's write lock; "
        "then the API answers 503 and the recorder's catalog writes wait in its backlog.",
    )  # fmt: skip


class RecordingConfig(_Model):
    enabled: bool = Field(True, description="Run the recorder in this process (false: an API-only node).")
    segment_seconds: float = Field(6.0, gt=0.5, le=10, description="Target segment length (<= 10 s).")
    fragment_ms: int = Field(
        250, ge=100, le=1000, description="A fragment is flushed to disk at least this often (live latency)."
    )
    stall_timeout_seconds: float = Field(
        6.0, ge=2, le=60, description="No new media for this long on an open connection is a stall."
    )
    backoff_initial_seconds: float = Field(1.0, gt=0, le=60)
    backoff_max_seconds: float = Field(10.0, gt=0, le=600, description="Cap of the reconnect backoff.")
    probe_timeout_seconds: float = Field(10.0, gt=0, le=120)
    ffmpeg: str = Field("ffmpeg", description="ffmpeg executable.")
    ffprobe: str = Field("ffprobe", description="ffprobe executable.")


class StorageConfig(_Model):
    max_bytes: int | None = Field(None, gt=0, description="Budget for all recordings, in bytes.")
    delete_below_free_percent: float = Field(
        10.0, ge=0, le=90, description="Retention deletes oldest unlocked footage below this free space."
    )
    stop_below_free_bytes: int = Field(
        64 * 1024 * 1024, ge=0, description="Recording pauses (gap disk_full) below this free space."
    )
    default_retention_days: float = Field(30, gt=0, description="Retention of cameras that set none.")
    check_interval_seconds: float = Field(5.0, gt=0, le=3600)
    export_keep_days: float = Field(
        30, gt=0, le=3650, description="Finished export packages (DATA/exports) are deleted after this many days."
    )
    lock_max_range_days: float = Field(
        7, gt=0, le=366, description="Longest stretch of footage one evidence lock may cover."
    )
    lock_default_keep_days: float = Field(
        90, gt=0, le=3650, description="How long an evidence lock holds footage when its creator gives no 'until'."
    )
    lock_max_keep_days: float = Field(
        365, gt=0, le=3650, description="The latest 'until' of an evidence lock, counted from its creation."
    )


# How a camera's RTP reaches the recorder (ffmpeg's rtsp_transport). "auto": interleaved in the RTSP
# TCP connection first, UDP when the camera refuses TCP (RTSP 461); "http": RTSP tunnelled in HTTP.
Transport = Literal["auto", "tcp", "udp", "http"]
TRANSPORTS: tuple[Transport, ...] = ("auto", "tcp", "udp", "http")


class StreamConfig(_Model):
    url: str
    record: bool = True


class CameraConfig(_Model):
    name: str = Field(min_length=1, max_length=200)
    main: StreamConfig
    sub: StreamConfig | None = None
    username: str | None = None
    password: str | None = None
    retention_days: float | None = Field(None, gt=0)
    audio: bool = False
    transport: Transport = Field(
        "auto", description="RTP transport: auto (TCP, then UDP if the camera refuses TCP), tcp, udp or http."
    )
    analytics: AnalyticsSettings | None = Field(
        None,
        description="Analytics settings (docs/analytics.md): stored when the camera has none yet (added, or "
        "upgraded from a Ronda without analytics); after that the API (PUT /cameras/{id}/analytics) owns them.",
    )


class SmtpConfig(_Model):
    host: str
    port: int = Field(25, ge=1, le=65535)
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    sender: str = Field("ronda@localhost", description="From: address of alarm e-mails.")


class MqttConfig(_Model):
    host: str
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: str | None = None
    base_topic: str = Field("ronda", pattern=r"^[A-Za-z0-9_/-]{1,64}$")
    ingest: bool = Field(True, description="Accept sensor events on <base_topic>/<site>/ingest/<sensor>.")


class SensorConfig(_Model):
    name: str = Field(min_length=1, max_length=200)
    cameras: list[int] = Field(default_factory=list, max_length=16, description="Camera ids the sensor looks at.")
    type: str = Field("sensor.alert", pattern=r"^[a-z0-9_.-]{1,64}$", description="Default event type.")


class CorrelationConfig(_Model):
    """Events of different rules that are one incident (docs/alarms.md#one-incident-one-alarm)."""

    name: str = Field(min_length=1, max_length=64, description="Shown in the alarm's history.")
    types: list[Annotated[str, Field(pattern=r"^[a-z0-9_.*-]{1,64}$")]] = Field(
        min_length=1, max_length=16, description="Event types ('*' wildcards) that belong to the incident."
    )
    window_seconds: float = Field(
        60, ge=1, le=3600, description="Events of the same camera this close in time (either order) are one alarm."
    )


DEFAULT_CORRELATIONS = [{"name": "camera tamper", "types": ["camera.offline", "tamper.*"], "window_seconds": 60}]


class EventsConfig(_Model):
    retention_days: float = Field(90, gt=0, description="Events older than this are deleted (alarms stay).")
    default_rules: bool = Field(
        True, description="Install the default rules (camera offline, storage low, server clock jumped)."
    )
    action_lease_seconds: float = Field(
        300, ge=2, le=86_400,
        description="A rule action (webhook, notify, PTZ preset) still running this long after its node claimed "
        "it belongs to a dead node: another events node takes it over and runs it again.",
    )  # fmt: skip
    public_url: str | None = Field(None, description="Base URL of the web client, for links in notifications.")
    webpush_subject: str = Field("mailto:admin@localhost", description="VAPID subject (mailto: or https:).")
    webpush_allow_private_endpoints: bool = Field(
        False, description="Accept push endpoints on http or private addresses (tests, closed networks only)."
    )
    allowed_destinations: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="Webhook destinations allowed although they are not public: networks (10.0.0.0/8), addresses "
        "(127.0.0.1) or exact host names (hooks.example.org). Everything else on loopback, private, link-local, "
        "multicast or reserved addresses is refused when a rule is saved and again when it sends.",
    )

    @field_validator("allowed_destinations")
    @classmethod
    def _destinations(cls, v: list[str]) -> list[str]:
        Allowance.parse(v)  # ValueError naming the bad entry
        return v

    notify_limit: int = Field(
        5, ge=1, le=1000, description="Alarm notifications per user per window; the rest come as one summary."
    )
    notify_window_seconds: float = Field(60, ge=1, le=86400, description="The rate limit's window.")
    smtp: SmtpConfig | None = None
    mqtt: MqttConfig | None = None
    sensors: dict[str, SensorConfig] = Field(default_factory=dict, description="External sensors by id.")
    image_link_ttl_seconds: int = Field(
        300, ge=10, le=3600, description="How long the signed image link in a notification works."
    )
    correlate: list[CorrelationConfig] = Field(
        default_factory=lambda: [CorrelationConfig.model_validate(c) for c in DEFAULT_CORRELATIONS],
        max_length=20,
        description="Events of different rules that are one incident, so one alarm (camera offline and "
        "tamper by default); [] turns it off.",
    )


class PtzConfig(_Model):
    """Steering domes (docs/ptz.md): how long a user keeps a dome without commands, and the joystick's
    dead-man time."""

    session_timeout_seconds: float = Field(
        30, ge=0.2, le=3600, description="A user's hold on a dome ends this long after their last command."
    )
    deadman_seconds: float = Field(
        1.0, ge=0.1, le=10, description="A joystick move stops this long after its last refresh (a lost client)."
    )
    command_timeout_seconds: float = Field(
        5.0, gt=0, le=60, description="How long one command may take the camera before it counts as failed."
    )
    simulated_domes: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list,
        max_length=100,
        description="Tests and demos only: cameras whose name matches one of these patterns ('*' every camera, "
        "'Dome*') get an in-process simulated dome (ronda.ptz.simulated) instead of their real PTZ driver.",
    )


OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
# What a tile URL template may name: Leaflet's placeholders, nothing else.
_TILE_PLACEHOLDERS = frozenset({"s", "z", "x", "y", "r"})
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"^(?:{_LABEL}\.)*{_LABEL}$")


def tile_source(url: str) -> str:
    """The Content-Security-Policy source of a tile URL template (``https://tile.example.org``,
    ``https://*.tile.example.org`` for a ``{s}`` subdomain, with its port), or ValueError saying why the
    template is refused. It goes into a response header, so only a plain host name or address passes."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL template")
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise ValueError("must not carry credentials or a fragment")
    names = set(re.findall(r"\{([^{}]*)\}", url))
    if not {"z", "x", "y"} <= names or names - _TILE_PLACEHOLDERS:
        raise ValueError("must contain {z}, {x} and {y} (and may use {s} and {r}), nothing else in braces")
    if re.search(r"[\s;,'\"\\]", url):
        raise ValueError("must not contain spaces, quotes, backslashes, commas or semicolons")
    host = parts.hostname or ""
    wildcard = host.startswith("{s}.")
    bare = host.removeprefix("{s}.")
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        if not _HOST.match(bare):
            raise ValueError("must name a host (a {s}. subdomain prefix is allowed)") from None
    else:
        if wildcard:
            raise ValueError("{s} cannot prefix an IP address")
        bare = f"[{bare}]" if address.version == 6 else bare
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has a bad port") from None
    return f"{parts.scheme}://{'*.' if wildcard else ''}{bare}{f':{port}' if port else ''}"


class MapConfig(_Model):
    mode: Literal["auto", "plan", "geographic"] = Field(
        "auto",
        description="What #/map shows first: auto (the site plan when one is uploaded, else the geographic map), "
        "plan, or geographic.",
    )
    tile_url: str | None = Field(
        OSM_TILES,
        description="XYZ tile URL template of the geographic base map ({z}/{x}/{y}, optional {s}); null: no base "
        "map (cameras on a blank background). The web client may load images from its host only.",
    )
    attribution: str = Field("© OpenStreetMap contributors", max_length=300, description="Shown under the map.")
    max_zoom: int = Field(19, ge=1, le=22, description="The highest zoom level the tile server has.")

    @field_validator("tile_url", mode="before")
    @classmethod
    def _tiles(cls, v: object) -> object:
        if v == "":  # RONDA__MAP__TILE_URL= turns the base map off
            return None
        if isinstance(v, str):
            tile_source(v)  # ValueError naming the problem; the loader adds the key (map.tile_url)
        return v


class AnalyticsConfig(_Model):
    """The analytics runtime (docs/analytics.md): worker processes, back-pressure, models, plugins."""

    enabled: bool = Field(True, description="Run analytics with the recorder (needs the 'analytics' extra).")
    workers: int = Field(
        default_factory=lambda: max(1, min(8, (os.cpu_count() or 2) // 2)),
        ge=1,
        le=64,
        description="Worker processes; cameras are spread over them (default: half the cores, 1 to 8).",
    )
    max_queue_frames: int = Field(
        8, ge=1, le=300, description="Decoded frames waiting per camera; beyond, the oldest is dropped and counted."
    )
    rescan_seconds: float = Field(
        5.0, gt=0, le=3600, description="How often camera list and analytics settings are read again."
    )
    hang_seconds: float = Field(
        30.0, ge=2, le=3600, description="An analyser call or a silent worker this long: the worker is restarted."
    )
    models: dict[Annotated[str, Field(min_length=1, max_length=64)], Path] = Field(
        default_factory=dict, description="Object detection models (ONNX files) by name; 'default' is used unless "
        "a camera names another.")  # fmt: skip
    plate_retention_days: float = Field(
        30.0, gt=0, le=3650, description="Days a licence plate read (and its crop) is kept; never longer than "
        "the camera's footage (privacy law: keep it shorter than video).")  # fmt: skip
    plugins: list[Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*(:[A-Za-z_]\w*)?$")]] = Field(
        default_factory=list,
        max_length=32,
        description="Extra analysers, 'package.module:factory': factory(camera_id, settings) returns an "
        "analyser (feed(frame) -> results) or None; runs in the worker processes on every camera it accepts.",
    )


class ClusterConfig(_Model):
    """This process as one node of a site with many (docs/cluster.md). Unset on a single box."""

    node: str = Field(
        default_factory=lambda: socket.gethostname()[:64] or "local",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="This node's name, unique in the site (default: the host name).",
    )
    advertise_url: str | None = Field(
        None, max_length=2048, description="Where the other nodes reach this node's HTTP (http(s)://host:port)."
    )
    capacity: int = Field(100, ge=1, le=10_000, description="Cameras this recorder node may record.")
    lease_ttl_seconds: float = Field(
        10.0, ge=2, le=300, description="A recorder node that has not renewed its leases for this long loses them."
    )


class NatsConfig(_Model):
    """The event bus between the nodes of a site: NATS JetStream (docs/cluster.md#event-bus-nats-jetstream).
    Unset: the in-process bus of a single box."""

    servers: list[Annotated[str, Field(max_length=2048, pattern=r"^(nats|tls|ws|wss)://")]] = Field(
        default_factory=lambda: ["nats://127.0.0.1:4222"], min_length=1, max_length=16,
        description="NATS server URLs (nats:// or tls://), tried in turn; no password in them (credentials_file).",
    )  # fmt: skip
    stream: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_-]{1,64}$", description="JetStream stream name; default RONDA_<site name>."
    )
    credentials_file: Path | None = Field(
        None, description="NATS credentials file (.creds: user JWT and NKey seed); read by the client, never logged."
    )
    duplicate_window_seconds: float = Field(
        300, ge=10, le=86_400, description="JetStream drops a message whose Nats-Msg-Id it saw this recently."
    )
    max_age_hours: float = Field(24, gt=0, le=24 * 365, description="How long the stream keeps messages.")
    max_message_bytes: int = Field(
        256 * 1024, ge=4096, le=8 << 20, description="Larger messages are refused on publish and dropped on receipt."
    )
    ack_wait_seconds: float = Field(
        30, ge=1, le=3600, description="A message not acknowledged this long after delivery is delivered again."
    )
    max_deliver: int = Field(10, ge=1, le=1000, description="Deliveries of a message whose handler keeps failing.")

    @field_validator("servers")
    @classmethod
    def _no_password_in_url(cls, v: list[str]) -> list[str]:
        for url in v:
            if urlsplit(url).username is not None:  # user:password@ or a token@: secrets in logs
                raise ValueError("a server URL holds credentials: use credentials_file instead")
        return v


class ArchiveConfig(_Model):
    """The archive tier (docs/cluster.md#archive-s3): footage older than ``after_hours`` moves to an
    S3-compatible object store (AWS, MinIO, Ceph, SeaweedFS). The secret key is never in this file's
    values: it is read from ``secret_key_file`` or from the environment variable ``secret_key_env``."""

    endpoint_url: str | None = Field(
        None, max_length=2048, description="S3 endpoint (http(s)://host:port); none: AWS S3 of ``region``."
    )
    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", description="Bucket holding the archive.")
    region: str = Field("us-east-1", max_length=64, description="Region name sent with each request.")
    access_key_id: str = Field(min_length=1, max_length=256, description="Access key id of the archive's user.")
    secret_key_file: Path | None = Field(None, description="File holding the secret access key (one line).")
    secret_key_env: str = Field(
        "RONDA_ARCHIVE_SECRET_KEY",
        pattern=r"^[A-Z_][A-Z0-9_]*$",
        description="Environment variable holding the secret access key when ``secret_key_file`` is not set.",
    )
    prefix: str = Field(
        "", max_length=200, pattern=r"^[A-Za-z0-9._/-]*$", description="Key prefix (default: the site name)."
    )
    after_hours: float = Field(
        24, gt=0, le=24 * 3650, description="Segments older than this (hours, since their end) are archived."
    )
    camera_after_hours: dict[int, float] = Field(
        default_factory=dict, description="Per-camera age threshold in hours, by camera id (overrides after_hours)."
    )
    concurrency: int = Field(4, ge=1, le=64, description="Uploads in flight at once.")
    interval_seconds: float = Field(10, gt=0, le=3600, description="Pause between archiving passes when idle.")
    retry_initial_seconds: float = Field(
        2, gt=0, le=600, description="First wait after a failed pass (object store down)."
    )
    retry_max_seconds: float = Field(60, gt=0, le=3600, description="Cap of the retry backoff.")
    timeout_seconds: float = Field(30, gt=0, le=600, description="Connect and read timeout of one request.")
    object_lock: Literal["off", "governance", "compliance"] = Field(
        "off",
        description="Object lock mode for evidence-locked footage (the bucket must have object lock enabled); "
        "off: the store's own lock is not used (retention still never deletes locked footage).",
    )
    cache_bytes: int = Field(
        2 * 1024**3, ge=16 * 1024**2, description="Bound of DATA/archive-cache (archived segments being played)."
    )

    @field_validator("camera_after_hours")
    @classmethod
    def _positive(cls, v: dict[int, float]) -> dict[int, float]:
        for cam, hours in v.items():
            if hours <= 0:
                raise ValueError(f"camera {cam}: after_hours must be > 0")
        return v

    @model_validator(mode="after")
    def _secret_file(self) -> ArchiveConfig:
        if self.secret_key_file is not None and not self.secret_key_file.is_file():
            raise ValueError(f"secret_key_file {self.secret_key_file} is not a readable file")
        return self

    def secret_key(self) -> str:
        """The secret access key, from its file or environment variable (ConfigError when neither has it)."""
        if self.secret_key_file is not None:
            try:
                value = self.secret_key_file.read_text(encoding="utf-8").strip()
            except OSError as e:
                raise ConfigError(f"archive.secret_key_file: cannot read it: {e.strerror}") from None
        else:
            value = os.environ.get(self.secret_key_env, "").strip()
        if not value:
            f = self.secret_key_file
            where = f"file {f}" if f else f"environment variable {self.secret_key_env}"
            raise ConfigError(f"archive: no secret access key in the {where}")
        return value

    def after_ms(self, camera_id: int) -> int:
        return int(self.camera_after_hours.get(camera_id, self.after_hours) * 3_600_000)


class Config(_Model):
    data_dir: Path = Field(Path("./ronda-data"), description="Where database, keys and recordings live.")
    site: SiteConfig = SiteConfig()
    http: HttpConfig = HttpConfig()
    database: DatabaseConfig = DatabaseConfig()
    recording: RecordingConfig = RecordingConfig()
    storage: StorageConfig = StorageConfig()
    events: EventsConfig = EventsConfig()
    ptz: PtzConfig = PtzConfig()
    map: MapConfig = MapConfig()
    analytics: AnalyticsConfig = Field(default_factory=AnalyticsConfig)
    cluster: ClusterConfig | None = Field(None, description="Set on every node of a site with many nodes.")
    nats: NatsConfig | None = Field(None, description="The NATS JetStream event bus; unset: the in-process bus.")
    archive: ArchiveConfig | None = Field(None, description="The S3 archive tier; unset: footage stays on local disk.")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"
    cameras: list[CameraConfig] = Field(default_factory=list)

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_dir / 'ronda.db'}"

    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"


ENV_PREFIX = "RONDA__"


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    """``RONDA__STORAGE__MAX_BYTES=1000`` becomes ``{"storage": {"max_bytes": "1000"}}``."""
    out: dict[str, Any] = {}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in key[len(ENV_PREFIX) :].split("__") if p]
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"environment variable {key} conflicts with another override")
        if parts:
            node[parts[-1]] = value
    return out


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(merged.get(k), dict):
            merged[k] = _merge(merged[k], v)
        else:
            merged[k] = v
    return merged


def format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"invalid configuration in {source}:"]
    for e in err.errors():
        path = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling)"
        lines.append(f"  {path}: {msg}")
    return "\n".join(lines)


def load_config(
    path: Path | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> Config:
    """Load and validate the configuration; raise ConfigError with a readable message."""
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"cannot read configuration file {path}: {e.strerror}") from None
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise ConfigError(f"configuration file {path} is not valid YAML{where}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"configuration file {path} must be a mapping of keys to values")
        data = loaded
    data = _merge(data, _env_overrides(dict(os.environ if environ is None else environ)))
    if overrides:
        data = _merge(data, overrides)
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, source)) from None
