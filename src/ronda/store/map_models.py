"""The site map's table: one row per placed camera (the plan's description stays one ``system_state``
value, ``map.plan``; its file lives in ``DATA/map/``)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from ronda.store.models import Base


class MapPosition(Base):
    """Where a camera is on the plan. One row per camera, so two edits of different cameras never
    touch the same value, whichever process makes them. ``x``/``y`` (fractions of an image plan) and
    ``lat``/``lon`` (GeoJSON plans) are kept side by side: a camera keeps its place on each kind."""

    __tablename__ = "map_positions"

    camera_id: Mapped[int] = mapped_column(Integer, ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True)
    x: Mapped[float | None] = mapped_column(Float)
    y: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    # What the camera looks at on the geographic map (migration 0012): degrees clockwise from north,
    # field of view in degrees, range in metres.
    direction: Mapped[float | None] = mapped_column(Float)
    fov: Mapped[float | None] = mapped_column(Float)
    range_m: Mapped[float | None] = mapped_column(Float)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
