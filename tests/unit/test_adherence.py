from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glasshouse.domain.acd import Acd, AgentSpec, QueueSpec
from glasshouse.domain.events import (
    AgentAcwEnded,
    AgentAcwStarted,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentNotReady,
    AgentReady,
    ContactAnswered,
    ContactArrived,
    ContactEnded,
    ContactOffered,
    ContactOfferWithdrawn,
    Event,
    EventBody,
)
from glasshouse.domain.wfm.adherence import (
    BUSY,
    LOGGED_OUT,
    READY,
    Activity,
    AdherenceAlert,
    AdherenceError,
    AdherenceFigures,
    AdherenceMonitor,
    AdherenceRules,
    OutOfAdherence,
    OutOfAdherenceSpan,
    Schedule,
    ScheduledActivity,
    StateSpan,
    adherence_report,
    agent_timelines,
    not_ready,
)

T0 = 1_700_000_000_000
MIN = 60_000


def m(minutes: float) -> int:
    return T0 + round(minutes * MIN)


def ev(ts: int, body: EventBody, test: bool = False) -> Event:
    return Event("acme", ts, body, test=test)


def act(agent: str, start: float, end: float, activity: str) -> ScheduledActivity:
    return ScheduledActivity(agent, m(start), m(end), Activity(activity))


def span(agent: str, start: int, end: int, activity: str, actual: object) -> OutOfAdherenceSpan:
    assert isinstance(actual, type(READY))
    return OutOfAdherenceSpan(agent, start, end, Activity(activity), actual)


# a1: work 0-120 min with a break 60-75; a2: work 0-120 with training 90-120 (minutes).
SCHEDULE = Schedule(
    [
        act("a1", 0, 120, "work"),
        act("a1", 60, 75, "break"),
        act("a1", 120, 600, "off"),
        act("a2", 0, 120, "work"),
        act("a2", 90, 120, "training"),
    ]
)

EVENTS = [
    ev(m(0.5), AgentLoggedIn("a1")),
    ev(m(0.5), AgentNotReady("a1", "login")),
    ev(m(1), AgentReady("a1")),
    ev(m(5), AgentLoggedIn("a2")),
    ev(m(5), AgentNotReady("a2", "login")),
    ev(m(5), AgentReady("a2")),
    ev(m(10), ContactArrived("c1")),
    ev(m(10), ContactOffered("c1", "sales", "a1")),
    ev(m(11), ContactAnswered("c1", "sales", "a1")),
    ev(m(15), ContactEnded("c1", "a1")),
    ev(m(15), AgentAcwStarted("a1", "c1")),
    ev(m(16), AgentAcwEnded("a1", "c1")),
    ev(m(62), AgentNotReady("a1", "break")),
    ev(m(77), AgentReady("a1")),
    ev(m(90), AgentNotReady("a2", "training")),
    ev(m(100), AgentNotReady("a1", "personal")),
    ev(m(105), AgentReady("a1")),
    ev(m(120), AgentLoggedOut("a2")),
    ev(m(121), AgentLoggedOut("a1")),
    # test-mode traffic is left out, as in reports
    ev(m(30), AgentLoggedOut("a1"), test=True),
]
EVENTS.sort(key=lambda e: e.ts)

A1_SPANS = [
    span("a1", m(0), m(0.5), "work", LOGGED_OUT),
    span("a1", m(0.5), m(1), "work", not_ready("login")),
    span("a1", m(60), m(62), "break", READY),
    span("a1", m(75), m(77), "work", not_ready("break")),
    span("a1", m(100), m(105), "work", not_ready("personal")),
    span("a1", m(120), m(121), "off", READY),
]
A2_SPANS = [span("a2", m(0), m(5), "work", LOGGED_OUT)]


