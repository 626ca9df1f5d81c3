"""Licence plates over real HTTP against a real ``ronda serve`` (API-only: plate reads come through the
analytics service's result path in this process, on the server's own database and data directory, as
the analytics workers' results would): search (full, partial, pattern, time range, paging), the crop,
who sees which reads (organisations, the ``plates`` right, shared cameras), the audit of every search,
the lists' CRUD and scope, bad input, and a hotlisted plate raising ``plate.hotlist`` and, through a
rule, an alarm."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from ronda.store.access_models import AuditEntry
from tests.analytics.platesite import CROP, PlateSite, plate_site
from tests.helpers import iso, wait_for

T0 = int(time.time() * 1000) - 3_600_000  # an hour ago: inside the default 30 days


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlateSite]:
    with plate_site(tmp_path_factory.mktemp("plates-api")) as s:
        yield s


def search(site: PlateSite, who: str, **params: Any) -> Any:
    q = {"start": iso(T0 - 60_000), "end": iso(T0 + 3_600_000), **params}
    return site.users[who].req("GET", "/api/v1/plates", params=q)


def plates(r: Any) -> list[tuple[str, int]]:
    assert r.status_code == 200, r.text
    return [(x["plate"], x["camera"]) for x in r.json()]


@pytest.fixture(scope="module")
def reads(site: PlateSite) -> PlateSite:
    site.feed(1, "AB123CD", T0)  # A's cameras
    site.feed(2, "AB 456 EF", T0 + 60_000)
    site.feed(3, "ab123cd", T0 + 120_000)  # B's cameras
    site.feed(4, "XY789ZZ", T0 + 180_000)
    site.feed(3, "ZZ000ZZ", T0 - 86_400_000)  # a day before the searched range
    return site


def test_search_full_partial_pattern_and_time(reads: PlateSite) -> None:
    c = {n: reads.cams[n] for n in range(1, 5)}
    assert plates(search(reads, "admin", plate="AB123CD")) == [("AB123CD", c[3]), ("AB123CD", c[1])]
    assert plates(search(reads, "admin", plate="ab-123")) == [("AB123CD", c[3]), ("AB123CD", c[1])]  # partial
    assert plates(search(reads, "admin", plate="AB*EF")) == [("AB456EF", c[2])]
    assert plates(search(reads, "admin", plate="AB?23CD", camera=str(c[1]))) == [("AB123CD", c[1])]
    assert plates(search(reads, "admin", plate="XY789Z2")) == []  # no such plate
    assert plates(search(reads, "admin", plate="XY789ZZ", start=iso(T0), end=iso(T0 + 180_000))) == []  # [start, end)
    every = plates(search(reads, "admin"))
    assert len(every) == 4 and ("ZZ000ZZ", c[3]) not in every
    assert plates(search(reads, "admin", plate="ZZ0OOZZ", start=iso(T0 - 2 * 86_400_000))) == [("ZZ000ZZ", c[3])]
    # one read as the contract has it, with the crop
    r = search(reads, "admin", plate="AB456EF").json()[0]
    assert {"plate", "time", "camera", "confidence"} <= set(r) and r["time"] == iso(T0 + 60_000)
    assert r["confidence"] == 0.91 and r["box"] == [0.3, 0.6, 0.45, 0.66] and r["format"] == "it"
    crop = reads.users["admin"].req("GET", r["crop"])
    assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg" and crop.content == CROP
    # paging: newest first, then after the last one seen
    first = search(reads, "admin", limit=2).json()
    rest = search(reads, "admin", limit=2, after=first[-1]["id"]).json()
    assert [x["time"] for x in first + rest] == [iso(T0 + t) for t in (180_000, 120_000, 60_000, 0)]


def test_an_institution_sees_only_reads_of_its_cameras(reads: PlateSite) -> None:
    c = {n: reads.cams[n] for n in range(1, 5)}
    assert plates(search(reads, "pol")) == [("AB456EF", c[2]), ("AB123CD", c[1])]
    assert plates(search(reads, "pol", plate="AB123CD")) == [("AB123CD", c[1])]
    # B's users: B's cameras only, although A shares its cameras with B (video, not plates) and the role
    # grants 'plates' on them
    assert plates(search(reads, "muni")) == [("XY789ZZ", c[4]), ("AB123CD", c[3])]
    assert plates(search(reads, "muni_admin", plate="AB")) == [("AB123CD", c[3])]
    assert search(reads, "muni", camera=str(c[1])).status_code == 403  # shared: seen, plates not readable
    assert search(reads, "pol", camera=str(c[3])).status_code == 404  # not even seen
    ids = {x["camera"]: x["id"] for x in search(reads, "admin", plate="AB123CD").json()}
    assert reads.users["muni"].req("GET", f"/api/v1/plates/{ids[c[1]]}/crop.jpg").status_code == 403
    assert reads.users["pol"].req("GET", f"/api/v1/plates/{ids[c[3]]}/crop.jpg").status_code == 404
    assert reads.users["pol"].req("GET", f"/api/v1/plates/{ids[c[1]]}").json()["plate"] == "AB123CD"


def test_without_the_plates_right_nothing(reads: PlateSite) -> None:
    r = search(reads, "muni_live")
    assert r.status_code == 403 and "plates" in r.text
    assert search(reads, "muni_live", camera=str(reads.cams[3])).status_code == 403
    read = search(reads, "muni", plate="XY789ZZ").json()[0]
    assert reads.users["muni_live"].req("GET", read["crop"]).status_code == 403
    assert reads.users["muni_rules"].req("GET", "/api/v1/plates", params={"start": iso(T0), "end": iso(T0 + 1)}
                                         ).status_code == 403  # fmt: skip
    assert reads.ronda.anon("GET", "/api/v1/plates", params={"start": iso(T0), "end": iso(T0 + 1)}).status_code == 401


def test_every_search_is_audited_with_its_query(reads: PlateSite) -> None:
    before = _audit(reads, "plates.search")
    assert search(reads, "pol", plate="ab 12*").status_code == 200
    assert search(reads, "muni", plate="NOTHING").status_code == 200  # found nothing: audited all the same
    assert search(reads, "muni_live").status_code == 403
    entries = _audit(reads, "plates.search")[len(before) :]
    assert [(e.actor, e.details["plate"], e.details["key"], e.details["results"]) for e in entries] == [
        ("pol", "ab 12*", "AB12*", 1), ("muni", "NOTHING", "N0TH1NG", 0)]  # fmt: skip
    e = entries[0]
    assert e.start_ms == T0 - 60_000 and e.end_ms == T0 + 3_600_000 and e.source_ip == "127.0.0.1"
    assert e.details["cameras"] == [reads.cams[1], reads.cams[2]]


def test_every_crop_fetch_is_audited_and_needs_the_plates_right(reads: PlateSite) -> None:
    """A plate crop is the plate itself: fetching one is audited like a search (who, which read, which
    camera); without the ``plates`` right on the read's camera (of the caller's organisation) it is 403,
    and 404 for a camera the caller does not see; a refused fetch writes no ``ok`` entry."""
    c = reads.cams
    by_cam = {x["camera"]: x for x in search(reads, "admin", plate="AB123CD").json()}
    mine, theirs = by_cam[c[1]], by_cam[c[3]]  # A's camera 1, B's camera 3
    before = len(_audit(reads, "plates.crop"))
    got = reads.users["pol"].req("GET", mine["crop"])
    assert got.status_code == 200 and got.content == CROP
    assert reads.users["muni_live"].req("GET", theirs["crop"]).status_code == 403  # no 'plates' right
    assert reads.users["muni"].req("GET", mine["crop"]).status_code == 403  # shared camera: video, not plates
    assert reads.users["pol"].req("GET", theirs["crop"]).status_code == 404  # not even seen
    assert reads.ronda.anon("GET", mine["crop"]).status_code == 401
    entries = _audit(reads, "plates.crop")[before:]
    assert [(e.actor, e.result, e.camera_id, e.details["read"], e.details["event"]) for e in entries] == [
        ("pol", "ok", c[1], mine["id"], mine["event"])]  # fmt: skip
    assert entries[0].source_ip == "127.0.0.1" and entries[0].start_ms == T0


def _audit(site: PlateSite, action: str) -> list[AuditEntry]:
    with site.db.session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)))


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"plate": "A" * 33}, 422, "plate"),
        ({"plate": "A" * 17}, 422, "at most 16"),
        ({"plate": "AB%"}, 422, "letters, digits"),
        ({"plate": "**"}, 422, "at least one letter"),
        ({"end": iso(T0 + 40 * 86_400_000)}, 422, "at most 31 days"),
        ({"start": "yesterday"}, 422, "ISO 8601"),
        ({"camera": "1,x"}, 422, "camera"),
        ({"camera": "2147483000"}, 404, "not found"),
        ({"limit": 5000}, 422, "limit"),
    ],
)
def test_bad_search_input_is_a_clear_4xx(reads: PlateSite, params: dict[str, Any], status: int, says: str) -> None:
    r = search(reads, "admin", **params)
    assert r.status_code == status, r.text
    assert says in r.text


def test_lists_crud_and_organisation_scope(site: PlateSite) -> None:
    site_admin = site.users["admin"]
    muni_rules = site.users["muni_rules"]
    r = muni_rules.req("POST", "/api/v1/plate-lists", json={"name": "Residenti", "kind": "allowlist"})
    assert r.status_code == 201, r.text
    town = r.json()
    assert town["organisation"] == site.orgs["B"] and town["entries"] == 0 and town["updated_by"] == "muni_rules"
    new = {"name": "Rubate", "kind": "hotlist", "description": "stolen (national list)"}
    site_list = site_admin.req("POST", "/api/v1/plate-lists", json=new).json()
    assert site_list["organisation"] is None
    police = site_admin.req("POST", "/api/v1/plate-lists", json={"name": "Ricercate", "kind": "hotlist",
                                                                "organisation": site.orgs["A"]}).json()  # fmt: skip
    assert police["organisation"] == site.orgs["A"]
    # B sees and edits only its own (other tests of the module may have made B lists too)
    b_lists = muni_rules.req("GET", "/api/v1/plate-lists").json()
    assert "Residenti" in {x["name"] for x in b_lists} and {x["organisation"] for x in b_lists} == {site.orgs["B"]}
    assert {x["name"] for x in site_admin.req("GET", "/api/v1/plate-lists").json()} >= {
        "Residenti",
        "Rubate",
        "Ricercate",
    }
    for lst in (site_list, police):
        assert muni_rules.req("GET", f"/api/v1/plate-lists/{lst['id']}").status_code == 404
        assert muni_rules.req("PATCH", f"/api/v1/plate-lists/{lst['id']}", json={"name": "x"}).status_code == 404
        assert muni_rules.req("POST", f"/api/v1/plate-lists/{lst['id']}/entries",
                              json={"entries": [{"plate": "AA000AA"}]}).status_code == 404  # fmt: skip
        assert muni_rules.req("DELETE", f"/api/v1/plate-lists/{lst['id']}").status_code == 404
    for org in (site.orgs["A"], None):  # another organisation's list, or the site's: not B's to make
        body = {"name": "x", "kind": "hotlist", "organisation": org}
        assert muni_rules.req("POST", "/api/v1/plate-lists", json=body).status_code == 403
    assert site.users["muni"].req("GET", "/api/v1/plate-lists").status_code == 403  # no manage_rules
    # entries
    url = f"/api/v1/plate-lists/{town['id']}/entries"
    r = muni_rules.req(
        "POST",
        url,
        json={
            "entries": [
                {"plate": "zt 555 aa", "reason": "permesso 12"},
                {"plate": "ZT*", "valid_until": iso(T0 + 86_400_000 * 3)},
            ]
        },
    )
    assert r.status_code == 201, r.text
    assert [(e["plate"], e["pattern"]) for e in r.json()] == [("ZT555AA", False), ("ZT*", True)]
    again = muni_rules.req("POST", url, json={"entries": [{"plate": "ZT555AA", "reason": "permesso 13"}]}).json()
    assert again[0]["id"] == r.json()[0]["id"] and again[0]["reason"] == "permesso 13"  # replaced, not doubled
    assert [e["plate"] for e in muni_rules.req("GET", url, params={"plate": "555"}).json()] == ["ZT555AA"]
    assert muni_rules.req("GET", f"/api/v1/plate-lists/{town['id']}").json()["entries"] == 2
    assert muni_rules.req("DELETE", f"{url}/{again[0]['id']}").status_code == 204
    assert muni_rules.req("DELETE", f"{url}/{again[0]['id']}").status_code == 404
    p = muni_rules.req("PATCH", f"/api/v1/plate-lists/{town['id']}", json={"enabled": False, "description": "x"})
    assert p.status_code == 200 and p.json()["enabled"] is False
    assert muni_rules.req("DELETE", f"/api/v1/plate-lists/{town['id']}").status_code == 204
    assert muni_rules.req("GET", f"/api/v1/plate-lists/{town['id']}").status_code == 404
    actions = [(e.actor, e.action) for e in _audit(site, "plates.list.create") + _audit(site, "plates.entries.add")
               + _audit(site, "plates.entry.delete") + _audit(site, "plates.list.update")
               + _audit(site, "plates.list.delete")]  # fmt: skip
    assert ("muni_rules", "plates.list.create") in actions and ("admin", "plates.list.create") in actions
    assert actions.count(("muni_rules", "plates.entries.add")) == 2
    assert {("muni_rules", "plates.entry.delete"), ("muni_rules", "plates.list.update"),
            ("muni_rules", "plates.list.delete")} <= set(actions)  # fmt: skip


@pytest.mark.parametrize(
    ("path", "body", "status", "says"),
    [
        ("", {"name": "", "kind": "hotlist"}, 422, "name"),
        ("", {"name": "x", "kind": "wanted"}, 422, "kind"),
        ("", {"name": "x\ny", "kind": "hotlist"}, 422, "one line"),
        ("", {"name": "x", "kind": "hotlist", "colour": "red"}, 422, "colour"),
        ("", {"name": "x", "kind": "hotlist", "organisation": 999999}, 422, "no such organisation"),
        ("/entries", {"entries": []}, 422, "entries"),
        ("/entries", {"entries": [{"plate": "AB!12"}]}, 422, "entries[0].plate"),
        ("/entries", {"entries": [{"plate": "A" * 20}]}, 422, "plate"),
        ("/entries", {"entries": [{"plate": "AB123CD", "valid_until": "2001-01-01T00:00:00Z"}]}, 422, "future"),
        ("/entries", {"entries": [{"plate": "AB123CD", "valid_until": "soon"}]}, 422, "ISO 8601"),
        ("/entries", {"entries": [{"plate": f"AA{i:05d}"} for i in range(1001)]}, 422, "entries"),
    ],
)
def test_bad_list_input_is_a_clear_4xx(site: PlateSite, path: str, body: Any, status: int, says: str) -> None:
    admin = site.users["admin"]
    url = "/api/v1/plate-lists"
    if path:
        lst = admin.req("POST", url, json={"name": f"bad input {len(str(body))} {says}", "kind": "hotlist"})
        assert lst.status_code == 201, lst.text
        url = f"{url}/{lst.json()['id']}{path}"
    r = admin.req("POST", url, json=body)
    assert r.status_code == status, r.text
    assert says in r.text


def test_a_duplicate_list_name_is_409(site: PlateSite) -> None:
    admin = site.users["admin"]
    assert admin.req("POST", "/api/v1/plate-lists", json={"name": "Twice", "kind": "hotlist"}).status_code == 201
    r = admin.req("POST", "/api/v1/plate-lists", json={"name": "twice", "kind": "allowlist"})
    assert r.status_code == 409 and "exists" in r.text


def test_a_hotlisted_plate_raises_an_alarm_end_to_end(site: PlateSite) -> None:
    """A list entry made through the API, a rule on plate.hotlist, then a read fed through the analytics
    service's result path: the hotlist event (with the crop) and the alarm the rule raises."""
    admin = site.users["admin"]
    lst = admin.req("POST", "/api/v1/plate-lists", json={"name": "Stolen", "kind": "hotlist"}).json()
    r = admin.req("POST", f"/api/v1/plate-lists/{lst['id']}/entries",
                  json={"entries": [{"plate": "GH 321 KL", "reason": "rubata il 30/11"}]})  # fmt: skip
    assert r.status_code == 201, r.text
    rule = {"name": "plate hotlist", "enabled": True, "trigger": {"types": ["plate.hotlist"]},
            "actions": [{"type": "raise_alarm", "priority": "high", "title": "Hotlisted plate"}]}  # fmt: skip
    assert admin.req("POST", "/api/v1/rules", json=rule).status_code == 201
    t = int(time.time() * 1000)
    site.feed(2, "GH321KL", t, track=42)

    def hotlist_event() -> Any:
        got = admin.req("GET", "/api/v1/events", params={"camera": site.cams[2], "type": "plate.hotlist",
                                                         "since": iso(t - 1000)}).json()  # fmt: skip
        return got[0] if got else None

    ev = wait_for(hotlist_event, 15, what="the plate.hotlist event")
    assert ev["severity"] == "critical" and ev["payload"]["plate"] == "GH321KL"
    assert ev["payload"]["list"] == "Stolen" and ev["payload"]["reason"] == "rubata il 30/11"
    read = search(site, "admin", plate="GH321KL", start=iso(t - 1000), end=iso(t + 1000)).json()[0]
    assert ev["payload"]["read_event"] == read["event"] and ev["payload"]["read"] == read["id"]
    assert read["hotlist"] == lst["id"]

    def alarm() -> Any:
        found = [a for a in admin.req("GET", "/api/v1/alarms").json() if a["title"] == "Hotlisted plate"]
        return found[0] if found else None

    a = wait_for(alarm, 20, what="the alarm of the hotlist rule")
    assert a["camera"] == site.cams[2] and a["priority"] == "high" and a["state"] == "new"


