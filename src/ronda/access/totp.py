"""TOTP second factor (RFC 6238: SHA-1, 6 digits, 30 s steps — what authenticator apps expect).

A code is accepted for the current step and one step either side (clock drift), and each step can be
used only once per user: after a code of step N is accepted, codes of steps <= N are refused. That
last-used step is kept in memory by ``TotpVerifier`` and also returned by ``match_step``; what makes it
hold across API nodes is ``users.totp_last_step``, which the caller advances with a compare-and-set
(``AuthService.take_totp_code``) and which refuses the code when another node took the step first.
"""

from __future__ import annotations

import hmac
import re
import threading
import time
from collections.abc import Callable, Hashable

import pyotp

ISSUER = "Ronda"
INTERVAL_S = 30
WINDOW = 1
_CODE = re.compile(r"[0-9]{6}")


def new_totp_secret() -> str:
    """A fresh random base32 secret (160 bits), to be stored encrypted."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, username: str, issuer: str = ISSUER) -> str:
    """``otpauth://totp/...`` for the QR code an authenticator app scans."""
    return pyotp.TOTP(secret, interval=INTERVAL_S).provisioning_uri(name=username, issuer_name=issuer)


def _normalise(code: str) -> str | None:
    if not isinstance(code, str) or len(code) > 16:
        return None
    code = code.replace(" ", "").replace("-", "")
    return code if _CODE.fullmatch(code) else None


def match_step(secret: str, code: str, now_s: float, after_step: int | None = None, window: int = WINDOW) -> int | None:
    """The time step (``now_s // 30`` ± ``window``) whose code equals ``code`` and is later than
    ``after_step``; None when none matches (wrong, malformed, too old, or replayed)."""
    norm = _normalise(code)
    if norm is None:
        return None
    try:
        totp = pyotp.TOTP(secret, interval=INTERVAL_S)
        current = totp.timecode(now_s)
    except (ValueError, TypeError):
        return None
    found: int | None = None
    for step in range(current - window, current + window + 1):
        # Compare every candidate (no early exit) so timing does not tell which step matched.
        try:
            expected = totp.generate_otp(step)
        except (ValueError, TypeError):
            return None
        if hmac.compare_digest(expected, norm) and (after_step is None or step > after_step) and found is None:
            found = step
    return found


class TotpVerifier:
    """Verifies codes with per-user replay protection kept in memory (thread-safe)."""

    def __init__(self, clock: Callable[[], float] = time.time, window: int = WINDOW) -> None:
        self._clock = clock
        self._window = window
        self._lock = threading.Lock()
        self._last: dict[Hashable, int] = {}

    def verify(self, user: Hashable, secret: str, code: str, last_step: int | None = None) -> bool:
        """Whether ``code`` is valid now and not a replay for ``user``."""
        return self.accept(user, secret, code, last_step) is not None

    def accept(self, user: Hashable, secret: str, code: str, last_step: int | None = None) -> int | None:
        """The accepted step (store it as ``users.totp_last_step``), or None. ``last_step`` adds a step
        known from elsewhere (e.g. the database) to the one remembered here."""
        with self._lock:
            now = self._clock()
            remembered = self._last.get(user)
            floor = max((s for s in (remembered, last_step) if s is not None), default=None)
            step = match_step(secret, code, now, floor, self._window)
            if step is not None:
                self._last[user] = step
            if len(self._last) > 10_000:
                self._prune(now)
            return step

    def _prune(self, now: float) -> None:
        oldest_usable = int(now) // INTERVAL_S - self._window
        for k in [k for k, s in self._last.items() if s < oldest_usable]:
            del self._last[k]
