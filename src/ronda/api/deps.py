"""Request dependencies: the caller (authenticated on every request), the declared rights of every route,
and the one dependency through which every token-authenticated media request passes.

Rights are declared, deny by default: every route names what it needs with one of ``public``,
``authenticated``, ``global_right(R)``, ``site_right(R)``, ``camera_right(R)``, ``object_right(KIND, R)``
or ``stream_right(R)``, spread into its decorator::

    @router.get("/cameras/{camera_id}/recordings", response_model=Recordings, **camera_right(PLAYBACK))

Each helper returns the route's ``dependencies`` (the check, run before the route) and its
``openapi_extra`` (``x-ronda-right``: the declaration, readable in the OpenAPI document). WebSocket
routes, which the document does not list, carry the same declaration through ``declare_ws``. A test
(tests/api/test_route_rights.py) fails for any route without a declaration.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Path, Query, Request
from pydantic import TypeAdapter, ValidationError

from ronda.access.rights import CAMERA_RIGHTS, GLOBAL_RIGHTS, RIGHTS
from ronda.access.service import Principal
from ronda.access.tokens import API_KEY_PREFIX, InvalidToken
from ronda.api.context import AppContext
from ronda.errors import Forbidden, Invalid, NotFound, Unauthenticated
from ronda.timeutil import iso_param as iso_param  # re-exported for the routes
from ronda.timeutil import iso_range as iso_range

# Ids are 32-bit in the schema; anything larger is simply "not found", never a 500.
CameraId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Camera id")]
SESSION_COOKIE = "ronda_session"
CSRF_COOKIE = "ronda_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


async def _context(request: Request) -> AppContext:
    """``context`` as a dependency: async, since FastAPI runs a plain ``def`` dependency in a worker
    thread, and this one only reads an attribute."""
    return context(request)


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def unauthorized(message: str) -> Unauthenticated:
    """401 with ``WWW-Authenticate`` (``api.app`` adds the header to every ``Unauthenticated``)."""
    return Unauthenticated(message)


def principal(request: Request) -> Principal:
    """Bearer access token, API key (Bearer or X-API-Key), or session cookie + CSRF header. Refused
    credentials raise ``Unauthenticated`` (``AuthError`` is one: 401); a cookie without its CSRF header
    on a change ``Forbidden``."""
    ctx = context(request)
    header = request.headers.get("authorization")
    api_key = request.headers.get("x-api-key")
    cookie = request.cookies.get(SESSION_COOKIE)
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
            raise Forbidden("CSRF token missing or wrong")
    else:
        raise unauthorized("authentication required")
    p.source_ip = client_ip(request)
    return p


Ctx = Annotated[AppContext, Depends(_context)]
Caller = Annotated[Principal, Depends(principal)]


def not_found(what: str = "camera") -> NotFound:
    return NotFound(what)


def require_camera(caller: Principal, camera_id: int, right: str | None) -> None:
    """``NotFound`` when the caller may not see the camera at all, ``Forbidden`` when it sees it but
    lacks ``right``."""
    if not caller.visible([camera_id]):
        raise NotFound()
    if right is not None and not caller.can(right, camera_id):
        raise Forbidden(f"the '{right}' right on this camera is needed")


def require_global(caller: Principal, right: str) -> None:
    if not caller.has(right):
        raise Forbidden(f"the '{right}' right is needed")


def require_site(caller: Principal, right: str) -> None:
    """Site-wide objects (the map plan, storage, other organisations): a site-scope holder of ``right``."""
    require_global(caller, right)
    if not caller.site_scope:
        raise Forbidden(f"a site administrator (the '{right}' right without an organisation) is needed")


# --- declared rights ------------------------------------------------------------------------------------
RIGHT_KEY = "x-ronda-right"
KINDS = ("public", "authenticated", "global", "site", "camera", "object", "stream", "link", "peer")


@dataclass(frozen=True)
class Declared:
    """What a route needs. ``kind``: ``public`` (no credentials looked at), ``authenticated`` (any caller;
    what it gets is its own or filtered to what it may see), ``global``/``site`` (a global right, the
    latter without an organisation), ``camera`` (a camera right on the camera named by ``on``),
    ``object`` (a right on the camera(s) of the object ``on`` names, checked by the feature once the
    object is loaded), ``stream`` (a stream token for a camera right, instead of credentials), ``link`` (a
    link signed for one user and the object ``on`` names, instead of credentials: a notification's picture;
    without a link, the caller's credentials and its right on the object), ``peer`` (a request a peer site
    signed, instead of credentials: ``ronda.cluster.federation``; the peer's grants decide)."""

    kind: str
    right: str | None = None
    on: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind of right {self.kind!r}")
        wanted = {"global": GLOBAL_RIGHTS, "site": GLOBAL_RIGHTS, "stream": CAMERA_RIGHTS}.get(self.kind, RIGHTS)
        if self.right is not None and self.right not in wanted:
            raise ValueError(f"{self.right!r} is no {self.kind} right")
        if self.kind in ("global", "site", "stream") and self.right is None:
            raise ValueError(f"a {self.kind} declaration names its right")

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in (("kind", self.kind), ("right", self.right), ("on", self.on)) if v is not None}


