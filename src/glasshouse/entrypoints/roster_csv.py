"""Roster files: the CSV that ``glasshouse wfm schedule --roster-out`` writes and that adherence,
the planner report and shift reminders read.

Columns ``agent_id, shift_id, start, end, activity``; ``shift_id`` is optional when reading (a
hand-made schedule may leave it out). Times are ISO 8601; written with their UTC offset, read
as local to the given zone when they have none. Problems are collected with ``FILE:LINE``."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from glasshouse.domain.wfm.adherence import Activity, AdherenceError
from glasshouse.domain.wfm.roster import RosterEntry, RosterError

__all__ = ["COLUMNS", "RosterCsvError", "instant_ms", "read_roster_csv", "write_roster_csv"]

COLUMNS = ("agent_id", "shift_id", "start", "end", "activity")
_REQUIRED = ("agent_id", "start", "end", "activity")
_SHOWN = 20


class RosterCsvError(ValueError):
    """The roster file could not be read; the message lists the problems (``FILE:LINE: ...``)."""


def instant_ms(text: str, tz: tzinfo) -> int | None:
    """UTC ms of an ISO 8601 date-time (local to ``tz`` without an offset), or None."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return int(when.timestamp() * 1000)


def read_roster_csv(path: str | Path, tz: tzinfo) -> list[RosterEntry]:
    """Every entry of the file, or :class:`RosterCsvError` naming each bad line."""
    problems: list[str] = []
    entries: list[RosterEntry] = []
    try:
        fileobj = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise RosterCsvError(f"cannot read {path}: {exc.strerror or exc}") from None
    with fileobj:
        reader = csv.reader(fileobj)
        header: dict[str, int] = {}
        try:
            for fields in reader:
                line = reader.line_num
                if not fields or all(not f.strip() for f in fields):
                    continue
                if not header:
                    names = [f.strip().lower() for f in fields]
                    missing = [c for c in _REQUIRED if c not in names]
                    if missing:
                        raise RosterCsvError(
                            f"{path}:{line}: header: missing column(s) {', '.join(missing)}"
                        )
                    header = {c: names.index(c) for c in COLUMNS if c in names}
                    continue
                values = {
                    c: fields[i].strip() if i < len(fields) else "" for c, i in header.items()
                }
                entry = _entry(values, tz, f"{path}:{line}", problems)
                if entry is not None:
                    entries.append(entry)
        except csv.Error as exc:
            problems.append(f"{path}:{reader.line_num}: row: not valid CSV ({exc})")
    if problems:
        shown = "\n".join(problems[:_SHOWN])
        more = len(problems) - _SHOWN
        if more > 0:
            shown += f"\nand {more} more problem(s)"
        raise RosterCsvError(f"{len(problems)} problem(s) in the schedule {path}:\n{shown}")
    if not entries:
        raise RosterCsvError(f"{path}: no scheduled activities")
    return entries


def _entry(
    values: dict[str, str], tz: tzinfo, where: str, problems: list[str]
) -> RosterEntry | None:
    times: list[int] = []
    for column in ("start", "end"):
        ms = instant_ms(values[column], tz)
        if ms is None:
            problems.append(f"{where}: {column}: not an ISO 8601 date and time: {values[column]!r}")
        else:
            times.append(ms)
    if len(times) < 2:
        return None
    try:
        activity = Activity(values["activity"])
    except ValueError:
        known = ", ".join(a.value for a in Activity)
        problems.append(f"{where}: activity: {values['activity']!r} is not one of {known}")
        return None
    try:
        return RosterEntry(
            values["agent_id"], values.get("shift_id", ""), times[0], times[1], activity
        )
    except (AdherenceError, RosterError) as exc:
        problems.append(f"{where}: {exc}")
        return None


def write_roster_csv(path: str | Path, entries: Iterable[RosterEntry], tz: tzinfo) -> int:
    """Write ``entries`` (times local to ``tz`` with their offset); returns the rows written."""
    rows = 0
    try:
        with open(path, "w", encoding="utf-8", newline="") as fileobj:
            writer = csv.writer(fileobj)
            writer.writerow(COLUMNS)
            for e in entries:
                writer.writerow(
                    [
                        e.agent_id,
                        e.shift_id,
                        _iso(e.start_ms, tz),
                        _iso(e.end_ms, tz),
                        e.activity.value,
                    ]
                )
                rows += 1
    except OSError as exc:
        raise RosterCsvError(f"cannot write {path}: {exc.strerror or exc}") from None
    return rows


def _iso(ms: int, tz: tzinfo) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(tz).isoformat()
