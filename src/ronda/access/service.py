"""Authentication and the caller's identity: login, sessions, refresh, API keys, principals.

Every request resolves its principal afresh from the database (user enabled, session not revoked,
token version current, roles → permissions), so disabling a user or changing a role takes effect
on the next request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from ronda.access import passwords
from ronda.access.audit import AuditLog
from ronda.access.password_policy import WeakPassword, check_password
from ronda.access.rights import CAMERA_RIGHTS, MANAGE_CAMERAS, Permissions, ensure_builtin_roles, load_permissions
from ronda.access.secrets import SecretBox
from ronda.access.throttle import LoginThrottle
from ronda.access.tokens import (
    InvalidToken,
    TicketBook,
    TokenIssuer,
    api_key_matches,
    api_key_prefix,
    load_or_create_key,
    new_refresh_token,
    new_session_id,
    token_hash,
)
from ronda.access.totp import TotpVerifier
from ronda.store import repos
from ronda.store.access_models import ApiKey, Organisation, Role, User, UserRole, UserSession
from ronda.store.db import Database
from ronda.timeutil import now_ms

SESSION_TTL_MS = 12 * 3600 * 1000  # a refresh token lives one shift


class AuthError(Exception):
    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


@dataclass(slots=True)
class Principal:
    user_id: int
    username: str
    roles: list[str]
    organisation_id: int | None
    permissions: Permissions
    session_id: str | None = None
    via: str = "token"  # token | cookie | api_key | cli
    source_ip: str | None = None
    _visible: set[int] | None = field(default=None, repr=False)

    @property
    def actor(self) -> str:
        return self.username if self.via != "api_key" else f"{self.username}(api-key)"

    def can(self, right: str, camera_id: int) -> bool:
        return self.permissions.can(right, camera_id, now_ms())

    def has(self, right: str) -> bool:
        return self.permissions.has_global(right, now_ms())

    def visible(self, camera_ids: list[int]) -> set[int]:
        """Cameras the caller may see at all: any camera right or management right on them."""
        now = now_ms()
        return {c for c in camera_ids if (self.permissions.rights_for(c, now) & (CAMERA_RIGHTS | {MANAGE_CAMERAS}))}

    def rights_for(self, camera_id: int) -> set[str]:
        return self.permissions.rights_for(camera_id, now_ms())

    @property
    def site_scope(self) -> bool:
        """No organisation: global rights act on the whole site (docs/access.md, organisation scope)."""
        return self.organisation_id is None

    def in_scope(self, organisation_id: int | None) -> bool:
        """Whether an object of ``organisation_id`` (None: the site's) is inside the caller's scope."""
        return self.organisation_id is None or organisation_id == self.organisation_id

    def outranks(self, rights: set[str]) -> bool:
        """Whether the caller holds every one of ``rights`` (what it may grant, reset or disable)."""
        return rights <= self.permissions.held_rights()


@dataclass(slots=True)
class LoginResult:
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: str
    user: User


class AuthService:
    def __init__(self, db: Database, keys_dir: Path, secrets: SecretBox, audit: AuditLog) -> None:
        self.db = db
        self.secrets = secrets
        self.audit = audit
        self.issuer = TokenIssuer(load_or_create_key(keys_dir / "tokens.key"))
        self.csrf_key = load_or_create_key(keys_dir / "csrf.key")
        self.throttle = LoginThrottle()
        self._burst_seen: dict[str, int] = {}
        self.tickets = TicketBook()
        self.totp = TotpVerifier()

    # --- login / sessions -------------------------------------------------------------------------
    def _burst_event(self, username: str, ip: str | None) -> None:
        """One ``security.login_failures`` event per throttled source a minute (rules may alarm on it)."""
        key = f"{ip}|{username}"
        t = now_ms()
        if t - self._burst_seen.get(key, 0) < 60_000:
            return
        self._burst_seen[key] = t
        if len(self._burst_seen) > 10_000:
            self._burst_seen.clear()
        with self.db.session() as s:
            repos.add_event(s, "security.login_failures", t, None, severity="warning", source="system",
                            payload={"username": username[:150], "ip": ip})  # fmt: skip

    def login(self, username: str, password: str, totp_code: str | None, ip: str | None, ua: str | None) -> LoginResult:
        retry = self.throttle.check(username, ip)
        if retry is not None:
            self.audit.append(username[:200] or "?", "login", "throttled", source_ip=ip)
            self._burst_event(username, ip)
            raise AuthError(429, "too many failed logins; try again later", retry_after=retry)
        with self.db.session() as s:
            user = s.scalar(select(User).where(User.username == username))
            if user is None:
                passwords.verify_dummy(password)  # same cost as a real check: no user enumeration
                ok, new_hash = False, None
            else:
                ok, new_hash = passwords.verify_password(user.password_hash, password)
            if ok and user is not None and user.totp_secret_enc:
                secret = self.secrets.decrypt(user.totp_secret_enc) or ""
                step = self.totp.accept(user.id, secret, totp_code or "", last_step=user.totp_last_step)
                if step is None:
                    ok = False
                    if not totp_code:
                        self.audit.append(username, "login", "totp_required", source_ip=ip)
                        raise AuthError(401, "a one-time code is required (totp)")
                else:
                    user.totp_last_step = step
            if not ok or user is None or not user.enabled:
                self.throttle.failed(username, ip)
                if user is not None:
                    user.failed_logins = (user.failed_logins or 0) + 1
                failure = True
            else:
                failure = False
                self.throttle.succeeded(username, ip)
                if new_hash:
                    user.password_hash = new_hash
                user.failed_logins = 0
                user.last_login_ms = now_ms()
                refresh, refresh_hash = new_refresh_token()
                sid = new_session_id()
                s.add(
                    UserSession(
                        id=sid,
                        user_id=user.id,
                        created_ms=now_ms(),
                        expires_ms=now_ms() + SESSION_TTL_MS,
                        refresh_hash=refresh_hash,
                        revoked=False,
                        ip=ip,
                        user_agent=(ua or "")[:400] or None,
                    )
                )
                access = self.issuer.issue_access(user.id, sid, user.token_version)
                result = LoginResult(access, refresh, self.issuer.access_ttl_s, sid, user)
        if failure:
            self.audit.append(username[:200] or "?", "login", "denied", source_ip=ip)
            raise AuthError(401, "invalid username or password")
        self.audit.append(result.user.username, "login", "ok", source_ip=ip, details={"session": result.session_id[:8]})
        return result

    def refresh(self, refresh_token: str, ip: str | None) -> LoginResult:
        """Rotate: the old refresh token stops working; reuse of a rotated one revokes the session."""
        h = token_hash(refresh_token)
        with self.db.session() as s:
            sess = s.scalar(select(UserSession).where(UserSession.refresh_hash == h))
            if sess is None or sess.revoked or sess.expires_ms < now_ms():
                raise AuthError(401, "invalid or expired refresh token")
            user = s.get(User, sess.user_id)
            if user is None or not user.enabled:
                sess.revoked = True
                raise AuthError(401, "invalid or expired refresh token")
            refresh, new_hash = new_refresh_token()
            sess.refresh_hash = new_hash
            sess.last_used_ms = now_ms()
            access = self.issuer.issue_access(user.id, sess.id, user.token_version)
            return LoginResult(access, refresh, self.issuer.access_ttl_s, sess.id, user)

    def logout(self, principal: Principal) -> None:
        if principal.session_id is None:
            return
        with self.db.session() as s:
            sess = s.get(UserSession, principal.session_id)
            if sess is not None:
                sess.revoked = True
        self.audit.append(principal.actor, "logout", "ok", source_ip=principal.source_ip)

    # --- per request ------------------------------------------------------------------------------
    def principal_from_token(self, token: str, via: str = "token") -> Principal:
        try:
            claims = self.issuer.decode(token)
        except InvalidToken:
            raise AuthError(401, "invalid or expired token") from None
        with self.db.session() as s:
            sess = s.get(UserSession, claims.session_id)
            user = s.get(User, claims.user_id)
            if (
                sess is None
                or sess.revoked
                or sess.user_id != claims.user_id
                or sess.expires_ms < now_ms()
                or user is None
                or not user.enabled
                or user.token_version != claims.token_version
            ):
                raise AuthError(401, "invalid or expired token")
            return self._principal(s, user, sess.id, via)

    def principal_from_api_key(self, key: str) -> Principal:
        prefix = api_key_prefix(key)
        if prefix is None:
            raise AuthError(401, "invalid API key")
        with self.db.session() as s:
            row = s.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
            if row is None or row.revoked_ms is not None or not api_key_matches(key, row.key_hash):
                raise AuthError(401, "invalid API key")
            if row.expires_ms is not None and row.expires_ms < now_ms():
                raise AuthError(401, "invalid API key")
            user = s.get(User, row.user_id)
            if user is None or not user.enabled:
                raise AuthError(401, "invalid API key")
            row.last_used_ms = now_ms()
            p = self._principal(s, user, None, "api_key")
            p.permissions = p.permissions.restrict(row.rights or [])
            return p

    def principal_by_id(self, user_id: int, via: str) -> Principal | None:
        """For stream tokens: the user's rights as they are now (disabled users get None)."""
        with self.db.session() as s:
            user = s.get(User, user_id)
            if user is None or not user.enabled:
                return None
            return self._principal(s, user, None, via)

    def principal_for_user(self, username: str, via: str = "cli") -> Principal | None:
        with self.db.session() as s:
            user = s.scalar(select(User).where(User.username == username))
            return None if user is None else self._principal(s, user, None, via)

    def _principal(self, s: Any, user: User, sid: str | None, via: str) -> Principal:
        roles = list(
            s.scalars(select(Role.name).join(UserRole, UserRole.role_id == Role.id).where(UserRole.user_id == user.id))
        )
        return Principal(
            user_id=user.id,
            username=user.username,
            roles=sorted(roles),
            organisation_id=user.organisation_id,
            permissions=load_permissions(s, user.id),
            session_id=sid,
            via=via,
        )

    def csrf_token(self, session_id: str) -> str:
        return hmac.new(self.csrf_key, session_id.encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, session_id: str | None, header: str | None) -> bool:
        if session_id is None or not header:
            return False
        return hmac.compare_digest(self.csrf_token(session_id), header)


# --- users (used by the API, the CLI and the demo) --------------------------------------------------
class UserError(ValueError):
    pass


_USERNAME = re.compile(r"[A-Za-z0-9._@-]{1,150}")


def create_user(
    db: Database,
    username: str,
    password: str,
    roles: list[str],
    organisation_id: int | None = None,
    display_name: str | None = None,
    *,
    enforce_policy: bool = True,
) -> int:
    """``enforce_policy=False`` only for the demo, whose one printed password is the operator's choice."""
    if not _USERNAME.fullmatch(username or ""):
        raise UserError("username must be 1-150 letters, digits or . _ @ -")
    if enforce_policy:
        try:
            check_password(password, username, display_name or "")
        except WeakPassword as e:
            raise UserError(str(e)) from None
    elif len(password) < 1:
        raise UserError("password must not be empty")
    with db.session() as s:
        ensure_builtin_roles(s)
        if organisation_id is not None and s.get(Organisation, organisation_id) is None:
            raise UserError(f"organisation {organisation_id} does not exist")
        if s.scalar(select(func.count(User.id)).where(User.username == username)):
            raise UserError(f"user {username!r} exists already")
        role_rows = {r.name: r for r in s.scalars(select(Role).where(Role.name.in_(roles)))}
        missing = [r for r in roles if r not in role_rows]
        if missing:
            raise UserError(f"unknown role(s): {', '.join(missing)}")
        user = User(
            username=username,
            display_name=display_name,
            password_hash=passwords.hash_password(password),
            organisation_id=organisation_id,
            enabled=True,
            created_ms=now_ms(),
            token_version=0,
            failed_logins=0,
            password_changed_ms=now_ms(),
        )
        s.add(user)
        s.flush()
        for r in roles:
            s.add(UserRole(user_id=user.id, role_id=role_rows[r].id))
        repos.add_event(s, "user.created", now_ms(), None, source="user", payload={"username": username})
        return user.id
