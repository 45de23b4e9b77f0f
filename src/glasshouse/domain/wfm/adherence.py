"""Schedule adherence and conformance: what agents were scheduled to do against what the event
log says they did, over a period (historical) or as events arrive (live).

A schedule is a list of :class:`ScheduledActivity` (agent, ``[start_ms, end_ms)``, activity),
independent of how it was made (the solver in :mod:`.scheduling`, a spreadsheet, an import).
An agent's activities may be disjoint or nested (a ``break`` inside a ``work`` block); where they
nest the innermost one applies. Partial overlaps are rejected. Time not covered by any activity
is ``off``.

The actual state of an agent, rebuilt from the log, is one of:

* ``logged_out``;
* ``ready`` (ready and idle);
* ``busy``: from ``contact.offered`` / ``callback.dialing`` until the offer ends
  (``contact.ring_no_answer``, ``contact.offer_withdrawn``, ``callback.failed``) or, for an
  answered contact, until ``agent.acw_ended`` (ringing, talking, hold and after-call work);
  likewise on a call the agent placed (``contact.outbound_started`` until
  ``contact.outbound_failed`` or ``agent.acw_ended``), an agent's call they answered
  (``contact.consult_answered``) and a contact transferred to them
  (``contact.transfer_connected``), each until its ``agent.acw_ended``;
* ``not_ready(reason)`` with the tenant's reason code (``login`` right after logging in).

Busy wins over the ready / not-ready setting (a not-ready chosen during a call applies once the
agent is free). A state change for an agent who is not logged in is ignored, test-mode events
are left out (as in reports), and an event stamped earlier than the agent's previous one counts
at the previous one's time.

**Which actual state matches which scheduled activity** (:meth:`AdherenceRules.matches`):

============  =================================================================
scheduled     in adherence when the agent is
============  =================================================================
``work``      ``ready`` or ``busy``
``break``     ``not_ready`` with reason ``break``
``lunch``     ``not_ready`` with reason ``lunch``
``training``  ``not_ready`` with reason ``training``
``meeting``   ``not_ready`` with reason ``meeting``
``off``       ``logged_out``
============  =================================================================

The reason codes accepted for each not-ready activity are a tenant setting
(:attr:`AdherenceRules.reasons`; the defaults are the activity names).

Over a period ``[start_ms, end_ms)``, per agent, in integer milliseconds:

* ``scheduled_ms``: time scheduled with an activity other than ``off``;
* ``in_adherence_ms``: the part of ``scheduled_ms`` spent in the matching state;
* **adherence** = ``in_adherence_ms / scheduled_ms``. Scheduled-off time is not in the ratio
  (a day's figure would otherwise be mostly the night), but being logged in while scheduled off
  is out of adherence: it shows in the spans and in ``logged_in_off_ms``;
* ``scheduled_work_ms``: time scheduled ``work``;
* ``worked_ms``: time logged in and not in a not-ready reason counted as off the phone
  (:attr:`AdherenceRules.off_phone_reasons`, by default ``break``, ``lunch``, ``training``,
  ``meeting``), whenever it happened;
* **conformance** = ``worked_ms / scheduled_work_ms`` (above 1 when the agent worked more than
  scheduled).

Ratios are exact :class:`~fractions.Fraction` s, ``None`` when the denominator is 0. A team's
figures are the sums of its agents' millisecond figures (not an average of percentages).

An **out-of-adherence span** is a maximal stretch with one scheduled activity and one actual
state that do not match. :class:`AdherenceMonitor` computes the same spans live, from the same
state rules, and raises one :class:`AdherenceAlert` per *episode* (a continuous stretch out of
adherence, whatever the activities and states within it) once it has lasted the threshold.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from typing import Final

from glasshouse.domain.events import (
    AgentAcwEnded,
    AgentAcwStarted,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentNotReady,
    AgentReady,
    CallbackDialing,
    CallbackFailed,
    ContactAnswered,
    ContactConsultAnswered,
    ContactEnded,
    ContactHeld,
    ContactOffered,
    ContactOfferWithdrawn,
    ContactOutboundFailed,
    ContactOutboundStarted,
    ContactRetrieved,
    ContactRingNoAnswer,
    ContactTransferConnected,
    ContactTransferred,
    Event,
)

__all__ = [
    "BUSY",
    "LOGGED_OUT",
    "READY",
    "Activity",
    "AdherenceAlert",
    "AdherenceError",
    "AdherenceFigures",
    "AdherenceMonitor",
    "AdherenceReport",
    "AdherenceRules",
    "AgentAdherence",
    "AgentState",
    "AgentStateTracker",
    "OutOfAdherence",
    "OutOfAdherenceSpan",
    "Schedule",
    "ScheduledActivity",
    "StateChange",
    "StateKind",
    "StateSpan",
    "adherence_report",
    "agent_timelines",
    "not_ready",
]


class AdherenceError(ValueError):
    """A schedule, a rule set or a monitor setting is invalid; the message says which and why."""


class Activity(StrEnum):
    """What a schedule expects an agent to do."""

    WORK = "work"
    BREAK = "break"
    LUNCH = "lunch"
    TRAINING = "training"
    MEETING = "meeting"
    OFF = "off"


_NOT_READY_ACTIVITIES: Final = frozenset(
    {Activity.BREAK, Activity.LUNCH, Activity.TRAINING, Activity.MEETING}
)


class StateKind(StrEnum):
    LOGGED_OUT = "logged_out"
    READY = "ready"
    BUSY = "busy"
    NOT_READY = "not_ready"


@dataclass(frozen=True, slots=True)
class AgentState:
    """An agent's actual state; ``reason`` is set for ``not_ready`` only."""

    kind: StateKind
    reason: str = ""

    def __str__(self) -> str:
        return f"not_ready({self.reason})" if self.kind is StateKind.NOT_READY else str(self.kind)


