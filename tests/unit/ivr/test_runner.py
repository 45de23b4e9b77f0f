"""The IVR interpreter driven end to end: commands in, actions out."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glasshouse.domain.ivr import (
    END_ACTIONS,
    Action,
    AudioFile,
    ClockError,
    Enqueue,
    Flow,
    FlowRun,
    Hangup,
    HttpRequest,
    InputError,
    Play,
    RecordVoicemail,
    RequestCallback,
    RunStateError,
    Speech,
    StartSurvey,
    Step,
    StopPlay,
    SurveyAnswer,
    TransferExternal,
    load_flow_text,
)
from glasshouse.domain.ivr.flow import NODE_TYPES


def ms(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp() * 1000)  # type: ignore[misc]


MONDAY_10 = ms(2026, 3, 2, 9, 0)  # 10:00 in Paris
SUNDAY = ms(2026, 3, 1, 12, 0)
CHRISTMAS = ms(2026, 12, 25, 10, 0)

EVERY_NODE = r"""
id: full
version: 2
name: Every node type
start: welcome
defaults: {timezone: Europe/Paris, voice: en-GB-1, language: en-GB}
nodes:
  welcome:
    type: play
    prompt:
      - {file: prompts/welcome.wav}
      - {text: "Hello {{caller_name}}.", voice: en-GB-2}
    barge_in: true
    next: office_hours
  office_hours:
    type: hours
    weekly: {mon-fri: ["08:00-18:00"]}
    holidays: [2026-12-25]
    open: main_menu
    closed: closed
    holiday: voicemail
  main_menu:
    type: menu
    prompt: {text: "1 account, 2 partner, 3 message, 0 repeat"}
    options: {1: account, 2: partner, 3: voicemail, 0: welcome}
    save_as: choice
    invalid_prompt: {file: invalid.wav}
    timeout_prompt: {file: timeout.wav}
    retries: 1
    timeout_s: 4
    fallback: voicemail
  account:
    type: collect
    prompt: {text: "Enter your account number then hash."}
    variable: account
    min_digits: 4
    max_digits: 8
    pattern: '[1-9]\d*'
    first_digit_timeout_s: 6
    inter_digit_timeout_s: 2
    next: lookup
    fallback: voicemail
  lookup:
    type: http
    method: POST
    url: "https://crm.example.com/api/accounts/{{account}}?line={{line}}"
    headers: {Authorization: "Bearer token-123", X-Caller: "{{caller_name}}"}
    body: {account: "{{account}}", choice: "{{choice}}"}
    timeout_s: 2
    save: {tier: customer.tier, balance: customer.balance, note: notes.0}
    next: score
    fallback: voicemail
  score:
    type: set
    assign:
      priority: "str(int(default(balance, '0')) / 1000)"
      label: "upper(tier) + ' customer'"
    next: route
  route:
    type: condition
    branches:
      - {if: "tier == 'gold'", goto: offer_callback}
      - {if: "int(default(balance, '0')) < 0", goto: partner}
    else: queue_general
  offer_callback:
    type: callback
    number: "{{caller}}"
    queue: vip
    next: queue_vip
    fallback: queue_vip
  queue_vip:
    type: queue
    queue: vip
    priority: "{{priority}}"
    skills: {billing: 3, french: "{{fr_level}}"}
    survey: csat
  queue_general:
    type: queue
    queue: general
  partner:
    type: transfer
    number: "+33140000000"
    fallback: voicemail
  voicemail:
    type: voicemail
    box: accounts
    prompt: {text: "Leave a message after the tone."}
    max_seconds: 90
  csat:
    type: survey
    intro: {text: "Please rate your call."}
    questions:
      - {id: overall, prompt: {text: "From 1 to 5?"}, min: 1, max: 5}
      - {id: resolved, prompt: {text: "Resolved? 1 yes, 0 no."}, min: 0, max: 1}
    goodbye: {text: "Thank you."}
  closed:
    type: hangup
    prompt: {text: "We are closed."}
    reason: closed
