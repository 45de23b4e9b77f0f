"""Shift reminders to agents: which are due, their text, the agents' replies and the planner's
view of the answers. Pure: the log's events and ``now`` come in, decisions come out.

A shift is reminded at each *lead* before its start (by default 12 h and 1 h), on each channel
the agent prefers (``email``, ``sms``; one reminder per channel, to the first address of that
channel). A reminder is due at ``now`` when the latest reminder moment (``start - lead``) at or
before ``now`` has passed, the shift has not started, and the log holds no ``shift.reminder_sent``
for that agent, shift and channel stamped at or after that moment. So it is idempotent: a
reminder in the log is not sent again, and a run that comes late (after both moments) sends one
reminder, not two.

The agent replies to the message: ``C``, ``confirm`` or ``yes`` confirm the shift; ``S`` or
``swap`` request a swap, and whatever follows on that line is kept as the agent's note (at most
:data:`NOTE_MAX` characters; it goes into the event log, so it is the agent's own words about
their shift and must not carry customer data). Case does not matter; the first line that is not
empty and not quoted (``>``) is read. Anything else gets a "not understood" answer that repeats
the instructions. The words are a setting, so a tenant can add its own language's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from glasshouse.domain.events import Event, ShiftConfirmed, ShiftReminderSent, ShiftSwapRequested

__all__ = [
    "CONFIRM_WORDS",
    "NOTE_MAX",
    "SWAP_WORDS",
    "Answer",
    "Channel",
    "ContactPoint",
    "DueReminder",
    "ReminderError",
    "ReminderLog",
    "ReminderMessage",
    "ReminderPolicy",
    "Reply",
    "ReplyKind",
    "ReplyOutcome",
    "ShiftReminderStatus",
    "UpcomingShift",
    "answer_text",
    "due_reminders",
    "format_shift_time",
    "parse_reply",
    "planner_view",
    "reminder_message",
    "reply_target",
]

CONFIRM_WORDS: Final = frozenset({"c", "confirm", "yes"})
SWAP_WORDS: Final = frozenset({"s", "swap"})
NOTE_MAX: Final = 280

_DAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS: Final = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_INSTRUCTIONS: Final = "Reply C to confirm or S to request a swap."


class ReminderError(ValueError):
    """A shift, contact point or policy is invalid; the message names the field."""


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


def _text(where: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ReminderError(f"{where} must be a non-empty string, got {value!r}")
    return value


def _ms(where: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ReminderError(f"{where} must be a non-negative integer (ms), got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class ContactPoint:
    """One way to reach an agent: a channel and the id of an address in the tenant's directory
    (the address itself stays out of the log)."""

    channel: Channel
    address_ref: str

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "channel", Channel(self.channel))
        except ValueError:
            raise ReminderError(
                f"contact point: unknown channel {self.channel!r} (email or sms)"
            ) from None
        _text("contact point: address_ref", self.address_ref)


@dataclass(frozen=True, slots=True)
class UpcomingShift:
    """A shift to remind: its agent, its id in the tenant's schedule and its start (ms UTC)."""

    agent_id: str
    shift_id: str
    start_ms: int

    def __post_init__(self) -> None:
        _text("shift: agent_id", self.agent_id)
        _text("shift: shift_id", self.shift_id)
        _ms(f"shift {self.shift_id!r}: start_ms", self.start_ms)


@dataclass(frozen=True, slots=True)
class ReminderPolicy:
    """The tenant's reminder settings: leads before a shift (seconds) and its IANA time zone."""

    leads_s: tuple[int, ...] = (12 * 3600, 3600)
    time_zone: str = "UTC"

    def __post_init__(self) -> None:
        leads = tuple(self.leads_s)
        if not leads or any(isinstance(v, bool) or not isinstance(v, int) for v in leads):
            raise ReminderError(f"leads_s must be one or more integers, got {self.leads_s!r}")
        if any(v <= 0 for v in leads):
            raise ReminderError(f"leads_s must be positive, got {self.leads_s!r}")
        object.__setattr__(self, "leads_s", tuple(sorted(set(leads), reverse=True)))
        try:
            ZoneInfo(_text("time_zone", self.time_zone))
        except (ZoneInfoNotFoundError, ValueError):
            raise ReminderError(f"time_zone: unknown time zone {self.time_zone!r}") from None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