LOGGED_OUT: Final = AgentState(StateKind.LOGGED_OUT)
READY: Final = AgentState(StateKind.READY)
BUSY: Final = AgentState(StateKind.BUSY)
LOGIN_REASON: Final = "login"


def not_ready(reason: str) -> AgentState:
    return AgentState(StateKind.NOT_READY, reason)


def _ratio(numerator: int, denominator: int) -> Fraction | None:
    return Fraction(numerator, denominator) if denominator else None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ---------------------------------------------------------------------------------------------
# The schedule


@dataclass(frozen=True, slots=True)
class ScheduledActivity:
    """``agent_id`` is scheduled ``activity`` over ``[start_ms, end_ms)`` (integer ms, UTC)."""

    agent_id: str
    start_ms: int
    end_ms: int
    activity: Activity

    def __post_init__(self) -> None:
        where = f"scheduled activity {self.agent_id!r} [{self.start_ms!r}, {self.end_ms!r})"
        if not isinstance(self.agent_id, str) or not self.agent_id:
            raise AdherenceError(f"{where}: agent_id must be a non-empty string")
        if not _is_int(self.start_ms) or not _is_int(self.end_ms):
            raise AdherenceError(f"{where}: start_ms and end_ms must be integers (ms)")
        if not 0 <= self.start_ms < self.end_ms:
            raise AdherenceError(f"{where}: must satisfy 0 <= start_ms < end_ms")
        try:
            activity = Activity(self.activity)
        except ValueError:
            known = ", ".join(a.value for a in Activity)
            raise AdherenceError(
                f"{where}: unknown activity {self.activity!r} (one of {known})"
            ) from None
        object.__setattr__(self, "activity", activity)


Piece = tuple[int, int, Activity]


