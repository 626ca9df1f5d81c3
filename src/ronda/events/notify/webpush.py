"""Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291) via pywebpush.

The server owns one VAPID key pair for its lifetime: browsers bind every subscription to the public key
given to ``pushManager.subscribe({applicationServerKey})``, so a new key silently orphans every existing
subscription. ``ensure_vapid_key`` therefore creates the key once and only ever loads it afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ronda.access import keys
from ronda.access.netguard import NOTHING, Allowance, GuardedTransport, refused
from ronda.events.notify import DeliveryResult, Notification

log = logging.getLogger(__name__)

# A push service accepts at most 4096 octets of encrypted payload (RFC 8030 §7.2). One aes128gcm record
# adds 86 octets of header (salt, record size, key id = the 65-octet sender key), a 16-octet tag and one
# padding delimiter octet (RFC 8291 §4), which leaves this much plaintext.
MAX_PUSH_PAYLOAD = 4096
MAX_PLAINTEXT = MAX_PUSH_PAYLOAD - 86 - 16 - 1

_URGENCY = {"high": "high", "medium": "normal", "low": "low"}
_GONE = (404, 410)
_TRANSIENT = (429, 500, 502, 503, 504)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class VapidKey:
    path: Path
    private_key: ec.EllipticCurvePrivateKey

    @property
    def public_key_b64(self) -> str:
        """The uncompressed P-256 point (65 octets, 0x04|X|Y), base64url without padding: the
        ``applicationServerKey`` a browser passes to ``pushManager.subscribe``."""
        return vapid_public_key_b64(self.private_key)


def vapid_public_key_b64(private_key: ec.EllipticCurvePrivateKey) -> str:
    raw = private_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return _b64url(raw)


def load_vapid_key(path: str | os.PathLike[str]) -> VapidKey:
    """The VAPID key at ``path`` (tightened to 0600 if loose: whoever reads it can push to every
    subscribed phone)."""
    p = Path(path)
    return VapidKey(p, keys.load_p256_key(p))


def ensure_vapid_key(path: str | os.PathLike[str]) -> VapidKey:
    """Load the VAPID key at ``path``, creating it (PKCS#8 PEM, mode 0600) if it does not exist yet.

    Through the key store (access/keys.py): a crash never leaves a half-written key and two processes
    racing to create it end up sharing the first one written.
    """
    p = Path(path)
    return VapidKey(p, keys.p256_key(p))


def build_payload(n: Notification, limit: int = MAX_PLAINTEXT) -> bytes:
    """Compact JSON for the service worker, cut to fit one push message (the body is shortened first)."""
    doc: dict[str, Any] = {
        "alarm_id": n.alarm_id,
        "title": n.title[:200],
        "body": n.body,
        "url": n.url,
        "snapshot": n.snapshot_url,
        "priority": n.priority,
        "time": n.time_ms,
    }

    def encode() -> bytes:
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    out = encode()
    if len(out) > limit:
        # Longest body prefix that fits; JSON escapes and multi-byte characters make bytes != characters.
        body: str = doc["body"]
        lo, hi = 0, len(body)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            doc["body"] = body[:mid] + "…"
            if len(encode()) <= limit:
                lo = mid
            else:
                hi = mid - 1
        doc["body"] = body[:lo] + "…" if lo else ""
        out = encode()
    if len(out) > limit:
        doc["snapshot"] = None  # an absurdly long URL: the notification still matters more than its picture
        out = encode()
    if len(out) > limit:
        raise ValueError("push payload does not fit even without body and snapshot")
    return out


def _target(endpoint: str) -> str:
    # The endpoint path is a capability (whoever knows it can push to that browser): keep the origin and
    # a short tail, enough to tell subscriptions apart in logs.
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/…{parts.path[-6:]}"


def _b64url_decode(text: object) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not a string")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _check_subscription(endpoint: str, keys: Any) -> str | None:
    """Why a subscription cannot be used, or None. Browsers send a 65-octet P-256 point and 16 octets of
    auth secret; anything else is junk that would fail deep inside the encryption."""
    if urlsplit(endpoint).scheme not in ("https", "http") or not urlsplit(endpoint).netloc:
        return "endpoint is not an http(s) URL"
    if not isinstance(keys, dict):
        return "keys missing"
    try:
        p256dh = _b64url_decode(keys.get("p256dh"))
        auth = _b64url_decode(keys.get("auth"))
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), p256dh)
    except (ValueError, TypeError):
        return "keys.p256dh is not a base64url P-256 public key"
    if len(p256dh) != 65 or len(auth) != 16:
        return "keys.p256dh must be 65 octets and keys.auth 16"
    return None


class _GuardedSession:
    """What pywebpush posts through instead of ``requests``: the endpoint is any URL a signed-in browser
    handed us, so the request goes out on a ``GuardedTransport`` (resolved once, every address checked,
    connected to the checked address) and pywebpush gets a ``requests.Response`` back as it expects."""

    def __init__(self, allow: Allowance) -> None:
        import httpx

        self._client = httpx.Client(transport=GuardedTransport(allow), follow_redirects=False)

    def post(self, url: str, data: bytes | None = None, headers: Any = None, timeout: float | None = None) -> Any:
        import httpx
        from requests import ConnectionError, Response, Timeout
        from requests.structures import CaseInsensitiveDict

        try:
            r = self._client.post(url, content=data, headers=dict(headers or {}), timeout=timeout)
        except httpx.TimeoutException as e:  # the exceptions pywebpush's callers know, message kept
            raise Timeout(str(e)) from e
        except httpx.TransportError as e:
            raise ConnectionError(str(e)) from e
        resp = Response()
        resp.status_code, resp.reason, resp.url = r.status_code, r.reason_phrase, url
        resp._content = r.content  # noqa: SLF001  (how requests itself fills a response)
        resp.headers = CaseInsensitiveDict(r.headers)
        return resp

    def close(self) -> None:
        self._client.close()


def _retry_after(resp: Any, cap_s: float) -> float | None:
    try:
        value = resp.headers.get("Retry-After")
        return min(max(float(value), 0.0), cap_s) if value is not None else None
    except (TypeError, ValueError, AttributeError):
        return None


async def send_webpush(
    subscription: dict[str, Any],
    n: Notification,
    vapid_private_pem_path: str | os.PathLike[str] | VapidKey,
    subject: str,
    ttl_s: int = 3600,
    *,
    timeout_s: float = 10.0,
    attempts: int = 3,
    backoff_s: float = 0.5,
    max_retry_after_s: float = 30.0,
    allow: Allowance = NOTHING,
) -> DeliveryResult:
    """Encrypt ``n`` for one browser subscription and post it to its push service.

    ``subscription`` is what the browser's ``PushSubscription.toJSON()`` returned: ``endpoint`` and
    ``keys.p256dh`` / ``keys.auth``. The VAPID key is given by its PEM path (read on each call) or as an
    already loaded ``VapidKey``. A 404 or 410 answer means the browser dropped the subscription: the
    result has ``gone=True`` and the caller should delete it. Connection errors, 429 and 5xx are retried.
    The endpoint's address is checked where the connection is made (``ronda.access.netguard``): loopback,
    private and other internal addresses are refused, not retried, unless ``allow`` lists them.
    """
    # Imported here so a deployment without Web Push never pays for requests/aiohttp at start-up.
    from py_vapid import Vapid
    from pywebpush import webpush

    endpoint = str(subscription.get("endpoint") or "")
    keys = subscription.get("keys") or {}
    target = _target(endpoint)
    problem = _check_subscription(endpoint, keys)
    if problem:
        return DeliveryResult("webpush", target, ok=False, attempts=0, error=f"invalid subscription: {problem}")
    if not (subject.startswith("mailto:") or subject.startswith("https://")):
        raise ValueError("VAPID subject must be a mailto: or https: URL")

    key = vapid_private_pem_path
    vapid = Vapid(private_key=(key if isinstance(key, VapidKey) else load_vapid_key(key)).private_key)
    try:
        data = build_payload(n).decode("utf-8")
    except ValueError as exc:
        return DeliveryResult("webpush", target, ok=False, attempts=0, error=str(exc))
    headers = {"Urgency": _URGENCY.get(n.priority, "normal")}
    if n.alarm_id is not None:
        # A push service keeps only the newest pending message per topic: a phone that was offline gets
        # the alarm's latest state instead of every intermediate update.
        headers["Topic"] = f"alarm-{n.alarm_id}"

    session = _GuardedSession(allow)

    def post() -> Any:
        return webpush(
            subscription_info=subscription,
            data=data,
            vapid_private_key=vapid,
            vapid_claims={"sub": subject},  # fresh dict: pywebpush writes aud and exp into it
            content_encoding="aes128gcm",
            ttl=ttl_s,
            timeout=timeout_s,
            headers=dict(headers),
            requests_session=session,  # type: ignore[arg-type]  # duck-typed: only .post() is used
        )

    try:
        return await _deliver(post, target, endpoint, attempts, backoff_s, max_retry_after_s)
    finally:
        session.close()


async def _deliver(
    post: Any, target: str, endpoint: str, attempts: int, backoff_s: float, max_retry_after_s: float
) -> DeliveryResult:
    from py_vapid import VapidException
    from pywebpush import WebPushException
    from requests import RequestException

    status: int | None = None
    error: str | None = None
    for attempt in range(1, attempts + 1):
        delay = backoff_s * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)
        try:
            resp = await asyncio.to_thread(post)
            return DeliveryResult("webpush", target, ok=True, attempts=attempt, status=resp.status_code)
        except WebPushException as exc:
            resp = exc.response
            if resp is None:  # raised before anything was sent
                return DeliveryResult("webpush", target, ok=False, attempts=attempt, error=exc.message)
            status = getattr(resp, "status_code", None)
            reason = (getattr(resp, "reason", None) or "").strip()
            error = f"push service answered {status} {reason}".strip()
            if status in _GONE:
                return DeliveryResult(
                    "webpush", target, ok=False, attempts=attempt, status=status, error=error, gone=True
                )
            if status not in _TRANSIENT:
                return DeliveryResult("webpush", target, ok=False, attempts=attempt, status=status, error=error)
            wait = _retry_after(resp, max_retry_after_s)
            delay = delay if wait is None else wait
        except (ValueError, TypeError, VapidException) as exc:
            # The encryption refused the keys in a way _check_subscription did not foresee, or py_vapid
            # refused the endpoint's origin as the token audience (it does not take [IPv6] hosts).
            return DeliveryResult("webpush", target, ok=False, attempts=attempt, error=f"invalid subscription: {exc}")
        except RequestException as exc:
            why = refused(exc)
            if why is not None:  # an internal address: no retry will make it acceptable
                log.warning("web push to %s refused: %s", target, why)
                return DeliveryResult(
                    "webpush", target, ok=False, attempts=attempt, error=f"destination refused: {why}"
                )
            # requests quotes the URL in its messages; the endpoint path must not reach logs or the database.
            path = urlsplit(endpoint).path
            text = str(exc).replace(path, "/…") if len(path) > 1 else str(exc)
            status, error = None, f"{type(exc).__name__}: {text}"
        if attempt < attempts:
            log.info("web push to %s failed (%s), retrying in %.2f s", target, error, delay)
            await asyncio.sleep(delay)
    return DeliveryResult("webpush", target, ok=False, attempts=attempts, status=status, error=error)
