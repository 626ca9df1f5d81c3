"""``ronda audit verify``, ``ronda backup`` and ``ronda restore`` as an operator runs them."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ronda.access.audit import AuditLog
from ronda.store.db import Database
from tests.helpers import ADMIN, RondaProcess, catalog, free_port, wait_for, write_config

pytestmark = pytest.mark.slow  # every test runs the real `ronda` CLI in subprocesses


def ronda(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([sys.executable, "-m", "ronda.cli", *args], capture_output=True, text=True, timeout=120)
    if check:
        assert r.returncode == 0, r.stderr
    return r


@pytest.fixture
def site_with_audit(tmp_path):
    data = tmp_path / "data"
    ronda("db", "upgrade", "--data-dir", str(data), check=True)
    db = Database(f"sqlite:///{data / 'ronda.db'}")
    log = AuditLog.open(db, data / "keys")
    for i in range(12):
        log.append(f"user{i % 3}", "live.snapshot", "ok", camera_id=1 + i % 4, source_ip="127.0.0.1")
    log.close()
    db.dispose()
    return data


def sql(data: Path, statement: str, args: tuple = ()) -> None:
    con = sqlite3.connect(data / "ronda.db")
    with con:
        con.execute(statement, args)
    con.close()


def verify(data: Path) -> subprocess.CompletedProcess[str]:
    return ronda("audit", "verify", "--data-dir", str(data))


def test_intact_chain_passes(site_with_audit):
    r = verify(site_with_audit)
    assert r.returncode == 0 and "intact" in r.stdout and "12 entries" in r.stdout


@pytest.mark.parametrize(
    ("tamper", "bad"),
    [
        ("UPDATE audit_log SET actor='someone-else' WHERE seq=5", 5),
        ("DELETE FROM audit_log WHERE seq=7", 7),
        ("INSERT INTO audit_log SELECT seq+100, time_ms, actor, action, camera_id, start_ms, end_ms, source_ip, "
         "result, details, prev_mac, mac FROM audit_log WHERE seq=3", 13),
        ("DELETE FROM audit_log WHERE seq>=10", 10),
    ],
)  # fmt: skip
def test_tampering_is_named(site_with_audit, tamper, bad):
    sql(site_with_audit, tamper)
    r = verify(site_with_audit)
    assert r.returncode == 1, r.stdout
    assert f"entry {bad}" in r.stdout, r.stdout


def test_chain_recomputed_without_the_key_fails(site_with_audit, tmp_path):
    # Someone with database access rebuilds a consistent chain with a key of their own.
    db = Database(f"sqlite:///{site_with_audit / 'ronda.db'}")
    with db.engine.begin() as c:
        c.exec_driver_sql("DELETE FROM audit_log")
        c.exec_driver_sql("DELETE FROM audit_checkpoints")
    forger = AuditLog.open(db, tmp_path / "forger-keys")
    for i in range(12):
        forger.append(f"user{i % 3}", "live.snapshot", "ok", camera_id=1, source_ip="127.0.0.1")
    forger.close()
    db.dispose()
    r = verify(site_with_audit)
    assert r.returncode == 1 and "entry 1" in r.stdout


def test_verify_without_data_is_a_clear_error(tmp_path):
    r = verify(tmp_path / "nothing")
    assert r.returncode == 2 and "no Ronda data" in r.stderr and "Traceback" not in r.stderr


def test_backup_restore_into_a_fresh_data_dir(sim, tmp_path):
    data = tmp_path / "data"
    port = free_port()
    cams = [{"name": "A", "main": {"url": sim.url("secure")}, "username": "admin", "password": "p@ss:w#rd%"}]
    cfg = write_config(data, port, cams)
    site = RondaProcess(cfg, tmp_path / "ronda.log", port)
    site.start()
    try:
        wait_for(lambda: catalog(data, 1)[0], 30, what="recording before the backup")
        site.api("GET", "/api/v1/cameras/1/snapshot")  # an audited view
        out = tmp_path / "site-backup.zip"
        r = ronda("backup", "--config", str(cfg), "--out", str(out))  # while recording
        assert r.returncode == 0, r.stderr
        assert ronda("backup", "--config", str(cfg), "--out", str(out)).returncode == 2  # never overwrites
    finally:
        site.terminate()
    fresh = tmp_path / "restored"
    r = ronda("restore", str(out), "--data-dir", str(fresh))
    assert r.returncode == 0, r.stderr
    assert "catalog rows without video dropped" in r.stdout
    assert ronda("restore", str(out), "--data-dir", str(fresh)).returncode == 2  # not into a used dir
    assert verify(fresh).returncode == 0
    port2 = free_port()
    cfg2 = write_config(fresh, port2, [])
    site2 = RondaProcess(cfg2, tmp_path / "ronda2.log", port2)
    site2.start()
    try:
        me = site2.api("GET", "/api/v1/me").json()  # the restored administrator logs in
        assert me["username"] == ADMIN
        cams = site2.api("GET", "/api/v1/cameras").json()
        assert [c["name"] for c in cams] == ["A"] and cams[0]["password_set"]
        t0 = catalog(fresh, 1)[0][-1].end_ms if catalog(fresh, 1)[0] else 0
        # The restored camera password decrypts with the restored key: the camera records again.
        wait_for(lambda: [s for s in catalog(fresh, 1)[0] if s.start_ms > t0], 30, what="recording after restore")
    finally:
        site2.terminate()
    assert verify(fresh).returncode == 0


def test_restore_refuses_foreign_archives(tmp_path):
    bad = tmp_path / "x.zip"
    bad.write_bytes(b"not a zip")
    r = ronda("restore", str(bad), "--data-dir", str(tmp_path / "d"))
    assert r.returncode == 2 and "not a Ronda backup" in r.stderr
    import zipfile

    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("ronda-backup.json", "{}")
        z.writestr("ronda.db", "")
        z.writestr("../../etc/evil", "x")
    r = ronda("restore", str(evil), "--data-dir", str(tmp_path / "d2"))
    assert r.returncode == 2 and "unexpected entry" in r.stderr
    assert not (tmp_path / "etc").exists()


def test_user_add_cli(tmp_path):
    data = tmp_path / "d"
    ronda("db", "upgrade", "--data-dir", str(data), check=True)

    def add(name: str, role: str, password: str) -> subprocess.CompletedProcess[str]:
        args = ["user", "add", name, "--role", role, "--data-dir", str(data), "--password-stdin"]
        return subprocess.run([sys.executable, "-m", "ronda.cli", *args], input=password + "\n", capture_output=True,
                              text=True, timeout=120)  # fmt: skip

    r = add("chief", "administrator", "short")
    assert r.returncode == 2 and "at least 8" in r.stderr
    r = add("chief", "nosuchrole", "long-enough")
    assert r.returncode == 2 and "unknown role" in r.stderr
    r = add("chief", "administrator", "long-enough")
    assert r.returncode == 0 and "created" in r.stdout
    assert add("chief", "administrator", "long-enough").returncode == 2  # exists already
