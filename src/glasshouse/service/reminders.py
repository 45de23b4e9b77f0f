"""Shift reminders: send the due ones and record the agents' replies, through the event log.

**Order: store, then send.** Each reminder is appended to the tenant's log as
``shift.reminder_sent`` (with a message id chosen here) before the notifier is called, one
reminder at a time. The log therefore never misses a message that went out, and a reminder is
never sent twice: the log is what makes the next run skip it. The price is on the other side:
if the process dies between the append and the send, or the notifier fails, that one reminder is
recorded but not delivered, and it is not re-sent (at most one reminder per crash is lost, none is
duplicated). Failures are returned in :attr:`SendReport.failed` so the caller can alert; the
next lead's reminder (1 h before, by default) still goes, and the planner's view shows the
shift without an answer. Anything that can be checked before sending (the notifier's channels,
the address) is checked before the append, so a refusal we can foresee records nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from glasshouse.adapters.eventstore.base import EventStore, check_tenant
from glasshouse.adapters.notify import Notifier, NotifyError
from glasshouse.domain.events import Event, ShiftConfirmed, ShiftReminderSent, ShiftSwapRequested
from glasshouse.domain.wfm.reminders import (
    ContactPoint,
    DueReminder,
    ReminderLog,
    ReminderPolicy,
    ReplyKind,
    ReplyOutcome,
    UpcomingShift,
    answer_text,
    due_reminders,
    parse_reply,
    reminder_message,
    reply_target,
)

__all__ = [
    "ReplyResult",
    "SendReport",
    "load_reminder_log",
    "record_reply",
    "send_due_reminders",
]


@dataclass(frozen=True, slots=True)
class SendReport:
    """What a run did: reminders sent (their stored events), skipped before anything was
    recorded, and recorded but refused by the notifier (each with the reason)."""

    sent: tuple[Event, ...]
    skipped: tuple[tuple[DueReminder, str], ...] = ()
    failed: tuple[tuple[DueReminder, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ReplyResult:
    """What became of an agent's reply, the event stored (if any) and the answer to send back."""

    outcome: ReplyOutcome
    shift_id: str | None
    event: Event | None
    answer: str


def load_reminder_log(
    tenant: str, store: EventStore, log: ReminderLog | None = None
) -> ReminderLog:
    """``log`` (or a new one) caught up with the tenant's events it has not seen."""
    check_tenant(tenant)
    log = ReminderLog() if log is None else log
    log.extend(store.read(tenant, after_seq=log.last_seq))
    return log


def send_due_reminders(
    tenant: str,
    store: EventStore,
    notifier: Notifier,
    shifts: Iterable[UpcomingShift],
    contacts: Mapping[str, Sequence[ContactPoint]],
    now: int,
    *,
    addresses: Mapping[str, str],
    policy: ReminderPolicy | None = None,
    log: ReminderLog | None = None,
    new_message_id: Callable[[], str] = lambda: uuid.uuid4().hex,
) -> SendReport:
    """Send the reminders due at ``now`` that the tenant's log does not hold yet.

    ``contacts`` maps an agent to their preferred contact points; ``addresses`` is the tenant's
    directory (address ref -> address), read only here, so addresses never reach the log.
    ``log`` may be kept between runs to read only the new events each time.
    """
    policy = ReminderPolicy() if policy is None else policy
    log = load_reminder_log(tenant, store, log)
    sent: list[Event] = []
    skipped: list[tuple[DueReminder, str]] = []
    failed: list[tuple[DueReminder, str]] = []
    for due in due_reminders(shifts, contacts, policy, now, log):
        if due.channel not in notifier.channels:
            skipped.append((due, f"the notifier cannot send {due.channel}"))
            continue
        address = addresses.get(due.address_ref)
        if not address:
            skipped.append((due, f"no address for {due.address_ref!r}"))
            continue
        shift = UpcomingShift(due.agent_id, due.shift_id, due.start_ms)
        message = reminder_message(shift, policy, due.channel)
        message_id = new_message_id()
        body = ShiftReminderSent(due.agent_id, due.shift_id, due.channel, message_id)
        (stored,) = store.append([Event(tenant, now, body)])
        log.add(stored)
        sent.append(stored)
        try:
            notifier.send(
                tenant,
                due.channel,
                address,
                message.subject,
                message.body,
                message_id=message_id,
            )
        except NotifyError as exc:
            failed.append((due, str(exc)))
    return SendReport(tuple(sent), tuple(skipped), tuple(failed))


def record_reply(
    tenant: str,
    store: EventStore,
    agent_id: str,
    text: str,
    now: int,
    *,
    shifts: Iterable[UpcomingShift] | None = None,
    policy: ReminderPolicy | None = None,
    log: ReminderLog | None = None,
) -> ReplyResult:
    """Record an agent's reply to a shift reminder as ``shift.confirmed`` or
    ``shift.swap_requested`` for the agent's next reminded shift, and say what to answer.

    With ``shifts`` (the tenant's upcoming shifts), the reply goes to the earliest reminded
    shift that has not started; without, to the shift reminded most recently. A reply that is
    not understood, or that no reminded shift waits for, stores nothing."""
    check_tenant(tenant)
    policy = ReminderPolicy() if policy is None else policy
    reply = parse_reply(text)
    if reply.kind is ReplyKind.NOT_UNDERSTOOD:
        outcome = ReplyOutcome.NOT_UNDERSTOOD
        return ReplyResult(outcome, None, None, answer_text(outcome, policy))
    shifts = None if shifts is None else list(shifts)
    log = load_reminder_log(tenant, store, log)
    shift_id = reply_target(log, agent_id, now, shifts)
    if shift_id is None:
        outcome = ReplyOutcome.NO_SHIFT
        return ReplyResult(outcome, None, None, answer_text(outcome, policy))
    if reply.kind is ReplyKind.CONFIRM:
        outcome = ReplyOutcome.CONFIRMED
        body: ShiftConfirmed | ShiftSwapRequested = ShiftConfirmed(agent_id, shift_id)
    else:
        outcome = ReplyOutcome.SWAP_REQUESTED
        body = ShiftSwapRequested(agent_id, shift_id, reply.note)
    (stored,) = store.append([Event(tenant, now, body)])
    log.add(stored)
    starts = {s.shift_id: s.start_ms for s in shifts or () if s.agent_id == agent_id}
    start = starts.get(shift_id)
    return ReplyResult(outcome, shift_id, stored, answer_text(outcome, policy, start))