def test_hand_computed_adherence_and_conformance() -> None:
    report = adherence_report(SCHEDULE, EVENTS, m(0), m(130))
    a1 = report.agents["a1"]
    # scheduled 120 min; out: 0.5 + 0.5 + 2 + 2 + 5 = 10 min -> 110 / 120
    assert a1.figures == AdherenceFigures(
        scheduled_ms=120 * MIN,
        in_adherence_ms=110 * MIN,
        scheduled_work_ms=105 * MIN,
        # logged in 0.5-121, less not-ready "break" 62-77 (off the phone)
        worked_ms=105 * MIN + 30_000,
        logged_in_off_ms=1 * MIN,
    )
    assert a1.adherence == Fraction(11, 12)
    assert a1.conformance == Fraction(211, 210)
    assert list(a1.spans) == A1_SPANS

    a2 = report.agents["a2"]
    assert a2.figures == AdherenceFigures(120 * MIN, 115 * MIN, 90 * MIN, 85 * MIN, 0)
    assert a2.adherence == Fraction(23, 24)
    assert a2.conformance == Fraction(17, 18)
    assert list(a2.spans) == A2_SPANS

    team = report.team(["a1", "a2", "a1", "nobody"])
    assert team.adherence == Fraction(225, 240)
    assert team.conformance == Fraction(190 * MIN + 30_000, 195 * MIN)
    assert report.spans() == A1_SPANS + A2_SPANS
    assert report.spans(["a2"]) == A2_SPANS
    assert AdherenceFigures().adherence is None and AdherenceFigures().conformance is None


def test_period_clips_states_known_from_before_it() -> None:
    report = adherence_report(SCHEDULE, EVENTS, m(61), m(76))
    a1 = report.agents["a1"]
    # break 61-75 (14 min, in adherence from 62), work 75-76 (not ready "break": out)
    assert a1.figures.scheduled_ms == 15 * MIN
    assert a1.figures.in_adherence_ms == 13 * MIN
    assert list(a1.spans) == [
        span("a1", m(61), m(62), "break", READY),
        span("a1", m(75), m(76), "work", not_ready("break")),
    ]


def test_boundaries_are_exact_to_the_millisecond() -> None:
    schedule = Schedule([act("a", 0, 60, "work"), act("a", 30, 45, "break")])
    events = [
        ev(m(0), AgentLoggedIn("a")),
        ev(m(0), AgentReady("a")),
        ev(m(30) + 1, AgentNotReady("a", "break")),  # 1 ms late
        ev(m(45), AgentReady("a")),  # on time
        ev(m(60) - 1, AgentLoggedOut("a")),  # 1 ms early
    ]
    report = adherence_report(schedule, events, m(0), m(60))
    assert report.agents["a"].figures.in_adherence_ms == 60 * MIN - 2
    assert list(report.agents["a"].spans) == [
        span("a", m(30), m(30) + 1, "break", READY),
        span("a", m(60) - 1, m(60), "work", LOGGED_OUT),
    ]


def test_busy_covers_ringing_talk_and_wrap_up_and_withdrawn_offers_free_the_agent() -> None:
    events = [
        ev(100, AgentLoggedIn("a")),
        ev(100, AgentReady("a")),
        ev(200, ContactOffered("c1", "q", "a")),
        ev(250, ContactOfferWithdrawn("c1", "q", "a", "answered_elsewhere")),
        ev(300, ContactOffered("c2", "q", "a")),
        ev(310, AgentNotReady("a", "break")),  # chosen while busy: applies once free
        ev(320, ContactAnswered("c2", "q", "a")),
        ev(400, ContactEnded("c2", "a")),
        ev(400, AgentAcwStarted("a", "c2")),
        ev(450, AgentAcwEnded("a", "c2")),
        ev(90, AgentLoggedOut("a")),  # stamped earlier than its predecessor: counts at 450
    ]
    timeline = agent_timelines(events, 0, 500)["a"]
    assert timeline == (
        StateSpan("a", 0, 100, LOGGED_OUT),
        StateSpan("a", 100, 200, READY),
        StateSpan("a", 200, 250, BUSY),
        StateSpan("a", 250, 300, READY),
        StateSpan("a", 300, 450, BUSY),
        StateSpan("a", 450, 500, LOGGED_OUT),
    )


def test_state_changes_of_a_logged_out_agent_are_ignored() -> None:
    events = [ev(10, AgentReady("a")), ev(20, AgentNotReady("a", "break"))]
    assert agent_timelines(events, 0, 30)["a"] == (StateSpan("a", 0, 30, LOGGED_OUT),)


