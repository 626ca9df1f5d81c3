"""The cases tables (docs/cases.md): a case file for an offence (illegal dumping, graffiti, vandalism, an
incident), its cameras, what it was made from (events, alarms, bookmarks), its notes, its signed evidence
packages and its snapshots. Times are UTC epoch ms; money is a whole number of cents with its currency."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ronda.store.models import AUTOINCREMENT, Base, BigId


class Case(Base):
    """One case. ``number`` ("2026-000123") is unique: ``year`` and ``seq`` are its parts, unique together."""

    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("year", "seq", name="ux_cases_year_seq"),
        UniqueConstraint("number", name="ux_cases_number"),
        Index("ix_cases_org_offence", "organisation_id", "offence_ms"),
        Index("ix_cases_status", "status"),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(20))
    year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(16))  # dumping | graffiti | vandalism | incident | other
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # draft | under_review | fine_issued | dismissed | closed
    camera_id: Mapped[int] = mapped_column(Integer)  # the main camera (its place: the map position below)
    map_x: Mapped[float | None] = mapped_column(Float)
    map_y: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    offence_ms: Mapped[int] = mapped_column(BigInteger)  # when the offence happened (the first event)
    window_start_ms: Mapped[int] = mapped_column(BigInteger)  # the footage the evidence covers
    window_end_ms: Mapped[int] = mapped_column(BigInteger)
    plate: Mapped[str] = mapped_column(String(16), default="")
    offender: Mapped[str] = mapped_column(Text, default="")  # description of the offender
    fine_reference: Mapped[str] = mapped_column(String(64), default="")
    # The amount in cents: exact on every database (SQLite has no decimal type); the API shows "80.00".
    fine_cents: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    organisation_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("organisations.id", ondelete="SET NULL"))
    created_by: Mapped[str] = mapped_column(String(200))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class CaseCamera(Base):
    """The cameras of a case (the main one included): seeing the case needs ``cases`` on each."""

    __tablename__ = "case_cameras"
    __table_args__ = (Index("ix_case_cameras_camera", "camera_id"),)

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    camera_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class CaseLink(Base):
    """What the case was made from or refers to: an event, an alarm or a bookmark (by id: events expire,
    the case keeps the reference)."""

    __tablename__ = "case_links"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # event | alarm | bookmark
    ref_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    time_ms: Mapped[int | None] = mapped_column(BigInteger)
    label: Mapped[str] = mapped_column(String(200), default="")  # the event type, the alarm or bookmark title


class CaseNote(Base):
    """An officer's note (also the reasons given for status changes)."""

    __tablename__ = "case_notes"
    __table_args__ = (Index("ix_case_notes_case", "case_id", "id"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    time_ms: Mapped[int] = mapped_column(BigInteger)
    author: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)


class CaseEvidence(Base):
    """A signed evidence package of the case: the export job that makes it and, once it is done, the
    package's SHA-256, the manifest's per-file hashes and the signing key's fingerprint (kept after the
    package file itself expires, so the report can still be checked against a copy)."""

    __tablename__ = "case_evidence"
    __table_args__ = (UniqueConstraint("case_id", "export_id", name="ux_case_evidence_export"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    export_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # pending | done | failed
    error: Mapped[str | None] = mapped_column(String(500))
    sha256: Mapped[str | None] = mapped_column(String(64))
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    files: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)  # [{"name", "sha256", "bytes"}]
    key_fingerprint: Mapped[str | None] = mapped_column(String(120))
    cameras: Mapped[list[int]] = mapped_column(JSON)
    start_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int] = mapped_column(BigInteger)
    added_by: Mapped[str] = mapped_column(String(200))
    added_ms: Mapped[int] = mapped_column(BigInteger)
    finished_ms: Mapped[int | None] = mapped_column(BigInteger)


class CaseSnapshot(Base):
    """A picture of the case: an event's snapshot (a JPEG under ``DATA/analytics/snapshots``)."""

    __tablename__ = "case_snapshots"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    camera_id: Mapped[int] = mapped_column(Integer)
    time_ms: Mapped[int] = mapped_column(BigInteger)
    path: Mapped[str] = mapped_column(String(500))  # relative to the data directory
    event_id: Mapped[int | None] = mapped_column(BigInteger)
