"""Federation tables (migration 0021, docs/cluster.md "Federation").

At a remote site (a municipality): ``federation_peers`` are the sites it trusts (a police HQ), each with
the Ed25519 public key its requests are signed with, and ``federation_peer_grants`` the camera groups it
grants that peer, with the rights on them. At the centre: ``federation_sites`` are the remote sites it
reaches (base URL, their public key, which checks their answers) and ``federation_site_access`` which of
the centre's roles may use which of a remote site's groups (the centre limits too: a central user gets
the remote's grant intersected with its own role's rights).
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ronda.store.models import AUTOINCREMENT, Base


class FederationPeer(Base):
    __tablename__ = "federation_peers"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)  # the name the peer signs its requests as
    public_key: Mapped[str] = mapped_column(String(64))  # Ed25519, raw 32 bytes base64url
    created_ms: Mapped[int] = mapped_column(BigInteger)


class FederationPeerGrant(Base):
    __tablename__ = "federation_peer_grants"

    peer_id: Mapped[int] = mapped_column(ForeignKey("federation_peers.id", ondelete="CASCADE"), primary_key=True)
    camera_group_id: Mapped[int] = mapped_column(ForeignKey("camera_groups.id", ondelete="CASCADE"), primary_key=True)
    rights: Mapped[list[str]] = mapped_column(JSON)  # among live, playback, export, alarms


class FederationSite(Base):
    __tablename__ = "federation_sites"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(String(2048))  # the remote's base URL (http(s)://host:port)
    public_key: Mapped[str] = mapped_column(String(64))  # the remote's Ed25519 key: its answers are signed
    created_ms: Mapped[int] = mapped_column(BigInteger)


class FederationSiteAccess(Base):
    __tablename__ = "federation_site_access"

    site_id: Mapped[int] = mapped_column(ForeignKey("federation_sites.id", ondelete="CASCADE"), primary_key=True)
    remote_group: Mapped[str] = mapped_column(String(200), primary_key=True)  # the group's name at the remote
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True)


class FederationNonce(Base):
    """A nonce of a federation request token this site accepted (``cluster/federation.py``): the insert
    that adds it is the check that it was never used, on whichever API node the request reached. Kept
    until the token could no longer be accepted anyway (``exp_ms``)."""

    __tablename__ = "federation_nonces"
    __table_args__ = (Index("ix_federation_nonces_exp", "exp_ms"),)

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    exp_ms: Mapped[int] = mapped_column(BigInteger)
