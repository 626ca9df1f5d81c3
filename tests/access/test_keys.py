"""The one key store (access/keys.py): every key file Ronda keeps (JWT/CSRF, secrets, audit HMAC and
signing, evidence site key, VAPID) is created private (0600 in a 0700 directory), atomically, and a
loose one is tightened when loaded."""

from __future__ import annotations

import base64
import multiprocessing
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ronda.access import keys
from ronda.access.audit import load_or_create_hmac_key, load_or_create_signing_key
from ronda.access.secrets import SecretBox
from ronda.access.tokens import load_or_create_key
from ronda.events.notify.webpush import ensure_vapid_key
from ronda.media.evidence import load_site_key


def _public(obj: Any) -> Any:
    """Something comparable that identifies the key a loader returned."""
    if isinstance(obj, bytes):
        return obj
    pub = getattr(obj, "public_key_b64", None)
    if pub is not None:
        return pub
    from cryptography.hazmat.primitives import serialization

    return obj.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


LOADERS: dict[str, Callable[[Path], Any]] = {
    "tokens.key": load_or_create_key,
    "secrets.key": SecretBox.load_or_create,
    "audit.key": load_or_create_hmac_key,
    "audit_ed25519.pem": load_or_create_signing_key,
    "site_ed25519.pem": load_site_key,
    "vapid.pem": ensure_vapid_key,
}


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.mark.parametrize("name", list(LOADERS))
def test_created_private_and_stable(name, tmp_path):
    path = tmp_path / "keys" / name
    first = LOADERS[name](path)
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    second = LOADERS[name](path)
    if isinstance(first, SecretBox):
        assert second.decrypt(first.encrypt("probe")) == "probe", "the key changed on the second load"
    else:
        assert _public(second) == _public(first), "the key changed on the second load"
    assert [p.name for p in path.parent.iterdir()] == [name], "a temporary file was left behind"


@pytest.mark.parametrize("name", list(LOADERS))
def test_loose_key_is_tightened(name, tmp_path):
    path = tmp_path / "keys" / name
    LOADERS[name](path)
    os.chmod(path, 0o644)
    LOADERS[name](path)
    assert _mode(path) == 0o600


def _race(path: str, name: str, q: Any) -> None:
    try:
        LOADERS[name](Path(path))
        q.put(Path(path).read_bytes())
    except Exception as e:  # reported to the parent
        q.put(f"{type(e).__name__}: {e}")


@pytest.mark.parametrize("name", ["secrets.key", "tokens.key", "vapid.pem"])
def test_processes_racing_to_create_share_one_whole_key(name, tmp_path):
    """Creation is atomic: no process reads a half-written key, all end with the first one written."""
    for round_ in range(5):
        path = tmp_path / f"r{round_}" / name
        ctx = multiprocessing.get_context("fork")
        q = ctx.Queue()
        procs = [ctx.Process(target=_race, args=(str(path), name, q)) for _ in range(6)]
        for p in procs:
            p.start()
        got = [q.get(timeout=30) for _ in procs]
        for p in procs:
            p.join(30)
        assert all(isinstance(g, bytes) for g in got), got
        assert len(set(got)) == 1 and got[0] == path.read_bytes()


def test_write_is_fsynced_then_renamed_then_dir_fsynced(tmp_path, monkeypatch):
    """The write path: data fsynced in a temporary file before it gets the key's name, then the
    directory fsynced so the name survives a power cut."""
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("fsync-dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync-file")
        real_fsync(fd)

    def replace(a: Any, b: Any) -> None:
        calls.append("rename")
        real_replace(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    path = tmp_path / "keys" / "k.key"
    keys.write_secret_file(path, b"one", replace=True)
    assert calls == ["fsync-file", "rename", "fsync-dir"]
    assert path.read_bytes() == b"one" and _mode(path) == 0o600


def test_replace_never_shows_a_partial_key(tmp_path):
    path = tmp_path / "keys" / "k.key"
    a, b = b"A" * 100_000, b"B" * 100_000
    keys.write_secret_file(path, a)
    seen: set[bytes] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            seen.add(path.read_bytes())

    t = threading.Thread(target=reader)
    t.start()
    for i in range(200):
        keys.write_secret_file(path, b if i % 2 == 0 else a, replace=True)
    stop.set()
    t.join()
    assert seen <= {a, b}


def test_create_only_keeps_the_existing_key(tmp_path):
    path = tmp_path / "keys" / "k.key"
    assert keys.write_secret_file(path, b"first") is True
    assert keys.write_secret_file(path, b"second") is False
    assert path.read_bytes() == b"first"


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    path = tmp_path / "keys" / "k.key"

    def broken(fd: int) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError):
        keys.write_secret_file(path, b"data")
    assert not path.exists() and list(path.parent.iterdir()) == []


def test_bad_key_file_is_a_clear_error(tmp_path):
    path = tmp_path / "keys" / "audit_ed25519.pem"
    path.parent.mkdir(mode=0o700)
    path.write_bytes(b"not a key")
    with pytest.raises(keys.KeyFileError, match="audit_ed25519.pem"):
        load_or_create_signing_key(path)
    short = tmp_path / "keys" / "tokens.key"
    short.write_bytes(base64.urlsafe_b64encode(b"x" * 8))
    with pytest.raises(keys.KeyFileError, match="shorter"):
        load_or_create_key(short)
