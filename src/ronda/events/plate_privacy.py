"""Who may read a camera's licence plates, and what everyone else who sees the camera gets of a plate
event (docs/access.md, organisation scope; docs/analytics.md, "Licence plates").

A plate read is personal data: it is readable on cameras where the caller holds the camera right
``plates`` **and** that its organisation owns (a site-scope caller: every camera). A camera another
organisation shares shows its video, not its plates. Plate search and crops
(``ronda.analytics.plates.search``) use :func:`may_read_plates`; every way events leave the server
(the event list, the timeline, the live event socket, an alarm's detail) passes ``plate.*`` events
through :class:`PlateFilter`, which gives callers who may not read them the event without anything
plate-identifying: its type, time, cameras and severity stay ("a plate was read here, then"), its
payload becomes ``{"redacted": "plates"}`` and its text, snapshot (the plate crop), uid and box go.
Events of other types pass untouched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from ronda.access.rights import PLATES, Permissions
from ronda.access.service import Principal
from ronda.events.messages import Event

PLATE_EVENT_PREFIX = "plate."  # plate.read, plate.hotlist and whatever reads plates next
REDACTED = "plates"  # the event's ``redacted`` and its payload's: why the caller does not see it
HIDDEN_FIELDS = ("text", "snapshot", "uid", "box")
PLATE_KEY = "plate"  # in another event's payload (dumping.detected: the dumper's plate), for plate readers only


def is_plate_event(event_type: str) -> bool:
    return event_type.startswith(PLATE_EVENT_PREFIX)


def may_read_plates(caller: Principal, camera_id: int | None) -> bool:
    """The ``plates`` right on the camera, which the caller's organisation owns (site scope: any camera).
    A plate event without a camera is the site's: only a site-scope holder of ``plates`` reads it."""
    if camera_id is None:
        return caller.site_scope and caller.has(PLATES)
    return caller.can(PLATES, camera_id) and caller.permissions.owns_camera(camera_id)


def plates_readable(perms: Permissions, camera_id: int | None, now_ms: int) -> bool:
    """:func:`may_read_plates` for a user's permissions outside a request (a notification's recipient)."""
    if camera_id is None:
        return perms.organisation_id is None and any(PLATES in g.rights and g.active(now_ms) for g in perms.grants)
    return perms.can(PLATES, camera_id, now_ms) and perms.owns_camera(camera_id)


def redacted_view(view: dict[str, Any]) -> dict[str, Any]:
    """An event's API view (``Event.to_json``) without anything plate-identifying."""
    out = {k: v for k, v in view.items() if k not in HIDDEN_FIELDS}
    out["payload"] = {"redacted": REDACTED}
    out["redacted"] = REDACTED
    return out


def redacted_event(event: Event) -> Event:
    """The bus event as :func:`redacted_view` shows it (the live socket's copy)."""
    return dataclasses.replace(event, payload={"redacted": REDACTED}, redacted=REDACTED, text=None, snapshot=None,
                               uid=None, box=None)  # fmt: skip


class PlateFilter:
    """One caller's view of plate events, its answers kept per camera (for one request, or for a live
    socket until its rights are read again)."""

    def __init__(self, caller: Principal) -> None:
        self.caller = caller
        self._readable: dict[int | None, bool] = {}

    def may_read(self, camera_id: int | None) -> bool:
        if camera_id not in self._readable:
            self._readable[camera_id] = may_read_plates(self.caller, camera_id)
        return self._readable[camera_id]

    def hides(self, event_type: str, camera_id: int | None) -> bool:
        """Whether an event of this type and main camera reaches the caller redacted."""
        return is_plate_event(event_type) and not self.may_read(camera_id)

    def strips(self, payload: Any, camera_id: int | None) -> bool:
        """Whether another event (a dumping naming the dumper's plate) reaches the caller without its
        payload's ``plate``."""
        return isinstance(payload, dict) and PLATE_KEY in payload and not self.may_read(camera_id)

    def view(self, view: dict[str, Any]) -> dict[str, Any]:
        if self.hides(str(view.get("type", "")), view.get("camera")):
            return redacted_view(view)
        if self.strips(view.get("payload"), view.get("camera")):
            return {**view, "payload": {k: v for k, v in view["payload"].items() if k != PLATE_KEY}}
        return view

    def views(self, views: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self.view(v) for v in views]

    def event(self, event: Event) -> Event:
        if self.hides(event.type, event.camera):
            return redacted_event(event)
        if self.strips(event.payload, event.camera):
            return dataclasses.replace(event, payload={k: v for k, v in event.payload.items() if k != PLATE_KEY})
        return event

    def matches_text(self, view: dict[str, Any], text: str) -> bool:
        """Whether an event a text search found was found by what the caller may see: a redacted
        event's text is not shown, so only its type may have matched (else the search is an oracle for
        plates the caller may not read)."""
        if not self.hides(str(view.get("type", "")), view.get("camera")):
            return True
        needle = text.replace("%", "").replace("_", "").lower()
        return needle in str(view.get("type", "")).lower()


__all__ = [
    "PLATE_EVENT_PREFIX",
    "REDACTED",
    "PlateFilter",
    "is_plate_event",
    "may_read_plates",
    "plates_readable",
    "redacted_event",
    "redacted_view",
]
