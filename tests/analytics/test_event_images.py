"""An analytics event's extra images (before/after): stored by the service next to the event's snapshot,
named in its payload, and served by ``GET /api/v1/events/{id}/snapshot.jpg?image=NAME`` with the
snapshot's rights (a real ``ronda serve``, tests/analytics/server.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ronda.analytics.pipeline import EventOut
from ronda.analytics.service import AnalyticsService, image_path
from ronda.config import AnalyticsConfig
from ronda.store.db import Database
from ronda.store.models import Event
from tests.analytics.server import AnalyticsSite, analytics_site

T = 1_790_000_000_000
JPEGS = {"main": b"\xff\xd8main\xff\xd9", "before": b"\xff\xd8before\xff\xd9", "after": b"\xff\xd8after\xff\xd9"}


def _service(db: Database, data_dir: Path) -> AnalyticsService:
    return AnalyticsService(AnalyticsConfig(), db, data_dir / "recordings", data_dir)


def test_images_are_stored_next_to_the_snapshot_and_named_in_the_payload(db: Database, tmp_path: Path) -> None:
    svc = _service(db, tmp_path)
    ev = EventOut("graffiti.detected", T, {"zone": "wall"}, (0.1, 0.2, 0.3, 0.4), JPEGS["main"], "warning",
                  {"before": JPEGS["before"], "after": JPEGS["after"]})  # fmt: skip
    row = svc._event_row(3, ev)
    assert row is not None and row["payload"]["images"] == ["after", "before"]
    snap = row["snapshot"]
    assert snap.startswith("analytics/snapshots/3/") and (tmp_path / snap).read_bytes() == JPEGS["main"]
    for name in ("before", "after"):
        assert (tmp_path / image_path(snap, name)).read_bytes() == JPEGS[name]
    # the same event again in the same millisecond: its own files, not the first one's
    again = svc._event_row(3, ev)
    assert again is not None and again["snapshot"] != snap
    assert (tmp_path / image_path(again["snapshot"], "before")).read_bytes() == JPEGS["before"]


def test_images_without_a_snapshot_and_bad_names(db: Database, tmp_path: Path) -> None:
    svc = _service(db, tmp_path)
    two = {"before": JPEGS["before"], "after": JPEGS["after"]}
    only = svc._event_row(1, EventOut("tamper.moved", T, {}, images=two))
    assert only is not None and only["payload"]["images"] == ["after", "before"]
    assert (tmp_path / only["snapshot"]).read_bytes() == JPEGS["before"]  # the last image by name shows as snapshot
    for bad in ({"../x": JPEGS["before"]}, {"Before": JPEGS["before"]}, {f"i{n}": b"\xff\xd8" for n in range(5)}):
        row = svc._event_row(1, EventOut("tamper.moved", T, {}, None, JPEGS["main"], images=bad))
        assert row is not None and "images" not in row["payload"] and (tmp_path / row["snapshot"]).is_file(), bad
        assert sorted(p.name for p in (tmp_path / row["snapshot"]).parent.iterdir() if ".." in p.name) == []


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> AnalyticsSite:
    with analytics_site(tmp_path_factory.mktemp("eventimages")) as s:
        yield s


def _stored(site: AnalyticsSite, camera: int, images: list[str], snapshot: str | None) -> int:
    if snapshot is not None and snapshot.startswith("analytics/"):
        path = site.data_dir / snapshot
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(JPEGS["main"])
        for name in images:
            (site.data_dir / image_path(snapshot, name)).write_bytes(JPEGS[name])
    with site.db.session() as s:
        row = Event(time_ms=T, type="graffiti.detected", source="analytics", severity="warning", camera_id=camera,
                    payload={"zone": "wall", "images": images}, snapshot=snapshot)  # fmt: skip
        s.add(row)
        s.flush()
        return int(row.id)


def test_the_endpoint_serves_the_snapshot_and_its_images_with_the_snapshots_rights(site: AnalyticsSite) -> None:
    cam1 = site.cams[1]
    eid = _stored(site, cam1, ["after", "before"], f"analytics/snapshots/{cam1}/2026/09/21/{T}-graffiti.detected.jpg")
    path = f"/api/v1/events/{eid}/snapshot.jpg"
    viewer = site.users["viewer_a"]  # playback on the odd cameras
    r = viewer.req("GET", path)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content == JPEGS["main"]
    for name in ("before", "after"):
        r = viewer.req("GET", path, params={"image": name})
        assert r.status_code == 200 and r.content == JPEGS[name], name
    assert viewer.req("GET", path, params={"image": "during"}).status_code == 404  # not one of its images
    assert viewer.req("GET", path, params={"image": "../../ronda"}).status_code == 422
    assert site.users["viewer_b"].req("GET", path).status_code == 404  # camera 1 is not viewer_b's
    assert site.users["viewer_b"].req("GET", path, params={"image": "before"}).status_code == 404
    # an event without a snapshot, one stored outside DATA/analytics, one that does not exist
    bare = _stored(site, cam1, [], None)
    assert viewer.req("GET", f"/api/v1/events/{bare}/snapshot.jpg").status_code == 404
    outside = _stored(site, cam1, ["before"], "ronda.db")  # the catalog itself: a file, not under analytics/
    assert site.users["admin"].req("GET", f"/api/v1/events/{outside}/snapshot.jpg").status_code == 404
    assert site.users["admin"].req("GET", "/api/v1/events/999999/snapshot.jpg").status_code == 404
