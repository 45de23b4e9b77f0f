from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glasshouse.adapters.notify import NotifyError
from glasshouse.domain.events import (
    Event,
    ShiftConfirmed,
    ShiftReminderSent,
    ShiftSwapRequested,
    event_from_json,
)
from glasshouse.domain.wfm.reminders import (
    NOTE_MAX,
    Answer,
    Channel,
    ContactPoint,
    DueReminder,
    ReminderError,
    ReminderLog,
    ReminderPolicy,
    Reply,
    ReplyKind,
    ReplyOutcome,
    ShiftReminderStatus,
    UpcomingShift,
    answer_text,
    due_reminders,
    format_shift_time,
    parse_reply,
    planner_view,
    reminder_message,
    reply_target,
)
from glasshouse.service.reminders import record_reply, send_due_reminders
from glasshouse.testing.memory_store import MemoryEventStore
from glasshouse.testing.outbox import MemoryOutbox

H = 3_600_000
# 2023-11-15 07:00 UTC = 08:00 in Paris (a Wednesday)
START = 1_700_031_600_000
SHIFT = UpcomingShift("a1", "s-1", START)
LATER = UpcomingShift("a1", "s-2", START + 24 * H)
OTHER = UpcomingShift("a2", "s-3", START)
EMAIL = ContactPoint(Channel.EMAIL, "addr-a1-mail")
SMS = ContactPoint(Channel.SMS, "addr-a1-phone")
CONTACTS = {"a1": [EMAIL, SMS], "a2": [ContactPoint(Channel.EMAIL, "addr-a2-mail")]}
ADDRESSES = {
    "addr-a1-mail": "a1@example.test",
    "addr-a1-phone": "+33 6 00 00 00 01",
    "addr-a2-mail": "a2@example.test",
}
PARIS = ReminderPolicy(time_zone="Europe/Paris")


def sent(ts: int, shift: UpcomingShift, channel: str, seq: int = 0) -> Event:
    return Event("acme", ts, ShiftReminderSent(shift.agent_id, shift.shift_id, channel, "m"), seq)


def due(shift: UpcomingShift, point: ContactPoint, lead_s: int) -> DueReminder:
    return DueReminder(
        shift.agent_id, shift.shift_id, shift.start_ms, point.channel, point.address_ref, lead_s
    )


# ---------------------------------------------------------------------------------------------
# Due reminders


def test_nothing_is_due_before_the_first_lead() -> None:
    assert due_reminders([SHIFT], CONTACTS, PARIS, START - 12 * H - 1, ReminderLog()) == []


def test_the_first_lead_makes_one_reminder_per_channel_due() -> None:
    assert due_reminders([SHIFT], CONTACTS, PARIS, START - 12 * H, ReminderLog()) == [
        due(SHIFT, EMAIL, 43_200),
        due(SHIFT, SMS, 43_200),
    ]


def test_reminders_in_the_log_are_not_due_again_until_the_next_lead() -> None:
    log = ReminderLog([sent(START - 12 * H, SHIFT, "email"), sent(START - 12 * H, SHIFT, "sms")])
    assert due_reminders([SHIFT], CONTACTS, PARIS, START - 12 * H, log) == []
    assert due_reminders([SHIFT], CONTACTS, PARIS, START - H - 1, log) == []
    assert due_reminders([SHIFT], CONTACTS, PARIS, START - H, log) == [
        due(SHIFT, EMAIL, 3600),
        due(SHIFT, SMS, 3600),
    ]
    # only the e-mail of the 1 h lead went out: the SMS is still due
    log.add(sent(START - H + 5, SHIFT, "email"))
    assert due_reminders([SHIFT], CONTACTS, PARIS, START - H + 10, log) == [due(SHIFT, SMS, 3600)]


def test_a_late_run_sends_one_reminder_not_one_per_missed_lead() -> None:
    assert due_reminders([SHIFT], {"a1": [EMAIL]}, PARIS, START - 30 * 60_000, ReminderLog()) == [
        due(SHIFT, EMAIL, 3600)
    ]


def test_started_shifts_duplicates_and_unreachable_agents_get_nothing() -> None:
    assert due_reminders([SHIFT], CONTACTS, PARIS, START, ReminderLog()) == []
    assert due_reminders(
        [SHIFT, SHIFT], {"a1": [EMAIL, EMAIL]}, PARIS, START - H, ReminderLog()
    ) == [due(SHIFT, EMAIL, 3600)]
    assert due_reminders([SHIFT], {}, PARIS, START - H, ReminderLog()) == []


