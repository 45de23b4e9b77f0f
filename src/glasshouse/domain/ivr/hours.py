"""Business hours and holidays in a tenant's time zone.

Opening ranges are local wall-clock times ("08:00-18:00") per weekday; holidays are local dates,
closed all day unless they list hours of their own. Time comes in as epoch milliseconds and is
converted with ``zoneinfo``, so daylight-saving changes move the UTC instants of opening and
closing exactly as the tenant's clocks move. A range never crosses midnight: "22:00-02:00" is
written as "22:00-24:00" on one day and "00:00-02:00" on the next.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAY_KEYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MAX_RANGES_PER_DAY: Final = 8
MAX_HOLIDAYS: Final = 400
MAX_ZONE_LENGTH: Final = 64

_RANGE = re.compile(r"(\d{2}):(\d{2})-(\d{2}):(\d{2})")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ZONE = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*")

HoursState = Literal["open", "closed", "holiday"]


@dataclass(frozen=True, slots=True)
class HoursProblem:
    """One bad value: ``field`` is a dotted path ("weekly.mon.1", "holidays.0.date")."""

    field: str
    message: str


class HoursError(ValueError):
    """Business hours could not be read; ``problems`` lists every bad value."""

    def __init__(self, problems: Sequence[HoursProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in self.problems))


@dataclass(frozen=True, slots=True)
class OpenRange:
    """Open from ``start`` to ``end``, in minutes after local midnight (end may be 1440)."""

    start: int
    end: int

    def __contains__(self, minute: int) -> bool:
        return self.start <= minute < self.end

    def __str__(self) -> str:
        return f"{_clock(self.start)}-{_clock(self.end)}"


@dataclass(frozen=True, slots=True)
class Holiday:
    """A local date that is closed, or open only during ``ranges``."""

    day: date
    ranges: tuple[OpenRange, ...] = ()
    name: str = ""


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """Weekly opening ranges (Monday first) and holidays, in the IANA zone ``zone``."""

    zone: str
    weekly: tuple[tuple[OpenRange, ...], ...]
    holidays: tuple[Holiday, ...] = ()

    def local_time(self, now_ms: int) -> datetime:
        """The tenant's wall-clock time at epoch milliseconds ``now_ms``."""
        return datetime.fromtimestamp(now_ms / 1000, tz=UTC).astimezone(ZoneInfo(self.zone))

    def state(self, now_ms: int) -> HoursState:
        """ "holiday" on a holiday outside its own hours, else "open" or "closed"."""
        local = self.local_time(now_ms)
        minute = local.hour * 60 + local.minute
        for holiday in self.holidays:
            if holiday.day == local.date():
                return "open" if any(minute in r for r in holiday.ranges) else "holiday"
        return "open" if any(minute in r for r in self.weekly[local.weekday()]) else "closed"

    def is_open(self, now_ms: int) -> bool:
        return self.state(now_ms) == "open"


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def zone_problem(name: object) -> str | None:
    """Why ``name`` is not a usable IANA time zone, or None when it is."""
    if not isinstance(name, str):
        return f"must be an IANA time zone name such as 'Europe/Paris', got {_kind(name)}"
    if len(name) > MAX_ZONE_LENGTH or not _ZONE.fullmatch(name):
        return f"{name[:MAX_ZONE_LENGTH]!r} is not an IANA time zone name"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return f"unknown time zone {name!r}"
    return None


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    return {int: "a number", float: "a number", str: "text", list: "a list", dict: "a mapping"}.get(
        type(value), type(value).__name__
    )


