"""Plate events over real HTTP and a real WebSocket against a real ``ronda serve`` (docs/access.md,
"plate search, plate reads and crops"; docs/analytics.md, "Who sees what"): a ``plate.read`` (and any
``plate.*`` event) keeps its plate, crop and text for callers who may read the camera's plates (the
``plates`` right on a camera their organisation owns; site scope: every camera) and reaches everyone
else who sees the camera only as "a plate event happened" — in the event list, the timeline, the live
event socket and an alarm's detail; a plate never reaches an alarm's title, and the event list's text
search finds no plate it would not show."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from ronda.timeutil import parse_iso
from tests.analytics.platesite import PlateSite, plate_site
from tests.helpers import iso, wait_for

REDACTED = {"redacted": "plates"}
USERS = ("admin", "pol", "muni", "muni_live")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlateSite]:
    with plate_site(tmp_path_factory.mktemp("plate-privacy")) as s:
        yield s


def _socket(site: PlateSite, who: str) -> ClientConnection:
    ticket = site.users[who].req("POST", "/api/v1/ws-ticket").json()["ticket"]
    return connect(f"{site.ronda.base.replace('http', 'ws')}/api/v1/ws?ticket={ticket}", open_timeout=10)


def _plate_messages(sock: ClientConnection, want: int, seconds: float, at: set[int]) -> list[dict[str, Any]]:
    """The ``plate.*`` events of times ``at`` the socket pushes within ``seconds`` (until ``want`` arrived).
    Reads another test of the module stored (straight into the database, as the analytics service does)
    reach the socket whenever the server's outbox next looks: they are not counted."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while len(got) < want and time.monotonic() < deadline:
        try:
            msg = json.loads(sock.recv(timeout=max(0.1, deadline - time.monotonic())))
        except TimeoutError:
            break
        ev = msg.get("event") if msg.get("kind") == "event" else None
        if ev and ev["type"].startswith("plate.") and parse_iso(ev["time"]) in at:
            got.append(ev)
    return got


@pytest.fixture(scope="module")
def fed(site: PlateSite) -> Iterator[dict[str, Any]]:
    """A's camera 1 (shared with B) reads AB123CD; B's camera 3 reads XY789ZZ (crops of both); an LPR
    system posts a plate.read with the plate in its text on B's camera 4; a site-wide rule raises an
    alarm per camera titled with the event's text. Each user's live socket is open before."""
    admin = site.users["admin"]
    rule = {"name": "plate reads", "enabled": True, "trigger": {"types": ["plate.read"]},
            "actions": [{"type": "raise_alarm", "priority": "low", "title": "Plate read {text}",
                         "incident": "{rule}:{camera}:{text}"}]}  # fmt: skip
    made = admin.req("POST", "/api/v1/rules", json=rule)
    assert made.status_code == 201, made.text
    socks = {u: _socket(site, u) for u in USERS}
    t = int(time.time() * 1000)
    try:
        site.feed(1, "AB123CD", t)
        site.feed(3, "XY789ZZ", t + 1000)
        r = admin.req("POST", "/api/v1/events", json={"type": "plate.read", "camera": site.cams[4],
                                                       "text": "Targa XY111ZZ", "time": iso(t + 2000),
                                                       "payload": {"plate": "XY111ZZ", "confidence": 0.8}})  # fmt: skip
        assert r.status_code == 202, r.text
        at = {t, t + 1000, t + 2000}
        pushed = {u: _plate_messages(s, {"admin": 3, "pol": 1, "muni": 3, "muni_live": 2}[u], 15, at)
                  for u, s in socks.items()}  # fmt: skip
    finally:
        for s in socks.values():
            s.close()
    yield {"t": t, "rule": made.json(), "pushed": pushed}


def _events(site: PlateSite, who: str, t: int, **params: Any) -> dict[int, dict[str, Any]]:
    r = site.users[who].req("GET", "/api/v1/events", params={"type": "plate.read", "since": iso(t - 1000), **params})
    assert r.status_code == 200, r.text
    return {e["camera"]: e for e in r.json()}


def _whole(e: dict[str, Any], plate: str) -> None:
    assert e["payload"]["plate"] == plate and "redacted" not in e, e


