"""Plate formats: Italian ones first, then other EU ones, then a generic EU fallback (docs/analytics.md,
Licence plates).

A format is a *template*: one character class per position (``L`` a letter, ``D`` a digit, ``X``
either) and the letters it allows. OCR confuses letters and digits that look alike (O/0, I/1, Z/2,
S/5, B/8, Q/0 …); where a format fixes whether a position holds a letter or a digit, the reading is
normalised by position (``normalise``). Italian plates never use I, O, Q or U as letters, so an O
read where a current Italian plate has a letter is not an Italian plate unless it was meant to be a
D (the usual OCR confusion, and the only letter that shape can be there).

``validate(text)`` → ``(plate, format)``: the normalised plate (capitals and digits, no spaces or
dashes) and the name of the format it matched, or ``None`` when it matched none (then the plate is the
text cleaned up, for the record, and should not be trusted). The reader (reader.py) uses the same
templates to decode the recogniser's output position by position (``TEMPLATES``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DIGITS = "0123456789"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
IT_LETTERS = "ABCDEFGHJKLMNPRSTVWXYZ"  # no I, O, Q, U
MIN_LEN, MAX_LEN = 5, 8  # the generic EU fallback's lengths

# Look-alikes, both ways: what a digit position makes of a letter, what a letter position makes of a digit.
TO_DIGIT = {"O": "0", "Q": "0", "D": "0", "U": "0", "I": "1", "L": "1", "J": "1", "T": "1", "Z": "2", "S": "5",
            "B": "8", "G": "6", "A": "4", "E": "3"}  # fmt: skip
TO_LETTER = {"0": "O", "1": "I", "2": "Z", "5": "S", "8": "B", "6": "G", "4": "A", "7": "T", "3": "E"}
# For Italian letter positions: the allowed letter an illegal one (or a digit) is most likely to be.
IT_LETTER_FIX = {"O": "D", "0": "D", "Q": "D", "U": "V", "I": "T", "1": "T", "2": "Z", "5": "S", "8": "B", "6": "G",
                 "4": "A", "7": "T", "3": "E"}  # fmt: skip

# Italian province codes (older plates, 1976-1994, and the right band of today's): two letters each.
PROVINCES = frozenset(
    "AG AL AN AO AP AQ AR AT AV BA BG BI BL BN BO BR BS BT BZ CA CB CE CH CI CL CN CO CR CS CT CZ EN FC FE "
    "FG FI FM FR GE GO GR IM IS KR LC LE LI LO LT LU MB MC ME MI MN MO MS MT NA NO NU OG OR OT PA PC PD PE "
    "PG PI PN PO PR PT PU PV PZ RA RC RE RG RI RM RN RO SA SI SO SP SR SS SU SV TA TE TN TO TP TR TS TV UD "
    "VA VB VC VE VI VR VS VT VV".split()
)


@dataclass(slots=True, frozen=True)
class Template:
    name: str
    classes: str  # one of L, D, X per position
    letters: str = LETTERS
    prior: float = 0.0  # log-odds against the current Italian format, for a reading that fits both

    def allowed(self, pos: int) -> str:
        c = self.classes[pos]
        return self.letters if c == "L" else DIGITS if c == "D" else self.letters + DIGITS

    def __len__(self) -> int:
        return len(self.classes)


# Order = preference when two fit equally: the reader is for Italian streets.
TEMPLATES: tuple[Template, ...] = (
    Template("it", "LLDDDLL", IT_LETTERS),  # since 1994: AA 000 AA
    Template("it-moto", "LLDDDDD", IT_LETTERS, -0.7),  # motorcycles since 1999: AA 00000
    Template("it-old", "LLXDDDDD", LETTERS, -1.5),  # 1976-1994: province + 6 (e.g. MI 123456, RM A12345)
    Template("fr", "LLDDDLL", "ABCDEFGHJKLMNPQRSTVWXYZ", -0.5),  # SIV since 2009: AA-000-AA
    Template("es", "DDDDLLL", "BCDFGHJKLMNPRSTVWXYZ", -0.5),  # since 2000: 0000 AAA
)
BY_NAME = {t.name: t for t in TEMPLATES}
_CLEAN = re.compile(r"[^A-Z0-9]")


def clean(text: str) -> str:
    """Capitals and digits only (spaces, dashes, dots and the like dropped)."""
    return _CLEAN.sub("", text.upper())


def fit(text: str, template: Template) -> str | None:
    """``text`` (clean, same length) normalised to ``template`` by position, or None when a position
    holds something no look-alike rule turns into an allowed character."""
    if len(text) != len(template):
        return None
    out = []
    for pos, ch in enumerate(text):
        allowed = template.allowed(pos)
        if ch not in allowed:
            if template.classes[pos] == "D":
                ch = TO_DIGIT.get(ch, ch)
            elif template.letters == IT_LETTERS:
                ch = IT_LETTER_FIX.get(ch, ch)
            elif template.classes[pos] == "L":
                ch = TO_LETTER.get(ch, ch)
        if ch not in allowed:
            return None
        out.append(ch)
    plate = "".join(out)
    if template.name == "it-old" and not _old_italian(plate):
        return None
    return plate


def _old_italian(plate: str) -> bool:
    """A province code and six characters, the first may be a letter (MI 123456, RM A12345)."""
    return plate[:2] in PROVINCES


def changes(a: str, b: str) -> int:
    return sum(x != y for x, y in zip(a, b, strict=True))


def generic(plate: str) -> bool:
    """The EU fallback: 5-8 capitals and digits with at least two of each (a word or a number alone,
    as shop signs and house numbers have, is not a plate)."""
    return (MIN_LEN <= len(plate) <= MAX_LEN and sum(c.isdigit() for c in plate) >= 2
            and sum(c.isalpha() for c in plate) >= 2)  # fmt: skip


def validate(text: str) -> tuple[str, str | None]:
    """``(plate, format)``: the reading normalised to the known format that needs the fewest
    look-alike changes (ties: the earlier in :data:`TEMPLATES`), else ``(clean text, "eu")`` when it
    passes the generic EU rule, else ``(clean text, None)``."""
    raw = clean(text)
    best: tuple[int, int, str, str] | None = None
    for order, t in enumerate(TEMPLATES):
        plate = fit(raw, t)
        if plate is not None:
            key = (changes(raw, plate), order, plate, t.name)
            if best is None or key < best:
                best = key
    if best is not None:
        return best[2], best[3]
    return raw, ("eu" if generic(raw) else None)
