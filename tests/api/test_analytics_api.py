"""The analytics API over real HTTP against a real ``ronda serve`` (tests/analytics/server.py): settings
(defaults, the YAML block, validation, audit), motion search and strip, object search and snapshots, and
who may do what (viewer_a sees odd cameras, viewer_b even ones, the operator may not manage cameras)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from ronda.analytics import repository as repo
from ronda.analytics.model import MotionSecond, TrackedObject, pack_cells
from ronda.store.access_models import AuditEntry
from tests.analytics.server import YAML_ANALYTICS, AnalyticsSite, analytics_site
from tests.helpers import iso

T0 = 1_800_000_000  # epoch seconds, a whole minute
SQUARE = [[0.1, 0.1], [0.4, 0.1], [0.4, 0.4], [0.1, 0.4]]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnalyticsSite]:
    with analytics_site(tmp_path_factory.mktemp("analytics-api")) as s:
        yield s


def url(site: AnalyticsSite, n: int, tail: str = "analytics") -> str:
    return f"/api/v1/cameras/{site.cams[n]}/{tail}"


def zone(points: list[list[float]], kind: str = "include", name: str = "z") -> dict[str, Any]:
    return {"zones": [{"name": name, "kind": kind, "points": points}]}


def test_settings_default_yaml_put_and_audit(site: AnalyticsSite) -> None:
    admin = site.users["admin"]
    r = admin.req("GET", url(site, 2))
    assert r.status_code == 200, r.text
    assert r.json()["detectors"] == ["motion"] and r.json()["zones"] == []  # motion over the whole frame
    got = admin.req("GET", url(site, 1)).json()  # from the YAML
    assert got["detectors"] == YAML_ANALYTICS["detectors"] and got["zones"][0]["name"] == "door"

    body = {"detectors": ["motion", "objects"], "stream": "sub",
            "zones": [{"name": "street", "kind": "include", "points": SQUARE},
                      {"name": "gate", "kind": "line", "points": [[0.2, 0.9], [0.8, 0.9]]}]}  # fmt: skip
    r = admin.req("PUT", url(site, 2), json=body)
    assert r.status_code == 200, r.text
    back = admin.req("GET", url(site, 2)).json()
    assert back == r.json() and back["stream"] == "sub" and [z["name"] for z in back["zones"]] == ["street", "gate"]
    assert admin.req("PUT", url(site, 2), json=back).status_code == 200  # GET's answer is a valid PUT body
    with site.db.session() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action == "analytics.settings")).all()
        assert [(e.actor, e.camera_id) for e in entries][-2:] == [("admin", site.cams[2])] * 2


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (zone([[0.1, 0.1], [0.5, 0.5]]), "at least 3 points, got 2"),
        (zone([[0.1, 0.1], [1.2, 0.1], [0.5, 0.5]]), "outside the frame"),
        (zone([[0, 0], [1, 1], [1, 0], [0, 1]], kind="mask"), "crosses itself"),
        ({"detectors": ["motion", "teleport"]}, "detectors"),
        ({"zonez": []}, "zonez"),
        ([], "valid dictionary"),
    ],
)
def test_bad_settings_are_a_clear_422_and_change_nothing(site: AnalyticsSite, body: Any, says: str) -> None:
    admin = site.users["admin"]
    before = admin.req("GET", url(site, 3)).json()
    r = admin.req("PUT", url(site, 3), json=body)
    assert r.status_code == 422, r.text
    assert says in r.text
    assert admin.req("GET", url(site, 3)).json() == before


def test_settings_rights(site: AnalyticsSite) -> None:
    u = site.users
    assert u["viewer_a"].req("GET", url(site, 1)).status_code == 200  # an odd camera: it may see it
    assert u["viewer_a"].req("GET", url(site, 2)).status_code == 404  # an even one: not even there
    assert u["viewer_a"].req("PUT", url(site, 1), json={}).status_code == 403
    assert u["operator"].req("PUT", url(site, 1), json={}).status_code == 403  # no manage_cameras
    assert u["admin"].req("GET", "/api/v1/cameras/2147483000/analytics").status_code == 404
    assert u["admin"].req("PUT", "/api/v1/cameras/2147483000/analytics", json={}).status_code == 404
    assert site.ronda.anon("GET", url(site, 1)).status_code == 401


def test_status_without_analytics_running_says_off(site: AnalyticsSite) -> None:
    """This server records nothing (analytics runs with the recorder): the status says so, for admins only."""
    st = site.users["admin"].req("GET", url(site, 1) + "/status")
    assert st.status_code == 200 and st.json()["state"] == "off" and st.json()["camera"] == site.cams[1]
    assert site.users["operator"].req("GET", url(site, 1) + "/status").status_code == 403
    assert site.users["admin"].req("GET", "/api/v1/cameras/2147483000/analytics/status").status_code == 404


@pytest.fixture(scope="module")
def motion(site: AnalyticsSite) -> dict[str, int]:
    """Camera 1: motion top left at T0+10..T0+14 and T0+100 (a new minute), always bottom right."""
    cam = site.cams[1]
    rows = [MotionSecond(cam, T0 + t, pack_cells({(0, 0), (15, 8)}), 30) for t in range(10, 15)]
    rows += [MotionSecond(cam, T0 + 100, pack_cells({(1, 1)}), 80)]
    rows += [MotionSecond(cam, T0 + t, pack_cells({(15, 8)}), 5) for t in range(0, 180) if not 10 <= t < 15]
    with site.db.session() as s:
        repo.add_motion(s, rows)
    return {"camera": cam}


def test_motion_search_over_http(site: AnalyticsSite, motion: dict[str, int]) -> None:
    admin = site.users["admin"]
    q = {"camera": motion["camera"], "start": iso(T0 * 1000), "end": iso((T0 + 180) * 1000), "region": "0,0,0.25,0.33"}
    r = admin.req("GET", "/api/v1/search/motion", params=q)
    assert r.status_code == 200, r.text
    assert r.json() == {"hits": [
        {"start": iso((T0 + 10) * 1000), "end": iso((T0 + 15) * 1000), "score": round(1 / 12, 4)},
        {"start": iso((T0 + 100) * 1000), "end": iso((T0 + 101) * 1000), "score": round(1 / 12, 4)},
    ]}  # fmt: skip
    assert admin.req("GET", "/api/v1/search/motion", params={**q, "min_cells": 2}).json() == {"hits": []}
    assert len(admin.req("GET", "/api/v1/search/motion", params={**q, "region": "0.9,0.9,1,1"}).json()["hits"]) == 1
    assert site.users["viewer_a"].req("GET", "/api/v1/search/motion", params=q).status_code == 200  # odd: playback


@pytest.mark.parametrize(
    ("change", "status", "says"),
    [
        ({"region": "0,0,1"}, 422, "four numbers"),
        ({"region": "0.5,0,0.2,1"}, 422, "x0 < x1"),
        ({"region": "0,0,1,1.5"}, 422, "<= 1"),
        ({"region": "a,b,c,d"}, 422, "four numbers"),
        ({"region": "nan,0,1,1"}, 422, "four numbers"),
        ({"end": iso((T0 + 40 * 86_400) * 1000)}, 422, "at most 31 days"),
        ({"end": iso((T0 - 10) * 1000)}, 422, "end must be after start"),
        ({"start": "yesterday"}, 422, "ISO 8601"),
        ({"camera": 2147483000}, 404, "not found"),
        ({"camera": 0}, 422, "camera"),
    ],
)
def test_motion_search_refuses_bad_input(site: AnalyticsSite, motion: dict[str, int], change: dict[str, Any],
                                         status: int, says: str) -> None:  # fmt: skip
    q = {"camera": motion["camera"], "start": iso(T0 * 1000), "end": iso((T0 + 180) * 1000), "region": "0,0,1,1"}
    r = site.users["admin"].req("GET", "/api/v1/search/motion", params={**q, **change})
    assert r.status_code == status, r.text
    assert says in r.text


def test_motion_search_and_strip_rights(site: AnalyticsSite, motion: dict[str, int]) -> None:
    q = {"start": iso(T0 * 1000), "end": iso((T0 + 180) * 1000)}
    even = {"camera": site.cams[2], "region": "0,0,1,1", **q}
    assert site.users["viewer_a"].req("GET", "/api/v1/search/motion", params=even).status_code == 404
    assert site.users["viewer_b"].req("GET", "/api/v1/search/motion", params=even).status_code == 200
    assert site.users["viewer_b"].req("GET", url(site, 1, "motion"), params=q).status_code == 404
    assert site.ronda.anon("GET", "/api/v1/search/motion", params=even).status_code == 401


def test_motion_strip(site: AnalyticsSite, motion: dict[str, int]) -> None:
    q = {"start": iso(T0 * 1000), "end": iso((T0 + 180) * 1000), "buckets": 6}
    r = site.users["viewer_a"].req("GET", url(site, 1, "motion"), params=q)
    assert r.status_code == 200, r.text
    assert r.json() == {"start": iso(T0 * 1000), "end": iso((T0 + 180) * 1000), "bucket_ms": 30000.0,
                        "levels": [30, 5, 5, 80, 5, 5]}  # fmt: skip
    day = site.users["admin"].req("GET", url(site, 1, "motion"),
                                  params={**q, "end": iso((T0 + 86_400) * 1000), "buckets": 24}).json()  # fmt: skip
    assert day["levels"][0] == 80 and sum(day["levels"]) == 80
    assert site.users["admin"].req("GET", url(site, 1, "motion"), params={**q, "buckets": 0}).status_code == 422


@pytest.fixture(scope="module")
def objects(site: AnalyticsSite) -> dict[str, int]:
    (site.data_dir / "analytics" / "snaps").mkdir(parents=True, exist_ok=True)
    (site.data_dir / "analytics" / "snaps" / "p.jpg").write_bytes(b"\xff\xd8jpeg\xff\xd9")
    t = T0 * 1000
    with site.db.session() as s:
        person = repo.add_object(s, site.cams[1], TrackedObject(4, "person", 0.81, (0.1, 0.2, 0.3, 0.6), t + 1000,
                                 t + 9000, {"door"}), snapshot="analytics/snaps/p.jpg", event_id=None)  # fmt: skip
        car = repo.add_object(s, site.cams[2], TrackedObject(5, "car", 0.7, (0.5, 0.5, 0.9, 0.9), t + 2000, t + 4000))
        bad = repo.add_object(s, site.cams[1], TrackedObject(6, "car", 0.6, (0, 0, 1, 1), t + 3000, t + 3500),
                              snapshot="analytics/../ronda.db")  # fmt: skip
    return {"person": person, "car": car, "bad": bad}


def test_object_search_over_http(site: AnalyticsSite, objects: dict[str, int]) -> None:
    admin = site.users["admin"]
    q = {"start": iso(T0 * 1000), "end": iso((T0 + 60) * 1000)}
    r = admin.req("GET", "/api/v1/search/objects", params=q)
    assert r.status_code == 200, r.text
    assert [o["id"] for o in r.json()] == [objects["bad"], objects["car"], objects["person"]]  # newest first
    person = next(o for o in r.json() if o["id"] == objects["person"])
    assert person == {"id": objects["person"], "camera": site.cams[1], "track": 4, "class": "person", "score": 0.81,
                      "first": iso(T0 * 1000 + 1000), "last": iso(T0 * 1000 + 9000), "box": [0.1, 0.2, 0.3, 0.6],
                      "zones": ["door"], "event": None,
                      "snapshot": f"/api/v1/analytics/objects/{objects['person']}/snapshot.jpg"}  # fmt: skip
    cars = admin.req("GET", "/api/v1/search/objects", params={**q, "class": "car"}).json()
    assert {o["id"] for o in cars} == {objects["car"], objects["bad"]}
    only = admin.req("GET", "/api/v1/search/objects", params={**q, "class": "car", "camera": site.cams[2]}).json()
    assert [o["id"] for o in only] == [objects["car"]]
    door = admin.req("GET", "/api/v1/search/objects", params={**q, "zone": "door"}).json()
    assert [o["id"] for o in door] == [objects["person"]]
    assert len(admin.req("GET", "/api/v1/search/objects", params={**q, "limit": 1}).json()) == 1
    # organisation scope: without a camera, only what the caller may play back; a camera it may not see: 404
    assert [o["id"] for o in site.users["viewer_b"].req("GET", "/api/v1/search/objects", params=q).json()] == [
        objects["car"]]  # fmt: skip
    assert site.users["viewer_b"].req("GET", "/api/v1/search/objects",
                                      params={**q, "camera": site.cams[1]}).status_code == 404  # fmt: skip
    for bad in ({"camera": "1,x"}, {"camera": "0"}, {"end": iso((T0 + 32 * 86_400) * 1000)}, {"limit": 0}):
        assert admin.req("GET", "/api/v1/search/objects", params={**q, **bad}).status_code == 422, bad


def test_object_snapshots(site: AnalyticsSite, objects: dict[str, int]) -> None:
    path = f"/api/v1/analytics/objects/{objects['person']}/snapshot.jpg"
    r = site.users["viewer_a"].req("GET", path)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content == b"\xff\xd8jpeg\xff\xd9"
    assert site.users["viewer_b"].req("GET", path).status_code == 404  # camera 1 is not viewer_b's
    # a stored path outside DATA/analytics is never served
    assert site.users["admin"].req("GET", f"/api/v1/analytics/objects/{objects['bad']}/snapshot.jpg").status_code == 404
    assert site.users["admin"].req("GET", "/api/v1/analytics/objects/999999/snapshot.jpg").status_code == 404


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("9999-12-31T22:00:00-14:00", "9999-12-31T23:59:59-14:00"),
        ("1969-12-31T20:00:00Z", "1969-12-31T22:00:00Z"),
        ("9998-12-30T00:00:00Z", "9998-12-31T00:00:00Z"),  # far but in range: answered, empty
    ],
)
def test_dates_at_the_edges(site: AnalyticsSite, motion: dict[str, int], start: str, end: str) -> None:
    admin, cam = site.users["admin"], motion["camera"]
    ok = start.startswith("9998")
    for path, params in (
        ("/api/v1/search/motion", {"camera": cam, "region": "0,0,1,1"}),
        (url(site, 1, "motion"), {"buckets": 10}),
        ("/api/v1/search/objects", {}),
    ):
        r = admin.req("GET", path, params={**params, "start": start, "end": end})
        assert r.status_code == (200 if ok else 422), (path, r.status_code, r.text)