def test_reminders_to_another_agent_do_not_count() -> None:
    reassigned = UpcomingShift("a2", "s-1", START)  # the shift was swapped to a2
    log = ReminderLog([sent(START - H, SHIFT, "email")])
    assert due_reminders([reassigned], CONTACTS, PARIS, START - H, log) == [
        DueReminder("a2", "s-1", START, Channel.EMAIL, "addr-a2-mail", 3600)
    ]


def test_the_log_skips_events_it_has_seen() -> None:
    log = ReminderLog()
    event = sent(START - H, SHIFT, "email", seq=7)
    log.extend([event, event])
    assert log.last_seq == 7
    assert log.sent("a1", "s-1") == [(START - H, "email")]


# ---------------------------------------------------------------------------------------------
# Message text


def test_message_shows_the_shift_in_the_tenants_time_zone_with_reply_instructions() -> None:
    assert format_shift_time(START, PARIS) == "Wednesday 15 November 2023 at 08:00 (Europe/Paris)"
    assert format_shift_time(START, ReminderPolicy()) == "Wednesday 15 November 2023 at 07:00 (UTC)"
    email = reminder_message(SHIFT, PARIS, Channel.EMAIL)
    assert email.subject == "Shift reminder: Wed 15 Nov 08:00"
    assert "your shift starts on Wednesday 15 November 2023 at 08:00 (Europe/Paris)" in email.body
    assert "Reply C to confirm, or S to request a swap" in email.body
    sms = reminder_message(SHIFT, PARIS, Channel.SMS)
    assert sms.body == (
        "Your shift starts Wednesday 15 November 2023 at 08:00 (Europe/Paris). "
        "Reply C to confirm or S to request a swap."
    )


def test_summer_time_is_applied() -> None:
    july = UpcomingShift("a1", "s", 1_688_194_800_000)  # 2023-07-01 07:00 UTC
    assert format_shift_time(july.start_ms, PARIS, short=True) == "Sat 1 Jul 09:00"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"leads_s": ()}, "leads_s"),
        ({"leads_s": (0,)}, "positive"),
        ({"leads_s": (True,)}, "integers"),
        ({"time_zone": "Mars/Olympus"}, "unknown time zone"),
        ({"time_zone": "../etc/passwd"}, "unknown time zone"),
    ],
)
def test_bad_policies_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ReminderError, match=message):
        ReminderPolicy(**kwargs)  # type: ignore[arg-type]


def test_bad_shifts_and_contact_points_are_rejected() -> None:
    with pytest.raises(ReminderError, match="shift_id"):
        UpcomingShift("a1", "", START)
    with pytest.raises(ReminderError, match="start_ms"):
        UpcomingShift("a1", "s", -1)
    with pytest.raises(ReminderError, match="unknown channel 'fax'"):
        ContactPoint("fax", "x")  # type: ignore[arg-type]
    assert ReminderPolicy(leads_s=(3600, 43_200, 3600)).leads_s == (43_200, 3600)


# ---------------------------------------------------------------------------------------------
# Replies


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("C", Reply(ReplyKind.CONFIRM)),
        ("c", Reply(ReplyKind.CONFIRM)),
        ("confirm", Reply(ReplyKind.CONFIRM)),
        ("  Yes! ", Reply(ReplyKind.CONFIRM)),
        ("CONFIRM.", Reply(ReplyKind.CONFIRM)),
        ("S", Reply(ReplyKind.SWAP)),
        ("swap", Reply(ReplyKind.SWAP)),
        ("S dentist at 9", Reply(ReplyKind.SWAP, "dentist at 9")),
        ("\n\nc\n> Reminder: your shift starts...", Reply(ReplyKind.CONFIRM)),
        ("> quoted only", Reply(ReplyKind.NOT_UNDERSTOOD)),
        ("no", Reply(ReplyKind.NOT_UNDERSTOOD)),
        ("yes but only until noon", Reply(ReplyKind.NOT_UNDERSTOOD)),
        ("sorry", Reply(ReplyKind.NOT_UNDERSTOOD)),
        ("", Reply(ReplyKind.NOT_UNDERSTOOD)),
        ("   ", Reply(ReplyKind.NOT_UNDERSTOOD)),
    ],
)
def test_parse_reply(text: str, expected: Reply) -> None:
    assert parse_reply(text) == expected


def test_swap_notes_are_capped_and_cleaned() -> None:
    reply = parse_reply("s " + "x" * 1000)
    assert reply.kind is ReplyKind.SWAP and len(reply.note) == NOTE_MAX
    assert parse_reply("S sick\tchild\x07").note == "sick child"


