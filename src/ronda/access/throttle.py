"""Login throttling per account and per client address.

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
An attempt that never ends (its process died) gives its slot back after ``PENDING_TTL_S``.

The rules are written once (``Throttle``) over a store of per-key state. ``LoginThrottle`` keeps it in
the process's memory (one process's view); ``SharedLoginThrottle`` keeps it in the site's database (table
``login_guards``), so that every API node behind a load balancer counts the same failures: each step
locks the rows of the account and the address it touches, reads them, applies the rules and writes them
back in one transaction (docs/cluster.md "Shared guards").
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from ronda.store import guards_repo
from ronda.store.access_models import LoginGuard
from ronda.store.db import Database

T = TypeVar("T")
log = logging.getLogger(__name__)
PENDING_TTL_S = 60.0  # an attempt still "in flight" after this long is taken for dead (its node crashed)


@dataclass
class _Entry:
    failures: list[float] = field(default_factory=list)  # within the window, oldest first, at most the limit
    pending: list[float] = field(default_factory=list)  # start times of reserved attempts not yet ended
    locked_until: float = 0.0
    lockouts: int = 0

    def copy(self) -> _Entry:
        return _Entry(list(self.failures), list(self.pending), self.locked_until, self.lockouts)

    def blank(self, now: float) -> bool:
        """Says nothing a fresh entry would not (then it need not be kept)."""
        return not self.failures and not self.pending and self.locked_until <= now


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


def _keys(username: str, ip: str | None) -> tuple[str, str | None]:
    """The stored keys of an attempt: ``u:`` account, ``a:`` address (None without an address)."""
    return "u:" + account_key(username), ("a:" + address_key(ip)) if ip else None


Step = Callable[[dict[str, _Entry], float], T]


class Throttle:
    """The rules. A subclass stores the entries: ``_apply`` runs a step on the entries of some keys as one
    atomic unit (``write``: the step may change them, which the store then keeps)."""

    def __init__(
        self,
        *,
        account_limit: int = 5,
        address_limit: int = 20,
        window_s: float = 900.0,
        lock_base_s: float = 60.0,
        lock_max_s: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.account_limit = account_limit
        self.address_limit = address_limit
        self.window_s = window_s
        self.lock_base_s = lock_base_s
        self.lock_max_s = lock_max_s
        self._clock = clock

    def _apply(self, keys: list[str], step: Step[T], write: bool) -> T:
        """``step`` on copies of the entries of ``keys`` (missing: blank); with ``write``, atomically with
        keeping what it changed. Without, a read: what the step changes is dropped."""
        raise NotImplementedError

    def _trim(self, e: _Entry, now: float) -> None:
        if e.failures and e.failures[0] <= now - self.window_s:
            e.failures = [t for t in e.failures if t > now - self.window_s]
        if e.pending and e.pending[0] <= now - PENDING_TTL_S:
            e.pending = [t for t in e.pending if t > now - PENDING_TTL_S]

    @staticmethod
    def _ceil(seconds: float) -> int:
        return max(1, math.ceil(seconds))

    @staticmethod
    def _account_wait(e: _Entry, now: float) -> float:
        return e.locked_until - now if e.locked_until > now else 0.0

    def _address_wait(self, e: _Entry, now: float) -> float:
        self._trim(e, now)
        n = len(e.failures)
        if n < self.address_limit:
            return 0.0
        # Refused until enough of the oldest failures leave the window to go below the limit.
        return e.failures[n - self.address_limit] + self.window_s - now

    def check(self, username: str, ip: str | None) -> int | None:
        """Seconds to wait before another attempt is allowed (rounded up), or None when allowed now."""
        akey, ikey = _keys(username, ip)

        def step(entries: dict[str, _Entry], now: float) -> float:
            wait = self._account_wait(entries[akey], now)
            if ikey is not None:
                wait = max(wait, self._address_wait(entries[ikey], now))
            return wait

        wait = self._apply([akey] + ([ikey] if ikey else []), step, write=False)
        return self._ceil(wait) if wait > 0 else None

    def reserve(self, username: str, ip: str | None) -> int | None:
        """Like ``check``, and when allowed also hold a slot for this attempt (end it with ``failed``,
        ``succeeded`` or ``release``). Seconds to wait (rounded up) when refused."""
        akey, ikey = _keys(username, ip)

        def step(entries: dict[str, _Entry], now: float) -> float:
            e = entries[akey]
            wait = self._account_wait(e, now)
            self._trim(e, now)
            # Failures still allowed before the lock; once locked and expired, one probe at a time.
            slots = max(self.account_limit - len(e.failures), 1)
            if len(e.pending) >= slots:
                wait = max(wait, 1.0)
            a = entries[ikey] if ikey is not None else None
            if a is not None:
                wait = max(wait, self._address_wait(a, now))
                if len(a.failures) + len(a.pending) >= self.address_limit:
                    wait = max(wait, 1.0)
            if wait > 0:
                return wait
            e.pending.append(now)
            if a is not None:
                a.pending.append(now)
            return 0.0

        keys = [akey] + ([ikey] if ikey else [])
        # A refusal needs no lock: a locked-out client hammering the login costs the database reads
        # only (on SQLite, no turn at the one write lock the recorder needs). Allowed: check and count again
        # under the lock, which is what decides.
        wait = self._apply(keys, step, write=False)
        if wait <= 0:
            wait = self._apply(keys, step, write=True)
        return self._ceil(wait) if wait > 0 else None

    @staticmethod
    def _unreserve(e: _Entry | None) -> None:
        if e is not None and e.pending:
            e.pending.pop(0)

    def release(self, username: str, ip: str | None) -> None:
        """End a reserved attempt that verified nothing (neither a failure nor a success)."""
        akey, ikey = _keys(username, ip)

        def step(entries: dict[str, _Entry], now: float) -> None:
            self._unreserve(entries[akey])
            self._unreserve(entries.get(ikey) if ikey else None)

        self._apply([akey] + ([ikey] if ikey else []), step, write=True)

    def failed(self, username: str, ip: str | None) -> None:
        akey, ikey = _keys(username, ip)

        def step(entries: dict[str, _Entry], now: float) -> None:
            e = entries[akey]
            self._unreserve(e)
            self._trim(e, now)
            if not e.failures and e.locked_until <= now:
                e.lockouts = 0  # a quiet window forgives earlier lockouts
            e.failures.append(now)
            if len(e.failures) >= self.account_limit:
                e.lockouts += 1
                delay = min(self.lock_max_s, self.lock_base_s * 2 ** min(e.lockouts - 1, 30))
                e.locked_until = max(e.locked_until, now + delay)
            del e.failures[: -max(self.account_limit, 1)]  # only the newest `limit` matter
            if ikey is not None:
                a = entries[ikey]
                self._unreserve(a)
                self._trim(a, now)
                a.failures.append(now)
                del a.failures[: -max(self.address_limit, 1)]  # only the newest `limit` matter for the wait

        self._apply([akey] + ([ikey] if ikey else []), step, write=True)

    def succeeded(self, username: str, ip: str | None) -> None:
        akey, ikey = _keys(username, ip)

        def step(entries: dict[str, _Entry], now: float) -> None:
            e = entries[akey]
            self._unreserve(e)
            self._unreserve(entries.get(ikey) if ikey else None)
            # Forget the failures, but keep the slots of other attempts still in flight.
            e.failures.clear()
            e.locked_until, e.lockouts = 0.0, 0

        self._apply([akey] + ([ikey] if ikey else []), step, write=True)

    def failures(self, username: str) -> int:
        """Failures of this account within the window (for logs and tests)."""
        akey, _ = _keys(username, None)

        def step(entries: dict[str, _Entry], now: float) -> int:
            self._trim(entries[akey], now)
            return len(entries[akey].failures)

        return self._apply([akey], step, write=False)


class LoginThrottle(Throttle):
    """The entries in this process's memory (thread-safe), the least recently written evicted beyond
    ``max_entries``: one process's view only."""

    def __init__(self, *, max_entries: int = 100_000, **kw: Any) -> None:
        super().__init__(**kw)
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def _apply(self, keys: list[str], step: Step[T], write: bool) -> T:
        with self._lock:
            now = self._clock()
            entries = {k: e.copy() if (e := self._entries.get(k)) is not None else _Entry() for k in keys}
            result = step(entries, now)
            if write:
                for k, e in entries.items():
                    if e.blank(now):
                        self._entries.pop(k, None)
                        continue
                    self._entries[k] = e
                    self._entries.move_to_end(k)
                while len(self._entries) > self._max_entries:
                    self._entries.popitem(last=False)  # evict the least recently written
            return result


