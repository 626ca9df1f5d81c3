"""TOTP second factor with a fixed clock."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pyotp

from ronda.access.totp import TotpVerifier, match_step, new_totp_secret, provisioning_uri

T0 = 1_780_000_005.0  # 5 s into a 30 s step


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def code_at(secret: str, t: float) -> str:
    return pyotp.TOTP(secret).at(int(t))


def test_secret_and_uri():
    s = new_totp_secret()
    assert len(s) == 32 and s != new_totp_secret()
    uri = provisioning_uri(s, "mario.rossi")
    u = urlparse(uri)
    assert u.scheme == "otpauth" and u.netloc == "totp" and "mario.rossi" in u.path
    q = parse_qs(u.query)
    assert q["secret"] == [s] and q["issuer"] == ["Ronda"]


def test_window_of_one_step_each_side():
    s = new_totp_secret()
    for offset, ok in ((-60, False), (-30, True), (0, True), (30, True), (60, False)):
        v = TotpVerifier(clock=Clock(T0))
        assert v.verify("u", s, code_at(s, T0 + offset)) is ok, offset


def test_replay_is_refused():
    s = new_totp_secret()
    clock = Clock(T0)
    v = TotpVerifier(clock=clock)
    code = code_at(s, T0)
    assert v.verify(1, s, code)
    assert not v.verify(1, s, code)  # same code again
    clock.t += 20  # still within the window of that step
    assert not v.verify(1, s, code)
    assert not v.verify(1, s, code_at(s, T0 - 30))  # an older step after a newer one was used
    assert v.verify(2, s, code)  # another user is independent
    clock.t = T0 + 30
    assert v.verify(1, s, code_at(s, clock.t))  # the next step works


def test_last_step_from_the_database():
    s = new_totp_secret()
    v = TotpVerifier(clock=Clock(T0))
    step = int(T0) // 30
    assert v.accept(1, s, code_at(s, T0), last_step=step) is None
    assert v.accept(1, s, code_at(s, T0), last_step=step - 1) == step


def test_malformed_codes():
    s = new_totp_secret()
    v = TotpVerifier(clock=Clock(T0))
    good = code_at(s, T0)
    for bad in ("", "12345", "1234567", "abcdef", "١٢٣٤٥٦", good + "0", None, 123456, "0" * 100):
        assert not v.verify(1, s, bad)  # type: ignore[arg-type]
    assert v.verify(1, s, f"{good[:3]} {good[3:]}")  # spaces as shown by some apps
    assert match_step("not base32!", good, T0) is None
