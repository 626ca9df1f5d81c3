"""Registering both ends of a federation (docs/cluster.md "Federation"): the peers a remote trusts and the
camera groups it grants each, the remote sites a centre reaches and which of its roles may use which remote
group. The API's administration routes and ``ronda federation add-peer|add-site`` use it; every change is
audited. The signed traffic itself is ``cluster/federation.py``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from ronda.access.audit import AuditLog
from ronda.cluster.federation import FEDERATION_RIGHTS, Federation, SiteState, parse_public_key
from ronda.errors import Conflict, Invalid, NotFound
from ronda.store import access_models as am
from ronda.store.db import Database
from ronda.store.federation_models import FederationPeer, FederationPeerGrant, FederationSite, FederationSiteAccess
from ronda.timeutil import now_ms

_Row = TypeVar("_Row", FederationPeer, FederationSite)


def check_url(url: str) -> str:
    """A remote's base URL: http(s)://host[:port] with no credentials, query or fragment."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise Invalid("url: http(s)://host[:port] of the remote site, without credentials")
    if parts.query or parts.fragment:
        raise Invalid("url: no query or fragment")
    return url.strip().rstrip("/")


def role_ids(s: Session, names: Iterable[str]) -> dict[str, int]:
    """Role name → id; ``Invalid`` naming the first unknown role."""
    out: dict[str, int] = {}
    for n in names:
        rid = s.scalar(select(am.Role.id).where(am.Role.name == n))
        if rid is None:
            raise Invalid(f"no role named {n!r}")
        out[n] = rid
    return out


# --- registering both ends (the API and ``ronda federation add-peer|add-site``) ------------------------------
def add_peer(db: Database, audit: AuditLog, actor: str, name: str, public_key: str,
             grants: list[tuple[str, list[str]]], source_ip: str | None = None) -> int:  # fmt: skip
    """Trust a peer site: ``grants`` are (camera group of this site, rights) pairs. Returns its id."""
    parse_public_key(public_key)
    if not name or len(name) > 64 or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise Invalid("name: 1 to 64 characters, no control characters")
    with db.session() as s:
        if s.scalar(select(FederationPeer.id).where(FederationPeer.name == name)) is not None:
            raise Conflict(f"a peer named {name!r} exists")
        peer = FederationPeer(name=name, public_key=public_key.strip(), created_ms=now_ms())
        s.add(peer)
        s.flush()
        merged: dict[str, set[str]] = {}  # a group named twice: the union of its rights
        for group, rights in grants:
            bad = sorted(set(rights) - set(FEDERATION_RIGHTS))
            if bad or not rights:
                raise Invalid(f"grants: rights are some of {', '.join(FEDERATION_RIGHTS)} (not {', '.join(bad)})")
            merged.setdefault(group, set()).update(rights)
        for group, rights in ((g, sorted(r)) for g, r in merged.items()):
            # Site-owned groups only: an organisation's group is the organisation's to share.
            gid = s.scalar(select(am.CameraGroup.id).where(am.CameraGroup.name == group,
                                                           am.CameraGroup.organisation_id.is_(None)))  # fmt: skip
            if gid is None:
                raise Invalid(f"grants: no camera group of the site named {group!r}")
            s.add(FederationPeerGrant(peer_id=peer.id, camera_group_id=gid, rights=rights))
        s.flush()
        audit.record(s, actor, "federation.peer.add", source_ip=source_ip,
                     details={"peer": name, "grants": [{"group": g, "rights": r} for g, r in grants]})  # fmt: skip
        return peer.id


def add_site(db: Database, audit: AuditLog, actor: str, name: str, url: str, public_key: str,
             access: list[tuple[str, list[str]]], source_ip: str | None = None) -> int:  # fmt: skip
    """Register a remote site: ``access`` are (remote camera group, roles of this site) pairs. Returns its id."""
    parse_public_key(public_key)
    url = check_url(url)
    if not name or len(name) > 64 or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise Invalid("name: 1 to 64 characters, no control characters")
    with db.session() as s:
        if s.scalar(select(FederationSite.id).where(FederationSite.name == name)) is not None:
            raise Conflict(f"a remote site named {name!r} exists")
        site = FederationSite(name=name, url=url, public_key=public_key.strip(), created_ms=now_ms())
        s.add(site)
        s.flush()
        pairs: set[tuple[str, int]] = set()
        for group, roles in access:
            if not group or len(group) > 200:
                raise Invalid("access: a group name of 1 to 200 characters")
            pairs |= {(group, rid) for rid in role_ids(s, roles).values()}
        for group, rid in sorted(pairs):
            s.add(FederationSiteAccess(site_id=site.id, remote_group=group, role_id=rid))
        s.flush()
        opened = [{"group": g, "roles": r} for g, r in access]
        audit.record(s, actor, "federation.site.add", source_ip=source_ip,
                     details={"site": name, "url": url, "access": opened})  # fmt: skip
        return site.id


