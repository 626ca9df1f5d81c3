"""Tokens: JWT access tokens, refresh tokens, short-lived stream tokens, WebSocket tickets, API keys,
and (from the key store, access/keys.py) the key-file loader.

- Access tokens are HS256 JWTs (``sub`` user id, ``sid`` session id, ``ver`` the user's token_version,
  ``iat``, ``exp``, ``typ="access"``), 15 minutes by default. The server still checks on every request
  that the session is not revoked and that ``ver`` equals the user's current token_version.
- Refresh tokens are ``<session id>.<token_version>.<nonce>.<mac>``: only their SHA-256 is stored
  (``sessions.refresh_hash``). The MAC proves the server issued the token, so a token with a valid MAC
  that is no longer the session's current one can only be a rotated token presented again (stolen, or
  replayed): the session is revoked. ``token_version`` makes a password change end refreshing.
- Stream tokens (HLS/WebRTC/snapshot/export URLs) are JWTs with ``typ="stream"`` bound to user, camera
  and right, and to what authenticated the caller (``Binding``: the session and token_version, or the
  API key), 60 seconds by default, signed with a different derived key than access tokens. The server
  checks the binding on every use, so logout, a password change or a key revocation ends them at once.
- WebSocket tickets are random, single-use, 30 seconds, kept in memory (``TicketBook``); they carry the
  same ``Binding``.

Every decoding failure raises the one ``InvalidToken`` so callers cannot leak why a token was refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import jwt

from ronda.access import keys
from ronda.access.rights import RIGHTS

ALGORITHM = "HS256"
ACCESS_TTL_S = 900
STREAM_TTL_S = 60
# Tokens written into playlists (followed by the player without the client's help) live longer than
# STREAM_TTL_S, but still only minutes: the web client renews them through its live session.
PLAYLIST_TTL_S = 600
TICKET_TTL_S = 30
MIN_KEY_BYTES = keys.MIN_KEY_BYTES
# Tolerated clock difference between API nodes for "issued in the future".
CLOCK_SKEW_S = 60


class InvalidToken(Exception):
    """The token is missing, malformed, forged, of the wrong kind, or expired."""

    def __init__(self, message: str = "invalid or expired token") -> None:
        super().__init__(message)


# --- key files: kept by the key store (access/keys.py); named here for older callers ------------------
load_or_create_key = keys.load_or_create_key


# --- opaque secrets -------------------------------------------------------------------------------------
def token_hash(token: str) -> str:
    """SHA-256 hex of a high-entropy opaque token (refresh token, API key): what the database stores."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_refresh_token() -> tuple[str, str]:
    """``(token, sha256 hex)``: give the token to the client, store only the hash."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def new_session_id() -> str:
    return secrets.token_urlsafe(24)


API_KEY_PREFIX = "rnd_"


@dataclass(frozen=True)
class NewApiKey:
    key: str  # shown to the user once
    prefix: str  # stored in clear for lookup and listings
    key_hash: str  # stored


def new_api_key() -> NewApiKey:
    """``rnd_<prefix>_<secret>``: the prefix finds the row, the hash of the whole key authenticates it."""
    prefix = secrets.token_hex(6)
    key = f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return NewApiKey(key=key, prefix=prefix, key_hash=token_hash(key))


def api_key_prefix(key: str) -> str | None:
    """The lookup prefix of a presented API key, or None when it is not shaped like one."""
    if not key.startswith(API_KEY_PREFIX):
        return None
    prefix, sep, rest = key[len(API_KEY_PREFIX) :].partition("_")
    if not sep or len(prefix) != 12 or not rest or any(c not in "0123456789abcdef" for c in prefix):
        return None
    return prefix


def api_key_matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(token_hash(key), stored_hash)


# --- JWTs ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    session_id: str
    token_version: int
    issued_at: int  # epoch seconds
    expires_at: int  # epoch seconds


@dataclass(frozen=True)
class Binding:
    """What authenticated a caller, for credentials derived from it (stream tokens, tickets): a login
    session at one token_version, or an API key. Checked again on every use of the derived credential."""

    user_id: int
    session_id: str | None = None
    token_version: int | None = None
    api_key_id: int | None = None

    def __post_init__(self) -> None:
        by_session = self.session_id is not None and self.token_version is not None
        if by_session == (self.api_key_id is not None):
            raise ValueError("a binding names either a session (with its token version) or an API key")


@dataclass(frozen=True)
class StreamClaims:
    user_id: int
    camera_id: int
    right: str
    expires_at: int
    binding: Binding
    playlist: bool = False  # written into a playlist: follows it, never opens a new one


def _int_claim(claims: dict[str, Any], name: str) -> int:
    v = claims.get(name)
    if not isinstance(v, int) or isinstance(v, bool):
        raise InvalidToken()
    return v


def _str_claim(claims: dict[str, Any], name: str, max_len: int = 200) -> str:
    v = claims.get(name)
    if not isinstance(v, str) or not v or len(v) > max_len:
        raise InvalidToken()
    return v


def _user_id(claims: dict[str, Any]) -> int:
    sub = _str_claim(claims, "sub", 20)
    if not sub.isascii() or not sub.isdigit():
        raise InvalidToken()
    return int(sub)


class TokenIssuer:
    """Issues and checks access and stream tokens with keys derived from one site secret."""

    def __init__(
        self,
        key: bytes,
        access_ttl_s: int = ACCESS_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"token key must be at least {MIN_KEY_BYTES} bytes")
        # Separate keys per purpose: a token of one kind can never verify as another kind.
        self._access_key = hmac.new(key, b"ronda/access-token/v1", hashlib.sha256).digest()
        self._stream_key = hmac.new(key, b"ronda/stream-token/v1", hashlib.sha256).digest()
        self._refresh_key = hmac.new(key, b"ronda/refresh-token/v1", hashlib.sha256).digest()
        self.access_ttl_s = access_ttl_s
        self._clock = clock

    def _now(self) -> int:
        return int(self._clock())

    def _decode(self, token: str, key: bytes, typ: str) -> dict[str, Any]:
        if not isinstance(token, str) or not token or len(token) > 4096:
            raise InvalidToken()
        try:
            # The algorithm list is fixed here, never taken from the token (no "none", no RS/HS confusion).
            # exp/iat are checked below against this issuer's clock.
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                options={
                    "require": ["exp", "iat", "sub", "typ"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except (jwt.PyJWTError, ValueError, TypeError):
            raise InvalidToken() from None
        if not isinstance(claims, dict) or claims.get("typ") != typ:
            raise InvalidToken()
        now = self._now()
        exp, iat = _int_claim(claims, "exp"), _int_claim(claims, "iat")
        if exp <= now or iat > now + CLOCK_SKEW_S or iat > exp:
            raise InvalidToken()
        return claims

    # access tokens
    def issue_access(self, user_id: int, session_id: str, token_version: int, ttl_s: int | None = None) -> str:
        now = self._now()
        claims = {
            "sub": str(user_id),
            "sid": session_id,
            "ver": token_version,
            "iat": now,
            "exp": now + (self.access_ttl_s if ttl_s is None else ttl_s),
            "typ": "access",
        }
        return jwt.encode(claims, self._access_key, algorithm=ALGORITHM)

    def decode(self, token: str) -> AccessClaims:
        """The claims of a valid access token; ``InvalidToken`` for anything else."""
        c = self._decode(token, self._access_key, "access")
        return AccessClaims(
            user_id=_user_id(c),
            session_id=_str_claim(c, "sid"),
            token_version=_int_claim(c, "ver"),
            issued_at=_int_claim(c, "iat"),
            expires_at=_int_claim(c, "exp"),
        )

    # refresh tokens
    def _refresh_mac(self, body: str) -> str:
        mac = hmac.new(self._refresh_key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def issue_refresh(self, session_id: str, token_version: int) -> tuple[str, str]:
        """``(token, sha256 hex)`` for this session at this token_version: store only the hash."""
        body = f"{session_id}.{token_version}.{secrets.token_urlsafe(32)}"
        token = f"{body}.{self._refresh_mac(body)}"
        return token, token_hash(token)

    def parse_refresh(self, token: str) -> tuple[str, int]:
        """``(session id, token_version)`` of a refresh token this server issued (current or rotated);
        ``InvalidToken`` for anything else."""
        if not isinstance(token, str) or len(token) > 400 or not token.isascii():
            raise InvalidToken()
        parts = token.split(".")
        if len(parts) != 4 or not all(parts):
            raise InvalidToken()
        sid, ver, _, mac = parts
        if not hmac.compare_digest(self._refresh_mac(".".join(parts[:3])), mac):
            raise InvalidToken()
        if not ver.isdigit() or len(ver) > 9 or len(sid) > 64:
            raise InvalidToken()
        return sid, int(ver)

    # stream tokens
    def issue_stream_token(
        self, binding: Binding, camera_id: int, right: str, ttl_s: int = STREAM_TTL_S, playlist: bool = False
    ) -> str:
        if right not in RIGHTS:
            raise ValueError(f"unknown right {right!r}")
        now = self._now()
        claims: dict[str, Any] = {
            "sub": str(binding.user_id),
            "cam": camera_id,
            "rgt": right,
            "iat": now,
            "exp": now + ttl_s,
            "typ": "stream",
        }
        if binding.api_key_id is not None:
            claims["kid"] = binding.api_key_id
        else:
            claims["sid"], claims["ver"] = binding.session_id, binding.token_version
        if playlist:
            claims["pl"] = 1
        return jwt.encode(claims, self._stream_key, algorithm=ALGORITHM)

    def verify_stream_token(self, token: str, camera_id: int, right: str) -> StreamClaims:
        """The claims when ``token`` is a valid stream token for exactly this camera and right;
        ``InvalidToken`` otherwise. The caller still checks the binding and the user's current rights."""
        c = self._decode(token, self._stream_key, "stream")
        if _int_claim(c, "cam") != camera_id or c.get("rgt") != right:
            raise InvalidToken()
        user_id = _user_id(c)
        try:
            if "kid" in c:
                binding = Binding(user_id, api_key_id=_int_claim(c, "kid"))
            else:
                binding = Binding(user_id, session_id=_str_claim(c, "sid"), token_version=_int_claim(c, "ver"))
        except ValueError:
            raise InvalidToken() from None
        return StreamClaims(user_id, camera_id, right, _int_claim(c, "exp"), binding, playlist=c.get("pl") == 1)


