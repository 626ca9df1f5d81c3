"""The password policy (src/ronda/access/password_policy.py): pure, fast."""

from __future__ import annotations

import pytest

from ronda.access.password_policy import MAX_LENGTH, WeakPassword, check_password


@pytest.mark.parametrize(
    ("password", "username"),
    [("1234567", "x"), ("12345678", "x"), ("password", "x"), ("qwertyuiop", "x"), ("marco.rossi", "marco.rossi"),
     ("marco.rossi1", "marco.rossi"), ("x" * (MAX_LENGTH + 1), "x")],
)  # fmt: skip
def test_weak_passwords_are_refused_with_a_reason(password, username):
    with pytest.raises(WeakPassword) as e:
        check_password(password, username)
    assert "password" in str(e.value)


@pytest.mark.parametrize(
    "password",
    [
        "Corvo-Bianco-42",
        "correct horse battery staple",
        "ä€漢字🙂-Ωmega-77",
        "the fox jumps over the dog near San Lucido at dawn while 42 gulls watch the harbour lights " * 4,
    ],
)
def test_long_unicode_and_strong_passwords_pass(password):
    """Past 72 characters zxcvbn refuses to judge (it raised ValueError: a 500 found by the fuzz test)."""
    check_password(password, "marco.rossi")
