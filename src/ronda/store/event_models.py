"""Rules, alarms and notification settings (the events role's tables). Times are UTC epoch ms."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ronda.store.models import AUTOINCREMENT, Base, BigId


class Rule(Base):
    """Trigger (which events) + conditions (when) -> actions (what): data, validated on save."""

    __tablename__ = "rules"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    trigger: Mapped[dict[str, Any]] = mapped_column(JSON)
    conditions: Mapped[dict[str, Any]] = mapped_column(JSON)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(200))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int | None] = mapped_column(BigInteger)


class Alarm(Base):
    """One incident: repeated events of the same incident update it instead of raising another."""

    __tablename__ = "alarms"
    __table_args__ = (
        Index("ix_alarms_state_priority", "state", "priority_num"),
        Index("ix_alarms_incident", "incident_key", "state"),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="new")  # new | in_progress | on_hold | closed
    priority: Mapped[str] = mapped_column(String(8))  # high | medium | low
    priority_num: Mapped[int] = mapped_column(Integer)  # 1 (most urgent) .. 1000
    category: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    instructions: Mapped[str] = mapped_column(Text, default="")
    camera_id: Mapped[int | None] = mapped_column(Integer)
    cameras: Mapped[list[int]] = mapped_column(JSON)
    rule_id: Mapped[int | None] = mapped_column(Integer)
    incident_key: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int | None] = mapped_column(Integer)
    # An owner who is not a local user (a peer site's central user, ``user@peer``); owner_id is then NULL.
    owner_name: Mapped[str | None] = mapped_column(String(200))
    pre_alarm_s: Mapped[int] = mapped_column(Integer, default=10)
    escalate_after_s: Mapped[int | None] = mapped_column(Integer)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    auto_close_on: Mapped[list[str]] = mapped_column(JSON)
    event_count: Mapped[int] = mapped_column(Integer, default=1)
    first_event_ms: Mapped[int] = mapped_column(BigInteger)
    last_event_ms: Mapped[int] = mapped_column(BigInteger)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    acknowledged_ms: Mapped[int | None] = mapped_column(BigInteger)
    closed_ms: Mapped[int | None] = mapped_column(BigInteger)
    close_reason: Mapped[str | None] = mapped_column(String(500))
    notify: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # who to tell (channels, roles, organisations)


class AlarmEvent(Base):
    __tablename__ = "alarm_events"

    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id", ondelete="CASCADE"), primary_key=True)
    event_id: Mapped[int] = mapped_column(BigId, primary_key=True)


class AlarmEntry(Base):
    """The alarm's history: created, updated by an event, assigned, comment, hold, close, reopen..."""

    __tablename__ = "alarm_entries"
    __table_args__ = (Index("ix_alarm_entries_alarm", "alarm_id", "id"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id", ondelete="CASCADE"))
    time_ms: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(String(2000), default="")
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class PushSubscription(Base):
    """A browser's Web Push subscription (phone or desktop) for one user."""

    __tablename__ = "push_subscriptions"
    __table_args__ = (UniqueConstraint("endpoint"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    endpoint: Mapped[str] = mapped_column(String(1000))
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    created_ms: Mapped[int] = mapped_column(BigInteger)


class NotificationPrefs(Base):
    """Per user: channels wanted, e-mail address, quiet hours."""

    __tablename__ = "notification_prefs"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    channels: Mapped[list[str]] = mapped_column(JSON)  # webpush | email
    email: Mapped[str | None] = mapped_column(String(320))
    quiet_hours: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    min_priority: Mapped[str] = mapped_column(String(8), default="low")


class ActionClaim(Base):
    """One rule action for one bus message (docs/alarms.md "Actions run once"): a node runs the action only
    after inserting this row, so a message delivered to two events nodes (NATS redelivery after a lost
    acknowledgement) runs each action once. ``status``: running | done | failed; a ``running`` claim
    older than the lease is taken over (``attempts`` + 1) by the next node that looks."""

    __tablename__ = "action_claims"
    __table_args__ = (
        Index("ix_action_claims_status", "status", "claimed_ms"),
        Index("ix_action_claims_claimed", "claimed_ms"),
    )

    rule_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_key: Mapped[str] = mapped_column(String(64), primary_key=True)  # event:17
    action: Mapped[int] = mapped_column(Integer, primary_key=True)  # the action's index in the rule
    node: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(8))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    claimed_ms: Mapped[int] = mapped_column(BigInteger)
    finished_ms: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(String(300))


class Cooldown(Base):
    """A quiet period every node of a site shares (docs/cluster.md "Shared guards"): a rule's cooldown per
    camera (``rule:<id>:<camera>``), the once-a-minute ``security.login_failures`` event per source
    (``login_failures:<hash>``). ``last_ms`` is when it last fired (wall clock: nodes differ), ``token``
    what fired it (a message key: its redelivery fires again, the actions' claims keep it from acting twice)."""

    __tablename__ = "cooldowns"
    __table_args__ = (Index("ix_cooldowns_last", "last_ms"),)

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_ms: Mapped[int] = mapped_column(BigInteger)
    window_ms: Mapped[int] = mapped_column(BigInteger)
    token: Mapped[str | None] = mapped_column(String(64))