# --- bulk import and export of a list ---------------------------------------------------------------------------
def _new_list(site: PlateSite, who: str, name: str, kind: str = "hotlist") -> dict[str, Any]:
    r = site.users[who].req("POST", "/api/v1/plate-lists", json={"name": name, "kind": kind})
    assert r.status_code == 201, r.text
    return r.json()


def _import(site: PlateSite, who: str, list_id: int, data: bytes, **params: Any) -> Any:
    return site.users[who].req("POST", f"/api/v1/plate-lists/{list_id}/import", content=data, params=params,
                               headers={"Content-Type": "text/csv"})  # fmt: skip


def _plates_of(site: PlateSite, list_id: int) -> dict[str, str]:
    got = site.users["admin"].req("GET", f"/api/v1/plate-lists/{list_id}/entries", params={"limit": 1000})
    assert got.status_code == 200, got.text
    return {e["plate"]: e["reason"] for e in got.json()}


def test_a_hotlist_file_is_imported_line_by_line(site: PlateSite) -> None:
    """A police hotlist as a file: header, ';' separators, plates as people write them, bad lines
    reported with their line number and reason, plates already on the list counted, not doubled."""
    lst = _new_list(site, "admin", "Rubate (file)")
    assert _import(site, "admin", lst["id"], b"AB123CD\n").json()["added"] == 1  # already there below
    data = (
        "Targa;Nota\n"  # 1: header
        "ab 123 cd;furto 2/12\n"  # 2: on the list already
        'EF-456-GH;"rapina; via Roma"\n'  # 3: quoted note with the separator
        "\n"  # 4: blank
        "AB!12;x\n"  # 5: not a plate
        "ZZ999ZZ\n"  # 6: no note
        "ef456gh;again\n"  # 7: the same plate as line 3
        "MI 12345*;pattern ok\n"  # 8: a pattern, as single entries allow
        f"KK111KK;{'n' * 201}\n"  # 9: note too long
        "LL222LL;a;b\n"
    ).encode()  # 10: a third column that is no date
    r = _import(site, "admin", lst["id"], data)
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["added"], got["already"]) == (3, 1)
    assert [(x["line"], x["reason"].split(":")[0]) for x in got["rejected"]] == [
        (5, "not a plate"), (7, "duplicate"), (9, "note"), (10, "valid_until")]  # fmt: skip
    assert "letters" in got["rejected"][0]["reason"] and "line 3" in got["rejected"][1]["reason"]
    assert _plates_of(site, lst["id"]) == {"AB123CD": "", "EF456GH": "rapina; via Roma", "ZZ999ZZ": "",
                                           "MI12345*": "pattern ok"}  # fmt: skip
    entry = _audit(site, "plates.list.import")[-1]
    assert entry.actor == "admin" and entry.details["list"] == lst["id"]
    assert (entry.details["added"], entry.details["already"], entry.details["rejected"]) == (3, 1, 4)