class Schedule:
    """The validated, flattened schedule of a set of agents.

    Raises :class:`AdherenceError` when two activities of one agent overlap without one
    containing the other, or cover the same span with different activities.
    """

    __slots__ = ("_flat", "_starts")

    def __init__(self, activities: Iterable[ScheduledActivity]) -> None:
        by_agent: dict[str, set[ScheduledActivity]] = {}
        for item in activities:
            if not isinstance(item, ScheduledActivity):
                raise AdherenceError(f"expected a ScheduledActivity, got {type(item).__name__}")
            by_agent.setdefault(item.agent_id, set()).add(item)
        self._flat: dict[str, list[Piece]] = {}
        self._starts: dict[str, list[int]] = {}
        for agent_id, items in by_agent.items():
            flat = _flatten(sorted(items, key=lambda a: (a.start_ms, -a.end_ms, a.activity)))
            self._flat[agent_id] = flat
            self._starts[agent_id] = [start for start, _, _ in flat]

    @property
    def agents(self) -> tuple[str, ...]:
        """The agents with at least one activity (``off`` ones included), sorted."""
        return tuple(sorted(self._flat))

    def pieces(self, agent_id: str, start_ms: int, end_ms: int) -> list[Piece]:
        """``[start_ms, end_ms)`` cut where the agent's scheduled activity changes, as
        ``(start, end, activity)`` with ``off`` where nothing is scheduled."""
        out: list[Piece] = []
        if end_ms <= start_ms:
            return out
        flat = self._flat.get(agent_id, [])
        cursor = start_ms
        index = max(bisect_right(self._starts.get(agent_id, []), start_ms) - 1, 0)
        for start, end, activity in flat[index:]:
            if start >= end_ms:
                break
            if end <= cursor:
                continue
            if start > cursor:
                out.append((cursor, start, Activity.OFF))
                cursor = start
            stop = min(end, end_ms)
            out.append((cursor, stop, activity))
            cursor = stop
        if cursor < end_ms:
            out.append((cursor, end_ms, Activity.OFF))
        return out

    def activity_at(self, agent_id: str, ts: int) -> Activity:
        return self.pieces(agent_id, ts, ts + 1)[0][2]


def _flatten(items: list[ScheduledActivity]) -> list[Piece]:
    """Non-overlapping (start, end, activity) pieces, innermost activity first, ``off`` left out.

    ``items`` is sorted by start, then longest first, so an enclosing activity comes before the
    ones nested in it."""
    stack: list[ScheduledActivity] = []
    for item in items:
        while stack and stack[-1].end_ms <= item.start_ms:
            stack.pop()
        if stack:
            top = stack[-1]
            if item.end_ms > top.end_ms or (item.start_ms, item.end_ms) == (
                top.start_ms,
                top.end_ms,
            ):
                raise AdherenceError(
                    f"agent {item.agent_id!r}: {item.activity} [{item.start_ms}, {item.end_ms}) "
                    f"overlaps {top.activity} [{top.start_ms}, {top.end_ms}) without being "
                    "inside it"
                )
        stack.append(item)
    bounds = sorted({t for item in items for t in (item.start_ms, item.end_ms)})
    out: list[Piece] = []
    stack = []
    index = 0
    for k, bound in enumerate(bounds[:-1]):
        while stack and stack[-1].end_ms <= bound:
            stack.pop()
        while index < len(items) and items[index].start_ms == bound:
            stack.append(items[index])
            index += 1
        if not stack or stack[-1].activity is Activity.OFF:
            continue
        activity = stack[-1].activity
        if out and out[-1][1] == bound and out[-1][2] is activity:
            out[-1] = (out[-1][0], bounds[k + 1], activity)
        else:
            out.append((bound, bounds[k + 1], activity))
    return out


# ---------------------------------------------------------------------------------------------
# The rules


def _default_reasons() -> dict[Activity, frozenset[str]]:
    return {activity: frozenset({activity.value}) for activity in _NOT_READY_ACTIVITIES}


