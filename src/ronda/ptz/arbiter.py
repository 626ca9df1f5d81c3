"""Who may steer a dome now: pure decisions over the dome's session and reservation (no I/O, no clock of
its own: every call is given ``now_ms``).

- A **session** is held by the last user who steered the dome, until ``session_timeout`` after their
  last command. The holder's own commands extend it.
- A user whose priority is **strictly higher** than the holder's takes the dome over at once; equal or
  lower is refused (the answer names the holder and when the session ends).
- A **reservation** (an administrator's, for some minutes) blocks every other user whose priority is
  not strictly higher than the reservation's; the reserving user steers freely.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Session:
    actor: str
    priority: int
    started_ms: int
    until_ms: int  # when it ends without another command
    commands: int = 1


@dataclass(frozen=True, slots=True)
class Reservation:
    actor: str
    priority: int
    until_ms: int


@dataclass(frozen=True, slots=True)
class Decision:
    """``granted``: the caller steers; ``kind`` says how (``new``: a session starts, ``same``: the caller's
    session goes on, ``takeover``: ``previous`` loses the dome). Refused: ``holder`` and ``until_ms``
    say who blocks and until when."""

    granted: bool
    kind: str  # new | same | takeover | refused
    previous: Session | None = None
    holder: str | None = None
    until_ms: int | None = None
    reserved: bool = False


def live_session(session: Session | None, now_ms: int) -> Session | None:
    return session if session is not None and session.until_ms > now_ms else None


def live_reservation(res: Reservation | None, now_ms: int) -> Reservation | None:
    return res if res is not None and res.until_ms > now_ms else None


def decide(
    session: Session | None, reservation: Reservation | None, actor: str, priority: int, now_ms: int
) -> Decision:
    res = live_reservation(reservation, now_ms)
    if res is not None and res.actor != actor and priority <= res.priority:
        return Decision(False, "refused", holder=res.actor, until_ms=res.until_ms, reserved=True)
    cur = live_session(session, now_ms)
    if cur is None:
        return Decision(True, "new")
    if cur.actor == actor:
        return Decision(True, "same", previous=cur)
    if priority > cur.priority:
        return Decision(True, "takeover", previous=cur)
    return Decision(False, "refused", holder=cur.actor, until_ms=cur.until_ms)


def extend(session: Session | None, decision: Decision, actor: str, priority: int, now_ms: int,
           timeout_ms: int) -> Session:  # fmt: skip
    """The session after a granted command."""
    if decision.kind == "same" and session is not None:
        # A user whose priority changed (a time profile began) keeps the session at the new priority.
        return Session(actor, priority, session.started_ms, now_ms + timeout_ms, session.commands + 1)
    return Session(actor, priority, now_ms, now_ms + timeout_ms)
