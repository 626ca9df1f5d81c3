"""The licence plate tables (docs/analytics.md, "Licence plates"): plate reads, and the hotlists and
allowlists they are checked against. Times are UTC epoch ms. Plates are stored normalised (upper case,
letters and digits only) next to their *key* (``ronda.analytics.plates.hotlist.plate_key``: the
letters a reader confuses with digits folded to the digit), which search and list matching compare."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ronda.store import access_models  # noqa: F401  (the organisations table the lists refer to)
from ronda.store.models import AUTOINCREMENT, Base, BigId


class PlateRead(Base):
    """One plate read by the ``plates`` analyser (its best read of a track), with its crop."""

    __tablename__ = "plate_reads"
    __table_args__ = (
        Index("ix_plate_reads_cam_time", "camera_id", "time_ms"),
        Index("ix_plate_reads_key_time", "plate_key", "time_ms"),
        Index("ix_plate_reads_time", "time_ms"),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    camera_id: Mapped[int] = mapped_column(Integer, ForeignKey("cameras.id", ondelete="CASCADE"))
    time_ms: Mapped[int] = mapped_column(BigInteger)
    plate: Mapped[str] = mapped_column(String(16))  # normalised: A-Z 0-9
    plate_key: Mapped[str] = mapped_column(String(16))  # O→0, I→1: what search and lists compare
    confidence: Mapped[float] = mapped_column(Float)
    box: Mapped[list[float] | None] = mapped_column(JSON)  # [x0, y0, x1, y1] normalised
    crop: Mapped[str | None] = mapped_column(String(500))  # the plate.read event's snapshot (under DATA/)
    event_id: Mapped[int | None] = mapped_column(BigInteger)  # its plate.read event (no key: events expire)
    track: Mapped[int | None] = mapped_column(BigInteger)
    format: Mapped[str | None] = mapped_column(String(16))  # the format the reader validated ("it", ...)
    # The lists it matched when it was read (kept when the list goes: the read is history).
    hotlist_id: Mapped[int | None] = mapped_column(Integer)
    allowlist_id: Mapped[int | None] = mapped_column(Integer)


class PlateList(Base):
    """A hotlist (wanted, stolen: a read raises ``plate.hotlist``) or an allowlist (residents, the city's
    own vehicles: the read is marked so that rules can skip it). ``organisation_id`` None: the site's
    list, applied to every camera; else applied to the cameras that organisation owns."""

    __tablename__ = "plate_lists"
    __table_args__ = (Index("ix_plate_lists_org", "organisation_id"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # hotlist | allowlist
    organisation_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("organisations.id", ondelete="CASCADE"), nullable=True
    )
    description: Mapped[str] = mapped_column(String(500), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    updated_by: Mapped[str] = mapped_column(String(200))


class PlateListEntry(Base):
    """A plate of a list, or a pattern (``*`` any run of characters, ``?`` one character)."""

    __tablename__ = "plate_list_entries"
    __table_args__ = (
        Index("ix_plate_list_entries_key", "plate_key"),
        Index("ux_plate_list_entries_list_plate", "list_id", "plate", unique=True),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    list_id: Mapped[int] = mapped_column(Integer, ForeignKey("plate_lists.id", ondelete="CASCADE"))
    plate: Mapped[str] = mapped_column(String(16))  # as entered, normalised (A-Z 0-9 * ?)
    plate_key: Mapped[str] = mapped_column(String(16))  # folded like reads' keys
    pattern: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(String(200), default="")
    valid_until_ms: Mapped[int | None] = mapped_column(BigInteger)  # None: until removed
    created_ms: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(200))
