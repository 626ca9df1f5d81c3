"""Bookmarks, the multi-camera timeline and the site's time zone over real HTTP against the shared site."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator

import pytest

from ronda.access.service import create_user
from ronda.store.access_models import Role
from ronda.store.db import Database
from tests.helpers import PW, Client, RondaProcess, catalog, free_port, iso, wait_for, write_config


def now_ms() -> int:
    return int(time.time() * 1000)


def recorded_window(site, name: str, seconds: int = 20) -> tuple[int, int]:
    segs = wait_for(lambda: len(catalog(site.data_dir, site.cam(name))[0]) >= 3 and catalog(site.data_dir,
                    site.cam(name))[0], 40, what="segments")  # fmt: skip
    end = segs[-1].end_ms - 500
    return end - seconds * 1000, end


def last_audit_seq(users) -> int:
    rows = users["admin"].req("GET", "/api/v1/audit", params={"limit": 1}).json()
    return int(rows[0]["seq"]) if rows else 0


def audit(users, action: str, bookmark_id: int, after_seq: int = 0) -> list[dict]:
    """The entries of one bookmark written after ``after_seq``: the id of a bookmark another test
    deleted may be given again, and that bookmark's entries name the same id."""
    rows = users["admin"].req("GET", "/api/v1/audit", params={"action": action, "limit": 1000}).json()
    return [a for a in rows if (a.get("details") or {}).get("bookmark") == bookmark_id and a["seq"] > after_seq]


def all_titles(users) -> list[str]:
    return [b["title"] for b in users["admin"].req("GET", "/api/v1/bookmarks").json()]


@pytest.fixture(scope="module")
def live_only(site, users) -> Client:
    """A user that sees every camera (live) but may not play recordings back."""
    db = Database(f"sqlite:///{site.data_dir / 'ronda.db'}")
    try:
        with db.session() as s:
            s.add(Role(name="Live only (bookmark tests)", rights=["live"], all_cameras=True))
        create_user(db, "liveonly", PW, ["Live only (bookmark tests)"])
    finally:
        db.dispose()
    return Client(site, "liveonly")


