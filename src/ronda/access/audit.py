"""Tamper-evident, append-only audit log.

Each entry gets the next ``seq`` (1, 2, 3, ... without gaps) and
``mac = HMAC-SHA256(key, prev_mac || canonical JSON of the entry's fields including seq)``, chaining it
to the entry before (the first one chains to 32 zero bytes). The HMAC key lives in a file outside the
database (``DATA/keys/audit.key``), so someone who can only write the database cannot produce valid
MACs: editing, deleting, inserting or reordering entries, or recomputing the chain with another key,
breaks it at the first touched entry.

Deleting the *newest* entries leaves a valid (shorter) chain, so appends also write checkpoints: an
Ed25519 signature (``DATA/keys/audit_ed25519.pem``) over the newest (seq, time_ms, mac), stored in
``audit_checkpoints`` in the same transaction, and in an anchor file outside the database
(``DATA/keys/audit.anchor``, only ever moved forward). Verification fails when a checkpoint's entry
is gone or differs; the anchor catches truncation even when the newest checkpoints were deleted too.

Repeated views are coalesced: the same user viewing the same camera again and again (a snapshot
every poll, a live view reopened) is one entry when it starts and, when the window ends, one entry
saying how many more views there were; never one entry per request, which would let any viewer fill
the log (and the disk) at the request rate. Only the actions in ``COALESCE`` are; logins, changes,
exports and playback of footage (each with its own time range) are always appended one by one.

Appends are serialised across processes: the append transaction first takes a write lock (SQLite: an
UPDATE of the one-row ``audit_lock`` table as its first statement, which takes the database write lock
and waits for it under ``busy_timeout``; PostgreSQL: ``pg_advisory_xact_lock``), then reads the chain
head, inserts the entry and its checkpoint, and commits, releasing the lock.

A change and its entry are one transaction: ``record(session, ...)`` appends in the caller's session,
so that a failure or a crash between the change and its entry leaves neither (``append`` is for what
changes nothing else: logins, views, refusals). The lock is then taken inside that session, before
the head is read, and held until it ends (see ``record``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Select, delete, event, func, insert, or_, select, text, update
from sqlalchemy.orm import Session

from ronda.access import keys
from ronda.store.access_models import AuditCheckpoint, AuditEntry, AuditLock
from ronda.store.db import Database
from ronda.timeutil import now_ms

_T_contra = TypeVar("_T_contra", contravariant=True)


class InTransaction(Protocol[_T_contra]):
    """Work a service function runs in its own transaction, with the object it changed, before the
    commit: how a caller writes its audit entry together with the change (``AuditLog.record``)."""

    def __call__(self, s: Session, obj: _T_contra, /) -> object: ...


GENESIS_MAC = "00" * 32
PG_LOCK_KEY = 0x526F6E6461417564  # "RondaAud": pg_advisory_xact_lock id for audit appends
HMAC_KEY_FILE = "audit.key"
SIGNING_KEY_FILE = "audit_ed25519.pem"
ANCHOR_FILE = "audit.anchor"
_CHECKPOINT_DOMAIN = b"ronda-audit-checkpoint/v1\n"
log = logging.getLogger(__name__)
_LIMITS = {"actor": 200, "action": 64, "result": 32, "source_ip": 64}
# Views coalesced per (actor, action, camera, source address): seconds of a window.
COALESCE: Mapping[str, float] = {"live.snapshot": 60.0, "live.start": 60.0}
_MAX_WINDOWS = 10_000  # open windows kept in memory; expired ones are forgotten first


# --- keys ----------------------------------------------------------------------------------------------
def load_or_create_hmac_key(path: Path) -> bytes:
    return keys.load_or_create_key(path, 32)


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    """The site's audit signing key (PKCS#8 PEM, mode 0600), created on first use (access/keys.py)."""
    return keys.ed25519_key(path)


# --- canonical form ----------------------------------------------------------------------------------------
def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def _fields(
    seq: int,
    time_ms: int,
    actor: str,
    action: str,
    camera_id: int | None,
    start_ms: int | None,
    end_ms: int | None,
    source_ip: str | None,
    result: str,
    details: Any,
) -> dict[str, Any]:
    return {
        "seq": seq,
        "time_ms": time_ms,
        "actor": actor,
        "action": action,
        "camera_id": camera_id,
        "start_ms": start_ms,
        "end_ms": end_ms,
        "source_ip": source_ip,
        "result": result,
        "details": details,
    }


