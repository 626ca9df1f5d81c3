"""A user's Web Push subscriptions and notification preferences (channels, e-mail, quiet hours)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select

from ronda.access import netguard
from ronda.errors import Conflict, Invalid
from ronda.store.db import Database
from ronda.store.event_models import NotificationPrefs, PushSubscription
from ronda.timeutil import now_ms

TAKEN = "this push endpoint belongs to another user"


def check_endpoint(url: str, allow_private: bool) -> None:
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        host = None
    if host is None or parts.scheme not in ("https", "http"):
        raise Invalid("endpoint must be an https URL of a push service")
    if allow_private:
        return
    # Any signed-in browser chooses this URL and the server will POST to it: resolve it as the
    # connection will (127.1, 0x7f000001, localhost. ... are loopback too) and check every address.
    # Sending checks again on the address actually connected to (DNS can change in between).
    try:
        netguard.check_url(url, schemes=("https",))
    except netguard.DestinationRefused as e:
        raise Invalid(f"endpoint must be an https URL of a public push service: {e}") from None


def subscribe(db: Database, user_id: int, endpoint: str, p256dh: str, auth: str, allow_private: bool) -> int:
    """The subscription's id (the owner may subscribe again, e.g. with new keys); ``Conflict`` for an
    endpoint of another user: never taken over, it would send that user's alarms here or silence them."""
    with db.session() as s:
        # Ownership first: whether an endpoint is someone else's needs no name resolution.
        taken = s.scalar(select(PushSubscription.user_id).where(PushSubscription.endpoint == endpoint))
    if taken is not None and taken != user_id:
        raise Conflict(TAKEN)
    check_endpoint(endpoint, allow_private)
    with db.session() as s:
        row = s.scalar(select(PushSubscription).where(PushSubscription.endpoint == endpoint))
        if row is None:
            row = PushSubscription(endpoint=endpoint, created_ms=now_ms(), user_id=user_id, p256dh=p256dh, auth=auth)
            s.add(row)
        elif row.user_id != user_id:
            # A shared browser, or a copied endpoint: the browser's new user unsubscribes and subscribes
            # again (a new endpoint), or the owner removes it first.
            raise Conflict(TAKEN)
        else:  # the owner again, e.g. with new keys after the browser renewed the subscription
            row.p256dh, row.auth = p256dh, auth
        s.flush()
        return row.id


def unsubscribe(db: Database, user_id: int, endpoint: str) -> None:
    with db.session() as s:
        s.execute(delete(PushSubscription).where(PushSubscription.endpoint == endpoint,
                                                 PushSubscription.user_id == user_id))  # fmt: skip


def _prefs_view(p: NotificationPrefs | None) -> dict[str, Any]:
    if p is None:
        return {"channels": ["webpush", "email"], "email": None, "quiet_hours": None, "min_priority": "low"}
    return {"channels": p.channels, "email": p.email, "quiet_hours": p.quiet_hours, "min_priority": p.min_priority}


def prefs(db: Database, user_id: int) -> dict[str, Any]:
    with db.session() as s:
        return _prefs_view(s.get(NotificationPrefs, user_id))


def set_prefs(
    db: Database, user_id: int, channels: list[str], email: str | None, quiet_hours: dict[str, Any] | None,
    min_priority: str,
) -> dict[str, Any]:  # fmt: skip
    with db.session() as s:
        p = s.get(NotificationPrefs, user_id)
        if p is None:
            p = NotificationPrefs(user_id=user_id, channels=[])
            s.add(p)
        p.channels, p.email, p.quiet_hours, p.min_priority = channels, email, quiet_hours, min_priority
        s.flush()
        return _prefs_view(p)
