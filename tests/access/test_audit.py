"""The audit chain on a real SQLite file: tampering directly in the database is detected and named."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from ronda.access.audit import AuditLog, entry_mac
from ronda.store.db import Database
from ronda.store.models import Base

N = 10


def make_db(url: str) -> Database:
    d = Database(url)
    Base.metadata.create_all(d.engine)
    return d


@pytest.fixture
def site(tmp_path):
    db = make_db(f"sqlite:///{tmp_path / 'ronda.db'}")
    log = AuditLog.open(db, tmp_path / "keys")
    for i in range(1, N + 1):
        log.append(
            f"user{i % 3}",
            "live.start" if i % 2 else "playback.start",
            "ok",
            camera_id=i,
            start_ms=1000 * i,
            end_ms=1000 * i + 500,
            source_ip="192.0.2.10",
            details={"i": i, "note": "città", "nested": {"b": [1, 2.5, None]}},
        )
    yield db, log, tmp_path
    db.dispose()


def sql(tmp_path: Path, *statements: str, params: tuple = ()) -> None:
    """Tamper the way an attacker with only database access would: plain SQL on the file."""
    con = sqlite3.connect(tmp_path / "ronda.db")
    try:
        for st in statements:
            con.execute(st, params) if params else con.execute(st)
        con.commit()
    finally:
        con.close()


def rows(tmp_path: Path) -> list[tuple]:
    con = sqlite3.connect(tmp_path / "ronda.db")
    try:
        return con.execute("SELECT * FROM audit_log ORDER BY seq").fetchall()
    finally:
        con.close()


def assert_broken(log: AuditLog, seq: int) -> None:
    r = log.verify()
    assert not r.ok, r
    assert r.first_bad_seq == seq, r
    assert str(seq) in r.message


def test_intact_log_verifies(site):
    db, log, tmp = site
    r = log.verify()
    assert r.ok and r.first_bad_seq is None and r.entries == N and r.checkpoint_seq == N, r
    recs = log.search(limit=1000)
    assert [x.seq for x in recs] == list(range(N, 0, -1))
    assert recs[-1].details == {"i": 1, "note": "città", "nested": {"b": [1, 2.5, None]}}
    keys = tmp / "keys"
    for name in ("audit.key", "audit_ed25519.pem"):
        assert stat.S_IMODE(os.stat(keys / name).st_mode) == 0o600


def test_reopening_with_the_same_keys_continues_the_chain(site):
    db, log, tmp = site
    again = AuditLog.open(db, tmp / "keys")
    assert again.append("cli:admin@host", "export", "ok", camera_id=1) == N + 1
    assert again.verify().ok and log.verify().ok


def test_edited_row(site):
    db, log, tmp = site
    sql(tmp, "UPDATE audit_log SET actor = 'someone-else' WHERE seq = 5")
    assert_broken(log, 5)


@pytest.mark.parametrize(
    "statement",
    [
        'UPDATE audit_log SET details = \'{"i": 6, "note": "città", "nested": {"b": [1, 2.5]}}\' WHERE seq = 6',
        "UPDATE audit_log SET time_ms = time_ms + 1 WHERE seq = 6",
        "UPDATE audit_log SET result = 'denied' WHERE seq = 6",
        "UPDATE audit_log SET camera_id = NULL WHERE seq = 6",
        "UPDATE audit_log SET mac = prev_mac WHERE seq = 6",
    ],
)
def test_edited_fields(site, statement):
    db, log, tmp = site
    sql(tmp, statement)
    assert_broken(log, 6)


def test_deleted_middle_row(site):
    db, log, tmp = site
    sql(tmp, "DELETE FROM audit_log WHERE seq = 4")
    assert_broken(log, 4)


def test_deleted_first_row(site):
    db, log, tmp = site
    sql(tmp, "DELETE FROM audit_log WHERE seq = 1")
    assert_broken(log, 1)


def test_inserted_forged_row_at_the_end(site):
    db, log, tmp = site
    last = rows(tmp)[-1]
    forged = (N + 1, last[1] + 1, "admin", "export", 3, None, None, "192.0.2.66", "ok", "null", last[-1], "ab" * 32)
    sql(tmp, "INSERT INTO audit_log VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", params=forged)
    assert_broken(log, N + 1)


def test_inserted_forged_row_in_the_middle(site):
    db, log, tmp = site
    before = rows(tmp)
    # Make room after seq 5 (shift 6..N up by one), then insert a plausible row as 6.
    sql(
        tmp,
        "UPDATE audit_log SET seq = seq + 1000 WHERE seq > 5",
        "UPDATE audit_log SET seq = seq - 999 WHERE seq > 1000",
    )
    forged = (6, before[4][1] + 1, "admin", "live.start", 2, 1, 2, "192.0.2.66", "ok", "null", before[4][-1], "cd" * 32)
    sql(tmp, "INSERT INTO audit_log VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", params=forged)
    assert_broken(log, 6)


def test_copied_row_inserted_with_a_new_seq(site):
    """Replaying a genuine entry (valid MAC for its own position) somewhere else."""
    db, log, tmp = site
    sql(tmp, "INSERT INTO audit_log SELECT seq + 100, time_ms, actor, action, camera_id, start_ms, end_ms, "
        "source_ip, result, details, prev_mac, mac FROM audit_log WHERE seq = 3")  # fmt: skip
    sql(tmp, f"UPDATE audit_log SET seq = {N + 1} WHERE seq = 103")
    assert_broken(log, N + 1)


def test_swapped_rows(site):
    db, log, tmp = site
    sql(
        tmp,
        "UPDATE audit_log SET seq = -3 WHERE seq = 3",
        "UPDATE audit_log SET seq = 3 WHERE seq = 7",
        "UPDATE audit_log SET seq = 7 WHERE seq = -3",
    )
    assert_broken(log, 3)


def test_chain_recomputed_without_the_key(site):
    """An attacker rewrites entry 4 and recomputes every MAC from there with a key of their own."""
    db, log, tmp = site
    fake_key = b"attacker-key-of-32-bytes-length!"
    con = sqlite3.connect(tmp / "ronda.db")
    try:
        import json

        prev = "00" * 32
        for r in con.execute("SELECT * FROM audit_log ORDER BY seq").fetchall():
            seq, time_ms, actor, action, cam, start, end, ip, result, details, _, _ = r
            if seq == 4:
                actor = "nobody"
            fields = {"seq": seq, "time_ms": time_ms, "actor": actor, "action": action, "camera_id": cam,
                      "start_ms": start, "end_ms": end, "source_ip": ip, "result": result,
                      "details": json.loads(details)}  # fmt: skip
            mac = entry_mac(fake_key, prev, fields)
            con.execute("UPDATE audit_log SET actor=?, prev_mac=?, mac=? WHERE seq=?", (actor, prev, mac, seq))
            prev = mac
        con.execute("UPDATE audit_checkpoints SET mac = ?", (prev,))
        con.commit()
    finally:
        con.close()
    assert_broken(log, 1)


def test_truncated_newest_rows(site):
    db, log, tmp = site
    sql(tmp, "DELETE FROM audit_log WHERE seq > 7")
    assert_broken(log, 8)


def test_truncated_newest_rows_and_checkpoints(site):
    """The newest checkpoints deleted too: the anchor outside the database still catches it."""
    db, log, tmp = site
    sql(tmp, "DELETE FROM audit_log WHERE seq > 7", "DELETE FROM audit_checkpoints")
    assert_broken(log, 8)


def test_truncation_then_new_appends(site):
    """Cutting entries and letting the application append again rebuilds a valid chain, but the anchor
    and the signed checkpoint history no longer match it."""
    db, log, tmp = site
    sql(tmp, "DELETE FROM audit_log WHERE seq > 7", "DELETE FROM audit_checkpoints")
    for _ in range(3):
        log.append("x", "y", "ok")
    assert_broken(log, 10)  # entry 10 now differs from the one the anchor signed


def test_forged_checkpoint_signature(site):
    db, log, tmp = site
    sql(tmp, "DELETE FROM audit_log WHERE seq > 7", "UPDATE audit_checkpoints SET seq = 7, mac = "
        "(SELECT mac FROM audit_log WHERE seq = 7)")  # fmt: skip
    (tmp / "keys" / "audit.anchor").unlink()
    r = log.verify()
    assert not r.ok and r.first_bad_seq == 7 and "signature" in r.message, r


def test_wrong_hmac_key_fails_at_the_first_entry(site):
    db, log, tmp = site
    other = AuditLog(db, b"k" * 32, log._signer, anchor_path=None)
    assert_broken(other, 1)


def test_rows_deleted_only_beyond_checkpoint_history_with_no_anchor(site):
    db, log, tmp = site
    no_anchor = AuditLog(db, log._key, log._signer, anchor_path=None)
    assert no_anchor.verify().ok
    sql(tmp, "DELETE FROM audit_log WHERE seq > 8")
    assert_broken(no_anchor, 9)


def test_checkpoints_every_n_and_on_close(tmp_path):
    db = make_db(f"sqlite:///{tmp_path / 'ronda.db'}")
    log = AuditLog.open(db, tmp_path / "keys", checkpoint_every=4, keep_checkpoint_every=4)
    for _ in range(10):
        log.append("a", "b", "ok")
    assert log.verify().checkpoint_seq == 8
    log.close()
    r = log.verify()
    assert r.ok and r.checkpoint_seq == 10
    con = sqlite3.connect(tmp_path / "ronda.db")
    assert [s for (s,) in con.execute("SELECT seq FROM audit_checkpoints ORDER BY seq")] == [4, 8, 10]
    con.close()
    db.dispose()


def test_empty_log_verifies(tmp_path):
    db = make_db(f"sqlite:///{tmp_path / 'ronda.db'}")
    log = AuditLog.open(db, tmp_path / "keys")
    assert log.verify().ok and log.checkpoint() is None
    db.dispose()


def test_search_filters(site):
    db, log, tmp = site
    assert {r.seq for r in log.search(actor="user1")} == {1, 4, 7, 10}
    assert {r.seq for r in log.search(action="playback.start", camera_ids=[2, 3, 4])} == {2, 4}
    assert [r.seq for r in log.search(camera_id=5)] == [5]
    recs = log.search(newest_first=False, limit=3)
    assert [r.seq for r in recs] == [1, 2, 3]
    assert [r.seq for r in log.search(before_seq=4)] == [3, 2, 1]
    t = recs[1].time_ms
    assert all(r.time_ms >= t for r in log.search(since_ms=t))
    assert {r.seq for r in log.search(footage_from_ms=3200, footage_to_ms=5100)} == {3, 4, 5}
    assert log.search(actor="' OR 1=1 --") == []
    assert [r.seq for r in log.iter_records(batch=3, actor="user0")] == [3, 6, 9]
    assert log.count() == N
    assert log.search(limit=0)  # clamped to at least one


def test_bad_details_are_refused(site):
    db, log, tmp = site
    with pytest.raises((TypeError, ValueError)):
        log.append("a", "b", "ok", details={"x": float("nan")})
    with pytest.raises(TypeError):
        log.append("a", "b", "ok", details={"x": object()})
    with pytest.raises(TypeError):
        log.append("a", "b", "ok", camera_id="3")  # type: ignore[arg-type]
    seq = log.append("a" * 500, "b\x00c", "ok", source_ip="x" * 100)
    rec = log.search(limit=1)[0]
    assert rec.seq == seq and len(rec.actor) == 200 and rec.action == "b\ufffdc" and len(rec.source_ip) == 64
    assert log.verify().ok


def _append_many(url: str, keys_dir: str, who: str, n: int) -> None:
    db = Database(url)
    log = AuditLog.open(db, Path(keys_dir))
    for i in range(n):
        log.append(who, "test", "ok", details={"i": i})
    db.dispose()


def _concurrent_appends(url: str, keys_dir: Path, per_process: int) -> AuditLog:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(url, str(keys_dir), f"p{k}", per_process)) for k in range(2)]
    for p in procs:
        p.start()
    # ... and threads of this process at the same time
    db = Database(url)
    log = AuditLog.open(db, keys_dir)

    def work(k: int) -> None:
        for _ in range(10):
            log.append(f"t{k}", "test", "ok")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    return log


def test_concurrent_appends_from_two_processes(tmp_path):
    url = f"sqlite:///{tmp_path / 'ronda.db'}"
    make_db(url).dispose()
    log = _concurrent_appends(url, tmp_path / "keys", 40)
    r = log.verify()
    assert r.ok and r.entries == 100 and r.checkpoint_seq == 100, r
    actors = {x.actor for x in log.search(limit=1000)}
    assert actors == {"p0", "p1", "t0", "t1"}


@pytest.mark.postgres
def test_postgres_chain_and_concurrency(pg_url, tmp_path):
    d = Database(pg_url)
    with d.engine.begin() as c:
        c.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    Base.metadata.create_all(d.engine)
    d.dispose()
    log = _concurrent_appends(pg_url, tmp_path / "keys", 20)
    r = log.verify()
    assert r.ok and r.entries == 60, r
    log.append("a", "b", "ok", details={"x": [1.5, "ü", {"z": None}]})
    assert log.verify().ok
    with log._db.engine.begin() as c:
        c.execute(text("UPDATE audit_log SET actor = 'x' WHERE seq = 30"))
    assert_broken(log, 30)
    with log._db.engine.begin() as c:
        c.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    log._db.dispose()


def test_unreadable_anchor_is_reported(site):
    db, log, tmp = site
    (tmp / "keys" / "audit.anchor").write_text("{not json")
    r = log.verify()
    assert not r.ok and "anchor" in r.message and r.first_bad_seq == N + 1, r


def test_anchor_write_failure_does_not_lose_the_entry(site, monkeypatch):
    db, log, tmp = site

    def fail(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(log, "_replace_anchor", fail)
    assert log.append("a", "b", "ok") == N + 1
    assert log.count() == N + 1
    monkeypatch.undo()
    assert log.verify().ok


# --- a change and its audit entry are one transaction ------------------------------------------------
# Each case: a request that changes something and is audited, and how to tell whether the change is
# stored. The failure is injected where every audit write computes its MAC, so it strikes after the
# change was made and before its entry exists, whichever way a route writes the two.


def _seed(ctx):
    """A camera, an event of it and an alarm about it (and the administrator's id)."""
    from sqlalchemy import select

    from ronda.devices import registry
    from ronda.store.access_models import User
    from ronda.store.event_models import Alarm
    from ronda.store.models import Event
    from ronda.timeutil import now_ms

    cam = registry.create_camera(ctx.db, ctx.secrets, registry.CameraCreate(name="Gate", url="rtsp://127.0.0.1:9/x"),
                                 check_reachable=False).id  # fmt: skip
    t = now_ms()
    with ctx.db.session() as s:
        ev = Event(type="door.forced", time_ms=t, camera_id=cam, cameras=[cam], severity="info", source="external")
        al = Alarm(state="new", priority="high", priority_num=100, category="test", title="t", camera_id=cam,
                   cameras=[cam], incident_key="k", auto_close_on=[], first_event_ms=t, last_event_ms=t,
                   created_ms=t, updated_ms=t)  # fmt: skip
        s.add_all([ev, al])
        s.flush()
        admin = s.scalar(select(User.id).where(User.username == "admin"))
        return {"cam": cam, "event": ev.id, "alarm": al.id, "admin": admin}


def _count(ctx, model, *where):
    from sqlalchemy import func, select

    with ctx.db.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def _cases():
    from ronda.store.access_models import ApiKey, User
    from ronda.store.event_models import AlarmEntry, Rule
    from ronda.store.models import Bookmark, Camera, Event, EvidenceLock, SystemState

    span = {"start": "2026-05-26T10:00:00Z", "end": "2026-05-26T10:05:00Z"}
    return {
        "bookmark.create": (lambda o: ("POST", "/api/v1/bookmarks", {"camera": o["cam"], "title": "b", **span}),
                            lambda ctx, o: _count(ctx, Bookmark) == 1),
        "user.create": (lambda o: ("POST", "/api/v1/users", {"username": "newbie", "password": "Tr4m-Lantern-91x",
                                                             "roles": ["viewer"]}),
                        lambda ctx, o: _count(ctx, User, User.username == "newbie") == 1),
        "camera.update": (lambda o: ("PATCH", f"/api/v1/cameras/{o['cam']}", {"name": "Renamed"}),
                          lambda ctx, o: _count(ctx, Camera, Camera.name == "Renamed") == 1),
        "rule.create": (lambda o: ("POST", "/api/v1/rules", {
            "name": "r", "trigger": {"types": ["x.y"], "cameras": [o["cam"]]},
            "actions": [{"type": "bookmark", "title": "x"}]}), lambda ctx, o: _count(ctx, Rule) == 1),
        "evidence.lock": (lambda o: ("POST", "/api/v1/evidence-locks", {"camera": o["cam"], "reason": "r", **span}),
                          lambda ctx, o: _count(ctx, EvidenceLock) == 1),
        "apikey.create": (lambda o: ("POST", "/api/v1/me/api-keys", {"name": "k", "rights": ["live"]}),
                          lambda ctx, o: _count(ctx, ApiKey) == 1),
        "event.delete": (lambda o: ("DELETE", f"/api/v1/events/{o['event']}", None),
                         lambda ctx, o: _count(ctx, Event, Event.id == o["event"]) == 0),
        "alarm.comment": (lambda o: ("POST", f"/api/v1/alarms/{o['alarm']}/comment", {"text": "patrol sent"}),
                          lambda ctx, o: _count(ctx, AlarmEntry, AlarmEntry.action == "comment") == 1),
        "camera.delete": (lambda o: ("DELETE", f"/api/v1/cameras/{o['cam']}", None),
                          lambda ctx, o: _count(ctx, Camera, Camera.deleted_ms.is_not(None)) == 1),
        "event.redact": (lambda o: ("POST", f"/api/v1/events/{o['event']}/redact", {"reason": "personal data"}),
                         lambda ctx, o: _redacted(ctx, o["event"])),
        "user.update": (lambda o: ("PATCH", f"/api/v1/users/{o['admin']}", {"display_name": "Boss"}),
                        lambda ctx, o: _count(ctx, User, User.display_name == "Boss") == 1),
        "user.self_update": (lambda o: ("PATCH", "/api/v1/me", {"display_name": "Night shift"}),
                             lambda ctx, o: _count(ctx, User, User.display_name == "Night shift") == 1),
        "map.plan_upload": (lambda o: ("PUT", "/api/v1/map/plan", {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": None, "geometry": {"type": "Point", "coordinates": [9.19, 45.46]}}]}),
                            lambda ctx, o: _count(ctx, SystemState, SystemState.key == "map.plan") == 1),
    }  # fmt: skip


def _redacted(ctx, event_id):
    from ronda.store.models import Event

    with ctx.db.session() as s:
        return bool((s.get(Event, event_id).payload or {}).get("redacted"))


def _entries(ctx, action):
    return [r for r in ctx.audit.search(limit=1000) if r.action == action]


@pytest.mark.parametrize("action", list(_cases()))
def test_change_and_audit_entry_are_one_transaction(tmp_path, monkeypatch, action):
    from ronda.access import audit as audit_mod
    from tests.access.inproc import Api, add_admin, app_instance

    request, changed = _cases()[action]
    with app_instance(tmp_path / "data") as (client, ctx):
        add_admin(ctx)
        seeded = _seed(ctx)
        api = Api(client, "admin")
        method, path, body = request(seeded)

        def broken_mac(*a, **k):
            raise RuntimeError("injected: the audit write fails")

        monkeypatch.setattr(audit_mod, "entry_mac", broken_mac)
        r = api.req(method, path, json=body) if body is not None else api.req(method, path)
        monkeypatch.undo()
        assert r.status_code == 500, r.text
        stored = changed(ctx, seeded)
        assert not stored and not _entries(ctx, action), f"{action}: change stored={stored}, without its entry"
        # the same request without the failure: the change and its entry
        r = api.req(method, path, json=body) if body is not None else api.req(method, path)
        assert r.status_code < 300, r.text
        assert changed(ctx, seeded) and len(_entries(ctx, action)) == 1
        assert ctx.audit.verify().ok


CRASH = """
import os, sys
from pathlib import Path
from ronda.access import audit
from tests.access.inproc import Api, app_instance

with app_instance(Path(sys.argv[1])) as (client, ctx):
    api = Api(client, "admin")
    def die(*a, **k):
        os._exit(17)  # the process dies between the change and its audit entry
    audit.entry_mac = die
    api.req("POST", "/api/v1/bookmarks", json={"camera": int(sys.argv[2]), "title": "crash",
            "start": "2026-05-26T10:00:00Z", "end": "2026-05-26T10:05:00Z"})
"""


def test_crash_between_change_and_audit_leaves_neither(tmp_path):
    import subprocess
    import sys

    from ronda.store.models import Bookmark
    from tests.access.inproc import add_admin, app_instance

    data = tmp_path / "data"
    with app_instance(data) as (_client, ctx):
        add_admin(ctx)
        cam = _seed(ctx)["cam"]
        before = ctx.audit.count()
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{root / 'src'}:{root}"}
    p = subprocess.run([sys.executable, "-c", CRASH, str(data), str(cam)], env=env, cwd=root, capture_output=True,
                       timeout=120)  # fmt: skip
    assert p.returncode == 17, p.stderr.decode()[-2000:]
    with app_instance(data) as (_client, ctx):
        assert _count(ctx, Bookmark) == 0, "the bookmark was stored without its audit entry"
        assert ctx.audit.count() == before + 1  # the login's entry only
        assert ctx.audit.verify().ok
