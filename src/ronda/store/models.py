"""SQLAlchemy models: one schema for SQLite and PostgreSQL. Times are UTC epoch milliseconds."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL wants BIGINT for big tables.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# The table argument of every table whose id the database generates. Without it SQLite gives a new row
# the highest id in the table plus one, so deleting the newest row (or emptying the table) frees its id
# for the next insert, and whatever still names the old id (an alarm's rule, a case's event, an audit
# entry, a URL a client kept) would name the new row. AUTOINCREMENT never hands an id out twice, like a
# PostgreSQL sequence. Migration 0016 rebuilt the tables of existing databases so.
AUTOINCREMENT: dict[str, Any] = {"sqlite_autoincrement": True}


class Base(DeclarativeBase):
    pass


class Camera(Base):
    __tablename__ = "cameras"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    username: Mapped[str | None] = mapped_column(String(200))
    password_enc: Mapped[str | None] = mapped_column(Text)
    retention_days: Mapped[float | None] = mapped_column(Float)
    audio: Mapped[bool] = mapped_column(Boolean, default=False)
    # RTP transport the recorder asks for: auto | tcp | udp | http (ronda.config.Transport)
    transport: Mapped[str] = mapped_column(String(8), default="auto", server_default="auto")
    status: Mapped[str] = mapped_column(String(32), default="starting")
    status_reason: Mapped[str | None] = mapped_column(String(64))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    # Deleted cameras keep their footage until retention expires; the row stays for the catalog.
    deleted_ms: Mapped[int | None] = mapped_column(BigInteger)
    # Added by ONVIF: the device service URL, what the device said (devices/onvif/probe.DeviceInfo.summary)
    # and whether it can be steered. The ONVIF credentials are username/password_enc above.
    onvif_address: Mapped[str | None] = mapped_column(String(2048))
    onvif_info: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    ptz: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Recorder nodes that may record it (names; None: any node). A camera only one site's network reaches.
    node_affinity: Mapped[list[str] | None] = mapped_column(JSON)

    streams: Mapped[list[CameraStream]] = relationship(
        back_populates="camera", cascade="all, delete-orphan", order_by="CameraStream.kind"
    )


class CameraStream(Base):
    __tablename__ = "camera_streams"
    __table_args__ = (UniqueConstraint("camera_id", "kind"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # main | sub
    url: Mapped[str] = mapped_column(Text)
    record: Mapped[bool] = mapped_column(Boolean, default=True)
    codec: Mapped[str | None] = mapped_column(String(16))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    # With transport "auto": when the camera last refused RTP over TCP for this stream (the recorder
    # then uses UDP, and tries TCP again on a reconnect once this is an hour old); None: TCP works.
    tcp_refused_ms: Mapped[int | None] = mapped_column(BigInteger)

    camera: Mapped[Camera] = relationship(back_populates="streams")


class Segment(Base):
    __tablename__ = "segments"
    __table_args__ = (
        Index("ix_segments_cam_stream_start", "camera_id", "stream", "start_ms"),
        Index("ix_segments_start", "start_ms"),
        Index("ix_segments_location_start", "location", "start_ms"),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    camera_id: Mapped[int] = mapped_column(Integer, ForeignKey("cameras.id"))
    stream: Mapped[str] = mapped_column(String(8))
    start_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger)
    path: Mapped[str] = mapped_column(Text)  # relative to the recordings volume
    sha256: Mapped[str] = mapped_column(String(64))
    codec: Mapped[str | None] = mapped_column(String(16))
    recovered: Mapped[bool] = mapped_column(Boolean, default=False)
    # The recorder node that wrote it (cluster.node; "local" on a single box) and where the file lives:
    # "local" (under the node's recordings volume, ``path``) or "archive" (the object store, ``archive_key``).
    node: Mapped[str] = mapped_column(String(64), default="local", server_default="local")
    location: Mapped[str] = mapped_column(String(8), default="local", server_default="local")
    archive_key: Mapped[str | None] = mapped_column(Text)


class Gap(Base):
    __tablename__ = "gaps"
    __table_args__ = (Index("ix_gaps_cam_stream_start", "camera_id", "stream", "start_ms"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    camera_id: Mapped[int] = mapped_column(Integer, ForeignKey("cameras.id"))
    stream: Mapped[str] = mapped_column(String(8))
    start_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int | None] = mapped_column(BigInteger)  # NULL while the gap is still open
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)


class EvidenceLock(Base):
    __tablename__ = "evidence_locks"
    __table_args__ = (Index("ix_locks_cam", "camera_id", "start_ms"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[int] = mapped_column(Integer, ForeignKey("cameras.id"))
    start_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    until_ms: Mapped[int | None] = mapped_column(BigInteger)  # NULL: until unlocked
    created_by: Mapped[str] = mapped_column(String(200))
    created_ms: Mapped[int] = mapped_column(BigInteger)


class ExportJobRow(Base):
    """An evidence export job: who asked for what, and how it ended (the package is DATA/exports/<id>.zip)."""

    __tablename__ = "export_jobs"
    __table_args__ = (Index("ix_export_jobs_owner", "owner_id", "created_ms"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[int] = mapped_column(Integer)
    owner: Mapped[str] = mapped_column(String(200))
    cameras: Mapped[list[int]] = mapped_column(JSON)
    start_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int] = mapped_column(BigInteger)
    stream: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    case_ref: Mapped[str] = mapped_column(String(200), default="")
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # running | done | failed | cancelled | expired
    error: Mapped[str | None] = mapped_column(Text)
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    finished_ms: Mapped[int | None] = mapped_column(BigInteger)
    # The node whose disk holds the package (cluster.node; "local" on a single box)
    node: Mapped[str] = mapped_column(String(64), default="local", server_default="local")


class Bookmark(Base):
    """A named time range on one camera (an operator's note on the timeline)."""

    __tablename__ = "bookmarks"
    __table_args__ = (Index("ix_bookmarks_cam_start", "camera_id", "start_ms"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[int] = mapped_column(Integer, ForeignKey("cameras.id"))
    start_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int] = mapped_column(BigInteger)
    title: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(String(2000), default="")
    created_by: Mapped[str] = mapped_column(String(200))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int | None] = mapped_column(BigInteger)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_time", "time_ms"),
        Index("ix_events_cam_time", "camera_id", "time_ms"),
        Index("ux_events_uid", "uid", unique=True),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    time_ms: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32), default="system")
    severity: Mapped[str] = mapped_column(String(16), default="info")
    camera_id: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Producer's id (idempotent ingest: the same uid twice is one event), related cameras, a text to
    # search, and for analytics a snapshot reference and a box [x, y, w, h] (0..1 of the frame).
    uid: Mapped[str | None] = mapped_column(String(64))
    cameras: Mapped[list[int] | None] = mapped_column(JSON)
    text: Mapped[str | None] = mapped_column(String(500))
    snapshot: Mapped[str | None] = mapped_column(String(500))
    box: Mapped[list[float] | None] = mapped_column(JSON)


class SystemState(Base):
    """Small key/value facts about the running site (heartbeat, clean shutdown)."""

    __tablename__ = "system_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