"""

CALL_VARS = {"caller": "+33 6 12 34 56 78", "caller_name": "Ada", "line": "a&b", "fr_level": "2"}
GOLD = {"customer": {"tier": "gold", "balance": 25_000}, "notes": ["likes email"]}


@pytest.fixture(scope="module")
def flow() -> Flow:
    return load_flow_text(EVERY_NODE)


def run_of(flow: Flow, now: int = MONDAY_10, **kwargs: Any) -> FlowRun:
    return FlowRun(flow, call_id="call-1", variables=dict(CALL_VARS), now_ms=now, **kwargs)


def steps(actions: list[Action]) -> list[tuple[str, str]]:
    return [(a.node_id, a.outcome) for a in actions if isinstance(a, Step)]


def en(text: str, voice: str = "en-GB-1") -> Speech:
    return Speech(text, voice, "en-GB")


def test_the_flow_uses_every_node_type(flow: Flow) -> None:
    assert {node.TYPE for node in flow.nodes.values()} == set(NODE_TYPES)


def test_main_path_through_every_instant_node_to_queue_and_survey(flow: Flow) -> None:
    run = run_of(flow)
    t = MONDAY_10
    assert run.start(t) == [
        Play(1, (AudioFile("prompts/welcome.wav"), en("Hello Ada.", "en-GB-2")), True)
    ]
    assert run.play_finished(t + 3000, play_id=1) == [
        Step("welcome", "play", "played"),
        Step("office_hours", "hours", "open", "Mon 10:00 CET"),
        Play(2, (en("1 account, 2 partner, 3 message, 0 repeat"),), True),
    ]
    # A key during the menu prompt stops it (barge-in).
    assert run.digits("1", t + 4000) == [
        StopPlay(2),
        Step("main_menu", "menu", "digit 1"),
        Play(3, (en("Enter your account number then hash."),), True),
    ]
    assert run.digits("1234", t + 5000) == [StopPlay(3)]
    assert run.next_deadline() == t + 5000 + 2000  # inter-digit timeout
    actions = run.digits("5#", t + 6000)
    request = HttpRequest(
        1,
        "POST",
        "https://crm.example.com/api/accounts/12345?line=a%26b",
        (("Authorization", "Bearer token-123"), ("X-Caller", "Ada")),
        {"account": "12345", "choice": "1"},
        2000,
    )
    assert actions == [Step("account", "collect", "collected", "5 digits"), request]
    assert run.next_deadline() == t + 6000 + 2000
    actions = run.http_result(200, GOLD, None, t + 6500, request_id=1)
    screen_pop = {
        **CALL_VARS,
        "choice": "1",
        "account": "12345",
        "tier": "gold",
        "balance": "25000",
        "note": "likes email",
        "priority": "25",
        "label": "GOLD customer",
    }
    assert actions == [
        Step("lookup", "http", "http 200"),
        Step("score", "set", "set", "priority, label"),
        Step("route", "condition", "branch 1"),
        RequestCallback("+33612345678", "vip", screen_pop),
        Step("offer_callback", "callback", "callback requested", "vip"),
        Step("queue_vip", "queue", "queued", "vip"),
        Enqueue("vip", 25, {"billing": 3, "french": 2}, screen_pop),
    ]
    assert run.waiting_for_survey and not run.finished
    assert run.next_deadline() is None
    assert run.digits("9", t + 7000) == []  # talking to the agent: keys are not the IVR's

    # The agent hangs up: the survey the queue node named runs.
    t2 = t + 300_000
    assert run.resume_for_survey(t2) == [
        StartSurvey("csat"),
        Step("csat", "survey", "started"),
        Play(4, (en("Please rate your call."), en("From 1 to 5?")), True),
    ]
    assert run.digits("4", t2 + 1000) == [
        StopPlay(4),
        SurveyAnswer("csat", "overall", 4),
        Step("csat", "survey", "answered", "overall=4"),
        Play(5, (en("Resolved? 1 yes, 0 no."),), True),
    ]
    assert run.play_finished(t2 + 2000) == []
    assert run.digits("1", t2 + 3000) == [
        SurveyAnswer("csat", "resolved", 1),
        Step("csat", "survey", "answered", "resolved=1"),
        Step("csat", "survey", "complete"),
        Play(6, (en("Thank you."),), False),
    ]
    assert run.play_finished(t2 + 4000, play_id=6) == [Hangup("survey complete")]
    assert run.finished and run.next_deadline() is None
    assert run.resume_for_survey(t2 + 5000) == []


def test_negative_balance_transfers_to_partner(flow: Flow) -> None:
    run = run_of(flow)
    run.start(MONDAY_10)
    run.digits("1", MONDAY_10 + 100)  # barge into the welcome: type-ahead for the menu
    run.digits("1234#", MONDAY_10 + 200)
    reply = {"customer": {"tier": "silver", "balance": -4000}}
    actions = run.http_result(200, reply, None, MONDAY_10 + 300)
    assert steps(actions)[-2:] == [("route", "branch 2"), ("partner", "transfer")]
    assert isinstance(actions[-1], TransferExternal)
    assert actions[-1].number == "+33140000000"
    assert actions[-1].variables["tier"] == "silver"
    assert run.finished


def test_type_ahead_answers_the_menu_and_collect_before_their_prompts(flow: Flow) -> None:
    run = run_of(flow)
    run.start(MONDAY_10)
    actions = run.digits("11234#", MONDAY_10 + 500)
    assert actions[0] == StopPlay(1)
    assert steps(actions) == [
        ("welcome", "barge-in"),
        ("office_hours", "open"),
        ("main_menu", "digit 1"),
        ("account", "collected"),
    ]
    assert not any(isinstance(a, Play) for a in actions)
    assert isinstance(actions[-1], HttpRequest)


def test_closed_plays_goodbye_then_hangs_up(flow: Flow) -> None:
    run = run_of(flow, now=SUNDAY)
    run.start(SUNDAY)
    actions = run.play_finished(SUNDAY + 1000)
    assert steps(actions) == [
        ("welcome", "played"),
        ("office_hours", "closed"),
        ("closed", "hangup"),
    ]
    assert actions[-1] == Play(2, (en("We are closed."),), False)
    assert run.digits("1", SUNDAY + 1500) == []  # no barge-in on a goodbye
    assert run.play_finished(SUNDAY + 2000) == [Hangup("closed")]


def test_holiday_goes_to_voicemail(flow: Flow) -> None:
    run = run_of(flow, now=CHRISTMAS)
    run.start(CHRISTMAS)
    actions = run.play_finished(CHRISTMAS + 1000)
    assert steps(actions)[1:] == [("office_hours", "holiday"), ("voicemail", "voicemail")]
    assert actions[-1] == RecordVoicemail("accounts", 90, (en("Leave a message after the tone."),))


def test_menu_timeout_and_invalid_retry_then_fallback(flow: Flow) -> None:
    run = run_of(flow)
    t = MONDAY_10
    run.start(t)
    run.play_finished(t + 1000)
    assert run.play_finished(t + 1500, play_id=1) == []  # an older prompt's end: ignored
    assert run.next_deadline() is None  # the menu prompt is still playing
    assert run.play_finished(t + 2000, play_id=2) == []
    deadline = run.next_deadline()
    assert deadline == t + 2000 + 4000  # timed from the end of the prompt
    actions = run.advance(deadline)
    assert actions == [
        Step("main_menu", "menu", "timeout", "retry 1 of 1"),
        Play(3, (AudioFile("timeout.wav"), en("1 account, 2 partner, 3 message, 0 repeat")), True),
    ]
    run.play_finished(deadline + 3000)
    actions = run.digits("7", deadline + 4000)
    assert steps(actions) == [("main_menu", "invalid"), ("voicemail", "voicemail")]
    assert actions[0] == Step("main_menu", "menu", "invalid", "key 7, fallback to voicemail")
    assert isinstance(actions[-1], RecordVoicemail)


def test_invalid_key_plays_the_invalid_prompt_first(flow: Flow) -> None:
    run = run_of(flow)
    run.start(MONDAY_10)
    run.play_finished(MONDAY_10 + 1000)
    actions = run.digits("#", MONDAY_10 + 2000)
    assert actions[0] == StopPlay(2)
    assert actions[1] == Step("main_menu", "menu", "invalid", "key #, retry 1 of 1")
    assert isinstance(actions[2], Play) and actions[2].prompts[0] == AudioFile("invalid.wav")


def test_a_late_command_fires_the_timeout_first(flow: Flow) -> None:
    run = run_of(flow)
    run.start(MONDAY_10)
    run.play_finished(MONDAY_10 + 1000)
    run.play_finished(MONDAY_10 + 2000)
    # The key arrives after the 4 s menu timeout: the timeout is handled first, and the key
    # then barges into the re-prompt.
    actions = run.digits("1", MONDAY_10 + 9000)
    assert steps(actions) == [("main_menu", "timeout"), ("main_menu", "digit 1")]


def test_loop_back_through_the_caller_is_allowed(flow: Flow) -> None:
    run = run_of(flow)
    run.start(MONDAY_10)
    run.play_finished(MONDAY_10 + 1000)
    actions = run.digits("0", MONDAY_10 + 2000)
    assert steps(actions) == [("main_menu", "digit 0")]
    assert isinstance(actions[-1], Play) and actions[-1].prompts[0] == AudioFile(
        "prompts/welcome.wav"
    )
    assert run.variables["choice"] == "0"


def _at_collect(flow: Flow) -> tuple[FlowRun, int]:
    run = run_of(flow)
    run.start(MONDAY_10)
    run.digits("1", MONDAY_10 + 10)
    run.play_finished(MONDAY_10 + 1000)
    return run, MONDAY_10 + 1000


def test_collect_first_digit_timeout_then_inter_digit_timeout_finishes(flow: Flow) -> None:
    run, t = _at_collect(flow)
    assert run.next_deadline() == t + 6000
    actions = run.advance(t + 6000)
    assert steps(actions) == [("account", "timeout")]
    run.play_finished(t + 7000)
    run.digits("9", t + 8000)
    run.digits("876", t + 9000)
    assert run.next_deadline() == t + 11_000
    actions = run.advance(t + 11_000)
    assert actions[0] == Step("account", "collect", "collected", "4 digits")
    assert run.variables["account"] == "9876"


def test_collect_stops_at_max_digits_without_terminator(flow: Flow) -> None:
    run, t = _at_collect(flow)
    actions = run.digits("12345678", t + 500)
    assert steps(actions) == [("account", "collected")]
    assert run.variables["account"] == "12345678"


@pytest.mark.parametrize(
    ("keys", "detail"),
    [("12#", "2 digits, 4 needed"), ("0123#", "4 digits not matching the pattern")],
)
def test_collect_validation_never_logs_the_digits(flow: Flow, keys: str, detail: str) -> None:
    run, t = _at_collect(flow)
    actions = run.digits(keys, t + 500)
    assert actions[0] == Step("account", "collect", "invalid", f"{detail}, retry 1 of 2")
    assert all(keys.rstrip("#") not in a.detail for a in actions if isinstance(a, Step))
    assert "account" not in run.variables


@pytest.mark.parametrize(
    ("status", "body", "error", "outcome"),
    [
        (500, None, None, "http 500"),
        (404, {"error": "no such account"}, None, "http 404"),
        (None, None, "connection refused", "http error: connection refused"),
        (None, None, "timeout", "http error: timeout"),
    ],
)
def test_http_failures_take_the_fallback(
    flow: Flow, status: int | None, body: dict[str, Any] | None, error: str | None, outcome: str
) -> None:
    run, t = _at_collect(flow)
    run.digits("1234#", t + 100)
    actions = run.http_result(status, body, error, t + 200)
    assert steps(actions) == [("lookup", outcome), ("voicemail", "voicemail")]


def test_http_timeout_is_the_runners_own_and_late_results_are_ignored(flow: Flow) -> None:
    run, t = _at_collect(flow)
    run.digits("1234#", t + 100)
    assert run.next_deadline() == t + 2100
    actions = run.advance(t + 2100)
    assert steps(actions) == [("lookup", "http error: timeout"), ("voicemail", "voicemail")]
    assert run.http_result(200, GOLD, None, t + 2500, request_id=1) == []


def test_stale_request_id_is_ignored(flow: Flow) -> None:
    run, t = _at_collect(flow)
    run.digits("1234#", t + 100)
    assert run.http_result(200, GOLD, None, t + 150, request_id=99) == []
    assert steps(run.http_result(200, GOLD, None, t + 160, request_id=1))[0] == (
        "lookup",
        "http 200",
    )


def test_missing_reply_fields_become_empty_and_are_named(flow: Flow) -> None:
    run, t = _at_collect(flow)
    run.digits("1234#", t + 100)
    actions = run.http_result(200, {"customer": {"tier": ["not", "scalar"]}}, None, t + 200)
    assert actions[0] == Step("lookup", "http", "http 200", "missing: tier, balance, note")
    assert run.variables["tier"] == ""
    assert steps(actions)[1:3] == [("score", "set"), ("route", "else")]


def test_bad_priority_and_skill_from_variables_fall_back(flow: Flow) -> None:
    run = FlowRun(
        flow, call_id="c", variables={"caller": "+3312345", "fr_level": "7"}, now_ms=MONDAY_10
    )
    run.start(MONDAY_10)
    run.digits("11234#", MONDAY_10 + 1)
    reply = {"customer": {"tier": "gold", "balance": 999_000}}  # priority 999: too high
    actions = run.http_result(200, reply, None, MONDAY_10 + 2)
    enqueue = actions[-1]
    assert isinstance(enqueue, Enqueue)
    assert enqueue.priority == 0 and dict(enqueue.skills) == {"billing": 3}
    assert actions[-2] == Step(
        "queue_vip",
        "queue",
        "queued",
        "vip; priority is not 0-100, using 0; skill french level is not 1-5, dropped",
    )


def test_invalid_callback_number_takes_the_fallback(flow: Flow) -> None:
    run = FlowRun(flow, call_id="c", variables={"caller": "anonymous"}, now_ms=MONDAY_10)
    run.start(MONDAY_10)
    run.digits("11234#", MONDAY_10 + 1)
    actions = run.http_result(200, GOLD, None, MONDAY_10 + 2)
    assert ("offer_callback", "invalid number") in steps(actions)
    assert not any(isinstance(a, RequestCallback) for a in actions)
    assert isinstance(actions[-1], Enqueue)


def test_survey_timeouts_and_invalid_answers_skip_questions(flow: Flow) -> None:
    run = run_of(flow)
    run.start(MONDAY_10)
    run.digits("11234#", MONDAY_10 + 1)
    run.http_result(200, GOLD, None, MONDAY_10 + 2)
    t = MONDAY_10 + 100_000
    run.resume_for_survey(t)
    run.play_finished(t + 1000)
    actions = run.digits("9", t + 2000)  # out of 1-5
    assert steps(actions) == [("csat", "invalid")]
    actions = run.digits("0", t + 2500)  # barges into the repeat, still invalid
    assert actions[1] == Step("csat", "survey", "invalid", "overall skipped")
    run.play_finished(t + 3000)
    actions = run.advance(t + 8000)
    assert steps(actions) == [("csat", "timeout")]
    run.play_finished(t + 9000)
    actions = run.advance(t + 14_000)
    assert steps(actions) == [("csat", "timeout"), ("csat", "complete")]
    assert not any(isinstance(a, SurveyAnswer) for a in actions)


def test_caller_hanging_up_records_where(flow: Flow) -> None:
    run = run_of(flow)
    run.start(MONDAY_10)
    run.play_finished(MONDAY_10 + 1000)
    assert run.caller_hung_up(MONDAY_10 + 1500) == [Step("main_menu", "menu", "caller hung up")]
    assert run.finished and run.next_deadline() is None
    assert run.digits("1", MONDAY_10 + 1600) == []
    assert run.advance(MONDAY_10 + 60_000) == []
    assert run.resume_for_survey(MONDAY_10 + 60_000) == []


def test_step_budget_ends_a_loop_that_passes_through_input() -> None:
    looping = load_flow_text(
        """
