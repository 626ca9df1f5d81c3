"""Accounts for the security tests, on the shared site (tests/conftest.py):

- ``muni_admin``: the built-in administrator role, but a member of the Municipio (organisation B,
  which owns no camera and is shared the even cameras by the Polizia Locale);
- ``police_admin``: the built-in administrator role inside the Polizia Locale (owns cameras 1-4);
- ``usermgr`` (account ``sec_usermgr``): a site-level account whose only right is ``manage_users``.

The demo accounts (``admin``, ``operator``, ``viewer_a``, ``viewer_b``) come from the ``users`` fixture.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ronda.access.service import create_user
from ronda.store.access_models import Organisation, Role
from ronda.store.db import Database
from tests.helpers import PW, Client

SEC_USERS = {"muni_admin": "muni_admin", "police_admin": "police_admin", "usermgr": "sec_usermgr"}


@pytest.fixture(scope="session")
def sec_users(site, users):
    db = Database(f"sqlite:///{site.data_dir / 'ronda.db'}")
    try:
        with db.session() as s:
            orgs = {o.name: o.id for o in s.scalars(select(Organisation))}
            if s.scalar(select(Role).where(Role.name == "Users only (security tests)")) is None:
                s.add(Role(name="Users only (security tests)", rights=["manage_users"], all_cameras=False))
        for name, roles, org in (
            ("muni_admin", ["administrator"], orgs["Municipio"]),
            ("police_admin", ["administrator"], orgs["Polizia Locale"]),
            ("sec_usermgr", ["Users only (security tests)"], None),
        ):
            try:
                create_user(db, name, PW, roles, org)
            except ValueError:
                pass  # exists already (a second run on the same site)
    finally:
        db.dispose()
    return {**users, **{key: Client(site, name) for key, name in SEC_USERS.items()}}


def new_org_admin(site, organisation: str = "Municipio") -> Client:
    """A fresh administrator of ``organisation``: camera probes are budgeted per user (10 a minute), and a
    test that spends a budget must not leave another test none."""
    import uuid

    db = Database(f"sqlite:///{site.data_dir / 'ronda.db'}")
    try:
        with db.session() as s:
            org = s.scalar(select(Organisation.id).where(Organisation.name == organisation))
        name = f"orgadm{uuid.uuid4().hex[:8]}"
        create_user(db, name, PW, ["administrator"], org)
    finally:
        db.dispose()
    return Client(site, name)
