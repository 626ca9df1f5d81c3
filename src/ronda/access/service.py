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

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ronda.access import passwords
from ronda.access.audit import AuditLog, InTransaction
from ronda.access.password_policy import WeakPassword, check_password
from ronda.access.rights import SEEING_RIGHTS, Permissions, ensure_builtin_roles
from ronda.access.rights_cache import RightsCache
from ronda.access.secrets import SecretBox
from ronda.access.throttle import SharedLoginThrottle, Throttle, account_key, address_key
from ronda.access.tickets import SharedTicketBook, Tickets
from ronda.access.tokens import (
    Binding,
    InvalidToken,
    TicketBook,
    TokenIssuer,
    api_key_matches,
    api_key_prefix,
    load_or_create_key,
    new_session_id,
    token_hash,
)
from ronda.access.totp import TotpVerifier
from ronda.errors import TooManyRequests, Unauthenticated
from ronda.store import cooldowns_repo, guards_repo, repos, rights_version
from ronda.store.access_models import ApiKey, Organisation, Role, User, UserRole, UserSession
from ronda.store.db import Database
from ronda.timeutil import now_ms

SESSION_TTL_MS = 12 * 3600 * 1000  # a refresh token lives one shift
# One answer for every failed login (unknown user, wrong password, missing or wrong code), so an
# attacker cannot tell a right password from a wrong one. It names the code, so the web client
# offers the code field.
LOGIN_FAILED = "invalid username or password (or one-time code)"


