"""Users, self-service (profile, password, TOTP, API keys), roles and the audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from ronda.access import passwords, totp
from ronda.access.password_policy import WeakPassword, check_password
from ronda.access.rights import MANAGE_USERS, RIGHTS, RIGHTS_ORDER, VIEW_AUDIT, granted_rights
from ronda.access.service import Principal, UserError, create_user, end_sessions
from ronda.access.tokens import new_api_key
from ronda.api.deps import Caller, Ctx, iso_param, not_found, require_global, require_site
from ronda.api.routes.auth import _token_response
from ronda.store import repos
from ronda.store.access_models import ApiKey, CameraGroup, Organisation, Role, TotpEnrolment, User, UserRole
from ronda.timeutil import now_ms, to_iso

router = APIRouter(tags=["users"])
UserId = Annotated[int, Query(ge=1, le=2**31 - 1)]
# A begun enrolment (``totp_enrolments``: the sealed secret, the session that asked for it, its expiry)
# is confirmed from the same session within PENDING_TOTP_S, by whichever API process serves it.
PENDING_TOTP_S = 600.0


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=8, max_length=1024)
    roles: list[str] = Field(default_factory=list, max_length=20)
    organisation_id: int | None = Field(None, ge=1, le=2**31 - 1)
    display_name: str | None = Field(None, max_length=200)


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool | None = None
    roles: list[str] | None = Field(None, max_length=20)
    password: str | None = Field(None, min_length=8, max_length=1024)
    display_name: str | None = Field(None, max_length=200)


class SelfUpdate(BaseModel):
    """What users may change about themselves; role and organisation are not among it."""

    model_config = ConfigDict(extra="forbid")
    display_name: str | None = Field(None, max_length=200)
    password: str | None = Field(None, min_length=8, max_length=1024)
    current_password: str | None = Field(None, max_length=1024)


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    rights: list[str] = Field(min_length=1, max_length=len(RIGHTS))
    expires_in_days: float | None = Field(None, gt=0, le=3650)


class TotpBegin(BaseModel):
    """Proof that the account holder asks: the password, and the current code when TOTP is on."""

    model_config = ConfigDict(extra="forbid")
    password: str = Field(min_length=1, max_length=1024)
    code: str | None = Field(None, min_length=6, max_length=6, pattern=r"^[0-9]{6}$")


class TotpCode(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=6, max_length=6, pattern=r"^[0-9]{6}$")
    password: str = Field(min_length=1, max_length=1024)


def _user_view(s: Any, u: User) -> dict[str, Any]:
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


def _grantable(s: Any, caller: Caller, role_names: list[str], organisation_id: int | None) -> list[Role]:
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
            raise HTTPException(422, f"unknown role {name!r}")
        extra = set(row.rights or []) - held
        if extra or (row.all_cameras and not caller_all):
            raise HTTPException(403, f"you may not grant role {name!r}")
    return [rows[n] for n in role_names]


def _scoped_user(s: Any, caller: Caller, user_id: int) -> User:
    """A user the caller may manage: inside its organisation (404 otherwise, as if it did not exist)
    and holding no right the caller lacks (403)."""
    u = s.get(User, user_id) if 1 <= user_id < 2**31 else None
    if u is None or not caller.in_scope(u.organisation_id):
        raise not_found("user")
    if not caller.outranks(granted_rights(s, u.id)):
        raise HTTPException(403, "this user holds rights you do not have")
    return u


@router.get("/users")
def list_users(ctx: Ctx, caller: Caller) -> list[dict[str, Any]]:
    require_global(caller, MANAGE_USERS)
    with ctx.db.session() as s:
        q = select(User).order_by(User.id)
        if not caller.site_scope:
            q = q.where(User.organisation_id == caller.organisation_id)
        return [_user_view(s, u) for u in s.scalars(q)]


@router.post("/users", status_code=201)
def add_user(ctx: Ctx, caller: Caller, body: UserCreate) -> dict[str, Any]:
    require_global(caller, MANAGE_USERS)
    org = body.organisation_id
    if not caller.site_scope:
        if org is None:
            org = caller.organisation_id  # an organisation's administrator adds users to its organisation
        elif org != caller.organisation_id:
            raise HTTPException(403, "you may only add users to your own organisation")
    with ctx.db.session() as s:
        if org is not None and s.get(Organisation, org) is None:
            raise HTTPException(422, f"organisation {org} does not exist")
        _grantable(s, caller, body.roles, org)

    def audit(s: Session, _user: User) -> None:
        ctx.audit.record(s, caller.actor, "user.create", "ok", source_ip=caller.source_ip,
                         details={"user": body.username, "roles": body.roles, "organisation": org})  # fmt: skip

    try:
        uid = create_user(ctx.db, body.username, body.password, body.roles, org, body.display_name, also=audit)
    except UserError as e:
        raise HTTPException(422, str(e)) from None
    with ctx.db.session() as s:
        u = s.get(User, uid)
        assert u is not None
        return _user_view(s, u)


@router.patch("/users/{user_id}")
def update_user(ctx: Ctx, caller: Caller, user_id: int, body: UserUpdate) -> dict[str, Any]:
    require_global(caller, MANAGE_USERS)
    with ctx.db.session() as s:
        u = _scoped_user(s, caller, user_id)
        new_roles = _grantable(s, caller, body.roles, u.organisation_id) if body.roles is not None else None
        if body.password is not None:
            try:
                check_password(body.password, u.username, u.display_name or "")
            except WeakPassword as e:
                raise HTTPException(422, str(e)) from None
        if body.enabled is not None:
            u.enabled = body.enabled
        if body.display_name is not None:
            u.display_name = body.display_name
        if body.password is not None:
            u.password_hash = passwords.hash_password(body.password)
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
        view = _user_view(s, u)
        ctx.audit.record(s, caller.actor, "user.update", "ok", source_ip=caller.source_ip,
                         details={"user": view["username"], "fields": sorted(body.model_fields_set)})  # fmt: skip
    return view


def _no_api_key(caller: Principal) -> None:
    """Sign-in settings (password, TOTP) are changed by the account holder in a login session,
    never with an API key, whatever its rights."""
    if caller.via == "api_key":
        raise HTTPException(403, "an API key cannot change the password or the one-time codes")


def _reauthenticate(ctx: Ctx, caller: Principal, password: str, code: str | None, need_code: bool) -> None:
    """403 unless ``password`` is the caller's (and ``code`` its current one-time code, when TOTP is on
    and ``need_code``). Throttled and counted like logins, so a stolen token cannot guess the password."""
    retry = ctx.auth.throttle.reserve(caller.username, caller.source_ip)
    if retry is not None:
        raise HTTPException(429, "too many failed attempts; try again later", headers={"Retry-After": str(retry)})
    ok = False
    try:
        with ctx.db.session() as s:
            u = s.get(User, caller.user_id)
            if u is None:
                raise not_found("user")
            ok, _ = passwords.verify_password(u.password_hash, password)
            if ok and need_code and u.totp_secret_enc:
                secret = ctx.secrets.decrypt(u.totp_secret_enc) or ""
                step = ctx.auth.totp.accept(u.id, secret, code or "", last_step=u.totp_last_step)
                ok = step is not None
                if step is not None:
                    u.totp_last_step = step  # a code works once, here as at login
    finally:
        (ctx.auth.throttle.release if ok else ctx.auth.throttle.failed)(caller.username, caller.source_ip)
    if not ok:
        ctx.audit.append(caller.actor, "user.reauth", "denied", source_ip=caller.source_ip)
        raise HTTPException(403, "the password (or the one-time code) is wrong")


@router.patch("/me")
def update_me(ctx: Ctx, caller: Caller, body: SelfUpdate, request: Request, response: Response) -> dict[str, Any]:
    """Change the own profile. A new password ends every other session of the user; this session goes
    on with the new tokens in ``session`` (its earlier tokens stop working)."""

    def apply(s: Session, u: User) -> None:  # the profile change and its entry: one transaction
        if body.display_name is not None:
            u.display_name = body.display_name
        ctx.audit.record(s, caller.actor, "user.self_update", "ok", source_ip=caller.source_ip,
                         details={"fields": sorted(body.model_fields_set - {"current_password"})})  # fmt: skip

    fresh = None
    if body.password is not None:
        _no_api_key(caller)
        if not body.current_password:
            raise HTTPException(403, "current_password is wrong")
        _reauthenticate(ctx, caller, body.current_password, None, need_code=False)
        try:
            check_password(body.password, caller.username)
        except WeakPassword as e:
            raise HTTPException(422, str(e)) from None
        fresh = ctx.auth.change_password(caller.user_id, body.password, keep_session=caller.session_id, also=apply)
    with ctx.db.session() as s:
        u = s.get(User, caller.user_id)
        if u is None:
            raise not_found("user")
        if body.password is None:
            apply(s, u)
        s.flush()
        view = _user_view(s, u)
    if fresh is not None:
        view["session"] = _token_response(ctx, fresh, response, caller.via == "cookie", request.url.scheme == "https")
    return view


@router.post("/me/totp")
def totp_begin(ctx: Ctx, caller: Caller, body: TotpBegin) -> dict[str, Any]:
    """Start enrolling (or replacing) TOTP: needs the password, and the current code when TOTP is on."""
    _no_api_key(caller)
    _reauthenticate(ctx, caller, body.password, body.code, need_code=True)
    secret = totp.new_totp_secret()
    t = now_ms()
    with ctx.db.session() as s:  # a new enrolment replaces the user's earlier one; expired ones go
        s.execute(delete(TotpEnrolment).where(TotpEnrolment.expires_ms < t))
        s.merge(TotpEnrolment(user_id=caller.user_id, secret_enc=ctx.secrets.encrypt(secret),
                              session_id=caller.session_id, created_ms=t,
                              expires_ms=t + int(PENDING_TOTP_S * 1000)))  # fmt: skip
    return {"secret": secret, "uri": totp.provisioning_uri(secret, caller.username)}


@router.post("/me/totp/confirm")
def totp_confirm(ctx: Ctx, caller: Caller, body: TotpCode) -> dict[str, Any]:
    _no_api_key(caller)
    _reauthenticate(ctx, caller, body.password, None, need_code=False)
    refused = HTTPException(422, "the code does not match; start again with POST /me/totp")
    with ctx.db.session() as s:
        pending = s.get(TotpEnrolment, caller.user_id)
        if pending is None or pending.session_id != caller.session_id or pending.expires_ms < now_ms():
            raise refused  # never started, started in another session, or too long ago
        secret = ctx.secrets.decrypt(pending.secret_enc) or ""
        step = totp.match_step(secret, body.code, now_ms() / 1000) if secret else None
        if step is None:
            raise refused
        # Taken once: of two concurrent confirmations (any processes) only the one that deletes it goes on.
        gone = s.execute(delete(TotpEnrolment).where(TotpEnrolment.user_id == caller.user_id,
                                                     TotpEnrolment.created_ms == pending.created_ms))  # fmt: skip
        if getattr(gone, "rowcount", 1) != 1:
            raise refused
        u = s.get(User, caller.user_id)
        assert u is not None
        u.totp_secret_enc = ctx.secrets.encrypt(secret)
        u.totp_last_step = step  # the enrolment code cannot be replayed to log in
        ctx.audit.record(s, caller.actor, "user.totp_enabled", "ok", source_ip=caller.source_ip)
    return {"totp": True}


def _no_key_management_by_key(caller: Principal) -> None:
    """API keys are made and revoked in a login session: a key that could mint keys would leave spares
    that outlive its own revocation (and one could revoke the others)."""
    if caller.via == "api_key":
        raise HTTPException(403, "API keys are managed in a login session, not with an API key")


@router.post("/me/api-keys", status_code=201)
def add_api_key(ctx: Ctx, caller: Caller, body: ApiKeyCreate) -> dict[str, Any]:
    _no_key_management_by_key(caller)
    unknown = set(body.rights) - RIGHTS
    if unknown:
        raise HTTPException(422, f"unknown rights: {', '.join(sorted(unknown))}")
    if set(body.rights) - caller.permissions.all_rights(now_ms()):
        raise HTTPException(403, "an API key cannot have rights its owner lacks")
    k = new_api_key()
    with ctx.db.session() as s:
        row = ApiKey(
            user_id=caller.user_id,
            name=body.name,
            prefix=k.prefix,
            key_hash=k.key_hash,
            rights=[r for r in RIGHTS_ORDER if r in body.rights],
            created_ms=now_ms(),
            expires_ms=now_ms() + int(body.expires_in_days * 86_400_000) if body.expires_in_days else None,
        )
        s.add(row)
        s.flush()
        kid = row.id
        ctx.audit.record(s, caller.actor, "apikey.create", "ok", source_ip=caller.source_ip,
                         details={"name": body.name, "rights": body.rights})  # fmt: skip
    return {"id": kid, "name": body.name, "key": k.key, "rights": body.rights}


@router.get("/me/api-keys")
def list_api_keys(ctx: Ctx, caller: Caller) -> list[dict[str, Any]]:
    with ctx.db.session() as s:
        rows = s.scalars(select(ApiKey).where(ApiKey.user_id == caller.user_id).order_by(ApiKey.id))
        return [
            {"id": r.id, "name": r.name, "prefix": r.prefix, "rights": r.rights, "revoked": r.revoked_ms is not None}
            for r in rows
        ]


@router.delete("/me/api-keys/{key_id}", status_code=204)
def revoke_api_key(ctx: Ctx, caller: Caller, key_id: int) -> Response:
    _no_key_management_by_key(caller)
    with ctx.db.session() as s:
        row = s.get(ApiKey, key_id) if 1 <= key_id < 2**62 else None
        if row is None or row.user_id != caller.user_id:
            raise not_found("API key")
        row.revoked_ms = now_ms()
        ctx.audit.record(s, caller.actor, "apikey.revoke", "ok", source_ip=caller.source_ip, details={"id": key_id})
    return Response(status_code=204)


@router.get("/roles")
def list_roles(ctx: Ctx, caller: Caller) -> list[dict[str, Any]]:
    require_global(caller, MANAGE_USERS)
    with ctx.db.session() as s:
        q = select(Role).order_by(Role.id)
        if not caller.site_scope:
            q = q.where(or_(Role.organisation_id.is_(None), Role.organisation_id == caller.organisation_id))
        return [
            {"id": r.id, "name": r.name, "rights": r.rights, "all_cameras": r.all_cameras, "builtin": r.builtin,
             "organisation_id": r.organisation_id, "time_profile_id": r.time_profile_id}
            for r in s.scalars(q)
        ]  # fmt: skip


@router.get("/organisations")
def list_organisations(ctx: Ctx, caller: Caller) -> list[dict[str, Any]]:
    require_global(caller, MANAGE_USERS)
    with ctx.db.session() as s:
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


@router.get("/audit")
def audit_search(
    ctx: Ctx,
    caller: Caller,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    camera: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    since: Annotated[str | None, Query(max_length=64)] = None,
    until: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    require_global(caller, VIEW_AUDIT)
    since_ms = iso_param(since, "since") if since else None
    until_ms = iso_param(until, "until") if until else None
    within = None
    with ctx.db.session() as s:
        visible = caller.visible([c.id for c in repos.list_cameras(s, include_deleted=True)])
        if not caller.site_scope:
            # An organisation sees what its users did and what happened to the cameras it owns.
            names = list(s.scalars(select(User.username).where(User.organisation_id == caller.organisation_id)))
            actors = names + [f"{n}(api-key)" for n in names]
            within = (actors, sorted(caller.permissions.owned_cameras))
    rows = ctx.audit.search(actor=actor, action=action, camera_id=camera, since_ms=since_ms, until_ms=until_ms,
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


@router.get("/audit/verify")
def audit_verify(ctx: Ctx, caller: Caller) -> dict[str, Any]:
    require_site(caller, VIEW_AUDIT)  # the chain is the whole site's
    v = ctx.audit.verify()
    return {"ok": v.ok, "first_bad_seq": v.first_bad_seq, "message": v.message, "entries": v.entries}
