"""The key store: every secret key file Ronda keeps under ``DATA/keys`` is read and written here.

Keys: the token and CSRF keys (``tokens.key``, ``csrf.key``), the secrets key (``secrets.key``, camera
passwords), the audit HMAC and signing keys (``audit.key``, ``audit_ed25519.pem``), the evidence site key
(``site_ed25519.pem``) and the web push VAPID key. One write path for all of them:

1. write a temporary file in the key's directory (created 0600, so the key is never readable by others,
   not even for a moment), ``fsync`` it;
2. give it the key's name: ``link`` when the key must not exist yet (two processes starting together
   both try; the one that loses reads the winner's key instead of overwriting a key the other already
   uses), ``rename`` when replacing one; either way a reader sees the old or the new key whole;
3. ``fsync`` the directory, so the name survives a power cut.

Reading tightens a key a person or an older version left readable by others to 0600 (and its
directory to 0700), and a key file that is not what it should be is a :class:`KeyFileError` naming it.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import secrets
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

log = logging.getLogger(__name__)
MIN_KEY_BYTES = 32


class KeyFileError(ValueError):
    """A key file exists but does not hold the key it should."""


# --- the one write path ------------------------------------------------------------------------------
def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    tighten(path, 0o700)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_secret_file(path: Path, data: bytes, replace: bool = False) -> bool:
    """Write ``data`` to ``path`` (0600, directory 0700) atomically and durably.

    Without ``replace`` the file is only created: False when it exists already (it is left as it is).
    """
    _private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
        _fsync_dir(path.parent)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


# --- reading -----------------------------------------------------------------------------------------
def tighten(path: Path, private: int) -> None:
    """Take from ``path`` what ``private`` (0600 for a file, 0700 for a folder) does not allow, saying so;
    a missing path is left alone."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        try:
            os.chmod(path, mode & private)
            log.warning("%s was readable by others (mode %o): now %o", path, mode, mode & private)
        except PermissionError:
            log.warning("cannot make %s private (mode %o): not its owner", path, mode)


def read_secret_file(path: Path) -> bytes:
    """The bytes of a key file, tightened to 0600 first when others could read it."""
    tighten(path, 0o600)
    return path.read_bytes()


def load_or_create(path: Path, make: Callable[[], bytes]) -> bytes:
    """The key file's bytes, created with ``make()`` on first use (the first writer wins a race)."""
    if not path.exists():
        write_secret_file(path, make())
    else:
        tighten(path.parent, 0o700)
    return read_secret_file(path)


# --- the kinds of key --------------------------------------------------------------------------------
def load_or_create_key(path: Path, nbytes: int = 32) -> bytes:
    """A random secret key (URL-safe base64 text in the file): token, CSRF and audit HMAC keys."""
    raw = load_or_create(path, lambda: base64.urlsafe_b64encode(secrets.token_bytes(nbytes)) + b"\n")
    try:
        key = base64.urlsafe_b64decode(raw.strip())
    except ValueError:
        raise KeyFileError(f"key file {path} does not hold base64 text") from None
    if len(key) < MIN_KEY_BYTES:
        raise KeyFileError(f"key file {path} holds a key shorter than {MIN_KEY_BYTES} bytes")
    return key


def fernet_key(path: Path) -> bytes:
    """The Fernet key that encrypts secrets at rest (camera passwords, webhook secrets)."""
    key = load_or_create(path, Fernet.generate_key).strip()
    try:
        Fernet(key)
    except ValueError:
        raise KeyFileError(f"key file {path} does not hold a Fernet key") from None
    return key


def _pem(key: Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_pem(path: Path, raw: bytes) -> object:
    try:
        return serialization.load_pem_private_key(raw, password=None)
    except (ValueError, TypeError) as e:
        raise KeyFileError(f"key file {path} does not hold a PEM private key: {e}") from None


def ed25519_key(path: Path) -> Ed25519PrivateKey:
    """An Ed25519 signing key (PKCS#8 PEM): the audit log's and the evidence site key."""
    key = _load_pem(path, load_or_create(path, lambda: _pem(Ed25519PrivateKey.generate())))
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"key file {path} does not hold an Ed25519 private key")
    return key


def p256_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """A P-256 key (PKCS#8 PEM): the web push VAPID key, which must never change once phones subscribed."""
    key = _load_pem(path, load_or_create(path, lambda: _pem(ec.generate_private_key(ec.SECP256R1()))))
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise KeyFileError(f"{path} is not a P-256 (prime256v1) private key, which VAPID requires")
    return key


def load_p256_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """An existing P-256 key (never created): KeyFileError/OSError when missing or wrong."""
    key = _load_pem(path, read_secret_file(path))
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise KeyFileError(f"{path} is not a P-256 (prime256v1) private key, which VAPID requires")
    return key