@dataclass(frozen=True, slots=True)
class AdherenceRules:
    """The tenant's mapping of not-ready reason codes onto scheduled activities.

    ``reasons[activity]`` are the reason codes that match a scheduled ``break``, ``lunch``,
    ``training`` or ``meeting`` (an activity left out keeps its own name as the only code).
    ``off_phone_reasons`` are the not-ready reasons that do not count as worked time for
    conformance."""

    reasons: Mapping[Activity, frozenset[str]] = field(default_factory=_default_reasons)
    off_phone_reasons: frozenset[str] = frozenset({"break", "lunch", "training", "meeting"})

    def __post_init__(self) -> None:
        for activity, codes in self.reasons.items():
            if activity not in _NOT_READY_ACTIVITIES:
                raise AdherenceError(
                    f"reasons: {activity!r} is not a not-ready activity "
                    "(break, lunch, training, meeting)"
                )
            if not isinstance(codes, frozenset) or not all(isinstance(c, str) for c in codes):
                raise AdherenceError(f"reasons[{activity!s}] must be a frozenset of strings")
        if not isinstance(self.off_phone_reasons, frozenset):
            raise AdherenceError("off_phone_reasons must be a frozenset of strings")

    def matches(self, activity: Activity, state: AgentState) -> bool:
        """Whether ``state`` is what ``activity`` expects (the table in the module docstring)."""
        if activity is Activity.WORK:
            return state.kind is StateKind.READY or state.kind is StateKind.BUSY
        if activity is Activity.OFF:
            return state.kind is StateKind.LOGGED_OUT
        if state.kind is not StateKind.NOT_READY:
            return False
        codes = self.reasons.get(activity)
        return state.reason == activity.value if codes is None else state.reason in codes

    def worked(self, state: AgentState) -> bool:
        """Whether time in ``state`` counts as worked for conformance."""
        if state.kind is StateKind.NOT_READY:
            return state.reason not in self.off_phone_reasons
        return state.kind is not StateKind.LOGGED_OUT


# ---------------------------------------------------------------------------------------------
# Actual states from the event log


@dataclass(frozen=True, slots=True)
class StateChange:
    """``agent_id`` entered ``state`` at ``ts`` (ms)."""

    agent_id: str
    ts: int
    state: AgentState


@dataclass(frozen=True, slots=True)
class StateSpan:
    agent_id: str
    start_ms: int
    end_ms: int
    state: AgentState


class _Tracked:
    __slots__ = ("base", "busy", "last_ts", "logged_in", "state")

    def __init__(self, ts: int) -> None:
        self.logged_in = False
        self.base = READY
        self.busy: set[str] = set()
        self.last_ts = ts
        self.state = LOGGED_OUT


class AgentStateTracker:
    """Folds one tenant's events, in log order, into each agent's actual state.

    Both the historical report and the live monitor use it, so they agree by construction."""

    __slots__ = ("_agents",)

    def __init__(self) -> None:
        self._agents: dict[str, _Tracked] = {}

    @property
    def agents(self) -> tuple[str, ...]:
        """The agents seen so far, sorted."""
        return tuple(sorted(self._agents))

    def state(self, agent_id: str) -> AgentState:
        tracked = self._agents.get(agent_id)
        return LOGGED_OUT if tracked is None else tracked.state

    def apply(self, event: Event) -> StateChange | None:
        """Take ``event`` into account; return the change of state it caused, if any."""
        if event.test:
            return None
        agent_id = _agent_of(event)
        if agent_id is None:
            return None
        tracked = self._agents.get(agent_id)
        if tracked is None:
            tracked = self._agents[agent_id] = _Tracked(event.ts)
        tracked.last_ts = ts = max(event.ts, tracked.last_ts)
        _fold(tracked, event)
        if not tracked.logged_in:
            state = LOGGED_OUT
        elif tracked.busy:
            state = BUSY
        else:
            state = tracked.base
        if state == tracked.state:
            return None
        tracked.state = state
        return StateChange(agent_id, ts, state)


