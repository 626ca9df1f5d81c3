"""The site's time zone: local calendar days of a UTC range (23 h and 25 h on DST changes), offsets."""

from __future__ import annotations

from datetime import date

import pytest

from ronda.config import ConfigError, load_config
from ronda.timeutil import (
    HOUR_MS,
    day_start_ms,
    local_date,
    local_days,
    parse_iso,
    to_iso,
    utc_offset_minutes,
    zone,
)

ROME = zone("Europe/Rome")
UTC = zone("UTC")


def days(start: str, end: str, tz) -> list[tuple[str, float, str, str]]:
    return [(d.date.isoformat(), d.hours, to_iso(d.start_ms), to_iso(d.end_ms))
            for d in local_days(parse_iso(start), parse_iso(end), tz)]  # fmt: skip


def test_rome_spring_forward_day_has_23_hours():
    assert days("2026-03-29T10:00:00Z", "2026-03-29T11:00:00Z", ROME) == [
        ("2026-03-29", 23, "2026-03-28T23:00:00.000Z", "2026-03-29T22:00:00.000Z")
    ]


def test_rome_fall_back_day_has_25_hours():
    assert days("2026-10-25T10:00:00Z", "2026-10-25T11:00:00Z", ROME) == [
        ("2026-10-25", 25, "2026-10-24T22:00:00.000Z", "2026-10-25T23:00:00.000Z")
    ]


def test_normal_days_have_24_hours_in_winter_and_summer():
    assert days("2026-01-15T12:00:00Z", "2026-01-15T12:00:01Z", ROME) == [
        ("2026-01-15", 24, "2026-01-14T23:00:00.000Z", "2026-01-15T23:00:00.000Z")
    ]
    assert days("2026-07-15T12:00:00Z", "2026-07-15T12:00:01Z", ROME) == [
        ("2026-07-15", 24, "2026-07-14T22:00:00.000Z", "2026-07-15T22:00:00.000Z")
    ]


def test_utc_days_always_have_24_hours():
    got = local_days(parse_iso("2026-01-01T00:00:00Z"), parse_iso("2027-01-01T00:00:00Z"), UTC)
    assert len(got) == 365 and {d.hours for d in got} == {24}
    assert all(to_iso(d.start_ms).endswith("T00:00:00.000Z") for d in got)
    assert {utc_offset_minutes(UTC, d.start_ms) for d in got} == {0}


def test_a_range_over_several_days_lists_each_overlapping_day_contiguously():
    got = local_days(parse_iso("2026-03-27T12:00:00Z"), parse_iso("2026-03-31T05:00:00Z"), ROME)
    assert [(d.date.isoformat(), d.hours) for d in got] == [
        ("2026-03-27", 24), ("2026-03-28", 24), ("2026-03-29", 23), ("2026-03-30", 24), ("2026-03-31", 24)
    ]  # fmt: skip
    assert all(a.end_ms == b.start_ms for a, b in zip(got, got[1:], strict=False))
    assert got[0].start_ms <= parse_iso("2026-03-27T12:00:00Z") < got[-1].end_ms
    # A whole year in Rome: one 23 h day, one 25 h day, the rest 24 h, and 365 days in all.
    year = local_days(parse_iso("2025-12-31T23:00:00Z"), parse_iso("2026-12-31T23:00:00Z"), ROME)
    assert len(year) == 365 and sum(d.end_ms - d.start_ms for d in year) == 365 * 24 * HOUR_MS
    assert sorted(d.hours for d in year if d.hours != 24) == [23, 25]


def test_range_edges():
    # [start, end) is half-open: a range ending exactly at local midnight does not include the next day.
    assert [d[0] for d in days("2026-03-28T12:00:00Z", "2026-03-28T23:00:00Z", ROME)] == ["2026-03-28"]
    assert [d[0] for d in days("2026-03-28T12:00:00Z", "2026-03-28T23:00:00.001Z", ROME)] == ["2026-03-28",
                                                                                             "2026-03-29"]  # fmt: skip
    assert local_days(5, 5, ROME) == [] and local_days(6, 5, ROME) == []


def test_offsets_and_local_dates():
    assert utc_offset_minutes(ROME, parse_iso("2026-03-29T00:59:59Z")) == 60
    assert utc_offset_minutes(ROME, parse_iso("2026-03-29T01:00:00Z")) == 120
    assert utc_offset_minutes(zone("Asia/Kolkata"), 0) == 330
    assert utc_offset_minutes(zone("America/New_York"), parse_iso("2026-07-01T00:00:00Z")) == -240
    assert local_date(parse_iso("2026-07-01T22:30:00Z"), ROME) == date(2026, 7, 2)


def test_zones_with_odd_transitions():
    # Midnight does not exist when DST starts at 00:00 (Santiago): the day starts at 01:00, 23 h long.
    santiago = zone("America/Santiago")
    spring = local_days(parse_iso("2026-09-06T12:00:00Z"), parse_iso("2026-09-06T13:00:00Z"), santiago)
    assert [(d.date.isoformat(), d.hours) for d in spring] == [("2026-09-06", 23)]
    assert local_date(spring[0].start_ms, santiago) == date(2026, 9, 6)
    # Lord Howe Island moves its clocks by 30 minutes.
    lhi = zone("Australia/Lord_Howe")
    assert local_days(parse_iso("2026-04-05T06:00:00Z"), parse_iso("2026-04-05T07:00:00Z"), lhi)[0].hours == 24.5
    # Samoa skipped 30 December 2011 entirely.
    apia = zone("Pacific/Apia")
    assert day_start_ms(date(2011, 12, 30), apia) is None
    got = local_days(parse_iso("2011-12-29T12:00:00Z"), parse_iso("2011-12-31T12:00:00Z"), apia)
    assert "2011-12-30" not in [d.date.isoformat() for d in got]
    assert all(a.end_ms == b.start_ms for a, b in zip(got, got[1:], strict=False))


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "Europe", "../../etc/passwd", "/etc/localtime", "x" * 100])
def test_unknown_zones_are_refused(name):
    with pytest.raises(ValueError, match="unknown time zone"):
        zone(name)


def test_config_validates_the_site_timezone(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("site:\n  timezone: Europe/Rom\n")
    with pytest.raises(ConfigError) as e:
        load_config(f, environ={})
    assert "site.timezone" in str(e.value) and "Europe/Rom" in str(e.value)
    ok = load_config(None, overrides={"data_dir": str(tmp_path)}, environ={"RONDA__SITE__TIMEZONE": "Europe/Rome"})
    assert ok.site.timezone == "Europe/Rome"
    assert load_config(None, overrides={"data_dir": str(tmp_path)}, environ={}).site.timezone == "UTC"