class _Reader:
    def __init__(self) -> None:
        self.problems: list[HoursProblem] = []

    def bad(self, field: str, message: str) -> None:
        self.problems.append(HoursProblem(field, message))

    def ranges(self, field: str, raw: object) -> tuple[OpenRange, ...]:
        if not isinstance(raw, list):
            self.bad(field, f'must be a list of "HH:MM-HH:MM" ranges, got {_kind(raw)}')
            return ()
        if len(raw) > MAX_RANGES_PER_DAY:
            self.bad(field, f"more than {MAX_RANGES_PER_DAY} ranges")
            return ()
        out: list[OpenRange] = []
        for index, item in enumerate(raw):
            parsed = self.one_range(f"{field}.{index}", item)
            if parsed is not None:
                out.append(parsed)
        out.sort(key=lambda r: r.start)
        for before, after in itertools.pairwise(out):
            if after.start < before.end:
                self.bad(field, f"ranges {before} and {after} overlap")
        return tuple(out)

    def one_range(self, field: str, raw: object) -> OpenRange | None:
        if not isinstance(raw, str):
            self.bad(field, f'must be "HH:MM-HH:MM", got {_kind(raw)}')
            return None
        match = _RANGE.fullmatch(raw.strip())
        if match is None:
            self.bad(field, f'{raw[:40]!r} is not "HH:MM-HH:MM"')
            return None
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if m1 > 59 or m2 > 59 or start > 1440 or end > 1440:
            self.bad(field, f"{raw!r} is not a time of day (00:00 to 24:00)")
            return None
        if end <= start:
            self.bad(
                field,
                f"{raw!r} ends before it starts; split ranges that cross midnight "
                '("22:00-24:00" and "00:00-02:00" the next day)',
            )
            return None
        return OpenRange(start, end)

    def days(self, field: str, key: object) -> list[int]:
        if not isinstance(key, str):
            self.bad(field, f"weekday must be text like 'mon' or 'mon-fri', got {_kind(key)}")
            return []
        first, _, last = key.strip().lower().partition("-")
        if first not in WEEKDAY_KEYS or (last and last not in WEEKDAY_KEYS):
            self.bad(field, f"{key[:20]!r} is not a weekday (mon..sun) or a range like 'mon-fri'")
            return []
        a = WEEKDAY_KEYS.index(first)
        b = WEEKDAY_KEYS.index(last) if last else a
        if b < a:
            self.bad(field, f"{key!r} runs backwards; write days Monday first")
            return []
        return list(range(a, b + 1))

    def weekly(self, raw: object) -> tuple[tuple[OpenRange, ...], ...]:
        week: list[tuple[OpenRange, ...]] = [()] * 7
        if not isinstance(raw, Mapping):
            self.bad("weekly", f"must map weekdays to lists of ranges, got {_kind(raw)}")
            return tuple(week)
        if len(raw) > 7:
            self.bad("weekly", "has more than 7 entries")
            return tuple(week)
        given: dict[int, str] = {}
        for key, value in raw.items():
            field = f"weekly.{key}"
            ranges = self.ranges(field, value)
            for day in self.days(field, key):
                if day in given:
                    self.bad(field, f"{_DAY_NAMES[day]} is already given by {given[day]!r}")
                given[day] = str(key)
                week[day] = ranges
        return tuple(week)

    def holiday_date(self, field: str, raw: object) -> date | None:
        # YAML turns an unquoted 2025-12-25 into a date; a timestamp is not a holiday.
        if isinstance(raw, datetime):
            self.bad(field, "must be a date (YYYY-MM-DD), not a date and time")
            return None
        if isinstance(raw, date):
            return raw
        if not isinstance(raw, str) or not _ISO_DATE.fullmatch(raw):
            shown = repr(raw[:20]) if isinstance(raw, str) else _kind(raw)
            self.bad(field, f"must be an ISO date YYYY-MM-DD, got {shown}")
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            self.bad(field, f"{raw!r} is not a calendar date")
            return None

    def holidays(self, raw: object) -> tuple[Holiday, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.bad("holidays", f"must be a list of dates, got {_kind(raw)}")
            return ()
        if len(raw) > MAX_HOLIDAYS:
            self.bad("holidays", f"more than {MAX_HOLIDAYS} holidays")
            return ()
        out: dict[date, Holiday] = {}
        for index, item in enumerate(raw):
            field = f"holidays.{index}"
            ranges: tuple[OpenRange, ...] = ()
            name = ""
            if isinstance(item, Mapping):
                extra = sorted(str(k) for k in item if k not in ("date", "name", "hours"))
                if extra:
                    self.bad(f"{field}.{extra[0]}", "unknown field (date, name, hours)")
                if "date" not in item:
                    self.bad(f"{field}.date", "is required")
                    continue
                day = self.holiday_date(f"{field}.date", item["date"])
                raw_name = item.get("name", "")
                if not isinstance(raw_name, str) or len(raw_name) > 100:
                    self.bad(f"{field}.name", "must be text of at most 100 characters")
                else:
                    name = raw_name
                if "hours" in item:
                    ranges = self.ranges(f"{field}.hours", item["hours"])
            else:
                day = self.holiday_date(field, item)
            if day is None:
                continue
            if day in out:
                self.bad(field, f"{day.isoformat()} is listed twice")
            out[day] = Holiday(day, ranges, name)
        return tuple(sorted(out.values(), key=lambda h: h.day))


def parse_business_hours(
    data: Mapping[str, object], *, default_zone: str | None = None
) -> BusinessHours:
    """Read ``zone`` (or ``default_zone``), ``weekly`` and ``holidays`` from ``data``; raises
    :class:`HoursError` listing every problem with its field."""
    reader = _Reader()
    zone = data.get("zone", default_zone)
    if zone is None:
        reader.bad("zone", "no time zone: set zone here or defaults.timezone of the flow")
    else:
        problem = zone_problem(zone)
        if problem:
            reader.bad("zone", problem)
    if "weekly" not in data:
        reader.bad("weekly", "is required")
    weekly = reader.weekly(data.get("weekly", {}))
    holidays = reader.holidays(data.get("holidays"))
    if reader.problems:
        raise HoursError(reader.problems)
    assert isinstance(zone, str)
    return BusinessHours(zone, weekly, holidays)