def _agent_of(event: Event) -> str | None:
    body = event.body
    if isinstance(
        body,
        AgentLoggedIn
        | AgentLoggedOut
        | AgentReady
        | AgentNotReady
        | AgentAcwStarted
        | AgentAcwEnded
        | ContactOffered
        | ContactOfferWithdrawn
        | ContactRingNoAnswer
        | ContactAnswered
        | ContactHeld
        | ContactRetrieved
        | ContactEnded
        | CallbackDialing
        | CallbackFailed
        | ContactOutboundStarted
        | ContactOutboundFailed
        | ContactConsultAnswered
        | ContactTransferred
        | ContactTransferConnected,
    ):
        return body.agent_id
    return None


def _fold(tracked: _Tracked, event: Event) -> None:
    body = event.body
    match body:
        case AgentLoggedIn():
            tracked.logged_in = True
            tracked.base = not_ready(LOGIN_REASON)
            tracked.busy.clear()
        case AgentLoggedOut():
            tracked.logged_in = False
            tracked.busy.clear()
        case AgentReady():
            if tracked.logged_in:
                tracked.base = READY
        case AgentNotReady(reason=reason):
            if tracked.logged_in:
                tracked.base = not_ready(reason)
        case (
            ContactOfferWithdrawn()
            | ContactRingNoAnswer()
            | CallbackFailed()
            | AgentAcwEnded()
            | ContactOutboundFailed()
        ):
            tracked.busy.discard(body.contact_id)
        case (
            ContactOffered()
            | CallbackDialing()
            | ContactAnswered()
            | ContactHeld()
            | ContactRetrieved()
            | ContactEnded()
            | AgentAcwStarted()
            | ContactOutboundStarted()
            | ContactConsultAnswered()
            | ContactTransferred()
            | ContactTransferConnected()
        ):
            # Every step of a contact marks it busy, so a log that starts mid-contact still
            # shows the agent busy until the contact is done.
            if tracked.logged_in:
                tracked.busy.add(body.contact_id)
        case _:  # pragma: no cover - _agent_of lets only the types above through
            pass


def _changes(events: Iterable[Event]) -> tuple[dict[str, list[StateChange]], tuple[str, ...]]:
    tracker = AgentStateTracker()
    changes: dict[str, list[StateChange]] = {}
    for event in events:
        change = tracker.apply(event)
        if change is not None:
            changes.setdefault(change.agent_id, []).append(change)
    return changes, tracker.agents


def _spans_of(
    agent_id: str, changes: list[StateChange], start_ms: int, end_ms: int
) -> Iterator[StateSpan]:
    state = LOGGED_OUT
    cursor = start_ms
    for change in changes:
        if change.ts >= end_ms:
            break
        if change.ts > cursor:
            yield StateSpan(agent_id, cursor, change.ts, state)
            cursor = change.ts
        state = change.state
    if cursor < end_ms:
        yield StateSpan(agent_id, cursor, end_ms, state)


def agent_timelines(
    events: Iterable[Event], start_ms: int, end_ms: int
) -> dict[str, tuple[StateSpan, ...]]:
    """Each agent's actual states over ``[start_ms, end_ms)``, from the start of the log:
    consecutive spans, ``logged_out`` before the agent's first event."""
    _check_period(start_ms, end_ms)
    changes, agents = _changes(events)
    return {
        agent: _merge_states(_spans_of(agent, changes.get(agent, []), start_ms, end_ms))
        for agent in agents
    }


def _merge_states(spans: Iterable[StateSpan]) -> tuple[StateSpan, ...]:
    out: list[StateSpan] = []
    for span in spans:
        if out and out[-1].state == span.state and out[-1].end_ms == span.start_ms:
            out[-1] = StateSpan(span.agent_id, out[-1].start_ms, span.end_ms, span.state)
        else:
            out.append(span)
    return tuple(out)


