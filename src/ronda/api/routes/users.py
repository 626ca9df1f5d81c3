"""Users, self-service (profile, password, TOTP, API keys), roles and the audit log.

Who may manage whom is the feature's rule (``ronda.access.user_admin``).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ronda.access import totp, user_admin
from ronda.access.password_policy import WeakPassword, check_password
from ronda.access.rights import MANAGE_USERS, RIGHTS, VIEW_AUDIT
from ronda.access.service import Principal
from ronda.api.deps import Caller, Ctx, authenticated, global_right, site_right
from ronda.api.routes.auth import _token_response
from ronda.api.schemas.users import (
    ApiKeyView,
    AuditEntry,
    AuditVerify,
    NewApiKey,
    OrganisationView,
    RoleView,
    SelfView,
    TotpEnabled,
    TotpStart,
    UserView,
)
from ronda.errors import Forbidden, Invalid
from ronda.store.access_models import User
from ronda.timeutil import now_ms

router = APIRouter(tags=["users"])
UserId = Annotated[int, Query(ge=1, le=2**31 - 1)]
# user id -> (new secret, the session that asked for it, monotonic deadline); the confirmation must
# come from the same session, within PENDING_TOTP_S.
_pending_totp: dict[int, tuple[str, str | None, float]] = {}
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


@router.get("/users", response_model=list[UserView], **global_right(MANAGE_USERS))
def list_users(ctx: Ctx, caller: Caller) -> list[dict[str, Any]]:
    return user_admin.list_users(ctx.db, caller)


@router.post("/users", status_code=201, response_model=UserView, **global_right(MANAGE_USERS))
def add_user(ctx: Ctx, caller: Caller, body: UserCreate) -> dict[str, Any]:
    view, org = user_admin.add_user(ctx.db, caller, body.username, body.password, body.roles, body.organisation_id,
                                    body.display_name)  # fmt: skip
    ctx.audit.append(caller.actor, "user.create", "ok", source_ip=caller.source_ip,
                     details={"user": body.username, "roles": body.roles, "organisation": org})  # fmt: skip
    return view


@router.patch("/users/{user_id}", response_model=UserView, **global_right(MANAGE_USERS))
def update_user(ctx: Ctx, caller: Caller, user_id: int, body: UserUpdate) -> dict[str, Any]:
    view = user_admin.update_user(ctx.db, caller, user_id, body.enabled, body.roles, body.password,
                                  body.display_name)  # fmt: skip
    ctx.audit.append(caller.actor, "user.update", "ok", source_ip=caller.source_ip,
                     details={"user": view["username"], "fields": sorted(body.model_fields_set)})  # fmt: skip
    return view


def _no_api_key(caller: Principal) -> None:
    user_admin.no_api_key(caller)


def _reauthenticate(ctx: Ctx, caller: Principal, password: str, code: str | None, need_code: bool) -> None:
    user_admin.reauthenticate(ctx.auth, caller, password, code, need_code)


@router.patch("/me", response_model=SelfView, response_model_exclude_unset=True, **authenticated())
def update_me(ctx: Ctx, caller: Caller, body: SelfUpdate, request: Request, response: Response) -> dict[str, Any]:
    """Change the own profile. A new password ends every other session of the user; this session goes
    on with the new tokens in ``session`` (its earlier tokens stop working)."""
    fresh = None
    if body.password is not None:
        _no_api_key(caller)
        if not body.current_password:
            raise Forbidden("current_password is wrong")
        _reauthenticate(ctx, caller, body.current_password, None, need_code=False)
        try:
            check_password(body.password, caller.username)
        except WeakPassword as e:
            raise Invalid(str(e)) from None
        fresh = ctx.auth.change_password(caller.user_id, body.password, keep_session=caller.session_id)
    view = user_admin.own_view(ctx.db, caller, body.display_name)
    ctx.audit.append(caller.actor, "user.self_update", "ok", source_ip=caller.source_ip,
                     details={"fields": sorted(body.model_fields_set - {"current_password"})})  # fmt: skip
    if fresh is not None:
        view["session"] = _token_response(ctx, fresh, response, caller.via == "cookie", request.url.scheme == "https")
    return view


@router.post("/me/totp", response_model=TotpStart, **authenticated())
def totp_begin(ctx: Ctx, caller: Caller, body: TotpBegin) -> dict[str, Any]:
    """Start enrolling (or replacing) TOTP: needs the password, and the current code when TOTP is on."""
    _no_api_key(caller)
    _reauthenticate(ctx, caller, body.password, body.code, need_code=True)
    secret = totp.new_totp_secret()
    _pending_totp[caller.user_id] = (secret, caller.session_id, time.monotonic() + PENDING_TOTP_S)
    return {"secret": secret, "uri": totp.provisioning_uri(secret, caller.username)}


@router.post("/me/totp/confirm", response_model=TotpEnabled, **authenticated())
def totp_confirm(ctx: Ctx, caller: Caller, body: TotpCode) -> dict[str, Any]:
    _no_api_key(caller)
    _reauthenticate(ctx, caller, body.password, None, need_code=False)
    pending = _pending_totp.get(caller.user_id)
    if pending is None or pending[1] != caller.session_id or pending[2] < time.monotonic():
        # never started, started in another session, or too long ago
        raise HTTPException(422, "the code does not match; start again with POST /me/totp")
    secret = pending[0]
    step = totp.match_step(secret, body.code, now_ms() / 1000)
    if step is None:
        raise HTTPException(422, "the code does not match; start again with POST /me/totp")
    with ctx.db.session() as s:
        u = s.get(User, caller.user_id)
        assert u is not None
        u.totp_secret_enc = ctx.secrets.encrypt(secret)
        u.totp_last_step = step  # the enrolment code cannot be replayed to log in
    _pending_totp.pop(caller.user_id, None)
    ctx.audit.append(caller.actor, "user.totp_enabled", "ok", source_ip=caller.source_ip)
    return {"totp": True}


@router.post("/me/api-keys", status_code=201, response_model=NewApiKey, **authenticated())
def add_api_key(ctx: Ctx, caller: Caller, body: ApiKeyCreate) -> dict[str, Any]:
    """A key with some of the caller's rights (made in a login session, never with a key)."""
    out = user_admin.add_api_key(ctx.db, caller, body.name, body.rights, body.expires_in_days)
    ctx.audit.append(caller.actor, "apikey.create", "ok", source_ip=caller.source_ip,
                     details={"name": body.name, "rights": body.rights})  # fmt: skip
    return out


