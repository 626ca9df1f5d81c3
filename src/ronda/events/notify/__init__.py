"""Notification channels: Web Push, email, signed webhooks, MQTT, plus rate limits and quiet hours.

The package knows nothing of the database or of FastAPI: the alarm manager hands it plain values
(a ``Notification``) and gets a ``DeliveryResult`` back, so every channel can be tested against a real
peer on its own. Each channel lives in its own module, named after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit, urlunsplit

Priority = Literal["high", "medium", "low"]
PRIORITIES: tuple[Priority, ...] = ("low", "medium", "high")
_RANK: dict[str, int] = {p: i for i, p in enumerate(PRIORITIES)}


def priority_rank(priority: str) -> int:
    """0 for low, 1 for medium, 2 for high; unknown values rank as medium (a typo must not silence an alarm)."""
    return _RANK.get(priority, 1)


@dataclass(slots=True)
class Notification:
    """What one alarm (or event) tells a person, independent of the channel that carries it."""

    alarm_id: int | None
    event_id: str | None
    title: str
    body: str
    priority: Priority = "medium"
    category: str = ""
    camera_ids: list[int] = field(default_factory=list)
    time_ms: int = 0
    url: str = ""  # deep link inside the web client, e.g. "/#/alarms/42"
    snapshot_url: str | None = None  # absolute, or None
    snapshot_jpeg: bytes | None = field(default=None, repr=False)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class DeliveryResult:
    """The outcome of one delivery to one target. ``gone`` means the target no longer exists (delete it)."""

    channel: str
    target: str
    ok: bool
    attempts: int = 1
    status: int | None = None
    error: str | None = None
    gone: bool = False
    delivery_id: str | None = None


def absolute_url(base_url: str | None, url: str) -> str:
    """Join a deep link such as "/#/alarms/42" to the public base URL of the web client."""
    if not base_url or urlsplit(url).scheme:
        return url
    return urljoin(base_url if base_url.endswith("/") else base_url + "/", url.lstrip("/"))


def redact_url(url: str) -> str:
    """A URL safe for logs and results: no user info, query or fragment (they often carry tokens)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


__all__ = [
    "PRIORITIES",
    "DeliveryResult",
    "Notification",
    "Priority",
    "absolute_url",
    "priority_rank",
    "redact_url",
]
