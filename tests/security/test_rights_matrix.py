"""The rights matrix of issue 10: every operation of the OpenAPI document × seven principals × objects of
both organisations, over real HTTP against the shared site (tests/conftest.py).

``TABLE`` classifies every operation, one line each, with the rule under which a principal may get a 2xx
for an object. It follows the table "Organisation scope" of docs/access.md; where that table is silent
(self-service, the site's event counters) the comment on the line says what was chosen. Rules:

- ``public``     anyone: credentials are not looked at (the logged-out token gets a 2xx too)
- ``auth``       any authenticated principal (an API key acts as its owner)
- ``own``        the object was made by the principal's own account
- ``site:R``     a site-scope holder (no organisation) of the global right ``R``
- ``org:R``      a holder of the global right ``R`` whose scope holds the object: the site scope holds
                 everything, organisation B holds B's objects (a camera *shared* with B stays A's)
- ``cam:R``      the camera right ``R`` (``any``: some right) on the object's (primary) camera
- ``anycam:R``   the camera right ``R`` on any of the object's cameras
- ``session``    not an API key (the column "API key" of docs/access.md says "—")
- ``scope``      the object belongs to the principal's organisation (a site-scope principal: any)
- ``x & y | z``  ``&`` binds tighter than ``|``; ``administrator`` is the built-in role as a pseudo right

The second column names the objects the request is made for (path parameter or body), by tag:
``a`` Polizia Locale's (organisation A; cameras in its group "Odd cameras"), ``s`` A's, in the group
"Even cameras" that A shares with the Municipio, ``b`` the Municipio's (organisation B; a group of its
own), ``site`` no organisation, ``sadm`` a site administrator, ``m`` an alarm on an A camera that also
relates to a shared one, ``own``/``other`` API keys, ``x`` an id that does not exist. A set ending in
``+`` is made afresh for each request (destructive operations).

Each (operation, principal) is one test, sending one request per object. It fails when: any answer is
5xx; a principal the rule refuses gets anything but a 4xx; a principal the rule allows gets no 2xx (the
requests are valid: a refusal must be about rights, not a bad body); the logged-out token gets anything
but 401 outside ``public``; or an answer shows a marker (a unique string in a name, URL, reason, event
text...) of an object the principal may not read. Lists are also checked by id in both directions.
"""

from __future__ import annotations

import json
import re
import struct
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pyotp
import pytest
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from ronda.store.access_models import CameraGroup, CameraGroupMember, Organisation, Role, User
from ronda.store.analytics_models import AnalyticsObject
from ronda.store.db import Database
from ronda.store.models import Event
from ronda.store.plate_models import PlateRead
from tests.helpers import PW, catalog, iso, wait_for, write_private

API = "/api/v1"
EXPORT_READ = "org:view_audit | own & cam:export"
EXPORT_GET = "org:view_audit & cam:export | own & cam:export"
BOOKMARK_CHANGE = "own & cam:bookmark | org:manage_cameras"
ALARM_SEE = "anycam:any & session | anycam:alarms"  # an API key only with the alarms right
ALARM_HANDLE = "cam:alarms & session"
LOCK_DELETE = "own & cam:evidence_lock | org:manage_cameras"
EVENT_POST = "cam:alarms | org:send_events & cam:any"  # an operator's manual event, or a sender's
PLATE_READ = "cam:plates & owncam"
CASE = "cam:cases & scope"  # docs/cases.md: the cases right on its camera, and the case of one's organisation