def entry_mac(key: bytes, prev_mac: str, fields: dict[str, Any]) -> str:
    return hmac.new(key, bytes.fromhex(prev_mac) + _canonical(fields), hashlib.sha256).hexdigest()


def _checkpoint_message(seq: int, time_ms: int, mac: str) -> bytes:
    return _CHECKPOINT_DOMAIN + _canonical({"seq": seq, "time_ms": time_ms, "mac": mac})


def _clean_text(value: str, field: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"audit {field} must be a string")
    return value.replace("\x00", "\ufffd")[: _LIMITS[field]]


def _opt_int(value: int | None, field: str) -> int | None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise TypeError(f"audit {field} must be an integer")
    return value


# --- results ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    first_bad_seq: int | None
    message: str
    entries: int = 0
    checkpoint_seq: int | None = None


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    time_ms: int
    actor: str
    action: str
    camera_id: int | None
    start_ms: int | None
    end_ms: int | None
    source_ip: str | None
    result: str
    details: Any
    mac: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Window:
    """Repeats of one view after the entry that opened the window (``seq``)."""

    seq: int
    until: float  # time.monotonic() when the window ends
    first_ms: int
    repeats: int = 0
    last_ms: int = 0
    timer: threading.Timer | None = field(default=None, repr=False)


@dataclass(frozen=True)
class _Checkpoint:
    seq: int
    time_ms: int
    mac: str
    signature: str