def test_a_tenant_can_add_its_own_words() -> None:
    words = frozenset({"c", "确认"})
    assert parse_reply("确认", confirm_words=words) == Reply(ReplyKind.CONFIRM)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_parse_reply_never_raises_and_notes_stay_short(text: str) -> None:
    reply = parse_reply(text)
    assert len(reply.note) <= NOTE_MAX
    assert reply.kind is ReplyKind.SWAP or reply.note == ""


def test_not_understood_answer_repeats_the_instructions() -> None:
    text = answer_text(ReplyOutcome.NOT_UNDERSTOOD, PARIS)
    assert "did not understand" in text and "Reply C to confirm or S to request a swap" in text
    assert answer_text(ReplyOutcome.CONFIRMED, PARIS, START) == (
        "Thank you: your shift on Wednesday 15 November 2023 at 08:00 (Europe/Paris) is confirmed."
    )


def test_reply_target_prefers_the_earliest_reminded_shift_not_started() -> None:
    log = ReminderLog(
        [sent(START - H, SHIFT, "email"), sent(START - 12 * H + 24 * H, LATER, "email")]
    )
    assert reply_target(log, "a1", START - 10) == "s-2"  # most recently reminded
    assert reply_target(log, "a1", START - 10, [SHIFT, LATER]) == "s-1"
    assert reply_target(log, "a1", START, [SHIFT, LATER]) == "s-2"  # s-1 has started
    assert reply_target(log, "a2", START - 10, [SHIFT, LATER]) is None


# ---------------------------------------------------------------------------------------------
# The planner's view


def test_planner_view() -> None:
    log = ReminderLog(
        [
            sent(START - 12 * H, SHIFT, "email"),
            sent(START - 12 * H, SHIFT, "sms"),
            Event("acme", START - 11 * H, ShiftConfirmed("a1", "s-1")),
            sent(START - H, SHIFT, "email"),
            sent(START - 12 * H, OTHER, "email"),
            Event("acme", START - 2 * H, ShiftSwapRequested("a2", "s-3", "exam")),
            Event("acme", START - 2 * H, ShiftConfirmed("a9", "s-2")),  # not s-2's agent
        ]
    )
    assert planner_view([LATER, OTHER, SHIFT, SHIFT], log) == [
        ShiftReminderStatus(
            "a1", "s-1", START, START - 12 * H, START - H, 3, ("email", "sms"), Answer.CONFIRMED,
            START - 11 * H,
        ),
        ShiftReminderStatus(
            "a2", "s-3", START, START - 12 * H, START - 12 * H, 1, ("email",),
            Answer.SWAP_REQUESTED, START - 2 * H, "exam",
        ),
        ShiftReminderStatus(
            "a1", "s-2", START + 24 * H, None, None, 0, (), Answer.NOT_REMINDED
        ),
    ]  # fmt: skip
    log.add(sent(START + 12 * H, LATER, "sms"))
    assert planner_view([LATER], log)[0].answer is Answer.NO_ANSWER


# ---------------------------------------------------------------------------------------------
# The use cases


@pytest.fixture
def store() -> Iterator[MemoryEventStore]:
    with MemoryEventStore() as s:
        yield s


def test_send_due_reminders_stores_then_sends_and_is_idempotent(store: MemoryEventStore) -> None:
    outbox = MemoryOutbox()
    now = START - 12 * H
    report = send_due_reminders(
        "acme", store, outbox, [SHIFT, OTHER], CONTACTS, now, addresses=ADDRESSES, policy=PARIS
    )
    assert [(e.body.agent_id, e.body.channel) for e in report.sent] == [  # type: ignore[attr-defined]
        ("a1", "email"),
        ("a1", "sms"),
        ("a2", "email"),
    ]
    assert report.skipped == report.failed == ()
    stored = list(store.read("acme"))
    assert stored == list(report.sent)
    assert all(e.ts == now and e.type == "shift.reminder_sent" for e in stored)
    messages = outbox.messages("acme")
    assert [m.message_id for m in messages] == [
        e.body.message_id  # type: ignore[attr-defined]
        for e in stored
    ]
    assert [m.address for m in messages] == [
        "a1@example.test",
        "+33 6 00 00 00 01",
        "a2@example.test",
    ]
    assert messages[0].subject == "Shift reminder: Wed 15 Nov 08:00"
    # no address or personal data in the log
    assert all("example" not in e.to_json() and "+33" not in e.to_json() for e in stored)
    assert outbox.messages("other") == []

    again = send_due_reminders(
        "acme", store, outbox, [SHIFT, OTHER], CONTACTS, now + 60_000, addresses=ADDRESSES
    )
    assert again.sent == ()
    assert len(outbox.messages("acme")) == 3
    assert store.last_seq("acme") == 3