# fmt: off
TABLE: dict[str, tuple[str, str]] = {
    # operation                                                   rule for a 2xx                objects
    "GET /api/v1/health":                                         ("public",                     ""),
    "GET /api/v1/storage":                                        ("site:manage_cameras",        ""),
    "GET /api/v1/nodes":                                          ("site:manage_cameras",        ""),
    "POST /api/v1/auth/login":                                    ("public",                     ""),
    "POST /api/v1/auth/refresh":                                  ("public",                     ""),
    "POST /api/v1/auth/logout":                                   ("auth",                       ""),  # fresh session
    "GET /api/v1/me":                                             ("auth",                       ""),
    "PATCH /api/v1/me":                                           ("auth",                       ""),  # display_name
    "POST /api/v1/ws-ticket":                                     ("auth",                       ""),
    "POST /api/v1/me/totp":                                       ("auth & session",             ""),  # begin only
    "POST /api/v1/me/totp/confirm":                               ("auth",                       ""),  # bad code: 422
    "GET /api/v1/me/api-keys":                                    ("auth",                       ""),
    "POST /api/v1/me/api-keys":                                   ("auth & session",             ""),
    "DELETE /api/v1/me/api-keys/{key_id}":                        ("own & session",              "key+"),
    "GET /api/v1/cameras":                                        ("auth",                       ""),
    "POST /api/v1/cameras":                                       ("org:manage_cameras",         ""),
    "GET /api/v1/onvif/discover":                                 ("org:manage_cameras",         ""),
    "GET /api/v1/cameras/{camera_id}":                            ("cam:any",                    "cam"),
    "PATCH /api/v1/cameras/{camera_id}":                          ("org:manage_cameras",         "cam"),
    "DELETE /api/v1/cameras/{camera_id}":                         ("org:manage_cameras",         "cam+"),
    "POST /api/v1/cameras/{camera_id}/test":                      ("org:manage_cameras",         "cam"),
    # the shared site's cameras are not added by ONVIF: 404 with the reason (tests/api/test_onvif_profiles.py)
    "GET /api/v1/cameras/{camera_id}/onvif/profiles":             ("org:manage_cameras",         "cam"),
    "PUT /api/v1/cameras/{camera_id}/onvif/profiles":             ("org:manage_cameras",         "cam"),
    "GET /api/v1/cameras/{camera_id}/recordings":                 ("cam:playback",               "rec"),
    "GET /api/v1/cameras/{camera_id}/timeline":                   ("cam:playback",               "rec"),
    "GET /api/v1/cameras/{camera_id}/snapshot":                   ("cam:live",                   "rec"),
    "GET /api/v1/cameras/{camera_id}/live":                       ("cam:live",                   "rec"),
    "POST /api/v1/cameras/{camera_id}/stream-token":              ("cam:live",                   "rec"),
    "GET /api/v1/users":                                          ("org:manage_users",           ""),
    "POST /api/v1/users":                                         ("org:manage_users",           "neworg"),
    "PATCH /api/v1/users/{user_id}":                              ("org:manage_users",           "user"),
    "GET /api/v1/roles":                                          ("org:manage_users",           ""),
    "GET /api/v1/organisations":                                  ("org:manage_users",           ""),
    "GET /api/v1/audit":                                          ("org:view_audit",             ""),
    "GET /api/v1/audit/verify":                                   ("site:view_audit",            ""),  # the whole chain
    "GET /metrics":                                               ("site:view_audit",            ""),  # or scrape token
    "GET /api/v1/exports":                                        ("auth",                       ""),
    "POST /api/v1/exports":                                       ("cam:export",                 "rec"),
    "GET /api/v1/exports/{job_id}":                               (EXPORT_READ,                  "export"),
    "DELETE /api/v1/exports/{job_id}":                            (EXPORT_READ,                  "export+"),
    "GET /api/v1/exports/{job_id}/download":                      (EXPORT_GET,                   "export"),
    "POST /api/v1/exports/{job_id}/link":                         (EXPORT_GET,                   "export"),
    "GET /api/v1/exports/{job_id}/file":                          (EXPORT_GET,                   "export"),  # own /link
    "GET /api/v1/evidence-locks":                                 ("auth",                       ""),
    "POST /api/v1/evidence-locks":                                ("cam:evidence_lock",          "cam"),
    "DELETE /api/v1/evidence-locks/{lock_id}":                    (LOCK_DELETE,                  "lock+"),
    "GET /api/v1/media/{camera_id}/snapshot.jpg":                 ("cam:live",                   "rec"),  # stream token
    "GET /api/v1/media/{camera_id}/segments/{segment_id}.mp4":    ("cam:playback",               "rec"),
    "GET /api/v1/media/{camera_id}/vod.m3u8":                     ("cam:playback",               "rec"),
    "GET /api/v1/media/{camera_id}/live.m3u8":                    ("cam:live",                   "rec"),
    "GET /api/v1/media/{camera_id}/live/{stream}/index.m3u8":     ("cam:live",                   "rec"),
    "GET /api/v1/media/{camera_id}/live/{stream}/init-{version}.mp4": ("cam:live",                "rec"),
    "GET /api/v1/media/{camera_id}/live/{stream}/{seq}.m4s":      ("cam:live",                   "rec"),
    "POST /api/v1/bookmarks":                                     ("cam:bookmark",               "cam"),
    "GET /api/v1/bookmarks":                                      ("auth",                       ""),
    "GET /api/v1/bookmarks/{bookmark_id}":                        ("cam:playback",               "bookmark"),
    "PATCH /api/v1/bookmarks/{bookmark_id}":                      (BOOKMARK_CHANGE,              "bookmark"),
    "DELETE /api/v1/bookmarks/{bookmark_id}":                     (BOOKMARK_CHANGE,              "bookmark+"),
    "GET /api/v1/timeline":                                       ("cam:playback",               "cam"),
    "GET /api/v1/site":                                           ("auth",                       ""),
    "GET /api/v1/events":                                         ("auth",                       ""),
    "POST /api/v1/events":                                        (EVENT_POST,                   "cam"),
    "GET /api/v1/events/stats":                                   ("site:manage_cameras",        ""),  # site-wide
    "DELETE /api/v1/events/{event_id}":                           ("org:manage_cameras",         "event+"),
    "POST /api/v1/events/{event_id}/redact":                      ("org:manage_cameras",         "event+"),
    "GET /api/v1/alarms":                                         ("auth",                       ""),
    "GET /api/v1/alarms/{alarm_id}":                              (ALARM_SEE,                    "alarm"),
    "POST /api/v1/alarms/{alarm_id}/{action}":                    (ALARM_HANDLE,                 "alarm"),  # comment
    # a notification's picture: the link signed for the principal's account, no credentials sent
    "GET /api/v1/alarms/{alarm_id}/image":                        ("cam:any",                    "alarm"),
    "GET /api/v1/rules":                                          ("org:manage_rules",           ""),
    "POST /api/v1/rules":                                         ("org:manage_rules",           "ruleset"),
    "GET /api/v1/rules/{rule_id}":                                ("org:manage_rules",           "rule"),
    "PUT /api/v1/rules/{rule_id}":                                ("org:manage_rules",           "rule"),
    "DELETE /api/v1/rules/{rule_id}":                             ("org:manage_rules",           "rule+"),
    "GET /api/v1/notifications/vapid-public-key":                 ("auth",                       ""),
    "POST /api/v1/notifications/push-subscriptions":              ("auth",                       ""),
    "DELETE /api/v1/notifications/push-subscriptions":            ("auth",                       ""),
    "GET /api/v1/notifications/prefs":                            ("auth",                       ""),
    "PUT /api/v1/notifications/prefs":                            ("auth",                       ""),  # its own back
    "GET /api/v1/map":                                            ("auth",                       ""),
    "GET /api/v1/map/plan":                                       ("auth",                       ""),
    "PUT /api/v1/map/plan":                                       ("site:manage_cameras",        ""),
    "DELETE /api/v1/map/plan":                                    ("site:manage_cameras",        ""),
    "PUT /api/v1/map/cameras/{camera_id}":                        ("org:manage_cameras",         "cam"),
    "DELETE /api/v1/map/cameras/{camera_id}":                     ("org:manage_cameras",         "cam"),
    # PTZ (docs/ptz.md): every camera of the shared site is a simulated dome (ptz.simulated_domes). A
    # command may meet another principal's session or reservation: 409 is then a right answer.
    "GET /api/v1/cameras/{camera_id}/ptz":                        ("cam:ptz",                    "cam"),
    "POST /api/v1/cameras/{camera_id}/ptz":                       ("cam:ptz",                    "cam"),
    "GET /api/v1/cameras/{camera_id}/ptz/presets":                ("cam:ptz",                    "cam"),
    "POST /api/v1/cameras/{camera_id}/ptz/presets":               ("cam:ptz",                    "cam"),
    "PATCH /api/v1/cameras/{camera_id}/ptz/presets/{token}":      ("cam:ptz",                    "cam"),
    "DELETE /api/v1/cameras/{camera_id}/ptz/presets/{token}":     ("cam:ptz",                    "cam"),
    "PUT /api/v1/cameras/{camera_id}/ptz/home":                   ("org:manage_cameras",         "cam"),
    "PUT /api/v1/cameras/{camera_id}/ptz/settings":               ("org:manage_cameras",         "cam"),
    "POST /api/v1/cameras/{camera_id}/ptz/reservation":           ("cam:ptz_priority",           "cam"),
    "DELETE /api/v1/cameras/{camera_id}/ptz/reservation":         ("cam:ptz_priority",           "cam"),  # its own
    "GET /api/v1/cameras/{camera_id}/ptz/patrols":                ("cam:ptz",                    "cam"),
    "POST /api/v1/cameras/{camera_id}/ptz/patrols":               ("org:manage_cameras",         "cam"),
    "PUT /api/v1/cameras/{camera_id}/ptz/patrols/{patrol_id}":    ("org:manage_cameras",         "cam"),
    "DELETE /api/v1/cameras/{camera_id}/ptz/patrols/{patrol_id}": ("org:manage_cameras",         "cam"),
    "POST /api/v1/cameras/{camera_id}/ptz/patrols/{patrol_id}/start": ("cam:ptz",                "cam"),
    "POST /api/v1/cameras/{camera_id}/ptz/patrol/stop":           ("cam:ptz",                    "cam"),  # its own
    # Analytics (docs/analytics.md): settings like the camera itself; searches and the strip like playback
    "GET /api/v1/cameras/{camera_id}/analytics":                  ("cam:any",                    "cam"),
    "PUT /api/v1/cameras/{camera_id}/analytics":                  ("org:manage_cameras",         "cam"),
    "GET /api/v1/cameras/{camera_id}/analytics/status":           ("org:manage_cameras",         "cam"),
    "GET /api/v1/cameras/{camera_id}/motion":                     ("cam:playback",               "cam"),
    "GET /api/v1/search/motion":                                  ("cam:playback",               "cam"),
    "GET /api/v1/search/objects":                                 ("cam:playback",               "cam"),
    "GET /api/v1/analytics/objects/{object_id}/snapshot.jpg":     ("cam:playback",               "aobj"),
    # Licence plates: reads of the caller's organisation's cameras only (a shared camera shows its video,
    # not its plates); lists scoped like rules (a site list is the site's)
    "GET /api/v1/plates":                                         (PLATE_READ,                   "cam"),
    "GET /api/v1/plates/{read_id}":                               (PLATE_READ,                   "pread"),
    "GET /api/v1/plates/{read_id}/crop.jpg":                      (PLATE_READ,                   "pread"),
    "GET /api/v1/plate-lists":                                    ("org:manage_rules",           ""),
    "POST /api/v1/plate-lists":                                   ("org:manage_rules",           ""),
    "GET /api/v1/plate-lists/{list_id}":                          ("org:manage_rules",           "plist"),
    "PATCH /api/v1/plate-lists/{list_id}":                        ("org:manage_rules",           "plist"),
    "DELETE /api/v1/plate-lists/{list_id}":                       ("org:manage_rules",           "plist+"),
    "GET /api/v1/plate-lists/{list_id}/entries":                  ("org:manage_rules",           "plist"),
    "POST /api/v1/plate-lists/{list_id}/entries":                 ("org:manage_rules",           "plist"),
    "DELETE /api/v1/plate-lists/{list_id}/entries/{entry_id}":    ("org:manage_rules",           "pentry+"),
    "POST /api/v1/plate-lists/{list_id}/import":                  ("org:manage_rules",           "plist"),
    "GET /api/v1/plate-lists/{list_id}/export.csv":               ("org:manage_rules",           "plist"),
    # Cases (docs/cases.md): the list is asked per camera (a filter needs the right on that camera)
    "GET /api/v1/cases":                                          ("cam:cases",                  "rec"),
    "POST /api/v1/cases":                                         ("cam:cases",                  "caseev"),
    "GET /api/v1/cases/{case_id}":                                (CASE,                         "case"),
    "PATCH /api/v1/cases/{case_id}":                              (CASE,                         "case"),
    "POST /api/v1/cases/{case_id}/status":                        (CASE,                         "case"),
    "POST /api/v1/cases/{case_id}/notes":                         (CASE,                         "case"),
    "POST /api/v1/cases/{case_id}/evidence":                      (CASE + " & cam:export",       "case"),
    "GET /api/v1/cases/{case_id}/report.html":                    (CASE,                         "case"),
    "GET /api/v1/cases/{case_id}/report.pdf":                     (CASE,                         "case"),
    # a case's signed package: any worker of the case (not only the export's owner); the file with the link
    "POST /api/v1/cases/{case_id}/evidence/{evidence_id}/link":   (CASE,                         "cevid"),
    "GET /api/v1/cases/{case_id}/evidence/{evidence_id}/file":    (CASE,                         "cevid"),  # own /link
    "GET /api/v1/events/{event_id}/snapshot.jpg":                 ("cam:playback",               "aevt"),
    # federation (docs/cluster.md): registering either end opens cameras to another party; the matrix's site
    # has no remote site ("fed": an id that does not exist), and no principal holds a peer site's signature
    "GET /api/v1/federation/key":                                 ("site:manage_users",          ""),
    "GET /api/v1/federation/peers":                               ("site:manage_users",          ""),
    "POST /api/v1/federation/peers":                              ("site:manage_users",          ""),
    "DELETE /api/v1/federation/peers/{peer_id}":                  ("site:manage_users",          "fed"),
    "GET /api/v1/federation/sites":                               ("site:manage_users",          ""),
    "POST /api/v1/federation/sites":                              ("site:manage_users",          ""),
    "DELETE /api/v1/federation/sites/{site_id}":                  ("site:manage_users",          "fed"),
    "GET /api/v1/federation/cameras":                             ("auth",                       ""),
    "GET /api/v1/federation/sites/{site_id}/cameras/{camera_id}/snapshot": ("cam:live",          "fed"),
    "GET /api/v1/federation/sites/{site_id}/cameras/{camera_id}/recordings": ("cam:playback",    "fed"),
    "GET /api/v1/federation/sites/{site_id}/cameras/{camera_id}/segments/{segment_id}.mp4": ("cam:playback", "fed"),
    "GET /api/v1/federation/sites/{site_id}/alarms":              ("cam:alarms",                 "fed"),
    "POST /api/v1/federation/sites/{site_id}/alarms/{alarm_id}/{action}": ("cam:alarms",        "fed"),
    "GET /api/v1/federation/sites/{site_id}/cameras/{camera_id}/live/{stream}/index.m3u8": ("cam:live", "fed"),
    "GET /api/v1/federation/sites/{site_id}/cameras/{camera_id}/live/{stream}/init-{version}.mp4": ("cam:live", "fed"),
    "GET /api/v1/federation/sites/{site_id}/cameras/{camera_id}/live/{stream}/{seq}.m4s": ("cam:live", "fed"),
    "GET /api/v1/federation/peer/cameras/{camera_id}/live/{stream}/index.m3u8": ("peer",         "rec"),
    "GET /api/v1/federation/peer/cameras/{camera_id}/live/{stream}/init-{version}.mp4": ("peer", "rec"),
    "GET /api/v1/federation/peer/cameras/{camera_id}/live/{stream}/{seq}.m4s": ("peer",          "rec"),
    "POST /api/v1/federation/sites/{site_id}/exports":            ("cam:export",                 "fed"),
    "GET /api/v1/federation/sites/{site_id}/exports/{job_id}":    ("cam:export",                 "fed"),
    "GET /api/v1/federation/sites/{site_id}/exports/{job_id}/download": ("cam:export",           "fed"),
    "POST /api/v1/federation/peer/exports":                       ("peer",                       ""),
    "GET /api/v1/federation/peer/exports/{job_id}":               ("peer",                       ""),
    "GET /api/v1/federation/peer/exports/{job_id}/download":      ("peer",                       ""),
    "GET /api/v1/federation/peer/cameras":                        ("peer",                       ""),
    "GET /api/v1/federation/peer/cameras/{camera_id}/snapshot":   ("peer",                       "rec"),
    "GET /api/v1/federation/peer/cameras/{camera_id}/recordings": ("peer",                       "rec"),
    "GET /api/v1/federation/peer/cameras/{camera_id}/segments/{segment_id}.mp4": ("peer",        "rec"),
    "GET /api/v1/federation/peer/alarms":                         ("peer",                       ""),
    "POST /api/v1/federation/peer/alarms/{alarm_id}/{action}":    ("peer",                       ""),
    "GET /api/v1/federation/peer/alarms/stream":                  ("peer",                       ""),
    # WebSockets are not in the OpenAPI document: "2xx" = kept open with the principal's ticket / token
    "WS /api/v1/ws":                                              ("auth",                       ""),
    "WS /api/v1/media/{camera_id}/live.ws":                       ("cam:live",                   "rec"),
}
# fmt: on

# Who may read an object of each kind (for markers and lists).
READ: Mapping[str, str] = {
    "cam": "cam:any",
    "rec": "cam:any",
    "user": "org:manage_users",
    "role": "org:manage_users",
    "org": "org:manage_users",
    "bookmark": "cam:playback",
    "lock": "cam:any",
    "export": EXPORT_READ,
    "rule": "org:manage_rules",
    "alarm": ALARM_SEE,
    "event": "cam:any",
    "pread": PLATE_READ,
    "plist": "org:manage_rules",
    "pentry": "org:manage_rules",
    "case": CASE,
    "cevid": CASE,
}

OPERATOR = frozenset({"live", "playback", "export", "ptz", "bookmark", "evidence_lock", "alarms", "cases", "plates"})
ALL_CAMERA = OPERATOR | {"ptz_priority"}
GLOBAL = frozenset({"manage_cameras", "manage_users", "manage_rules", "view_audit", "send_events", "administrator"})
VIEW = frozenset({"live", "playback"})


@dataclass(frozen=True)
class Who:
    name: str
    user: str  # the account behind it
    org: str | None  # "A", "B"; None: the site scope
    rights: frozenset[str]  # global rights (and "administrator")
    cams: Mapping[str, frozenset[str]]  # camera tag -> camera rights
    key: bool = False
    out: bool = False  # the logged-out token


# fmt: off
WHO: dict[str, Who] = {w.name: w for w in (
    Who("admin", "admin", None, GLOBAL, {"a": ALL_CAMERA, "s": ALL_CAMERA, "b": ALL_CAMERA}),
    Who("muni_admin", "muni_admin", "B", GLOBAL, {"s": ALL_CAMERA, "b": ALL_CAMERA}),
    Who("operator", "operator", "A", frozenset(), {"a": OPERATOR, "s": OPERATOR}),
    Who("viewer_a", "viewer_a", "A", frozenset(), {"a": VIEW}),
    Who("viewer_b", "viewer_b", "B", frozenset(), {"s": VIEW}),
    Who("apikey", "operator", "A", frozenset(), {"a": frozenset({"live"}), "s": frozenset({"live"})}, key=True),
    Who("logged_out", "admin", None, frozenset(), {}, out=True),
)}
# fmt: on
SESSIONS = ("admin", "muni_admin", "operator", "viewer_a", "viewer_b")


