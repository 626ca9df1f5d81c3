"""The demo's small realistic site: two organisations, camera groups, and four accounts."""

from __future__ import annotations

from sqlalchemy import select

from ronda.access import passwords
from ronda.access.rights import LIVE, PLAYBACK, ensure_builtin_roles
from ronda.access.service import create_user
from ronda.store.access_models import (
    CameraGroup,
    CameraGroupMember,
    CameraShare,
    Organisation,
    Role,
    RoleScope,
    User,
)
from ronda.store.db import Database

POLICE = "Polizia Locale"
TOWN_HALL = "Municipio"


def _get_or_add(s, model, **kw):  # type: ignore[no-untyped-def]
    row = s.scalar(select(model).filter_by(**kw))
    if row is None:
        row = model(**kw)
        s.add(row)
        s.flush()
    return row


def seed_demo(db: Database, cameras: dict[int, int], password: str) -> None:
    """``cameras``: camera number → camera id. Idempotent; the accounts get ``password``.

    - Polizia Locale owns groups "Odd cameras" and "Even cameras"; the even group is shared with
      the Municipio (a camera shared with another organisation).
    - admin: administrator (everything). operator (Polizia Locale): operator on both groups.
      viewer_a (Polizia Locale): live + playback on odd cameras. viewer_b (Municipio): live +
      playback on even cameras, through the share.
    """
    with db.session() as s:
        ids = ensure_builtin_roles(s)
        police = _get_or_add(s, Organisation, name=POLICE)
        town = _get_or_add(s, Organisation, name=TOWN_HALL)
        odd = _get_or_add(s, CameraGroup, organisation_id=police.id, name="Odd cameras")
        even = _get_or_add(s, CameraGroup, organisation_id=police.id, name="Even cameras")
        _get_or_add(s, CameraShare, camera_group_id=even.id, organisation_id=town.id)
        for n, cid in cameras.items():
            _get_or_add(s, CameraGroupMember, group_id=(odd if n % 2 else even).id, camera_id=cid)
        for gid in (odd.id, even.id):
            _get_or_add(s, RoleScope, role_id=ids["operator"], camera_group_id=gid)
        view_odd = s.scalar(select(Role).where(Role.name == "Viewer (odd cameras)"))
        if view_odd is None:
            view_odd = Role(name="Viewer (odd cameras)", organisation_id=police.id, rights=[LIVE, PLAYBACK])
            s.add(view_odd)
            s.flush()
        view_even = s.scalar(select(Role).where(Role.name == "Viewer (even cameras)"))
        if view_even is None:
            view_even = Role(name="Viewer (even cameras)", organisation_id=town.id, rights=[LIVE, PLAYBACK])
            s.add(view_even)
            s.flush()
        _get_or_add(s, RoleScope, role_id=view_odd.id, camera_group_id=odd.id)
        _get_or_add(s, RoleScope, role_id=view_even.id, camera_group_id=even.id)
        existing = set(s.scalars(select(User.username)))
        police_id, town_id = police.id, town.id
    accounts = [
        ("admin", ["administrator"], None),
        ("operator", ["operator"], police_id),
        ("viewer_a", ["Viewer (odd cameras)"], police_id),
        ("viewer_b", ["Viewer (even cameras)"], town_id),
    ]
    for name, roles, org in accounts:
        if name not in existing:
            create_user(db, name, password, roles, org, enforce_policy=False)
    # The demo prints one login for all accounts: make it true on every start.
    with db.session() as s:
        for u in s.scalars(select(User).where(User.username.in_([a[0] for a in accounts]))):
            ok, _ = passwords.verify_password(u.password_hash, password)
            if not ok:
                u.password_hash = passwords.hash_password(password)
                u.token_version += 1
