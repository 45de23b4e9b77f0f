"""Business hours and holidays in the tenant's zone, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import yaml

from glasshouse.domain.ivr import BusinessHours, HoursError, parse_business_hours
from glasshouse.domain.ivr.hours import OpenRange, zone_problem


def ms(*parts: int) -> int:
    """Epoch milliseconds of a UTC wall-clock time."""
    return int(datetime(*parts, tzinfo=UTC).timestamp() * 1000)  # type: ignore[misc]


def hours(
    weekly: dict[str, list[str]], zone: str = "Europe/Paris", **extra: object
) -> BusinessHours:
    return parse_business_hours({"zone": zone, "weekly": weekly, **extra})


def test_weekday_ranges_and_lunch_break() -> None:
    h = hours({"mon-fri": ["08:00-12:00", "13:30-18:00"], "sat": ["09:00-12:00"]})
    # Wednesday 2025-01-15, Paris is UTC+1 in winter.
    assert h.state(ms(2025, 1, 15, 6, 59)) == "closed"  # 07:59 local
    assert h.state(ms(2025, 1, 15, 7, 0)) == "open"  # 08:00 local: the start is inclusive
    assert h.state(ms(2025, 1, 15, 11, 0)) == "closed"  # 12:00 local: the end is exclusive
    assert h.state(ms(2025, 1, 15, 12, 30)) == "open"  # 13:30 local
    assert h.state(ms(2025, 1, 18, 8, 0)) == "open"  # Saturday 09:00
    assert h.state(ms(2025, 1, 19, 10, 0)) == "closed"  # Sunday is not listed
    assert h.weekly[6] == ()


def test_opening_follows_local_clock_across_spring_forward() -> None:
    """Paris moves from UTC+1 to UTC+2 on Sunday 2025-03-30 at 02:00 local."""
    h = hours({"mon-sun": ["08:00-18:00"]})
    # Friday before: opens at 07:00 UTC.
    assert h.state(ms(2025, 3, 28, 6, 59)) == "closed"
    assert h.state(ms(2025, 3, 28, 7, 0)) == "open"
    # Monday after: opens at 06:00 UTC, closes at 16:00 UTC.
    assert h.state(ms(2025, 3, 31, 5, 59)) == "closed"
    assert h.state(ms(2025, 3, 31, 6, 0)) == "open"
    assert h.state(ms(2025, 3, 31, 15, 59)) == "open"
    assert h.state(ms(2025, 3, 31, 16, 0)) == "closed"


def test_the_skipped_hour_never_opens_and_the_repeated_hour_opens_twice() -> None:
    night = hours({"sun": ["02:00-03:00"]})
    # 2025-03-30: 02:00-03:00 local does not exist; the UTC instants around it are closed.
    for minute in range(0, 120, 10):
        assert night.state(ms(2025, 3, 30, 0, 0) + minute * 60_000) == "closed"
    # 2025-10-26: 02:00-03:00 local happens twice (00:00-01:00 and 01:00-02:00 UTC).
    assert night.state(ms(2025, 10, 25, 23, 59)) == "closed"
    assert night.state(ms(2025, 10, 26, 0, 30)) == "open"
    assert night.state(ms(2025, 10, 26, 1, 30)) == "open"
    assert night.state(ms(2025, 10, 26, 2, 0)) == "closed"


def test_other_hemisphere_and_other_continent() -> None:
    ny = hours({"mon-fri": ["09:00-17:00"]}, zone="America/New_York")
    # DST starts 2025-03-09: Friday 7th opens 14:00 UTC, Monday 10th at 13:00 UTC.
    assert ny.state(ms(2025, 3, 7, 13, 59)) == "closed"
    assert ny.state(ms(2025, 3, 7, 14, 0)) == "open"
    assert ny.state(ms(2025, 3, 10, 13, 0)) == "open"
    sydney = hours({"mon-fri": ["09:00-17:00"]}, zone="Australia/Sydney")
    # Sydney's DST ends 2025-04-06: UTC+11 before, UTC+10 after.
    assert sydney.state(ms(2025, 4, 3, 22, 0)) == "open"  # Friday 09:00 local
    assert sydney.state(ms(2025, 4, 6, 23, 0)) == "open"  # Monday 09:00 local


def test_holidays_are_local_dates() -> None:
    h = hours(
        {"mon-sun": ["00:00-24:00"]},
        zone="Asia/Tokyo",
        holidays=["2025-12-25", {"date": "2025-12-31", "name": "Eve", "hours": ["09:00-12:00"]}],
    )
    # Christmas in Tokyo (UTC+9) starts at 15:00 UTC on the 24th.
    assert h.state(ms(2025, 12, 24, 14, 59)) == "open"
    assert h.state(ms(2025, 12, 24, 15, 0)) == "holiday"
    assert h.state(ms(2025, 12, 25, 14, 59)) == "holiday"
    assert h.state(ms(2025, 12, 25, 15, 0)) == "open"
    # New Year's Eve opens only 09:00-12:00 local (00:00-03:00 UTC).
    assert h.state(ms(2025, 12, 31, 1, 0)) == "open"
    assert h.state(ms(2025, 12, 31, 4, 0)) == "holiday"
    assert [d.name for d in h.holidays] == ["", "Eve"]
    assert h.is_open(ms(2025, 12, 31, 1, 0))


def test_yaml_dates_are_accepted_as_holidays() -> None:
    data = yaml.safe_load("zone: UTC\nweekly: {mon: ['08:00-09:00']}\nholidays: [2026-01-01]\n")
    assert isinstance(data["holidays"][0], date)
    h = parse_business_hours(data)
    assert h.holidays[0].day == date(2026, 1, 1)
    assert h.state(ms(2026, 1, 1, 12, 0)) == "holiday"


def test_default_zone_applies_when_none_is_given() -> None:
    h = parse_business_hours({"weekly": {"mon": ["00:00-24:00"]}}, default_zone="UTC")
    assert h.zone == "UTC"
    assert str(h.weekly[0][0]) == "00:00-24:00"
    assert 1439 in OpenRange(0, 1440)


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        ({"weekly": {"mon": ["18:00-08:00"]}}, "weekly.mon.0", "ends before it starts"),
        ({"weekly": {"mon": ["8:00-18:00"]}}, "weekly.mon.0", 'is not "HH:MM-HH:MM"'),
        ({"weekly": {"mon": ["08:00-24:30"]}}, "weekly.mon.0", "not a time of day"),
        ({"weekly": {"mon": ["08:61-09:00"]}}, "weekly.mon.0", "not a time of day"),
        ({"weekly": {"mon": ["08:00-12:00", "11:00-13:00"]}}, "weekly.mon", "overlap"),
        ({"weekly": {"funday": ["08:00-12:00"]}}, "weekly.funday", "is not a weekday"),
        ({"weekly": {"fri-mon": ["08:00-12:00"]}}, "weekly.fri-mon", "runs backwards"),
        ({"weekly": {"mon-fri": [], "wed": []}}, "weekly.wed", "Wednesday is already given"),
        ({"weekly": {"mon": "08:00-12:00"}}, "weekly.mon", "must be a list"),
        ({"weekly": ["mon"]}, "weekly", "must map weekdays"),
        ({}, "weekly", "is required"),
        ({"weekly": {}, "holidays": ["2025-02-30"]}, "holidays.0", "not a calendar date"),
        ({"weekly": {}, "holidays": ["25/12/2025"]}, "holidays.0", "ISO date"),
        ({"weekly": {}, "holidays": ["2025-12-25", "2025-12-25"]}, "holidays.1", "listed twice"),
        ({"weekly": {}, "holidays": [{"name": "x"}]}, "holidays.0.date", "is required"),
        ({"weekly": {}, "holidays": [{"date": "2025-01-01", "x": 1}]}, "holidays.0.x", "unknown"),
        (
            {"weekly": {}, "holidays": [datetime(2025, 1, 1, 10, 0)]},
            "holidays.0",
            "not a date and time",
        ),
        ({"weekly": {}, "zone": "Mars/Olympus"}, "zone", "unknown time zone"),
        ({"weekly": {}, "zone": "../../etc/passwd"}, "zone", "is not an IANA time zone name"),
        ({"weekly": {}, "zone": 5}, "zone", "must be an IANA time zone name"),
    ],
)
def test_bad_hours_name_the_field(data: dict[str, object], field: str, fragment: str) -> None:
    data.setdefault("zone", "Europe/Paris")
    with pytest.raises(HoursError) as info:
        parse_business_hours(data)
    problems = {p.field: p.message for p in info.value.problems}
    assert field in problems, info.value.problems
    assert fragment in problems[field]


def test_missing_zone_without_default() -> None:
    with pytest.raises(HoursError) as info:
        parse_business_hours({"weekly": {}})
    assert [p.field for p in info.value.problems] == ["zone"]
    assert "defaults.timezone" in info.value.problems[0].message


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(HoursError) as info:
        parse_business_hours(
            {"zone": "Nowhere/City", "weekly": {"mon": ["x"], "tue": ["10:00-09:00"]}}
        )
    assert [p.field for p in info.value.problems] == ["zone", "weekly.mon.0", "weekly.tue.0"]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/Argentina/Buenos_Aires"])
def test_valid_zones(zone: str) -> None:
    assert zone_problem(zone) is None
