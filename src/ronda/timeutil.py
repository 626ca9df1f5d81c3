"""UTC epoch-millisecond helpers: the one time representation inside Ronda."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ronda.errors import Invalid


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def to_iso(ms: int | None) -> str | None:
    """ISO 8601 UTC with milliseconds: ``2026-05-26T10:00:00.123Z``."""
    if ms is None:
        return None
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


# Times Ronda accepts from outside: from the epoch to the start of the year 9999 (UTC). Everything
# downstream adds ranges (a day, a month) and formats the result as a calendar date, and datetime
# stops at the year 9999: 9999-12-31T23:59:59-14:00 is already in the year 10000 (UTC), and
# 0001-01-01T00:00:00+14:00 before the year 1. The margin of most of a year keeps every sum in range.
MIN_MS = 0
MAX_MS = int(datetime(9999, 1, 1, tzinfo=UTC).timestamp() * 1000) - 1


class TimeOutOfRange(ValueError):
    """A well-formed time outside [MIN_MS, MAX_MS]."""

    def __init__(self, text: str) -> None:
        super().__init__(f"{text!r} is out of range: times run from 1970-01-01 to 9998-12-31 (UTC)")


def parse_iso(text: str) -> int:
    """Parse ISO 8601 (``Z`` or offset; naive means UTC) to epoch ms; ValueError when invalid or outside
    [``MIN_MS``, ``MAX_MS``] (1970 to the start of 9999, UTC)."""
    t = text.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    dt = datetime.fromisoformat(t)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        # Aware datetimes near the ends of the calendar overflow when shifted to UTC.
        ms = int(round(dt.timestamp() * 1000))
    except (OverflowError, OSError) as e:
        raise TimeOutOfRange(text) from e
    if not MIN_MS <= ms <= MAX_MS:
        raise TimeOutOfRange(text)
    return ms


# --- the site's time zone: local days and offsets ---------------------------------------------------
DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` (e.g. ``Europe/Rome``); ValueError naming it when unknown."""
    problem = f"unknown time zone {name!r} (use an IANA name such as Europe/Rome or UTC)"
    if not isinstance(name, str) or not name or len(name) > 64:
        raise ValueError(problem)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as e:  # OSError: a directory, unreadable file
        raise ValueError(problem) from e


def utc_offset_minutes(tz: ZoneInfo, ms: int) -> int:
    """Minutes the zone's wall clock is ahead of UTC at the instant ``ms`` (DST included)."""
    off = datetime.fromtimestamp(ms / 1000, tz=tz).utcoffset()
    return int(off.total_seconds() // 60) if off is not None else 0


def local_date(ms: int, tz: ZoneInfo) -> date:
    """The calendar date on the zone's wall clock at the instant ``ms``."""
    return datetime.fromtimestamp(ms / 1000, tz=tz).date()


def day_start_ms(d: date, tz: ZoneInfo) -> int | None:
    """The first instant whose local date is ``d`` (local midnight), or None when the zone skipped that
    date entirely (Pacific/Apia on 2011-12-30).

    Midnight can be missing (DST starting at 00:00: the day starts at the transition, 01:00) or, when
    DST ends at 00:00, the first 00:00 is shown as 23:00 of the day before; trying both folds and keeping
    the earliest instant that really lies on ``d`` covers every case."""
    found: list[int] = []
    for fold in (0, 1):
        ms = int(datetime.combine(d, dtime(0), tzinfo=tz).replace(fold=fold).timestamp() * 1000)
        if local_date(ms, tz) == d:
            found.append(ms)
    return min(found) if found else None


@dataclass(frozen=True)
class LocalDay:
    """One calendar day on the site's wall clock: ``[start_ms, end_ms)`` in UTC epoch ms."""

    date: date
    start_ms: int
    end_ms: int

    @property
    def hours(self) -> float:
        """Real length: 24, or 23 / 25 on DST changes (23.5 / 24.5 in zones that shift by 30 min)."""
        h = (self.end_ms - self.start_ms) / HOUR_MS
        return int(h) if h == int(h) else round(h, 3)


def _next_day_start(d: date, tz: ZoneInfo) -> tuple[date, int]:
    """The first existing local date after ``d`` and its start."""
    for n in range(1, 4):
        nxt = d + timedelta(days=n)
        start = day_start_ms(nxt, tz)
        if start is not None:
            return nxt, start
    raise ValueError(f"no local midnight after {d} in {tz.key}")  # no zone skips three days


def local_days(start_ms: int, end_ms: int, tz: ZoneInfo, limit: int = 400) -> list[LocalDay]:
    """Each local calendar day overlapping ``[start_ms, end_ms)``, unclipped, oldest first (at most
    ``limit`` days). Empty when ``end_ms <= start_ms``."""
    out: list[LocalDay] = []
    if end_ms <= start_ms:
        return out
    d = local_date(start_ms, tz)
    start = day_start_ms(d, tz)
    if start is None or start > start_ms:  # defensive: a date the zone shows again after a jump back
        start = start_ms
    while start < end_ms and len(out) < limit:
        nxt, nxt_start = _next_day_start(d, tz)
        out.append(LocalDay(d, start, nxt_start))
        d, start = nxt, nxt_start
    return out


# --- times given by a caller (API query or body) ----------------------------------------------------------
def iso_param(text: str, what: str) -> int:
    """A caller's ISO 8601 time → epoch ms, or ``ronda.errors.Invalid`` naming the field."""
    try:
        return parse_iso(text)
    except TimeOutOfRange:
        raise Invalid(f"{what} is out of range: times run from 1970-01-01 to 9998-12-31 (UTC)") from None
    except ValueError:
        raise Invalid(f"{what} must be an ISO 8601 time, e.g. 2026-05-26T10:00:00Z") from None


def iso_range(start: str, end: str, max_ms: int) -> tuple[int, int]:
    """``start``/``end`` given by a caller → epoch ms, end after start and at most ``max_ms`` later."""
    s, e = iso_param(start, "start"), iso_param(end, "end")
    if e <= s:
        raise Invalid("end must be after start")
    if e - s > max_ms:
        raise Invalid(f"the range may be at most {max_ms // 86_400_000} days; ask for several ranges")
    return s, e