@dataclass(frozen=True, slots=True)
class DueReminder:
    """A reminder to send now: ``lead_s`` is the lead whose moment made it due."""

    agent_id: str
    shift_id: str
    start_ms: int
    channel: Channel
    address_ref: str
    lead_s: int


@dataclass(frozen=True, slots=True)
class ReminderMessage:
    subject: str
    body: str


class ReplyKind(StrEnum):
    CONFIRM = "confirm"
    SWAP = "swap"
    NOT_UNDERSTOOD = "not_understood"


@dataclass(frozen=True, slots=True)
class Reply:
    kind: ReplyKind
    note: str = ""


class ReplyOutcome(StrEnum):
    """What became of a reply."""

    CONFIRMED = "confirmed"
    SWAP_REQUESTED = "swap_requested"
    NOT_UNDERSTOOD = "not_understood"
    NO_SHIFT = "no_shift"  # understood, but no reminded shift is waiting for an answer


class Answer(StrEnum):
    """A shift's status in the planner's view."""

    CONFIRMED = "confirmed"
    SWAP_REQUESTED = "swap_requested"
    NO_ANSWER = "no_answer"
    NOT_REMINDED = "not_reminded"


@dataclass(frozen=True, slots=True)
class ShiftReminderStatus:
    """One row of the planner's view: reminders sent for a shift and the agent's answer."""

    agent_id: str
    shift_id: str
    start_ms: int
    first_reminder_ms: int | None
    last_reminder_ms: int | None
    reminders: int
    channels: tuple[str, ...]
    answer: Answer
    answered_ms: int | None = None
    note: str = ""


# ---------------------------------------------------------------------------------------------
# What the log says


class ReminderLog:
    """The shift-reminder facts of one tenant's log, folded for look-ups.

    Feed it the log in order (:meth:`extend`); events it has seen (by ``seq``) are skipped, so
    it can be caught up with ``store.read(tenant, after_seq=log.last_seq)``."""

    __slots__ = ("_answers", "_by_shift", "_count", "_last_sent", "_order", "last_seq")

    def __init__(self, events: Iterable[Event] = ()) -> None:
        self.last_seq = 0
        self._last_sent: dict[tuple[str, str, str], int] = {}
        self._by_shift: dict[tuple[str, str], list[tuple[int, str]]] = {}
        self._answers: dict[tuple[str, str], tuple[Answer, int, str]] = {}
        self._order: dict[str, dict[str, int]] = {}  # agent -> shift -> position of last reminder
        self._count = 0
        self.extend(events)

    def extend(self, events: Iterable[Event]) -> None:
        for event in events:
            self.add(event)

    def add(self, event: Event) -> None:
        if event.seq:
            if event.seq <= self.last_seq:
                return
            self.last_seq = event.seq
        body = event.body
        if isinstance(body, ShiftReminderSent):
            key = (body.agent_id, body.shift_id)
            channel_key = (body.agent_id, body.shift_id, body.channel)
            self._last_sent[channel_key] = max(event.ts, self._last_sent.get(channel_key, event.ts))
            self._by_shift.setdefault(key, []).append((event.ts, body.channel))
            self._count += 1
            self._order.setdefault(body.agent_id, {})[body.shift_id] = self._count
        elif isinstance(body, ShiftConfirmed):
            self._answers[(body.agent_id, body.shift_id)] = (Answer.CONFIRMED, event.ts, "")
        elif isinstance(body, ShiftSwapRequested):
            self._answers[(body.agent_id, body.shift_id)] = (
                Answer.SWAP_REQUESTED,
                event.ts,
                body.note,
            )

    def last_sent(self, agent_id: str, shift_id: str, channel: str) -> int | None:
        """When the latest reminder of this shift reached this agent on this channel."""
        return self._last_sent.get((agent_id, shift_id, channel))

    def sent(self, agent_id: str, shift_id: str) -> list[tuple[int, str]]:
        """Every reminder of the shift to the agent: (time, channel), in log order."""
        return list(self._by_shift.get((agent_id, shift_id), ()))

    def answer(self, agent_id: str, shift_id: str) -> tuple[Answer, int, str] | None:
        """The agent's latest answer for the shift: (answer, time, note)."""
        return self._answers.get((agent_id, shift_id))

    def reminded_shifts(self, agent_id: str) -> list[str]:
        """The agent's reminded shifts, the most recently reminded last."""
        order = self._order.get(agent_id, {})
        return sorted(order, key=order.__getitem__)


