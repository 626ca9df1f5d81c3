"""Web Push subscriptions and personal notification preferences (``ronda.events.subscriptions``)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ronda.api.deps import Caller, Ctx, authenticated
from ronda.api.schemas.notifications import Prefs, Subscribed, VapidKey
from ronda.errors import Unavailable
from ronda.events import subscriptions as feature
from ronda.events.notify.limits import QuietHours

router = APIRouter(tags=["notifications"])


class Keys(BaseModel):
    model_config = ConfigDict(extra="forbid")
    p256dh: str = Field(pattern=r"^[A-Za-z0-9_-]{80,100}={0,2}$")
    auth: str = Field(pattern=r"^[A-Za-z0-9_-]{16,30}={0,2}$")


class SubscriptionBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # browsers add expirationTime
    endpoint: str = Field(max_length=1000)
    keys: Keys


Channel = Literal["webpush", "email"]
CHANNELS: tuple[Channel, ...] = ("webpush", "email")


class UnsubscribeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    endpoint: str = Field(max_length=1000)


class PrefsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channels: list[Channel] = Field(default_factory=lambda: list(CHANNELS))
    email: str | None = Field(None, max_length=320, pattern=r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
    quiet_hours: dict[str, Any] | None = None
    min_priority: Literal["low", "medium", "high"] = "low"

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is not None:
            QuietHours.from_dict(v)  # ValueError names what is wrong
        return v


@router.get("/notifications/vapid-public-key", response_model=VapidKey, **authenticated())
def vapid_key(ctx: Ctx) -> dict[str, Any]:
    """The applicationServerKey for ``pushManager.subscribe``."""
    if ctx.events.notifier is None:
        raise Unavailable("Web Push is not available (install ronda[notify])")
    return {"key": ctx.events.notifier.public_key}


@router.post("/notifications/push-subscriptions", status_code=201, response_model=Subscribed, **authenticated())
def subscribe(ctx: Ctx, caller: Caller, body: SubscriptionBody) -> dict[str, Any]:
    sid = feature.subscribe(ctx.db, caller.user_id, body.endpoint, body.keys.p256dh, body.keys.auth,
                            ctx.cfg.events.webpush_allow_private_endpoints)  # fmt: skip
    return {"id": sid}


@router.delete("/notifications/push-subscriptions", status_code=204, response_class=Response, **authenticated())
def unsubscribe(ctx: Ctx, caller: Caller, body: UnsubscribeBody) -> Response:
    feature.unsubscribe(ctx.db, caller.user_id, body.endpoint)
    return Response(status_code=204)


@router.get("/notifications/prefs", response_model=Prefs, **authenticated())
def get_prefs(ctx: Ctx, caller: Caller) -> dict[str, Any]:
    return feature.prefs(ctx.db, caller.user_id)


@router.put("/notifications/prefs", response_model=Prefs, **authenticated())
def put_prefs(ctx: Ctx, caller: Caller, body: PrefsBody) -> dict[str, Any]:
    return feature.set_prefs(ctx.db, caller.user_id, list(body.channels), body.email, body.quiet_hours,
                             body.min_priority)  # fmt: skip