def test_a_comma_file_without_header_and_a_common_expiry(site: PlateSite) -> None:
    lst = _new_list(site, "admin", "Residenti (file)", "allowlist")
    until = iso(int(time.time() * 1000) + 86_400_000)
    data = b'\xef\xbb\xbfQR 111 ST,"permesso, 12"\r\nUV222WX,\r\nYZ333AB,scade,2099-01-01T00:00:00Z\r\n'
    r = _import(site, "admin", lst["id"], data, valid_until=until)
    assert r.status_code == 200, r.text
    assert (r.json()["added"], r.json()["already"], r.json()["rejected"]) == (3, 0, [])
    entries = {e["plate"]: e for e in site.users["admin"].req("GET", f"/api/v1/plate-lists/{lst['id']}/entries"
                                                               ).json()}  # fmt: skip
    assert entries["QR111ST"]["reason"] == "permesso, 12" and entries["QR111ST"]["valid_until"] == until
    assert entries["YZ333AB"]["valid_until"] == "2099-01-01T00:00:00.000Z"  # the line's own expiry wins


def test_a_list_exports_as_csv_that_imports_again(site: PlateSite) -> None:
    lst = _new_list(site, "admin", "Export me")
    body = {"entries": [{"plate": "AB111CD", "reason": "=HYPERLINK(\"x\")"}, {"plate": "EF*", "reason": "a, b"},
                        {"plate": "GH222IJ", "valid_until": "2099-05-01T00:00:00Z"}]}  # fmt: skip
    assert site.users["admin"].req("POST", f"/api/v1/plate-lists/{lst['id']}/entries", json=body).status_code == 201
    r = site.users["admin"].req("GET", f"/api/v1/plate-lists/{lst['id']}/export.csv")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv") and "attachment" in r.headers["content-disposition"]
    lines = r.text.splitlines()
    assert lines[0] == "plate,note,valid_until"
    assert lines[1:] == ['AB111CD,"\'=HYPERLINK(""x"")",', 'EF*,"a, b",', "GH222IJ,,2099-05-01T00:00:00.000Z"]
    again = _new_list(site, "admin", "Imported back")
    r2 = _import(site, "admin", again["id"], r.content)
    assert r2.status_code == 200 and (r2.json()["added"], r2.json()["rejected"]) == (3, []), r2.text
    assert _plates_of(site, again["id"]) == _plates_of(site, lst["id"])  # the formula guard is undone
    assert _audit(site, "plates.list.export")[-1].details["list"] == lst["id"]


