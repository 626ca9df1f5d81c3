"""Users, self-service (profile, password, TOTP, API keys), roles and the audit log.

Who may manage whom is the feature's rule (``ronda.access.user_admin``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ronda.access import user_admin
from ronda.access.rights import MANAGE_USERS, RIGHTS, VIEW_AUDIT
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

router = APIRouter(tags=["users"])
UserId = Annotated[int, Query(ge=1, le=2**31 - 1)]


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
    return user_admin.add_user(ctx.db, ctx.audit, caller, body.username, body.password, body.roles,
                               body.organisation_id, body.display_name)  # fmt: skip


@router.patch("/users/{user_id}", response_model=UserView, **global_right(MANAGE_USERS))
def update_user(ctx: Ctx, caller: Caller, user_id: int, body: UserUpdate) -> dict[str, Any]:
    return user_admin.update_user(ctx.db, ctx.audit, caller, user_id, sorted(body.model_fields_set), body.enabled,
                                  body.roles, body.password, body.display_name)  # fmt: skip


@router.patch("/me", response_model=SelfView, response_model_exclude_unset=True, **authenticated())
def update_me(ctx: Ctx, caller: Caller, body: SelfUpdate, request: Request, response: Response) -> dict[str, Any]:
    """Change the own profile. A new password ends every other session of the user; this session goes
    on with the new tokens in ``session`` (its earlier tokens stop working)."""
    view, fresh = user_admin.update_self(ctx.auth, caller, sorted(body.model_fields_set), body.display_name,
                                         body.password, body.current_password)  # fmt: skip
    if fresh is not None:
        view["session"] = _token_response(ctx, fresh, response, caller.via == "cookie", request.url.scheme == "https")
    return view


@router.post("/me/totp", response_model=TotpStart, **authenticated())
def totp_begin(ctx: Ctx, caller: Caller, body: TotpBegin) -> dict[str, Any]:
    """Start enrolling (or replacing) TOTP: needs the password, and the current code when TOTP is on.
    Confirmed from the same session (by any API process) within ``user_admin.PENDING_TOTP_S``."""
    return user_admin.totp_begin(ctx.auth, caller, body.password, body.code)


@router.post("/me/totp/confirm", response_model=TotpEnabled, **authenticated())
def totp_confirm(ctx: Ctx, caller: Caller, body: TotpCode) -> dict[str, Any]:
    user_admin.totp_confirm(ctx.auth, caller, body.password, body.code)
    return {"totp": True}


@router.post("/me/api-keys", status_code=201, response_model=NewApiKey, **authenticated())
def add_api_key(ctx: Ctx, caller: Caller, body: ApiKeyCreate) -> dict[str, Any]:
    """A key with some of the caller's rights (made in a login session, never with a key)."""
    return user_admin.add_api_key(ctx.db, ctx.audit, caller, body.name, body.rights, body.expires_in_days)


@router.get("/me/api-keys", response_model=list[ApiKeyView], **authenticated())
def list_api_keys(ctx: Ctx, caller: Caller) -> list[dict[str, Any]]:
    return user_admin.list_api_keys(ctx.db, caller)


@router.delete("/me/api-keys/{key_id}", status_code=204, response_class=Response, **authenticated())
def revoke_api_key(ctx: Ctx, caller: Caller, key_id: int) -> Response:
    """One of the caller's own keys (in a login session, never with a key)."""
    user_admin.revoke_api_key(ctx.db, ctx.audit, caller, key_id)
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