def parse_pairs(items: list[str], what: str) -> list[tuple[str, list[str]]]:
    """``GROUP=a,b`` arguments of the CLI as (GROUP, [a, b]); ``Invalid`` for one without ``=``."""
    out = []
    for item in items:
        group, sep, rest = item.rpartition("=")
        values = [v.strip() for v in rest.split(",") if v.strip()]
        if not sep or not group.strip() or not values:
            raise Invalid(f"{what}: GROUP=value[,value...], got {item!r}")
        out.append((group.strip(), values))
    return out


# --- reading and removing (the API) ----------------------------------------------------------------------------
def _peer_view(s: Session, peer: FederationPeer) -> dict[str, Any]:
    rows = s.execute(
        select(am.CameraGroup.name, FederationPeerGrant.rights)
        .join(am.CameraGroup, am.CameraGroup.id == FederationPeerGrant.camera_group_id)
        .where(FederationPeerGrant.peer_id == peer.id)
        .order_by(am.CameraGroup.name)
    ).all()
    return {"id": peer.id, "name": peer.name, "public_key": peer.public_key,
            "grants": [{"group": g, "rights": list(r)} for g, r in rows]}  # fmt: skip


def peers(db: Database) -> list[dict[str, Any]]:
    """The peers this site trusts, by name, each with the camera groups granted to it."""
    with db.session() as s:
        return [_peer_view(s, p) for p in s.scalars(select(FederationPeer).order_by(FederationPeer.name))]


def peer(db: Database, peer_id: int) -> dict[str, Any]:
    with db.session() as s:
        row = s.get(FederationPeer, peer_id)
        if row is None:
            raise NotFound("peer")
        return _peer_view(s, row)


def _delete(db: Database, audit: AuditLog, actor: str, model: type[_Row], row_id: int, what: str,
            source_ip: str | None) -> None:  # fmt: skip
    with db.session() as s:
        row = s.get(model, row_id)
        if row is None:
            raise NotFound("peer" if what == "peer" else "remote site")
        name = row.name
        s.delete(row)
        s.flush()
        audit.record(s, actor, f"federation.{what}.delete", source_ip=source_ip, details={what: name})


def delete_peer(db: Database, audit: AuditLog, actor: str, peer_id: int, source_ip: str | None = None) -> None:
    """Stop trusting a peer (its next request is refused); audited."""
    _delete(db, audit, actor, FederationPeer, peer_id, "peer", source_ip)


def _site_view(s: Session, site: FederationSite, live: Federation | None) -> dict[str, Any]:
    rows = s.execute(
        select(FederationSiteAccess.remote_group, am.Role.name)
        .join(am.Role, am.Role.id == FederationSiteAccess.role_id)
        .where(FederationSiteAccess.site_id == site.id)
        .order_by(FederationSiteAccess.remote_group, am.Role.name)
    ).all()
    access: dict[str, list[str]] = {}
    for group, role in rows:
        access.setdefault(group, []).append(role)
    st = live.sites.get(site.id) if live is not None else None
    state = st.view() if st is not None else SiteState(site.id, site.name, site.url, site.public_key).view()
    return {**state, "name": site.name, "url": site.url, "public_key": site.public_key,
            "access": [{"group": g, "roles": r} for g, r in access.items()]}  # fmt: skip


def sites(db: Database, live: Federation | None) -> list[dict[str, Any]]:
    """The remote sites this centre reaches, by name, each with its state as ``live`` (this node's
    poller) knows it and the roles that may use each remote group."""
    with db.session() as s:
        return [_site_view(s, x, live) for x in s.scalars(select(FederationSite).order_by(FederationSite.name))]


def site(db: Database, site_id: int, live: Federation | None) -> dict[str, Any]:
    with db.session() as s:
        row = s.get(FederationSite, site_id)
        if row is None:
            raise NotFound("remote site")
        return _site_view(s, row, live)


def delete_site(db: Database, audit: AuditLog, actor: str, site_id: int, source_ip: str | None = None) -> None:
    """Forget a remote site; audited."""
    _delete(db, audit, actor, FederationSite, site_id, "site", source_ip)