def _route(decl: Declared, check: Callable[..., Any] | None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"openapi_extra": {**(extra or {}), RIGHT_KEY: decl.as_dict()}}
    if check is not None:
        out["dependencies"] = [Depends(check)]
    return out


def public() -> dict[str, Any]:
    """No credentials are looked at (login, health, the OpenAPI document...)."""
    return _route(Declared("public"), None)


def authenticated() -> dict[str, Any]:
    """Any authenticated caller: self-service, or lists filtered to what the caller may see."""
    return _route(Declared("authenticated"), principal)


@functools.cache
def _global_check(right: str) -> Callable[..., Any]:
    async def check(caller: Caller) -> None:  # async: no worker thread for a check that does no I/O
        require_global(caller, right)

    return check


@functools.cache
def _site_check(right: str) -> Callable[..., Any]:
    async def check(caller: Caller) -> None:  # async: no worker thread for a check that does no I/O
        require_site(caller, right)

    return check


def global_right(right: str) -> dict[str, Any]:
    """The global ``right`` (``manage_users``...) in the caller's scope (its organisation, or the site)."""
    return _route(Declared("global", right), _global_check(right))


def site_right(right: str, openapi_extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The global ``right`` held at site scope (no organisation): site-wide objects. ``openapi_extra``: more
    of the route's OpenAPI operation (a raw request body's media types...)."""
    return _route(Declared("site", right), _site_check(right), openapi_extra)


@functools.cache
def _camera_check(right: str | None) -> Callable[..., Any]:
    async def check(caller: Caller, camera_id: CameraId) -> None:  # async: no worker thread (no I/O)
        require_camera(caller, camera_id, right)

    return check


_ONE_ID: TypeAdapter[int] = TypeAdapter(int)
_IDS: TypeAdapter[list[int]] = TypeAdapter(list[int])


def _body_ids(data: Any, field: str) -> list[int] | None:
    """The camera id(s) in a JSON body's ``field`` as the route's model reads them (an int, or a list
    of ints, with pydantic's coercions), or None when the model will refuse the body anyway (422)."""
    if not isinstance(data, dict) or data.get(field) is None:
        return None
    value = data[field]
    try:
        return _IDS.validate_python(value) if isinstance(value, list) else [_ONE_ID.validate_python(value)]
    except ValidationError:
        return None


@functools.cache
def _camera_body_check(right: str, field: str) -> Callable[..., Any]:
    async def check(request: Request, caller: Caller) -> None:
        try:
            data = await request.json()  # cached by Starlette: the route parses the same bytes
        except ValueError:
            return  # not JSON: the route's body validation answers 422
        ids = _body_ids(data, field) or []
        if any(not 1 <= cid < 2**31 for cid in ids):  # no such id can exist: bad input, whatever the model says
            raise Invalid(f"{field}: camera ids run from 1 to {2**31 - 1}")
        for cid in ids:
            require_camera(caller, cid, right)

    return check


def camera_right(right: str | None, *, body: str | None = None) -> dict[str, Any]:
    """``right`` on the camera of the path's ``camera_id`` (``right=None``: any right, i.e. the camera is
    visible), or on every camera of the JSON body's field ``body`` (an id or a list of ids)."""
    if body is not None:
        if right is None:
            raise ValueError("a camera right on a body field names the right")
        return _route(Declared("camera", right, f"body.{body}"), _camera_body_check(right, body))
    return _route(Declared("camera", right, "path.camera_id"), _camera_check(right))


def object_right(kind: str, right: str | None = None) -> dict[str, Any]:
    """``right`` on the camera(s) of the object of ``kind`` the path names (a bookmark, an alarm...): the
    caller is authenticated here, the feature checks the right once it has loaded the object (an object
    the caller may not see is not found)."""
    return _route(Declared("object", right, kind), principal)


# --- the one way in for stream tokens (media URLs carry them: <video>, <img> and WebSocket cannot send
# an Authorization header) -------------------------------------------------------------------------------
Token = Annotated[str, Query(min_length=10, max_length=2000)]


def stream_principal(
    ctx: AppContext, token: str, camera_id: int, right: str, *, new_playlist: bool = False
) -> Principal:
    """The caller behind a stream token for exactly this camera and right, as it is now.

    ``Unauthenticated`` for a token that is invalid, expired, of another camera or right, whose session
    ended or key was revoked, and (``new_playlist``) for a playlist's own token, which follows that
    playlist but cannot open a new one (that would hand out a fresh token, so a player could renew its
    access without the session); ``Forbidden`` once the right is no longer held."""
    try:
        claims = ctx.auth.issuer.verify_stream_token(token, camera_id, right)
    except InvalidToken:
        raise Unauthenticated("invalid or expired stream token") from None
    if new_playlist and claims.playlist:
        raise Unauthenticated("a playlist's token cannot open a new playlist")
    # The token is only as good as the session or API key it came from, and it only carries the right
    # it was issued for: the session must be live (the key not revoked) and the right still held.
    p = ctx.auth.principal_for_binding(claims.binding, via="stream")
    if p is None:
        raise Unauthenticated("the session of this stream token has ended")
    if not p.can(right, camera_id):
        raise Forbidden(f"the '{right}' right on this camera is needed")
    return p


# For a route whose path names no camera (an export's file): the camera the token must be for, or NotFound.
CameraOf = Callable[[AppContext, Request], int]


@functools.cache
def _stream_check(right: str, new_playlist: bool, camera_of: CameraOf | None) -> Callable[..., Principal]:
    if camera_of is not None:

        def check_object(request: Request, token: Token) -> Principal:
            ctx = context(request)
            p = stream_principal(ctx, token, camera_of(ctx, request), right, new_playlist=new_playlist)
            p.source_ip = client_ip(request)
            return p

        return check_object

    def check(request: Request, camera_id: CameraId, token: Token) -> Principal:
        p = stream_principal(context(request), token, camera_id, right, new_playlist=new_playlist)
        p.source_ip = client_ip(request)
        return p

    return check


def stream_right(right: str, *, new_playlist: bool = False, camera_of: CameraOf | None = None) -> dict[str, Any]:
    """A stream token for ``right`` on the path's camera (or the camera ``camera_of`` finds for the
    request) instead of credentials. The route reads the caller with ``StreamCaller(right, ...)``."""
    return _route(Declared("stream", right, "path.camera_id" if camera_of is None else "object"),
                  _stream_check(right, new_playlist, camera_of))  # fmt: skip


def stream_caller(right: str, *, new_playlist: bool = False, camera_of: CameraOf | None = None) -> Any:
    """``Depends`` on the same check as ``stream_right`` (run once per request: FastAPI caches it)."""
    return Depends(_stream_check(right, new_playlist, camera_of))


# --- peer sites: a central site's signed request (ronda.cluster.federation) --------------------------------
def peer_signed(check: Callable[..., Any]) -> dict[str, Any]:
    """A request signed by a peer site (the ``x-ronda-federation`` token) instead of a user's credentials;
    ``check`` verifies it and returns the peer call the route reads."""
    return _route(Declared("peer"), check)


# --- signed links: a notification's picture, fetched by a phone that has no session ------------------------
def signed_link(kind: str, check: Callable[..., Any]) -> dict[str, Any]:
    """A link signed for one user and one object of ``kind`` instead of credentials (the route's ``check``
    verifies it, then calls ``link_principal``); without a link, the caller's own credentials."""
    return _route(Declared("link", None, kind), check)


def _presented(request: Request) -> str | None:
    """Which credentials the request carries: ``header`` (Authorization, X-API-Key), ``cookie`` or None."""
    if request.headers.get("authorization") or request.headers.get("x-api-key"):
        return "header"
    return "cookie" if request.cookies.get(SESSION_COOKIE) else None


def link_principal(request: Request, user_id: int, token_version: int) -> Principal:
    """The user a valid signed link was made for, as it is now: ``Unauthenticated`` when the account is
    gone or disabled or its password changed since (``token_version``); ``Forbidden`` when the request
    carries another user's credentials (a link is for its recipient only). Credentials the request
    carries must authenticate if sent in a header; a stale session cookie (which a browser sends by
    itself) is ignored, the link being the credential."""
    from ronda.store.access_models import User

    ctx = context(request)
    with ctx.db.session() as s:
        user = s.get(User, user_id)
        if user is None or not user.enabled or user.token_version != token_version:
            raise unauthorized("the link's account has changed: the link no longer works")
    p = ctx.auth.principal_by_id(user_id, "link")
    if p is None:
        raise unauthorized("the link's account has changed: the link no longer works")
    how = _presented(request)
    if how is not None:
        try:
            sender: Principal | None = principal(request)
        except Unauthenticated:
            if how == "header":
                raise
            sender = None
        if sender is not None and sender.user_id != user_id:
            raise Forbidden("this link was made for another user")
    p.source_ip = client_ip(request)
    return p


F = TypeVar("F", bound=Callable[..., Any])


def declare_ws(route: dict[str, Any]) -> Callable[[F], F]:
    """The declaration of a WebSocket route (not in the OpenAPI document): kept on the endpoint, where the
    route walk reads it. The endpoint itself authenticates (a ticket, or a stream token through
    ``stream_principal``) and closes with a 44xx code: a WebSocket cannot answer an HTTP status after
    the handshake."""

    def mark(fn: F) -> F:
        fn.__dict__[RIGHT_KEY] = route["openapi_extra"][RIGHT_KEY]
        return fn

    return mark


def ws_close_code(e: Exception) -> int:
    """The WebSocket close code for a refusal (4401: get a fresh token or ticket, 4403, 4404)."""
    if isinstance(e, Unauthenticated):
        return 4401
    if isinstance(e, Forbidden):
        return 4403
    return 4404
