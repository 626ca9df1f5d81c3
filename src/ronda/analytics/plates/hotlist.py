"""Plate text for storage, search and lists: normalising, the comparison key, patterns, and matching a
read against hotlist and allowlist entries. Pure: no database, no clock.

A plate is stored *normalised* (upper case, letters and digits only: ``"ab 123-cd"`` → ``"AB123CD"``)
and compared by its *key*, where the letters a reader (or a person copying a plate) confuses with
digits are folded to the digit: O → 0, I → 1 (``plate_key("AB1O3CD") == plate_key("ABI03CD")``).
A search text or a list entry is folded the same way, so a wanted ``AB103CD`` is found when the reader
saw ``AB1O3CD``. Patterns use ``*`` (any run of characters, also none) and ``?`` (one character)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

MAX_PLATE = 12  # characters of a normalised plate (EU plates have at most 10)
MAX_PATTERN = 16  # characters of a search text or list pattern, wildcards included
_FOLD = str.maketrans({"O": "0", "I": "1"})
_SEPARATORS = re.compile(r"[\s\-.·_/]+")
_PLATE = re.compile(r"^[A-Z0-9]+$")
_PATTERN = re.compile(r"^[A-Z0-9*?]+$")


class PlateTextError(ValueError):
    """A plate or pattern that cannot be one (the message says why)."""


def normalise(text: str) -> str:
    """A read plate as stored: upper case, separators dropped; anything else is not a plate."""
    out = _SEPARATORS.sub("", text.strip().upper())
    if not out or not _PLATE.match(out):
        raise PlateTextError("a plate is letters and digits (spaces, dots and dashes are ignored)")
    if len(out) > MAX_PLATE:
        raise PlateTextError(f"a plate has at most {MAX_PLATE} letters and digits")
    return out


def normalise_pattern(text: str) -> str:
    """A search text or list entry: like ``normalise``, with ``*`` and ``?`` allowed; runs of ``*`` are
    one. At least one letter or digit."""
    out = re.sub(r"\*+", "*", _SEPARATORS.sub("", text.strip().upper()))
    if not out or not _PATTERN.match(out):
        raise PlateTextError("a plate pattern is letters, digits, '*' (any characters) and '?' (one character)")
    if len(out) > MAX_PATTERN:
        raise PlateTextError(f"a plate pattern has at most {MAX_PATTERN} characters")
    if not any(c.isalnum() for c in out):
        raise PlateTextError("a plate pattern needs at least one letter or digit")
    return out


def plate_key(normalised: str) -> str:
    """The comparison key of a normalised plate or pattern (O → 0, I → 1)."""
    return normalised.translate(_FOLD)


def is_pattern(text: str) -> bool:
    return "*" in text or "?" in text


@lru_cache(maxsize=4096)
def _regex(key: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in key) + r"\Z")


def key_matches(pattern_key: str, key: str) -> bool:
    """Whether a plate's key matches a (folded) entry: the whole plate, wildcards as above."""
    if not is_pattern(pattern_key):
        return pattern_key == key
    return _regex(pattern_key).match(key) is not None


def like_pattern(query_key: str) -> str:
    """A folded search text as an SQL LIKE pattern over keys: with wildcards the whole plate must match
    (``*`` → ``%``, ``?`` → ``_``); without, the text may be anywhere in the plate (partial plate). Keys
    hold only letters and digits, so nothing needs escaping."""
    if is_pattern(query_key):
        return query_key.replace("*", "%").replace("?", "_")
    return f"%{query_key}%"


@dataclass(frozen=True, slots=True)
class Entry:
    """A list entry as matching needs it."""

    list_id: int
    list_name: str
    kind: str  # hotlist | allowlist
    plate: str  # as entered (normalised)
    key: str
    reason: str
    valid_until_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Hits:
    """What a read matched: the first hotlist entry and the first allowlist entry (by list id), if any."""

    hotlist: Entry | None = None
    allowlist: Entry | None = None


def match(entries: Iterable[Entry], plate: str, time_ms: int) -> Hits:
    """The entries of the lists that apply to the read's camera against its normalised ``plate``: expired
    entries (``valid_until_ms`` at or before the read) do not count; an exact entry wins over a pattern,
    a lower list id over a higher one."""
    key = plate_key(plate)
    best: dict[str, tuple[tuple[int, int], Entry]] = {}
    for e in entries:
        if e.valid_until_ms is not None and e.valid_until_ms <= time_ms:
            continue
        if not key_matches(e.key, key):
            continue
        rank = (1 if is_pattern(e.key) else 0, e.list_id)
        if e.kind not in best or rank < best[e.kind][0]:
            best[e.kind] = (rank, e)
    hot, allow = best.get("hotlist"), best.get("allowlist")
    return Hits(hot[1] if hot else None, allow[1] if allow else None)
