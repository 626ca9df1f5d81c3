"""Accounts for the security tests, on the shared site (tests/conftest.py):

- ``muni_admin``: the built-in administrator role, but a member of the Municipio (organisation B,
  which owns no camera and is shared the even cameras by the Polizia Locale);
- ``police_admin``: the built-in administrator role inside the Polizia Locale (owns cameras 1-4);
- ``usermgr``: a site-level account whose only right is ``manage_users``.

The demo accounts (``admin``, ``operator``, ``viewer_a``, ``viewer_b``) come from the ``users`` fixture.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ronda.access.service import create_user
from ronda.store.access_models import Organisation, Role
from ronda.store.db import Database
from tests.helpers import PW, Client

SEC_USERS = ("muni_admin", "police_admin", "usermgr")


@pytest.fixture(scope="session")
def sec_users(site, users):
    db = Database(f"sqlite:///{site.data_dir / 'ronda.db'}")
    try:
        with db.session() as s:
            orgs = {o.name: o.id for o in s.scalars(select(Organisation))}
            if s.scalar(select(Role).where(Role.name == "User manager")) is None:
                s.add(Role(name="User manager", rights=["manage_users"], all_cameras=False))
        for name, roles, org in (
            ("muni_admin", ["administrator"], orgs["Municipio"]),
            ("police_admin", ["administrator"], orgs["Polizia Locale"]),
            ("usermgr", ["User manager"], None),
        ):
            try:
                create_user(db, name, PW, roles, org)
            except ValueError:
                pass  # exists already (a second run on the same site)
    finally:
        db.dispose()
    return {**users, **{u: Client(site, u) for u in SEC_USERS}}