@dataclass
class Obj:
    kind: str
    tag: str
    id: Any
    org: str | None = None  # "A", "B", None (the site) or "*" (the caller's own organisation)
    cam: str | None = None  # tag of the (primary) camera
    cams: tuple[str, ...] = ()
    author: str | None = None
    markers: tuple[tuple[str, str], ...] = ()  # (unique text, rule to be allowed to see it)
    extra: dict[str, Any] = field(default_factory=dict)


def allowed(rule: str, who: Who, obj: Obj | None) -> bool:
    if rule == "public":
        return True
    if who.out or (obj is not None and obj.tag == "x"):
        return False
    return any(all(_term(t.strip(), who, obj) for t in alt.split("&")) for alt in rule.split("|"))


def _has(who: Who, cam: str | None, right: str) -> bool:
    rights = who.cams.get(cam or "", frozenset())
    return bool(rights) and (right == "any" or right in rights)


def _term(term: str, who: Who, obj: Obj | None) -> bool:
    kind, _, arg = term.partition(":")
    if kind == "auth":
        return True
    if kind == "session":
        return not who.key
    if kind == "own":
        return obj is not None and obj.author == who.user
    if kind == "site":
        return who.org is None and arg in who.rights
    if kind == "org":
        if arg not in who.rights:
            return False
        return obj is None or who.org is None or obj.org in (who.org, "*")
    if kind == "cam":
        return obj is not None and _has(who, obj.cam, arg)
    if kind == "owncam":  # the object's camera is the principal's organisation's (the site: every camera)
        return obj is not None and (who.org is None or obj.org == who.org)
    if kind == "anycam":
        return obj is not None and any(_has(who, c, arg) for c in obj.cams)
    if kind == "scope":
        return obj is not None and (who.org is None or obj.org == who.org)
    if kind == "peer":  # a peer site's signed request (docs/cluster.md): no user's credentials are one
        return False
    raise ValueError(f"unknown rule term {term!r}")


def test_rules_evaluate_as_documented() -> None:
    """The rule language itself (so that a typo in the table cannot silently allow or deny)."""
    cam_s = Obj("cam", "s", 1, org="A", cam="s", cams=("s",))
    cam_b = Obj("cam", "b", 2, org="B", cam="b", cams=("b",))
    assert allowed("org:manage_cameras", WHO["muni_admin"], cam_b)
    assert not allowed("org:manage_cameras", WHO["muni_admin"], cam_s)  # shared is not owned
    assert allowed("org:manage_cameras", WHO["admin"], cam_s)
    assert allowed("cam:live", WHO["viewer_b"], cam_s) and not allowed("cam:live", WHO["viewer_a"], cam_s)
    assert not allowed("cam:playback", WHO["apikey"], cam_s) and allowed("cam:live", WHO["apikey"], cam_s)
    assert not allowed("auth", WHO["logged_out"], None) and allowed("public", WHO["logged_out"], None)
    assert not allowed("site:manage_cameras", WHO["muni_admin"], None)
    assert allowed("own & cam:x | org:manage_users", WHO["muni_admin"], Obj("user", "b", 3, org="B"))
    assert not allowed("cam:any", WHO["admin"], Obj("cam", "x", 9))
    town_case, police_case = Obj("case", "sb", 1, org="B", cam="s"), Obj("case", "s", 2, org="A", cam="s")
    assert allowed(CASE, WHO["muni_admin"], town_case) and not allowed(CASE, WHO["muni_admin"], police_case)
    assert allowed(CASE, WHO["admin"], town_case) and not allowed(CASE, WHO["viewer_b"], town_case)
    with pytest.raises(ValueError):
        allowed("camera:live", WHO["admin"], cam_s)


# --- requests -------------------------------------------------------------------------------------------
NOBODY = object()


@dataclass
class Req:
    path: str
    params: dict[str, Any] | None = None
    json: Any = NOBODY
    content: bytes | None = None
    headers: dict[str, str] | None = None  # None: the principal's own credentials
    ok: tuple[int, ...] = ()  # the allowed answers when not 2xx
    after: Callable[[httpx.Response], list[str]] | None = None  # more checks on a 2xx


def png(width: int = 4, height: int = 4) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\0" + b"\x80\x80\x80" * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def hexid() -> str:
    return uuid.uuid4().hex[:12]


def now_ms() -> int:
    return int(time.time() * 1000)