id: loop
version: 1
name: Loop
start: a
nodes:
  a: {type: play, prompt: {file: a.wav}, next: b}
  b: {type: set, assign: {n: "str(int(default(n, '0')) + 1)"}, next: a}
"""
    )
    run = FlowRun(looping, call_id="c", variables={}, now_ms=0, max_steps=9)
    run.start(0)
    out: list[Action] = []
    for i in range(1, 20):
        out += run.play_finished(i)
        if run.finished:
            break
    assert len([a for a in out if isinstance(a, Step)]) == 10
    assert out[-2:] == [
        Step("b", "set", "error", "step budget of 9 spent"),
        Hangup("step budget exhausted"),
    ]
    assert run.variables["n"] == "4"


def test_demo_flow_routes_sales_and_support() -> None:
    text = resources.files("glasshouse").joinpath("demo/ivr-main.yaml").read_text("utf-8")
    demo = load_flow_text(text)
    for key, queue in (("1", "sales"), ("2", "support")):
        run = FlowRun(demo, call_id="d", variables={"caller": "+331"}, now_ms=SUNDAY)
        run.start(SUNDAY)
        run.play_finished(SUNDAY + 1000)
        actions = run.digits(key, SUNDAY + 2000)
        enqueue = actions[-1]
        assert isinstance(enqueue, Enqueue) and enqueue.queue_id == queue
        assert dict(enqueue.variables) == {"caller": "+331", "menu_choice": key}
    run = FlowRun(demo, call_id="d", variables={}, now_ms=SUNDAY)
    run.start(SUNDAY)
    t = SUNDAY
    actions: list[Action] = []
    for _ in range(10):
        t += 10_000
        actions += run.play_finished(t) + run.advance(t + 5000)
    outcomes = [s for s in steps(actions) if s[0] == "main_menu"]
    assert outcomes == [("main_menu", "timeout")] * 3
    assert actions[-1] == Enqueue("support", 0, {}, {})


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (lambda r: r.digits("1", 5), ClockError, "backwards"),
        (lambda r: r.digits("x", 2000), InputError, "'x' is not a DTMF key"),
        (lambda r: r.digits("", 2000), InputError, "1 to 32"),
        (lambda r: r.advance(True), ClockError, "integer"),
        (lambda r: r.http_result(700, None, None, 2000), InputError, "100 to 599"),
        (lambda r: r.http_result(None, None, None, 2000), InputError, "status or an error"),
        (lambda r: r.http_result(200, [1], None, 2000), InputError, "JSON object"),
        (lambda r: r.start(2000), RunStateError, "already started"),
        (lambda r: r.resume_for_survey(2000), RunStateError, "not waiting in a queue"),
    ],
)
def test_bad_commands_raise_typed_errors(flow: Flow, call: Any, error: type, fragment: str) -> None:
    run = FlowRun(flow, call_id="c", variables={}, now_ms=1000)
    run.start(1000)
    with pytest.raises(error, match=fragment):
        call(run)


def test_commands_before_start_and_bad_construction(flow: Flow) -> None:
    run = FlowRun(flow, call_id="c", variables={}, now_ms=0)
    with pytest.raises(RunStateError, match="has not started"):
        run.digits("1", 0)
    with pytest.raises(InputError, match="not a variable name"):
        FlowRun(flow, call_id="c", variables={"bad name": "x"}, now_ms=0)
    with pytest.raises(InputError, match="must be text"):
        FlowRun(flow, call_id="c", variables={"n": 1}, now_ms=0)  # type: ignore[dict-item]
    with pytest.raises(InputError, match="call id"):
        FlowRun(flow, call_id="", variables={}, now_ms=0)
    with pytest.raises(ClockError):
        FlowRun(flow, call_id="c", variables={}, now_ms=1.5)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# property: whatever the caller and the network do, the run ends properly

_REPLIES = [
    (200, GOLD, None),
    (200, {"customer": {"tier": "bronze", "balance": -5}}, None),
    (200, {}, None),
    (503, None, None),
    (None, None, "timeout"),
]
_command = st.one_of(
    st.tuples(
        st.just("digits"),
        st.text(alphabet="0123456789*#", min_size=1, max_size=4)
        # Keys that lead somewhere, so deep paths (lookup, queue, survey) are explored too.
        | st.sampled_from(["1", "2", "1234#", "98765432", "0", "4"]),
    ),
    st.tuples(st.just("play_finished"), st.integers(0, 3000)),
    st.tuples(st.just("wait"), st.integers(0, 8000)),
    st.tuples(st.just("deadline"), st.just(0)),
    st.tuples(st.just("http"), st.integers(0, len(_REPLIES) - 1)),
    st.tuples(st.just("survey"), st.just(0)),
    st.tuples(st.just("hangup"), st.just(0)),
)


@settings(deadline=None, max_examples=250)
@given(
    st.sampled_from([MONDAY_10, SUNDAY, CHRISTMAS]),
    st.lists(_command, max_size=40),
    st.integers(10, 60),
)
def test_random_sessions_never_raise_and_always_end(
    flow: Flow, start: int, commands: list[tuple[str, int | str]], budget: int
) -> None:
    run = FlowRun(flow, call_id="c", variables=dict(CALL_VARS), now_ms=start, max_steps=budget)
    now = start
    out = run.start(now)
    for kind, arg in commands:
        if kind == "hangup" and len(out) % 3:
            continue  # hang up only now and then
        if kind == "digits":
            out += run.digits(str(arg), now)
        elif kind == "play_finished":
            now += int(arg)
            out += run.play_finished(now)
        elif kind == "wait":
            now += int(arg)
            out += run.advance(now)
        elif kind == "deadline":
            deadline = run.next_deadline()
            if deadline is not None:
                now = max(now, deadline)
                out += run.advance(now)
        elif kind == "http":
            status, body, error = _REPLIES[int(arg)]
            out += run.http_result(status, body, error, now)
        elif kind == "survey" and (run.waiting_for_survey or run.finished):
            out += run.resume_for_survey(now)
        elif kind == "hangup":
            out += run.caller_hung_up(now)
    # Then a well-behaved adapter and a silent caller: every prompt ends, every wait times out.
    for _ in range(1000):
        if run.finished:
            break
        if run.waiting_for_survey:
            out += run.resume_for_survey(now)
            continue
        deadline = run.next_deadline()
        if deadline is None:
            now += 1000
            out += run.play_finished(now)
        else:
            now = max(now, deadline)
            out += run.advance(now)
    assert run.finished
    step_list = [a for a in out if isinstance(a, Step)]
    assert len(step_list) <= budget + 1
    ends = [a for a in out if isinstance(a, END_ACTIONS)]
    if step_list[-1].outcome == "caller hung up":
        assert len(ends) <= 1
    else:
        assert ends and out[-1] is ends[-1]
        # Only a queue followed by a survey ends twice.
        assert len(ends) == 1 or (isinstance(ends[0], Enqueue) and len(ends) == 2)
    assert run.advance(now + 10**9) == []