# ---------------------------------------------------------------------------------------------
# Due reminders and their text


def due_reminders(
    shifts: Iterable[UpcomingShift],
    contacts: Mapping[str, Sequence[ContactPoint]],
    policy: ReminderPolicy,
    now: int,
    log: ReminderLog,
) -> list[DueReminder]:
    """The reminders to send at ``now`` that the log does not already hold (see the module
    docstring), by shift start, agent, shift and channel."""
    _ms("now", now)
    out: list[DueReminder] = []
    seen: set[tuple[str, str]] = set()
    for shift in sorted(shifts, key=lambda s: (s.start_ms, s.agent_id, s.shift_id)):
        if (shift.agent_id, shift.shift_id) in seen or now >= shift.start_ms:
            continue
        seen.add((shift.agent_id, shift.shift_id))
        due = [lead for lead in policy.leads_s if shift.start_ms - lead * 1000 <= now]
        if not due:
            continue
        lead = min(due)  # the latest moment that has passed
        moment = shift.start_ms - lead * 1000
        channels: set[Channel] = set()
        for point in contacts.get(shift.agent_id, ()):
            if point.channel in channels:
                continue
            channels.add(point.channel)
            last = log.last_sent(shift.agent_id, shift.shift_id, point.channel)
            if last is None or last < moment:
                out.append(
                    DueReminder(
                        shift.agent_id,
                        shift.shift_id,
                        shift.start_ms,
                        point.channel,
                        point.address_ref,
                        lead,
                    )
                )
    return out


def format_shift_time(start_ms: int, policy: ReminderPolicy, *, short: bool = False) -> str:
    """``Tuesday 14 November 2023 at 23:13 (Europe/Paris)``, or ``Tue 14 Nov 23:13`` when
    ``short``; in the tenant's time zone, with English names whatever the machine's locale."""
    local = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=start_ms)).astimezone(
        policy.zone
    )
    day, month = _DAYS[local.weekday()], _MONTHS[local.month - 1]
    clock = f"{local.hour:02d}:{local.minute:02d}"
    if short:
        return f"{day[:3]} {local.day} {month[:3]} {clock}"
    return f"{day} {local.day} {month} {local.year} at {clock} ({policy.time_zone})"


def reminder_message(
    shift: UpcomingShift, policy: ReminderPolicy, channel: Channel
) -> ReminderMessage:
    """The subject and text of a shift's reminder on ``channel``, with the reply instructions."""
    when = format_shift_time(shift.start_ms, policy)
    subject = f"Shift reminder: {format_shift_time(shift.start_ms, policy, short=True)}"
    if channel is Channel.SMS:
        return ReminderMessage(subject, f"Your shift starts {when}. {_INSTRUCTIONS}")
    body = (
        f"Hello,\n\nThis is a reminder that your shift starts on {when}.\n\n"
        "Reply C to confirm, or S to request a swap. You can add a short note after the S, "
        'for example "S medical appointment"; please do not include customer details.\n'
    )
    return ReminderMessage(subject, body)


