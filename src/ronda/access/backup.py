"""``ronda backup`` / ``ronda restore``: configuration, database and keys (not video).

The audit anchor is copied before the database: an anchor newer than the database would make a
restored audit chain look truncated.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import zipfile
from pathlib import Path

from ronda import __version__
from ronda.timeutil import now_ms, to_iso

KEY_FILES_FIRST = ("audit.anchor",)
MANIFEST = "ronda-backup.json"


class BackupError(Exception):
    pass


def backup(data_dir: Path, database_url: str, out: Path, config_file: Path | None = None) -> dict[str, object]:
    if not database_url.startswith("sqlite:///"):
        raise BackupError("this database is not SQLite: back it up with pg_dump; `ronda backup` covers SQLite sites")
    db_file = Path(database_url[len("sqlite:///") :])
    if not db_file.exists():
        raise BackupError(f"no database at {db_file}")
    keys = data_dir / "keys"
    if out.exists():
        raise BackupError(f"{out} exists already; choose another name")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        files: list[tuple[Path, str]] = []
        for name in KEY_FILES_FIRST:
            if (keys / name).exists():
                shutil.copy2(keys / name, tmpdir / name)
                files.append((tmpdir / name, f"keys/{name}"))
        for f in sorted(keys.iterdir()) if keys.is_dir() else []:
            if f.is_file() and f.name not in KEY_FILES_FIRST:
                files.append((f, f"keys/{f.name}"))
        # A consistent copy while the recorder keeps writing (SQLite online backup).
        snap = tmpdir / "ronda.db"
        src = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=30)
        dst = sqlite3.connect(snap)
        with dst:
            src.backup(dst)
        src.close()
        dst.close()
        files.append((snap, "ronda.db"))
        if config_file is not None:
            files.append((config_file, "config.yaml"))
        plan_dir = data_dir / "map"  # the site plan of the map view
        for f in sorted(plan_dir.iterdir()) if plan_dir.is_dir() else []:
            if f.is_file():
                files.append((f, f"map/{f.name}"))
        manifest: dict[str, object] = {
            "ronda": __version__,
            "created": to_iso(now_ms()),
            "files": [n for _, n in files],
        }
        # The archive holds the keys and every password hash: it is created owner-only (mkstemp: 0600,
        # O_EXCL, an unpredictable name) instead of being written first and restricted afterwards, when
        # anyone could have opened it already, or a file planted under a predictable name been reused.
        fd, tmpname = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial")
        partial = Path(tmpname)
        try:
            with os.fdopen(fd, "w+b") as archive, zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
                z.writestr(MANIFEST, json.dumps(manifest, indent=2))
                for path, name in files:
                    z.write(path, name)
            partial.replace(out)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return manifest


def restore(archive: Path, data_dir: Path) -> dict[str, object]:
    """Into an empty or new data dir. Catalog rows whose video is not there are dropped (reported)."""
    if not archive.is_file():
        raise BackupError(f"{archive} is not a file")
    if data_dir.exists() and any(p for p in data_dir.iterdir() if p.name != "recordings"):
        raise BackupError(f"{data_dir} is not empty: restore into a new data directory")
    try:
        z = zipfile.ZipFile(archive)
    except zipfile.BadZipFile:
        raise BackupError(f"{archive} is not a Ronda backup (not a zip file)") from None
    with z:
        names = z.namelist()
        if MANIFEST not in names or "ronda.db" not in names:
            raise BackupError(f"{archive} is not a Ronda backup (no manifest or database)")
        for n in names:
            # Only our own flat layout: never write outside the data dir (zip slip).
            if (
                n.startswith("/")
                or n.endswith("/")
                or ".." in Path(n).parts
                or not (
                    n in (MANIFEST, "ronda.db", "config.yaml")
                    or (n.startswith(("keys/", "map/")) and n.count("/") == 1)
                )
            ):
                raise BackupError(f"{archive} has an unexpected entry {n!r}")
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / "keys").mkdir(mode=0o700, exist_ok=True)
        for n in names:
            if n.startswith("keys/"):
                target = data_dir / n
                target.write_bytes(z.read(n))
                target.chmod(0o600)
            elif n.startswith("map/"):
                (data_dir / "map").mkdir(exist_ok=True)
                (data_dir / n).write_bytes(z.read(n))
        (data_dir / "ronda.db").write_bytes(z.read("ronda.db"))
        if "config.yaml" in names:
            (data_dir / "config.restored.yaml").write_bytes(z.read("config.yaml"))
        manifest = json.loads(z.read(MANIFEST))
    con = sqlite3.connect(data_dir / "ronda.db")
    missing = []
    rec = data_dir / "recordings"
    for sid, path in con.execute("SELECT id, path FROM segments"):
        if not (rec / path).is_file():
            missing.append(sid)
    with con:
        con.executemany("DELETE FROM segments WHERE id = ?", [(i,) for i in missing])
    con.close()
    manifest["segments_without_video_dropped"] = len(missing)
    return manifest