# --- WebSocket tickets ------------------------------------------------------------------------------------------
T = TypeVar("T")


class TicketBook(Generic[T]):
    """Single-use, short-lived tickets for WebSocket connects (browsers cannot send headers there),
    each carrying a value (the caller's ``Binding``). In memory: a ticket is redeemable only in the
    process that issued it."""

    def __init__(
        self, ttl_s: float = TICKET_TTL_S, clock: Callable[[], float] = time.monotonic, max_tickets: int = 10_000
    ) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._max = max_tickets
        self._lock = threading.Lock()
        self._tickets: OrderedDict[str, tuple[T, float]] = OrderedDict()  # hash -> (value, expires)

    @staticmethod
    def _key(ticket: str) -> str:
        return token_hash(ticket)

    def _prune(self, now: float) -> None:
        while self._tickets:
            key, (_, expires) = next(iter(self._tickets.items()))
            if expires > now and len(self._tickets) < self._max:
                break
            del self._tickets[key]

    def issue(self, value: T) -> str:
        ticket = secrets.token_urlsafe(32)
        with self._lock:
            now = self._clock()
            self._prune(now)
            self._tickets[self._key(ticket)] = (value, now + self.ttl_s)
        return ticket

    def redeem(self, ticket: str) -> T | None:
        """The value the first time a live ticket is presented; None ever after, or when unknown/expired."""
        if not isinstance(ticket, str) or not ticket or len(ticket) > 200:
            return None
        with self._lock:
            entry = self._tickets.pop(self._key(ticket), None)
            now = self._clock()
        if entry is None or entry[1] <= now:
            return None
        return entry[0]