def _check_period(start_ms: int, end_ms: int) -> None:
    if not _is_int(start_ms) or not _is_int(end_ms) or not start_ms <= end_ms:
        raise AdherenceError(
            f"period must be integers (ms) with start_ms <= end_ms, got [{start_ms!r}, {end_ms!r})"
        )


# ---------------------------------------------------------------------------------------------
# Historical adherence


@dataclass(frozen=True, slots=True)
class OutOfAdherenceSpan:
    """Over ``[start_ms, end_ms)`` ``agent_id`` was scheduled ``scheduled`` but was ``actual``."""

    agent_id: str
    start_ms: int
    end_ms: int
    scheduled: Activity
    actual: AgentState


@dataclass(frozen=True, slots=True)
class AdherenceFigures:
    """Millisecond sums over a period (one agent's, or a team's), with the ratios derived."""

    scheduled_ms: int = 0
    in_adherence_ms: int = 0
    scheduled_work_ms: int = 0
    worked_ms: int = 0
    logged_in_off_ms: int = 0

    @property
    def adherence(self) -> Fraction | None:
        """in_adherence_ms / scheduled_ms."""
        return _ratio(self.in_adherence_ms, self.scheduled_ms)

    @property
    def conformance(self) -> Fraction | None:
        """worked_ms / scheduled_work_ms."""
        return _ratio(self.worked_ms, self.scheduled_work_ms)

    def __add__(self, other: AdherenceFigures) -> AdherenceFigures:
        return AdherenceFigures(
            self.scheduled_ms + other.scheduled_ms,
            self.in_adherence_ms + other.in_adherence_ms,
            self.scheduled_work_ms + other.scheduled_work_ms,
            self.worked_ms + other.worked_ms,
            self.logged_in_off_ms + other.logged_in_off_ms,
        )


@dataclass(frozen=True, slots=True)
class AgentAdherence:
    agent_id: str
    figures: AdherenceFigures
    spans: tuple[OutOfAdherenceSpan, ...]

    @property
    def adherence(self) -> Fraction | None:
        return self.figures.adherence

    @property
    def conformance(self) -> Fraction | None:
        return self.figures.conformance


@dataclass(frozen=True, slots=True)
class AdherenceReport:
    """Adherence of every scheduled or active agent over ``[start_ms, end_ms)``."""

    start_ms: int
    end_ms: int
    agents: Mapping[str, AgentAdherence]

    def team(self, agent_ids: Iterable[str]) -> AdherenceFigures:
        """The summed figures of a team (an agent absent from the report adds nothing)."""
        total = AdherenceFigures()
        for agent_id in dict.fromkeys(agent_ids):
            agent = self.agents.get(agent_id)
            if agent is not None:
                total = total + agent.figures
        return total

    def spans(self, agent_ids: Iterable[str] | None = None) -> list[OutOfAdherenceSpan]:
        """The out-of-adherence spans of the given agents (all by default), by agent and time."""
        chosen = sorted(self.agents) if agent_ids is None else sorted(set(agent_ids))
        return [span for a in chosen if a in self.agents for span in self.agents[a].spans]


def _add_span(spans: list[OutOfAdherenceSpan], span: OutOfAdherenceSpan) -> None:
    if spans:
        last = spans[-1]
        if (
            last.end_ms == span.start_ms
            and last.scheduled is span.scheduled
            and last.actual == span.actual
        ):
            spans[-1] = OutOfAdherenceSpan(
                span.agent_id, last.start_ms, span.end_ms, span.scheduled, span.actual
            )
            return
    spans.append(span)


