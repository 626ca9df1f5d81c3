"""Signed webhooks with retries.

Each POST carries the compact JSON body and three headers:

- ``X-Ronda-Timestamp``: unix seconds when this attempt was signed;
- ``X-Ronda-Signature``: ``sha256=`` + hex HMAC-SHA256 of ``f"{timestamp}.{body}"`` under the shared secret;
- ``X-Ronda-Delivery``: a UUID that stays the same on every retry of one delivery, so a receiver can drop
  duplicates (a retry after a timeout may repeat a request the receiver already handled).

A rule's webhook also sends ``Idempotency-Key: <message key>:<rule id>:<action index>`` (``event:17:3:0``),
and its ``X-Ronda-Delivery`` is derived from the site and that key (:func:`delivery_id_for`): both stay
the same when another events node runs the action again after the first one died (docs/alarms.md).

Every attempt is signed afresh with the current time, so a retry that waited long still passes a
receiver's freshness check. Receivers verify with ``verify_signature`` (see docs/notifications.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import time
import uuid
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from ronda.access.netguard import NOTHING, Allowance, AsyncGuardedTransport, refused
from ronda.events.notify import DeliveryResult, redact_url

log = logging.getLogger(__name__)

USER_AGENT = "Ronda-Webhook/1"
SIGNATURE_PREFIX = "sha256="


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def _bytes(body: str | bytes) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else body


def sign(secret: str | bytes, timestamp: int | str, body: str | bytes) -> str:
    """The ``X-Ronda-Signature`` value for one request."""
    mac = hmac.new(_key(secret), f"{timestamp}.".encode("ascii") + _bytes(body), hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def verify_signature(
    secret: str | bytes,
    timestamp: int | str,
    body: str | bytes,
    header: str,
    tolerance_s: float = 300,
    *,
    now: float | None = None,
) -> bool:
    """True when ``header`` (the ``X-Ronda-Signature`` value) signs ``timestamp`` and the raw ``body``
    bytes exactly as received, and the timestamp lies within ``tolerance_s`` of now.

    Pass the body bytes as read from the request, before any JSON parsing: re-serialising changes them.
    The comparison runs in constant time, and a stale timestamp is refused so a captured request cannot
    be replayed later. Within the tolerance, drop repeats by their ``X-Ronda-Delivery`` id.
    """
    try:
        ts = int(str(timestamp).strip())
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_s:
        return False
    expected = sign(secret, ts, body)
    # A receiver may list several signatures (e.g. during secret rotation); any one may match.
    return any(hmac.compare_digest(expected.encode(), part.strip().encode()) for part in header.split(","))


def delivery_id_for(site: str, key: str) -> str:
    """The ``X-Ronda-Delivery`` of a rule action's webhook: a UUID named by the site and the action's
    Idempotency-Key, so every node sends the same one, and two sites never do."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ronda:{site}:{key}"))


def encode_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def _retry_after_s(value: str | None) -> float | None:
    """Seconds from a Retry-After header: either delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


async def send_webhook(
    url: str,
    secret: str | bytes | None,
    payload: dict[str, Any],
    *,
    attempts: int = 5,
    backoff_s: float = 0.5,
    timeout_s: float = 5,
    max_backoff_s: float = 30.0,
    max_retry_after_s: float = 60.0,
    client: httpx.AsyncClient | None = None,
    delivery_id: str | None = None,
    allow: Allowance = NOTHING,
    idempotency_key: str | None = None,
) -> DeliveryResult:
    """POST ``payload`` to ``url``, signed with ``secret``, retrying what may succeed later.

    Retried: connection errors, timeouts, 429 (waiting for Retry-After, capped at ``max_retry_after_s``)
    and 5xx, with exponential backoff and jitter. Not retried: any other status, including redirects
    (they are not followed: a webhook URL should be the final one). ``client`` lets a caller reuse one
    connection pool across deliveries; it must be built on ``AsyncGuardedTransport``.

    The destination is resolved and checked on every connection, and the connection goes to the
    checked address (``ronda.access.netguard``): loopback, private, link-local, multicast and reserved
    addresses are refused, without retrying, unless ``allow`` (the site's
    ``events.allowed_destinations``) lists them.
    """
    target = redact_url(url)
    if not url.startswith(("https://", "http://")):
        return DeliveryResult("webhook", target, ok=False, attempts=0, error="webhook URL must be http(s)")
    body = encode_body(payload)
    delivery = delivery_id or str(uuid.uuid4())
    status: int | None = None
    error: str | None = None

    async def attempt_once(c: httpx.AsyncClient, attempt: int) -> httpx.Response:
        ts = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Ronda-Delivery": delivery,
            "X-Ronda-Timestamp": str(ts),
            "X-Ronda-Attempt": str(attempt),
        }
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if secret:
            headers["X-Ronda-Signature"] = sign(secret, ts, body)
        return await c.post(url, content=body, headers=headers, timeout=timeout_s)

    own = client is None
    c = (
        client
        if client is not None
        else httpx.AsyncClient(follow_redirects=False, transport=AsyncGuardedTransport(allow))
    )
    try:
        for attempt in range(1, attempts + 1):
            delay = min(max_backoff_s, backoff_s * 2 ** (attempt - 1))
            delay = random.uniform(delay / 2, delay)  # jitter: many hooks failing together must not retry together
            try:
                resp = await attempt_once(c, attempt)
            except httpx.TransportError as exc:  # connection refused/reset, DNS, timeouts
                why = refused(exc)
                if why is not None:  # the destination, not the network: trying again changes nothing
                    log.warning("webhook %s refused: %s", target, why)
                    error = f"destination refused: {why}"
                    return DeliveryResult("webhook", target, False, attempt, None, error, delivery_id=delivery)
                status, error = None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                status = resp.status_code
                if 200 <= status < 300:
                    return DeliveryResult("webhook", target, True, attempt, status, None, delivery_id=delivery)
                error = f"HTTP {status} {resp.reason_phrase}".strip()
                if status != 429 and status < 500:
                    return DeliveryResult("webhook", target, False, attempt, status, error, delivery_id=delivery)
                if status == 429:
                    wait = _retry_after_s(resp.headers.get("Retry-After"))
                    if wait is not None:
                        delay = min(wait, max_retry_after_s)
            if attempt < attempts:
                log.info("webhook %s attempt %d failed (%s), retrying in %.2f s", target, attempt, error, delay)
                await asyncio.sleep(delay)
    finally:
        if own:
            await c.aclose()
    error = f"{error} (gave up after {attempts} attempts)"
    log.warning("webhook %s delivery %s failed: %s", target, delivery, error)
    return DeliveryResult("webhook", target, False, attempts, status, error, delivery_id=delivery)
