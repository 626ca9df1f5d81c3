"""Rights: the vocabulary, the built-in roles, and pure evaluation of a user's grants.

A user's effective permissions are a list of ``Grant``s, one per role: a set of rights applied to a
set of cameras (or to every camera), optionally only inside a ``TimeProfile``. Evaluation is pure
(no database); ``load_permissions`` builds the grants from the tables in ``ronda.store.access_models``.

Organisations: a user that belongs to an organisation only ever gets cameras of the camera groups
its organisation owns or that are shared with it, whatever its roles say (``all_cameras`` for such
a user means "every camera of the groups the organisation can see"). Site-level users (no
organisation) get what their roles say.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ronda.store import access_models as m

LIVE = "live"
PLAYBACK = "playback"
EXPORT = "export"
PTZ = "ptz"
PTZ_PRIORITY = "ptz_priority"
BOOKMARK = "bookmark"
EVIDENCE_LOCK = "evidence_lock"
ALARMS = "alarms"  # handle alarms of the camera (take, comment, hold, close); seeing them needs any right
MANAGE_CAMERAS = "manage_cameras"
MANAGE_USERS = "manage_users"
MANAGE_RULES = "manage_rules"
VIEW_AUDIT = "view_audit"
SEND_EVENTS = "send_events"  # post external events (sensors, other systems) through the API
CASES = "cases"  # see and work on the cases (dumping fines, graffiti, incidents) of the camera
PLATES = "plates"  # see and search the licence plates read on the camera (privacy: audited)

CAMERA_RIGHTS: frozenset[str] = frozenset(
    {LIVE, PLAYBACK, EXPORT, PTZ, PTZ_PRIORITY, BOOKMARK, EVIDENCE_LOCK, ALARMS, CASES, PLATES}
)
GLOBAL_RIGHTS: frozenset[str] = frozenset({MANAGE_CAMERAS, MANAGE_USERS, MANAGE_RULES, VIEW_AUDIT, SEND_EVENTS})
RIGHTS: frozenset[str] = CAMERA_RIGHTS | GLOBAL_RIGHTS
# Any of these on a camera makes it visible to the holder (a camera right, or managing it).
SEEING_RIGHTS: frozenset[str] = CAMERA_RIGHTS | {MANAGE_CAMERAS}
# Stable order for API output.
RIGHTS_ORDER: tuple[str, ...] = (
    LIVE,
    PLAYBACK,
    EXPORT,
    PTZ,
    PTZ_PRIORITY,
    BOOKMARK,
    EVIDENCE_LOCK,
    ALARMS,
    CASES,
    PLATES,
    MANAGE_CAMERAS,
    MANAGE_USERS,
    MANAGE_RULES,
    VIEW_AUDIT,
    SEND_EVENTS,
)


@dataclass(frozen=True)
class BuiltinRole:
    name: str
    rights: frozenset[str]
    all_cameras: bool
    ptz_priority: int


BUILTIN_ROLES: Mapping[str, BuiltinRole] = {
    "administrator": BuiltinRole("administrator", RIGHTS, all_cameras=True, ptz_priority=100),
    "operator": BuiltinRole(
        "operator",
        frozenset({LIVE, PLAYBACK, EXPORT, PTZ, BOOKMARK, EVIDENCE_LOCK, ALARMS, CASES, PLATES}),
        all_cameras=False,
        ptz_priority=50,
    ),
    "viewer": BuiltinRole("viewer", frozenset({LIVE, PLAYBACK}), all_cameras=False, ptz_priority=0),
}


def _check_right(right: str) -> None:
    if right not in RIGHTS:
        raise ValueError(f"unknown right {right!r}")


# --- time profiles --------------------------------------------------------------------------------------
DAY_MIN = 24 * 60


def parse_hhmm(text: str, *, allow_24: bool = False) -> int:
    """``"HH:MM"`` → minutes after midnight. ``"24:00"`` only where ``allow_24``."""
    if not isinstance(text, str) or len(text) != 5 or text[2] != ":":
        raise ValueError(f"time must be HH:MM, got {text!r}")
    hh, mm = text[:2], text[3:]
    if not (hh.isascii() and hh.isdigit() and mm.isascii() and mm.isdigit()):
        raise ValueError(f"time must be HH:MM, got {text!r}")
    h, mi = int(hh), int(mm)
    if mi > 59 or h > 24 or (h == 24 and (mi != 0 or not allow_24)):
        raise ValueError(f"time out of range: {text!r}")
    return h * 60 + mi


@dataclass(frozen=True)
class TimeRule:
    """On each of ``days`` (0=Monday), from ``start`` for ``duration`` minutes of local wall time; a
    range that passes midnight continues into the next day."""

    days: frozenset[int]
    start: int  # minutes after local midnight, 0..1439
    duration: int  # 1..1440

    @classmethod
    def parse(cls, rule: Mapping[str, Any]) -> TimeRule:
        days = rule.get("days")
        if not isinstance(days, list | tuple) or not days:
            raise ValueError("rule needs a non-empty list of days")
        if any(not isinstance(d, int) or isinstance(d, bool) or not 0 <= d <= 6 for d in days):
            raise ValueError("days are 0 (Monday) .. 6 (Sunday)")
        start = parse_hhmm(rule.get("start"))  # type: ignore[arg-type]
        end = parse_hhmm(rule.get("end"), allow_24=True)  # type: ignore[arg-type]
        # end <= start: the range runs overnight; start == end means a full 24 hours from start.
        duration = (end - start) % DAY_MIN or DAY_MIN
        return cls(frozenset(days), start, duration)

    def covers(self, weekday: int, minute: int) -> bool:
        if weekday in self.days and self.start <= minute < self.start + self.duration:
            return True
        overflow = self.start + self.duration - DAY_MIN  # minutes spilling into the next day
        return overflow > 0 and (weekday - 1) % 7 in self.days and minute < overflow


@dataclass(frozen=True)
class TimeProfile:
    """When a grant applies, in local wall-clock time of an IANA timezone (so 08:00-16:00 stays
    08:00-16:00 across DST changes). A profile with no rules never applies."""

    timezone: str
    rules: tuple[TimeRule, ...]
    _tz: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            tz = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as e:
            raise ValueError(f"unknown timezone {self.timezone!r}") from e
        object.__setattr__(self, "_tz", tz)

    @classmethod
    def parse(cls, timezone: str, rules: Iterable[Mapping[str, Any]]) -> TimeProfile:
        """From the JSON stored in ``time_profiles``; ``ValueError`` if anything is malformed."""
        if not isinstance(rules, list | tuple):
            raise ValueError("rules must be a list")
        return cls(timezone, tuple(TimeRule.parse(r) for r in rules))

    def allows(self, epoch_ms: int) -> bool:
        try:
            local = datetime.fromtimestamp(epoch_ms / 1000, self._tz)
        except (OverflowError, OSError, ValueError):
            return False
        weekday, minute = local.weekday(), local.hour * 60 + local.minute
        return any(r.covers(weekday, minute) for r in self.rules)


NEVER = TimeProfile("UTC", ())


# --- grants and permissions ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Grant:
    rights: frozenset[str]
    all_cameras: bool = False
    camera_ids: frozenset[int] = frozenset()
    time_profile: TimeProfile | None = None
    ptz_priority: int = 0

    def active(self, now_ms: int) -> bool:
        return self.time_profile is None or self.time_profile.allows(now_ms)

    def covers(self, camera_id: int) -> bool:
        return self.all_cameras or camera_id in self.camera_ids


@dataclass(frozen=True)
class Permissions:
    """What one principal may do. Unknown right names raise ``ValueError`` (a typo must not silently deny
    or allow)."""

    grants: tuple[Grant, ...] = ()
    # The holder's organisation (None: site scope) and, inside one, the cameras it owns (groups of the
    # organisation, not groups shared with it). Global rights act within this scope (docs/access.md).
    organisation_id: int | None = None
    owned_cameras: frozenset[int] = frozenset()

    def __init__(
        self, grants: Iterable[Grant] = (), organisation_id: int | None = None, owned_cameras: Iterable[int] = ()
    ) -> None:
        object.__setattr__(self, "grants", tuple(grants))
        object.__setattr__(self, "organisation_id", organisation_id)
        object.__setattr__(self, "owned_cameras", frozenset(owned_cameras))

    @property
    def site_scope(self) -> bool:
        return self.organisation_id is None

    def held_rights(self) -> set[str]:
        """Every right of every grant, whatever its time profile: what outranking compares."""
        out: set[str] = set()
        for g in self.grants:
            out |= g.rights
        return out

    def owns_camera(self, camera_id: int) -> bool:
        """Whether the camera is in the holder's scope for management (site scope: every camera)."""
        return self.organisation_id is None or camera_id in self.owned_cameras

    def _active(self, now_ms: int) -> list[Grant]:
        return [g for g in self.grants if g.active(now_ms)]

    def can(self, right: str, camera_id: int, now_ms: int) -> bool:
        _check_right(right)
        return any(right in g.rights and g.covers(camera_id) and g.active(now_ms) for g in self.grants)

    def cameras(self, right: str, now_ms: int, all_camera_ids: Iterable[int]) -> set[int]:
        """The cameras among ``all_camera_ids`` on which ``right`` holds now."""
        _check_right(right)
        grants = [g for g in self._active(now_ms) if right in g.rights]
        ids = set(all_camera_ids)
        if any(g.all_cameras for g in grants):
            return ids
        allowed: set[int] = set()
        for g in grants:
            allowed |= g.camera_ids
        return allowed & ids

    def rights_for(self, camera_id: int, now_ms: int) -> set[str]:
        """Every right (camera or global) of the grants that cover this camera now."""
        out: set[str] = set()
        for g in self._active(now_ms):
            if g.covers(camera_id):
                out |= g.rights
        return out

    def rights_by_camera(self, camera_ids: Iterable[int], now_ms: int) -> dict[int, frozenset[str]]:
        """``rights_for`` of many cameras at once (the grants are looked at once, not once per camera)."""
        active = self._active(now_ms)
        everywhere = frozenset().union(*(g.rights for g in active if g.all_cameras))
        scoped = [g for g in active if not g.all_cameras]
        out: dict[int, frozenset[str]] = {}
        for c in camera_ids:
            extra = [g.rights for g in scoped if c in g.camera_ids]
            out[c] = everywhere.union(*extra) if extra else everywhere
        return out

    def has_global(self, right: str, now_ms: int) -> bool:
        """Whether any grant active now includes ``right``, whatever its camera scope. For the manage_*
        rights and view_audit; organisation boundaries of what may be managed are the caller's check."""
        _check_right(right)
        return any(right in g.rights for g in self._active(now_ms))

    def all_rights(self, now_ms: int) -> set[str]:
        out: set[str] = set()
        for g in self._active(now_ms):
            out |= g.rights
        return out

    def ptz_level(self, camera_id: int, now_ms: int) -> int | None:
        """The highest PTZ priority among grants with ``ptz`` on this camera now; None without ``ptz``."""
        levels = [g.ptz_priority for g in self._active(now_ms) if PTZ in g.rights and g.covers(camera_id)]
        return max(levels) if levels else None

    def restrict(self, rights: Iterable[str]) -> Permissions:
        """The same grants limited to ``rights`` (an API key's scope); unknown names are dropped."""
        keep = frozenset(rights) & RIGHTS
        return Permissions(
            (
                Grant(g.rights & keep, g.all_cameras, g.camera_ids, g.time_profile, g.ptz_priority)
                for g in self.grants
                if g.rights & keep
            ),
            self.organisation_id,
            self.owned_cameras,
        )


