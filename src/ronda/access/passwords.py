"""Password hashing with argon2id (argon2-cffi's RFC 9106 defaults).

Logins for unknown users must cost the same as for known ones, or response times tell which
usernames exist: call ``verify_dummy`` when there is no user (or the user is disabled).
"""

from __future__ import annotations

import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # argon2id; parameters chosen by the library (RFC 9106 low-memory profile)
_dummy_hash: str | None = None
_dummy_lock = threading.Lock()


def hash_password(password: str) -> str:
    """A new argon2id hash (random salt, parameters encoded in the string)."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> tuple[bool, str | None]:
    """``(ok, new_hash)``: ``new_hash`` is set when the password is right but the stored hash uses old
    parameters, so the caller can store the rehash. A malformed stored hash never matches, and still
    costs one hash computation."""
    try:
        _hasher.verify(password_hash, password)
    except VerifyMismatchError:
        return False, None
    except (InvalidHashError, VerificationError, ValueError):
        verify_dummy(password)
        return False, None
    if _hasher.check_needs_rehash(password_hash):
        return True, _hasher.hash(password)
    return True, None


def verify_dummy(password: str) -> bool:
    """Spend the time of a real verification against a hash that nothing matches; always False."""
    global _dummy_hash
    if _dummy_hash is None:
        with _dummy_lock:
            if _dummy_hash is None:
                _dummy_hash = _hasher.hash("ronda-dummy-password-that-is-never-assigned")
    try:
        _hasher.verify(_dummy_hash, password)
    except VerificationError:
        pass
    return False