def test_a_failed_send_is_recorded_reported_and_not_resent(store: MemoryEventStore) -> None:
    outbox = MemoryOutbox()
    outbox.fail("relay down")
    now = START - H
    report = send_due_reminders(
        "acme", store, outbox, [SHIFT], {"a1": [EMAIL]}, now, addresses=ADDRESSES
    )
    assert len(report.sent) == 1
    assert report.failed == ((due(SHIFT, EMAIL, 3600), "relay down"),)
    outbox.fail(None)
    later = send_due_reminders(
        "acme", store, outbox, [SHIFT], {"a1": [EMAIL]}, now + 60_000, addresses=ADDRESSES
    )
    assert later.sent == () and outbox.messages("acme") == []  # lost, never sent twice
    assert store.last_seq("acme") == 1


def test_what_can_be_foreseen_is_skipped_before_recording(store: MemoryEventStore) -> None:
    email_only = MemoryOutbox(channels={"email"})
    report = send_due_reminders(
        "acme", store, email_only, [SHIFT], CONTACTS, START - H, addresses={}
    )
    assert report.sent == ()
    assert [reason for _, reason in report.skipped] == [
        "no address for 'addr-a1-mail'",
        "the notifier cannot send sms",
    ]
    assert store.last_seq("acme") == 0


def test_record_reply_confirms_or_requests_a_swap_for_the_next_reminded_shift(
    store: MemoryEventStore,
) -> None:
    outbox = MemoryOutbox()
    for shift, now in [(SHIFT, START - H), (LATER, START + 12 * H)]:
        send_due_reminders(
            "acme", store, outbox, [shift], {"a1": [EMAIL]}, now, addresses=ADDRESSES
        )
    now = START - 30 * 60_000
    result = record_reply("acme", store, "a1", "C", now, shifts=[SHIFT, LATER], policy=PARIS)
    assert result.outcome is ReplyOutcome.CONFIRMED and result.shift_id == "s-1"
    assert result.event is not None and result.event.body == ShiftConfirmed("a1", "s-1")
    assert "08:00 (Europe/Paris) is confirmed" in result.answer

    swap = record_reply("acme", store, "a1", "swap my kid is ill", START + 13 * H)
    assert swap.outcome is ReplyOutcome.SWAP_REQUESTED and swap.shift_id == "s-2"
    assert swap.event is not None
    assert swap.event.body == ShiftSwapRequested("a1", "s-2", "my kid is ill")
    assert event_from_json(swap.event.to_json()) == swap.event

    before = store.last_seq("acme")
    unclear = record_reply("acme", store, "a1", "maybe", now)
    assert unclear.outcome is ReplyOutcome.NOT_UNDERSTOOD and unclear.event is None
    assert "did not understand" in unclear.answer
    nobody = record_reply("acme", store, "a2", "yes", now)
    assert nobody.outcome is ReplyOutcome.NO_SHIFT and nobody.event is None
    assert store.last_seq("acme") == before

    view = planner_view([SHIFT, LATER], ReminderLog(store.read("acme")))
    assert [(row.shift_id, row.answer, row.note) for row in view] == [
        ("s-1", Answer.CONFIRMED, ""),
        ("s-2", Answer.SWAP_REQUESTED, "my kid is ill"),
    ]


def test_replies_are_kept_per_tenant(store: MemoryEventStore) -> None:
    send_due_reminders(
        "acme", store, MemoryOutbox(), [SHIFT], {"a1": [EMAIL]}, START - H, addresses=ADDRESSES
    )
    result = record_reply("globex", store, "a1", "C", START - 10)
    assert result.outcome is ReplyOutcome.NO_SHIFT
    assert store.tenants() == ["acme"]


def test_memory_outbox_refuses_bad_input() -> None:
    outbox = MemoryOutbox()
    with pytest.raises(NotifyError, match="channel 'fax'"):
        outbox.send("acme", "fax", "x", "s", "b")
    with pytest.raises(NotifyError, match="tenant"):
        outbox.send("", "sms", "x", "s", "b")
    with pytest.raises(NotifyError, match="message id"):
        outbox.send("acme", "sms", "x", "s", "b", message_id="../x")
    assert outbox.send("acme", "sms", "x", "s", "b") == "m1"
    assert outbox.send("acme", "sms", "x", "s", "b", message_id="m1") == "m1"
    assert len(outbox.messages("acme")) == 1