def test_events_from_the_real_acd_give_the_expected_states() -> None:
    acd = Acd("acme")
    events: list[Event] = []
    events += acd.configure_queue(QueueSpec("sales", wrap_up_s=30), 0)
    events += acd.configure_agent(AgentSpec("a1"), 0)
    events += acd.login("a1", 1_000, ready=True)
    events += acd.enqueue("c1", "sales", 2_000)
    events += acd.answer("a1", "c1", 3_000)
    events += acd.not_ready("a1", "break", 4_000)
    events += acd.hangup("c1", 5_000)
    events += acd.advance(35_000)  # wrap-up ends on its own; then the pending not-ready
    events += acd.ready("a1", 40_000)
    assert agent_timelines(events, 0, 50_000)["a1"] == (
        StateSpan("a1", 0, 1_000, LOGGED_OUT),
        StateSpan("a1", 1_000, 2_000, READY),
        StateSpan("a1", 2_000, 35_000, BUSY),
        StateSpan("a1", 35_000, 40_000, not_ready("break")),
        StateSpan("a1", 40_000, 50_000, READY),
    )


def test_unscheduled_agents_and_tenant_reason_codes() -> None:
    schedule = Schedule([act("a", 0, 10, "work"), act("a", 2, 4, "lunch")])
    events = [
        ev(m(0), AgentLoggedIn("a")),
        ev(m(0), AgentReady("a")),
        ev(m(2), AgentNotReady("a", "meal")),
        ev(m(4), AgentReady("a")),
        ev(m(1), AgentLoggedIn("x")),  # not in the schedule: scheduled off
    ]
    rules = AdherenceRules(
        reasons={Activity.LUNCH: frozenset({"meal"})},
        off_phone_reasons=frozenset({"meal"}),
    )
    report = adherence_report(schedule, events, m(0), m(10), rules=rules)
    assert report.agents["a"].adherence == 1
    assert report.agents["a"].conformance == 1
    assert list(report.agents["x"].spans) == [span("x", m(1), m(10), "off", not_ready("login"))]
    assert report.agents["x"].figures.logged_in_off_ms == 9 * MIN
    assert report.agents["x"].adherence is None
    default = adherence_report(schedule, events, m(0), m(10))
    assert default.agents["a"].adherence == Fraction(8, 10)


def test_schedule_nesting_and_gaps() -> None:
    schedule = Schedule(
        [
            act("a", 0, 100, "work"),
            act("a", 10, 20, "meeting"),
            act("a", 12, 14, "break"),
            act("a", 50, 60, "off"),
            act("a", 50, 60, "off"),  # duplicates are harmless
        ]
    )
    assert schedule.pieces("a", m(-5), m(105)) == [
        (m(-5), m(0), Activity.OFF),
        (m(0), m(10), Activity.WORK),
        (m(10), m(12), Activity.MEETING),
        (m(12), m(14), Activity.BREAK),
        (m(14), m(20), Activity.MEETING),
        (m(20), m(50), Activity.WORK),
        (m(50), m(60), Activity.OFF),
        (m(60), m(100), Activity.WORK),
        (m(100), m(105), Activity.OFF),
    ]
    assert schedule.activity_at("a", m(13)) is Activity.BREAK
    assert schedule.activity_at("nobody", m(13)) is Activity.OFF


