"""The one check of events from outside, for every way they come in (HTTP ``POST /events``, MQTT
ingest), and of their free-form ``payload`` for every way they go out (listings, the timeline,
alarms, the bus).

A payload is stored once and then serialised for everyone who sees its camera, again and again: a
payload that cannot be serialised (nested deeper than the encoders recurse, NaN, which strict JSON
refuses) would turn every listing that contains it into an error for everyone, a stored denial of
service. So what comes in is held to small limits (depth, element count, size, plain JSON values),
and what goes out is checked against the same limits, so that a row stored before these checks, or
written by other means, is shown without its payload instead of failing the whole answer.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_DEPTH = 8  # objects/arrays nested in one another, the payload object itself included
# On the way out only: deeper than what is accepted (older rows that serialise fine stay visible),
# far below the ~260 levels at which the response encoder runs out of stack.
OUTPUT_DEPTH = 32
MAX_ITEMS = 500  # object members and array elements, counted over the whole payload
MAX_BYTES = 8192  # compact JSON
# Keys Ronda itself writes to say where an event came from; a sender must not forge them.
# ``rule_chain`` in particular lists the rules that produced an event, and rules never fire on an
# event whose chain holds them (or a chain of MAX_CHAIN): a forged chain would silence every rule.
# ``redacted`` marks a payload an administrator has removed.
RESERVED = frozenset({"rule_chain", "by", "via", "sensor", "redacted"})
_INT_LIMIT = 2**63  # what a 64-bit column or another system's JSON parser keeps exactly enough


class PayloadError(ValueError):
    """Why a payload is refused (a message for the sender)."""


def check_shape(value: Any, max_depth: int = MAX_DEPTH, max_items: int = MAX_ITEMS) -> None:
    """Plain JSON only (objects with string keys, arrays, strings, finite numbers, booleans, null),
    at most ``max_depth`` levels and ``max_items`` members and elements; no NUL characters (PostgreSQL
    cannot store them in JSON). Iterative: deep input cannot exhaust the stack here."""
    items = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict | list):
            if depth > max_depth:
                raise PayloadError(f"payload is nested deeper than {max_depth} levels")
            items += len(v)
            if items > max_items:
                raise PayloadError(f"payload has more than {max_items} members and elements")
            if isinstance(v, list):
                stack.extend((child, depth + 1) for child in v)
                continue
            for k, child in v.items():
                if not isinstance(k, str):
                    raise PayloadError("payload keys must be strings")
                if "\x00" in k:
                    raise PayloadError("payload keys must not contain NUL characters")
                stack.append((child, depth + 1))
        elif isinstance(v, str):
            if "\x00" in v:
                raise PayloadError("payload strings must not contain NUL characters")
        elif isinstance(v, bool) or v is None:
            pass
        elif isinstance(v, int):
            if not -_INT_LIMIT < v < _INT_LIMIT:
                raise PayloadError("payload integers must fit in 64 bits")
        elif isinstance(v, float):
            if not math.isfinite(v):
                raise PayloadError("payload numbers must be finite (no NaN or Infinity)")
        else:
            raise PayloadError(f"payload values must be JSON, not {type(v).__name__}")


def check_payload(payload: Any) -> dict[str, Any]:
    """An incoming event's payload (HTTP body or MQTT message): a JSON object within the limits,
    without the keys Ronda reserves. Returns it; raises :class:`PayloadError` saying why not."""
    if not isinstance(payload, dict):
        raise PayloadError("payload must be a JSON object")
    check_shape(payload)
    if len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()) > MAX_BYTES:
        raise PayloadError(f"payload is larger than {MAX_BYTES} bytes of JSON")
    reserved = sorted(RESERVED & payload.keys())
    if reserved:
        raise PayloadError(f"payload.{reserved[0]} is reserved (Ronda sets it)")
    return payload


def safe_payload(payload: Any) -> tuple[dict[str, Any], str | None]:
    """A stored payload for output: ``(payload, None)`` when it is safe to serialise, else
    ``({}, reason)``. No size limit here: rules add keys of their own to what they store, and size
    does not break an encoder; depth and non-JSON values do."""
    if payload is None:
        return {}, None
    if not isinstance(payload, dict):
        return {}, "payload is not a JSON object"
    try:
        # Ronda's own events (rule chains, alarm ids) stay well inside these limits; the wider item
        # count only spares big legacy rows that serialise fine.
        check_shape(payload, OUTPUT_DEPTH, 10 * MAX_ITEMS)
    except PayloadError as e:
        return {}, str(e)
    return payload, None


TYPE_PATTERN = r"^[a-z0-9_-]{1,32}(\.[a-z0-9_-]{1,32}){0,3}$"
UID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"


class IncomingEvent(BaseModel):
    """What every sender of an event may say about it, whatever the transport. The HTTP body
    (``api/routes/events.py``) adds cameras, a sensor and a time; MQTT takes those from the sensor's
    configuration. Unknown keys are refused (a typo must not be silently dropped)."""

    model_config = ConfigDict(extra="forbid")
    type: str = Field(pattern=TYPE_PATTERN, description="e.g. sensor.bin_full")
    severity: Literal["info", "warning", "critical"] = "info"
    text: str | None = Field(None, max_length=500)
    payload: dict[str, Any] = Field(default_factory=dict, description="free-form JSON object (see limits)")
    uid: str | None = Field(None, pattern=UID_PATTERN, description="sender's id: resends are ignored")

    @field_validator("payload", mode="before")
    @classmethod
    def _payload(cls, v: Any) -> Any:
        return check_payload(v)

    @field_validator("text")
    @classmethod
    def _one_line(cls, v: str | None) -> str | None:
        if v is not None and any(ord(c) < 0x20 and c not in "\t" for c in v):
            raise ValueError("must be one line without control characters")
        return v
