"""Rights evaluation (pure) and loading a user's grants from the database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ronda.access.rights import (
    BUILTIN_ROLES,
    CAMERA_RIGHTS,
    GLOBAL_RIGHTS,
    RIGHTS,
    Grant,
    Permissions,
    TimeProfile,
    ensure_builtin_roles,
    load_permissions,
)
from ronda.store import access_models as m
from ronda.store.db import Database
from ronda.store.models import Base, Camera


def utc(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


NOW = utc(2026, 5, 26, 10, 0)  # a Tuesday, 12:00 in Rome
DAY_SHIFT = TimeProfile.parse("Europe/Rome", [{"days": [0, 1, 2, 3, 4, 5, 6], "start": "08:00", "end": "16:00"}])
NIGHT_ONLY = TimeProfile.parse("Europe/Rome", [{"days": [0, 1, 2, 3, 4, 5, 6], "start": "22:00", "end": "06:00"}])


# --- vocabulary and built-in roles ----------------------------------------------------------------------
def test_vocabulary_and_builtin_roles():
    assert RIGHTS == {
        "live", "playback", "export", "ptz", "ptz_priority", "bookmark", "evidence_lock", "alarms",
        "cases", "plates", "manage_cameras", "manage_users", "manage_rules", "view_audit", "send_events",
    }  # fmt: skip
    assert CAMERA_RIGHTS | GLOBAL_RIGHTS == RIGHTS and not CAMERA_RIGHTS & GLOBAL_RIGHTS
    admin, op, viewer = (BUILTIN_ROLES[n] for n in ("administrator", "operator", "viewer"))
    assert admin.rights == RIGHTS and admin.all_cameras
    assert op.rights == {"live", "playback", "export", "ptz", "bookmark", "evidence_lock", "alarms", "cases", "plates"}
    assert not op.all_cameras
    assert viewer.rights == {"live", "playback"} and not viewer.all_cameras


# --- the matrix: right x (has it / lacks it / has it on another group / outside its time profile) ----------
@pytest.mark.parametrize("right", sorted(RIGHTS))
def test_rights_matrix(right):
    others = RIGHTS - {right}
    has = Permissions([Grant(frozenset({right}), camera_ids=frozenset({1, 2}))])
    lacks = Permissions([Grant(frozenset(others), camera_ids=frozenset({1, 2}))])
    other_group = Permissions([Grant(frozenset({right}), camera_ids=frozenset({3}))])
    out_of_hours = Permissions([Grant(frozenset({right}), camera_ids=frozenset({1, 2}), time_profile=NIGHT_ONLY)])
    in_hours = Permissions([Grant(frozenset({right}), camera_ids=frozenset({1, 2}), time_profile=DAY_SHIFT)])
    everywhere = Permissions([Grant(frozenset({right}), all_cameras=True)])

    assert has.can(right, 1, NOW) and in_hours.can(right, 1, NOW) and everywhere.can(right, 99, NOW)
    for p in (lacks, other_group, out_of_hours):
        assert not p.can(right, 1, NOW)
    assert has.cameras(right, NOW, [1, 2, 3, 4]) == {1, 2}
    assert other_group.cameras(right, NOW, [1, 2, 3, 4]) == {3}
    assert out_of_hours.cameras(right, NOW, [1, 2, 3]) == set()
    assert everywhere.cameras(right, NOW, [1, 5]) == {1, 5}
    assert lacks.cameras(right, NOW, [1, 2]) == set()
    assert right in has.rights_for(1, NOW) and right not in has.rights_for(3, NOW)
    assert right not in lacks.rights_for(1, NOW) and out_of_hours.rights_for(1, NOW) == set()
    assert has.has_global(right, NOW) and other_group.has_global(right, NOW)
    assert not lacks.has_global(right, NOW) and not out_of_hours.has_global(right, NOW)
    # rights_for agrees with can()
    mixed = Permissions([Grant(frozenset({right, "live"}), camera_ids=frozenset({1})), Grant(frozenset(others))])
    for cam in (1, 2):
        assert mixed.rights_for(cam, NOW) == {r for r in RIGHTS if mixed.can(r, cam, NOW)}


def test_no_grants_means_nothing():
    p = Permissions()
    assert not p.can("live", 1, NOW) and p.cameras("live", NOW, [1, 2]) == set()
    assert not p.has_global("manage_users", NOW) and p.rights_for(1, NOW) == set()


def test_unknown_right_raises():
    p = Permissions([Grant(RIGHTS, all_cameras=True)])
    for call in (lambda: p.can("lvie", 1, NOW), lambda: p.cameras("", NOW, [1]), lambda: p.has_global("root", NOW)):
        with pytest.raises(ValueError):
            call()


def test_grants_combine():
    p = Permissions(
        [
            Grant(frozenset({"live"}), camera_ids=frozenset({1, 2})),
            Grant(frozenset({"playback", "export"}), camera_ids=frozenset({2, 3}), time_profile=DAY_SHIFT),
            Grant(frozenset({"ptz"}), camera_ids=frozenset({2}), ptz_priority=10),
            Grant(frozenset({"ptz"}), camera_ids=frozenset({2, 3}), ptz_priority=30, time_profile=NIGHT_ONLY),
        ]
    )
    assert p.rights_for(2, NOW) == {"live", "playback", "export", "ptz"}
    assert p.cameras("playback", NOW, range(10)) == {2, 3}
    assert p.ptz_level(2, NOW) == 10 and p.ptz_level(3, NOW) is None and p.ptz_level(1, NOW) is None
    night = utc(2026, 5, 26, 22, 0)  # 00:00 in Rome
    assert p.ptz_level(2, night) == 30 and p.ptz_level(3, night) == 30
    assert not p.can("playback", 2, night)
    assert p.cameras("ptz", NOW, [5]) == set()  # only among the given (existing) cameras


def test_restrict_for_api_keys():
    p = Permissions([Grant(frozenset({"live", "playback", "manage_users"}), camera_ids=frozenset({1}))])
    r = p.restrict(["live", "nonsense"])
    assert r.can("live", 1, NOW) and not r.can("playback", 1, NOW) and not r.has_global("manage_users", NOW)
    assert p.restrict([]).grants == ()


# --- time profiles ---------------------------------------------------------------------------------------------
def test_day_shift_across_spring_dst_in_rome():
    # 2026-03-29 (Sunday): clocks go 02:00 CET -> 03:00 CEST at 01:00 UTC.
    sat = [(utc(2026, 3, 28, 6, 59), False), (utc(2026, 3, 28, 7, 0), True), (utc(2026, 3, 28, 14, 59), True),
           (utc(2026, 3, 28, 15, 0), False)]  # fmt: skip
    sun = [(utc(2026, 3, 29, 5, 59), False), (utc(2026, 3, 29, 6, 0), True), (utc(2026, 3, 29, 13, 59), True),
           (utc(2026, 3, 29, 14, 0), False)]  # fmt: skip
    for ms, ok in sat + sun:
        assert DAY_SHIFT.allows(ms) is ok, datetime.fromtimestamp(ms / 1000, UTC)


def test_overnight_range_across_spring_dst():
    # Saturday night 22:00 -> Sunday 06:00, the night the clocks jump forward.
    p = TimeProfile.parse("Europe/Rome", [{"days": [5], "start": "22:00", "end": "06:00"}])
    cases = [
        (utc(2026, 3, 28, 20, 59), False),  # Sat 21:59 CET
        (utc(2026, 3, 28, 21, 0), True),  # Sat 22:00 CET
        (utc(2026, 3, 29, 0, 59), True),  # Sun 01:59 CET
        (utc(2026, 3, 29, 1, 0), True),  # Sun 03:00 CEST (02:xx does not exist)
        (utc(2026, 3, 29, 3, 59), True),  # Sun 05:59 CEST
        (utc(2026, 3, 29, 4, 0), False),  # Sun 06:00 CEST
        (utc(2026, 3, 29, 21, 0), False),  # Sun 23:00: Sunday is not in the days
        (utc(2026, 3, 28, 3, 0), False),  # Sat 04:00: the Friday night is not in the days
    ]
    for ms, ok in cases:
        assert p.allows(ms) is ok, datetime.fromtimestamp(ms / 1000, UTC)


def test_repeated_hour_in_autumn_dst():
    # 2026-10-25: 03:00 CEST -> 02:00 CET at 01:00 UTC, so 02:00-03:00 happens twice.
    p = TimeProfile.parse("Europe/Rome", [{"days": [6], "start": "02:00", "end": "03:00"}])
    assert p.allows(utc(2026, 10, 25, 0, 30))  # 02:30 CEST
    assert p.allows(utc(2026, 10, 25, 1, 30))  # 02:30 CET
    assert not p.allows(utc(2026, 10, 25, 2, 0))  # 03:00 CET
    assert not p.allows(utc(2026, 10, 24, 23, 59))  # 01:59 CEST


def test_overnight_wraps_from_sunday_to_monday_and_full_days():
    p = TimeProfile.parse("UTC", [{"days": [6], "start": "20:00", "end": "04:00"}])
    assert p.allows(utc(2026, 6, 1, 3, 59))  # Monday 03:59, from Sunday's range
    assert not p.allows(utc(2026, 6, 1, 20, 0))  # Monday 20:00
    full = TimeProfile.parse("UTC", [{"days": [0], "start": "00:00", "end": "24:00"}])
    same = TimeProfile.parse("UTC", [{"days": [0], "start": "00:00", "end": "00:00"}])
    for prof in (full, same):
        assert prof.allows(utc(2026, 6, 1, 0, 0)) and prof.allows(utc(2026, 6, 1, 23, 59))
        assert not prof.allows(utc(2026, 6, 2, 0, 0)) and not prof.allows(utc(2026, 5, 31, 23, 59))
    assert not TimeProfile.parse("UTC", []).allows(NOW)
    always = TimeProfile.parse("UTC", [{"days": list(range(7)), "start": "00:00", "end": "00:00"}])
    assert always.allows(NOW) and not always.allows(10**20) and not always.allows(-(10**20))  # fail closed


@pytest.mark.parametrize(
    "tz,rules",
    [
        ("Mars/Olympus", []),
        ("", []),
        ("../../etc/passwd", []),
        ("UTC", {"days": [0]}),
        ("UTC", [{"days": [], "start": "08:00", "end": "09:00"}]),
        ("UTC", [{"days": [7], "start": "08:00", "end": "09:00"}]),
        ("UTC", [{"days": [True], "start": "08:00", "end": "09:00"}]),
        ("UTC", [{"days": [0], "start": "8:00", "end": "09:00"}]),
        ("UTC", [{"days": [0], "start": "24:00", "end": "09:00"}]),
        ("UTC", [{"days": [0], "start": "08:60", "end": "09:00"}]),
        ("UTC", [{"days": [0], "start": "08:00"}]),
        ("UTC", [{"days": [0], "start": "０８:00", "end": "09:00"}]),
    ],
)
def test_bad_profiles_are_refused(tz, rules):
    with pytest.raises(ValueError):
        TimeProfile.parse(tz, rules)


# --- loading from the database --------------------------------------------------------------------------------
@pytest.fixture
def db(tmp_path):
    d = Database(f"sqlite:///{tmp_path / 'rights.db'}")
    Base.metadata.create_all(d.engine)
    yield d
    d.dispose()


def _setup(db: Database) -> dict[str, int]:
    """Cameras 1..7; Polizia owns groups odd (1,3,5) and even (2,4,6); Scuola owns school (6,7); odd is
    shared with Scuola; camera 3 is also in the site's own 'centre' group."""
    ids: dict[str, int] = {}
    with db.session() as s:
        for i in range(1, 8):
            s.add(Camera(id=i, name=f"Camera {i}", created_ms=0))
        pol, sch = m.Organisation(name="Polizia Locale"), m.Organisation(name="Scuola")
        s.add_all([pol, sch])
        s.flush()
        odd = m.CameraGroup(organisation_id=pol.id, name="odd")
        even = m.CameraGroup(organisation_id=pol.id, name="even")
        school = m.CameraGroup(organisation_id=sch.id, name="school")
        centre = m.CameraGroup(organisation_id=None, name="centre")
        s.add_all([odd, even, school, centre])
        s.flush()
        for g, cams in ((odd, [1, 3, 5]), (even, [2, 4, 6]), (school, [6, 7]), (centre, [3])):
            s.add_all([m.CameraGroupMember(group_id=g.id, camera_id=c) for c in cams])
        s.add(m.CameraShare(camera_group_id=odd.id, organisation_id=sch.id))
        night = m.TimeProfile(
            name="night", timezone="Europe/Rome", rules=[{"days": list(range(7)), "start": "22:00", "end": "06:00"}]
        )
        broken = m.TimeProfile(name="broken", timezone="Nowhere/Land", rules=[])
        s.add_all([night, broken])
        s.flush()
        builtin = ensure_builtin_roles(s)

        def role(name, rights, org=None, groups=(), all_cameras=False, profile=None, prio=0):
            r = m.Role(
                name=name,
                rights=rights,
                organisation_id=org,
                all_cameras=all_cameras,
                time_profile_id=profile,
                ptz_priority=prio,
            )
            s.add(r)
            s.flush()
            s.add_all([m.RoleScope(role_id=r.id, camera_group_id=g.id) for g in groups])
            return r.id

        roles = {
            "pol_op": role("pol_op", ["live", "playback", "export", "ptz"], pol.id, [odd, even], prio=20),
            "odd_viewer": role("odd_viewer", ["live", "playback"], pol.id, [odd]),
            "sch_viewer": role("sch_viewer", ["live", "bogus_right"], sch.id, [school, odd, even]),
            "sch_all": role("sch_all", ["playback"], sch.id, all_cameras=True),
            "night_export": role("night_export", ["export"], pol.id, [even], profile=night.id),
            "broken_profile": role("broken_profile", ["export"], pol.id, [odd], profile=broken.id),
            "centre_live": role("centre_live", ["live"], None, [centre]),
        }

        def user(name, org, role_ids, enabled=True):
            u = m.User(username=name, password_hash="x", organisation_id=org, enabled=enabled, created_ms=0)
            s.add(u)
            s.flush()
            s.add_all([m.UserRole(user_id=u.id, role_id=r) for r in role_ids])
            ids[name] = u.id

        user("admin", None, [builtin["administrator"]])
        user("operator", pol.id, [roles["pol_op"]])
        user("viewer_a", pol.id, [roles["odd_viewer"]])
        user("scuola", sch.id, [roles["sch_viewer"], roles["pol_op"]])  # pol_op belongs to another org
        user("scuola_all", sch.id, [roles["sch_all"]])
        user("night", pol.id, [roles["night_export"], roles["broken_profile"]])
        user("site_centre", None, [roles["centre_live"], roles["odd_viewer"]])  # odd_viewer: another org
        user("pol_centre", pol.id, [roles["centre_live"]])  # the site's group is not visible to Polizia
        user("disabled", None, [builtin["administrator"]], enabled=False)
        user("nobody", None, [])
    return ids