@router.get("/me/api-keys", response_model=list[ApiKeyView], **authenticated())
def list_api_keys(ctx: Ctx, caller: Caller) -> list[dict[str, Any]]:
    return user_admin.list_api_keys(ctx.db, caller)


@router.delete("/me/api-keys/{key_id}", status_code=204, response_class=Response, **authenticated())
def revoke_api_key(ctx: Ctx, caller: Caller, key_id: int) -> Response:
    """One of the caller's own keys (in a login session, never with a key)."""
    user_admin.revoke_api_key(ctx.db, caller, key_id)
    ctx.audit.append(caller.actor, "apikey.revoke", "ok", source_ip=caller.source_ip, details={"id": key_id})
    return Response(status_code=204)


@router.get("/roles", response_model=list[RoleView], **global_right(MANAGE_USERS))
def list_roles(ctx: Ctx, caller: Caller) -> list[dict[str, Any]]:
    return user_admin.list_roles(ctx.db, caller)


@router.get("/organisations", response_model=list[OrganisationView], **global_right(MANAGE_USERS))
def list_organisations(ctx: Ctx, caller: Caller) -> list[dict[str, Any]]:
    return user_admin.list_organisations(ctx.db, caller)


@router.get("/audit", response_model=list[AuditEntry], **global_right(VIEW_AUDIT))
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
    return user_admin.audit_search(ctx.db, ctx.audit, caller, actor, action, camera, since, until, limit)


@router.get("/audit/verify", response_model=AuditVerify, **site_right(VIEW_AUDIT))
def audit_verify(ctx: Ctx) -> dict[str, Any]:
    """The whole chain (the site's: for a site-scope holder of view_audit)."""
    v = ctx.audit.verify()
    return {"ok": v.ok, "first_bad_seq": v.first_bad_seq, "message": v.message, "entries": v.entries}
