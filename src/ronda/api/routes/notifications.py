"""Web Push subscriptions and personal notification preferences (channels, e-mail, quiet hours)."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import delete, select

from ronda.access import netguard
from ronda.api.deps import Caller, Ctx
from ronda.events.notify.limits import QuietHours
from ronda.store.event_models import NotificationPrefs, PushSubscription
from ronda.timeutil import now_ms

router = APIRouter(tags=["notifications"])


class Keys(BaseModel):
    model_config = ConfigDict(extra="forbid")
    p256dh: str = Field(pattern=r"^[A-Za-z0-9_-]{80,100}={0,2}$")
    auth: str = Field(pattern=r"^[A-Za-z0-9_-]{16,30}={0,2}$")


class SubscriptionBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # browsers add expirationTime
    endpoint: str = Field(max_length=1000)
    keys: Keys


class UnsubscribeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    endpoint: str = Field(max_length=1000)


class PrefsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channels: list[Literal["webpush", "email"]] = Field(default_factory=lambda: ["webpush", "email"])
    email: str | None = Field(None, max_length=320, pattern=r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
    quiet_hours: dict[str, Any] | None = None
    min_priority: Literal["low", "medium", "high"] = "low"

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is not None:
            QuietHours.from_dict(v)  # ValueError names what is wrong
        return v


def _endpoint_ok(ctx: Ctx, url: str) -> None:
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        host = None
    if host is None or parts.scheme not in ("https", "http"):
        raise HTTPException(422, "endpoint must be an https URL of a push service")
    if ctx.cfg.events.webpush_allow_private_endpoints:
        return
    # Any signed-in browser chooses this URL and the server will POST to it: resolve it as the
    # connection will (127.1, 0x7f000001, localhost. ... are loopback too) and check every address.
    # Sending checks again on the address actually connected to (DNS can change in between).
    try:
        netguard.check_url(url, schemes=("https",))
    except netguard.DestinationRefused as e:
        raise HTTPException(422, f"endpoint must be an https URL of a public push service: {e}") from None


@router.get("/notifications/vapid-public-key")
def vapid_key(ctx: Ctx, caller: Caller) -> dict[str, Any]:
    """The applicationServerKey for ``pushManager.subscribe``."""
    if ctx.events is None or ctx.events.notifier is None:
        raise HTTPException(503, "Web Push is not available (install ronda[notify])")
    return {"key": ctx.events.notifier.public_key}


@router.post("/notifications/push-subscriptions", status_code=201)
def subscribe(ctx: Ctx, caller: Caller, body: SubscriptionBody) -> dict[str, Any]:
    with ctx.db.session() as s:
        # Ownership first: whether an endpoint is someone else's needs no name resolution.
        taken = s.scalar(select(PushSubscription.user_id).where(PushSubscription.endpoint == body.endpoint))
    if taken is not None and taken != caller.user_id:
        raise HTTPException(409, "this push endpoint belongs to another user")
    _endpoint_ok(ctx, body.endpoint)
    with ctx.db.session() as s:
        row = s.scalar(select(PushSubscription).where(PushSubscription.endpoint == body.endpoint))
        if row is None:
            row = PushSubscription(endpoint=body.endpoint, created_ms=now_ms(), user_id=caller.user_id,
                                   p256dh=body.keys.p256dh, auth=body.keys.auth)  # fmt: skip
            s.add(row)
        elif row.user_id != caller.user_id:
            # Another user's subscription (a shared browser, or a copied endpoint): never take it over,
            # it would send that user's alarms here or silence them. The browser's new user
            # unsubscribes and subscribes again (a new endpoint), or the owner removes it first.
            raise HTTPException(409, "this push endpoint belongs to another user")
        else:  # the owner again, e.g. with new keys after the browser renewed the subscription
            row.p256dh, row.auth = body.keys.p256dh, body.keys.auth
        s.flush()
        return {"id": row.id}


@router.delete("/notifications/push-subscriptions", status_code=204)
def unsubscribe(ctx: Ctx, caller: Caller, body: UnsubscribeBody) -> Response:
    with ctx.db.session() as s:
        s.execute(delete(PushSubscription).where(PushSubscription.endpoint == body.endpoint,
                                                 PushSubscription.user_id == caller.user_id))  # fmt: skip
    return Response(status_code=204)


def _prefs_view(p: NotificationPrefs | None) -> dict[str, Any]:
    if p is None:
        return {"channels": ["webpush", "email"], "email": None, "quiet_hours": None, "min_priority": "low"}
    return {"channels": p.channels, "email": p.email, "quiet_hours": p.quiet_hours, "min_priority": p.min_priority}


@router.get("/notifications/prefs")
def get_prefs(ctx: Ctx, caller: Caller) -> dict[str, Any]:
    with ctx.db.session() as s:
        return _prefs_view(s.get(NotificationPrefs, caller.user_id))


@router.put("/notifications/prefs")
def put_prefs(ctx: Ctx, caller: Caller, body: PrefsBody) -> dict[str, Any]:
    with ctx.db.session() as s:
        p = s.get(NotificationPrefs, caller.user_id)
        if p is None:
            p = NotificationPrefs(user_id=caller.user_id, channels=[])
            s.add(p)
        p.channels, p.email, p.quiet_hours, p.min_priority = (
            body.channels,
            body.email,
            body.quiet_hours,
            body.min_priority,
        )
        s.flush()
        return _prefs_view(p)