@pytest.mark.parametrize(
    ("data", "status", "says"),
    [
        (b"", 422, "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", 422, "not a CSV"),
        (b"\xff\xfe\x00A\x00B", 422, "not a CSV"),
        (b"<html><body>\n<p>Not a list!</p>\n</body></html>\n", 422, "no line"),
        (b"AA000AA\n" * 50_001, 422, "50000 lines"),
        (b"A" * ((1 << 20) + 1), 413, "too large"),
    ],
)
def test_a_file_that_is_no_plate_list_imports_nothing(site: PlateSite, data: bytes, status: int, says: str) -> None:
    lst = _new_list(site, "admin", f"bad file {len(data)} {says}")
    r = _import(site, "admin", lst["id"], data)
    assert r.status_code == status, r.text[:300]
    assert says in r.text
    assert _plates_of(site, lst["id"]) == {}


def test_an_import_that_overfills_the_list_imports_nothing(site: PlateSite) -> None:
    lst = _new_list(site, "admin", "Too many")
    data = "".join(f"AA{i:05d}\n" for i in range(10_001)).encode()
    r = _import(site, "admin", lst["id"], data)
    assert r.status_code == 409 and "at most 10000" in r.text, r.text[:300]
    assert _plates_of(site, lst["id"]) == {}


