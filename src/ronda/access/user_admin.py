"""Managing users, roles, organisations and one's own API keys and profile, within the caller's scope
(docs/access.md: an organisation's administrator manages its own users; nobody grants, resets or
disables rights it does not hold itself), and reading the audit log. Every change writes its audit
entry in its own transaction (``AuditLog.record``, or a service's ``also`` hook)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from ronda.access import passwords, totp
from ronda.access.audit import AuditLog
from ronda.access.password_policy import WeakPassword, check_password
from ronda.access.rights import RIGHTS, RIGHTS_ORDER, granted_rights
from ronda.access.service import AuthService, LoginResult, Principal, UserError, create_user, end_sessions
from ronda.access.tokens import new_api_key
from ronda.errors import Forbidden, Invalid, NotFound, TooManyRequests
from ronda.store import repos
from ronda.store.access_models import ApiKey, CameraGroup, Organisation, Role, TotpEnrolment, User, UserRole
from ronda.store.db import Database
from ronda.timeutil import iso_param, now_ms, to_iso


def user_view(s: Session, u: User) -> dict[str, Any]:
    roles = s.scalars(select(Role.name).join(UserRole, UserRole.role_id == Role.id).where(UserRole.user_id == u.id))
    return {
        "id": u.id,
        "username": u.username,
        "display_name": u.display_name,
        "organisation_id": u.organisation_id,
        "enabled": u.enabled,
        "roles": sorted(roles),
        "totp": bool(u.totp_secret_enc),
        "last_login": to_iso(u.last_login_ms),
    }


def _grantable(s: Session, caller: Principal, role_names: list[str], organisation_id: int | None) -> list[Role]:
    """The roles a caller may hand to a user of ``organisation_id``: known, of the site or of that
    organisation, and holding no right the caller lacks (docs/access.md, outranking)."""
    held = caller.permissions.held_rights()
    rows = {r.name: r for r in s.scalars(select(Role).where(Role.name.in_(role_names)))}
    caller_all = bool(
        s.scalar(
            select(func.count(Role.id))
            .join(UserRole, UserRole.role_id == Role.id)
            .where(UserRole.user_id == caller.user_id, Role.all_cameras.is_(True))
        )
    )
    for name in role_names:
        row = rows.get(name)
        if row is None or not (row.organisation_id is None or row.organisation_id == organisation_id):
            raise Invalid(f"unknown role {name!r}")
        extra = set(row.rights or []) - held
        if extra or (row.all_cameras and not caller_all):
            raise Forbidden(f"you may not grant role {name!r}")
    return [rows[n] for n in role_names]


def _scoped_user(s: Session, caller: Principal, user_id: int) -> User:
    """A user the caller may manage: inside its organisation (NotFound otherwise, as if it did not exist)
    and holding no right the caller lacks (Forbidden)."""
    u = s.get(User, user_id) if 1 <= user_id < 2**31 else None
    if u is None or not caller.in_scope(u.organisation_id):
        raise NotFound("user")
    if not caller.outranks(granted_rights(s, u.id)):
        raise Forbidden("this user holds rights you do not have")
    return u


def list_users(db: Database, caller: Principal) -> list[dict[str, Any]]:
    with db.session() as s:
        q = select(User).order_by(User.id)
        if not caller.site_scope:
            q = q.where(User.organisation_id == caller.organisation_id)
        return [user_view(s, u) for u in s.scalars(q)]


def add_user(
    db: Database, audit: AuditLog, caller: Principal, username: str, password: str, roles: list[str],
    organisation_id: int | None, display_name: str | None,
) -> dict[str, Any]:  # fmt: skip
    """The new user, audited. An organisation's administrator adds users to its own."""
    org = organisation_id
    if not caller.site_scope:
        if org is None:
            org = caller.organisation_id
        elif org != caller.organisation_id:
            raise Forbidden("you may only add users to your own organisation")
    with db.session() as s:
        if org is not None and s.get(Organisation, org) is None:
            raise Invalid(f"organisation {org} does not exist")
        _grantable(s, caller, roles, org)

    def audited(s: Session, _user: User) -> None:
        audit.record(s, caller.actor, "user.create", "ok", source_ip=caller.source_ip,
                     details={"user": username, "roles": roles, "organisation": org})  # fmt: skip

    try:
        uid = create_user(db, username, password, roles, org, display_name, also=audited)
    except UserError as e:
        raise Invalid(str(e)) from None
    with db.session() as s:
        u = s.get(User, uid)
        assert u is not None
        return user_view(s, u)