def test_load_permissions(db):
    ids = _setup(db)
    cams = range(1, 8)
    with db.session() as s:
        perms = {name: load_permissions(s, uid) for name, uid in ids.items()}
        missing = load_permissions(s, 999_999)

    admin = perms["admin"]
    assert admin.cameras("export", NOW, cams) == set(cams) and admin.has_global("manage_users", NOW)
    assert admin.can("live", 12345, NOW)

    op = perms["operator"]
    assert op.cameras("export", NOW, cams) == {1, 2, 3, 4, 5, 6} and op.ptz_level(2, NOW) == 20
    assert not op.has_global("manage_users", NOW) and not op.can("evidence_lock", 1, NOW)

    va = perms["viewer_a"]
    assert va.cameras("live", NOW, cams) == {1, 3, 5} and not va.can("export", 1, NOW)

    # Scuola sees its own group and the shared odd group, never Polizia's even group, and ignores
    # Polizia's role and unknown right names.
    sc = perms["scuola"]
    assert sc.cameras("live", NOW, cams) == {1, 3, 5, 6, 7}
    assert not sc.can("export", 1, NOW) and sc.rights_for(6, NOW) == {"live"}
    assert perms["scuola_all"].cameras("playback", NOW, cams) == {1, 3, 5, 6, 7}
    assert not perms["scuola_all"].can("playback", 2, NOW) and not perms["scuola_all"].can("playback", 99, NOW)

    night = perms["night"]
    assert not night.can("export", 2, NOW)
    assert night.can("export", 2, utc(2026, 5, 26, 21, 0))  # 23:00 in Rome
    assert not night.can("export", 1, utc(2026, 5, 26, 21, 0))  # malformed profile: never

    assert perms["site_centre"].cameras("live", NOW, cams) == {3}  # odd_viewer (Polizia's) ignored
    assert perms["pol_centre"].cameras("live", NOW, cams) == set()

    for name in ("disabled", "nobody"):
        assert perms[name].grants == ()
    assert missing.grants == ()


def test_changes_take_effect_on_next_load(db):
    ids = _setup(db)
    with db.session() as s:
        assert load_permissions(s, ids["viewer_a"]).can("live", 1, NOW)
    with db.session() as s:
        s.get(m.User, ids["viewer_a"]).enabled = False
    with db.session() as s:
        assert not load_permissions(s, ids["viewer_a"]).can("live", 1, NOW)
        s.get(m.User, ids["viewer_a"]).enabled = True
    with db.session() as s:
        s.query(m.CameraGroupMember).filter_by(camera_id=1).delete()
    with db.session() as s:
        assert load_permissions(s, ids["viewer_a"]).cameras("live", NOW, range(1, 8)) == {3, 5}


def test_builtin_roles_are_idempotent(db):
    with db.session() as s:
        first = ensure_builtin_roles(s)
        role = s.get(m.Role, first["viewer"])
        role.rights = ["live", "playback", "export"]
    with db.session() as s:
        assert ensure_builtin_roles(s) == first
        assert set(s.get(m.Role, first["viewer"]).rights) == {"live", "playback"}
        assert s.get(m.Role, first["administrator"]).all_cameras