def _hidden(e: dict[str, Any]) -> None:
    assert e["type"] == "plate.read" and e["time"], e
    assert e["payload"] == REDACTED and e.get("redacted") == "plates", e
    assert not {"snapshot", "text", "uid", "box"} & set(e), e
    assert not any(p in json.dumps(e) for p in ("AB123CD", "XY789ZZ", "XY111ZZ")), e


def test_event_list(site: PlateSite, fed: dict[str, Any]) -> None:
    c, t = site.cams, fed["t"]
    admin = _events(site, "admin", t)
    _whole(admin[c[1]], "AB123CD"), _whole(admin[c[3]], "XY789ZZ"), _whole(admin[c[4]], "XY111ZZ")
    assert admin[c[1]]["snapshot"] and admin[c[4]]["text"] == "Targa XY111ZZ"
    pol = _events(site, "pol", t)
    assert set(pol) == {c[1]} and pol[c[1]]["snapshot"]
    _whole(pol[c[1]], "AB123CD")
    muni = _events(site, "muni", t)  # A's camera is shared with B: its video, not its plates
    assert set(muni) == {c[1], c[3], c[4]}
    _hidden(muni[c[1]]), _whole(muni[c[3]], "XY789ZZ"), _whole(muni[c[4]], "XY111ZZ")
    live = _events(site, "muni_live", t)  # B's own cameras, without the plates right
    assert set(live) == {c[3], c[4]}
    _hidden(live[c[3]]), _hidden(live[c[4]])


def test_text_search_finds_no_plate_it_would_not_show(site: PlateSite, fed: dict[str, Any]) -> None:
    t = fed["t"]
    assert set(_events(site, "admin", t, text="XY111ZZ")) == {site.cams[4]}
    assert _events(site, "muni_live", t, text="XY111ZZ") == {}
    assert set(_events(site, "muni_live", t, text="plate.read")) == {site.cams[3], site.cams[4]}  # the type matches


def test_timeline(site: PlateSite, fed: dict[str, Any]) -> None:
    c, t = site.cams, fed["t"]

    def track(who: str, cams: list[int]) -> dict[int, dict[str, Any]]:
        q = {"cameras": ",".join(map(str, cams)), "start": iso(t - 60_000), "end": iso(t + 60_000)}
        r = site.users[who].req("GET", "/api/v1/timeline", params=q)
        assert r.status_code == 200, r.text
        out = {}
        for cam, row in r.json()["cameras"].items():
            [e] = [e for e in row["events"] if e["type"] == "plate.read"]
            out[int(cam)] = e
        return out

    pol = track("pol", [c[1]])
    _whole(pol[c[1]], "AB123CD")
    muni = track("muni", [c[1], c[3]])
    _hidden(muni[c[1]]), _whole(muni[c[3]], "XY789ZZ")
    live = track("muni_live", [c[3], c[4]])
    _hidden(live[c[3]]), _hidden(live[c[4]])


def test_live_socket(site: PlateSite, fed: dict[str, Any]) -> None:
    c, pushed = site.cams, fed["pushed"]

    def by_cam(who: str) -> dict[int, dict[str, Any]]:
        return {e["camera"]: e for e in pushed[who] if e["type"] == "plate.read"}

    admin = by_cam("admin")
    _whole(admin[c[1]], "AB123CD"), _whole(admin[c[4]], "XY111ZZ")
    assert admin[c[1]]["snapshot"]
    pol = by_cam("pol")
    assert set(pol) == {c[1]}
    _whole(pol[c[1]], "AB123CD")
    muni = by_cam("muni")
    assert set(muni) == {c[1], c[3], c[4]}, pushed["muni"]
    _hidden(muni[c[1]]), _whole(muni[c[3]], "XY789ZZ")
    live = by_cam("muni_live")
    assert set(live) == {c[3], c[4]}, pushed["muni_live"]
    _hidden(live[c[3]]), _hidden(live[c[4]])


