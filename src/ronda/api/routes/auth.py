"""Login, refresh, logout, the caller, WebSocket tickets and the live event stream."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from ronda.access.rights import MANAGE_CAMERAS, RIGHTS_ORDER
from ronda.access.service import AuthError, Principal
from ronda.api.deps import CSRF_COOKIE, SESSION_COOKIE, Caller, Ctx, client_ip
from ronda.api.routes.system import event_view
from ronda.store import repos
from ronda.store.access_models import User
from ronda.store.models import Event
from ronda.timeutil import now_ms

router = APIRouter(tags=["auth"])


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=1024)
    totp: str | None = Field(None, max_length=12, description="one-time code when TOTP is enabled")
    cookie: bool = Field(False, description="also set an HttpOnly session cookie (web client)")


class RefreshBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str = Field(min_length=10, max_length=200)


def _token_response(ctx: Ctx, res: Any, response: Response, cookie: bool, secure: bool) -> dict[str, Any]:
    body = {
        "access_token": res.access_token,
        "token_type": "bearer",
        "expires_in": res.expires_in,
        "refresh_token": res.refresh_token,
    }
    if cookie:
        csrf = ctx.auth.csrf_token(res.session_id)
        response.set_cookie(
            SESSION_COOKIE, res.access_token, max_age=res.expires_in, httponly=True, samesite="strict", secure=secure,
            path="/",
        )  # fmt: skip
        response.set_cookie(CSRF_COOKIE, csrf, max_age=res.expires_in, samesite="strict", secure=secure, path="/")
        body["csrf_token"] = csrf
    return body


@router.post("/auth/login")
def login(ctx: Ctx, body: LoginBody, request: Request, response: Response) -> dict[str, Any]:
    try:
        res = ctx.auth.login(
            body.username, body.password, body.totp, client_ip(request), request.headers.get("user-agent")
        )
    except AuthError as e:
        headers = {"WWW-Authenticate": 'Bearer realm="ronda"'}
        if e.retry_after:
            headers["Retry-After"] = str(e.retry_after)
        raise HTTPException(e.status, e.message, headers=headers) from None
    return _token_response(ctx, res, response, body.cookie, request.url.scheme == "https")


@router.post("/auth/refresh")
def refresh(ctx: Ctx, body: RefreshBody, request: Request, response: Response) -> dict[str, Any]:
    try:
        res = ctx.auth.refresh(body.refresh_token, client_ip(request))
    except AuthError as e:
        raise HTTPException(e.status, e.message, headers={"WWW-Authenticate": 'Bearer realm="ronda"'}) from None
    return _token_response(ctx, res, response, False, request.url.scheme == "https")


@router.post("/auth/logout", status_code=204)
def logout(ctx: Ctx, caller: Caller) -> Response:
    ctx.auth.logout(caller)
    resp = Response(status_code=204)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    resp.delete_cookie(CSRF_COOKIE, path="/")
    return resp


def me_view(caller: Principal) -> dict[str, Any]:
    rights = caller.permissions.all_rights(now_ms())
    return {
        "id": caller.user_id,
        "username": caller.username,
        "roles": caller.roles,
        "organisation_id": caller.organisation_id,
        "rights": [r for r in RIGHTS_ORDER if r in rights],
        "via": caller.via,
    }


@router.get("/me")
def me(ctx: Ctx, caller: Caller) -> dict[str, Any]:
    """The caller, its roles and the rights it holds now (on at least one camera)."""
    with ctx.db.session() as s:
        cams = [c.id for c in repos.list_cameras(s)]
    out = me_view(caller)
    out["cameras"] = {str(c): sorted(caller.rights_for(c)) for c in sorted(caller.visible(cams))}
    return out


@router.post("/ws-ticket")
def ws_ticket(ctx: Ctx, caller: Caller) -> dict[str, Any]:
    """A single-use ticket (30 s) for the WebSocket: browsers cannot set headers on WebSockets."""
    return {"ticket": ctx.auth.tickets.issue(caller.user_id), "expires_in": 30}


def origin_ok(ws: WebSocket) -> bool:
    origin = ws.headers.get("origin")
    if origin is None:
        return True  # not a browser
    host = ws.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


@router.websocket("/ws")
async def events_ws(ws: WebSocket) -> None:
    """Live events the caller may see, as JSON messages ``{"kind": "event", "event": {...}}``."""
    ctx = ws.app.state.ctx
    if not origin_ok(ws):
        await ws.close(code=4403, reason="origin not allowed")
        return
    user_id = ctx.auth.tickets.redeem(ws.query_params.get("ticket", ""))
    # The stream starts at the newest event as of the handshake: nothing after it is missed.
    last_id = await asyncio.to_thread(_last_event_id, ctx)
    await ws.accept()
    if user_id is None:  # closed after the handshake, so a browser sees the code (4401: new ticket)
        await ws.close(code=4401, reason="invalid or expired ticket")
        return
    username = await asyncio.to_thread(_username, ctx, user_id)
    try:
        while True:
            p = await asyncio.to_thread(ctx.auth.principal_for_user, username, "ws")
            if p is None or p.user_id != user_id:
                await ws.close(code=4401, reason="user disabled")
                return
            rows = await asyncio.to_thread(_events_after, ctx, last_id)
            for e in rows:
                last_id = max(last_id, e.id)
                if (e.camera_id is None and p.has(MANAGE_CAMERAS)) or (
                    e.camera_id is not None and p.visible([e.camera_id])
                ):
                    await ws.send_json({"kind": "event", "event": event_view(e)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ws.receive_text(), 0.5)
    except WebSocketDisconnect:
        return


def _username(ctx: Any, user_id: int) -> str:
    with ctx.db.session() as s:
        u = s.get(User, user_id)
        return u.username if u else ""


def _last_event_id(ctx: Any) -> int:
    with ctx.db.session() as s:
        return int(s.scalar(select(func.coalesce(func.max(Event.id), 0))) or 0)


def _events_after(ctx: Any, last_id: int) -> list[Event]:
    with ctx.db.session() as s:
        return list(s.scalars(select(Event).where(Event.id > last_id).order_by(Event.id).limit(500)))