class World:
    """The site seen by the matrix: principals' credentials, objects of both organisations, and helpers."""

    def __init__(self, site: Any) -> None:
        self.site = site
        self.http = httpx.Client(base_url=site.ronda.base, timeout=60)
        self.heads: dict[str, dict[str, str]] = {}
        self.objs: dict[str, dict[str, Obj]] = {}
        self.cleanup: list[tuple[str, str]] = []  # (method, path) as admin at the end
        self.orgs: dict[str, int] = {}
        self.groups: dict[str, int] = {}
        self._cache: dict[Any, tuple[float, Any]] = {}
        self.pool: dict[tuple[str, str, str], Obj] = {}
        self.refresh_token = ""
        self.login_user = ""
        self.login_pw = ""
        self._db: Database | None = None

    # -- plumbing --------------------------------------------------------------------------------------
    def db(self) -> Database:
        """The site's database (read, and written only for what the API has no route for: camera groups)."""
        if self._db is None:
            self._db = Database(f"sqlite:///{self.site.data_dir / 'ronda.db'}")
        return self._db

    def close(self) -> None:
        self.http.close()
        if self._db is not None:
            self._db.dispose()

    def call(self, method: str, path: str, headers: Mapping[str, str] | None = None, **kw: Any) -> httpx.Response:
        return self.http.request(method, path, headers=dict(headers or {}), **kw)

    def as_(self, name: str, method: str, path: str, headers: Mapping[str, str] | None = None,
            **kw: Any) -> httpx.Response:  # fmt: skip
        return self.call(method, API + path, {**self.heads[name], **(headers or {})}, **kw)

    def ok(self, name: str, method: str, path: str, **kw: Any) -> Any:
        r = self.as_(name, method, path, **kw)
        assert r.status_code < 300, f"{name} {method} {path}: {r.status_code} {r.text[:300]}"
        return r.json() if r.content else None

    def login(self, user: str, password: str = PW) -> dict[str, Any]:
        r = self.call("POST", API + "/auth/login", json={"username": user, "password": password})
        assert r.status_code == 200, r.text
        return dict(r.json())

    def bearer(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def cached(self, key: Any, ttl: float, make: Callable[[], Any]) -> Any:
        hit = self._cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < ttl:
            return hit[1]
        value = make()
        self._cache[key] = (time.monotonic(), value)
        return value

    # -- objects ---------------------------------------------------------------------------------------
    def new_camera(self, tag: str, *, url: str | None = None, enabled: bool = False) -> Obj:
        if tag == "x":
            return Obj("cam", "x", 2**31 - 2)
        mark, secret = f"mxcam{hexid()}", f"mxurl{hexid()}"
        body = {"name": mark, "url": url or f"rtsp://127.0.0.1:1/{secret}", "username": secret, "enabled": enabled}
        cam = self.ok("admin", "POST", "/cameras", json=body)
        self.cleanup.append(("DELETE", f"/cameras/{cam['id']}"))
        with self.db().session() as s:
            s.add(CameraGroupMember(group_id=self.groups[tag], camera_id=cam["id"]))
        markers = [(mark, "cam:any")] + ([(secret, "org:manage_cameras")] if url is None else [])
        org = "B" if tag == "b" else "A"
        return Obj("cam", tag, cam["id"], org=org, cam=tag, cams=(tag,), markers=tuple(markers), extra={"name": mark})

    def new_key(self, who: Who, tag: str) -> Obj:
        if tag == "x":
            return Obj("key", "x", 2**31 - 2)
        owner = who.user if tag == "own" else ("viewer_a" if who.user == "viewer_b" else "viewer_b")
        key = self.ok(owner, "POST", "/me/api-keys", json={"name": "matrix", "rights": ["live"]})
        return Obj("key", tag, key["id"], author=owner, extra={"key": key["key"]})

    def new_lock(self, tag: str) -> Obj:
        if tag == "x":
            return Obj("lock", "x", 2**31 - 2)
        cam = self.objs["cam"][tag]
        author = "muni_admin" if tag == "b" else "operator"
        reason = f"mxlock{hexid()}"
        t = now_ms()
        body = {"camera": cam.id, "start": iso(t - 120_000), "end": iso(t - 60_000), "reason": reason,
                "until": iso(t + 3_600_000)}  # fmt: skip
        lock = self.ok(author, "POST", "/evidence-locks", json=body)
        return Obj("lock", tag, lock["id"], org=cam.org, cam=tag, cams=(tag,), author=author,
                   markers=((reason, READ["lock"]),))  # fmt: skip

    def new_bookmark(self, tag: str) -> Obj:
        if tag == "x":
            return Obj("bookmark", "x", 2**31 - 2)
        cam = self.objs["cam"][tag]
        author = "muni_admin" if tag == "b" else "operator"
        title = f"mxbook{hexid()}"
        t = now_ms()
        body = {"camera": cam.id, "start": iso(t - 60_000), "end": iso(t - 30_000), "title": title}
        b = self.ok(author, "POST", "/bookmarks", json=body)
        return Obj("bookmark", tag, b["id"], org=cam.org, cam=tag, cams=(tag,), author=author,
                   markers=((title, READ["bookmark"]),))  # fmt: skip

    def segment(self, tag: str) -> Any:
        segs, _ = catalog(self.site.data_dir, self.objs["rec"][tag].id)
        assert segs, f"no recording of rec camera {tag}"
        return segs[-1]

    def new_export(self, tag: str) -> Obj:
        if tag == "x":
            return Obj("export", "x", "doesnotexist0000")
        cam = self.objs["rec"][tag]
        author = "muni_admin" if tag == "b" else "operator"
        seg = self.segment(tag)
        reason = f"mxexp{hexid()}"
        body = {"cameras": [cam.id], "start": iso(seg.start_ms), "end": iso(seg.end_ms), "reason": reason}
        job = self.ok(author, "POST", "/exports", json=body)
        self.cleanup.append(("DELETE", f"/exports/{job['id']}"))
        return Obj("export", tag, job["id"], org=WHO[author].org, cam=tag, cams=(tag,), author=author,
                   markers=((reason, READ["export"]),))  # fmt: skip

    def rule_body(self, tag: str, name: str) -> dict[str, Any]:
        trigger: dict[str, Any] = {"types": ["matrix.never"]}
        if tag in ("a", "s", "b"):
            trigger["cameras"] = [self.objs["cam"][tag].id]
        elif tag == "x":
            trigger["cameras"] = [2**31 - 2]
        return {"name": name, "enabled": False, "trigger": trigger,
                "actions": [{"type": "raise_alarm", "title": "matrix"}]}  # fmt: skip

    def new_rule(self, tag: str) -> Obj:
        if tag == "x":
            return Obj("rule", "x", 2**31 - 2)
        name = f"mxrule{hexid()}"
        body = self.rule_body(tag, name)
        rule = self.ok("admin", "POST", "/rules", json=body)
        self.cleanup.append(("DELETE", f"/rules/{rule['id']}"))
        org = {"a": "A", "s": "A", "b": "B"}.get(tag)
        return Obj("rule", tag, rule["id"], org=org, markers=((name, READ["rule"]),), extra={"body": body})

    def new_event(self, tag: str) -> Obj:
        """An event to delete or redact: on camera ``tag`` (``m``: an A camera relating to a shared one)."""
        if tag == "x":
            return Obj("event", "x", 2**31 - 2)
        primary, related = ("a", ("s",)) if tag == "m" else (tag, ())
        cam = self.objs["cam"]
        text = f"mxevent{hexid()}"
        ev = {"type": "matrix.removable", "camera": cam[primary].id, "text": text,
              "cameras": [cam[c].id for c in related]}  # fmt: skip
        eid = self.ok("admin", "POST", "/events", json=ev)["ids"][0]
        return Obj("event", tag, eid, org=cam[primary].org, cam=primary, cams=(primary, *related),
                   markers=((text, READ["event"]),))  # fmt: skip

    def new_object(self, tag: str) -> Obj:
        """A tracked object of camera ``tag`` with a snapshot (written straight into the site's catalog and
        data directory: objects come from the analytics workers, not from the API)."""
        if tag == "x":
            return Obj("aobj", "x", 2**31 - 2)
        cam = self.objs["cam"][tag]
        rel = f"analytics/matrix/{hexid()}.jpg"  # relative to the data directory, as the service stores it
        write_private(self.site.data_dir / rel, b"\xff\xd8\xff\xd9")
        t = now_ms()
        with self.db().session() as s:
            row = AnalyticsObject(camera_id=cam.id, track=1, cls="person", score=0.9, first_ms=t - 60_000,
                                  last_ms=t - 50_000, box=[0.1, 0.1, 0.2, 0.3], zones=[], snapshot=rel)  # fmt: skip
            s.add(row)
            s.flush()
            oid = row.id
        return Obj("aobj", tag, oid, org=cam.org, cam=tag, cams=(tag,))

    def new_plate_read(self, tag: str) -> Obj:
        """A plate read of camera ``tag`` with its crop (straight into the catalog: reads come from the
        analytics service, not from the API)."""
        if tag == "x":
            return Obj("pread", "x", 2**31 - 2)
        cam = self.objs["cam"][tag]
        plate = f"MX{uuid.uuid4().int % 10**8:08d}"
        rel = f"analytics/matrix/{hexid()}.jpg"
        write_private(self.site.data_dir / rel, b"\xff\xd8\xff\xd9")
        with self.db().session() as s:
            row = PlateRead(camera_id=cam.id, time_ms=now_ms() - 60_000, plate=plate, plate_key=plate,
                            confidence=0.9, crop=rel)  # fmt: skip
            s.add(row)
            s.flush()
            rid = row.id
        return Obj("pread", tag, rid, org=cam.org, cam=tag, cams=(tag,), markers=((plate, READ["pread"]),))

    def new_plate_list(self, tag: str) -> Obj:
        """A hotlist of organisation A (``a``), B (``b``) or the site (``site``)."""
        if tag == "x":
            return Obj("plist", "x", 2**31 - 1)
        org = {"a": "A", "b": "B"}.get(tag)
        name = f"mxplist{hexid()}"
        body = {"name": name, "kind": "hotlist", "organisation": self.orgs[org] if org else None}
        lst = self.ok("admin", "POST", "/plate-lists", json=body)
        self.cleanup.append(("DELETE", f"/plate-lists/{lst['id']}"))
        return Obj("plist", tag, lst["id"], org=org, markers=((name, READ["plist"]),))

    def new_plate_entry(self, tag: str) -> Obj:
        lst = self.objs["plist"][tag if tag != "x" else "a"]
        if tag == "x":
            return Obj("pentry", "x", 2**63 - 2, extra={"list": lst.id})
        plate = f"MX{uuid.uuid4().int % 10**8:08d}"
        entry = self.ok("admin", "POST", f"/plate-lists/{lst.id}/entries", json={"entries": [{"plate": plate}]})[0]
        return Obj("pentry", tag, entry["id"], org=lst.org, extra={"list": lst.id})

    def case_event(self, tag: str) -> Obj:
        """An event on recording camera ``tag`` to open a case from (posted by the site administrator)."""
        if tag == "x":
            return Obj("caseev", "x", 2**62)
        eid = self.ok("admin", "POST", "/events", json={"type": "dumping.detected", "camera": self.objs["rec"][tag].id})
        return Obj("caseev", tag, eid["ids"][0], cam=tag, cams=(tag,))

    def new_case(self, tag: str) -> Obj:
        """A case on recording camera ``tag`` (``sb``: the Municipio's, on the camera A shares with it)."""
        if tag == "x":
            return Obj("case", "x", 2**31 - 2)
        cam, author = {"a": ("a", "operator"), "s": ("s", "operator"), "b": ("b", "muni_admin"),
                       "sb": ("s", "muni_admin")}[tag]  # fmt: skip
        title = f"mxcase{hexid()}"
        case = self.ok(author, "POST", "/cases", json={"events": [self.case_event(cam).id], "title": title})
        return Obj("case", tag, case["id"], org=WHO[author].org, cam=cam, cams=(cam,), author=author,
                   markers=((title, READ["case"]),))  # fmt: skip

    def new_case_evidence(self, tag: str) -> Obj:
        """A case on recording camera ``tag`` (as ``new_case``) with a signed evidence package, attached by
        the case's author (who holds export there); ``extra["evidence"]`` is the package's id in the case."""
        if tag == "x":
            return Obj("cevid", "x", 2**31 - 2, extra={"evidence": 2**31 - 2})
        case = self.new_case(tag)
        ev = self.ok(case.author or "admin", "POST", f"/cases/{case.id}/evidence", json={})
        self.cleanup.append(("DELETE", f"/exports/{ev['export_id']}"))
        return replace(case, kind="cevid", extra={"evidence": ev["id"]})

    def case_token(self, who: Who, evidence: Obj) -> str:
        """The principal's own download link token for the case's package; failing that its link of another
        case's package (which must not open this one); failing that nothing valid."""
        if who.out:
            return self.revoked()[("cevid", evidence.tag if evidence.tag != "x" else "a")]
        for e in [evidence] + [o for o in self.objs["cevid"].values() if o is not evidence]:
            if e.tag == "x":
                continue
            r = self.call("POST", f"{API}/cases/{e.id}/evidence/{e.extra['evidence']}/link", self.heads[who.name])
            if r.status_code == 200:
                return str(r.json()["url"].split("token=", 1)[1])
        return "not-a-token-" + "x" * 30

    def new_analytics_event(self, tag: str) -> Obj:
        """An analytics event of camera ``tag`` with a snapshot and a "before" image (written straight into
        the site's catalog and data directory, as the analytics service stores them)."""
        if tag == "x":
            return Obj("aevt", "x", 2**31 - 2)
        cam = self.objs["cam"][tag]
        rel = f"analytics/snapshots/matrix/{hexid()}.jpg"
        for name in (rel, rel.removesuffix(".jpg") + ".before.jpg"):
            write_private(self.site.data_dir / name, b"\xff\xd8\xff\xd9")
        with self.db().session() as s:
            row = Event(time_ms=now_ms() - 60_000, type="graffiti.detected", source="analytics", severity="warning",
                        camera_id=cam.id, payload={"zone": "wall", "images": ["before"]}, snapshot=rel)  # fmt: skip
            s.add(row)
            s.flush()
            eid = row.id
        return Obj("aevt", tag, eid, org=cam.org, cam=tag, cams=(tag,))

    def fresh(self, kind: str, tag: str, who: Who) -> Obj:
        if kind == "cam":
            return self.new_camera(tag)
        if kind == "key":
            return self.new_key(who, tag)
        if kind == "lock":
            return self.new_lock(tag)
        if kind == "bookmark":
            return self.new_bookmark(tag)
        if kind == "export":
            return self.new_export(tag)
        if kind == "rule":
            return self.new_rule(tag)
        if kind == "event":
            return self.new_event(tag)
        if kind == "plist":
            return self.new_plate_list(tag)
        if kind == "pentry":
            return self.new_plate_entry(tag)
        raise ValueError(kind)

    def variants(self, objects: str, who: Who) -> Iterator[Obj | None]:
        """The objects an operation is tried on. Destructive ones (``+``) come from a pool: an object stays
        there, refused, for the next principal, and is replaced once a request succeeded on it."""
        if not objects:
            yield None
        elif objects.endswith("+"):
            kind = objects[:-1]
            for tag in self.objs[kind]:
                key = (kind, tag, who.user if kind == "key" else "")
                if key not in self.pool:
                    self.pool[key] = self.fresh(kind, tag, who)
                yield self.pool[key]
        else:
            yield from self.objs[objects].values()

    def used(self, obj: Obj | None, status: int) -> None:
        if status < 400 or status >= 500:  # consumed (or in an unknown state)
            for key, o in list(self.pool.items()):
                if o is obj:
                    del self.pool[key]

    def markers(self) -> Iterator[tuple[str, str, Obj]]:
        for objs in self.objs.values():
            for o in objs.values():
                for text, rule in o.markers:
                    yield text, rule, o

    # -- credentials -----------------------------------------------------------------------------------
    def fresh_headers(self, who: Who) -> dict[str, str]:
        """New credentials of the principal (for logging out), the same token for the logged-out one."""
        if who.out:
            return self.heads[who.name]
        if who.key:
            return self.bearer(self.new_key(WHO["operator"], "own").extra["key"])
        return self.bearer(self.login(who.user)["access_token"])

    def revoked(self) -> dict[Any, str]:
        """Stream tokens and export links minted by an admin session that then logged out (tokens last 60 s)."""

        def make() -> dict[Any, str]:
            h = self.bearer(self.login("admin")["access_token"])
            out: dict[Any, str] = {}
            for tag, cam in self.objs["rec"].items():
                if tag == "x":
                    continue
                for right in ("live", "playback"):
                    r = self.call("POST", f"{API}/cameras/{cam.id}/stream-token", h, json={"right": right})
                    out[("tok", tag, right)] = r.json()["token"]
            for tag, e in self.objs["export"].items():
                if tag != "x":
                    link = self.call("POST", f"{API}/exports/{e.id}/link", h).json()["url"]
                    out[("export", tag)] = link.split("token=", 1)[1]
            for tag, e in self.objs["cevid"].items():
                if tag != "x":
                    path = f"{API}/cases/{e.id}/evidence/{e.extra['evidence']}/link"
                    out[("cevid", tag)] = self.call("POST", path, h).json()["url"].split("token=", 1)[1]
            assert self.call("POST", f"{API}/auth/logout", h).status_code == 204
            return out

        return dict(self.cached("revoked", 40, make))

    def revoked_ticket(self) -> str:
        """A WebSocket ticket (single use, 30 s) of an admin session that then logged out."""
        h = self.bearer(self.login("admin")["access_token"])
        ticket = str(self.call("POST", f"{API}/ws-ticket", h).json()["ticket"])
        assert self.call("POST", f"{API}/auth/logout", h).status_code == 204
        return ticket

    def stream_token(self, who: Who, cam: Obj, right: str) -> str:
        """The principal's own token for this camera and right; failing that its token for another camera
        or the other right (which must not open this one); failing that nothing valid."""
        if who.out:
            return self.revoked()[("tok", cam.tag if cam.tag != "x" else "a", right)]

        def make() -> str:
            tags = [cam.tag] + [t for t in self.objs["rec"] if t not in (cam.tag, "x")]
            for tag in tags:
                if tag == "x":
                    continue
                for r in (right, "playback" if right == "live" else "live"):
                    cid = self.objs["rec"][tag].id
                    resp = self.call("POST", f"{API}/cameras/{cid}/stream-token", self.heads[who.name],
                                     json={"right": r})  # fmt: skip
                    if resp.status_code == 200:
                        return str(resp.json()["token"])
            return "not-a-token-" + "x" * 30

        return str(self.cached(("tok", who.name, cam.tag, right), 30, make))

    def export_token(self, who: Who, export: Obj) -> str:
        if who.out:
            return self.revoked()[("export", export.tag if export.tag != "x" else "a")]
        for e in [export] + [o for o in self.objs["export"].values() if o is not export]:
            if e.tag == "x":
                continue
            r = self.call("POST", f"{API}/exports/{e.id}/link", self.heads[who.name])
            if r.status_code == 200:
                return str(r.json()["url"].split("token=", 1)[1])
        return "not-a-token-" + "x" * 30

    def live_window(self, tag: str) -> tuple[int, int]:
        """(init version, a media sequence number) of the rec camera's live playlist now."""

        def make() -> tuple[int, int]:
            cam = self.objs["rec"][tag]
            tok = self.stream_token(WHO["admin"], cam, "live")
            r = self.call("GET", f"{API}/media/{cam.id}/live/main/index.m3u8", params={"token": tok})
            assert r.status_code == 200, r.text
            inits = re.findall(r"init-(\d+)\.mp4", r.text)
            seqs = re.findall(r"(\d+)\.m4s", r.text)
            return int(inits[-1]), int(seqs[-1])

        if tag == "x":
            return 1, 0
        return tuple(self.cached(("live", tag), 3, make))  # type: ignore[return-value]

    def ensure_plan(self) -> None:
        if self.as_("admin", "GET", "/map/plan").status_code == 404:
            self.ok("admin", "PUT", "/map/plan", content=png(), headers={"Content-Type": "image/png"})


# --- how each operation is called ------------------------------------------------------------------------
def fill(path: str, obj: Obj | None) -> str:
    return re.sub(r"\{[a-z_]+\}", str(obj.id) if obj is not None else "", path, count=1)


def recent() -> dict[str, str]:
    t = now_ms()
    return {"start": iso(t - 600_000), "end": iso(t)}


def _camera_visible_after(w: World, who: Who) -> Callable[[httpx.Response], list[str]]:
    def check(r: httpx.Response) -> list[str]:
        cid = r.json()["id"]
        w.cleanup.append(("DELETE", f"/cameras/{cid}"))
        got = w.call("GET", f"{API}/cameras/{cid}", w.heads[who.name]).status_code
        return [] if got == 200 else [f"created camera {cid} but cannot see it afterwards ({got})"]

    return check


def _user_org_after(w: World, who: Who, obj: Obj) -> Callable[[httpx.Response], list[str]]:
    def check(r: httpx.Response) -> list[str]:
        want = w.orgs.get(obj.extra["org"]) if obj.extra["org"] else (w.orgs.get(who.org) if who.org else None)
        got = r.json().get("organisation_id")
        return [] if got == want else [f"user created in organisation {got}, expected {want}"]

    return check


def _export_cleanup(w: World) -> Callable[[httpx.Response], list[str]]:
    def check(r: httpx.Response) -> list[str]:
        w.cleanup.append(("DELETE", f"/exports/{r.json()['id']}"))
        return []

    return check


def _push_cleanup(w: World, who: Who, endpoint: str) -> Callable[[httpx.Response], list[str]]:
    def check(r: httpx.Response) -> list[str]:
        w.call("DELETE", f"{API}/notifications/push-subscriptions", w.heads[who.name], json={"endpoint": endpoint})
        return []

    return check


def _totp_code(w: World, who: Who) -> str:
    """A six-digit code that is certainly wrong for the principal's pending secret (never enables TOTP)."""
    bad = {"000000"}
    if not who.out:
        r = w.call("POST", f"{API}/me/totp", w.heads[who.name], json={"password": PW})
        if r.status_code == 200:
            totp = pyotp.TOTP(r.json()["secret"])
            bad |= {totp.at(time.time() + 30 * k) for k in range(-3, 4)}
    return next(f"{n:06d}" for n in range(100000, 999999, 7919) if f"{n:06d}" not in bad)


def _display_name(w: World, who: Who) -> str | None:
    with w.db().session() as s:
        return s.scalar(select(User.display_name).where(User.username == who.user))


def _prefs(w: World, who: Who) -> dict[str, Any]:
    r = w.call("GET", f"{API}/notifications/prefs", w.heads[who.name])
    if r.status_code == 200:
        return dict(r.json())
    return {"channels": ["webpush", "email"], "email": None, "quiet_hours": None, "min_priority": "low"}


Builder = Callable[[World, Who, Any], Req]
BUILD: dict[str, Builder] = {}  # operations not listed: the path filled with the object's id, no body


def build(*ops: str) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        for op in ops:
            assert op in TABLE, op
            BUILD[op] = fn
        return fn

    return register


def body(op: str, payload: Callable[[World, Who, Any], Any], **kw: Any) -> None:
    """An operation whose request is its filled path and a JSON body."""
    path = op.split(" ", 1)[1]
    BUILD[op] = lambda w, who, o: Req(fill(path, o), json=payload(w, who, o), **kw)


def query(op: str, params: Callable[[World, Who, Any], dict[str, Any]]) -> None:
    path = op.split(" ", 1)[1]
    BUILD[op] = lambda w, who, o: Req(fill(path, o), params=params(w, who, o))


def around(t: int, before_s: int, after_s: int) -> dict[str, str]:
    return {"start": iso(t - before_s * 1000), "end": iso(t - after_s * 1000)}


# fmt: off
body("POST /api/v1/auth/login", lambda w, who, o: {"username": w.login_user, "password": w.login_pw})
body("POST /api/v1/auth/refresh", lambda w, who, o: {"refresh_token": w.refresh_token or w.login(
    w.login_user, w.login_pw)["refresh_token"]})
body("PATCH /api/v1/me", lambda w, who, o: {"display_name": _display_name(w, who)})  # unchanged
body("POST /api/v1/me/totp", lambda w, who, o: {"password": PW})
body("POST /api/v1/me/totp/confirm", lambda w, who, o: {"code": _totp_code(w, who)}, ok=(422,))
body("POST /api/v1/me/api-keys", lambda w, who, o: {"name": "matrix", "rights": ["live"]})
body("PATCH /api/v1/cameras/{camera_id}", lambda w, who, o: {"name": o.extra.get("name", "unchanged")})
body("POST /api/v1/cameras/{camera_id}/stream-token", lambda w, who, o: {"right": "live"})
body("PATCH /api/v1/users/{user_id}", lambda w, who, o: {"display_name": o.extra.get("name", "unchanged")})
body("POST /api/v1/evidence-locks", lambda w, who, o: {
    "camera": o.id, **around(now_ms(), 120, 60), "reason": "matrix", "until": iso(now_ms() + 3_600_000)})
body("POST /api/v1/bookmarks", lambda w, who, o: {"camera": o.id, **around(now_ms(), 60, 30), "title": "matrix"})
body("PATCH /api/v1/bookmarks/{bookmark_id}", lambda w, who, o: {"note": "matrix"})
body("POST /api/v1/events", lambda w, who, o: {"type": "matrix.ping", "camera": o.id})
body("POST /api/v1/events/{event_id}/redact", lambda w, who, o: {"reason": "matrix"})
body("PUT /api/v1/rules/{rule_id}", lambda w, who, o: o.extra.get("body") or w.rule_body("site", "mxmissing"))
body("DELETE /api/v1/notifications/push-subscriptions",
     lambda w, who, o: {"endpoint": f"https://push.example.com/matrix/{hexid()}"})
body("PUT /api/v1/notifications/prefs", lambda w, who, o: _prefs(w, who))
query("GET /api/v1/cameras/{camera_id}/recordings", lambda w, who, o: recent())
query("GET /api/v1/cameras/{camera_id}/timeline", lambda w, who, o: recent())
query("GET /api/v1/audit", lambda w, who, o: {"limit": 1000})
query("GET /api/v1/timeline", lambda w, who, o: {"cameras": o.id, **recent()})
query("GET /api/v1/cameras/{camera_id}/motion", lambda w, who, o: recent())
query("GET /api/v1/search/motion", lambda w, who, o: {"camera": o.id, "region": "0,0,1,1", **recent()})
query("GET /api/v1/search/objects", lambda w, who, o: {"camera": o.id, **recent()})
query("GET /api/v1/plates", lambda w, who, o: {"camera": o.id, **recent()})
body("PATCH /api/v1/plate-lists/{list_id}", lambda w, who, o: {"description": "matrix"})
body("POST /api/v1/plate-lists/{list_id}/entries", lambda w, who, o: {"entries": [{"plate": "MX000000"}]})
BUILD["POST /api/v1/plate-lists/{list_id}/import"] = lambda w, who, o: Req(
    fill("/api/v1/plate-lists/{list_id}/import", o), content=b"MX000001;matrix\n",
    headers={**w.heads[who.name], "Content-Type": "text/csv"})
query("GET /api/v1/cases", lambda w, who, o: {"camera": o.id})
body("POST /api/v1/cases", lambda w, who, o: {"events": [o.id], "title": "matrix"})
body("PATCH /api/v1/cases/{case_id}", lambda w, who, o: {"offender": "matrix"})
body("POST /api/v1/cases/{case_id}/notes", lambda w, who, o: {"text": "matrix"})
body("PUT /api/v1/cameras/{camera_id}/analytics", lambda w, who, o: {"detectors": ["motion"]})
# fmt: on


@build("POST /api/v1/auth/logout")
def _logout(w: World, who: Who, o: None) -> Req:
    return Req(API + "/auth/logout", headers=w.fresh_headers(who))


@build("POST /api/v1/cameras")
def _add_camera(w: World, who: Who, o: None) -> Req:
    # A name that resolves nowhere: organisations may not add cameras on this machine (netguard).
    payload = {"name": f"mxnew{hexid()}", "url": "rtsp://mxnew.invalid/mxnew", "enabled": False}
    return Req(API + "/cameras", json=payload, after=_camera_visible_after(w, who))


@build("POST /api/v1/users")
def _add_user(w: World, who: Who, o: Obj) -> Req:
    payload: dict[str, Any] = {
        "username": f"mxnew{hexid()}",
        "password": f"Mx-{uuid.uuid4().hex}!",
        "roles": ["viewer"],
    }
    if o.extra["org_id"]:
        payload["organisation_id"] = o.extra["org_id"]
    return Req(API + "/users", json=payload, after=_user_org_after(w, who, o))


def _fed_cleanup(w: World, kind: str) -> Callable[[httpx.Response], list[str]]:
    def check(r: httpx.Response) -> list[str]:
        w.cleanup.append(("DELETE", f"/federation/{kind}/{r.json()['id']}"))
        return []

    return check


@build("POST /api/v1/federation/peers")
def _fed_peer(w: World, who: Who, o: Obj | None) -> Req:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ronda.cluster.federation import public_key_text

    key = public_key_text(Ed25519PrivateKey.generate())
    return Req(API + "/federation/peers", json={"name": f"mxpeer{hexid()}", "public_key": key, "grants": []},
               after=_fed_cleanup(w, "peers"))  # fmt: skip


@build("POST /api/v1/federation/sites")
def _fed_site(w: World, who: Who, o: Obj | None) -> Req:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ronda.cluster.federation import public_key_text

    body = {"name": f"mxsite{hexid()}", "url": "http://127.0.0.1:9", "public_key": public_key_text(
        Ed25519PrivateKey.generate()), "access": [{"group": "Odd cameras", "roles": ["viewer"]}]}  # fmt: skip
    return Req(API + "/federation/sites", json=body, after=_fed_cleanup(w, "sites"))


def _every_param(path: str, o: Obj | None) -> Req:
    """Every path parameter filled with the object's id (a remote camera of a remote site that does not
    exist; a segment of a camera), a stream's with its name."""
    path = path.replace("{stream}", "main")
    return Req(re.sub(r"\{[a-z_]+\}", str(o.id if o is not None else "abcdefgh12"), path), params=recent())


for _op in ("GET /api/v1/federation/sites/{site_id}/cameras/{camera_id}/snapshot",
            "GET /api/v1/federation/sites/{site_id}/cameras/{camera_id}/recordings",
            "GET /api/v1/federation/sites/{site_id}/cameras/{camera_id}/segments/{segment_id}.mp4",
            "GET /api/v1/federation/peer/cameras/{camera_id}/recordings",
            "GET /api/v1/federation/peer/cameras/{camera_id}/segments/{segment_id}.mp4",
            "GET /api/v1/federation/sites/{site_id}/exports/{job_id}",
            "GET /api/v1/federation/sites/{site_id}/exports/{job_id}/download",
            "GET /api/v1/federation/peer/exports/{job_id}",
            "GET /api/v1/federation/peer/exports/{job_id}/download",
            "GET /api/v1/federation/sites/{site_id}/cameras/{camera_id}/live/{stream}/index.m3u8",
            "GET /api/v1/federation/sites/{site_id}/cameras/{camera_id}/live/{stream}/init-{version}.mp4",
            "GET /api/v1/federation/sites/{site_id}/cameras/{camera_id}/live/{stream}/{seq}.m4s",
            "GET /api/v1/federation/peer/cameras/{camera_id}/live/{stream}/index.m3u8",
            "GET /api/v1/federation/peer/cameras/{camera_id}/live/{stream}/init-{version}.mp4",
            "GET /api/v1/federation/peer/cameras/{camera_id}/live/{stream}/{seq}.m4s"):  # fmt: skip
    build(_op)(lambda w, who, o, _p=_op.split(" ", 1)[1]: _every_param(_p, o))


@build("POST /api/v1/federation/sites/{site_id}/exports", "POST /api/v1/federation/peer/exports")
def _fed_export(w: World, who: Who, o: Obj | None) -> Req:
    """A well-formed export request (of a remote site that does not exist; a peer's, without a signature)."""
    body: dict[str, Any] = {"start": recent()["start"], "end": recent()["end"], "reason": "matrix"}
    if o is None:
        return Req(API + "/federation/peer/exports", json={**body, "cameras": [1]})
    return Req(f"{API}/federation/sites/{o.id}/exports", json={**body, "camera": 1})


@build(
    "POST /api/v1/federation/sites/{site_id}/alarms/{alarm_id}/{action}",
    "POST /api/v1/federation/peer/alarms/{alarm_id}/{action}",
)
def _fed_alarm_comment(w: World, who: Who, o: Obj | None) -> Req:
    """A comment on a remote site's alarm (of a site that does not exist; a peer's, without a signature)."""
    if o is None:
        return Req(API + "/federation/peer/alarms/1/comment", json={"text": "matrix", "cameras": [1]})
    return Req(f"{API}/federation/sites/{o.id}/alarms/1/comment", json={"text": "matrix"})


@build("POST /api/v1/exports")
def _add_export(w: World, who: Who, o: Obj) -> Req:
    span = {"start": iso(w.segment(o.tag).start_ms), "end": iso(w.segment(o.tag).end_ms)} if o.tag != "x" else recent()
    return Req(API + "/exports", json={"cameras": [o.id], "reason": "matrix", **span}, after=_export_cleanup(w))


@build("GET /api/v1/exports/{job_id}/file")
def _export_file(w: World, who: Who, o: Obj) -> Req:
    return Req(fill(API + "/exports/{job_id}/file", o), params={"token": w.export_token(who, o)}, headers={})


@build("POST /api/v1/alarms/{alarm_id}/{action}")
def _alarm_comment(w: World, who: Who, o: Obj) -> Req:
    return Req(f"{API}/alarms/{o.id}/comment", json={"text": "matrix"})


@build("POST /api/v1/cases/{case_id}/status")
def _case_status(w: World, who: Who, o: Obj) -> Req:
    """Back and forth between draft and under review (the flow allows both ways)."""
    now = w.as_("admin", "GET", f"/cases/{o.id}").json().get("status") if o.tag != "x" else "draft"
    return Req(f"{API}/cases/{o.id}/status", json={"status": "under_review" if now == "draft" else "draft"})


@build("POST /api/v1/cases/{case_id}/evidence")
def _case_evidence(w: World, who: Who, o: Obj) -> Req:
    def cleanup(r: httpx.Response) -> list[str]:
        w.cleanup.append(("DELETE", f"/exports/{r.json()['export_id']}"))
        return []

    return Req(f"{API}/cases/{o.id}/evidence", json={"stream": "main"}, after=cleanup)


@build("POST /api/v1/cases/{case_id}/evidence/{evidence_id}/link")
def _case_evidence_link(w: World, who: Who, o: Obj) -> Req:
    return Req(f"{API}/cases/{o.id}/evidence/{o.extra['evidence']}/link")


@build("GET /api/v1/cases/{case_id}/evidence/{evidence_id}/file")
def _case_evidence_file(w: World, who: Who, o: Obj) -> Req:
    return Req(f"{API}/cases/{o.id}/evidence/{o.extra['evidence']}/file", params={"token": w.case_token(who, o)},
               headers={})  # fmt: skip


@build("GET /api/v1/alarms/{alarm_id}/image")
def _alarm_image(w: World, who: Who, o: Obj) -> Req:
    """The link a notification would carry for the principal's account (an expired one of the
    administrator's for the logged-out principal); the alarms' events get a snapshot first."""
    from ronda.access.image_links import ImageLinks
    from ronda.access.keys import load_or_create_key
    from ronda.store.models import Event as EventRow

    def snapshots() -> bool:
        rel = "analytics/snapshots/matrix/picture.jpg"
        write_private(w.site.data_dir / rel, bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9"))
        with w.db().session() as s:
            for e in w.objs["event"].values():
                s.get(EventRow, e.id).snapshot = rel
        return True

    w.cached("alarm pictures", 3600, snapshots)
    signer = ImageLinks(load_or_create_key(w.site.data_dir / "keys" / "tokens.key"))
    with w.db().session() as s:
        user = s.scalar(select(User).where(User.username == who.user))
        uid, version = user.id, user.token_version
    token = signer.sign(o.id, uid, version, ttl_s=-1 if who.out else 60)
    return Req(f"{API}/alarms/{o.id}/image", params={"t": token}, headers={})


@build("POST /api/v1/rules")
def _add_rule(w: World, who: Who, o: Obj) -> Req:
    def cleanup(r: httpx.Response) -> list[str]:
        w.cleanup.append(("DELETE", f"/rules/{r.json()['id']}"))
        return []

    return Req(API + "/rules", json=w.rule_body(o.tag, f"mxnew{hexid()}"), after=cleanup)


@build("POST /api/v1/plate-lists")
def _add_plate_list(w: World, who: Who, o: None) -> Req:
    def cleanup(r: httpx.Response) -> list[str]:
        w.cleanup.append(("DELETE", f"/plate-lists/{r.json()['id']}"))
        return []

    return Req(API + "/plate-lists", json={"name": f"mxnewplist{hexid()}", "kind": "allowlist"}, after=cleanup)


@build("DELETE /api/v1/plate-lists/{list_id}/entries/{entry_id}")
def _delete_plate_entry(w: World, who: Who, o: Obj) -> Req:
    return Req(f"{API}/plate-lists/{o.extra['list']}/entries/{o.id}")


@build("POST /api/v1/notifications/push-subscriptions")
def _subscribe(w: World, who: Who, o: None) -> Req:
    endpoint = f"https://push.example.com/matrix/{hexid()}"
    payload = {"endpoint": endpoint, "keys": {"p256dh": "B" + "A" * 86, "auth": "A" * 22}}
    # The endpoint's name resolves nowhere here, which the server refuses (422) after the right check: an
    # endpoint that resolves would be sent real pushes when alarms fire.
    return Req(API + "/notifications/push-subscriptions", json=payload, ok=(422,),
               after=_push_cleanup(w, who, endpoint))  # fmt: skip


@build("GET /api/v1/map/plan", "DELETE /api/v1/map/plan")
def _with_plan(w: World, who: Who, o: None) -> Req:
    w.ensure_plan()
    return Req(API + "/map/plan")


@build("PUT /api/v1/map/plan")
def _put_plan(w: World, who: Who, o: None) -> Req:
    return Req(API + "/map/plan", content=png(), headers={**w.heads[who.name], "Content-Type": "image/png"})


@build("PUT /api/v1/map/cameras/{camera_id}")
def _place(w: World, who: Who, o: Obj) -> Req:
    w.ensure_plan()
    return Req(fill(API + "/map/cameras/{camera_id}", o), json={"x": 0.5, "y": 0.5})


@build("DELETE /api/v1/map/cameras/{camera_id}")
def _unplace(w: World, who: Who, o: Obj) -> Req:
    w.ensure_plan()
    if o.tag != "x":
        w.ok("admin", "PUT", f"/map/cameras/{o.id}", json={"x": 0.25, "y": 0.25})
    return Req(fill(API + "/map/cameras/{camera_id}", o))


# --- PTZ: the domes of the shared site are simulated (presets p1, p2 from the start) ---------------------
def _ptz(o: Obj, tail: str = "") -> str:
    return f"{API}/cameras/{o.id}/ptz{tail}"


def _patrol_body(name: str) -> dict[str, Any]:
    return {"name": name, "steps": [{"preset": "p1", "dwell_s": 5}, {"preset": "p2", "dwell_s": 5}]}


def _new_patrol(w: World, o: Obj) -> int:
    """A patrol of the camera, made by the site administrator (an id no camera has for ``x``)."""
    if o.tag == "x":
        return 2**31 - 2
    return int(w.ok("admin", "POST", f"/cameras/{o.id}/ptz/patrols", json=_patrol_body(f"mx{hexid()}"))["id"])


def _as_soon_as_free(w: World, who: Who, method: str, path: str, **kw: Any) -> None:
    """Do it as ``who`` once no other principal's session blocks it (the shared site's sessions last 1 s);
    a refusal for want of rights is left for the request under test to meet."""
    if who.out:
        return
    wait_for(lambda: w.call(method, path, w.heads[who.name], **kw).status_code != 409, 10, interval=0.2,
             what=f"{method} {path} as {who.name} without 409")  # fmt: skip


BUSY = (409,)
NOT_ONVIF = (404,)  # (a camera not added by ONVIF has no profiles to choose)
BUILD["GET /api/v1/cameras/{camera_id}/onvif/profiles"] = lambda w, who, o: Req(
    f"{API}/cameras/{o.id}/onvif/profiles", ok=NOT_ONVIF
)
body("PUT /api/v1/cameras/{camera_id}/onvif/profiles", lambda w, who, o: {"main": "main"}, ok=NOT_ONVIF)
body("POST /api/v1/cameras/{camera_id}/ptz", lambda w, who, o: {"action": "relative", "pan": 0.01}, ok=BUSY)
body("POST /api/v1/cameras/{camera_id}/ptz/presets", lambda w, who, o: {"name": f"mx{hexid()}"}, ok=BUSY)
body("PUT /api/v1/cameras/{camera_id}/ptz/settings", lambda w, who, o: {"idle_home_s": 0})
body("POST /api/v1/cameras/{camera_id}/ptz/patrols", lambda w, who, o: _patrol_body(f"mx{hexid()}"))
BUILD["PUT /api/v1/cameras/{camera_id}/ptz/home"] = lambda w, who, o: Req(_ptz(o, "/home"), ok=BUSY)


@build("PATCH /api/v1/cameras/{camera_id}/ptz/presets/{token}")
def _rename_preset(w: World, who: Who, o: Obj) -> Req:
    return Req(_ptz(o, "/presets/p1"), json={"name": "Gate"})


@build("DELETE /api/v1/cameras/{camera_id}/ptz/presets/{token}")
def _delete_preset(w: World, who: Who, o: Obj) -> Req:
    token = "p1"
    if o.tag != "x":  # a preset of its own to delete, saved once the dome is free
        made: list[str] = []

        def save() -> bool:
            r = w.as_("admin", "POST", f"/cameras/{o.id}/ptz/presets", json={"name": f"mx{hexid()}"})
            if r.status_code == 201:
                made.append(r.json()["token"])
            return r.status_code != 409

        wait_for(save, 10, interval=0.2, what="a preset saved")
        token = made[0]
    return Req(_ptz(o, f"/presets/{token}"), ok=BUSY)


@build("POST /api/v1/cameras/{camera_id}/ptz/reservation")
def _reserve(w: World, who: Who, o: Obj) -> Req:
    def cancel(r: httpx.Response) -> list[str]:  # a reservation would block the other principals a minute
        w.call("DELETE", _ptz(o, "/reservation"), w.heads[who.name])
        return []

    return Req(_ptz(o, "/reservation"), json={"minutes": 1}, ok=BUSY, after=cancel)


@build("DELETE /api/v1/cameras/{camera_id}/ptz/reservation")
def _cancel_reservation(w: World, who: Who, o: Obj) -> Req:
    if o.tag != "x":
        _as_soon_as_free(w, who, "POST", _ptz(o, "/reservation"), json={"minutes": 1})
    return Req(_ptz(o, "/reservation"))


@build("PUT /api/v1/cameras/{camera_id}/ptz/patrols/{patrol_id}")
def _replace_patrol(w: World, who: Who, o: Obj) -> Req:
    return Req(_ptz(o, f"/patrols/{_new_patrol(w, o)}"), json=_patrol_body(f"mx{hexid()}"))


@build("DELETE /api/v1/cameras/{camera_id}/ptz/patrols/{patrol_id}")
def _delete_patrol(w: World, who: Who, o: Obj) -> Req:
    return Req(_ptz(o, f"/patrols/{_new_patrol(w, o)}"))


@build("POST /api/v1/cameras/{camera_id}/ptz/patrols/{patrol_id}/start")
def _start_patrol(w: World, who: Who, o: Obj) -> Req:
    def stop(r: httpx.Response) -> list[str]:
        w.call("POST", _ptz(o, "/patrol/stop"), w.heads[who.name])
        return []

    return Req(_ptz(o, f"/patrols/{_new_patrol(w, o)}/start"), ok=BUSY, after=stop)


@build("POST /api/v1/cameras/{camera_id}/ptz/patrol/stop")
def _stop_patrol(w: World, who: Who, o: Obj) -> Req:
    if o.tag != "x":
        _as_soon_as_free(w, who, "POST", _ptz(o, f"/patrols/{_new_patrol(w, o)}/start"))
    return Req(_ptz(o, "/patrol/stop"))


def _media(w: World, who: Who, o: Obj, tail: str, right: str, **params: Any) -> Req:
    """Media URLs carry a stream token instead of credentials (see World.stream_token)."""
    return Req(f"{API}/media/{o.id}/{tail}", params={"token": w.stream_token(who, o, right), **params}, headers={})


@build("GET /api/v1/media/{camera_id}/snapshot.jpg")
def _m_snapshot(w: World, who: Who, o: Obj) -> Req:
    return _media(w, who, o, "snapshot.jpg", "live")


@build("GET /api/v1/media/{camera_id}/segments/{segment_id}.mp4")
def _m_segment(w: World, who: Who, o: Obj) -> Req:
    return _media(w, who, o, f"segments/{w.segment(o.tag).id if o.tag != 'x' else 1}.mp4", "playback")


@build("GET /api/v1/media/{camera_id}/vod.m3u8")
def _m_vod(w: World, who: Who, o: Obj) -> Req:
    start = w.segment(o.tag).start_ms if o.tag != "x" else now_ms() - 60_000
    return _media(w, who, o, "vod.m3u8", "playback", start=iso(start))


@build("GET /api/v1/media/{camera_id}/live.m3u8")
def _m_live(w: World, who: Who, o: Obj) -> Req:
    return _media(w, who, o, "live.m3u8", "live", stream="main")


@build("GET /api/v1/media/{camera_id}/live/{stream}/index.m3u8")
def _m_index(w: World, who: Who, o: Obj) -> Req:
    return _media(w, who, o, "live/main/index.m3u8", "live")


@build("GET /api/v1/media/{camera_id}/live/{stream}/init-{version}.mp4")
def _m_init(w: World, who: Who, o: Obj) -> Req:
    return _media(w, who, o, f"live/main/init-{w.live_window(o.tag)[0]}.mp4", "live")


@build("GET /api/v1/media/{camera_id}/live/{stream}/{seq}.m4s")
def _m_part(w: World, who: Who, o: Obj) -> Req:
    return _media(w, who, o, f"live/main/{w.live_window(o.tag)[1]}.m4s", "live")


# --- lists: ids of objects an answer lists ----------------------------------------------------------------
def _ids(key: str = "id") -> Callable[[Any], set[Any]]:
    return lambda body: {x[key] for x in body}


LISTS: dict[str, tuple[str, Callable[[Any], set[Any]], bool]] = {
    # operation: (kind, ids in the answer, also check that every readable object is listed)
    "GET /api/v1/cameras": ("cam", _ids(), True),
    "GET /api/v1/users": ("user", _ids(), True),
    "GET /api/v1/roles": ("role", _ids(), True),
    "GET /api/v1/organisations": ("org", _ids(), True),
    "GET /api/v1/exports": ("export", _ids(), True),
    "GET /api/v1/evidence-locks": ("lock", _ids(), True),
    "GET /api/v1/bookmarks": ("bookmark", _ids(), True),
    "GET /api/v1/alarms": ("alarm", _ids(), True),
    "GET /api/v1/events": ("event", _ids(), False),
    "GET /api/v1/rules": ("rule", _ids(), True),
    "GET /api/v1/map": ("cam", lambda body: {c["id"] for c in body["cameras"]}, True),
    "GET /api/v1/cases": ("case", _ids(), False),  # asked per camera
}


def _audit_scope(w: World, who: Who, body: Any) -> list[str]:
    """An organisation's audit: entries of its own users and of the cameras it owns, nothing else."""
    if who.org is None:
        return []
    with w.db().session() as s:
        org = w.orgs[who.org]
        mine = set(s.scalars(select(User.username).where(User.organisation_id == org)))
        groups = select(CameraGroup.id).where(CameraGroup.organisation_id == org)
        owned = set(s.scalars(select(CameraGroupMember.camera_id).where(CameraGroupMember.group_id.in_(groups))))
    bad = [e for e in body if e["actor"].removesuffix("(api-key)") not in mine and e.get("camera_id") not in owned]
    if not bad:
        return []
    sample = sorted({(e["actor"], e["action"]) for e in bad})[:6]
    return [f"audit shows {len(bad)} entries of other organisations' users or cameras, e.g. {sample}"]


def check(w: World, op: str, who: Who, obj: Obj | None, req: Req, r: httpx.Response) -> list[str]:
    rule = TABLE[op][0]
    tag = obj.tag if obj is not None else "-"
    st = r.status_code
    want = allowed(rule, who, obj)
    out: list[str] = []
    excerpt = r.text[:160].replace("\n", " ")
    if st >= 500:
        out.append(f"[{tag}] {st} server error: {excerpt}")
    elif who.out and rule != "public":
        # A token-only URL (no credentials header) of an object that does not exist may say so first.
        if st != 401 and not (req.headers == {} and tag == "x" and st == 404):
            out.append(f"[{tag}] logged-out token got {st}, expected 401: {excerpt}")
    elif want:
        if not (200 <= st < 300 or st in req.ok):
            out.append(f"[{tag}] allowed by the table but got {st}: {excerpt}")
    elif not 400 <= st < 500:
        out.append(f"[{tag}] refused by the table but got {st}: {excerpt}")
    text = r.text
    leaked = sorted({f"{o.kind}:{o.tag}" for m, mrule, o in w.markers() if m in text and not allowed(mrule, who, o)})
    if leaked:
        out.append(f"[{tag}] answer ({st}) shows objects it may not read: {', '.join(leaked)}")
    if 200 <= st < 300:
        if req.after is not None:
            out += [f"[{tag}] {p}" for p in req.after(r)]
        if op in LISTS:
            kind, ids_of, complete = LISTS[op]
            listed = ids_of(r.json())
            for o in w.objs[kind].values():
                if o.tag == "x":
                    continue
                may = allowed(READ[kind], who, o)
                if o.id in listed and not may:
                    out.append(f"lists {kind} {o.tag} (id {o.id}) that it may not read")
                elif complete and may and o.id not in listed:
                    out.append(f"does not list {kind} {o.tag} (id {o.id}) that it may read")
        if op == "GET /api/v1/audit":
            out += _audit_scope(w, who, r.json())
    return out


def send_ws(w: World, op: str, who: Who, obj: Obj | None) -> tuple[int, str]:
    """A WebSocket as a status: 2xx when it stays open (or sends data), 4xxx close codes as 4xx."""
    base = w.site.ronda.base.replace("http://", "ws://")
    if op == "WS /api/v1/ws":
        if who.out:
            ticket = w.revoked_ticket()
        else:
            r = w.call("POST", f"{API}/ws-ticket", w.heads[who.name])
            ticket = r.json()["ticket"] if r.status_code == 200 else "not-a-ticket"
        url = f"{base}{API}/ws?ticket={ticket}"
    else:
        assert obj is not None
        url = f"{base}{API}/media/{obj.id}/live.ws?stream=main&token={w.stream_token(who, obj, 'live')}"
    try:
        with connect(url, open_timeout=10, close_timeout=2) as ws:
            try:
                msg = ws.recv(timeout=0.5 if op == "WS /api/v1/ws" else 10)
                return 200, msg if isinstance(msg, str) else f"<{len(msg)} bytes>"
            except TimeoutError:
                return 200, "open"
            except ConnectionClosed as e:
                code = e.rcvd.code if e.rcvd is not None else 1006
                return (code - 4000 if 4400 <= code < 4600 else 500 if code == 1011 else 499), f"closed {code}"
    except InvalidStatus as e:
        return e.response.status_code, "handshake refused"


@dataclass
class WsResponse:
    """Enough of httpx.Response for ``check``."""

    status_code: int
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


# --- the world ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def world(site: Any, sec_users: Mapping[str, Any]) -> Iterator[World]:
    w = World(site)
    plan: list[tuple[bytes, str] | None] = []  # the site plan before the matrix (to put back)
    try:
        # A login of its own for each principal: an access token lasts 15 min, and one taken over from
        # the session (made when the suite started) could expire in the middle of the matrix (it did, in
        # a 46-minute run: 751 errors, "invalid or expired token").
        for name in SESSIONS:
            w.heads[name] = w.bearer(w.login(name)["access_token"])
        key = w.ok("operator", "POST", "/me/api-keys", json={"name": "matrix live", "rights": ["live"]})
        w.heads["apikey"] = w.bearer(key["key"])
        out = w.login("admin")["access_token"]
        assert w.call("POST", f"{API}/auth/logout", w.bearer(out)).status_code == 204
        w.heads["logged_out"] = w.bearer(out)

        with w.db().session() as s:
            orgs = {o.name: o.id for o in s.scalars(select(Organisation))}
            w.orgs = {"A": orgs["Polizia Locale"], "B": orgs["Municipio"]}
            groups = {g.name: g.id for g in s.scalars(select(CameraGroup))}
            if "Matrix (Municipio)" not in groups:
                g = CameraGroup(organisation_id=w.orgs["B"], name="Matrix (Municipio)")
                s.add(g)
                s.flush()
                groups[g.name] = g.id
            w.groups = {"a": groups["Odd cameras"], "s": groups["Even cameras"], "b": groups["Matrix (Municipio)"]}
            roles: dict[str, Obj] = {}
            for tag, org in (("a", "A"), ("b", "B")):
                name = f"mxrole{hexid()}"
                role = Role(name=name, organisation_id=w.orgs[org], rights=["live"])
                s.add(role)
                s.flush()
                roles[tag] = Obj("role", tag, role.id, org=org, markers=((name, READ["role"]),))
        w.objs["role"] = roles
        w.objs["org"] = {t: Obj("org", t, w.orgs[o], org=o) for t, o in (("a", "A"), ("b", "B"))}

        # Recording cameras (small sub-streams of the simulator: cheap snapshots and exports), one in each of
        # A's groups and one in B's; they record while the rest is made.
        rec = {t: w.new_camera(t, url=site.sim.url("cam1", sub=True), enabled=True) for t in ("a", "s", "b")}
        w.objs["rec"] = {t: replace(o, kind="rec") for t, o in rec.items()} | {"x": Obj("rec", "x", 2**31 - 2)}
        # Disabled cameras: a in A's odd group, s in A's even group (shared with B), b in B's own group.
        w.objs["cam"] = {t: w.new_camera(t) for t in ("a", "s", "b", "x")}

        users: dict[str, Obj] = {}
        accounts: list[tuple[str, str | None, list[str]]] = [
            ("a", "A", ["viewer"]), ("b", "B", ["viewer"]), ("site", None, ["viewer"]),
            ("sadm", None, ["administrator"])]  # fmt: skip
        for tag, user_org, roles_ in accounts:
            name, password = f"mxuser{hexid()}", f"Mx-{uuid.uuid4().hex}!"
            body: dict[str, Any] = {"username": name, "password": password, "roles": roles_, "display_name": name}
            if user_org:
                body["organisation_id"] = w.orgs[user_org]
            u = w.ok("admin", "POST", "/users", json=body)
            users[tag] = Obj("user", tag, u["id"], org=user_org, markers=((name, READ["user"]),),
                             extra={"name": name, "password": password})  # fmt: skip
        users["x"] = Obj("user", "x", 2**31 - 2)
        w.objs["user"] = users
        w.login_user, w.login_pw = users["site"].extra["name"], users["site"].extra["password"]  # for /auth/*
        # POST /users into A, into B, with no organisation (an org administrator's own), into none that exists
        w.objs["neworg"] = {
            "a": Obj("neworg", "a", None, org="A", extra={"org": "A", "org_id": w.orgs["A"]}),
            "b": Obj("neworg", "b", None, org="B", extra={"org": "B", "org_id": w.orgs["B"]}),
            "site": Obj("neworg", "site", None, org="*", extra={"org": None, "org_id": None}),
            "x": Obj("neworg", "x", None, extra={"org": None, "org_id": 2**31 - 2}),
        }
        w.objs["key"] = {"own": Obj("key", "own", 0), "other": Obj("key", "other", 0), "x": Obj("key", "x", 0)}
        w.objs["fed"] = {"x": Obj("fed", "x", 2**31 - 2)}  # a remote site, peer (or its camera) that does not exist

        w.objs["bookmark"] = {t: w.new_bookmark(t) for t in ("a", "s", "b", "x")}
        w.objs["lock"] = {t: w.new_lock(t) for t in ("a", "s", "b", "x")}
        w.objs["rule"] = {t: w.new_rule(t) for t in ("a", "s", "b", "site", "x")}
        w.objs["aobj"] = {t: w.new_object(t) for t in ("a", "s", "b", "x")}
        w.objs["pread"] = {t: w.new_plate_read(t) for t in ("a", "s", "b", "x")}
        w.objs["plist"] = {t: w.new_plate_list(t) for t in ("a", "b", "site", "x")}
        w.objs["pentry"] = {t: Obj("pentry", t, None, org={"a": "A", "b": "B"}.get(t)) for t in ("a", "b", "site", "x")}
        w.objs["aevt"] = {t: w.new_analytics_event(t) for t in ("a", "s", "b", "x")}
        w.objs["ruleset"] = {t: Obj("rule", t, None, org={"a": "A", "s": "A", "b": "B"}.get(t))
                             for t in ("a", "s", "b", "site", "x")}  # fmt: skip

        # alarms (and their events): a, s, b on one camera each; m on an A camera relating to a shared one
        cam = w.objs["cam"]
        rule = {"name": f"mxalarms{hexid()}", "trigger": {"types": ["matrix.alarm-*"],
                "cameras": [cam[t].id for t in "asb"]}, "actions": [{"type": "raise_alarm", "title": "Matrix alarm",
                "category": "matrix", "incident": "{rule}:{type}", "dedupe_window_s": 0}]}  # fmt: skip
        rid = w.ok("admin", "POST", "/rules", json=rule)["id"]
        w.cleanup.append(("DELETE", f"/rules/{rid}"))
        alarms: dict[str, Obj] = {}
        events: dict[str, Obj] = {}
        for tag, primary, related in (("a", "a", ()), ("s", "s", ()), ("b", "b", ()), ("m", "a", ("s",))):
            text = f"mxevent{hexid()}"
            ev = {"type": f"matrix.alarm-{tag}", "camera": cam[primary].id, "text": text, "payload": {"plate": text}}
            if related:
                ev["cameras"] = [cam[c].id for c in related]
            eid = w.ok("admin", "POST", "/events", json=ev)["ids"][0]
            events[tag] = Obj("event", tag, eid, cam=primary, cams=(primary, *related), markers=((text, "cam:any"),))
        for tag, e in events.items():

            def raised(tag: str = tag, e: Obj = e) -> list[dict[str, Any]]:
                got = w.ok("admin", "GET", "/alarms", params={"camera": cam[e.cam or ""].id})
                return [a for a in got if a["rule"] == rid and a["incident"].endswith(f"matrix.alarm-{tag}")]

            alarm = wait_for(raised, 15, interval=0.2, what=f"alarm {tag}")[0]
            comment = f"mxcomment{hexid()}"
            w.ok("admin", "POST", f"/alarms/{alarm['id']}/comment", json={"text": comment})
            alarms[tag] = Obj("alarm", tag, alarm["id"], cam=e.cam, cams=e.cams,
                              markers=(*e.markers, (comment, "cam:any")))  # fmt: skip
        alarms["x"] = Obj("alarm", "x", 2**31 - 2)
        w.objs["alarm"], w.objs["event"] = alarms, events

        # exports (and the pool DELETE takes from), once the recording cameras have recorded
        for o in rec.values():
            wait_for(lambda o=o: len(catalog(site.data_dir, o.id)[0]) >= 2, 60, what=f"two segments of rec {o.tag}")
        w.objs["export"] = {t: w.new_export(t) for t in ("a", "s", "b", "x")}
        w.pool.update({("export", t, ""): w.new_export(t) for t in ("a", "s", "b")})
        for e in [*w.objs["export"].values(), *w.pool.values()]:
            if e.tag != "x":
                wait_for(lambda e=e: w.ok("admin", "GET", f"/exports/{e.id}")["status"] != "running", 60,
                         what=f"export {e.tag}")  # fmt: skip
                assert w.ok("admin", "GET", f"/exports/{e.id}")["status"] == "done"
        # cases (and the events they are opened from) on the recording cameras, which have recorded by now
        w.objs["caseev"] = {t: w.case_event(t) for t in ("a", "s", "b", "x")}
        w.objs["case"] = {t: w.new_case(t) for t in ("a", "s", "b", "sb", "x")}
        w.objs["cevid"] = {t: w.new_case_evidence(t) for t in ("a", "s", "b", "sb", "x")}
        for e in w.objs["cevid"].values():
            if e.tag != "x":

                def signed(e: Obj = e) -> bool:
                    got = w.ok("admin", "GET", f"/cases/{e.id}")["evidence"]
                    return bool(got) and got[0]["status"] != "pending"

                wait_for(signed, 120, interval=1, what=f"the package of case {e.tag}")
                assert w.ok("admin", "GET", f"/cases/{e.id}")["evidence"][0]["status"] == "done"

        r = w.as_("admin", "GET", "/map/plan")
        plan.append((r.content, r.headers.get("content-type", "")) if r.status_code == 200 else None)
        w.ensure_plan()
        for tag in ("a", "s", "b"):  # the live tails run before the matrix asks for them
            w.live_window(tag)
        yield w
    finally:
        if "admin" in w.heads:
            for method, path in w.cleanup:
                w.as_("admin", method, path)
            if plan and plan[0] is None:
                w.as_("admin", "DELETE", "/map/plan")
            elif plan and plan[0] is not None:
                w.as_("admin", "PUT", "/map/plan", content=plan[0][0], headers={"Content-Type": plan[0][1]})
        w.close()


# --- the tests ----------------------------------------------------------------------------------------------
def openapi_operations(w: World) -> set[str]:
    spec = w.ok("admin", "GET", "/openapi.json")
    methods = {"get", "post", "put", "patch", "delete", "head", "options"}
    return {f"{m.upper()} {p}" for p, ops in spec["paths"].items() for m in ops if m in methods}


def test_every_operation_is_classified(world: World) -> None:
    """A new route fails here until it has its line in TABLE (and a stale line fails too)."""
    ops = openapi_operations(world)
    table = {op for op in TABLE if not op.startswith("WS ")}
    assert not ops - table, f"operations without a line in TABLE: {sorted(ops - table)}"
    assert not table - ops, f"lines in TABLE for operations that do not exist: {sorted(table - ops)}"
    sets = {s.rstrip("+") for _, s in TABLE.values() if s}
    assert sets <= set(world.objs), sets - set(world.objs)


def test_principals_are_what_the_matrix_assumes(world: World) -> None:
    """The camera rights the table's principals are modelled with are those the server reports (GET /me),
    so that the matrix checks the access model, not a guess of it."""
    camera_rights = frozenset(ALL_CAMERA)
    for who in WHO.values():
        if who.out:
            continue
        me = world.call("GET", f"{API}/me", world.heads[who.name]).json()
        assert me["username"] == who.user
        for kind in ("cam", "rec"):
            got = {tag: frozenset(me["cameras"].get(str(o.id), [])) & camera_rights
                   for tag, o in world.objs[kind].items() if tag != "x"}  # fmt: skip
            want = {tag: frozenset(who.cams.get(tag, frozenset())) for tag in got}
            assert got == want, (who.name, kind)
        assert (me["organisation_id"] is None) == (who.org is None), who.name
    assert world.call("GET", f"{API}/me", world.heads["logged_out"]).status_code == 401


CASES = [(op, who) for op in TABLE for who in WHO]


@pytest.mark.parametrize(("op", "who"), CASES, ids=[f"{op} [{who}]" for op, who in CASES])
def test_rights_matrix(world: World, op: str, who: str) -> None:
    w, p = world, WHO[who]
    method, path = op.split(" ", 1)
    rule, objects = TABLE[op]
    problems: list[str] = []
    for obj in w.variants(objects, p):
        if method == "WS":
            status, text = send_ws(w, op, p, obj)
            problems += check(w, op, p, obj, Req(path), WsResponse(status, text))  # type: ignore[arg-type]
            continue
        build = BUILD.get(op)
        req = build(w, p, obj) if build is not None else Req(fill(path, obj))
        headers = w.heads[who] if req.headers is None else req.headers
        kw: dict[str, Any] = {"params": req.params}
        if req.json is not NOBODY:
            kw["json"] = req.json
        if req.content is not None:
            kw["content"] = req.content
        r = w.call(method, req.path, headers, **kw)
        if op in ("POST /api/v1/auth/login", "POST /api/v1/auth/refresh") and r.status_code == 200:
            w.refresh_token = r.json()["refresh_token"]
        w.used(obj, r.status_code)
        problems += check(w, op, p, obj, req, r)
    assert not problems, f"{op} as {who} ({rule}):\n  " + "\n  ".join(problems)
