"""One plate from a vehicle track's reads: a vote character by character (docs/analytics.md, Licence
plates). Pure: no pictures, no clock.

A vehicle is read a few times as it crosses the picture; one frame may be blurred, and its reading has
one wrong character (an 8 read as 3) at a confidence like the others'. Taking the best single read would
let that frame win whenever it happens to be the most confident; and when every frame is wrong in a
different place, no single read is the plate at all. So the reads of the same plate format (the format
with the most summed confidence; same length) vote position by position: each read gives each of its
characters the read's confidence times that character's own probability (the recogniser's evidence for
it), and the heaviest character of each position wins. The result must still be a plate of that format
(``format.fit``; the generic EU rule for ``"eu"``), else the plate with the most summed confidence over
whole reads is kept, as before.

Confidence of the result: that of the best read that says exactly the voted plate; when no read does
(every frame had its own wrong character), the best read's confidence times the smallest share of the
vote a winning character got (two reads against one: two thirds at most).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ronda.analytics.plates.format import BY_NAME, fit, generic


class Read(Protocol):
    """What a vote needs of a read (``reader.PlateRead`` has it)."""

    @property
    def plate(self) -> str: ...
    @property
    def confidence(self) -> float: ...
    @property
    def format(self) -> str | None: ...
    @property
    def chars(self) -> tuple[float, ...]: ...


@dataclass(frozen=True, slots=True)
class Voted:
    plate: str
    format: str | None
    confidence: float
    reads: int  # the reads that took part in the vote (of the winning format)
    best: int  # index of the read that stands for the result (its crop and box)


def _valid(plate: str, fmt: str | None) -> bool:
    t = BY_NAME.get(fmt or "")
    if t is not None:
        return fit(plate, t) == plate
    return fmt == "eu" and generic(plate)


def _best_of(reads: Sequence[Read], idx: Sequence[int]) -> int:
    return max(idx, key=lambda i: (reads[i].confidence, -i))


def _whole(reads: Sequence[Read]) -> Voted:
    """The plate with the most summed confidence over whole reads (the vote's fallback)."""
    total: dict[str, float] = defaultdict(float)
    for r in reads:
        total[r.plate] += r.confidence
    plate = max(total, key=lambda p: total[p])
    idx = [i for i, r in enumerate(reads) if r.plate == plate]
    best = _best_of(reads, idx)
    return Voted(plate, reads[best].format, reads[best].confidence, len(idx), best)


def vote(reads: Sequence[Read]) -> Voted | None:
    """The track's plate (None without reads)."""
    if not reads:
        return None
    groups: dict[tuple[str | None, int], list[int]] = defaultdict(list)
    for i, r in enumerate(reads):
        groups[(r.format, len(r.plate))].append(i)
    key = max(groups, key=lambda k: (sum(reads[i].confidence for i in groups[k]), len(groups[k])))
    idx = groups[key]
    fmt, n = key
    if len(idx) < 2:
        return _whole(reads)
    lead = _best_of(reads, idx)
    out, shares = [], []
    for pos in range(n):
        weight: dict[str, float] = defaultdict(float)
        for i in idx:
            r = reads[i]
            p = r.chars[pos] if len(r.chars) == n else 1.0
            weight[r.plate[pos]] += r.confidence * max(p, 1e-3)
        # ties: the most confident read's character
        ch = max(weight, key=lambda c: (weight[c], c == reads[lead].plate[pos]))
        out.append(ch)
        shares.append(weight[ch] / sum(weight.values()))
    plate = "".join(out)
    if not _valid(plate, fmt):
        return _whole(reads)
    same = [i for i in idx if reads[i].plate == plate]
    if same:
        best = _best_of(reads, same)
        return Voted(plate, fmt, reads[best].confidence, len(idx), best)
    return Voted(plate, fmt, round(reads[lead].confidence * min(shares), 3), len(idx), lead)