@pytest.mark.parametrize(
    ("activities", "message"),
    [
        ([act("a", 0, 10, "work"), act("a", 5, 15, "break")], "overlaps"),
        ([act("a", 0, 10, "work"), act("a", 0, 10, "break")], "overlaps"),
    ],
)
def test_partial_overlaps_are_rejected(activities: list[ScheduledActivity], message: str) -> None:
    with pytest.raises(AdherenceError, match=message):
        Schedule(activities)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("", 0, 1, "work"), "agent_id"),
        (("a", 5, 5, "work"), "start_ms < end_ms"),
        (("a", 1.5, 5, "work"), "integers"),
        (("a", 0, 5, "nap"), "unknown activity 'nap'"),
    ],
)
def test_bad_activities_are_rejected(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(AdherenceError, match=message):
        ScheduledActivity(*args)  # type: ignore[arg-type]


def test_bad_rules_and_settings_are_rejected() -> None:
    with pytest.raises(AdherenceError, match="not a not-ready activity"):
        AdherenceRules(reasons={Activity.WORK: frozenset({"x"})})
    with pytest.raises(AdherenceError, match="threshold_s"):
        AdherenceMonitor(SCHEDULE, 0)
    with pytest.raises(AdherenceError, match="start_ms <= end_ms"):
        adherence_report(SCHEDULE, [], 10, 5)


# ---------------------------------------------------------------------------------------------
# Live


def _break_schedule() -> Schedule:
    return Schedule([act("a", 0, 120, "work"), act("a", 60, 75, "break")])


def test_monitor_alerts_after_exactly_the_threshold_and_once_per_episode() -> None:
    monitor = AdherenceMonitor(_break_schedule(), 300, start_ms=m(0))
    monitor.ingest(ev(m(0), AgentLoggedIn("a")))
    monitor.ingest(ev(m(0), AgentReady("a")))
    assert monitor.poll(m(30)) == []
    assert monitor.out_of_adherence(m(60) - 1) == []
    # the break starts at 60 and the agent stays ready
    assert monitor.out_of_adherence(m(60)) == [OutOfAdherence("a", m(60), Activity.BREAK, READY)]
    assert monitor.poll(m(65) - 1) == []
    alert = AdherenceAlert("a", m(60), m(65), Activity.BREAK, READY)
    assert monitor.poll(m(65)) == [alert]
    assert monitor.poll(m(65)) == []
    assert monitor.poll(m(70)) == []
    monitor.ingest(ev(m(74), AgentNotReady("a", "break")))
    assert monitor.out_of_adherence(m(74)) == []
    # the break ends at 75 and the agent stays on break: a new episode
    assert monitor.poll(m(80) - 1) == []
    assert monitor.poll(m(80)) == [
        AdherenceAlert("a", m(75), m(80), Activity.WORK, not_ready("break"))
    ]
    assert monitor.out_of_adherence(m(80)) == [
        OutOfAdherence("a", m(75), Activity.WORK, not_ready("break"))
    ]
    assert monitor.state("a") == not_ready("break")
    assert monitor.threshold_s == 300


def test_an_episode_runs_across_activities_and_states() -> None:
    monitor = AdherenceMonitor(_break_schedule(), 20 * 60, start_ms=m(0))
    monitor.ingest(ev(m(0), AgentLoggedIn("a")))
    monitor.ingest(ev(m(0), AgentReady("a")))
    monitor.ingest(ev(m(75), AgentNotReady("a", "break")))  # ready in break, then break in work
    assert monitor.poll(m(80) - 1) == []
    assert monitor.poll(m(80)) == [
        AdherenceAlert("a", m(60), m(80), Activity.WORK, not_ready("break"))
    ]
    assert monitor.spans(m(90)) == [
        span("a", m(60), m(75), "break", READY),
        span("a", m(75), m(90), "work", not_ready("break")),
    ]


def test_an_episode_that_ended_between_polls_still_gives_its_alert() -> None:
    monitor = AdherenceMonitor(_break_schedule(), 300, start_ms=m(0))
    monitor.ingest(ev(m(0), AgentLoggedIn("a")))
    monitor.ingest(ev(m(0), AgentReady("a")))
    assert monitor.poll(m(50)) == []
    monitor.ingest(ev(m(66), AgentNotReady("a", "break")))  # 6 minutes late
    monitor.ingest(ev(m(75), AgentReady("a")))
    assert monitor.poll(m(100)) == [AdherenceAlert("a", m(60), m(65), Activity.BREAK, READY)]
    # exactly the threshold, ended by an event: counts; one millisecond short: does not
    for back_on_break, alerts in [(m(65), 1), (m(65) - 1, 0)]:
        monitor = AdherenceMonitor(_break_schedule(), 300, start_ms=m(0))
        for e in [
            ev(m(0), AgentLoggedIn("a")),
            ev(m(0), AgentReady("a")),
            ev(back_on_break, AgentNotReady("a", "break")),
            ev(m(75), AgentReady("a")),
        ]:
            monitor.ingest(e)
        assert len(monitor.poll(m(100))) == alerts


def test_scheduled_agents_who_never_log_in_are_out_of_adherence() -> None:
    monitor = AdherenceMonitor(_break_schedule(), 60)
    assert monitor.poll(m(-10)) == []  # the monitor starts here
    assert monitor.poll(m(1)) == [AdherenceAlert("a", m(0), m(1), Activity.WORK, LOGGED_OUT)]
    assert monitor.out_of_adherence(m(2)) == [OutOfAdherence("a", m(0), Activity.WORK, LOGGED_OUT)]


def test_live_spans_equal_historical_spans_for_the_same_events() -> None:
    monitor = AdherenceMonitor(SCHEDULE, 120, start_ms=m(0))
    polled: list[AdherenceAlert] = []
    for event in EVENTS:
        polled += monitor.poll(event.ts)
        monitor.ingest(event)
    polled += monitor.poll(m(130))
    report = adherence_report(SCHEDULE, EVENTS, m(0), m(130))
    assert monitor.spans(m(130)) == report.spans() == A1_SPANS + A2_SPANS
    # episodes of at least 2 minutes: a1 at 60 (2 min), a1 at 75 (2 min), a1 at 100, a2 at 0
    assert [(a.agent_id, a.start_ms, a.at_ms) for a in polled] == [
        ("a2", m(0), m(2)),
        ("a1", m(60), m(62)),
        ("a1", m(75), m(77)),
        ("a1", m(100), m(102)),
    ]


_ACTIONS = st.sampled_from(
    ["login", "logout", "ready", "break", "lunch", "other", "offer", "answer", "end", "withdraw"]
)


def _body(action: str, agent: str, contact: str) -> EventBody:
    match action:
        case "login":
            return AgentLoggedIn(agent)
        case "logout":
            return AgentLoggedOut(agent)
        case "ready":
            return AgentReady(agent)
        case "break" | "lunch" | "other":
            return AgentNotReady(agent, action)
        case "offer":
            return ContactOffered(contact, "q", agent)
        case "answer":
            return ContactAnswered(contact, "q", agent)
        case "withdraw":
            return ContactOfferWithdrawn(contact, "q", agent, "abandoned")
        case _:
            return AgentAcwEnded(agent, contact)


@settings(max_examples=60, deadline=None)
@given(
    schedule=st.lists(
        st.tuples(
            st.sampled_from(["a", "b"]),
            st.integers(0, 100),
            st.integers(1, 40),
            st.sampled_from(list(Activity)),
        ),
        max_size=5,
    ),
    steps=st.lists(
        st.tuples(
            st.integers(-3, 15),  # a negative step is an event stamped back in time
            st.sampled_from(["a", "b", "c"]),
            _ACTIONS,
            st.sampled_from(["k1", "k2"]),
            st.booleans(),  # poll before ingesting
        ),
        max_size=40,
    ),
    threshold_s=st.integers(1, 20),
)
def test_live_equals_historical_on_random_logs(
    schedule: list[tuple[str, int, int, Activity]],
    steps: list[tuple[int, str, str, str, bool]],
    threshold_s: int,
) -> None:
    activities: list[ScheduledActivity] = []
    for agent, start, length, activity in schedule:
        candidate = ScheduledActivity(agent, start * 1000, (start + length) * 1000, activity)
        try:
            Schedule([*activities, candidate])
        except AdherenceError:
            continue
        activities.append(candidate)
    sched = Schedule(activities)
    origin = 5_000
    monitor = AdherenceMonitor(sched, threshold_s, start_ms=origin)
    events: list[Event] = []
    ts = 0
    clock = origin
    alerts: list[AdherenceAlert] = []
    for step, agent, action, contact, poll in steps:
        ts = max(ts + step * 1000, 0)
        event = ev(ts, _body(action, agent, contact))
        if poll and ts >= clock:
            clock = ts
            alerts += monitor.poll(clock)
        monitor.ingest(event)
        events.append(event)
    end = max(clock, ts, 150_000)
    alerts += monitor.poll(end)
    report = adherence_report(sched, events, origin, end)
    live = monitor.spans(end)
    assert live == report.spans()

    # episodes (runs of touching spans) lasting the threshold get exactly one alert each
    threshold_ms = threshold_s * 1000
    expected: list[tuple[str, int]] = []
    for agent_id in sorted(report.agents):
        run: list[OutOfAdherenceSpan] = []
        for s in [*report.agents[agent_id].spans, None]:
            if s is not None and run and run[-1].end_ms == s.start_ms:
                run.append(s)
                continue
            if run and run[-1].end_ms - run[0].start_ms >= threshold_ms:
                expected.append((agent_id, run[0].start_ms))
            run = [] if s is None else [s]
    assert sorted((a.agent_id, a.start_ms) for a in alerts) == sorted(expected)
    for alert in alerts:
        assert alert.at_ms == alert.start_ms + threshold_ms
        (containing,) = [
            s
            for s in report.agents[alert.agent_id].spans
            if s.start_ms <= alert.at_ms - 1 < s.end_ms
        ]
        assert (alert.expected, alert.actual) == (containing.scheduled, containing.actual)