# --- bookmarks ------------------------------------------------------------------------------------------
def test_bookmark_lifecycle_timeline_rights_and_audit(site, users):
    op, va, vb = users["operator"], users["viewer_a"], users["viewer_b"]
    cid = site.cam("Camera 1")
    a, b = recorded_window(site, "Camera 1")
    body = {"camera": cid, "start": iso(a), "end": iso(b), "title": "White van at the bins",
            "note": "plate unreadable\nsecond pass at 10:02"}  # fmt: skip
    seq0 = last_audit_seq(users)
    r = op.req("POST", "/api/v1/bookmarks", json=body)
    assert r.status_code == 201, r.text
    bm = r.json()
    assert (bm["camera"], bm["start"], bm["end"], bm["created_by"]) == (cid, iso(a), iso(b), "operator")
    assert bm["note"] == body["note"] and bm["updated"] is None

    # On the timeline of that camera, at the bookmarked time, next to the recorded runs.
    params = {"cameras": str(cid), "start": iso(a - 60_000), "end": iso(b + 60_000)}
    t = va.req("GET", "/api/v1/timeline", params=params)
    assert t.status_code == 200, t.text
    marks = [x for x in t.json()["cameras"][str(cid)]["bookmarks"] if x["id"] == bm["id"]]
    assert marks and (marks[0]["start"], marks[0]["end"], marks[0]["title"]) == (iso(a), iso(b), body["title"])
    # Not in a timeline range that ends before it.
    early = {**params, "end": iso(a)}
    assert not [x for x in va.req("GET", "/api/v1/timeline", params=early).json()["cameras"][str(cid)]["bookmarks"]
                if x["id"] == bm["id"]]  # fmt: skip

    # Listing and reading: viewer_a (odd cameras, playback) sees it; viewer_b (even cameras) does not.
    assert va.req("GET", f"/api/v1/bookmarks/{bm['id']}").json()["title"] == body["title"]
    assert bm["id"] in [x["id"] for x in va.req("GET", "/api/v1/bookmarks", params={"camera": cid}).json()]
    assert vb.req("GET", f"/api/v1/bookmarks/{bm['id']}").status_code == 404
    assert bm["id"] not in [x["id"] for x in vb.req("GET", "/api/v1/bookmarks").json()]
    assert vb.req("GET", "/api/v1/bookmarks", params={"camera": cid}).status_code == 404
    # Overlap filter: a range inside the bookmark finds it, one after it does not.
    inside = {"camera": cid, "start": iso(a + 1000), "end": iso(a + 2000)}
    assert bm["id"] in [x["id"] for x in op.req("GET", "/api/v1/bookmarks", params=inside).json()]
    after = {"camera": cid, "start": iso(b), "end": iso(b + 60_000)}
    assert bm["id"] not in [x["id"] for x in op.req("GET", "/api/v1/bookmarks", params=after).json()]

    # Changing it: not a viewer (no bookmark right) nor another organisation; the author and admin may.
    assert va.req("PATCH", f"/api/v1/bookmarks/{bm['id']}", json={"title": "x"}).status_code == 403
    assert vb.req("PATCH", f"/api/v1/bookmarks/{bm['id']}", json={"title": "x"}).status_code == 404
    r = op.req(
        "PATCH", f"/api/v1/bookmarks/{bm['id']}", json={"title": "White van, plate AB123CD", "end": iso(b - 5000)}
    )
    assert r.status_code == 200, r.text
    assert r.json()["title"] == "White van, plate AB123CD" and r.json()["end"] == iso(b - 5000)
    assert r.json()["updated"] is not None and r.json()["note"] == body["note"]
    assert op.req("PATCH", f"/api/v1/bookmarks/{bm['id']}", json={"end": iso(a - 1)}).status_code == 422
    assert op.req("PATCH", f"/api/v1/bookmarks/{bm['id']}", json={"title": None}).status_code == 422
    assert op.req("PATCH", f"/api/v1/bookmarks/{bm['id']}", json={"owner": "admin"}).status_code == 422
    assert op.req("PATCH", f"/api/v1/bookmarks/{bm['id']}", json={}).status_code == 422
    assert op.req("GET", f"/api/v1/bookmarks/{bm['id']}").json()["end"] == iso(b - 5000)  # refused changes left it
    assert users["admin"].req("PATCH", f"/api/v1/bookmarks/{bm['id']}", json={"note": "checked"}).status_code == 200

    # Deleting: viewer refused, author allowed; then it is gone everywhere.
    assert va.req("DELETE", f"/api/v1/bookmarks/{bm['id']}").status_code == 403
    assert op.req("DELETE", f"/api/v1/bookmarks/{bm['id']}").status_code == 204
    assert op.req("GET", f"/api/v1/bookmarks/{bm['id']}").status_code == 404
    assert op.req("DELETE", f"/api/v1/bookmarks/{bm['id']}").status_code == 404
    t = op.req("GET", "/api/v1/timeline", params=params).json()
    assert bm["id"] not in [x["id"] for x in t["cameras"][str(cid)]["bookmarks"]]

    # Every change is in the audit log, with who, which camera and the range.
    created = audit(users, "bookmark.create", bm["id"], seq0)
    assert len(created) == 1 and created[0]["actor"] == "operator" and created[0]["camera_id"] == cid
    assert (created[0]["start"], created[0]["end"]) == (iso(a), iso(b))
    updates = audit(users, "bookmark.update", bm["id"], seq0)
    assert {u["actor"] for u in updates} == {"operator", "admin"} and len(updates) == 2
    assert [u for u in updates if u["actor"] == "operator"][0]["details"]["fields"] == ["end", "title"]
    deleted = audit(users, "bookmark.delete", bm["id"], seq0)
    assert len(deleted) == 1 and deleted[0]["actor"] == "operator"
    assert users["admin"].req("GET", "/api/v1/audit/verify").json()["ok"] is True