class AuditLog:
    def __init__(
        self,
        db: Database,
        hmac_key: bytes,
        signing_key: Ed25519PrivateKey,
        *,
        checkpoint_every: int = 1,
        keep_checkpoint_every: int = 1000,
        anchor_path: Path | None = None,
        clock: Callable[[], int] = now_ms,
        coalesce: Mapping[str, float] | None = None,
    ) -> None:
        """``checkpoint_every``: sign the head every N appends (1: every append, so no entry can be cut
        off unnoticed; with N > 1 call ``checkpoint()`` on shutdown). Superseded checkpoints are pruned
        except every ``keep_checkpoint_every``-th. ``anchor_path``: the checkpoint copy outside the DB.
        ``coalesce``: action -> window in seconds for repeated views (default ``COALESCE``; {}: none).
        Call ``close()`` on shutdown: it writes the counts of windows still open."""
        if len(hmac_key) < 32:
            raise ValueError("the audit HMAC key must be at least 32 bytes")
        if checkpoint_every < 1 or keep_checkpoint_every < 1:
            raise ValueError("checkpoint intervals must be >= 1")
        self._db = db
        self._key = hmac_key
        self._signer = signing_key
        self._public: Ed25519PublicKey = signing_key.public_key()
        self._every = checkpoint_every
        self._keep_every = keep_checkpoint_every
        self._anchor = anchor_path
        self._clock = clock
        self._local = threading.Lock()  # threads of this process queue here instead of on the DB lock
        self._coalesce = dict(COALESCE if coalesce is None else coalesce)
        self._windows: dict[tuple[str, str, int | None, str | None], _Window] = {}
        self._windows_lock = threading.Lock()

    @classmethod
    def open(cls, db: Database, keys_dir: Path, **kw: Any) -> AuditLog:
        """Keys and anchor in ``keys_dir`` (normally ``DATA/keys``), created on first use."""
        return cls(
            db,
            load_or_create_hmac_key(keys_dir / HMAC_KEY_FILE),
            load_or_create_signing_key(keys_dir / SIGNING_KEY_FILE),
            anchor_path=keys_dir / ANCHOR_FILE,
            **kw,
        )

    def public_key_pem(self) -> bytes:
        return self._public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    # --- writing -------------------------------------------------------------------------------------------
    def _lock_writes(self, s: Session) -> None:
        """Take the cross-process append lock; held until the transaction ends, and taken before the
        head is read. On SQLite no read of the transaction may come before the first write (it would
        pin an older snapshot): pysqlite opens the transaction at the first write, and reads before it
        run outside it."""
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK_KEY})
            return
        r = s.execute(update(AuditLock).where(AuditLock.id == 1).values(counter=AuditLock.counter + 1))
        if getattr(r, "rowcount", 1) == 0:
            s.execute(insert(AuditLock).values(id=1, counter=1))  # we already hold the write lock

    def _sign(self, seq: int, time_ms: int, mac: str) -> _Checkpoint:
        sig = self._signer.sign(_checkpoint_message(seq, time_ms, mac)).hex()
        return _Checkpoint(seq, time_ms, mac, sig)

    def _store_checkpoint(self, s: Session, cp: _Checkpoint) -> None:
        s.add(AuditCheckpoint(seq=cp.seq, time_ms=cp.time_ms, mac=cp.mac, signature=cp.signature))
        # The previous checkpoint is superseded; keep one every `keep_every` entries for history.
        low = ((cp.seq - 1) // self._keep_every) * self._keep_every
        s.execute(delete(AuditCheckpoint).where(AuditCheckpoint.seq > low, AuditCheckpoint.seq < cp.seq))

    def append(
        self,
        actor: str,
        action: str,
        result: str,
        camera_id: int | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        source_ip: str | None = None,
        details: Any = None,
    ) -> int:
        """Append one entry and return its seq. ``details`` must be JSON (no NaN); strings are cut to the
        column sizes before they are MACed. A repeated view (an action of ``coalesce``, result ``ok``,
        no footage range) within its window is counted instead and the seq of the entry that opened
        the window returned; the count is appended when the window ends."""
        key = (actor, action, camera_id, source_ip)
        w: _Window | None = None
        window_s = self._coalesce.get(action)
        if window_s and result == "ok" and start_ms is None and end_ms is None:
            w, opened = self._window(key, window_s)
            if not opened:
                return w.seq
        try:
            with self._local, self._db.session() as s:
                seq = self.record(s, actor, action, result, camera_id, start_ms, end_ms, source_ip, details)
        except BaseException:
            if w is not None:
                with self._windows_lock:
                    if self._windows.get(key) is w:
                        del self._windows[key]
            raise
        if w is not None:
            w.seq = seq
        return seq

    def _window(self, key: tuple[str, str, int | None, str | None], window_s: float) -> tuple[_Window, bool]:
        """The open window of ``key`` with this view counted in it, or a new one (True) whose entry the
        caller writes. Opened before the entry is written: concurrent repeats count instead of
        appending too."""
        now = time.monotonic()
        with self._windows_lock:
            w = self._windows.get(key)
            if w is not None and now < w.until:
                w.repeats += 1
                w.last_ms = int(self._clock())
                if w.timer is None:  # the first repeat: write the count when the window ends
                    w.timer = threading.Timer(w.until - now, self._flush_window, (key,))
                    w.timer.daemon = True
                    w.timer.start()
                return w, False
            if len(self._windows) >= _MAX_WINDOWS:
                self._forget_expired(now)
            w = self._windows[key] = _Window(0, now + window_s, int(self._clock()))
            return w, True

    def _forget_expired(self, now: float) -> None:
        for k in [k for k, w in self._windows.items() if w.until <= now and w.timer is None]:
            del self._windows[k]

    def _flush_window(self, key: tuple[str, str, int | None, str | None]) -> None:
        with self._windows_lock:
            w = self._windows.pop(key, None)
        if w is None or not w.repeats:
            return
        actor, action, camera_id, source_ip = key
        try:
            with self._local, self._db.session() as s:
                self.record(s, actor, action, "ok", camera_id, None, None, source_ip,
                            {"repeats": w.repeats, "after_seq": w.seq, "first_ms": w.first_ms,
                             "last_ms": w.last_ms})  # fmt: skip
        except Exception:  # a timer thread: log, the next views open a new window
            log.exception("audit: could not write the count of %d repeated %s", w.repeats, action)

    def flush_repeats(self) -> None:
        """Write the counts of every open window now (shutdown)."""
        with self._windows_lock:
            keys = list(self._windows)
            for w in self._windows.values():
                if w.timer is not None:
                    w.timer.cancel()
        for k in keys:
            self._flush_window(k)

    def record(self, s: Session, actor: str, action: str, result: str = "ok", camera_id: int | None = None,
               start_ms: int | None = None, end_ms: int | None = None, source_ip: str | None = None,
               details: Any = None) -> int:  # fmt: skip
        """Append the entry for a change in the caller's transaction ``s``: the change and its entry are
        committed together or not at all (a failure or a crash in between leaves neither). Returns the
        entry's seq. Call it last in the transaction, after the change: the append lock taken here is
        held until ``s`` ends, so every other audited write of every process waits for it.

        The chain stays right across processes because the lock is taken inside ``s`` before the head
        is read. On SQLite the lock is the database write lock itself: the pysqlite driver opens the
        transaction at its first write, so ``s`` either holds it already (it wrote the change) or takes
        it with the lock row's UPDATE, and then reads the head no other writer can move. On PostgreSQL
        ``pg_advisory_xact_lock`` is held to the end of ``s`` and the head is read after it (read
        committed). The in-process lock of ``append`` is not taken here: a thread holding the database
        lock must never wait for a thread that waits for the database lock. The anchor file moves on
        after ``s`` commits; views are not coalesced (they change nothing: use ``append``)."""
        self._lock_writes(s)
        seq, cp = self._write(s, actor, action, result, camera_id, start_ms, end_ms, source_ip, details)
        if cp is not None:
            checkpoint = cp
            event.listen(s, "after_commit", lambda _s: self._write_anchor(checkpoint), once=True)
        return seq

    def _write(
        self,
        s: Session,
        actor: str,
        action: str,
        result: str,
        camera_id: int | None,
        start_ms: int | None,
        end_ms: int | None,
        source_ip: str | None,
        details: Any,
    ) -> tuple[int, _Checkpoint | None]:
        """The entry (and its checkpoint) after the chain head, in ``s``, which holds the append lock."""
        actor = _clean_text(actor, "actor")
        action = _clean_text(action, "action")
        result = _clean_text(result, "result")
        source_ip = None if source_ip is None else _clean_text(source_ip, "source_ip")
        camera_id = _opt_int(camera_id, "camera_id")
        start_ms = _opt_int(start_ms, "start_ms")
        end_ms = _opt_int(end_ms, "end_ms")
        # Exactly what comes back from the JSON column is what gets MACed.
        details = json.loads(_canonical(details))
        cp: _Checkpoint | None = None
        head = s.execute(select(AuditEntry.seq, AuditEntry.mac).order_by(AuditEntry.seq.desc()).limit(1)).first()
        seq, prev = (head[0] + 1, head[1]) if head is not None else (1, GENESIS_MAC)
        time_ms = int(self._clock())
        fields = _fields(seq, time_ms, actor, action, camera_id, start_ms, end_ms, source_ip, result, details)
        mac = entry_mac(self._key, prev, fields)
        s.add(AuditEntry(**fields, prev_mac=prev, mac=mac))
        s.flush()
        if seq % self._every == 0:
            cp = self._sign(seq, time_ms, mac)
            self._store_checkpoint(s, cp)
        return seq, cp

    def checkpoint(self) -> int | None:
        """Sign the newest entry now unless it already has a checkpoint (call on shutdown when
        ``checkpoint_every`` > 1). Returns the checkpointed seq, None for an empty log."""
        with self._local, self._db.session() as s:
            self._lock_writes(s)
            head = s.execute(
                select(AuditEntry.seq, AuditEntry.time_ms, AuditEntry.mac).order_by(AuditEntry.seq.desc()).limit(1)
            ).first()
            if head is None:
                return None
            seq, time_ms, mac = head
            row = s.get(AuditCheckpoint, seq)
            if row is None:
                cp = self._sign(seq, time_ms, mac)
                self._store_checkpoint(s, cp)
            else:
                cp = _Checkpoint(row.seq, row.time_ms, row.mac, row.signature)
        self._write_anchor(cp)
        return int(seq)

    def close(self) -> None:
        self.flush_repeats()
        if self._every > 1:
            self.checkpoint()

    # --- anchor file ---------------------------------------------------------------------------------------
    def _read_anchor(self) -> _Checkpoint | None | str:
        """The anchor checkpoint, None when there is none, or an error message when it is unreadable."""
        if self._anchor is None or not self._anchor.exists():
            return None
        try:
            d = json.loads(self._anchor.read_text())
            return _Checkpoint(int(d["seq"]), int(d["time_ms"]), str(d["mac"]), str(d["signature"]))
        except (OSError, ValueError, KeyError, TypeError):
            return f"anchor file {self._anchor} is unreadable"

    def _write_anchor(self, cp: _Checkpoint) -> None:
        """Best effort after the commit: the entry is already safely in the log, so a failure here is
        logged rather than raised (the next checkpoint moves the anchor on)."""
        if self._anchor is None:
            return
        try:
            self._replace_anchor(self._anchor, cp)
        except OSError as e:
            log.warning("could not update the audit anchor %s: %s", self._anchor, e)

    def _replace_anchor(self, path: Path, cp: _Checkpoint) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock_fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            current = self._read_anchor()
            if isinstance(current, _Checkpoint) and current.seq >= cp.seq:
                return  # another process already anchored a newer entry: only move forward
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            try:
                with os.fdopen(fd, "w") as f:
                    json.dump(asdict(cp), f)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
        finally:
            os.close(lock_fd)  # also releases the flock

    # --- verification --------------------------------------------------------------------------------------
    def _signature_ok(self, cp: _Checkpoint) -> bool:
        try:
            self._public.verify(bytes.fromhex(cp.signature), _checkpoint_message(cp.seq, cp.time_ms, cp.mac))
        except (InvalidSignature, ValueError):
            return False
        return True

    def verify(self, check_all_signatures: bool = True) -> VerifyResult:
        """Check the whole chain, the checkpoints and the anchor; report the first broken seq."""
        anchor = self._read_anchor()  # before the database: anything it names must already be committed
        problems: list[tuple[int, str]] = []
        count, last_seq = 0, 0
        latest_cp: int | None = None
        with self._db.session() as s:
            # 1. the chain
            expected, prev = 1, GENESIS_MAC
            rows = s.execute(select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=2000)).scalars()
            for e in rows:
                if e.seq != expected:
                    if e.seq > expected:
                        problems.append((expected, f"entry {expected} is missing (next present is {e.seq})"))
                    else:
                        problems.append((e.seq, f"entry {e.seq} is out of sequence"))
                    break
                if e.prev_mac != prev:
                    problems.append((e.seq, f"entry {e.seq} does not link to entry {e.seq - 1} (inserted or moved)"))
                    break
                fields = _fields(
                    e.seq,
                    e.time_ms,
                    e.actor,
                    e.action,
                    e.camera_id,
                    e.start_ms,
                    e.end_ms,
                    e.source_ip,
                    e.result,
                    e.details,
                )
                try:
                    good = hmac.compare_digest(entry_mac(self._key, prev, fields), e.mac)
                except (ValueError, TypeError):
                    good = False
                if not good:
                    problems.append((e.seq, f"entry {e.seq} does not match its MAC (edited or forged)"))
                    break
                prev, expected, count, last_seq = e.mac, expected + 1, count + 1, e.seq
            rows.close()
            chain_ok = not problems

            # 2. checkpoints, each against its entry (one statement: a consistent view)
            cps = s.execute(
                select(
                    AuditCheckpoint.seq,
                    AuditCheckpoint.time_ms,
                    AuditCheckpoint.mac,
                    AuditCheckpoint.signature,
                    AuditEntry.mac,
                )
                .outerjoin(AuditEntry, AuditEntry.seq == AuditCheckpoint.seq)
                .order_by(AuditCheckpoint.seq)
                .execution_options(yield_per=2000)
            )
            cp_rows = list(cps)
            for i, (seq, time_ms, mac, sig, entry_mac_now) in enumerate(cp_rows):
                cp = _Checkpoint(seq, time_ms, mac, sig)
                newest = i == len(cp_rows) - 1
                if (check_all_signatures or newest) and not self._signature_ok(cp):
                    problems.append((seq, f"checkpoint {seq} has an invalid signature"))
                    break
                if entry_mac_now is None:
                    bad = last_seq + 1 if chain_ok and seq > last_seq else seq
                    problems.append((bad, f"entries {bad}..{seq} are missing: the log was truncated"))
                    break
                if entry_mac_now != mac:
                    problems.append((seq, f"entry {seq} differs from its signed checkpoint"))
                    break
                latest_cp = seq

            # 3. the anchor outside the database
            anchor_note = "no anchor file"
            if isinstance(anchor, str):
                problems.append((last_seq + 1, anchor))
            elif anchor is not None:
                anchor_note = f"anchor at {anchor.seq}"
                if not self._signature_ok(anchor):
                    problems.append((anchor.seq, f"anchor for entry {anchor.seq} has an invalid signature"))
                else:
                    mac_now = s.scalar(select(AuditEntry.mac).where(AuditEntry.seq == anchor.seq))
                    if mac_now is None:
                        bad = last_seq + 1 if chain_ok and anchor.seq > last_seq else anchor.seq
                        problems.append((bad, f"entries {bad}..{anchor.seq} are missing: the log was truncated"))
                    elif mac_now != anchor.mac:
                        problems.append((anchor.seq, f"entry {anchor.seq} differs from the anchored checkpoint"))

        if problems:
            seq, msg = min(problems)
            return VerifyResult(False, seq, msg, count, latest_cp)
        cp_note = f"latest checkpoint {latest_cp}" if latest_cp is not None else "no checkpoint"
        msg = f"ok: {count} entries, {cp_note}, {anchor_note}"
        if latest_cp is not None and latest_cp < last_seq and self._every == 1:
            msg += f"; entries after {latest_cp} are not checkpointed"
        return VerifyResult(True, None, msg, count, latest_cp)

    # --- reading -------------------------------------------------------------------------------------------
    @staticmethod
    def _filtered(
        q: Select[Any],
        *,
        actor: str | None,
        action: str | None,
        camera_id: int | None,
        camera_ids: Collection[int] | None,
        result: str | None,
        since_ms: int | None,
        until_ms: int | None,
        footage_from_ms: int | None,
        footage_to_ms: int | None,
    ) -> Select[Any]:
        if actor is not None:
            q = q.where(AuditEntry.actor == actor)
        if action is not None:
            q = q.where(AuditEntry.action == action)
        if camera_id is not None:
            q = q.where(AuditEntry.camera_id == camera_id)
        if camera_ids is not None:
            q = q.where(AuditEntry.camera_id.in_(sorted(set(camera_ids))))
        if result is not None:
            q = q.where(AuditEntry.result == result)
        if since_ms is not None:
            q = q.where(AuditEntry.time_ms >= since_ms)
        if until_ms is not None:
            q = q.where(AuditEntry.time_ms < until_ms)
        # Entries about footage overlapping [footage_from, footage_to) (e.g. who watched 10:00-11:00).
        if footage_from_ms is not None:
            q = q.where(or_(AuditEntry.end_ms.is_(None), AuditEntry.end_ms > footage_from_ms))
            q = q.where(AuditEntry.start_ms.is_not(None))
        if footage_to_ms is not None:
            q = q.where(AuditEntry.start_ms < footage_to_ms)
        return q

    def search(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        camera_id: int | None = None,
        camera_ids: Collection[int] | None = None,
        result: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        footage_from_ms: int | None = None,
        footage_to_ms: int | None = None,
        before_seq: int | None = None,
        after_seq: int | None = None,
        limit: int = 100,
        newest_first: bool = True,
        within: tuple[Collection[str], Collection[int]] | None = None,
    ) -> list[AuditRecord]:
        """Matching entries, newest first by default; page with ``before_seq`` (newest first) or
        ``after_seq`` (oldest first). ``camera_ids`` limits to those cameras (a user's visible ones).
        ``within=(actors, cameras)`` keeps entries made by one of ``actors`` or about one of ``cameras``
        (an organisation's scope). ``limit`` is clamped to 1..1000."""
        q = self._filtered(
            select(AuditEntry),
            actor=actor,
            action=action,
            camera_id=camera_id,
            camera_ids=camera_ids,
            result=result,
            since_ms=since_ms,
            until_ms=until_ms,
            footage_from_ms=footage_from_ms,
            footage_to_ms=footage_to_ms,
        )
        if within is not None:
            actors, cams = within
            q = q.where(or_(AuditEntry.actor.in_(list(actors)), AuditEntry.camera_id.in_(list(cams))))
        if before_seq is not None:
            q = q.where(AuditEntry.seq < before_seq)
        if after_seq is not None:
            q = q.where(AuditEntry.seq > after_seq)
        q = q.order_by(AuditEntry.seq.desc() if newest_first else AuditEntry.seq).limit(max(1, min(limit, 1000)))
        with self._db.session() as s:
            return [_record(e) for e in s.scalars(q)]

    def iter_records(self, batch: int = 1000, **filters: Any) -> Iterator[AuditRecord]:
        """Every matching entry, oldest first, in batches (for exports)."""
        after = filters.pop("after_seq", None)
        filters.pop("newest_first", None)
        filters.pop("limit", None)
        while True:
            page = self.search(after_seq=after, limit=batch, newest_first=False, **filters)
            yield from page
            if len(page) < min(batch, 1000):
                return
            after = page[-1].seq

    def count(self) -> int:
        with self._db.session() as s:
            return int(s.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def _record(e: AuditEntry) -> AuditRecord:
    return AuditRecord(
        seq=e.seq,
        time_ms=e.time_ms,
        actor=e.actor,
        action=e.action,
        camera_id=e.camera_id,
        start_ms=e.start_ms,
        end_ms=e.end_ms,
        source_ip=e.source_ip,
        result=e.result,
        details=e.details,
        mac=e.mac,
    )
