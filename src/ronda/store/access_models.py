"""Access-control tables: organisations, camera groups and shares, roles, time profiles, users,
sessions, API keys and the tamper-evident audit log. Same ``Base`` as the rest of the schema;
times are UTC epoch milliseconds."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ronda.store.models import AUTOINCREMENT, Base, BigId


class Organisation(Base):
    """A tenant of the city system, e.g. "Polizia Locale", "Municipio", "Scuola"."""

    __tablename__ = "organisations"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class CameraGroup(Base):
    """A named set of cameras owned by an organisation (NULL: owned by the site itself)."""

    __tablename__ = "camera_groups"
    __table_args__ = (
        UniqueConstraint("organisation_id", "name"),
        Index("ix_camera_groups_org", "organisation_id"),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))


class CameraGroupMember(Base):
    """A camera in a group; a camera may be in several groups."""

    __tablename__ = "camera_group_members"
    __table_args__ = (Index("ix_camera_group_members_camera", "camera_id"),)

    group_id: Mapped[int] = mapped_column(ForeignKey("camera_groups.id", ondelete="CASCADE"), primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True)


class CameraShare(Base):
    """A camera group shared by its owner with another organisation."""

    __tablename__ = "camera_shares"
    __table_args__ = (Index("ix_camera_shares_org", "organisation_id"),)

    camera_group_id: Mapped[int] = mapped_column(ForeignKey("camera_groups.id", ondelete="CASCADE"), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True)


class TimeProfile(Base):
    """When a role applies: rules are ``[{"days": [0..6 (Mon=0)], "start": "HH:MM", "end": "HH:MM"}]``
    in the profile's IANA timezone; ``end <= start`` means the range runs past midnight."""

    __tablename__ = "time_profiles"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    timezone: Mapped[str] = mapped_column(String(64))
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class Role(Base):
    """A set of rights (``ronda.access.rights``) applied to camera groups (``role_scopes``) or to every
    camera (``all_cameras``), optionally limited to a time profile."""

    __tablename__ = "roles"
    __table_args__ = (Index("ix_roles_org", "organisation_id"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    all_cameras: Mapped[bool] = mapped_column(Boolean, default=False)
    rights: Mapped[list[str]] = mapped_column(JSON, default=list)
    ptz_priority: Mapped[int] = mapped_column(Integer, default=0)
    # No ON DELETE SET NULL: deleting a profile in use must fail, not silently widen the role to 24/7.
    time_profile_id: Mapped[int | None] = mapped_column(ForeignKey("time_profiles.id"))


class RoleScope(Base):
    """A camera group that a role's rights apply to."""

    __tablename__ = "role_scopes"
    __table_args__ = (Index("ix_role_scopes_group", "camera_group_id"),)

    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True)
    camera_group_id: Mapped[int] = mapped_column(ForeignKey("camera_groups.id", ondelete="CASCADE"), primary_key=True)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (Index("ix_users_org", "organisation_id"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    # NULL: a site-level user (e.g. the site administrator), not bound to one organisation.
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    totp_secret_enc: Mapped[str | None] = mapped_column(Text)  # encrypted with the site's SecretBox
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)  # replay protection across processes
    created_ms: Mapped[int] = mapped_column(BigInteger)
    # Every access token carries this; bump it to revoke all of the user's tokens at once.
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    last_login_ms: Mapped[int | None] = mapped_column(BigInteger)
    password_changed_ms: Mapped[int | None] = mapped_column(BigInteger)


class UserRole(Base):
    __tablename__ = "user_roles"
    __table_args__ = (Index("ix_user_roles_role", "role_id"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True)


class UserSession(Base):
    """A login: the access tokens' ``sid`` and the (hashed) refresh token that renews them."""

    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_user", "user_id"),
        Index("ix_sessions_expires", "expires_ms"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # random, the tokens' sid
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int] = mapped_column(BigInteger)
    last_used_ms: Mapped[int | None] = mapped_column(BigInteger)
    refresh_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 hex of the refresh token
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(400))


class TotpEnrolment(Base):
    """A TOTP enrolment begun and not confirmed yet: the new secret (sealed with the site's SecretBox),
    the login session that must confirm it, and until when. In the database, so that any API process
    (or the same one after a restart) can confirm it; one per user, a new one replaces it."""

    __tablename__ = "totp_enrolments"
    __table_args__ = (Index("ix_totp_enrolments_expires", "expires_ms"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    secret_enc: Mapped[str] = mapped_column(Text)
    session_id: Mapped[str | None] = mapped_column(String(64))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int] = mapped_column(BigInteger)


class ApiKey(Base):
    """A key for integrations, limited to a subset of its user's rights; only a hash is stored."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_user", "user_id"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)  # public lookup part, shown in listings
    key_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 hex of the whole key
    rights: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int | None] = mapped_column(BigInteger)
    last_used_ms: Mapped[int | None] = mapped_column(BigInteger)
    revoked_ms: Mapped[int | None] = mapped_column(BigInteger)


class AuditEntry(Base):
    """One audit record. ``seq`` is assigned by ``AuditLog.append`` under a write lock (1, 2, 3, ... with
    no gaps); ``mac`` = HMAC-SHA256(key, prev_mac || canonical JSON of the fields incl. seq)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_time", "time_ms"),
        Index("ix_audit_actor_time", "actor", "time_ms"),
        Index("ix_audit_action_time", "action", "time_ms"),
        Index("ix_audit_camera_time", "camera_id", "time_ms"),
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    time_ms: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    # No foreign key: the audit outlives cameras and must never block or cascade on their deletion.
    camera_id: Mapped[int | None] = mapped_column(Integer)
    start_ms: Mapped[int | None] = mapped_column(BigInteger)
    end_ms: Mapped[int | None] = mapped_column(BigInteger)
    source_ip: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(String(32))
    details: Mapped[Any] = mapped_column(JSON, nullable=True)
    prev_mac: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """An Ed25519 signature over the (seq, time_ms, mac) of the newest audit entry at that time."""

    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    time_ms: Mapped[int] = mapped_column(BigInteger)
    mac: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))  # hex


class AuditLock(Base):
    """One row (id=1) that every audit append UPDATEs first: on SQLite that statement takes the database
    write lock, so reading the chain head and inserting the next entry cannot interleave."""

    __tablename__ = "audit_lock"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    counter: Mapped[int] = mapped_column(BigInteger, default=0)


class RightsVersion(Base):
    """One row: a counter bumped in the same transaction as any change that can alter someone's
    effective permissions (roles, scopes, groups, shares, time profiles, users, cameras). API processes
    cache resolved permissions per user and reload them when the counter moves
    (``ronda.access.rights_cache``)."""

    __tablename__ = "rights_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)


class WsTicket(Base):
    """A WebSocket ticket shared by every API node (``access/tickets.py``): only its SHA-256 is stored."""

    __tablename__ = "ws_tickets"
    __table_args__ = (Index("ix_ws_tickets_expires", "expires_ms"),)

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer)
    session_id: Mapped[str | None] = mapped_column(String(64))
    token_version: Mapped[int | None] = mapped_column(Integer)
    api_key_id: Mapped[int | None] = mapped_column(Integer)
    expires_ms: Mapped[int] = mapped_column(BigInteger)


class LoginGuard(Base):
    """The login throttle's state of one account or client address (``access/throttle.py``), shared by
    every API node: ``key`` is ``u:<account key>`` or ``a:<address key>``; the failures within the window
    and the attempts in flight are JSON lists of epoch ms (at most the limit's length each)."""

    __tablename__ = "login_guards"
    __table_args__ = (Index("ix_login_guards_touched", "touched_ms"),)

    key: Mapped[str] = mapped_column(String(210), primary_key=True)
    failures_ms: Mapped[str] = mapped_column(Text, default="[]")
    pending_ms: Mapped[str] = mapped_column(Text, default="[]")
    locked_until_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    lockouts: Mapped[int] = mapped_column(Integer, default=0)
    touched_ms: Mapped[int] = mapped_column(BigInteger)
