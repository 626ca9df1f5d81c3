"""Per-recipient rate limiting with a flood summary, and per-user quiet hours. Pure logic.

Order of use for one notification and one recipient: quiet hours first (``QuietHours.allows``; what it
stops is not sent and does not count), then ``RateLimiter.offer``; call ``RateLimiter.flush`` when
``next_deadline()`` passes (or every second) and send the summaries it returns.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ronda.events.notify import PRIORITIES, Notification, priority_rank

# -- quiet hours -------------------------------------------------------------------------------------


def _parse_hhmm(value: str, name: str) -> dtime:
    try:
        hh, mm = str(value).strip().split(":")
        return dtime(int(hh), int(mm))
    except ValueError:
        raise ValueError(f"quiet hours {name}: expected HH:MM, got {value!r}") from None


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window of local wall-clock time during which only urgent notifications pass.

    ``start`` > ``end`` spans midnight (22:00–07:00). Times are compared as local wall-clock time in
    ``timezone``, so the window follows the clock on DST nights: on the spring-forward night a
    22:00–07:00 window is one hour shorter in real time, on the fall-back night one hour longer, and an
    end time that does not exist that night (02:30 in Europe/Rome on the last Sunday of March) simply
    passes when the clock jumps over it. ``start`` == ``end`` is an empty window (quiet hours off).
    """

    timezone: str
    start: dtime
    end: dtime
    min_priority: str = "high"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QuietHours:
        tz = str(d.get("timezone") or "UTC")
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"quiet hours: unknown time zone {tz!r}") from None
        prio = str(d.get("min_priority") or "high")
        if prio not in PRIORITIES:
            raise ValueError(f"quiet hours min_priority: expected one of {', '.join(PRIORITIES)}, got {prio!r}")
        return cls(tz, _parse_hhmm(d.get("start", ""), "start"), _parse_hhmm(d.get("end", ""), "end"), prio)

    def active(self, when_ms: int) -> bool:
        local = datetime.fromtimestamp(when_ms / 1000, UTC).astimezone(ZoneInfo(self.timezone))
        t = local.time().replace(tzinfo=None)
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def allows(self, priority: str, when_ms: int) -> bool:
        return not self.active(when_ms) or priority_rank(priority) >= priority_rank(self.min_priority)


# -- rate limit with flood summary -------------------------------------------------------------------

MAX_SUMMARY_GROUPS = 5
MAX_SUMMARY_IDS = 50


@dataclass(slots=True)
class _Window:
    start: float
    sent: int = 0
    held: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    top_priority: int = 0
    alarm_ids: list[int] = field(default_factory=list)
    camera_ids: set[int] = field(default_factory=set)
    last_time_ms: int = 0


def _kind(n: Notification) -> str:
    return (n.category or n.title or "other").strip().replace("_", " ")


def _window_words(window_s: float) -> str:
    if window_s == 60:
        return "the last minute"
    if window_s == 3600:
        return "the last hour"
    if window_s % 60 == 0:
        return f"the last {int(window_s // 60)} minutes"
    return f"the last {window_s:g} s"


class RateLimiter:
    """At most ``limit`` notifications per recipient per ``window_s``; the rest are held (only counted,
    not stored) and summarised in one notification when the window ends.

    A window opens with a recipient's first notification. When it ends with notifications held, the
    summary opens the next window and counts as its first notification, so a sustained flood yields
    ``limit`` notifications per window, one of them the summary of the previous window. A window that
    ends with nothing held is forgotten. ``clock`` returns seconds (monotonic by default).
    """

    def __init__(self, limit: int = 5, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("rate limit needs limit >= 1 and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._windows: dict[str, _Window] = {}

    def offer(self, recipient: str, n: Notification) -> list[Notification]:
        """What to send to ``recipient`` now: ``[n]``, ``[]`` (held), or the summary of a window that has
        ended and was not flushed yet, followed by ``n`` when it still fits."""
        now = self.clock()
        out: list[Notification] = []
        w = self._windows.get(recipient)
        if w is not None and now >= w.start + self.window_s:
            summary = self._close(recipient, w, now)
            if summary is not None:
                out.append(summary)
            w = self._windows.get(recipient)
        if w is None:
            w = self._windows[recipient] = _Window(start=now)
        if w.sent < self.limit:
            w.sent += 1
            out.append(n)
        else:
            w.held += 1
            w.by_kind[_kind(n)] += 1
            w.top_priority = max(w.top_priority, priority_rank(n.priority))
            if n.alarm_id is not None and len(w.alarm_ids) < MAX_SUMMARY_IDS:
                w.alarm_ids.append(n.alarm_id)
            w.camera_ids.update(n.camera_ids)
            w.last_time_ms = max(w.last_time_ms, n.time_ms)
        return out

    def flush(self) -> list[tuple[str, Notification]]:
        """Close every window that has ended; return the summaries to send, one per flooded recipient."""
        now = self.clock()
        out: list[tuple[str, Notification]] = []
        for recipient, w in list(self._windows.items()):
            if now >= w.start + self.window_s:
                summary = self._close(recipient, w, now)
                if summary is not None:
                    out.append((recipient, summary))
        return out

    def next_deadline(self) -> float | None:
        """Clock time when the earliest window with held notifications ends (None: nothing held)."""
        ends = [w.start + self.window_s for w in self._windows.values() if w.held]
        return min(ends) if ends else None

    def held(self, recipient: str) -> int:
        w = self._windows.get(recipient)
        return w.held if w else 0

    def _close(self, recipient: str, w: _Window, now: float) -> Notification | None:
        del self._windows[recipient]
        if not w.held:
            return None
        # The summary opens the next window, aligned to where the old one ended (not to when we noticed).
        end = w.start + self.window_s
        nxt = end if now < end + self.window_s else now
        self._windows[recipient] = _Window(start=nxt, sent=1)
        return self.summary(w)

    def summary(self, w: _Window) -> Notification:
        groups = w.by_kind.most_common()
        shown = ", ".join(f"{count} {kind}" for kind, count in groups[:MAX_SUMMARY_GROUPS])
        if len(groups) > MAX_SUMMARY_GROUPS:
            rest = sum(count for _, count in groups[MAX_SUMMARY_GROUPS:])
            shown += f", {rest} other"
        noun = "alarm" if w.held == 1 else "alarms"
        title = f"{w.held} more {noun}"
        return Notification(
            alarm_id=None,
            event_id=None,
            title=title,
            body=f"{title} in {_window_words(self.window_s)}: {shown}",
            priority=PRIORITIES[w.top_priority],
            category="summary",
            camera_ids=sorted(w.camera_ids),
            time_ms=w.last_time_ms,
            url="/#/alarms",
            data={"summary": True, "count": w.held, "by_kind": dict(groups), "alarm_ids": list(w.alarm_ids)},
        )
