"""Cluster tables (migrations 0017 and 0024, docs/cluster.md): the nodes of a site and the camera leases.

A recorder node records a camera only while it holds the camera's lease; every lease taken anew gets a
higher ``epoch`` (fencing token), and a catalog write names the epoch it was made under, so a node that
lost the lease (it was cut off, or frozen past the TTL) can never write a row for that camera again.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ronda.store.models import AUTOINCREMENT, Base


class Node(Base):
    __tablename__ = "nodes"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    roles: Mapped[list[str]] = mapped_column(JSON)
    url: Mapped[str | None] = mapped_column(String(2048))  # where the other nodes reach its HTTP
    capacity: Mapped[int] = mapped_column(Integer)  # cameras it may record (its share in the balance)
    epoch: Mapped[int] = mapped_column(BigInteger)  # bumped at each start of the process
    started_ms: Mapped[int] = mapped_column(BigInteger)
    last_seen_ms: Mapped[int] = mapped_column(BigInteger)
    # (migration 0024) the Ronda version it runs; when it stopped cleanly (None while it runs, or after a
    # crash: a node whose heartbeat is older than the TTL without it is down, not stopped)
    version: Mapped[str | None] = mapped_column(String(64))
    stopped_ms: Mapped[int | None] = mapped_column(BigInteger)
    # (migration 0029) its own heartbeat TTL (cluster.lease_ttl_seconds): the others judge it by this, not
    # by theirs (None: a row from before, judged by the viewer's)
    ttl_ms: Mapped[int | None] = mapped_column(BigInteger)


class CameraLease(Base):
    __tablename__ = "camera_leases"
    __table_args__ = (Index("ix_camera_leases_node", "node"),)

    camera_id: Mapped[int] = mapped_column(Integer, ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True)
    node: Mapped[str | None] = mapped_column(String(64))  # None: free (released or never taken)
    epoch: Mapped[int] = mapped_column(BigInteger)  # fencing token: grows with every new holder
    expires_ms: Mapped[int] = mapped_column(BigInteger)
    acquired_ms: Mapped[int] = mapped_column(BigInteger)
