"""Login throttling per account and per client address (in memory, thread-safe).

- Account: once ``account_limit`` failures fall within the sliding ``window_s``, the account is locked;
  each further failure while that many are still in the window locks it again, for twice as long
  (``lock_base_s`` doubling up to ``lock_max_s``). A success resets the account.
- Address: at ``address_limit`` failures within the window, the address is refused until the oldest of
  them leaves the window. A success does not reset it (an attacker with one valid account could).
  IPv6 addresses count per /64, since one host usually owns a whole /64.

Unknown usernames are counted exactly like known ones, so throttling does not reveal which exist.

Check and count are one step: the caller ``reserve``s an attempt before verifying anything, and ends
it with ``failed`` (a wrong password, a wrong or missing TOTP code), ``succeeded`` or ``release`` (not
verified). Attempts in flight hold a slot, so concurrent requests cannot all pass the check before
the first failure is counted: at most as many passwords are verified as failures are still allowed.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Entry:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0
    lockouts: int = 0
    pending: int = 0  # reserved attempts not yet ended


def account_key(username: str) -> str:
    return username.strip().casefold()[:200]


def address_key(ip: str) -> str:
    ip = ip.strip()
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return ip[:64]
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


class LoginThrottle:
    def __init__(
        self,
        *,
        account_limit: int = 5,
        address_limit: int = 20,
        window_s: float = 900.0,
        lock_base_s: float = 60.0,
        lock_max_s: float = 900.0,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.account_limit = account_limit
        self.address_limit = address_limit
        self.window_s = window_s
        self.lock_base_s = lock_base_s
        self.lock_max_s = lock_max_s
        self._max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._accounts: OrderedDict[str, _Entry] = OrderedDict()
        self._addresses: OrderedDict[str, _Entry] = OrderedDict()

    def _trim(self, e: _Entry, now: float) -> None:
        while e.failures and e.failures[0] <= now - self.window_s:
            e.failures.popleft()

    @staticmethod
    def _ceil(seconds: float) -> int:
        return max(1, math.ceil(seconds))

    def _account_wait(self, key: str, now: float) -> float:
        e = self._accounts.get(key)
        return e.locked_until - now if e is not None and e.locked_until > now else 0.0

    def _address_wait(self, key: str, now: float) -> float:
        e = self._addresses.get(key)
        if e is None:
            return 0.0
        self._trim(e, now)
        n = len(e.failures)
        if n < self.address_limit:
            return 0.0
        # Refused until enough of the oldest failures leave the window to go below the limit.
        return e.failures[n - self.address_limit] + self.window_s - now

    def check(self, username: str, ip: str | None) -> int | None:
        """Seconds to wait before another attempt is allowed (rounded up), or None when allowed now."""
        with self._lock:
            now = self._clock()
            wait = self._account_wait(account_key(username), now)
            if ip:
                wait = max(wait, self._address_wait(address_key(ip), now))
        return self._ceil(wait) if wait > 0 else None

    def reserve(self, username: str, ip: str | None) -> int | None:
        """Like ``check``, and when allowed also hold a slot for this attempt (end it with ``failed``,
        ``succeeded`` or ``release``). Seconds to wait (rounded up) when refused."""
        with self._lock:
            now = self._clock()
            akey = account_key(username)
            wait = self._account_wait(akey, now)
            e = self._accounts.get(akey)
            if e is not None:
                self._trim(e, now)
                # Failures still allowed before the lock; once locked and expired, one probe at a time.
                slots = max(self.account_limit - len(e.failures), 1)
                if e.pending >= slots:
                    wait = max(wait, 1.0)
            if ip:
                wait = max(wait, self._address_wait(address_key(ip), now))
                a = self._addresses.get(address_key(ip))
                if a is not None and len(a.failures) + a.pending >= self.address_limit:
                    wait = max(wait, 1.0)
            if wait > 0:
                return self._ceil(wait)
            self._touch(self._accounts, akey).pending += 1
            if ip:
                self._touch(self._addresses, address_key(ip)).pending += 1
        return None

    def _unreserve(self, username: str, ip: str | None) -> None:
        e = self._accounts.get(account_key(username))
        if e is not None and e.pending > 0:
            e.pending -= 1
        if ip:
            a = self._addresses.get(address_key(ip))
            if a is not None and a.pending > 0:
                a.pending -= 1

    def release(self, username: str, ip: str | None) -> None:
        """End a reserved attempt that verified nothing (neither a failure nor a success)."""
        with self._lock:
            self._unreserve(username, ip)

    def _touch(self, table: OrderedDict[str, _Entry], key: str) -> _Entry:
        e = table.get(key)
        if e is None:
            e = table[key] = _Entry()
            while len(table) > self._max_entries:
                table.popitem(last=False)  # evict the least recently touched
        else:
            table.move_to_end(key)
        return e

    def failed(self, username: str, ip: str | None) -> None:
        with self._lock:
            self._unreserve(username, ip)
            now = self._clock()
            e = self._touch(self._accounts, account_key(username))
            self._trim(e, now)
            if not e.failures and e.locked_until <= now:
                e.lockouts = 0  # a quiet window forgives earlier lockouts
            e.failures.append(now)
            if len(e.failures) >= self.account_limit:
                e.lockouts += 1
                delay = min(self.lock_max_s, self.lock_base_s * 2 ** min(e.lockouts - 1, 30))
                e.locked_until = max(e.locked_until, now + delay)
            if ip:
                a = self._touch(self._addresses, address_key(ip))
                self._trim(a, now)
                a.failures.append(now)
                while len(a.failures) > self.address_limit:
                    a.failures.popleft()  # only the newest `limit` matter for the wait

    def succeeded(self, username: str, ip: str | None) -> None:
        with self._lock:
            self._unreserve(username, ip)
            e = self._accounts.get(account_key(username))
            if e is not None:
                # Forget the failures, but keep the slots of other attempts still in flight.
                e.failures.clear()
                e.locked_until, e.lockouts = 0.0, 0
                if e.pending == 0:
                    del self._accounts[account_key(username)]

    def failures(self, username: str) -> int:
        """Failures of this account within the window (for logs and tests)."""
        with self._lock:
            e = self._accounts.get(account_key(username))
            if e is None:
                return 0
            self._trim(e, self._clock())
            return len(e.failures)
