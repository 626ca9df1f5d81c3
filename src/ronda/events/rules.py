"""Rules: trigger (which events) + conditions (when) -> actions (what). Rules are data.

A rule is validated twice: its shape by pydantic (unknown keys, bad values, with messages naming the
field), then against the site (``validate_against_site``): cameras and groups exist, the time
profile exists, and the author may grant what the actions do (raising alarms about cameras they
cannot see, calling webhooks, notifying organisations).

Loops: every event an action produces carries ``payload.rule_chain`` (the rules that led to it);
a rule never fires on an event whose chain contains it, and chains longer than ``MAX_CHAIN`` stop.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ronda.access import netguard
from ronda.access.netguard import Allowance
from ronda.access.secrets import SEALED_PREFIX

MAX_CHAIN = 3
EVENT_TYPE = r"^[a-z0-9_.*-]{1,64}$"
PRIORITY_NUM = {"high": 100, "medium": 500, "low": 900}


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Trigger(_M):
    types: list[Annotated[str, Field(pattern=EVENT_TYPE)]] = Field(
        min_length=1, max_length=32, description="event types; '*' wildcards allowed (e.g. 'camera.*')"
    )
    sources: list[Literal["analytics", "camera", "system", "user", "external"]] | None = None
    cameras: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] | None = Field(None, max_length=1000)
    groups: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] | None = Field(None, max_length=100)
    min_severity: Literal["info", "warning", "critical"] = "info"
    zones: list[str] | None = Field(None, max_length=32, description="payload.zone must be one of these")
    classes: list[str] | None = Field(None, max_length=32, description="payload.class must be one of these")
    plates: list[Annotated[str, Field(pattern=r"^[A-Z0-9*]{1,12}$")]] | None = Field(None, max_length=10000)


class Conditions(_M):
    time_profile_id: int | None = Field(None, ge=1, description="only while this time profile applies")
    camera_states: list[Literal["recording", "offline", "paused", "starting", "disabled"]] | None = None
    cooldown_s: int = Field(0, ge=0, le=86400, description="after firing for a camera, stay quiet this long")


class RaiseAlarm(_M):
    type: Literal["raise_alarm"]
    priority: Literal["high", "medium", "low"] = "medium"
    priority_num: int | None = Field(None, ge=1, le=1000, description="finer order; default from priority")
    category: str = Field("general", min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=300, description="may use {type}, {camera}, {camera_name}, {text}")
    instructions: str = Field("", max_length=4000)
    related_cameras: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(default_factory=list, max_length=16)
    pre_alarm_s: int = Field(10, ge=0, le=600)
    incident: str = Field("{rule}:{camera}", max_length=200, description="events with the same key update one alarm")
    dedupe_window_s: int = Field(3600, ge=0, le=7 * 86400)
    escalate_after_s: int | None = Field(None, ge=5, le=86400)
    auto_close_on: list[Annotated[str, Field(pattern=EVENT_TYPE)]] = Field(default_factory=list, max_length=8)
    update_only: list[Annotated[str, Field(pattern=EVENT_TYPE)]] = Field(
        default_factory=list, max_length=8, description="event types that update an open alarm but never raise one"
    )
    notify: list[Literal["webpush", "email"]] = Field(default_factory=list)
    notify_roles: list[str] = Field(default_factory=list, max_length=20)
    notify_organisations: list[str] = Field(default_factory=list, max_length=20)


class AddBookmark(_M):
    type: Literal["bookmark"]
    title: str = Field(min_length=1, max_length=200)
    pre_s: int = Field(10, ge=0, le=3600)
    post_s: int = Field(30, ge=0, le=3600)


class PtzPreset(_M):
    type: Literal["ptz_preset"]
    camera: int = Field(ge=1, le=2**31 - 1)
    preset: str = Field(min_length=1, max_length=64)


class Webhook(_M):
    type: Literal["webhook"]
    url: str = Field(max_length=2000)
    # 16-200 characters as typed; stored sealed (ronda.access.secrets), which is longer.
    secret: str = Field(min_length=16, max_length=1000)

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        try:
            parts = urlsplit(v)
            host = parts.hostname
        except ValueError:
            raise ValueError("must be an http(s) URL with a host") from None
        if parts.scheme not in ("http", "https") or not host:
            raise ValueError("must be an http(s) URL with a host")
        if parts.username or parts.password:
            raise ValueError("must not carry credentials (the HMAC secret authenticates)")
        return v

    @field_validator("secret")
    @classmethod
    def _secret(cls, v: str) -> str:
        if not v.startswith(SEALED_PREFIX) and len(v) > 200:
            raise ValueError("at most 200 characters")
        return v


class Notify(_M):
    type: Literal["notify"]
    channels: list[Literal["webpush", "email"]] = Field(min_length=1)
    roles: list[str] = Field(default_factory=list, max_length=20)
    organisations: list[str] = Field(default_factory=list, max_length=20)
    title: str = Field("{type} on {camera_name}", max_length=300)


Action = Annotated[RaiseAlarm | AddBookmark | PtzPreset | Webhook | Notify, Field(discriminator="type")]


class RuleSpec(_M):
    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")
    enabled: bool = True
    trigger: Trigger
    conditions: Conditions = Field(default_factory=lambda: Conditions.model_validate({}))
    actions: list[Action] = Field(min_length=1, max_length=10)

    @model_validator(mode="after")
    def _one_alarm(self) -> RuleSpec:
        if sum(isinstance(a, RaiseAlarm) for a in self.actions) > 1:
            raise ValueError("at most one raise_alarm action per rule")
        return self


class RuleError(ValueError):
    """A rule the site cannot accept; the message says which field and why."""


def check_webhook_destinations(spec: RuleSpec, allow: Allowance) -> None:
    """Refuse webhook actions aimed at this machine or the site's internal network (RuleError).

    The rule's author chooses the URL and the server makes the request from inside the network, so
    loopback, private, link-local, multicast and reserved destinations (in any spelling, and names
    resolving to them) need the administrator's ``events.allowed_destinations``. A name that does not
    resolve now passes: the sender checks the address it actually connects to again.
    """
    for i, a in enumerate(spec.actions):
        if isinstance(a, Webhook):
            try:
                netguard.check_url(a.url, allow, require_resolution=False)
            except netguard.DestinationRefused as e:
                raise RuleError(f"actions[{i}].url: webhook destination refused: {e}") from None


# --- matching ---------------------------------------------------------------------------------------
SEVERITY_ORDER = {"info": 0, "warning": 1, "critical": 2}


def type_matches(patterns: list[str], etype: str) -> bool:
    return any(p == etype or ("*" in p and fnmatch.fnmatchcase(etype, p)) for p in patterns)


def matches(trigger: Trigger, event: dict[str, Any], group_cameras: set[int] | None = None) -> bool:
    """Does the event (its API view) fire this trigger? ``group_cameras``: cameras of trigger.groups."""
    if not type_matches(trigger.types, event["type"]):
        return False
    if trigger.sources and event.get("source") not in trigger.sources:
        return False
    if SEVERITY_ORDER.get(event.get("severity", "info"), 0) < SEVERITY_ORDER[trigger.min_severity]:
        return False
    cams = set(event.get("cameras") or ([] if event.get("camera") is None else [event["camera"]]))
    if trigger.cameras is not None or trigger.groups is not None:
        allowed = set(trigger.cameras or []) | (group_cameras or set())
        if not cams & allowed:
            return False
    payload = event.get("payload") or {}
    if trigger.zones is not None and payload.get("zone") not in trigger.zones:
        return False
    if trigger.classes is not None and payload.get("class") not in trigger.classes:
        return False
    if trigger.plates is not None:
        plate = re.sub(r"[^A-Z0-9]", "", str(payload.get("plate", "")).upper())
        if not any(fnmatch.fnmatchcase(plate, p) for p in trigger.plates):
            return False
    return True


def chain_of(event: dict[str, Any]) -> list[int]:
    chain = (event.get("payload") or {}).get("rule_chain") or []
    return [int(x) for x in chain if isinstance(x, int)]


def render(template: str, event: dict[str, Any], camera_names: dict[int, str], rule_id: int) -> str:
    cam = event.get("camera")
    values = {
        "type": event.get("type", ""),
        "camera": "" if cam is None else str(cam),
        "camera_name": camera_names.get(cam, "site") if cam is not None else "site",
        "text": event.get("text") or "",
        "rule": str(rule_id),
        "source": event.get("source", ""),
    }
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), template)


# --- the rules that ship enabled ----------------------------------------------------------------------
DEFAULT_RULES: list[dict[str, Any]] = [
    {
        "name": "Camera offline",
        "trigger": {"types": ["camera.offline", "camera.online", "recording.gap"]},
        "actions": [
            {
                "type": "raise_alarm",
                "priority": "high",
                "category": "technical",
                "title": "{camera_name} is offline",
                "instructions": "Check the camera's power and network; the recording has a gap until it is back.",
                "incident": "outage:{camera}",
                "update_only": ["camera.online", "recording.gap"],
                "escalate_after_s": 600,
                "notify": ["webpush", "email"],
                "notify_roles": ["administrator", "operator"],
            }
        ],
    },
    {
        "name": "Storage low",
        "trigger": {"types": ["storage.low", "storage.full", "storage.locked_full", "storage.volume_missing"]},
        "conditions": {"cooldown_s": 0},
        "actions": [
            {
                "type": "raise_alarm",
                "priority": "high",
                "category": "technical",
                "title": "Recording storage: {type}",
                "instructions": "Free space or add a disk: recording pauses when the disk is full.",
                "incident": "storage",
                "notify": ["webpush", "email"],
                "notify_roles": ["administrator"],
            }
        ],
    },
]
