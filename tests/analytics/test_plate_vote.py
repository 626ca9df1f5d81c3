"""The per-character vote of a track's plate reads (src/ronda/analytics/plates/vote.py), on reads as the
reader gives them (plate, confidence, format, each character's probability). The same vote on the real
reader's reads of generated plates: tests/analytics/test_lpr.py (test_a_tracks_reads_vote_character_by_character)."""

from __future__ import annotations

from dataclasses import dataclass

from ronda.analytics.plates.vote import vote


@dataclass(frozen=True)
class R:
    plate: str
    confidence: float
    format: str | None = "it"
    chars: tuple[float, ...] = ()


def test_each_wrong_character_is_outvoted() -> None:
    v = vote([R("FB432KM", 0.9), R("FE482KM", 0.85), R("FB482KN", 0.88)])
    assert v is not None and (v.plate, v.format, v.reads) == ("FB482KM", "it", 3)
    assert v.best == 0 and 0.5 < v.confidence < 0.9  # no read says it: the best read's, times 2/3 at most


def test_a_doubtful_character_loses_to_a_sure_one() -> None:
    """Two reads, one character apart: the one the recogniser was sure of wins, whatever the reads'
    overall confidence."""
    sure = (0.99,) * 7
    doubtful = (0.99, 0.99, 0.2, 0.99, 0.99, 0.99, 0.99)
    v = vote([R("AB323CD", 0.9, chars=doubtful), R("AB823CD", 0.8, chars=sure)])
    assert v is not None and v.plate == "AB823CD" and v.confidence == 0.8 and v.best == 1


def test_agreeing_reads_keep_their_best() -> None:
    v = vote([R("AB123CD", 0.7), R("AB123CD", 0.95), R("AB128CD", 0.6)])
    assert v is not None and (v.plate, v.confidence, v.best, v.reads) == ("AB123CD", 0.95, 1, 3)


def test_the_winning_format_votes_and_the_others_do_not() -> None:
    v = vote([R("AB12345", 0.7, "it-moto"), R("AB123CD", 0.9), R("AB123CB", 0.6), R("AB123CD", 0.5)])
    assert v is not None and (v.plate, v.format, v.reads) == ("AB123CD", "it", 3)


def test_a_vote_that_is_no_plate_falls_back_to_whole_reads() -> None:
    # "eu" reads of one length whose vote mixes into a word (no digits left): the best whole read stays
    v = vote([R("AB12CD", 0.9, "eu"), R("ABCDXY", 0.5, "eu"), R("XYCDEF", 0.6, "eu")])
    assert v is not None and v.plate == "AB12CD"
    assert vote([]) is None
    one = vote([R("AB123CD", 0.8)])
    assert one is not None and (one.plate, one.reads, one.best) == ("AB123CD", 1, 0)