def _ms_list(text: str) -> list[float]:
    try:
        values = json.loads(text)
    except ValueError:
        return []
    return [v / 1000 for v in values if isinstance(v, int)] if isinstance(values, list) else []


def _to_entry(row: LoginGuard | None) -> _Entry:
    if row is None:
        return _Entry()
    return _Entry(_ms_list(row.failures_ms), _ms_list(row.pending_ms), row.locked_until_ms / 1000, row.lockouts)


def _ms(t: float) -> int:
    return round(t * 1000)


class SharedLoginThrottle(Throttle):
    """The entries in the site's database (``login_guards``), shared by every API node. Wall-clock time
    (the nodes share it, within NTP's accuracy). Rows quiet for a whole window are pruned, at most once
    a minute per process, and the table is capped at ``max_rows``."""

    PRUNE_EVERY_S = 60.0

    def __init__(self, db: Database, *, max_rows: int = 200_000, **kw: Any) -> None:
        kw.setdefault("clock", time.time)
        super().__init__(**kw)
        self.db = db
        self._max_rows = max_rows
        self._pruned = -math.inf

    def _apply(self, keys: list[str], step: Step[T], write: bool) -> T:
        if not write:
            with self.db.session() as s:
                rows = guards_repo.read_login_guards(s, keys)
                return step({k: _to_entry(rows.get(k)) for k in keys}, self._clock())
        with self.db.session() as s:
            rows = guards_repo.lock_login_guards(s, keys, _ms(self._clock()))
            now = self._clock()  # read once the rows are ours: the step sees the state as it is now
            entries = {k: _to_entry(rows.get(k)) for k in keys}
            result = step(entries, now)
            for k, e in entries.items():
                row = rows[k]
                if e.blank(now):
                    s.delete(row)
                    continue
                row.failures_ms = json.dumps([_ms(t) for t in e.failures])
                row.pending_ms = json.dumps([_ms(t) for t in e.pending])
                row.locked_until_ms, row.lockouts, row.touched_ms = _ms(e.locked_until), e.lockouts, _ms(now)
        if now - self._pruned >= self.PRUNE_EVERY_S:
            # In a transaction of its own: deleting while holding this step's rows could deadlock with a
            # node that holds a quiet row and waits for ours.
            self._pruned = now
            quiet = max(self.window_s, PENDING_TTL_S)
            try:
                with self.db.session() as s:
                    guards_repo.prune_login_guards(s, _ms(now - quiet), _ms(now), self._max_rows)
            except SQLAlchemyError:
                log.warning("pruning the login throttle's table failed", exc_info=True)  # next minute again
        return result