def test_only_the_author_or_a_manager_changes_a_bookmark(site, users):
    cid = site.cam("Camera 3")
    a, b = recorded_window(site, "Camera 3", 5)
    r = users["admin"].req("POST", "/api/v1/bookmarks", json={"camera": cid, "start": iso(a), "end": iso(b),
                                                                "title": "Admin's mark"})  # fmt: skip
    assert r.status_code == 201
    bid = r.json()["id"]
    # The operator has the bookmark right on Camera 3 but is not the author and does not manage cameras.
    assert users["operator"].req("PATCH", f"/api/v1/bookmarks/{bid}", json={"title": "mine"}).status_code == 403
    assert users["operator"].req("DELETE", f"/api/v1/bookmarks/{bid}").status_code == 403
    assert users["operator"].req("GET", f"/api/v1/bookmarks/{bid}").json()["title"] == "Admin's mark"
    assert users["admin"].req("DELETE", f"/api/v1/bookmarks/{bid}").status_code == 204


@pytest.mark.parametrize(
    ("who", "camera", "status"),
    [("viewer_a", "Camera 1", 403), ("viewer_a", "Camera 2", 404), ("night", "Camera 1", 404),
     ("operator", None, 404), ("admin", None, 404)],
)  # fmt: skip
def test_creating_a_bookmark_needs_the_right_on_a_visible_camera(site, users, who, camera, status):
    a, b = recorded_window(site, "Camera 1", 5)
    cid = site.cam(camera) if camera else 99_999
    title = f"denied {who} {camera}"
    r = users[who].req(
        "POST", "/api/v1/bookmarks", json={"camera": cid, "start": iso(a), "end": iso(b), "title": title}
    )
    assert r.status_code == status, r.text
    assert title not in all_titles(users)


