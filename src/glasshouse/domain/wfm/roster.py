"""A solved roster as dated activities: what adherence compares the log with and what shift
reminders are sent for.

The scheduler speaks in interval indices of a horizon of local days; a roster speaks in UTC
instants. Each worked shift becomes one ``work`` entry with a shift id, and each of its breaks
an entry nested inside it (``break`` or ``lunch``) carrying the same shift id, the layout that
:class:`~glasshouse.domain.wfm.adherence.Schedule` reads (inner activities win)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from glasshouse.domain.wfm.adherence import Activity, ScheduledActivity
from glasshouse.domain.wfm.reminders import UpcomingShift
from glasshouse.domain.wfm.scheduling import AgentShift

__all__ = [
    "RosterEntry",
    "RosterError",
    "roster_entries",
    "scheduled_activities",
    "shift_id",
    "upcoming_shifts",
]


class RosterError(ValueError):
    """A roster that cannot be laid out in time (a day outside the slot list, a bad entry)."""


@dataclass(frozen=True, slots=True)
class RosterEntry:
    """``agent_id`` is scheduled ``activity`` over ``[start_ms, end_ms)`` (UTC ms) as part of
    shift ``shift_id`` (empty when the source gave none)."""

    agent_id: str
    shift_id: str
    start_ms: int
    end_ms: int
    activity: Activity

    def __post_init__(self) -> None:
        # The adherence type holds the checks on agent, span and activity: one set of rules.
        checked = ScheduledActivity(self.agent_id, self.start_ms, self.end_ms, self.activity)
        object.__setattr__(self, "activity", checked.activity)
        if not isinstance(self.shift_id, str):
            raise RosterError(f"shift_id must be a string, got {self.shift_id!r}")


def shift_id(agent_id: str, start_ms: int) -> str:
    """The id of an agent's shift starting at ``start_ms``: stable across re-runs of the solver
    that keep the shift, so replies to reminders stay attached to it."""
    return f"{agent_id}@{start_ms}"


def _break_activity(name: str) -> Activity:
    return Activity.LUNCH if "lunch" in name.lower() else Activity.BREAK


def roster_entries(
    shifts: Iterable[AgentShift], slot_starts_ms: Sequence[int], interval_s: int
) -> list[RosterEntry]:
    """The entries of ``shifts`` (a roster from ``schedule_roster``), where
    ``slot_starts_ms[d * per_day + s]`` is the UTC start of slot ``s`` of day ``d``.

    A shift lasts ``length x interval`` from its start (an overnight shift runs into the next
    day); a break starts ``offset`` intervals after the shift start and lasts its duration."""
    if isinstance(interval_s, bool) or not isinstance(interval_s, int) or interval_s <= 0:
        raise RosterError(f"interval_s must be a positive integer, got {interval_s!r}")
    if 86_400 % interval_s:
        raise RosterError(f"interval_s must divide a day, got {interval_s}")
    per_day = 86_400 // interval_s
    step = interval_s * 1000
    out: list[RosterEntry] = []
    for item in sorted(shifts, key=lambda a: (a.day, a.shift.start, a.agent)):
        slot = item.day * per_day + item.shift.start
        if not 0 <= slot < len(slot_starts_ms):
            raise RosterError(
                f"agent {item.agent!r}: shift on day {item.day} at slot {item.shift.start} is "
                f"outside the {len(slot_starts_ms)} slots given"
            )
        start = slot_starts_ms[slot]
        sid = shift_id(item.agent, start)
        out.append(
            RosterEntry(item.agent, sid, start, start + item.shift.length * step, Activity.WORK)
        )
        for brk in item.shift.breaks:
            begin = start + brk.offset * step
            out.append(
                RosterEntry(
                    item.agent,
                    sid,
                    begin,
                    begin + brk.duration_s * 1000,
                    _break_activity(brk.name),
                )
            )
    return out


def scheduled_activities(entries: Iterable[RosterEntry]) -> list[ScheduledActivity]:
    """The entries as adherence's scheduled activities."""
    return [ScheduledActivity(e.agent_id, e.start_ms, e.end_ms, e.activity) for e in entries]


def upcoming_shifts(entries: Iterable[RosterEntry]) -> list[UpcomingShift]:
    """One shift to remind per worked shift (``work`` entries with a shift id), by start.

    Entries without a shift id get the derived one, so a hand-made roster works as well."""
    seen: dict[tuple[str, str], UpcomingShift] = {}
    for e in entries:
        if e.activity is not Activity.WORK:
            continue
        sid = e.shift_id or shift_id(e.agent_id, e.start_ms)
        key = (e.agent_id, sid)
        known = seen.get(key)
        if known is None or e.start_ms < known.start_ms:
            seen[key] = UpcomingShift(e.agent_id, sid, e.start_ms)
    return sorted(seen.values(), key=lambda s: (s.start_ms, s.agent_id, s.shift_id))