def adherence_report(
    schedule: Schedule,
    events: Iterable[Event],
    start_ms: int,
    end_ms: int,
    *,
    rules: AdherenceRules | None = None,
) -> AdherenceReport:
    """Adherence and conformance over ``[start_ms, end_ms)`` from one tenant's events in log
    order (from the start of the log, so that states at ``start_ms`` are known)."""
    _check_period(start_ms, end_ms)
    rules = AdherenceRules() if rules is None else rules
    changes, seen = _changes(events)
    result: dict[str, AgentAdherence] = {}
    for agent_id in sorted(set(schedule.agents) | set(seen)):
        scheduled = in_adherence = work = worked = off_in = 0
        spans: list[OutOfAdherenceSpan] = []
        for state_span in _spans_of(agent_id, changes.get(agent_id, []), start_ms, end_ms):
            state = state_span.state
            counts_worked = rules.worked(state)
            for start, end, activity in schedule.pieces(
                agent_id, state_span.start_ms, state_span.end_ms
            ):
                length = end - start
                ok = rules.matches(activity, state)
                if activity is Activity.OFF:
                    if state.kind is not StateKind.LOGGED_OUT:
                        off_in += length
                else:
                    scheduled += length
                    if ok:
                        in_adherence += length
                if activity is Activity.WORK:
                    work += length
                if counts_worked:
                    worked += length
                if not ok:
                    _add_span(spans, OutOfAdherenceSpan(agent_id, start, end, activity, state))
        figures = AdherenceFigures(scheduled, in_adherence, work, worked, off_in)
        result[agent_id] = AgentAdherence(agent_id, figures, tuple(spans))
    return AdherenceReport(start_ms, end_ms, result)


# ---------------------------------------------------------------------------------------------
# Live adherence


@dataclass(frozen=True, slots=True)
class AdherenceAlert:
    """``agent_id`` has been out of adherence since ``start_ms`` for the monitor's threshold, as
    of ``at_ms`` (= start + threshold); ``expected`` / ``actual`` are the scheduled activity and
    the state in the threshold's last millisecond."""

    agent_id: str
    start_ms: int
    at_ms: int
    expected: Activity
    actual: AgentState


@dataclass(frozen=True, slots=True)
class OutOfAdherence:
    """``agent_id`` is out of adherence now, continuously since ``since_ms``."""

    agent_id: str
    since_ms: int
    expected: Activity
    actual: AgentState


class _Live:
    __slots__ = ("alerted", "run_start", "since", "spans", "state")

    def __init__(self) -> None:
        self.state = LOGGED_OUT
        self.since: int | None = None  # None: since the monitor's origin
        self.run_start: int | None = None  # the episode under way at ``since``, if any
        self.alerted: int | None = None  # start of the last episode alerted
        self.spans: list[OutOfAdherenceSpan] = []


@dataclass(slots=True)
class _Walk:
    run_start: int | None
    alerted: int | None
    spans: list[OutOfAdherenceSpan]
    alerts: list[AdherenceAlert]
    last: tuple[int, int, Activity, bool] | None = None


