"""Login, refresh, logout, the caller, WebSocket tickets and the live event stream."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request, Response, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field

from ronda.access import profile
from ronda.access.rights import MANAGE_CAMERAS
from ronda.access.service import AuthError, LoginThrottled
from ronda.api.deps import CSRF_COOKIE, SESSION_COOKIE, Caller, Ctx, authenticated, client_ip, declare_ws, public
from ronda.api.schemas.auth import MeView, Ticket, Tokens
from ronda.cluster import federation_alarms
from ronda.events import visibility as alarm_rules
from ronda.events.messages import AlarmChanged, Event, Message
from ronda.events.plate_privacy import PlateFilter

router = APIRouter(tags=["auth"])
# How often an open socket re-checks its session or API key (and the rights): a socket closes at most
# about this long (plus one wait below) after logout, a password change or a key revocation.
SOCKET_RECHECK_S = 3.0


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


# A refused sign-in says why in a machine-readable ``code`` next to the English ``detail``. Every
# refusal of the credentials is the same ``login_failed`` (a wrong password, an unknown user, a missing
# or wrong one-time code): the right password alone must not be recognisable (issue 10). Clients ask
# for the one-time code on ``login_failed``.
LOGIN_FAILED, LOGIN_THROTTLED = "login_failed", "login_throttled"


@router.post(
    "/auth/login",
    response_model=Tokens,
    response_model_exclude_unset=True,
    responses={401: {"description": '`{"detail", "code": "login_failed"}`'},
               429: {"description": '`{"detail", "code": "login_throttled"}`, with Retry-After'}},
    **public(),
)  # fmt: skip
def login(ctx: Ctx, body: LoginBody, request: Request, response: Response) -> dict[str, Any]:
    """Refused credentials answer 401 (``AuthError``), too many failures 429 (``LoginThrottled``)."""
    try:
        res = ctx.auth.login(
            body.username, body.password, body.totp, client_ip(request), request.headers.get("user-agent")
        )
    except LoginThrottled as e:
        e.code = LOGIN_THROTTLED
        raise
    except AuthError as e:
        e.code = LOGIN_FAILED
        raise
    return _token_response(ctx, res, response, body.cookie, request.url.scheme == "https")


@router.post("/auth/refresh", response_model=Tokens, response_model_exclude_unset=True, **public())
def refresh(ctx: Ctx, body: RefreshBody, request: Request, response: Response) -> dict[str, Any]:
    res = ctx.auth.refresh(body.refresh_token, client_ip(request))
    return _token_response(ctx, res, response, False, request.url.scheme == "https")


@router.post("/auth/logout", status_code=204, response_class=Response, **authenticated())
def logout(ctx: Ctx, caller: Caller) -> Response:
    ctx.auth.logout(caller)
    resp = Response(status_code=204)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    resp.delete_cookie(CSRF_COOKIE, path="/")
    return resp


@router.get("/me", response_model=MeView, **authenticated())
def me(ctx: Ctx, caller: Caller) -> dict[str, Any]:
    """The caller, its roles and the rights it holds now (on at least one camera)."""
    return profile.me(ctx.db, caller)


@router.post("/ws-ticket", response_model=Ticket, **authenticated())
def ws_ticket(ctx: Ctx, caller: Caller) -> dict[str, Any]:
    """A single-use ticket (30 s) for the WebSocket: browsers cannot set headers on WebSockets. The
    socket keeps the caller's session or API key (and so an API key's restricted rights), and closes
    when that session ends or that key is revoked."""
    return {"ticket": ctx.auth.tickets.issue(caller.binding()), "expires_in": 30}


def origin_ok(ws: WebSocket) -> bool:
    origin = ws.headers.get("origin")
    if origin is None:
        return True  # not a browser
    host = ws.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


@router.websocket("/ws")
@declare_ws(authenticated())
async def events_ws(ws: WebSocket) -> None:
    """Live events and alarm changes the caller may see: JSON messages ``{"kind": "event", "event":
    {...}}`` and ``{"kind": "alarm", "change": "created|updated|take|...", "alarm": {...}}``; at a federation
    centre also ``{"kind": "remote_alarm", "site", "alarm", "camera", "state", "change"}`` (or ``"resync":
    true``) for the remote cameras the caller has the alarms right on (docs/cluster.md)."""
    ctx = ws.app.state.ctx
    if not origin_ok(ws):
        await ws.close(code=4403, reason="origin not allowed")
        return
    binding = await asyncio.to_thread(ctx.auth.tickets.redeem, ws.query_params.get("ticket", ""))
    await ws.accept()
    if binding is None:  # closed after the handshake, so a browser sees the code (4401: new ticket)
        await ws.close(code=4401, reason="invalid or expired ticket")
        return
    p = await asyncio.to_thread(ctx.auth.principal_for_binding, binding, "ws")
    if p is None:
        await ws.close(code=4401, reason="session ended")
        return
    fed = ctx.federation  # a centre: its users with the alarms right on a remote camera hear of its alarms
    remote = await asyncio.to_thread(fed.alarm_cameras, p) if fed is not None else {}
    state: dict[str, Any] = {"p": p, "seen": {}, "plates": PlateFilter(p), "remote": remote}

    def sees_camera(cam: int) -> bool:
        seen = state["seen"]
        if cam not in seen:
            seen[cam] = bool(state["p"].visible([cam]))
        return bool(seen[cam])

    def allowed(msg: Message) -> bool | Message:
        """Whether the caller gets ``msg``, or the redacted copy it gets instead (an alarm seen only
        through a related camera: the same rule as GET /alarms; a plate event of a camera whose plates
        the caller may not read: the same as GET /events)."""
        p = state["p"]
        if isinstance(msg, AlarmChanged):
            alarm = msg.alarm
            cams = list(alarm.cameras)
            if not alarm_rules.visible(p, cams):
                return False
            if alarm_rules.sees_primary(p, {"camera": alarm.camera, "cameras": cams}):
                return True
            return replace(msg, alarm=alarm.redacted_copy(alarm_rules.REDACTED_TITLE))
        cam = msg.camera
        if cam is None:
            seen = bool(p.site_scope and p.has(MANAGE_CAMERAS))  # system and security events
        else:
            seen = sees_camera(cam)
        if not seen:
            return False
        shown: Event = state["plates"].event(msg)
        return True if shown is msg else shown

    fanout = ctx.events.fanout
    client = fanout.add(allowed)

    def remote_alarm(site_id: int, data: dict[str, Any] | None) -> None:
        text = federation_alarms.user_message(state["remote"], site_id, data)
        if text is not None:
            client.offer(text)

    feed = fed.alarm_feed if fed is not None else None
    if feed is not None:
        feed.watch(remote_alarm)

    async def recheck() -> None:
        """Every ``SOCKET_RECHECK_S``: the session (ended, key revoked: return) and the rights, as the filters
        use them. It runs beside the sending: a recheck waiting for the database does not hold up events."""
        while True:
            await asyncio.sleep(SOCKET_RECHECK_S)
            p = await asyncio.to_thread(ctx.auth.principal_for_binding, binding, "ws")
            if p is None:
                return
            remote = await asyncio.to_thread(fed.alarm_cameras, p) if fed is not None else {}
            state.update(p=p, seen={}, plates=PlateFilter(p), remote=remote)

    reader = asyncio.create_task(until_closed(ws))
    watcher = asyncio.create_task(recheck())
    try:
        while not reader.done():
            getter = asyncio.ensure_future(client.queue.get())
            done, _ = await asyncio.wait({getter, reader, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                text = getter.result()
                batch = [text]
                while not client.queue.empty() and len(batch) < 500:
                    batch.append(client.queue.get_nowait())
                for t in batch:
                    if t is not None:
                        await ws.send_text(t)
            else:
                getter.cancel()
            if client.overflowed:
                await ws.close(code=4008, reason="too far behind: reconnect")
                return
            if watcher.done():
                watcher.result()  # a database error ends the socket, as it always did
                await ws.close(code=4401, reason="session ended")
                return
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        fanout.remove(client)
        if feed is not None:
            feed.unwatch(remote_alarm)
        reader.cancel()
        watcher.cancel()


async def until_closed(ws: WebSocket) -> None:
    """Read (and ignore) what the client sends, so a closed connection is noticed at once."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            msg = await ws.receive()
            if msg.get("type") == "websocket.disconnect":
                return
