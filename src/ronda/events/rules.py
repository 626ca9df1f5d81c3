"""Rules: trigger (which events) + conditions (when) -> actions (what). Rules are data.

A rule is validated twice: its shape by pydantic (unknown keys, bad values, with messages naming the
field), then against the site (``validate_against_site``): cameras and groups exist, the time
profile exists, and the author may grant what the actions do (raising alarms about cameras they
cannot see, calling webhooks, notifying organisations).

Loops: every event an action produces carries ``payload.rule_chain`` (the rules that led to it);
a rule never fires on an event whose chain contains it, and chains longer than ``MAX_CHAIN`` stop.

Cost: every event goes through every enabled rule on the event loop, so a rule must be cheap to
match however it is written. Sizes are bounded here (list lengths, wildcard counts, the rule's JSON,
the number of rules), and :class:`Matcher` compiles a trigger once when the rules are loaded: exact
types, plates, zones and classes become sets, wildcards one regular expression per list. Matching one
event against one rule is then a few set lookups and at most two small regular expressions over
strings of bounded length, whatever the rule holds.
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
from ronda.events.messages import Event
from ronda.events.plate_privacy import is_plate_event

MAX_CHAIN = 3
EVENT_TYPE = r"^[a-z0-9_.*-]{1,64}$"
MAX_PLATES = 10_000  # exact plates: a set lookup each event, whatever the count
MAX_WILDCARD_PLATES = 100  # plates with '*': one combined regular expression per rule
MAX_RULE_BYTES = 256 * 1024  # a rule's JSON as stored (10,000 plates take about 120 KiB)
MAX_RULES = 500  # rules on a site; each event is matched against every enabled one
ALLOWLISTED_TYPE = "plate.read"  # whose payload.allowlist names the allowlist that matched (analytics/plates)
PLATE_CHARS = 16  # what of payload.plate is compared (patterns are at most 12 characters)
Name = Annotated[str, Field(min_length=1, max_length=200)]
PRIORITY_NUM = {"high": 100, "medium": 500, "low": 900}


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Trigger(_M):
    types: list[Annotated[str, Field(pattern=EVENT_TYPE)]] = Field(
        min_length=1, max_length=32, description="event types; '*' wildcards allowed (e.g. 'camera.*')"
    )
    sources: list[Literal["analytics", "camera", "system", "user", "external"]] | None = Field(None, max_length=5)
    cameras: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] | None = Field(None, max_length=1000)
    groups: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] | None = Field(None, max_length=100)
    min_severity: Literal["info", "warning", "critical"] = "info"
    zones: list[Annotated[str, Field(max_length=64)]] | None = Field(
        None, max_length=32, description="payload.zone must be one of these"
    )
    classes: list[Annotated[str, Field(max_length=64)]] | None = Field(
        None, max_length=32, description="payload.class must be one of these"
    )
    plates: list[Annotated[str, Field(pattern=r"^[A-Z0-9*]{1,12}$")]] | None = Field(
        None,
        max_length=MAX_PLATES,
        description=f"payload.plate must be one of these; at most {MAX_WILDCARD_PLATES} may use '*'",
    )

    skip_allowlisted: bool = Field(
        True,
        description="a plate.read an allowlist matched (payload.allowlist: residents, the city's vehicles) does "
        "not fire a rule without 'plates'; false: it does",
    )

    @field_validator("plates")
    @classmethod
    def _few_wildcards(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and sum("*" in p for p in v) > MAX_WILDCARD_PLATES:
            raise ValueError(
                f"at most {MAX_WILDCARD_PLATES} plates may use '*' (list exact plates, up to {MAX_PLATES})"
            )
        return v


class Conditions(_M):
    time_profile_id: int | None = Field(None, ge=1, description="only while this time profile applies")
    camera_states: list[Literal["recording", "offline", "paused", "starting", "disabled"]] | None = Field(
        None, max_length=5
    )
    cooldown_s: int = Field(0, ge=0, le=86400, description="after firing for a camera, stay quiet this long")


class RaiseAlarm(_M):
    type: Literal["raise_alarm"]
    priority: Literal["high", "medium", "low"] = "medium"
    priority_num: int | None = Field(None, ge=1, le=1000, description="finer order; default from priority")
    category: str = Field("general", min_length=1, max_length=64)
    title: str = Field(
        min_length=1,
        max_length=300,
        description="may use {type}, {camera}, {camera_name}, {text} (empty for plate events)",
    )
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
    notify: list[Literal["webpush", "email"]] = Field(default_factory=list, max_length=2)
    notify_roles: list[Name] = Field(default_factory=list, max_length=20)
    notify_organisations: list[Name] = Field(default_factory=list, max_length=20)


class AddBookmark(_M):
    type: Literal["bookmark"]
    title: str = Field(min_length=1, max_length=200)
    pre_s: int = Field(10, ge=0, le=3600)
    post_s: int = Field(30, ge=0, le=3600)


class PtzPreset(_M):
    """Send a dome to a preset, as a PTZ user of ``priority`` (docs/ptz.md): it takes the dome from lower
    priorities and holds it for a session; an equal or higher holder keeps it."""

    type: Literal["ptz_preset"]
    camera: int = Field(ge=1, le=2**31 - 1)
    preset: str = Field(min_length=1, max_length=64, description="the preset's token or name")
    priority: int = Field(75, ge=0, le=1000, description="PTZ priority of the move (operators 50, administrators 100)")


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
    """Tell people about the event itself (no alarm): the listed users and the users of the listed roles
    and organisations who may see every camera of the event, through the channels of their preferences."""

    type: Literal["notify"]
    channels: list[Literal["webpush", "email"]] = Field(min_length=1, max_length=2)
    users: list[Name] = Field(default_factory=list, max_length=50, description="user names")
    roles: list[Name] = Field(default_factory=list, max_length=20)
    organisations: list[Name] = Field(default_factory=list, max_length=20)
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


def _wildcards(patterns: list[str]) -> re.Pattern[str] | None:
    """One expression for every pattern with '*' (fnmatch's translation, which does not backtrack
    catastrophically), or None when there is none."""
    wild = sorted({p for p in patterns if "*" in p})
    if not wild:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in wild))


def normalise_plate(value: Any) -> str:
    """``payload.plate`` as the patterns are written: upper-case letters and digits, bounded length."""
    return re.sub(r"[^A-Z0-9]", "", str(value)[: 4 * PLATE_CHARS].upper())[:PLATE_CHARS]


class Matcher:
    """A trigger compiled once (when the rules are loaded), so that matching an event does not depend
    on how long the trigger's lists are."""

    __slots__ = ("classes", "exact_plates", "exact_types", "min_severity", "places", "skip_allowlisted", "sources",
                 "wild_plates", "wild_types", "zones")  # fmt: skip

    def __init__(self, trigger: Trigger, group_cameras: set[int] | None = None) -> None:
        self.exact_types = frozenset(p for p in trigger.types if "*" not in p)
        self.wild_types = _wildcards(trigger.types)
        self.sources = frozenset(trigger.sources) if trigger.sources else None
        self.min_severity = SEVERITY_ORDER[trigger.min_severity]
        self.places: frozenset[int] | None = None
        if trigger.cameras is not None or trigger.groups is not None:
            self.places = frozenset(trigger.cameras or []) | frozenset(group_cameras or ())
        self.zones = frozenset(trigger.zones) if trigger.zones is not None else None
        self.classes = frozenset(trigger.classes) if trigger.classes is not None else None
        self.exact_plates: frozenset[str] | None = None
        self.wild_plates: re.Pattern[str] | None = None
        if trigger.plates is not None:
            self.exact_plates = frozenset(p for p in trigger.plates if "*" not in p)
            self.wild_plates = _wildcards(trigger.plates)
        # A rule naming plates asked for them, allowlisted or not; a generic one leaves residents alone.
        self.skip_allowlisted = trigger.skip_allowlisted and trigger.plates is None

    def __call__(self, event: Event) -> bool:
        etype = event.type
        if etype not in self.exact_types and not (self.wild_types is not None and self.wild_types.match(etype)):
            return False
        if self.sources is not None and event.source.value not in self.sources:
            return False
        if SEVERITY_ORDER.get(event.severity.value, 0) < self.min_severity:
            return False
        if self.places is not None:
            cams = event.cameras or (() if event.camera is None else (event.camera,))
            if self.places.isdisjoint(cams):
                return False
        payload = event.payload
        if self.zones is not None and not _member(payload.get("zone"), self.zones):
            return False
        if self.classes is not None and not _member(payload.get("class"), self.classes):
            return False
        if self.skip_allowlisted and etype == ALLOWLISTED_TYPE and payload.get("allowlist"):
            return False
        if self.exact_plates is not None:
            plate = normalise_plate(payload.get("plate", ""))
            if plate not in self.exact_plates and not (self.wild_plates is not None and self.wild_plates.match(plate)):
                return False
        return True


