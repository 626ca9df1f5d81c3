"""Request dependencies: the caller (authenticated on every request) and object-level checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request

from ronda.access.service import AuthError, Principal
from ronda.access.tokens import API_KEY_PREFIX
from ronda.api.app import AppContext
from ronda.timeutil import TimeOutOfRange, parse_iso

# Ids are 32-bit in the schema; anything larger is simply "not found", never a 500.
CameraId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Camera id")]
SESSION_COOKIE = "ronda_session"
CSRF_COOKIE = "ronda_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": 'Bearer realm="ronda"'})


def principal(request: Request) -> Principal:
    """Bearer access token, API key (Bearer or X-API-Key), or session cookie + CSRF header."""
    ctx = context(request)
    header = request.headers.get("authorization")
    api_key = request.headers.get("x-api-key")
    cookie = request.cookies.get(SESSION_COOKIE)
    try:
        if header:
            scheme, _, cred = header.partition(" ")
            cred = cred.strip()
            if scheme.lower() != "bearer" or not cred:
                raise unauthorized("use Authorization: Bearer <token>")
            p = (
                ctx.auth.principal_from_api_key(cred)
                if cred.startswith(API_KEY_PREFIX)
                else ctx.auth.principal_from_token(cred)
            )
        elif api_key:
            p = ctx.auth.principal_from_api_key(api_key)
        elif cookie:
            p = ctx.auth.principal_from_token(cookie, via="cookie")
            # Cookies ride along on cross-site requests: changes need the CSRF header too.
            if request.method not in SAFE_METHODS and not ctx.auth.check_csrf(
                p.session_id, request.headers.get(CSRF_HEADER)
            ):
                raise HTTPException(403, "CSRF token missing or wrong")
        else:
            raise unauthorized("authentication required")
    except AuthError as e:
        raise unauthorized(e.message) from None
    p.source_ip = client_ip(request)
    return p


Ctx = Annotated[AppContext, Depends(context)]
Caller = Annotated[Principal, Depends(principal)]


def iso_param(text: str, what: str) -> int:
    """A query/body time in ISO 8601 → epoch ms, or a 422 that names the field."""
    try:
        return parse_iso(text)
    except TimeOutOfRange:
        raise HTTPException(422, f"{what} is out of range: times run from 1970-01-01 to 9998-12-31 (UTC)") from None
    except ValueError:
        raise HTTPException(422, f"{what} must be an ISO 8601 time, e.g. 2026-05-26T10:00:00Z") from None


def not_found(what: str = "camera") -> HTTPException:
    return HTTPException(status_code=404, detail=f"{what} not found")


def require_camera(caller: Principal, camera_id: int, right: str | None) -> None:
    """404 when the caller may not see the camera at all, 403 when it sees it but lacks ``right``."""
    if not caller.visible([camera_id]):
        raise not_found()
    if right is not None and not caller.can(right, camera_id):
        raise HTTPException(403, f"the '{right}' right on this camera is needed")


def require_global(caller: Principal, right: str) -> None:
    if not caller.has(right):
        raise HTTPException(403, f"the '{right}' right is needed")


def require_site(caller: Principal, right: str) -> None:
    """Site-wide objects (the map plan, storage, other organisations): a site-scope holder of ``right``."""
    require_global(caller, right)
    if not caller.site_scope:
        raise HTTPException(403, f"a site administrator (the '{right}' right without an organisation) is needed")
