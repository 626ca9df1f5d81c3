"""A hotlist or allowlist as a CSV file (docs/analytics.md, "Import and export"): reading a file sent to
``POST /api/v1/plate-lists/{id}/import`` into checked lines, and writing a list for ``export.csv``.
Pure: no database; the clock only as an argument.

A file is text (UTF-8, with or without a byte order mark, else Windows-1252, as spreadsheets save it),
one entry a line: ``plate[,note[,valid_until]]``, separated by ``,`` or ``;`` (or a tab: whichever the
first line uses outside quotes), quoted as CSV quotes. An optional first line naming the columns is a
header when its first cell names a plate column (``plate``, ``targa``, ...). Blank lines and lines
starting with ``#`` are skipped. Each plate is checked and normalised exactly as a single entry is
(``hotlist.normalise_pattern``); a bad line is *rejected* with its line number and the reason, and the
rest is imported. A file that is no such text at all (binary, empty, over the bounds, not one usable
line) is refused whole (:class:`FileError`).

Export writes ``plate,note,valid_until`` with a header. A note that a spreadsheet would run as a
formula (starting ``=``, ``+``, ``-`` or ``@``) is written with a leading ``'``, which reading takes
off again, so an exported list imports unchanged."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from ronda.analytics.plates.hotlist import PlateTextError, normalise_pattern
from ronda.timeutil import parse_iso, to_iso

MAX_FILE_BYTES = 1 << 20  # the API's request body limit too
MAX_LINES = 50_000
MAX_NOTE = 200  # as a single entry's reason
MAX_REJECTED = 1000  # rejected lines reported one by one; the count is always whole
HEADER_WORDS = ("plate", "targa", "targhe", "kennzeichen", "immatric", "matric", "plaque", "kenteken")
FORMULA = ("=", "+", "-", "@")
_QUOTED = re.compile(r'"[^"]*"')


class FileError(ValueError):
    """The file as a whole is not a plate list (the message says why): nothing of it is imported."""


@dataclass(frozen=True, slots=True)
class Line:
    line: int  # 1-based, where the entry starts in the file
    plate: str  # normalised (a plate or a pattern)
    note: str
    valid_until_ms: int | None


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    text: str  # the line as sent (cut short)
    reason: str


@dataclass(slots=True)
class Parsed:
    lines: list[Line]
    rejected: list[Rejected]
    header: bool


def _text(data: bytes) -> str:
    if not data.strip():
        raise FileError("the file is empty")
    if b"\x00" in data:
        raise FileError("not a CSV file: it holds binary data")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            raise FileError("not a CSV file: neither UTF-8 nor Windows-1252 text") from None
    if any(unicodedata.category(c) == "Cc" and c not in "\t\r\n" for c in text):
        raise FileError("not a CSV file: it holds control characters")
    return text


def _delimiter(text: str) -> str:
    first = next((ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")), "")
    bare = _QUOTED.sub("", first)
    counts = {d: bare.count(d) for d in (";", ",", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _is_header(cells: list[str]) -> bool:
    first = cells[0].strip().lower() if cells else ""
    return any(w in first for w in HEADER_WORDS)


def _note(raw: str) -> str:
    note = raw.strip()
    if len(note) > 1 and note[0] == "'" and note[1] in FORMULA:
        note = note[1:]  # the export's formula guard
    if any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in note):
        raise ValueError("note: must be one line without control characters")
    if len(note) > MAX_NOTE:
        raise ValueError(f"note: at most {MAX_NOTE} characters")
    return note


def _until(raw: str, now_ms: int, default_ms: int | None) -> int | None:
    text = raw.strip()
    if not text:
        return default_ms
    try:
        ms = parse_iso(text)
    except ValueError:
        raise ValueError(f"valid_until: {text[:40]!r} is not an ISO 8601 time (e.g. 2027-01-31T00:00:00Z)") from None
    if ms <= now_ms:
        raise ValueError("valid_until: must be in the future")
    return ms


def parse(data: bytes, now_ms: int, valid_until_ms: int | None = None) -> Parsed:
    """The file's entries and rejected lines. ``valid_until_ms``: the expiry of lines that give none.
    Raises :class:`FileError` for a file that is not a plate list at all."""
    if len(data) > MAX_FILE_BYTES:
        raise FileError(f"the file is larger than {MAX_FILE_BYTES} bytes")
    text = _text(data)
    if text.count("\n") + (not text.endswith("\n")) > MAX_LINES:
        raise FileError(f"the file has more than {MAX_LINES} lines: split it")
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    out = Parsed([], [], False)
    seen: dict[str, int] = {}
    first = True
    end = 0
    try:
        for cells in rows:
            start, end = end + 1, rows.line_num
            if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
                continue
            if first:
                first = False
                if _is_header(cells):
                    out.header = True
                    continue
            shown = ",".join(cells)[:100]
            try:
                if len(cells) > 3:
                    raise ValueError("at most three columns: plate, note, valid_until")
                try:
                    plate = normalise_pattern(cells[0])
                except PlateTextError as e:
                    raise ValueError(f"not a plate: {e}") from None
                note = _note(cells[1]) if len(cells) > 1 else ""
                until = _until(cells[2], now_ms, valid_until_ms) if len(cells) > 2 else valid_until_ms
                if plate in seen:
                    raise ValueError(f"duplicate: the same plate as line {seen[plate]}")
            except ValueError as e:
                out.rejected.append(Rejected(start, shown, str(e)))
                continue
            seen[plate] = start
            out.lines.append(Line(start, plate, note, until))
    except csv.Error as e:
        raise FileError(f"not a CSV file: line {rows.line_num}: {e}") from None
    if not out.lines and not out.rejected:
        raise FileError("the file is empty: no line holds a plate")
    if not out.lines:
        why = "; ".join(f"line {r.line}: {r.reason}" for r in out.rejected[:3])
        raise FileError(f"no line of the file is a plate ({why})")
    return out


@dataclass(frozen=True, slots=True)
class OutEntry:
    plate: str
    note: str
    valid_until_ms: int | None


def _cell(note: str) -> str:
    return "'" + note if note.startswith(FORMULA) else note


def write(entries: Iterable[OutEntry]) -> bytes:
    """The list as CSV (UTF-8, ``\\r\\n`` line ends as RFC 4180 has them), header first."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["plate", "note", "valid_until"])
    for e in entries:
        w.writerow([e.plate, _cell(e.note), to_iso(e.valid_until_ms) or ""])
    return buf.getvalue().encode("utf-8")