class AuthError(Unauthenticated):
    """Credentials refused (a domain error: 401 at the API)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LoginThrottled(TooManyRequests):
    """Too many failed logins for this name or address: try again after ``retry_after`` seconds (429)."""


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
    token_version: int | None = None  # of the session (via token or cookie)
    api_key_id: int | None = None  # via api_key
    _visible: set[int] | None = field(default=None, repr=False)

    def binding(self) -> Binding:
        """What stream tokens and WebSocket tickets derived from this caller stay bound to.
        ``ValueError`` for a caller that has neither a session nor an API key (CLI)."""
        return Binding(self.user_id, self.session_id, self.token_version, self.api_key_id)

    @property
    def actor(self) -> str:
        return self.username if self.via != "api_key" else f"{self.username}(api-key)"

    def can(self, right: str, camera_id: int) -> bool:
        return self.permissions.can(right, camera_id, now_ms())

    def has(self, right: str) -> bool:
        return self.permissions.has_global(right, now_ms())

    def visible(self, camera_ids: list[int]) -> set[int]:
        """Cameras the caller may see at all: any camera right or management right on them."""
        return {c for c, rights in self.rights_by_camera(camera_ids).items() if rights & SEEING_RIGHTS}

    def rights_for(self, camera_id: int) -> set[str]:
        return self.permissions.rights_for(camera_id, now_ms())

    def rights_by_camera(self, camera_ids: list[int]) -> dict[int, frozenset[str]]:
        """``rights_for`` of each camera, at one instant."""
        return self.permissions.rights_by_camera(camera_ids, now_ms())

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


_SESSION_OF_TOKEN = select(
    UserSession.revoked,
    UserSession.user_id,
    UserSession.expires_ms,
    User.id,
    User.username,
    User.enabled,
    User.token_version,
    User.organisation_id,
    rights_version.current_query().label("rights_version"),
).join(User, User.id == UserSession.user_id)


class AuthService:
    def __init__(self, db: Database, keys_dir: Path, secrets: SecretBox, audit: AuditLog,
                 shared_tickets: bool = False) -> None:  # fmt: skip
        self.db = db
        self.secrets = secrets
        self.audit = audit
        self.issuer = TokenIssuer(load_or_create_key(keys_dir / "tokens.key"))
        self.csrf_key = load_or_create_key(keys_dir / "csrf.key")
        # In the database, on a single box as in a cluster: every API node counts the same failures.
        self.throttle: Throttle = SharedLoginThrottle(db)
        self._burst_seen: dict[str, int] = {}
        # WebSocket tickets: in memory on a single box, in the database when several API nodes share a site
        self.tickets: Tickets = SharedTicketBook(db) if shared_tickets else TicketBook[Binding]()
        self.totp = TotpVerifier()
        self.rights = RightsCache()

    # --- login / sessions -------------------------------------------------------------------------
    def _burst_event(self, username: str, ip: str | None) -> None:
        """One ``security.login_failures`` event per throttled source a minute (rules may alarm on it), on
        whichever API node the attempts reach (the minute is kept in the database, with the event). The
        source is the client address as the throttle counts it (IPv6 per /64), whatever usernames it tries:
        a locked-out client cycling through names raises one event a minute, not one per name."""
        key = f"a:{address_key(ip)}" if ip else f"u:{account_key(username)}"
        t = now_ms()
        if t - self._burst_seen.get(key, 0) < 60_000:
            return  # this node raised it: no need to ask the database
        self._burst_seen[key] = t
        if len(self._burst_seen) > 10_000:
            self._burst_seen.clear()
        shared = "login_failures:" + hashlib.sha256(key.encode()).hexdigest()[:40]
        with self.db.session() as s:
            if cooldowns_repo.take(s, shared, t, 60_000):
                repos.add_event(s, "security.login_failures", t, None, severity="warning", source="system",
                                payload={"username": username[:150], "ip": ip})  # fmt: skip

    def login(self, username: str, password: str, totp_code: str | None, ip: str | None, ua: str | None) -> LoginResult:
        # Reserve the attempt before verifying anything: concurrent attempts cannot all pass the check.
        retry = self.throttle.reserve(username, ip)
        if retry is not None:
            self.audit.append(username[:200] or "?", "login", "throttled", source_ip=ip)
            self._burst_event(username, ip)
            raise LoginThrottled("too many failed logins; try again later", retry_after=retry)
        answered = False
        try:
            result, reason = self._verify_login(username, password, totp_code, ip, ua)
            answered = True
        finally:
            if not answered:  # an error (database...), not a verdict: give the slot back uncounted
                self.throttle.release(username, ip)
            elif result is None:
                self.throttle.failed(username, ip)
            else:
                self.throttle.succeeded(username, ip)
        if result is None:
            self.audit.append(username[:200] or "?", "login", reason, source_ip=ip)
            raise AuthError(LOGIN_FAILED)
        return result

    def _verify_login(
        self, username: str, password: str, totp_code: str | None, ip: str | None, ua: str | None
    ) -> tuple[LoginResult | None, str]:
        """``(result, "ok")`` or ``(None, why)``; the reason only goes to the audit log."""
        with self.db.session() as s:
            user = s.scalar(select(User).where(User.username == username))
            if user is None:
                passwords.verify_dummy(password)  # same cost as a real check: no user enumeration
                ok, new_hash = False, None
            else:
                ok, new_hash = passwords.verify_password(user.password_hash, password)
            if not ok or user is None or not user.enabled:
                if user is not None:
                    user.failed_logins = (user.failed_logins or 0) + 1
                return None, "denied"
            if user.totp_secret_enc and not self.take_totp_code(s, user, totp_code or ""):
                # Counted like a wrong password, and answered like one: the right password
                # alone must not be recognisable, nor tried for free.
                user.failed_logins = (user.failed_logins or 0) + 1
                return None, "totp_required" if not totp_code else "totp_denied"
            if new_hash:
                user.password_hash = new_hash
            user.failed_logins = 0
            user.last_login_ms = now_ms()
            sid = new_session_id()
            refresh, refresh_hash = self.issuer.issue_refresh(sid, user.token_version)
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
            self.audit.record(s, user.username, "login", "ok", source_ip=ip, details={"session": sid[:8]})
            return LoginResult(access, refresh, self.issuer.access_ttl_s, sid, user), "ok"

    def take_totp_code(self, s: Session, user: User, code: str) -> bool:
        """Whether ``code`` is the user's one-time code now and was never used, on any node: the step it
        matches is stored with a compare-and-set in ``s``'s transaction, so of two API nodes given the same
        code at once only one accepts it (the other's update waits for the first and then changes no row)."""
        secret = (self.secrets.decrypt(user.totp_secret_enc) if user.totp_secret_enc else None) or ""
        step = self.totp.accept(user.id, secret, code, last_step=user.totp_last_step)
        if step is None or not guards_repo.take_totp_step(s, user.id, step):
            return False
        set_committed_value(user, "totp_last_step", step)  # what the row holds now (no second write)
        return True

    def refresh(self, refresh_token: str, ip: str | None) -> LoginResult:
        """Rotate: the old refresh token stops working; reuse of a rotated one revokes the session.
        A token of an earlier token_version (before a password change) refreshes nothing."""
        try:
            sid, version = self.issuer.parse_refresh(refresh_token)
        except InvalidToken:
            raise AuthError("invalid or expired refresh token") from None
        old_hash = token_hash(refresh_token)
        reused = False
        with self.db.session() as s:
            sess = s.get(UserSession, sid)
            if sess is None:
                raise AuthError("invalid or expired refresh token")
            user = s.get(User, sess.user_id)
            if not hmac.compare_digest(sess.refresh_hash, old_hash):
                # Issued by us for this session, but no longer its current token: a rotated token
                # presented again. Whoever holds the newer one may be the thief: end the session.
                reused = not sess.revoked
                sess.revoked = True
            elif sess.revoked or sess.expires_ms < now_ms():
                raise AuthError("invalid or expired refresh token")
            elif user is None or not user.enabled or user.token_version != version:
                sess.revoked = True
            else:
                refresh, new_hash = self.issuer.issue_refresh(sess.id, user.token_version)
                # Compare-and-swap: of two concurrent refreshes with the same token only one rotates.
                swapped = s.execute(
                    update(UserSession)
                    .where(UserSession.id == sess.id, UserSession.refresh_hash == old_hash)
                    .values(refresh_hash=new_hash, last_used_ms=now_ms())
                    .execution_options(synchronize_session=False)
                ).rowcount  # type: ignore[attr-defined]
                if swapped == 1:
                    access = self.issuer.issue_access(user.id, sess.id, user.token_version)
                    return LoginResult(access, refresh, self.issuer.access_ttl_s, sess.id, user)
                reused = True
                s.execute(update(UserSession).where(UserSession.id == sess.id).values(revoked=True))
            username = user.username if user is not None else "?"
            if reused:  # with the revocation, in its transaction
                self.audit.record(s, username, "session.refresh_reuse", "revoked", source_ip=ip,
                                  details={"session": sid[:8]})  # fmt: skip
        raise AuthError("invalid or expired refresh token")

    def change_password(
        self, user_id: int, new_password: str, keep_session: str | None, also: InTransaction[User] | None = None
    ) -> LoginResult | None:
        """Set a user's password and end its sessions: every access, refresh and stream token, every
        ticket and socket of them. ``keep_session`` (the caller's own change) goes on with the new
        tokens returned here; an administrator's reset keeps nothing. ``also`` runs in the same
        transaction (the caller's audit entry)."""
        with self.db.session() as s:
            user = s.get(User, user_id)
            if user is None:
                return None
            user.password_hash = passwords.hash_password(new_password)
            user.password_changed_ms = now_ms()
            user.token_version += 1
            end_sessions(s, user.id, keep=keep_session)
            if also is not None:
                also(s, user)
            if keep_session is None:
                return None
            sess = s.get(UserSession, keep_session)
            if sess is None or sess.user_id != user.id or sess.revoked:
                return None
            refresh, sess.refresh_hash = self.issuer.issue_refresh(sess.id, user.token_version)
            access = self.issuer.issue_access(user.id, sess.id, user.token_version)
            return LoginResult(access, refresh, self.issuer.access_ttl_s, sess.id, user)

    def logout(self, principal: Principal) -> None:
        if principal.session_id is None:
            return
        with self.db.session() as s:
            sess = s.get(UserSession, principal.session_id)
            if sess is not None:
                sess.revoked = True
            self.audit.record(s, principal.actor, "logout", "ok", source_ip=principal.source_ip)

    # --- per request ------------------------------------------------------------------------------
    def principal_from_token(self, token: str, via: str = "token") -> Principal:
        try:
            claims = self.issuer.decode(token)
        except InvalidToken:
            raise AuthError("invalid or expired token") from None
        with self.db.session() as s:
            # One query on every request: the session, its user and the rights counter together.
            row = s.execute(_SESSION_OF_TOKEN.where(UserSession.id == claims.session_id)).first()
            if (
                row is None
                or row.revoked
                or row.user_id != claims.user_id
                or row.expires_ms < now_ms()
                or not row.enabled
                or row.token_version != claims.token_version
            ):
                raise AuthError("invalid or expired token")
            p = self._principal(s, row, claims.session_id, via, version=int(row.rights_version or 0))
            p.token_version = row.token_version
            return p

    def principal_from_api_key(self, key: str) -> Principal:
        prefix = api_key_prefix(key)
        if prefix is None:
            raise AuthError("invalid API key")
        with self.db.session() as s:
            row = s.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
            if row is None or row.revoked_ms is not None or not api_key_matches(key, row.key_hash):
                raise AuthError("invalid API key")
            if row.expires_ms is not None and row.expires_ms < now_ms():
                raise AuthError("invalid API key")
            user = s.get(User, row.user_id)
            if user is None or not user.enabled:
                raise AuthError("invalid API key")
            row.last_used_ms = now_ms()
            p = self._principal(s, user, None, "api_key")
            p.permissions = p.permissions.restrict(row.rights or [])
            p.api_key_id = row.id
            return p

    def principal_for_binding(self, b: Binding, via: str) -> Principal | None:
        """The caller behind a stream token or WebSocket ticket as it is now: None once its session
        ended (logout, expiry, password change) or its API key was revoked; an API key's caller keeps
        only the key's rights."""
        with self.db.session() as s:
            user = s.get(User, b.user_id)
            if user is None or not user.enabled:
                return None
            if b.api_key_id is not None:
                row = s.get(ApiKey, b.api_key_id)
                if (
                    row is None
                    or row.user_id != user.id
                    or row.revoked_ms is not None
                    or (row.expires_ms is not None and row.expires_ms < now_ms())
                ):
                    return None
                p = self._principal(s, user, None, via)
                p.permissions = p.permissions.restrict(row.rights or [])
                p.api_key_id = row.id
                return p
            sess = s.get(UserSession, b.session_id) if b.session_id else None
            if (
                sess is None
                or sess.revoked
                or sess.user_id != user.id
                or sess.expires_ms < now_ms()
                or user.token_version != b.token_version
            ):
                return None
            p = self._principal(s, user, sess.id, via)
            p.token_version = user.token_version
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

    def _principal(self, s: Any, user: Any, sid: str | None, via: str, version: int | None = None) -> Principal:
        """``user``: a ``User``, or a row with its ``id``, ``username`` and ``organisation_id``; ``version``:
        the rights counter when the caller read it already (``RightsCache.resolve``)."""
        resolved = self.rights.resolve(s, user.id, version=version)
        return Principal(
            user_id=user.id,
            username=user.username,
            roles=list(resolved.roles),
            organisation_id=user.organisation_id,
            permissions=resolved.permissions,
            session_id=sid,
            via=via,
        )

    def csrf_token(self, session_id: str) -> str:
        return hmac.new(self.csrf_key, session_id.encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, session_id: str | None, header: str | None) -> bool:
        if session_id is None or not header:
            return False
        return hmac.compare_digest(self.csrf_token(session_id), header)


def end_sessions(s: Any, user_id: int, keep: str | None = None) -> int:
    """Revoke every session of a user (but ``keep``) inside the caller's transaction; how many."""
    q = update(UserSession).where(UserSession.user_id == user_id, UserSession.revoked.is_(False))
    if keep is not None:
        q = q.where(UserSession.id != keep)
    res = s.execute(q.values(revoked=True).execution_options(synchronize_session=False))
    return int(res.rowcount or 0)


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
    also: InTransaction[User] | None = None,
) -> int:
    """``enforce_policy=False`` only for the demo, whose one printed password is the operator's choice.
    ``also`` runs in the same transaction once the user exists (the caller's audit entry)."""
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
        if also is not None:
            also(s, user)
        return user.id