@pytest.mark.parametrize(
    ("patch", "needle"),
    [
        ({"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "end must be after start"),
        ({"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "end must be after start"),
        ({"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:01Z"}, "24 hours"),
        ({"start": "soon"}, "ISO 8601"),
        ({"title": "two\nlines"}, "control characters"),
        ({"title": "nul\x00byte"}, "control characters"),
        ({"title": "bell\x07"}, "control characters"),
        ({"title": "line\u2028separator"}, "control characters"),
        ({"title": "   "}, "blank"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"note": "y" * 2001}, "note"),
        ({"note": "escape \x1b[31m"}, "control characters"),
        ({"note": "lone \ud800 surrogate"}, "note"),
        ({"title": "lone \udfff surrogate"}, "title"),
        ({"author": "admin"}, "author"),
        ({"created_by": "admin"}, "created_by"),
        ({"camera": "1 OR 1=1"}, "camera"),
        ({"start": "0001-01-01T00:00:00Z", "end": "0001-01-01T01:00:00Z"}, "1970"),
    ],
)
def test_bad_bookmarks_are_refused_and_nothing_is_created(site, users, patch, needle):
    a, b = recorded_window(site, "Camera 1", 5)
    title = f"bad input {sorted(patch)} {len(str(patch))}"
    body = {"camera": site.cam("Camera 1"), "start": iso(a), "end": iso(b), "title": title, **patch}
    before = all_titles(users)
    # ASCII JSON with \u escapes: the client itself could not encode a lone surrogate as UTF-8.
    raw = json.dumps(body).encode()
    r = users["operator"].req("POST", "/api/v1/bookmarks", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert needle in r.text
    after = all_titles(users)
    assert after == before and title not in after


def test_a_missing_body_or_wrong_ids_are_client_errors(site, users):
    op = users["operator"]
    assert op.req("POST", "/api/v1/bookmarks", content=b"{not json", headers={"content-type": "application/json"}
                  ).status_code == 422  # fmt: skip
    for bad in ("0", "-1", "x", "99999999999999999999"):
        assert op.req("GET", f"/api/v1/bookmarks/{bad}").status_code in (404, 422)
    assert op.req("GET", "/api/v1/bookmarks/2147483647").status_code == 404
    assert op.req("GET", "/api/v1/bookmarks", params={"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}
                  ).status_code == 422  # fmt: skip
    assert op.req("GET", "/api/v1/bookmarks", params={"limit": 1001}).status_code == 422
    assert users["admin"].req("GET", "/api/v1/bookmarks", params={"camera": 99_999}).status_code == 404
    assert site.ronda.anon("GET", "/api/v1/bookmarks").status_code == 401


def test_bookmark_list_is_capped_newest_first(site, users):
    op, cid = users["operator"], site.cam("Camera 1")
    base = now_ms() - 3_600_000
    ids = []
    for i in range(3):
        body = {"camera": cid, "start": iso(base + i * 60_000), "end": iso(base + i * 60_000 + 10_000),
                "title": f"order {i}"}  # fmt: skip
        ids.append(op.req("POST", "/api/v1/bookmarks", json=body).json()["id"])
    params = {"camera": cid, "start": iso(base), "end": iso(base + 180_000)}
    r = op.req("GET", "/api/v1/bookmarks", params={**params, "limit": 2})
    assert [x["id"] for x in r.json()] == [ids[2], ids[1]] and r.headers.get("x-truncated") == "true"
    r = op.req("GET", "/api/v1/bookmarks", params=params)
    assert [x["id"] for x in r.json()] == ids[::-1] and "x-truncated" not in r.headers
    for i in ids:
        assert op.req("DELETE", f"/api/v1/bookmarks/{i}").status_code == 204


# --- multi-camera timeline ------------------------------------------------------------------------------
def test_timeline_of_several_recording_cameras_covers_the_recordings(site, users):
    c1, c3 = site.cam("Camera 1"), site.cam("Camera 3")
    start = int(site.started * 1000) - 60_000
    end = now_ms() + 1000
    segs = {c: catalog(site.data_dir, c)[0] for c in (c1, c3)}
    r = users["viewer_a"].req("GET", "/api/v1/timeline",
                              params={"cameras": f"{c1},{c3}", "start": iso(start), "end": iso(end)})  # fmt: skip
    assert r.status_code == 200, r.text
    t = r.json()
    assert t["timezone"] == "UTC" and t["start"] == iso(start) and t["end"] == iso(end)
    assert set(t["cameras"]) == {str(c1), str(c3)}
    assert t["resolution_ms"] >= 1000
    # Nothing of the recordings is cut; the events are, exactly when the camera has more in the range
    # than the timeline lists (other tests pour thousands of events into Camera 1).
    assert t["truncated"] is any(t["cameras"][str(c)]["truncated"] for c in segs)
    for c in segs:
        cam = t["cameras"][str(c)]
        many = events_in(site, c, start, end) > t["limits"]["events"]
        assert cam["truncated_lists"] == (["events"] if many else []), (c, cam["truncated_lists"])
        assert cam["truncated"] is many and len(cam["events"]) <= t["limits"]["events"]
    for c, rows in segs.items():
        cam = t["cameras"][str(c)]
        assert set(cam) >= {"runs", "gaps", "events", "bookmarks", "locks", "truncated"}
        runs = [(x["start"], x["end"]) for x in cam["runs"]]
        assert runs and sum(x["segments"] for x in cam["runs"]) >= len(rows)
        for seg in rows:  # every completed segment lies inside one run
            assert any(a <= iso(seg.start_ms) and iso(seg.end_ms) <= b for a, b in runs), (c, seg)
        # The recorder reported the camera online when it started recording.
        assert "camera.online" in {e["type"] for e in cam["events"]}
        assert all(start <= _ms(e["time"]) < end and e["camera"] == c for e in cam["events"])
    # UTC site: each day 24 h, covering the whole range.
    days = t["days"]
    assert days and all(d["hours"] == 24 and d["utc_offset_minutes"] == 0 for d in days)
    assert days[0]["start"] <= iso(start) and days[-1]["end"] >= iso(end)
    assert days[0]["start"].endswith("T00:00:00.000Z")


def events_in(site, camera: int, start: int, end: int) -> int:
    con = sqlite3.connect(site.data_dir / "ronda.db", timeout=30)
    try:
        sql = "SELECT count(*) FROM events WHERE camera_id = ? AND time_ms >= ? AND time_ms < ?"
        return int(con.execute(sql, (camera, start, end)).fetchone()[0])
    finally:
        con.close()


def _ms(text: str) -> int:
    from ronda.timeutil import parse_iso

    return parse_iso(text)


def test_timeline_matches_the_single_camera_timeline(site, users):
    cid = site.cam("Camera 1")
    a, b = recorded_window(site, "Camera 1", 30)
    rng = {"start": iso(a - 120_000), "end": iso(b)}  # ends in the past: no segment added between the requests
    multi = users["admin"].req("GET", "/api/v1/timeline", params={**rng, "cameras": str(cid), "resolution": 1000})
    single = users["admin"].req("GET", f"/api/v1/cameras/{cid}/timeline", params={**rng, "resolution_ms": 1000})
    multi, single = multi.json(), single.json()
    assert multi["resolution_ms"] == single["resolution_ms"] == 1000
    for key in ("runs", "gaps", "locks"):
        assert multi["cameras"][str(cid)][key] == single[key], key


def test_timeline_shows_evidence_locks(site, users):
    cid = site.cam("Camera 2")
    a, b = recorded_window(site, "Camera 2", 5)
    op = users["operator"]
    lock = op.req("POST", "/api/v1/evidence-locks", json={"camera": cid, "start": iso(a), "end": iso(b),
                                                          "reason": "timeline test"}).json()  # fmt: skip
    try:
        t = (
            users["viewer_b"]
            .req("GET", "/api/v1/timeline", params={"cameras": str(cid), "start": iso(a - 1000), "end": iso(b + 1000)})
            .json()
        )
        assert [x["id"] for x in t["cameras"][str(cid)]["locks"]] == [lock["id"]]
    finally:
        assert op.req("DELETE", f"/api/v1/evidence-locks/{lock['id']}").status_code == 204


def test_thirty_day_zoom_out_is_small(site, users):
    end = now_ms()
    ids = ",".join(str(site.cam(f"Camera {n}")) for n in range(1, 5))
    t0 = time.monotonic()
    r = users["admin"].req(
        "GET",
        "/api/v1/timeline",
        params={"cameras": ids, "start": iso(end - 30 * 86_400_000), "end": iso(end), "resolution": 1},
    )
    assert r.status_code == 200 and time.monotonic() - t0 < 5
    t = r.json()
    assert t["resolution_ms"] >= 30 * 86_400_000 // t["limits"]["runs"]  # raised: runs stay within their cap
    assert len(t["days"]) in (30, 31) and all(len(c["runs"]) <= t["limits"]["runs"] for c in t["cameras"].values())


@pytest.mark.parametrize(
    ("who", "cams", "status"),
    [
        ("viewer_a", ("Camera 1", "Camera 3"), 200),
        ("viewer_a", ("Camera 1", "Camera 2"), 404),  # one invisible camera refuses the whole request
        ("viewer_b", ("Camera 2", "Camera 4"), 200),
        ("viewer_b", ("Camera 1",), 404),
        ("night", ("Camera 1",), 404),
        ("liveonly", ("Camera 1",), 403),  # sees the camera, may not play it back
        ("admin", ("Camera 1", None), 404),  # a camera that does not exist
    ],
)
def test_timeline_rights(site, users, live_only, who, cams, status):
    client = live_only if who == "liveonly" else users[who]
    ids = ",".join(str(site.cam(c)) if c else "99999" for c in cams)
    end = now_ms()
    r = client.req("GET", "/api/v1/timeline", params={"cameras": ids, "start": iso(end - 600_000), "end": iso(end)})
    assert r.status_code == status, r.text


@pytest.mark.parametrize(
    "bad",
    [
        {"cameras": "1,x"},
        {"cameras": ""},
        {"cameras": "1;2"},
        {"cameras": ",".join(str(i) for i in range(1, 66))},
        {"start": "nope"},
        {"end": "2000-01-01T00:00:00Z"},
        {"start": "2026-01-01T00:00:00Z", "end": "2026-02-02T00:00:00Z"},
        {"resolution": 0},
        {"stream": "third"},
        {"cameras": "99999999999"},
    ],
)
def test_bad_timeline_requests(site, users, bad):
    end = now_ms()
    params = {"cameras": str(site.cam("Camera 1")), "start": iso(end - 600_000), "end": iso(end), **bad}
    r = users["admin"].req("GET", "/api/v1/timeline", params=params)
    assert r.status_code == 422, r.text


def test_site_endpoint(site, users):
    r = users["viewer_b"].req("GET", "/api/v1/site")
    assert r.status_code == 200
    body = r.json()
    assert body["timezone"] == "UTC" and body["utc_offset_minutes"] == 0 and body["name"]
    assert body["today"]["hours"] == 24
    assert site.ronda.anon("GET", "/api/v1/site").status_code == 401


# --- a site in Europe/Rome: local days of 23 and 25 hours through the API -------------------------------
@pytest.fixture(scope="module")
def rome(tmp_path_factory) -> Iterator[RondaProcess]:
    """A second, camera-less Ronda whose site time zone is Europe/Rome (the shared site runs in UTC)."""
    base = tmp_path_factory.mktemp("rome")
    port = free_port()
    cfg = write_config(base / "data", port, [], site={"name": "Comune di Roma", "timezone": "Europe/Rome"})
    proc = RondaProcess(cfg, base / "ronda.log", port)
    proc.start()
    try:
        yield proc
    finally:
        proc.close()


def test_site_timezone_days_of_23_and_25_hours(rome):
    site = rome.api("GET", "/api/v1/site").json()
    assert site["name"] == "Comune di Roma" and site["timezone"] == "Europe/Rome"
    assert site["utc_offset_minutes"] in (60, 120)
    cam = rome.api("POST", "/api/v1/cameras", json={"name": "Roof", "url": "rtsp://127.0.0.1:9/none"})
    assert cam.status_code == 201, cam.text
    cid = cam.json()["id"]

    def days(start: str, end: str) -> list[dict]:
        r = rome.api("GET", "/api/v1/timeline", params={"cameras": str(cid), "start": start, "end": end})
        assert r.status_code == 200, r.text
        assert r.json()["timezone"] == "Europe/Rome"
        return r.json()["days"]

    spring = days("2026-03-28T12:00:00Z", "2026-03-30T12:00:00Z")
    assert [(d["date"], d["hours"]) for d in spring] == [("2026-03-28", 24), ("2026-03-29", 23), ("2026-03-30", 24)]
    assert spring[1]["start"] == "2026-03-28T23:00:00.000Z" and spring[1]["end"] == "2026-03-29T22:00:00.000Z"
    assert [d["utc_offset_minutes"] for d in spring] == [60, 60, 120]
    autumn = days("2026-10-25T00:00:00Z", "2026-10-25T12:00:00Z")
    assert [(d["date"], d["hours"], d["start"], d["end"]) for d in autumn] == [
        ("2026-10-25", 25, "2026-10-24T22:00:00.000Z", "2026-10-25T23:00:00.000Z")
    ]
    # Local midnight in UTC: the range's first local day starts the evening before in UTC.
    assert days("2026-07-01T22:30:00Z", "2026-07-01T23:00:00Z") == [
        {"date": "2026-07-02", "start": "2026-07-01T22:00:00.000Z", "end": "2026-07-02T22:00:00.000Z", "hours": 24,
         "utc_offset_minutes": 120}
    ]  # fmt: skip