# ---------------------------------------------------------------------------------------------
# Replies


def parse_reply(
    text: str,
    *,
    confirm_words: frozenset[str] = CONFIRM_WORDS,
    swap_words: frozenset[str] = SWAP_WORDS,
) -> Reply:
    """Read an agent's reply (see the module docstring); never raises on any text."""
    line = ""
    for candidate in text.splitlines() if isinstance(text, str) else ():
        candidate = candidate.strip()
        if candidate and not candidate.startswith(">"):
            line = candidate
            break
    words = line.split(maxsplit=1)
    if not words:
        return Reply(ReplyKind.NOT_UNDERSTOOD)
    word = words[0].strip(".!,;:").casefold()
    rest = words[1] if len(words) > 1 else ""
    if word in confirm_words and not rest.strip(" .!"):
        return Reply(ReplyKind.CONFIRM)
    if word in swap_words:
        note = "".join(ch if ch.isprintable() else " " for ch in rest).strip()
        return Reply(ReplyKind.SWAP, note[:NOTE_MAX])
    return Reply(ReplyKind.NOT_UNDERSTOOD)


def reply_target(
    log: ReminderLog,
    agent_id: str,
    now: int,
    shifts: Iterable[UpcomingShift] | None = None,
) -> str | None:
    """The shift a reply from ``agent_id`` answers: with ``shifts``, the earliest reminded one
    that has not started by ``now``; without, the most recently reminded one."""
    reminded = log.reminded_shifts(agent_id)
    if shifts is None:
        return reminded[-1] if reminded else None
    starts = {s.shift_id: s.start_ms for s in shifts if s.agent_id == agent_id}
    waiting = [sid for sid in reminded if sid in starts and starts[sid] > now]
    return min(waiting, key=lambda sid: (starts[sid], sid)) if waiting else None


def answer_text(outcome: ReplyOutcome, policy: ReminderPolicy, start_ms: int | None = None) -> str:
    """The answer sent back to the agent for a reply's ``outcome``."""
    when = "" if start_ms is None else f" on {format_shift_time(start_ms, policy)}"
    if outcome is ReplyOutcome.CONFIRMED:
        return f"Thank you: your shift{when} is confirmed."
    if outcome is ReplyOutcome.SWAP_REQUESTED:
        return f"Thank you: your request to swap your shift{when} has gone to your planner."
    if outcome is ReplyOutcome.NO_SHIFT:
        return "There is no shift reminder waiting for your answer."
    return f"Sorry, we did not understand your reply. {_INSTRUCTIONS}"


# ---------------------------------------------------------------------------------------------
# The planner's view


def planner_view(shifts: Iterable[UpcomingShift], log: ReminderLog) -> list[ShiftReminderStatus]:
    """Per shift (by start, agent, shift): reminders sent and the agent's latest answer."""
    rows: list[ShiftReminderStatus] = []
    seen: set[tuple[str, str]] = set()
    for shift in sorted(shifts, key=lambda s: (s.start_ms, s.agent_id, s.shift_id)):
        key = (shift.agent_id, shift.shift_id)
        if key in seen:
            continue
        seen.add(key)
        sent = log.sent(*key)
        answer = log.answer(*key)
        if answer is not None:
            status, answered, note = answer
        else:
            status = Answer.NO_ANSWER if sent else Answer.NOT_REMINDED
            answered, note = None, ""
        rows.append(
            ShiftReminderStatus(
                agent_id=shift.agent_id,
                shift_id=shift.shift_id,
                start_ms=shift.start_ms,
                first_reminder_ms=min(ts for ts, _ in sent) if sent else None,
                last_reminder_ms=max(ts for ts, _ in sent) if sent else None,
                reminders=len(sent),
                channels=tuple(sorted({channel for _, channel in sent})),
                answer=status,
                answered_ms=answered,
                note=note,
            )
        )
    return rows
