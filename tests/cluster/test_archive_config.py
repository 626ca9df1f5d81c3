"""The archive's configuration and its budget rules, without an object store."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ronda.config import ConfigError, StorageConfig, load_config
from ronda.recording.retention import Retention
from ronda.store.db import Database
from ronda.store.models import Camera, Segment

BASE = {"bucket": "ronda-archive", "access_key_id": "ronda", "endpoint_url": "http://127.0.0.1:1"}


def test_archive_keys_are_checked_and_the_secret_comes_from_a_file_or_the_environment(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"archive\.bucketname: unknown key"):
        load_config(None, overrides={"archive": {**BASE, "bucketname": "x"}}, environ={})
    with pytest.raises(ConfigError, match=r"archive\.after_hours"):
        load_config(None, overrides={"archive": {**BASE, "after_hours": 0}}, environ={})
    with pytest.raises(ConfigError, match=r"archive\.camera_after_hours"):
        load_config(None, overrides={"archive": {**BASE, "camera_after_hours": {"3": -1}}}, environ={})
    with pytest.raises(ConfigError, match="secret_key_file"):
        load_config(None, overrides={"archive": {**BASE, "secret_key_file": str(tmp_path / "nope")}}, environ={})
    cfg = load_config(None, overrides={"archive": {**BASE, "after_hours": 0.002, "camera_after_hours": {"3": 1}}},
                      environ={})  # fmt: skip
    assert cfg.archive is not None
    assert cfg.archive.after_ms(3) == 3_600_000 and cfg.archive.after_ms(4) == 7200
    os.environ.pop("RONDA_ARCHIVE_SECRET_KEY", None)
    with pytest.raises(ConfigError, match="RONDA_ARCHIVE_SECRET_KEY"):
        cfg.archive.secret_key()
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t\n")
    cfg.archive.secret_key_file = secret
    assert cfg.archive.secret_key() == "s3cr3t"


def test_serve_without_the_secret_fails_with_a_message_not_a_traceback(tmp_path: Path) -> None:
    conf = tmp_path / "ronda.yaml"
    conf.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), "archive": BASE}))
    env = {k: v for k, v in os.environ.items() if k != "RONDA_ARCHIVE_SECRET_KEY"}
    subprocess.run([sys.executable, "-m", "ronda.cli", "db", "upgrade", "--config", str(conf)], check=True,
                   capture_output=True, timeout=60, env=env)  # fmt: skip
    r = subprocess.run([sys.executable, "-m", "ronda.cli", "serve", "--config", str(conf)], capture_output=True,
                       text=True, timeout=60, env=env)  # fmt: skip
    assert r.returncode != 0
    assert "RONDA_ARCHIVE_SECRET_KEY" in r.stderr and "Traceback" not in r.stderr, r.stderr[-1500:]


def test_budget_and_disk_watermark_count_and_delete_local_footage_only(tmp_path: Path) -> None:
    """An archived segment uses no local disk: the byte budget must neither count it nor delete it (its
    row would go while its object stays: footage lost from the catalog, an orphan in the store)."""
    db = Database(f"sqlite:///{tmp_path / 'ronda.db'}")
    db.upgrade()
    root = tmp_path / "recordings"
    now = int(time.time() * 1000)
    local = root / "1" / "new.mp4"
    local.parent.mkdir(parents=True)
    local.write_bytes(b"x" * 1000)
    with db.session() as s:
        cam = Camera(name="c", enabled=False, created_ms=now)
        s.add(cam)
        s.flush()
        common = {"camera_id": cam.id, "stream": "main", "codec": "h264", "recovered": False, "node": "local"}
        s.add(Segment(**common, start_ms=now - 7_200_000, end_ms=now - 7_198_000, bytes=10_000_000, path="1/old.mp4",
                      sha256="0" * 64, location="archive", archive_key="site/1/main/old.mp4"))  # fmt: skip
        s.add(Segment(**common, start_ms=now - 60_000, end_ms=now - 58_000, bytes=1000, path="1/new.mp4",
                      sha256=hashlib.sha256(b"x" * 1000).hexdigest(), location="local"))  # fmt: skip
    try:
        rep = Retention(db, root, StorageConfig(max_bytes=5_000_000, delete_below_free_percent=0)).run(now)
        assert rep.deleted == 0 and not rep.locked_blocking
        with db.session() as s:
            assert s.query(Segment).count() == 2
    finally:
        db.dispose()
