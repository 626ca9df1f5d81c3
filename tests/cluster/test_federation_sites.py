"""Federation of sites (issue 15): a centre and two remote sites, three real ``ronda serve`` processes
(SQLite each) and one simulator serving cameras to both remotes.

Site A grants the centre ("hq") its group "Piazza" (2 of its 3 cameras) with live, playback, export and
alarms; site B grants its own "Piazza" to another centre and nothing to this one (a peer without grants).
The centre opens both sites' "Piazza" to its role ``viewer``, A's to ``operator`` too. A central viewer
then sees A's two Piazza cameras (live snapshot, recordings, segment bytes), never A's third camera nor
B's; a central operator exports; both audit logs record it; forged, expired, replayed or misdirected
tokens are refused by the remote; killing A shows it offline at the centre within 10 s while the centre's
own API keeps answering.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from websockets.sync.client import connect as ws_connect

from ronda.access import keys
from ronda.cluster import federation as fed
from ronda.devices.simcontrol import SimulatorProcess
from ronda.store.access_models import CameraGroup, CameraGroupMember
from ronda.store.db import Database
from tests.helpers import PW, RondaProcess, camera_ids, catalog, free_port, iso, wait_for, write_config

API = "/api/v1"


@dataclass
class Fed:
    centre: RondaProcess
    a: RondaProcess
    b: RondaProcess
    dirs: dict[str, Path]
    a_ids: dict[str, int]
    b_ids: dict[str, int]
    site_ids: dict[str, int]

    def user(self, name: str) -> dict[str, str]:
        token = self.centre.login(name, PW)
        return {"Authorization": f"Bearer {token}"}

    def centre_key(self) -> Ed25519PrivateKey:
        return keys.ed25519_key(self.dirs["centre"] / "keys" / fed.KEY_FILE)


def _add_user(proc: RondaProcess, name: str, role: str) -> None:
    subprocess.run([sys.executable, "-m", "ronda.cli", "user", "add", name, "--role", role, "--config",
                    str(proc.config)], env={**os.environ, "RONDA_PASSWORD": PW}, check=True, capture_output=True,
                   timeout=120)  # fmt: skip


def _group(data_dir: Path, name: str, camera_ids: list[int]) -> None:
    db = Database(f"sqlite:///{data_dir / 'ronda.db'}")
    try:
        with db.session() as s:
            g = CameraGroup(name=name, organisation_id=None)
            s.add(g)
            s.flush()
            for c in camera_ids:
                s.add(CameraGroupMember(group_id=g.id, camera_id=c))
    finally:
        db.dispose()


def _ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, (r.status_code, r.text[:300])
    return r.json() if r.content and r.headers.get("content-type", "").startswith("application/json") else r


def _online(w: Fed, name: str, want: bool = True) -> bool:
    sites = _ok(w.centre.api("GET", f"{API}/federation/sites"))
    return any(s["name"] == name and s["online"] is want for s in sites)


@pytest.fixture(scope="module")
def world(sim: SimulatorProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fed]:
    base = tmp_path_factory.mktemp("federation")
    dirs = {n: base / n for n in ("centre", "a", "b")}
    # Sub-streams: small pictures, cheap to record on a shared machine. A2 is an H.265 camera with an H.264
    # sub-stream (a browser without H.265 plays its sub-stream); A4 the other way round: an H.264 main and an
    # H.265 sub-stream (a grid tile, which tries the sub-stream first, falls back to the main one).
    cams_a = [{"name": f"A{n}", "main": {"url": sim.url(f"cam{n}", sub=True)}} for n in (1, 3)]
    cams_a.insert(1, {"name": "A2", "main": {"url": sim.url("hevc")}, "sub": {"url": sim.url("cam2", sub=True)}})
    cams_a.append({"name": "A4", "main": {"url": sim.url("cam5", sub=True)}, "sub": {"url": sim.url("hevc")}})
    cams_b = [{"name": "B1", "main": {"url": sim.url("cam4", sub=True)}}]
    procs: dict[str, RondaProcess] = {}
    for name, cams, site in (("centre", [], "hq"), ("a", cams_a, "comune-a"), ("b", cams_b, "comune-b")):
        port = free_port()
        cfg = write_config(dirs[name], port, cams, site={"name": site})
        procs[name] = RondaProcess(cfg, base / f"{name}.log", port)
    try:
        for p in procs.values():
            p.start()
        a_ids, b_ids = camera_ids(dirs["a"]), camera_ids(dirs["b"])
        _group(dirs["a"], "Piazza", [a_ids["A1"], a_ids["A2"], a_ids["A4"]])
        _group(dirs["b"], "Piazza", [b_ids["B1"]])
        centre, a, b = procs["centre"], procs["a"], procs["b"]
        _add_user(centre, "hqviewer", "viewer")
        _add_user(centre, "hqops", "operator")
        # The remote ends: A trusts the centre with its Piazza; B trusts another centre only.
        hq = _ok(centre.api("GET", f"{API}/federation/key"))
        assert hq["name"] == "hq"
        _ok(a.api("POST", f"{API}/federation/peers", json={"name": "hq", "public_key": hq["public_key"], "grants": [
            {"group": "Piazza", "rights": ["live", "playback", "export", "alarms"]}]}), 201)  # fmt: skip
        other = fed.public_key_text(Ed25519PrivateKey.generate())
        _ok(b.api("POST", f"{API}/federation/peers", json={"name": "other-hq", "public_key": other, "grants": [
            {"group": "Piazza", "rights": ["live", "playback"]}]}), 201)  # fmt: skip
        _ok(b.api("POST", f"{API}/federation/peers", json={"name": "hq", "public_key": hq["public_key"]}), 201)
        # The centre's end: both sites' Piazza for its viewers, A's for its operators too (not for its
        # administrators: the centre's own rights do not reach a remote camera unless a role is opened).
        site_ids = {}
        for name, proc, roles in (("comune-a", a, ["viewer", "operator"]), ("comune-b", b, ["viewer"])):
            key = _ok(proc.api("GET", f"{API}/federation/key"))
            assert key["name"] == name
            body = {"name": name, "url": proc.base, "public_key": key["public_key"],
                    "access": [{"group": "Piazza", "roles": roles}]}  # fmt: skip
            site_ids[name] = _ok(centre.api("POST", f"{API}/federation/sites", json=body), 201)["id"]
        w = Fed(centre, a, b, dirs, a_ids, b_ids, site_ids)
        wait_for(lambda: _online(w, "comune-a") and _online(w, "comune-b"), 15, 0.3, "sites A and B online")
        wait_for(lambda: catalog(dirs["a"], a_ids["A1"])[0], 40, what="a segment of A1")
        yield w
    finally:
        for p in procs.values():
            p.close()


def _site_a_up(w: Fed) -> None:
    """Site A running and online at the centre (the kill test restarts it: tests run in any order)."""
    wait_for(lambda: _online(w, "comune-a"), 20, 0.3, "site A online at the centre")


def test_a_central_user_sees_only_the_granted_group(world: Fed) -> None:
    w = world
    _site_a_up(w)
    sites = _ok(httpx.get(w.centre.base + f"{API}/federation/cameras", headers=w.user("hqviewer"), timeout=30))
    by_name = {s["name"]: s for s in sites}
    assert by_name["comune-a"]["online"] is True
    assert sorted(c["name"] for c in by_name["comune-a"]["cameras"]) == ["A1", "A2", "A4"]
    for c in by_name["comune-a"]["cameras"]:
        assert c["groups"] == ["Piazza"]
        assert c["rights"] == ["live", "playback"]  # A grants export and alarms too; a viewer has neither
        # what A records of it (a grid tile asks for "sub" only when listed)
        assert c["streams"] == (["main", "sub"] if c["name"] in ("A2", "A4") else ["main"]), c
    # B grants this centre nothing, whatever the centre opens.
    assert by_name["comune-b"] == {"id": w.site_ids["comune-b"], "name": "comune-b", "online": True, "cameras": []}
    # An operator of the centre gets what A grants (its role has it all); the centre's administrator, whose
    # role is opened to no remote group, nothing.
    ops = _ok(httpx.get(w.centre.base + f"{API}/federation/cameras", headers=w.user("hqops"), timeout=30))
    assert [c["rights"] for c in ops[0]["cameras"]] == [["live", "playback", "export", "alarms"]] * 3
    assert _ok(w.centre.api("GET", f"{API}/federation/cameras")) == []
    # A's other camera and B's camera cannot be reached through the centre.
    h = w.user("hqviewer")
    sid_a, sid_b = w.site_ids["comune-a"], w.site_ids["comune-b"]
    for path in (f"/federation/sites/{sid_a}/cameras/{w.a_ids['A3']}/snapshot",
                 f"/federation/sites/{sid_b}/cameras/{w.b_ids['B1']}/snapshot",
                 f"/federation/sites/{sid_a}/cameras/{w.a_ids['A3']}/recordings?start=2026-01-01T00:00:00Z&end=2026-01-01T01:00:00Z"):  # noqa: E501  # fmt: skip
        r = httpx.get(w.centre.base + API + path, headers=h, timeout=30)
        assert r.status_code == 404, (path, r.status_code, r.text)
    r = w.centre.api("GET", f"{API}/federation/sites/{sid_a}/cameras/{w.a_ids['A1']}/snapshot")
    assert r.status_code == 404, r.text


def test_live_and_playback_through_the_centre_audited_on_both_sides(world: Fed) -> None:
    w = world
    _site_a_up(w)
    h = w.user("hqviewer")
    sid, cam = w.site_ids["comune-a"], w.a_ids["A1"]
    base = f"{w.centre.base}{API}/federation/sites/{sid}/cameras/{cam}"

    def snapshot() -> bytes | None:
        r = httpx.get(f"{base}/snapshot", headers=h, timeout=30)
        return r.content if r.status_code == 200 else None

    jpeg = wait_for(snapshot, 30, 0.5, "a snapshot of A1 through the centre")
    assert jpeg[:2] == b"\xff\xd8"
    # Live HLS through the centre: the playlist names its parts relatively, and they are the centre's.
    r = httpx.get(f"{base}/live/main/index.m3u8", headers=h, timeout=60)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.apple.mpegurl"), r.text
    lines = r.text.splitlines()
    init = next(ln.split('"')[1] for ln in lines if ln.startswith("#EXT-X-MAP"))
    part = next(ln for ln in lines if ln.endswith(".m4s"))
    r = httpx.get(f"{base}/live/main/{init}", headers=h, timeout=30)
    assert r.status_code == 200 and r.content[4:8] == b"ftyp"
    r = httpx.get(f"{base}/live/main/{part}", headers=h, timeout=30)
    assert r.status_code == 200 and r.headers["content-type"] == "video/iso.segment" and b"moof" in r.content[:64]
    other = f"{w.centre.base}{API}/federation/sites/{sid}/cameras/{w.a_ids['A3']}/live/main/index.m3u8"
    assert httpx.get(other, headers=h, timeout=30).status_code == 404
    now = int(time.time() * 1000)
    rec = _ok(httpx.get(f"{base}/recordings", params={"start": iso(now - 600_000), "end": iso(now)}, headers=h,
                        timeout=30))  # fmt: skip
    assert rec["camera"] == cam and rec["segments"], rec
    seg = rec["segments"][0]
    r = httpx.get(f"{base}/segments/{seg['id']}.mp4", headers=h, timeout=30)
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    assert len(r.content) == seg["bytes"] and r.content[4:8] == b"ftyp"
    assert hashlib.sha256(r.content).hexdigest() == seg["sha256"]  # the file A catalogued, byte for byte
    # It went through the centre's disk (spooled, checked against A's signature, sent), and is gone from it.
    spool = w.dirs["centre"] / "spool"
    assert wait_for(lambda: spool.is_dir() and not list(spool.glob("*")), 10, 0.2, "the spool emptied")
    # The centre's audit names its user; the remote's names the site and the user the token carried.
    mine = _ok(w.centre.api("GET", f"{API}/audit", params={"actor": "hqviewer", "limit": 1000}))
    acts = {e["action"] for e in mine}
    assert {"federation.live.snapshot", "federation.playback.recordings", "federation.playback.segment"} <= acts
    assert all(e["details"]["site"] == "comune-a" for e in mine if e["action"].startswith("federation."))
    theirs = _ok(w.a.api("GET", f"{API}/audit", params={"actor": "hqviewer@hq", "limit": 1000}))
    acts = {(e["action"], e["camera_id"]) for e in theirs}
    assert {
        ("federation.live.snapshot", cam),
        ("federation.live.start", cam),
        ("federation.playback.segment", cam),
    } <= acts
    assert all(e["details"]["peer"] == "hq" and e["details"]["user"] == "hqviewer" for e in theirs)


def test_an_export_of_a_remote_camera_made_there_fetched_through_the_centre(world: Fed) -> None:
    """An operator of the centre asks A for an evidence package of A1: A makes and signs it, the centre
    hands it over; a viewer (no export right at the centre) is refused, and nobody else's job is found."""
    w = world
    _site_a_up(w)
    ops, viewer = w.user("hqops"), w.user("hqviewer")
    sid, cam = w.site_ids["comune-a"], w.a_ids["A1"]
    base = f"{w.centre.base}{API}/federation/sites/{sid}/exports"
    now = int(time.time() * 1000)
    segs, _ = catalog(w.dirs["a"], cam)
    span = {"start": iso(segs[0].start_ms), "end": iso(min(segs[-1].end_ms, now)), "reason": "federation test"}
    r = httpx.post(base, json={"camera": cam, **span}, headers=viewer, timeout=30)
    assert r.status_code == 403, r.text
    r = httpx.post(base, json={"camera": w.a_ids["A3"], **span}, headers=ops, timeout=30)
    assert r.status_code == 404, r.text
    job = _ok(httpx.post(base, json={"camera": cam, **span}, headers=ops, timeout=30), 202)

    def done() -> dict[str, Any] | None:
        j = _ok(httpx.get(f"{base}/{job['id']}", headers=ops, timeout=30))
        assert j["status"] in ("running", "done"), j
        return j if j["status"] == "done" else None

    finished = wait_for(done, 60, 0.5, "the remote export")
    assert finished["download"] == f"/api/v1/federation/sites/{sid}/exports/{job['id']}/download"
    r = httpx.get(w.centre.base + finished["download"], headers=ops, timeout=60)
    assert r.status_code == 200 and r.content[:2] == b"PK" and len(r.content) == finished["bytes"], r.status_code
    # Spooled to the centre's disk on the way (not held in memory), and gone once sent.
    assert wait_for(lambda: not list((w.dirs["centre"] / "spool").glob("*")), 10, 0.2, "the spool emptied")
    assert (w.dirs["centre"] / "spool").is_dir()
    # Signed at A with A's evidence key: `ronda verify` with A's published key accepts it.
    pkg, pem = w.dirs["centre"].parent / "remote-export.zip", w.dirs["centre"].parent / "a-site.pem"
    pkg.write_bytes(r.content)
    key = subprocess.run([sys.executable, "-m", "ronda.cli", "keys", "public", "--config", str(w.a.config)],
                         capture_output=True, check=True, timeout=60)  # fmt: skip
    pem.write_bytes(key.stdout)
    verify = subprocess.run([sys.executable, "-m", "ronda.cli", "verify", str(pkg), "--pubkey", str(pem)],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # Another central user does not find it (the remote keeps each central user's jobs apart).
    assert httpx.get(f"{base}/{job['id']}", headers=viewer, timeout=30).status_code == 404
    assert httpx.get(w.centre.base + finished["download"], headers=viewer, timeout=30).status_code == 404
    # Audited at both ends.
    mine = {e["action"] for e in _ok(w.centre.api("GET", f"{API}/audit", params={"actor": "hqops", "limit": 1000}))}
    assert {"federation.export.start", "federation.export.download"} <= mine
    theirs = _ok(w.a.api("GET", f"{API}/audit", params={"actor": "hqops@hq", "limit": 1000}))
    assert {"federation.export.start", "federation.export.download", "export"} <= {e["action"] for e in theirs}


@contextmanager
def _rule_at_a(w: Fed, kind: str, title: str) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """A rule at A raising an alarm per camera for each event of type ``kind``; yields its alarms as A lists
    them. After: those still open are closed, the rule deleted."""
    rule = {"name": f"fed {kind}", "trigger": {"types": [kind]}, "actions": [{"type": "raise_alarm",
            "title": title, "incident": "{rule}:{camera}", "dedupe_window_s": 0}]}  # fmt: skip
    rid = _ok(w.a.api("POST", f"{API}/rules", json=rule), 201)["id"]

    def mine() -> list[dict[str, Any]]:
        return [a for a in _ok(w.a.api("GET", f"{API}/alarms")) if a["rule"] == rid]

    try:
        yield mine
    finally:
        for a in mine():
            if a["state"] != "closed":
                w.a.api("POST", f"{API}/alarms/{a['id']}/close", json={"text": "test over"})
        w.a.api("DELETE", f"{API}/rules/{rid}")


def _raise_at_a(w: Fed, kind: str, mine: Callable[[], list[dict[str, Any]]]) -> dict[str, int]:
    """An event of ``kind`` on A1 (granted to the centre) and on A3 (not); their alarms' ids by camera name."""
    for name in ("A1", "A3"):
        _ok(w.a.api("POST", f"{API}/events", json={"type": kind, "camera": w.a_ids[name]}), 202)
    wait_for(lambda: len(mine()) == 2, 15, 0.2, "A's two alarms")
    by_camera = {a["camera"]: a["id"] for a in mine()}
    return {name: by_camera[w.a_ids[name]] for name in ("A1", "A3")}


def test_remote_alarms_of_the_granted_cameras_only(world: Fed) -> None:
    """A raises alarms on A1 (granted) and A3 (not): a central operator sees A1's, a viewer (no alarms
    right at the centre) is refused."""
    w = world
    _site_a_up(w)
    with _rule_at_a(w, "fed.alarm", "Federation alarm") as mine:
        ids = _raise_at_a(w, "fed.alarm", mine)
        url = f"{w.centre.base}{API}/federation/sites/{w.site_ids['comune-a']}/alarms"
        got = _ok(httpx.get(url, headers=w.user("hqops"), timeout=30))
        assert [a["id"] for a in got if a["id"] in ids.values()] == [ids["A1"]], got
        assert httpx.get(url, headers=w.user("hqviewer"), timeout=30).status_code == 403
        theirs = _ok(w.a.api("GET", f"{API}/audit", params={"actor": "hqops@hq", "action": "federation.alarms.list"}))
        assert theirs


class _Socket:
    """A central user's events WebSocket (``/api/v1/ws``), its messages collected by a thread."""

    def __init__(self, w: Fed, user: str) -> None:
        ticket = _ok(httpx.post(f"{w.centre.base}{API}/ws-ticket", headers=w.user(user), timeout=30))["ticket"]
        url = w.centre.base.replace("http://", "ws://") + f"{API}/ws?ticket={ticket}"
        self.ws = ws_connect(url, open_timeout=10).__enter__()
        self.messages: list[tuple[float, dict[str, Any]]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            while True:
                text = self.ws.recv()
                self.messages.append((time.monotonic(), json.loads(text)))
        except Exception:
            return

    def remote(self) -> list[tuple[float, dict[str, Any]]]:
        return [(t, m) for t, m in self.messages if m.get("kind") == "remote_alarm"]

    def __enter__(self) -> _Socket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.ws.close()


def test_remote_alarm_changes_are_pushed_to_the_central_users_who_may_see_them(world: Fed) -> None:
    """A raises alarms on A1 (granted with alarms) and A3 (not granted): the centre's operator hears of A1's
    over the centre's WebSocket within seconds (A pushes it), never of A3's; a viewer (no alarms right)
    hears of neither. A change made at A (closing it) is pushed too. A stopping is not held up by the open
    stream, and once restarted it is followed again."""
    w = world
    _site_a_up(w)
    sid = w.site_ids["comune-a"]
    with _rule_at_a(w, "fed.push", "Pushed to the centre") as mine, _Socket(w, "hqops") as ops, \
            _Socket(w, "hqviewer") as viewer:  # fmt: skip
        time.sleep(1.0)  # both sockets registered with the centre's feed
        sent = time.monotonic()
        a1 = _raise_at_a(w, "fed.push", mine)["A1"]
        created = lambda: [(t, m) for t, m in ops.remote() if m.get("alarm") == a1]  # noqa: E731
        wait_for(lambda: created(), 10, 0.05, "A1's alarm pushed to the operator")
        t, m = created()[0]
        assert (m["site"], m["camera"], m["change"], m["state"]) == (sid, w.a_ids["A1"], "created", "new"), m
        print(f"pushed to the centre's operator {t - sent:.2f} s after the event was posted at A")
        assert t - sent < 5.0  # pushed: the fallback reads are every 30 s
        _ok(w.a.api("POST", f"{API}/alarms/{a1}/close", json={"text": "closed at A"}))
        wait_for(lambda: any(m.get("change") == "close" for _, m in created()), 10, 0.05, "A1's close pushed")
        time.sleep(1.0)
        cams = {m.get("camera") for _, m in ops.remote() if "camera" in m}
        assert cams == {w.a_ids["A1"]}, ops.remote()  # never A3's
        assert viewer.remote() == [], viewer.remote()
        assert all(m.get("site") == sid for _, m in ops.remote())
        # A stops (SIGTERM) while the centre follows it: the open stream does not hold its shutdown (uvicorn's
        # graceful wait is 5 s); restarted, it is followed again (the operator is told to read it again).
        t = time.monotonic()
        w.a.terminate()
        stopped_in = time.monotonic() - t
        print(f"site A stopped in {stopped_in:.2f} s with the centre's alarm stream open")
        assert stopped_in < 4.5
        before = len(ops.remote())
        w.a.start()
        _site_a_up(w)
        wait_for(lambda: any(m.get("resync") for _, m in ops.remote()[before:]), 15, 0.1, "a resync after A's restart")


def test_a_central_operator_handles_a_remote_alarm_at_its_site(world: Fed) -> None:
    """The centre's operator takes, comments and closes A1's alarm from the centre: A's alarm changes, owned
    by ``hqops@hq`` and audited at both ends; A3's alarm (not granted) is not found, nor A1's when the centre
    does not list A1 among its user's cameras, a viewer is refused,
    ``assign`` is not offered, a close without a reason is refused, and a closed alarm cannot be closed again."""
    w = world
    _site_a_up(w)
    with _rule_at_a(w, "fed.handle", "Handled from the centre") as mine:
        ids = _raise_at_a(w, "fed.handle", mine)
        a1, a3 = ids["A1"], ids["A3"]
        site = f"{w.centre.base}{API}/federation/sites/{w.site_ids['comune-a']}/alarms"

        def act(alarm: int, action: str, who: str = "hqops", **body: Any) -> httpx.Response:
            return httpx.post(f"{site}/{alarm}/{action}", headers=w.user(who), json=body or None, timeout=30)

        # The site allows only what the centre allows its user too (the camera list signed into the request):
        # a centre asking for A1's alarm with only A2 in that list gets nothing.
        path = f"{API}/federation/peer/alarms/{a1}/comment"
        content = json.dumps({"text": "x", "cameras": [w.a_ids["A2"]]}).encode()
        token, _ = fed.sign_request(w.centre_key(), "hq", "hqops", "POST", path, content)
        r = httpx.post(w.a.base + path, content=content, timeout=30,
                       headers={fed.TOKEN_HEADER: token, "content-type": "application/json"})  # fmt: skip
        assert r.status_code == 404, r.text
        taken = _ok(act(a1, "take"))
        assert (taken["id"], taken["state"], taken["owner"], taken["owner_id"]) == (a1, "in_progress", "hqops@hq", None)
        there = _ok(w.a.api("GET", f"{API}/alarms/{a1}"))
        assert (there["state"], there["owner"]) == ("in_progress", "hqops@hq")
        _ok(act(a1, "comment", text="patrol 12 on its way"))
        assert act(a1, "close").status_code == 422  # a reason is needed
        assert act(a1, "assign", user=1).status_code == 422  # A's users are A's own
        assert act(a3, "take").status_code == 404  # not granted to the centre
        assert act(a1, "take", who="hqviewer").status_code == 403  # no alarms right at the centre
        assert act(999_999, "take").status_code == 404
        closed = _ok(act(a1, "close", text="rubbish collected"))
        assert (closed["state"], closed["close_reason"]) == ("closed", "rubbish collected")
        assert act(a1, "close", text="again").status_code == 409
        there = _ok(w.a.api("GET", f"{API}/alarms/{a1}"))
        steps = [(h["actor"], h["action"], h["text"]) for h in there["history"] if h["actor"] == "hqops@hq"]
        assert steps == [("hqops@hq", "take", ""), ("hqops@hq", "comment", "patrol 12 on its way"),
                         ("hqops@hq", "close", "rubbish collected")], there["history"]  # fmt: skip
        assert _ok(w.a.api("GET", f"{API}/alarms/{a3}"))["state"] == "new"
        # The steps name the peer and its user apart (a local user called "hqops@hq" is not them).
        assert all(h["details"].get("peer") == "hq" and h["details"].get("user") == "hqops"
                   for h in there["history"] if h["actor"] == "hqops@hq"), there["history"]  # fmt: skip
        audit = _ok(w.a.api("GET", f"{API}/audit", params={"actor": "hqops@hq", "limit": 500}))
        theirs = {e["action"] for e in audit}
        assert {"alarm.take", "alarm.comment", "alarm.close"} <= theirs, theirs
        assert all(e["details"].get("peer") == "hq" for e in audit if e["action"].startswith("alarm.")), audit
        ours = {e["action"] for e in _ok(w.centre.api("GET", f"{API}/audit", params={"actor": "hqops", "limit": 500}))}
        assert {"federation.alarm.take", "federation.alarm.comment", "federation.alarm.close"} <= ours, ours


def _signed_get(w: Fed, path: str, key: Ed25519PrivateKey | None = None, site: str = "hq",
                now: int | None = None, token_path: str | None = None) -> tuple[httpx.Response, str]:  # fmt: skip
    token, _ = fed.sign_request(key or w.centre_key(), site, "hqviewer", "GET", token_path or path, now=now)
    r = httpx.get(w.a.base + path, headers={fed.TOKEN_HEADER: token}, timeout=30)
    return r, token


def test_the_remote_refuses_forged_expired_replayed_and_misdirected_tokens(world: Fed) -> None:
    w = world
    _site_a_up(w)
    path = f"{API}/federation/peer/cameras"
    r, token = _signed_get(w, path)
    assert r.status_code == 200, r.text
    assert sorted(c["name"] for c in r.json()) == ["A1", "A2", "A4"]
    # The answer is signed with A's federation key, bound to the request's nonce.
    claims, _, _ = fed.read_claims(token)
    a_key = fed.parse_public_key(_ok(w.a.api("GET", f"{API}/federation/key"))["public_key"])
    assert fed.answer_is_signed(a_key, claims.nonce, r.content, r.headers.get(fed.SIGNATURE_HEADER))
    assert not fed.answer_is_signed(a_key, claims.nonce, r.content + b" ", r.headers.get(fed.SIGNATURE_HEADER))
    # Replayed: the same token again.
    assert httpx.get(w.a.base + path, headers={fed.TOKEN_HEADER: token}, timeout=30).status_code == 401
    # Forged: signed by a key A does not know, in the centre's name.
    assert _signed_get(w, path, key=Ed25519PrivateKey.generate())[0].status_code == 401
    # Expired (two minutes old), and valid too far ahead.
    assert _signed_get(w, path, now=int(time.time() * 1000) - 120_000)[0].status_code == 401
    assert _signed_get(w, path, now=int(time.time() * 1000) + 600_000)[0].status_code == 401
    # For another request; of a site A does not know; none at all; garbage.
    assert _signed_get(w, path, token_path=f"{API}/federation/peer/alarms")[0].status_code == 401
    assert _signed_get(w, path, site="elsewhere")[0].status_code == 401
    assert httpx.get(w.a.base + path, timeout=30).status_code == 401
    assert httpx.get(w.a.base + path, headers={fed.TOKEN_HEADER: "x" * 50}, timeout=30).status_code == 401
    # A valid token for a camera outside the granted group: not found; a user's credentials do not work.
    r, _ = _signed_get(w, f"{API}/federation/peer/cameras/{w.a_ids['A3']}/snapshot")
    assert r.status_code == 404, r.text
    admin = {"Authorization": f"Bearer {w.a.login('admin', 'admin-test-pw')}"}
    assert httpx.get(w.a.base + path, headers=admin, timeout=30).status_code == 401
    # A body other than the one signed for.
    token, _ = fed.sign_request(w.centre_key(), "hq", "hqops", "POST", f"{API}/federation/peer/exports",
                                b'{"cameras":[1]}')  # fmt: skip
    r = httpx.post(w.a.base + f"{API}/federation/peer/exports", content=b'{"cameras":[3]}',
                   headers={fed.TOKEN_HEADER: token, "content-type": "application/json"}, timeout=30)  # fmt: skip
    assert r.status_code == 401, r.text
    # Every refusal leaves A serving the next good request.
    assert _signed_get(w, path)[0].status_code == 200


def test_an_unreachable_site_is_offline_within_10_s_and_the_centre_keeps_working(world: Fed) -> None:
    w = world
    _site_a_up(w)
    h = w.user("hqviewer")
    sid, cam = w.site_ids["comune-a"], w.a_ids["A1"]
    w.a.kill9()
    try:
        killed = time.monotonic()
        wait_for(lambda: _online(w, "comune-a", want=False), 10, 0.2, "site A offline at the centre")
        assert time.monotonic() - killed < 10
        # The centre's own API answers, its remote list shows A offline with its cameras as last known.
        assert _ok(httpx.get(w.centre.base + f"{API}/cameras", headers=h, timeout=30)) == []
        sites = {s["name"]: s for s in _ok(httpx.get(w.centre.base + f"{API}/federation/cameras", headers=h,
                                                     timeout=30))}  # fmt: skip
        assert sites["comune-a"]["online"] is False
        assert sorted(c["name"] for c in sites["comune-a"]["cameras"]) == ["A1", "A2", "A4"]
        t = time.monotonic()
        r = httpx.get(f"{w.centre.base}{API}/federation/sites/{sid}/cameras/{cam}/snapshot", headers=h, timeout=30)
        assert r.status_code == 503 and time.monotonic() - t < 10, r.text
        assert _online(w, "comune-b")  # the other site is unaffected
    finally:
        w.a.start()
    _site_a_up(w)


def test_registration_refuses_bad_input(world: Fed) -> None:
    w = world
    key = fed.public_key_text(Ed25519PrivateKey.generate())
    bad = [
        ("/federation/peers", {"name": "x", "public_key": "not-a-key" * 5, "grants": []}),
        ("/federation/peers", {"name": "x", "public_key": key, "grants": [{"group": "Nope", "rights": ["live"]}]}),
        ("/federation/peers", {"name": "x", "public_key": key, "grants": [{"group": "Piazza", "rights": ["ptz"]}]}),
        ("/federation/sites", {"name": "x", "url": "ftp://example", "public_key": key}),
        ("/federation/sites", {"name": "x", "url": "http://u:p@127.0.0.1:1", "public_key": key}),
        ("/federation/sites", {"name": "x", "url": "http://127.0.0.1:1", "public_key": key,
                               "access": [{"group": "Piazza", "roles": ["no such role"]}]}),
    ]  # fmt: skip
    for path, body in bad:
        r = w.a.api("POST", API + path, json=body)
        assert r.status_code == 422, (path, body, r.status_code, r.text)
    assert w.a.api("POST", f"{API}/federation/peers", json={"name": "hq", "public_key": key}).status_code == 409

    # The CLI: the key command prints what the API shows; add-peer and add-site register either end (a
    # running centre picks a new site up at its next poll), refusing bad input in one line.
    def cli(*args: str, proc: RondaProcess) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ronda.cli", "federation", *args, "--config", str(proc.config)],
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    out = cli("key", proc=w.b)
    assert out.returncode == 0 and out.stdout.strip() == _ok(w.b.api("GET", f"{API}/federation/key"))["public_key"]
    out = cli("add-peer", "x", "--public-key", key, "--grant", "Nope=live", proc=w.b)
    assert out.returncode == 2 and "no camera group" in out.stderr and "Traceback" not in out.stderr, out
    out = cli("add-peer", "x", "--public-key", key, "--grant", "Piazza", proc=w.b)
    assert out.returncode == 2 and "GROUP=" in out.stderr and "Traceback" not in out.stderr, out
    url = f"http://127.0.0.1:{free_port()}"
    out = cli("add-site", "via-cli", "--url", url, "--public-key", key, "--access", "Piazza=viewer", proc=w.centre)
    assert out.returncode == 0, out.stderr
    try:
        polled = lambda: any(s["name"] == "via-cli" and s["checked_ms"] and not s["online"] and s["error"]  # noqa: E731
                             for s in _ok(w.centre.api("GET", f"{API}/federation/sites")))  # fmt: skip
        wait_for(polled, 10, 0.3, "the site added by the CLI, polled (and unreachable)")
    finally:
        sid = next(s["id"] for s in _ok(w.centre.api("GET", f"{API}/federation/sites")) if s["name"] == "via-cli")
        assert w.centre.api("DELETE", f"{API}/federation/sites/{sid}").status_code == 204


def _login(w: Fed, browser: Any, user: str) -> tuple[Any, Any]:
    """A Chromium page at the centre signed in as ``user``, and its console-error collector."""
    from tests.browser import ConsoleErrors

    page = browser.new_page(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    errors = ConsoleErrors(page)
    page.goto(w.centre.base + "/")
    page.get_by_test_id("login-username").fill(user)
    page.get_by_test_id("login-password").fill(PW)
    page.get_by_test_id("login-submit").click()
    page.wait_for_selector("[data-testid=logout]")
    return page, errors


# The remote viewer's live <video>: its position and the frames decoded so far.
LIVE_STATE = """() => { const v = document.querySelector('[data-testid=remote-live]');
  return v ? { t: v.currentTime, frames: v.getVideoPlaybackQuality().totalVideoFrames, hidden: v.hidden,
               state: v.closest('[data-testid=remote-viewer]').dataset.live || null } : null; }"""
PICTURE_SHOWN = """() => { const i = document.querySelector('[data-testid=remote-picture]');
  return i && !i.hidden && i.complete && i.naturalWidth > 0; }"""


def _plays(page: Any, seconds: float = 3.0) -> tuple[dict[str, Any], dict[str, Any]]:
    """The live video's state now and ``seconds`` later (once it has started)."""
    page.wait_for_function("() => { const v = document.querySelector('[data-testid=remote-live]');"
                           " return v && !v.hidden && v.readyState >= 2 && v.currentTime > 0; }",
                           timeout=40_000)  # fmt: skip
    first = page.evaluate(LIVE_STATE)
    page.wait_for_timeout(seconds * 1000)
    return first, page.evaluate(LIVE_STATE)


@pytest.mark.browser
def test_the_centre_web_client_shows_remote_cameras_by_site(world: Fed, browser: Any) -> None:
    """Real Chromium at the centre: the live view lists A's Piazza cameras under the site; one opens with
    its live video through the centre, a recorded segment plays, a viewer gets no export form, and a site
    that cannot be reached carries the offline badge."""
    w = world
    _site_a_up(w)
    dead = {"name": "comune-spenta", "url": f"http://127.0.0.1:{free_port()}",
            "public_key": fed.public_key_text(Ed25519PrivateKey.generate()),
            "access": [{"group": "Piazza", "roles": ["viewer"]}]}  # fmt: skip
    dead_id = _ok(w.centre.api("POST", f"{API}/federation/sites", json=dead), 201)["id"]
    page, errors = _login(w, browser, "hqviewer")
    try:
        page.goto(w.centre.base + "/#/live")
        page.wait_for_selector("[data-testid=remote-camera][data-remote-site=comune-a]")
        names = page.eval_on_selector_all(
            "[data-testid=remote-camera]",
            "els => els.map(e => e.dataset.remoteSite + '/'"
            " + e.querySelector('[data-testid=remote-camera-name]').textContent)",
        )
        assert sorted(names) == ["comune-a/A1", "comune-a/A2", "comune-a/A4"], names
        sites = page.eval_on_selector_all("[data-testid=remote-site] .group-name", "els => els.map(e => e.textContent)")
        assert sites == ["comune-a", "comune-b", "comune-spenta"], sites
        page.wait_for_selector("[data-testid=remote-site]:has-text('comune-spenta') [data-testid=remote-offline]")
        assert page.locator("[data-testid=remote-site]:has-text('comune-a') [data-testid=remote-offline]").count() == 0
        page.get_by_test_id("remote-camera-name").filter(has_text="A1").click()
        # Its live video through the centre: it plays, frames decoded, the picture put away.
        first, later = _plays(page)
        print(f"remote live video over 3 s: {first} -> {later}")
        assert later["t"] - first["t"] >= 2.0 and later["frames"] > first["frames"], (first, later)
        assert later["state"] == "playing" and page.get_by_test_id("remote-picture").is_hidden()
        # A viewer has no export right at the centre: no export form.
        assert page.get_by_test_id("remote-export").count() == 0
        page.locator("[data-testid=remote-segment]").first.click()
        page.wait_for_function("() => { const v = document.querySelector('[data-testid=remote-video]');"
                               " return v && v.readyState >= 2; }", timeout=20_000)  # fmt: skip
        assert errors.errors == []
    finally:
        page.close()
        w.centre.api("DELETE", f"{API}/federation/sites/{dead_id}")


# The remote viewer's recorded <video>: the segment it shows, where in it, and whether it has a picture.
RECORDED = """() => { const v = document.querySelector('[data-testid=remote-video]');
  return v && !v.hidden ? { id: Number(v.dataset.segmentId), t: v.currentTime, ready: v.readyState,
                           from: v.played.length ? v.played.start(0) : null } : null; }"""
SHOWING = f"([id, t]) => {{ const s = ({RECORDED})(); return s && s.id === id && s.ready >= 2 && s.t >= t; }}"


def _at(ms: int) -> str:
    """An instant as a datetime-local value in the centre's time zone (UTC: its site has none set)."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")


@pytest.mark.browser
def test_the_centre_web_client_plays_remote_recordings_from_a_chosen_time(world: Fed, browser: Any) -> None:
    """A central viewer goes to an instant of A1's recordings: the segment holding it plays from that
    instant, the next one follows on its own (marked as playing), and "10 min earlier" moves the window."""
    w = world
    _site_a_up(w)
    h = w.user("hqviewer")
    sid, cam = w.site_ids["comune-a"], w.a_ids["A1"]
    base = f"{w.centre.base}{API}/federation/sites/{sid}/cameras/{cam}"

    def segments() -> list[dict[str, Any]] | None:
        now = int(time.time() * 1000)
        rec = _ok(httpx.get(f"{base}/recordings", params={"start": iso(now - 600_000), "end": iso(now)}, headers=h,
                            timeout=30))  # fmt: skip
        segs = sorted(rec["segments"], key=lambda x: x["start"])
        return segs if len(segs) >= 4 else None

    segs = wait_for(segments, 60, 1, "four segments of A1")
    seg, nxt = segs[-4], segs[-3]
    start = int(datetime.fromisoformat(seg["start"]).timestamp() * 1000)
    at = _at(start + 1000)  # a second into the segment (the input has whole seconds)
    offset = (int(datetime.fromisoformat(at).replace(tzinfo=UTC).timestamp() * 1000) - start) / 1000
    page, errors = _login(w, browser, "hqviewer")
    try:
        page.goto(w.centre.base + "/#/live")
        page.locator("[data-testid=remote-camera][data-remote-site=comune-a]", has_text="A1").click()
        page.get_by_test_id("remote-at").fill(at)
        page.get_by_test_id("remote-go").click()
        page.wait_for_function(SHOWING, arg=[seg["id"], offset + 0.2], timeout=30_000)
        shown = page.evaluate(RECORDED)
        # Played from the instant asked for, not from the segment's start.
        assert shown["from"] is not None and shown["from"] >= offset - 0.1, (shown, offset)
        # The list is the ten minutes from that instant: the segment holding it first.
        ids = page.eval_on_selector_all("[data-testid=remote-segment]",
                                        "els => els.map(e => Number(e.dataset.segmentId))")  # fmt: skip
        assert ids[:3] == [seg["id"], nxt["id"], segs[-2]["id"]], (ids, segs)
        # It plays on into the next segment by itself.
        page.wait_for_function(SHOWING, arg=[nxt["id"], 0.5], timeout=30_000)
        playing = page.locator("[data-testid=remote-segment][aria-current=true]")
        assert playing.count() == 1 and playing.get_attribute("data-segment-id") == str(nxt["id"])
        assert page.get_by_test_id("remote-at").input_value() == at
        # Ten minutes earlier: the window before the instant, as the centre's API lists it.
        at_ms = int(datetime.fromisoformat(at).replace(tzinfo=UTC).timestamp() * 1000)
        page.get_by_test_id("remote-earlier").click()
        page.wait_for_function("v => document.querySelector('[data-testid=remote-at]').value === v",
                               arg=_at(at_ms - 600_000), timeout=10_000)  # fmt: skip
        before = _ok(httpx.get(f"{base}/recordings", params={"start": iso(at_ms - 600_000), "end": iso(at_ms)},
                               headers=h, timeout=30))["segments"]  # fmt: skip
        listed = page.eval_on_selector_all("[data-testid=remote-segment]",
                                           "els => els.map(e => Number(e.dataset.segmentId))")  # fmt: skip
        assert listed == [x["id"] for x in sorted(before, key=lambda x: x["start"])], (listed, before)
        assert errors.errors == []
    finally:
        page.close()


TILE_LIVE = """key => { const v = document.querySelector(`[data-testid=remote-tile][data-remote-key="${key}"] video`);
  return v && !v.hidden && v.readyState >= 2 && v.currentTime > 0
    ? { t: v.currentTime, frames: v.getVideoPlaybackQuality().totalVideoFrames } : null; }"""


def _to_grid(page: Any, key: str) -> Any:
    """The remote camera ``key`` put in the live grid by its button in the remote list: its tile, once shown."""
    page.locator(f"[data-testid=remote-camera][data-remote-key='{key}'] [data-testid=remote-to-grid]").click()
    tile = page.locator(f"[data-testid=remote-tile][data-remote-key='{key}']")
    tile.wait_for(timeout=10_000)
    return tile


def _tile_plays(page: Any, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The remote tile's live video now (once it plays) and 3 s later."""
    page.wait_for_function(TILE_LIVE, arg=key, timeout=40_000)
    first = page.evaluate(TILE_LIVE, key)
    page.wait_for_timeout(3000)
    return first, page.evaluate(TILE_LIVE, key)


@pytest.mark.browser
def test_the_centre_web_client_puts_a_remote_camera_in_the_live_grid(world: Fed, browser: Any) -> None:
    """A central viewer puts A1 in the live grid (its button in the remote list): the tile, labelled
    "comune-a · A1", plays A1's live video through the centre; after a reload it is still there and plays;
    Enter opens the remote viewer, Delete empties the tile. A3 (not granted) has no such button."""
    w = world
    _site_a_up(w)
    sid, a1 = w.site_ids["comune-a"], w.a_ids["A1"]
    key = f"r:{sid}:{a1}"
    page, errors = _login(w, browser, "hqviewer")
    try:
        page.goto(w.centre.base + "/#/live")
        placed = time.monotonic()
        tile = _to_grid(page, key)
        assert tile.get_attribute("data-index") == "0"
        assert tile.locator(".tile-name").inner_text() == "comune-a · A1"
        first, later = _tile_plays(page, key)
        print(f"remote tile over 3 s: {first} -> {later}, {time.monotonic() - placed:.1f} s after it was placed")
        assert later["t"] - first["t"] >= 2.0 and later["frames"] > first["frames"], (first, later)
        assert tile.get_attribute("data-stream") == "main"  # A records no sub-stream: the tile took the main one
        keys = page.eval_on_selector_all(
            "[data-testid=remote-to-grid]", "els => els.map(e => e.closest('li').dataset.remoteKey)"
        )
        assert sorted(keys) == sorted(f"r:{sid}:{w.a_ids[n]}" for n in ("A1", "A2", "A4")), keys  # A3: not granted
        # Kept across a reload (the grid's slots are the user's settings), and playing again.
        page.reload()
        tile.wait_for(timeout=15_000)
        first, later = _tile_plays(page, key)
        assert later["t"] - first["t"] >= 2.0, (first, later)
        tile.focus()
        page.keyboard.press("Enter")  # the remote viewer panel (recordings, export) opens
        page.get_by_test_id("remote-viewer").wait_for(timeout=10_000)
        tile.focus()
        page.keyboard.press("Delete")
        tile.wait_for(state="detached", timeout=10_000)
        assert page.locator(".live-grid .tile-empty[data-index='0']").count() == 1
        assert errors.errors == []
    finally:
        page.close()


@pytest.mark.browser
def test_h265_streams_give_way_to_h264_ones_where_the_browser_has_no_h265(world: Fed, browser: Any) -> None:
    """Headless Chromium here decodes no H.265. A2 records H.265 (main) and H.264 (sub): the viewer's main
    stream is refused as unsupported and its sub-stream plays instead; in the grid the tile takes the
    sub-stream from the start. A4 records H.264 (main) and H.265 (sub): its grid tile tries the sub-stream
    first (small pictures), is refused, and falls back to the main stream, which plays (a tile that kept
    to the refused sub-stream would show only the picture)."""
    w = world
    _site_a_up(w)
    sid, a2, a4 = w.site_ids["comune-a"], w.a_ids["A2"], w.a_ids["A4"]
    page, errors = _login(w, browser, "hqviewer")
    try:
        page.goto(w.centre.base + "/#/live")
        assert not page.evaluate("() => MediaSource.isTypeSupported('video/mp4; codecs=\"hvc1.1.6.L120.90\"')")
        page.get_by_test_id("remote-camera-name").filter(has_text="A2").click()
        first, later = _plays(page)
        print(f"A2 (H.265 main) in the viewer: {first} -> {later}")
        assert later["t"] - first["t"] >= 2.0 and later["state"] == "playing", (first, later)
        assert page.get_by_test_id("remote-viewer").get_attribute("data-stream") == "sub"
        key = f"r:{sid}:{a2}"
        tile = _to_grid(page, key)
        first, later = _tile_plays(page, key)
        assert later["t"] - first["t"] >= 2.0, (first, later)
        assert tile.get_attribute("data-stream") == "sub"
        key = f"r:{sid}:{a4}"
        tile = _to_grid(page, key)
        first, later = _tile_plays(page, key)
        print(f"A4 (H.264 main, H.265 sub) in a tile: {first} -> {later}")
        assert later["t"] - first["t"] >= 2.0 and later["frames"] > first["frames"], (first, later)
        assert (tile.get_attribute("data-stream"), tile.get_attribute("data-live")) == ("main", "playing")
        assert errors.errors == []
    finally:
        page.close()


@pytest.mark.browser
def test_the_centre_web_client_keeps_a_picture_while_the_site_is_down(world: Fed, browser: Any) -> None:
    """A1's live video plays at the centre; site A is killed: the viewer shows the offline badge and the
    last frame as its picture in place of the video; A restarted, the live video comes back by itself."""
    w = world
    _site_a_up(w)
    page, errors = _login(w, browser, "hqviewer")
    errors.expect(503)  # the centre's answer for the site while it is down
    try:
        page.goto(w.centre.base + "/#/live")
        page.locator("[data-testid=remote-camera][data-remote-site=comune-a]", has_text="A1").click()
        _plays(page, 1.0)
        assert page.get_by_test_id("remote-viewer-offline").is_hidden()
        w.a.kill9()
        killed = time.monotonic()
        try:
            page.wait_for_function("() => document.querySelector('[data-testid=remote-viewer]').dataset.live"
                                   " === 'error'", timeout=30_000)  # fmt: skip
            fell_back = time.monotonic() - killed
            page.wait_for_function(PICTURE_SHOWN, timeout=10_000)
            assert page.evaluate(LIVE_STATE)["hidden"] is True
            page.get_by_test_id("remote-viewer-offline").wait_for(timeout=15_000)
            badge = time.monotonic() - killed
            page.wait_for_selector("[data-testid=remote-site]:has-text('comune-a') [data-testid=remote-offline]")
            assert page.get_by_test_id("remote-note").is_hidden()  # a picture, not "not available"
            page.wait_for_timeout(3000)
            assert page.evaluate(PICTURE_SHOWN)  # it stays while the site is down
        finally:
            w.a.start()
        _site_a_up(w)
        back = time.monotonic()
        first, later = _plays(page, 2.0)
        print(f"site down: picture after {fell_back:.1f} s, viewer badge after {badge:.1f} s; live video again"
              f" {time.monotonic() - back - 2:.1f} s after the centre saw A online; {first} -> {later}")  # fmt: skip
        assert later["t"] > first["t"] and later["frames"] > first["frames"], (first, later)
        page.get_by_test_id("remote-viewer-offline").wait_for(state="hidden", timeout=10_000)
        assert errors.errors == [], errors.errors
    finally:
        page.close()


@pytest.mark.browser
def test_the_centre_web_client_shows_the_remote_alarms_of_granted_cameras(world: Fed, browser: Any) -> None:
    """A raises an alarm on A1 (granted) and one on A3 (not): the centre's operator sees A1's under
    "Remote sites" in the alarm view, marked comune-a, takes it (A's alarm then shows hqops@hq as owner)
    and closes it with a reason (closed at A, gone from the open list); a new alarm at A shows within
    seconds (pushed); a viewer (no alarms right) sees no remote panel."""
    w = world
    _site_a_up(w)
    page = None
    with _rule_at_a(w, "fed.browser", "Remote browser alarm") as mine:
        try:
            a1 = _raise_at_a(w, "fed.browser", mine)["A1"]
            page, errors = _login(w, browser, "hqops")
            page.goto(w.centre.base + "/#/alarms")
            item = page.locator(f"[data-testid=remote-alarm][data-alarm-id='{a1}']")
            item.wait_for(timeout=20_000)
            assert item.get_attribute("data-remote-site") == "comune-a"
            assert item.get_by_test_id("remote-alarm-site").inner_text() == "comune-a"
            assert "Remote browser alarm" in item.inner_text() and "A1" in item.inner_text()
            shown = page.eval_on_selector_all("[data-testid=remote-alarm]",
                                              "els => els.map(e => Number(e.dataset.alarmId))")  # fmt: skip
            assert set(shown) & {a["id"] for a in mine()} == {a1}, shown  # A3's is not granted: not shown
            # Taken from the centre: A's alarm is in progress, owned by hqops@hq, and the list says so.
            item.get_by_test_id("remote-alarm-take").click()
            owner = page.locator(f"[data-testid=remote-alarm][data-alarm-id='{a1}'] [data-testid=remote-alarm-owner]")
            owner.wait_for(timeout=15_000)
            assert owner.inner_text() == "hqops@hq"
            there = _ok(w.a.api("GET", f"{API}/alarms/{a1}"))
            assert (there["state"], there["owner"]) == ("in_progress", "hqops@hq")
            mine_now = page.locator(f"[data-testid=remote-alarm][data-alarm-id='{a1}']")
            assert mine_now.get_by_test_id("remote-alarm-take").count() == 0  # taken by this user already
            # Closed from the centre with a reason: closed at A, and gone from the open list.
            mine_now.get_by_test_id("remote-alarm-close").click()
            page.get_by_test_id("alarm-text").fill("bins emptied")
            page.get_by_test_id("alarm-text-ok").click()
            item.wait_for(state="detached", timeout=15_000)
            there = _ok(w.a.api("GET", f"{API}/alarms/{a1}"))
            assert (there["state"], there["close_reason"]) == ("closed", "bins emptied")
            # A new alarm at A shows at once: A pushes it (the list's own reads are every 30 s).
            page.wait_for_timeout(1000)
            raised = time.monotonic()
            _ok(w.a.api("POST", f"{API}/events", json={"type": "fed.browser", "camera": w.a_ids["A1"]}), 202)
            wait_for(
                lambda: any(a["camera"] == w.a_ids["A1"] and a["state"] == "new" for a in mine()),
                10,
                0.1,
                "A1's new alarm",
            )
            again = next(a["id"] for a in mine() if a["camera"] == w.a_ids["A1"] and a["state"] == "new")
            page.locator(f"[data-testid=remote-alarm][data-alarm-id='{again}']").wait_for(timeout=10_000)
            print(f"a new alarm at A shown at the centre {time.monotonic() - raised:.2f} s after its event")
            assert time.monotonic() - raised < 5.0
            prio = next(a["priority"] for a in mine() if a["id"] == again)
            assert page.get_by_test_id("remote-alarms").get_attribute("data-last-sound") == prio  # it sounded
            assert errors.errors == []
            page.close()
            page, errors = _login(w, browser, "hqviewer")
            page.goto(w.centre.base + "/#/alarms")
            page.wait_for_selector("[data-testid=remote-alarms][data-loads]", state="attached")  # it has looked
            assert page.get_by_test_id("remote-alarms").is_hidden()
            assert page.get_by_test_id("remote-alarm").count() == 0
            assert errors.errors == []
        finally:
            if page is not None:
                page.close()


@pytest.mark.browser
def test_the_centre_web_client_exports_a_remote_camera(world: Fed, browser: Any, tmp_path: Path) -> None:
    """The centre's operator opens A1, exports its last ten minutes: progress shows, the package made and
    signed at A is downloaded through the centre and ``ronda verify`` accepts it with A's key."""
    w = world
    _site_a_up(w)
    exports_at_a = lambda: _ok(w.a.api("GET", f"{API}/audit", params={"actor": "hqops@hq", "action": "export",  # noqa: E731
                                                                       "limit": 1000}))  # fmt: skip
    before = len(exports_at_a())
    page, errors = _login(w, browser, "hqops")
    try:
        page.goto(w.centre.base + "/#/live")
        page.locator("[data-testid=remote-camera][data-remote-site=comune-a]", has_text="A1").click()
        page.get_by_test_id("remote-export-reason").fill("browser federation test")
        started = time.monotonic()
        with page.expect_download(timeout=90_000) as info:
            page.get_by_test_id("remote-export").click()
            page.get_by_test_id("remote-export-progress").wait_for(timeout=10_000)
        took = time.monotonic() - started
        download = info.value
        assert download.suggested_filename.endswith(".zip"), download.suggested_filename
        pkg = tmp_path / download.suggested_filename
        download.save_as(pkg)
        row = page.locator("[data-testid=remote-export-jobs] li").first
        assert row.get_attribute("data-status") == "done"
        assert page.get_by_test_id("remote-export-progress").first.evaluate("p => p.value") == 1
        key = subprocess.run([sys.executable, "-m", "ronda.cli", "keys", "public", "--config", str(w.a.config)],
                             capture_output=True, check=True, timeout=60)  # fmt: skip
        pem = tmp_path / "a-site.pem"
        pem.write_bytes(key.stdout)
        verify = subprocess.run([sys.executable, "-m", "ronda.cli", "verify", str(pkg), "--pubkey", str(pem)],
                                capture_output=True, text=True, timeout=120)  # fmt: skip
        assert verify.returncode == 0 and "valid" in verify.stdout, verify.stdout + verify.stderr
        print(f"remote export from the web client: {took:.1f} s to the download, {pkg.stat().st_size} bytes")
        assert len(exports_at_a()) == before + 1  # made at A, audited there as any export
        assert errors.errors == []
    finally:
        page.close()