def update_user(
    db: Database, audit: AuditLog, caller: Principal, user_id: int, fields: list[str], enabled: bool | None,
    roles: list[str] | None, password: str | None, display_name: str | None,
) -> dict[str, Any]:  # fmt: skip
    """Change a user the caller may manage, audited (``fields``: the ones the request named)."""
    with db.session() as s:
        u = _scoped_user(s, caller, user_id)
        new_roles = _grantable(s, caller, roles, u.organisation_id) if roles is not None else None
        if password is not None:
            try:
                check_password(password, u.username, u.display_name or "")
            except WeakPassword as e:
                raise Invalid(str(e)) from None
        if enabled is not None:
            u.enabled = enabled
        if display_name is not None:
            u.display_name = display_name
        if password is not None:
            u.password_hash = passwords.hash_password(password)
            u.password_changed_ms = now_ms()
            u.token_version += 1  # signs the user out everywhere
            end_sessions(s, u.id)  # refresh tokens included
        if new_roles is not None:
            for ur in s.scalars(select(UserRole).where(UserRole.user_id == u.id)):
                s.delete(ur)
            s.flush()
            for r in new_roles:
                s.add(UserRole(user_id=u.id, role_id=r.id))
        s.flush()
        view = user_view(s, u)
        audit.record(s, caller.actor, "user.update", "ok", source_ip=caller.source_ip,
                     details={"user": view["username"], "fields": sorted(fields)})  # fmt: skip
        return view


def update_self(
    auth: AuthService, caller: Principal, fields: list[str], display_name: str | None, password: str | None,
    current_password: str | None,
) -> tuple[dict[str, Any], LoginResult | None]:  # fmt: skip
    """Change the own profile, audited (``fields``: the ones the request named). A new password needs
    the current one, ends every other session of the user and returns this session's new tokens:
    ``(view, new tokens or None)``."""

    def apply(s: Session, u: User) -> None:  # the profile change and its entry: one transaction
        if display_name is not None:
            u.display_name = display_name
        auth.audit.record(s, caller.actor, "user.self_update", "ok", source_ip=caller.source_ip,
                          details={"fields": sorted(set(fields) - {"current_password"})})  # fmt: skip

    fresh = None
    if password is not None:
        no_api_key(caller)
        if not current_password:
            raise Forbidden("current_password is wrong")
        reauthenticate(auth, caller, current_password, None, need_code=False)
        try:
            check_password(password, caller.username)
        except WeakPassword as e:
            raise Invalid(str(e)) from None
        fresh = auth.change_password(caller.user_id, password, keep_session=caller.session_id, also=apply)
    with auth.db.session() as s:
        u = s.get(User, caller.user_id)
        if u is None:
            raise NotFound("user")
        if password is None:
            apply(s, u)
        s.flush()
        return user_view(s, u), fresh


# --- the account holder's own sign-in settings ----------------------------------------------------------
def no_api_key(caller: Principal) -> None:
    """Sign-in settings (password, TOTP) are changed by the account holder in a login session,
    never with an API key, whatever its rights."""
    if caller.via == "api_key":
        raise Forbidden("an API key cannot change the password or the one-time codes")


def reauthenticate(auth: AuthService, caller: Principal, password: str, code: str | None, need_code: bool) -> None:
    """``Forbidden`` unless ``password`` is the caller's (and ``code`` its current one-time code, when TOTP
    is on and ``need_code``). Throttled and counted like logins, so a stolen token cannot guess the
    password."""
    retry = auth.throttle.reserve(caller.username, caller.source_ip)
    if retry is not None:
        raise TooManyRequests("too many failed attempts; try again later", retry_after=retry)
    ok = False
    try:
        with auth.db.session() as s:
            u = s.get(User, caller.user_id)
            if u is None:
                raise NotFound("user")
            ok, _ = passwords.verify_password(u.password_hash, password)
            if ok and need_code and u.totp_secret_enc:
                ok = auth.take_totp_code(s, u, code or "")  # a code works once, here as at login
    finally:
        (auth.throttle.release if ok else auth.throttle.failed)(caller.username, caller.source_ip)
    if not ok:
        auth.audit.append(caller.actor, "user.reauth", "denied", source_ip=caller.source_ip)
        raise Forbidden("the password (or the one-time code) is wrong")