NO_PERMISSIONS = Permissions()


# --- loading from the database ------------------------------------------------------------------------
def _visible_group_ids(s: Session, organisation_id: int) -> set[int]:
    owned = select(m.CameraGroup.id).where(m.CameraGroup.organisation_id == organisation_id)
    shared = select(m.CameraShare.camera_group_id).where(m.CameraShare.organisation_id == organisation_id)
    return set(s.scalars(owned).all()) | set(s.scalars(shared).all())


def _members(s: Session, group_ids: Iterable[int]) -> dict[int, set[int]]:
    ids = sorted(set(group_ids))
    out: dict[int, set[int]] = {g: set() for g in ids}
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        rows = s.execute(
            select(m.CameraGroupMember.group_id, m.CameraGroupMember.camera_id).where(
                m.CameraGroupMember.group_id.in_(chunk)
            )
        )
        for gid, cid in rows:
            out[gid].add(cid)
    return out


def _profile(row: m.TimeProfile | None) -> TimeProfile:
    if row is None:
        return NEVER  # a dangling reference must not widen the role to 24/7
    try:
        return TimeProfile.parse(row.timezone, row.rules)
    except (ValueError, TypeError, AttributeError):
        return NEVER  # fail closed on a malformed profile


def load_permissions(s: Session, user_id: int) -> Permissions:
    """Resolve user → roles → scopes → cameras into ``Permissions``. A missing or disabled user has none.

    Roles of another organisation than the user's are ignored. For a user of an organisation, camera
    scopes are limited to the groups its organisation owns or that are shared with it."""
    user = s.get(m.User, user_id)
    if user is None or not user.enabled:
        return NO_PERMISSIONS
    org = user.organisation_id
    role_q = (
        select(m.Role)
        .join(m.UserRole, m.UserRole.role_id == m.Role.id)
        .where(m.UserRole.user_id == user_id)
        .order_by(m.Role.id)
    )
    if org is None:
        role_q = role_q.where(m.Role.organisation_id.is_(None))
    else:
        role_q = role_q.where(or_(m.Role.organisation_id.is_(None), m.Role.organisation_id == org))
    roles: Sequence[m.Role] = s.scalars(role_q).all()
    if not roles:
        return Permissions((), org)

    role_ids = [r.id for r in roles]
    scopes: dict[int, set[int]] = {rid: set() for rid in role_ids}
    for rid, gid in s.execute(
        select(m.RoleScope.role_id, m.RoleScope.camera_group_id).where(m.RoleScope.role_id.in_(role_ids))
    ):
        scopes[rid].add(gid)

    visible = _visible_group_ids(s, org) if org is not None else None
    owned_groups = (
        set(s.scalars(select(m.CameraGroup.id).where(m.CameraGroup.organisation_id == org)).all())
        if org is not None
        else set()
    )
    wanted: set[int] = set()
    for r in roles:
        if org is not None and r.all_cameras:
            assert visible is not None
            wanted |= visible
        else:
            wanted |= scopes[r.id] if visible is None else scopes[r.id] & visible
    members = _members(s, wanted | owned_groups)
    owned: set[int] = set()
    for gid in owned_groups:
        owned |= members.get(gid, set())

    profile_ids = {r.time_profile_id for r in roles if r.time_profile_id is not None}
    profile_rows = {p.id: p for p in s.scalars(select(m.TimeProfile).where(m.TimeProfile.id.in_(profile_ids))).all()}

    grants: list[Grant] = []
    for r in roles:
        rights = frozenset(r.rights if isinstance(r.rights, list) else ()) & RIGHTS
        if not rights:
            continue
        profile = _profile(profile_rows.get(r.time_profile_id)) if r.time_profile_id is not None else None
        if org is None and r.all_cameras:
            grant = Grant(rights, True, frozenset(), profile, r.ptz_priority or 0)
        else:
            groups = (visible or set()) if (org is not None and r.all_cameras) else scopes[r.id]
            if visible is not None:
                groups = groups & visible
            cams: set[int] = set()
            for gid in groups:
                cams |= members.get(gid, set())
            if org is not None and MANAGE_CAMERAS in rights and cams - owned:
                # A camera merely shared with the organisation is viewed, never managed.
                grants.append(Grant(rights, False, frozenset(cams & owned), profile, r.ptz_priority or 0))
                shared_rights = rights - {MANAGE_CAMERAS}
                if shared_rights:
                    grants.append(Grant(shared_rights, False, frozenset(cams - owned), profile, r.ptz_priority or 0))
                continue
            grant = Grant(rights, False, frozenset(cams), profile, r.ptz_priority or 0)
        grants.append(grant)
    return Permissions(grants, org, owned)