def _member(value: Any, allowed: frozenset[str]) -> bool:
    return isinstance(value, str) and value in allowed  # lists and objects are never a zone or class


def type_matches(patterns: list[str], etype: str) -> bool:
    return any(p == etype or ("*" in p and fnmatch.fnmatchcase(etype, p)) for p in patterns)


def matches(trigger: Trigger, event: Event, group_cameras: set[int] | None = None) -> bool:
    """Does the event fire this trigger? ``group_cameras``: cameras of trigger.groups.
    Compiles the trigger on each call: the engine keeps a :class:`Matcher` per rule instead."""
    return Matcher(trigger, group_cameras)(event)


def chain_of(event: Event) -> list[int]:
    return event.rule_chain


def render(template: str, event: Event, camera_names: dict[int, str], rule_id: int) -> str:
    """A title (or incident key) of ``template`` for ``event``. A plate event's text is left out: a
    title goes to everyone who sees the alarm's camera and, in notifications, webhooks and MQTT, to
    recipients chosen by camera, most of whom may not read its plates (``events.plate_privacy``)."""
    cam = event.camera
    values = {
        "type": event.type,
        "camera": "" if cam is None else str(cam),
        "camera_name": camera_names.get(cam, "site") if cam is not None else "site",
        "text": "" if is_plate_event(event.type) else event.text or "",
        "rule": str(rule_id),
        "source": event.source.value,
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
    {
        # The recorder keeps its timeline in order through a step (recording/clockwatch.py), but the clock
        # is what every recording is dated by: an administrator has to know it moved, and why.
        "name": "Server clock jumped",
        "trigger": {"types": ["system.clock_jump"]},
        "conditions": {"cooldown_s": 0},
        "actions": [
            {
                "type": "raise_alarm",
                "priority": "medium",
                "category": "technical",
                "title": "The server's clock jumped",
                "instructions": "Check the server's time synchronisation (NTP). Recordings stay in order; a step "
                "forward shows in the timeline as a clock_adjusted gap. The event says by how much it moved.",
                "incident": "clock",
                "notify": ["webpush", "email"],
                "notify_roles": ["administrator"],
            }
        ],
    },
]