def test_import_and_export_follow_the_list_scope(site: PlateSite) -> None:
    site_list = _new_list(site, "admin", "Site list (scope)")
    own = _new_list(site, "muni_rules", "B list (scope)")
    assert _import(site, "muni_rules", site_list["id"], b"AB123CD\n").status_code == 404
    assert site.users["muni_rules"].req("GET", f"/api/v1/plate-lists/{site_list['id']}/export.csv").status_code == 404
    assert _import(site, "muni", own["id"], b"AB123CD\n").status_code == 403  # no manage_rules
    assert site.users["muni"].req("GET", f"/api/v1/plate-lists/{own['id']}/export.csv").status_code == 403
    assert _import(site, "muni_rules", own["id"], b"AB123CD\n").json()["added"] == 1
    assert site.users["muni_rules"].req("GET", f"/api/v1/plate-lists/{own['id']}/export.csv").text.splitlines()[1:] \
        == ["AB123CD,,"]  # fmt: skip


# --- allowlisted reads and rules ---------------------------------------------------------------------------------
def test_an_allowlisted_read_does_not_fire_generic_plate_rules(site: PlateSite) -> None:
    """Residents' cars are read like any other (stored, searchable, marked) but a generic ``plate.read``
    rule leaves them alone; a rule that wants them says ``skip_allowlisted: false``."""
    admin = site.users["admin"]
    lst = _new_list(site, "admin", "Residents (rules)", "allowlist")
    assert _import(site, "admin", lst["id"], b"RS111TU;resident\n").json()["added"] == 1
    mark = f"{time.time_ns()}"
    rules = [({"types": ["plate.read"]}, f"Any plate {mark}"),
             ({"types": ["plate.*"], "skip_allowlisted": False}, f"Every plate {mark}")]  # fmt: skip
    made = []
    for trigger, title in rules:
        rule = {"name": title, "enabled": True, "trigger": trigger,
                "actions": [{"type": "raise_alarm", "priority": "low", "title": title}]}  # fmt: skip
        r = admin.req("POST", "/api/v1/rules", json=rule)
        assert r.status_code == 201, r.text
        made.append(r.json()["id"])
    t = int(time.time() * 1000)
    site.feed(1, "RS 111 TU", t, track=77)  # allowlisted, on camera 1
    site.feed(4, "VW222XY", t + 500, track=78)  # anybody, on camera 4
    ours = {"RS111TU", "VW222XY"}

    def fired() -> dict[str, set[str]]:
        """The plates of this test's reads each rule raised an alarm for (reads other tests of the module
        feed may reach these rules too: only ours count)."""
        out: dict[str, set[str]] = {}
        for a in admin.req("GET", "/api/v1/alarms").json():
            if mark in a["title"]:
                events = admin.req("GET", f"/api/v1/alarms/{a['id']}").json()["events"]
                plates = {e["payload"].get("plate") for e in events} & ours
                out.setdefault(a["title"].split()[0], set()).update(plates)
        return out

    try:
        wait_for(lambda: fired().get("Any") == {"VW222XY"} and fired().get("Every") == ours, 20,
                 what="the alarms of the two plate rules")  # fmt: skip
        time.sleep(1.0)  # an alarm for the allowlisted read would have come with the others
        assert fired() == {"Any": {"VW222XY"}, "Every": ours}
    finally:
        for rid in made:
            admin.req("DELETE", f"/api/v1/rules/{rid}")
    ev = admin.req("GET", "/api/v1/events", params={"camera": site.cams[1], "type": "plate.read",
                                                   "since": iso(t - 1000)}).json()[0]  # fmt: skip
    assert ev["payload"]["plate"] == "RS111TU" and ev["payload"]["allowlist"] == "Residents (rules)"
    read = search(site, "admin", plate="RS111TU", start=iso(t - 1000), end=iso(t + 1000)).json()[0]
    assert read["allowlist"] == lst["id"]  # stored and searchable all the same