class AdherenceMonitor:
    """Live adherence: feed events as they are appended (:meth:`ingest`), ask at ``now``.

    The monitor starts at ``start_ms`` (default: the first event's time or the first ``now``
    it is asked about); before it, agents are taken as logged out, as in the historical report
    over a period starting there. Its spans equal :func:`adherence_report`'s over
    ``[start_ms, now)`` for the same events. An episode of continuous out-of-adherence gives one
    alert, at exactly ``start + threshold_s``; an episode that ended between two calls still
    gives its alert at the next :meth:`poll` if it lasted the threshold.
    """

    def __init__(
        self,
        schedule: Schedule,
        threshold_s: int,
        *,
        rules: AdherenceRules | None = None,
        start_ms: int | None = None,
    ) -> None:
        if not _is_int(threshold_s) or threshold_s <= 0:
            raise AdherenceError(f"threshold_s must be a positive integer, got {threshold_s!r}")
        if start_ms is not None and not _is_int(start_ms):
            raise AdherenceError(f"start_ms must be an integer (ms), got {start_ms!r}")
        self._schedule = schedule
        self._rules = AdherenceRules() if rules is None else rules
        self._threshold_ms = threshold_s * 1000
        self._origin = start_ms
        self._tracker = AgentStateTracker()
        self._agents: dict[str, _Live] = {agent: _Live() for agent in schedule.agents}
        self._pending: list[AdherenceAlert] = []

    @property
    def threshold_s(self) -> int:
        return self._threshold_ms // 1000

    def state(self, agent_id: str) -> AgentState:
        return self._tracker.state(agent_id)

    def ingest(self, event: Event) -> None:
        """Take one of the tenant's events, in log order."""
        if self._origin is None:
            self._origin = event.ts
        change = self._tracker.apply(event)
        if change is None:
            return
        live = self._agents.get(change.agent_id)
        if live is None:
            live = self._agents[change.agent_id] = _Live()
        walk = self._walk(change.agent_id, live, change.ts)
        for span in walk.spans:
            _add_span(live.spans, span)
        self._pending.extend(walk.alerts)
        live.run_start = walk.run_start
        live.alerted = walk.alerted
        live.state = change.state
        live.since = change.ts

    def poll(self, now: int) -> list[AdherenceAlert]:
        """The alerts due by ``now`` not returned before, by time then agent."""
        self._start(now)
        due = [alert for alert in self._pending if alert.at_ms <= now]
        self._pending = [alert for alert in self._pending if alert.at_ms > now]
        for agent_id, live in self._agents.items():
            walk = self._walk(agent_id, live, now)
            live.alerted = walk.alerted
            due.extend(walk.alerts)
        return sorted(due, key=lambda a: (a.at_ms, a.agent_id))

    def out_of_adherence(self, now: int) -> list[OutOfAdherence]:
        """The agents out of adherence at the instant ``now``, by agent."""
        self._start(now)
        out: list[OutOfAdherence] = []
        for agent_id in sorted(self._agents):
            live = self._agents[agent_id]
            walk = self._walk(agent_id, live, now + 1, alerts=False)
            if walk.last is None or walk.last[3] or walk.run_start is None:
                continue
            out.append(OutOfAdherence(agent_id, walk.run_start, walk.last[2], live.state))
        return out

    def spans(self, now: int) -> list[OutOfAdherenceSpan]:
        """The out-of-adherence spans from the monitor's start to ``now``, by agent and time."""
        self._start(now)
        out: list[OutOfAdherenceSpan] = []
        for agent_id in sorted(self._agents):
            live = self._agents[agent_id]
            spans = [s for s in live.spans if s.start_ms < now]
            if spans and spans[-1].end_ms > now:
                last = spans[-1]
                spans[-1] = OutOfAdherenceSpan(
                    agent_id, last.start_ms, now, last.scheduled, last.actual
                )
            for span in self._walk(agent_id, live, now, alerts=False).spans:
                _add_span(spans, span)
            out.extend(spans)
        return out

    def _start(self, now: int) -> None:
        if not _is_int(now):
            raise AdherenceError(f"now must be an integer (ms), got {now!r}")
        if self._origin is None:
            self._origin = now

    def _walk(self, agent_id: str, live: _Live, until: int, *, alerts: bool = True) -> _Walk:
        """Compare ``[since, until)`` (in the current state) with the schedule."""
        origin = self._origin if self._origin is not None else until
        start = origin if live.since is None else max(live.since, origin)
        walk = _Walk(live.run_start, live.alerted, [], [])
        state = live.state
        for piece_start, piece_end, activity in self._schedule.pieces(agent_id, start, until):
            ok = self._rules.matches(activity, state)
            walk.last = (piece_start, piece_end, activity, ok)
            if ok:
                walk.run_start = None
                continue
            if walk.run_start is None:
                walk.run_start = piece_start
            walk.spans.append(OutOfAdherenceSpan(agent_id, piece_start, piece_end, activity, state))
            run = walk.run_start
            if (
                alerts
                and (walk.alerted is None or run > walk.alerted)
                and piece_end - run >= self._threshold_ms
            ):
                walk.alerts.append(
                    AdherenceAlert(agent_id, run, run + self._threshold_ms, activity, state)
                )
                walk.alerted = run
        return walk