# --- TOTP enrolment ------------------------------------------------------------------------------------------
# A begun enrolment (``totp_enrolments``: the sealed secret, the session that asked for it, its expiry)
# is confirmed from the same session within PENDING_TOTP_S, by whichever API process serves it.
PENDING_TOTP_S = 600.0
_NO_MATCH = "the code does not match; start again with POST /me/totp"


def totp_begin(auth: AuthService, caller: Principal, password: str, code: str | None) -> dict[str, Any]:
    """Start enrolling (or replacing) TOTP: needs the password, and the current code when TOTP is on.
    The new secret and its provisioning URI."""
    no_api_key(caller)
    reauthenticate(auth, caller, password, code, need_code=True)
    secret = totp.new_totp_secret()
    t = now_ms()
    with auth.db.session() as s:  # a new enrolment replaces the user's earlier one; expired ones go
        s.execute(delete(TotpEnrolment).where(TotpEnrolment.expires_ms < t))
        s.merge(TotpEnrolment(user_id=caller.user_id, secret_enc=auth.secrets.encrypt(secret),
                              session_id=caller.session_id, created_ms=t,
                              expires_ms=t + int(PENDING_TOTP_S * 1000)))  # fmt: skip
    return {"secret": secret, "uri": totp.provisioning_uri(secret, caller.username)}


def totp_confirm(auth: AuthService, caller: Principal, password: str, code: str) -> None:
    """Turn TOTP on with the enrolment begun in this session, audited; ``Invalid`` when the code does not
    match, or the enrolment was never begun, begun in another session, expired or already taken."""
    no_api_key(caller)
    reauthenticate(auth, caller, password, None, need_code=False)
    with auth.db.session() as s:
        pending = s.get(TotpEnrolment, caller.user_id)
        if pending is None or pending.session_id != caller.session_id or pending.expires_ms < now_ms():
            raise Invalid(_NO_MATCH)  # never started, started in another session, or too long ago
        secret = auth.secrets.decrypt(pending.secret_enc) or ""
        step = totp.match_step(secret, code, now_ms() / 1000) if secret else None
        if step is None:
            raise Invalid(_NO_MATCH)
        # Taken once: of two concurrent confirmations (any processes) only the one that deletes it goes on.
        gone = s.execute(delete(TotpEnrolment).where(TotpEnrolment.user_id == caller.user_id,
                                                     TotpEnrolment.created_ms == pending.created_ms))  # fmt: skip
        if getattr(gone, "rowcount", 1) != 1:
            raise Invalid(_NO_MATCH)
        u = s.get(User, caller.user_id)
        assert u is not None
        u.totp_secret_enc = auth.secrets.encrypt(secret)
        u.totp_last_step = step  # the enrolment code cannot be replayed to log in
        auth.audit.record(s, caller.actor, "user.totp_enabled", "ok", source_ip=caller.source_ip)


# --- API keys ---------------------------------------------------------------------------------------------
def no_key_management_by_key(caller: Principal) -> None:
    """API keys are made and revoked in a login session: a key that could mint keys would leave spares
    that outlive its own revocation (and one could revoke the others)."""
    if caller.via == "api_key":
        raise Forbidden("API keys are managed in a login session, not with an API key")


def add_api_key(
    db: Database, audit: AuditLog, caller: Principal, name: str, rights: list[str], expires_in_days: float | None
) -> dict[str, Any]:
    """A key with some of the caller's rights, audited."""
    no_key_management_by_key(caller)
    unknown = set(rights) - RIGHTS
    if unknown:
        raise Invalid(f"unknown rights: {', '.join(sorted(unknown))}")
    if set(rights) - caller.permissions.all_rights(now_ms()):
        raise Forbidden("an API key cannot have rights its owner lacks")
    k = new_api_key()
    with db.session() as s:
        row = ApiKey(
            user_id=caller.user_id,
            name=name,
            prefix=k.prefix,
            key_hash=k.key_hash,
            rights=[r for r in RIGHTS_ORDER if r in rights],
            created_ms=now_ms(),
            expires_ms=now_ms() + int(expires_in_days * 86_400_000) if expires_in_days else None,
        )
        s.add(row)
        s.flush()
        audit.record(s, caller.actor, "apikey.create", "ok", source_ip=caller.source_ip,
                     details={"name": name, "rights": rights})  # fmt: skip
        return {"id": row.id, "name": name, "key": k.key, "rights": rights}


