"""The per-process permissions cache (issue 11) and the rights version that invalidates it.

Every path that can change someone's permissions goes through the ORM or a bulk statement on a rights
table; the counter moves in the same transaction. The HTTP tests change rights from *another process*
(this test process writing to the site's database) and from the site's own API, and check that the
very next request of an already signed-in user sees the change."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from ronda.access.audit import AuditLog
from ronda.access.rights import ensure_builtin_roles
from ronda.access.secrets import SecretBox
from ronda.access.service import AuthService, create_user
from ronda.store import rights_version
from ronda.store.access_models import (
    CameraGroup,
    CameraGroupMember,
    CameraShare,
    Organisation,
    Role,
    RoleScope,
    TimeProfile,
    User,
    UserRole,
    UserSession,
)
from ronda.store.db import Database
from ronda.store.models import Camera
from ronda.timeutil import now_ms
from tests.helpers import PW, Client


@pytest.fixture
def db(tmp_path: Path):
    d = Database(f"sqlite:///{tmp_path / 'r.db'}")
    d.upgrade()
    with d.session() as s:
        ensure_builtin_roles(s)
    yield d
    d.dispose()


def version(db: Database) -> int:
    with db.session() as s:
        return rights_version.current(s)


def bumps(db: Database, change) -> bool:  # type: ignore[no-untyped-def]
    before = version(db)
    with db.session() as s:
        change(s)
    return version(db) > before


def test_every_rights_table_moves_the_version(db):
    t = now_ms()
    with db.session() as s:
        org = Organisation(name="Polizia")
        cam = Camera(name="c", created_ms=t)
        s.add_all([org, cam])
        s.flush()
        org_id, cam_id = org.id, cam.id
    user_id = create_user(db, "u1", PW, ["viewer"])
    ids: dict[str, int] = {}

    def add_rows(s):  # type: ignore[no-untyped-def]
        g = CameraGroup(organisation_id=org_id, name="g")
        tp = TimeProfile(name="tp", timezone="UTC", rules=[])
        role = Role(name="r", rights=["live"], all_cameras=False)
        s.add_all([g, tp, role])
        s.flush()
        ids.update(group=g.id, profile=tp.id, role=role.id)

    steps = [
        ("organisation added", lambda s: s.add(Organisation(name="Scuola"))),
        ("group, profile, role added", add_rows),
        ("member added", lambda s: s.add(CameraGroupMember(group_id=ids["group"], camera_id=cam_id))),
        ("share added", lambda s: s.add(CameraShare(camera_group_id=ids["group"], organisation_id=org_id))),
        ("scope added", lambda s: s.add(RoleScope(role_id=ids["role"], camera_group_id=ids["group"]))),
        ("user role added", lambda s: s.add(UserRole(user_id=user_id, role_id=ids["role"]))),
        ("role rights edited", lambda s: setattr(s.get(Role, ids["role"]), "rights", ["live", "playback"])),
        ("role time profile set", lambda s: setattr(s.get(Role, ids["role"]), "time_profile_id", ids["profile"])),
        ("profile edited", lambda s: setattr(s.get(TimeProfile, ids["profile"]), "rules", [{"days": [0]}])),
        ("group moved", lambda s: setattr(s.get(CameraGroup, ids["group"]), "name", "g2")),
        ("user disabled", lambda s: setattr(s.get(User, user_id), "enabled", False)),
        ("user moved to an organisation", lambda s: setattr(s.get(User, user_id), "organisation_id", org_id)),
        ("user tokens revoked", lambda s: setattr(s.get(User, user_id), "token_version", 5)),
        ("camera deleted (soft)", lambda s: setattr(s.get(Camera, cam_id), "deleted_ms", t)),
        ("bulk scope delete", lambda s: s.execute(delete(RoleScope).where(RoleScope.role_id == ids["role"]))),
        ("camera deleted, bulk", lambda s: s.execute(update(Camera).values(deleted_ms=t + 1))),
        ("bulk role update", lambda s: s.execute(update(Role).where(Role.id == ids["role"]).values(ptz_priority=3))),
        ("user role deleted", lambda s: s.delete(s.get(UserRole, (user_id, ids["role"])))),
        ("share deleted", lambda s: s.execute(delete(CameraShare))),
        ("member deleted", lambda s: s.execute(delete(CameraGroupMember))),
        ("camera added", lambda s: s.add(Camera(name="c2", created_ms=t))),
    ]
    for what, change in steps:
        assert bumps(db, change), f"{what} did not move the rights version"


def test_unrelated_writes_leave_the_version(db):
    t = now_ms()
    user_id = create_user(db, "u2", PW, ["viewer"])
    with db.session() as s:
        cam = Camera(name="c", created_ms=t)
        s.add(cam)
        s.flush()
        cam_id = cam.id
    quiet = [
        ("login bookkeeping", lambda s: setattr(s.get(User, user_id), "last_login_ms", t)),
        (
            "failed logins",
            lambda s: s.execute(update(User).where(User.id == user_id).values(failed_logins=User.failed_logins)),
        ),
        ("camera status", lambda s: setattr(s.get(Camera, cam_id), "status", "recording")),
        ("camera status, bulk", lambda s: s.execute(update(Camera).where(Camera.id == cam_id).values(status="x"))),
        (
            "a session",
            lambda s: s.add(
                UserSession(id=uuid.uuid4().hex, user_id=user_id, refresh_hash="x", created_ms=t, expires_ms=t + 1000)
            ),
        ),  # fmt: skip
    ]
    for what, change in quiet:
        assert not bumps(db, change), f"{what} moved the rights version (the cache would thrash)"


def test_cache_serves_repeated_requests_and_reloads_after_a_change(db, tmp_path):
    auth = AuthService(db, tmp_path, SecretBox.load_or_create(tmp_path / "secrets.key"), AuditLog.open(db, tmp_path))
    create_user(db, "op", PW, ["operator"])
    tokens = auth.login("op", PW, None, None, None)
    for _ in range(5):
        p = auth.principal_from_token(tokens.access_token)
        assert p.roles == ["operator"]
    assert auth.rights.loads == 1, "permissions were resolved again although nothing changed"
    with db.session() as s:  # another process, as far as the cache knows: a plain session on the database
        s.execute(delete(UserRole).where(UserRole.user_id == p.user_id))
    p = auth.principal_from_token(tokens.access_token)
    assert p.roles == [] and not p.permissions.held_rights()
    assert auth.rights.loads == 2


def test_rights_changed_elsewhere_apply_to_the_next_request(site, users):
    """A signed-in user; rights change in another process and through the site's API; the site's cached
    permissions follow at once."""
    admin = users["admin"]
    name = f"cache-{uuid.uuid4().hex[:8]}"
    r = admin.req("POST", "/api/v1/users", json={"username": name, "password": PW, "roles": ["operator"]})
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    u = Client(site, name)
    cam = site.cam("Camera 1")
    assert u.req("GET", f"/api/v1/cameras/{cam}").status_code == 200

    db = Database(f"sqlite:///{site.data_dir / 'ronda.db'}")
    try:
        with db.session() as s:  # another process takes the operator role away
            s.execute(delete(UserRole).where(UserRole.user_id == uid))
        assert u.req("GET", f"/api/v1/cameras/{cam}").status_code == 404
        with db.session() as s:  # ... and gives it back
            op = s.scalar(select(Role).where(Role.name == "operator", Role.organisation_id.is_(None)))
            assert op is not None
            s.add(UserRole(user_id=uid, role_id=op.id))
        assert u.req("GET", f"/api/v1/cameras/{cam}").status_code == 200
    finally:
        db.dispose()
    # through the site's own API: roles changed, then the account disabled
    assert admin.req("PATCH", f"/api/v1/users/{uid}", json={"roles": []}).status_code == 200
    assert u.req("GET", f"/api/v1/cameras/{cam}").status_code == 404
    assert admin.req("PATCH", f"/api/v1/users/{uid}", json={"roles": ["operator"]}).status_code == 200
    assert u.req("GET", f"/api/v1/cameras/{cam}").status_code == 200
    assert admin.req("PATCH", f"/api/v1/users/{uid}", json={"enabled": False}).status_code == 200
    assert u.req("GET", f"/api/v1/cameras/{cam}").status_code == 401