def ensure_builtin_roles(s: Session) -> dict[str, int]:
    """Create the built-in roles if missing and reset their rights to the built-in definition.
    Returns name → role id."""
    ids: dict[str, int] = {}
    for b in BUILTIN_ROLES.values():
        row = s.scalar(select(m.Role).where(m.Role.name == b.name))
        rights = [r for r in RIGHTS_ORDER if r in b.rights]
        if row is None:
            row = m.Role(
                name=b.name,
                organisation_id=None,
                builtin=True,
                all_cameras=b.all_cameras,
                rights=rights,
                ptz_priority=b.ptz_priority,
            )
            s.add(row)
            s.flush()
        else:
            row.builtin, row.all_cameras, row.rights, row.ptz_priority = True, b.all_cameras, rights, b.ptz_priority
        ids[b.name] = row.id
    return ids


def granted_rights(s: Session, user_id: int) -> set[str]:
    """The rights of every role a user has, enabled or not, whatever the time profile: what a caller must
    hold itself to change, reset or disable that user (outranking)."""
    rows = s.scalars(select(m.Role.rights).join(m.UserRole, m.UserRole.role_id == m.Role.id).where(
        m.UserRole.user_id == user_id))  # fmt: skip
    out: set[str] = set()
    for rights in rows:
        out |= set(rights if isinstance(rights, list) else ()) & RIGHTS
    return out