def list_api_keys(db: Database, caller: Principal) -> list[dict[str, Any]]:
    with db.session() as s:
        rows = s.scalars(select(ApiKey).where(ApiKey.user_id == caller.user_id).order_by(ApiKey.id))
        return [
            {"id": r.id, "name": r.name, "prefix": r.prefix, "rights": r.rights, "revoked": r.revoked_ms is not None}
            for r in rows
        ]


def revoke_api_key(db: Database, audit: AuditLog, caller: Principal, key_id: int) -> None:
    """Revoke one of the caller's own keys, audited."""
    no_key_management_by_key(caller)
    with db.session() as s:
        row = s.get(ApiKey, key_id) if 1 <= key_id < 2**62 else None
        if row is None or row.user_id != caller.user_id:
            raise NotFound("API key")
        row.revoked_ms = now_ms()
        audit.record(s, caller.actor, "apikey.revoke", "ok", source_ip=caller.source_ip, details={"id": key_id})


# --- roles and organisations ----------------------------------------------------------------------------
def list_roles(db: Database, caller: Principal) -> list[dict[str, Any]]:
    with db.session() as s:
        q = select(Role).order_by(Role.id)
        if not caller.site_scope:
            q = q.where(or_(Role.organisation_id.is_(None), Role.organisation_id == caller.organisation_id))
        return [
            {"id": r.id, "name": r.name, "rights": r.rights, "all_cameras": r.all_cameras, "builtin": r.builtin,
             "organisation_id": r.organisation_id, "time_profile_id": r.time_profile_id}
            for r in s.scalars(q)
        ]  # fmt: skip


def list_organisations(db: Database, caller: Principal) -> list[dict[str, Any]]:
    with db.session() as s:
        oq = select(Organisation).order_by(Organisation.id)
        if not caller.site_scope:
            oq = oq.where(Organisation.id == caller.organisation_id)
        orgs = s.scalars(oq).all()
        groups = s.scalars(select(CameraGroup).order_by(CameraGroup.id)).all()
        return [
            {"id": o.id, "name": o.name,
             "camera_groups": [{"id": g.id, "name": g.name} for g in groups if g.organisation_id == o.id]}
            for o in orgs
        ]  # fmt: skip


# --- the audit log ------------------------------------------------------------------------------------------
def audit_search(
    db: Database, audit: AuditLog, caller: Principal, actor: str | None, action: str | None, camera: int | None,
    since: str | None, until: str | None, limit: int,
) -> list[dict[str, Any]]:  # fmt: skip
    """Entries the caller may read: an organisation sees what its users did and what happened to the
    cameras it owns; nobody sees entries of a camera it cannot see."""
    since_ms = iso_param(since, "since") if since else None
    until_ms = iso_param(until, "until") if until else None
    within = None
    with db.session() as s:
        visible = caller.visible([c.id for c in repos.list_cameras(s, include_deleted=True)])
        if not caller.site_scope:
            names = list(s.scalars(select(User.username).where(User.organisation_id == caller.organisation_id)))
            actors = names + [f"{n}(api-key)" for n in names]
            within = (actors, sorted(caller.permissions.owned_cameras))
    rows = audit.search(actor=actor, action=action, camera_id=camera, since_ms=since_ms, until_ms=until_ms,
                        limit=limit, within=within)  # fmt: skip
    out = []
    for r in rows:
        if r.camera_id is not None and r.camera_id not in visible:
            continue
        d = r.to_dict()
        d["time"] = to_iso(d.pop("time_ms"))
        d["start"], d["end"] = to_iso(d.pop("start_ms")), to_iso(d.pop("end_ms"))
        out.append(d)
    return out