def test_alarm_detail_and_title(site: PlateSite, fed: dict[str, Any]) -> None:
    c, rule = site.cams, fed["rule"]
    admin = site.users["admin"]

    def alarms() -> dict[int, dict[str, Any]] | None:
        found = {a["camera"]: a for a in admin.req("GET", "/api/v1/alarms").json() if a["rule"] == rule["id"]}
        return found if len(found) == 3 else None

    every = wait_for(alarms, 20, what="an alarm per camera")
    for who, cam, whole in (("admin", 1, "AB123CD"), ("pol", 1, "AB123CD"), ("muni", 1, None),
                            ("muni", 3, "XY789ZZ"), ("muni_live", 3, None), ("muni_live", 4, None)):  # fmt: skip
        a = every[c[cam]]
        d = site.users[who].req("GET", f"/api/v1/alarms/{a['id']}")
        assert d.status_code == 200, (who, cam, d.text)
        # the fed read (another test of this module may feed the same camera later, with an older time:
        # its read joins this alarm through the incident key, "{text}" being empty for plate events)
        at = fed["t"] + {1: 0, 3: 1000, 4: 2000}[cam]
        [e] = [x for x in d.json()["events"] if parse_iso(x["time"]) == at]
        _whole(e, whole) if whole else _hidden(e)
    # the posted read's text holds its plate: no alarm title (nor incident key) carries it, for anyone
    listed = {a["id"]: a for a in site.users["muni_live"].req("GET", "/api/v1/alarms").json()}
    assert "XY111ZZ" not in json.dumps(listed[every[c[4]]["id"]])
    assert "XY111ZZ" not in json.dumps(site.users["muni_live"].req("GET", f"/api/v1/alarms/{every[c[4]]['id']}").json())


def test_plate_crops_reach_only_who_may_read_the_plates(site: PlateSite, fed: dict[str, Any]) -> None:
    """The crop of a plate event is its picture: the event snapshot route and an alarm's picture give it
    to who may read the camera's plates, and to no one else who may play the camera back (muni: the
    shared camera 1, with playback but not its plates)."""
    c, rule, t = site.cams, fed["rule"], fed["t"]
    read = _events(site, "admin", t)[c[1]]
    assert read.get("snapshot"), read
    snap = f"/api/v1/events/{read['id']}/snapshot.jpg"
    assert site.users["admin"].req("GET", snap).status_code == 200
    assert site.users["pol"].req("GET", snap).status_code == 200
    assert site.users["muni"].req("GET", snap).status_code == 404
    alarm = next(a for a in site.users["admin"].req("GET", "/api/v1/alarms").json()
                 if a["rule"] == rule["id"] and a["camera"] == c[1])  # fmt: skip
    image = f"/api/v1/alarms/{alarm['id']}/image"
    got = site.users["pol"].req("GET", image)
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg", got.text
    assert site.users["muni"].req("GET", image).status_code == 404


def test_dumping_names_the_plate_read_before_for_plate_readers_only(site: PlateSite) -> None:
    """A dumping on B's camera 3, whose dumping settings link B's LPR camera 4: the event names the newest
    plate read on 3 or 4 in the window before the bag lay still (not a read on an unlinked camera, nor one
    too old); muni (plates on B's cameras) sees it, muni_live (video only) sees the event without it."""
    from ronda import runtime
    from ronda.analytics.pipeline import EventOut

    c, admin = site.cams, site.users["admin"]
    link = {"detectors": ["dumping"], "dumping": {"plate_cameras": [c[4]], "plate_window_s": 300}}
    put = admin.req("PUT", f"/api/v1/cameras/{c[3]}/analytics", json=link)
    assert put.status_code == 200, put.text
    site.svc.settings_for = runtime.analytics_settings(site.db)
    t = int(time.time() * 1000) - 600_000
    site.feed(4, "OL000DD", t - 400_000)  # linked camera, but before the window
    site.feed(4, "DU123MP", t - 120_000)  # linked camera, in the window: the one
    site.feed(1, "NO111NO", t - 30_000)  # newer, but on a camera that is not linked
    box = (0.3, 0.7, 0.36, 0.8)
    bag = EventOut("dumping.detected", t + 10_000, {"zone": "kerb", "since": t, "carrier": None, "plate": None}, box)
    site.svc._write([("results", (c[3], [bag]))])

    def dumping(who: str) -> dict[str, Any]:
        r = site.users[who].req("GET", "/api/v1/events", params={"type": "dumping.detected", "since": iso(t)})
        assert r.status_code == 200, r.text
        [ev] = [e for e in r.json() if e["camera"] == c[3]]
        return dict(ev["payload"])

    named = dumping("admin")["plate"]
    assert named["plate"] == "DU123MP" and named["camera"] == c[4], named
    assert dumping("muni")["plate"]["plate"] == "DU123MP"
    hidden = dumping("muni_live")
    assert "plate" not in hidden and hidden["zone"] == "kerb"
