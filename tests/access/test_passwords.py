"""argon2id password hashing, with the real argon2 library."""

from __future__ import annotations

import time

from argon2 import PasswordHasher

from ronda.access.passwords import hash_password, verify_dummy, verify_password


def test_hash_and_verify():
    h = hash_password("correct horse battery staple")
    assert h.startswith("$argon2id$")
    assert hash_password("correct horse battery staple") != h  # random salt
    assert verify_password(h, "correct horse battery staple") == (True, None)
    assert verify_password(h, "Tr0ub4dor&3") == (False, None)
    assert verify_password(h, "") == (False, None)


def test_unicode_and_long_passwords():
    pw = "pässwörd-密码-" + "x" * 5000
    h = hash_password(pw)
    assert verify_password(h, pw)[0]
    assert not verify_password(h, pw[:-1])[0]


def test_rehash_when_parameters_are_old():
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("pw")
    ok, new = verify_password(weak, "pw")
    assert ok and new is not None and new != weak
    assert verify_password(new, "pw") == (True, None)
    assert verify_password(weak, "nope") == (False, None)  # no rehash on failure


def test_malformed_hash_never_matches():
    for bad in ["", "plaintext", "$argon2id$garbage", "$2b$12$abcdefghijklmnopqrstuv"]:
        assert verify_password(bad, "plaintext") == (False, None)


def test_dummy_costs_like_a_real_verification():
    h = hash_password("secret")
    verify_dummy("warm-up")  # the dummy hash is computed once, lazily

    def timed(fn) -> float:
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
        return best

    real = timed(lambda: verify_password(h, "wrong"))
    dummy = timed(lambda: verify_dummy("wrong"))
    assert verify_dummy("secret") is False
    assert 0.5 < dummy / real < 2.0, (dummy, real)
