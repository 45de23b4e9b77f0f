"""Validation of uploaded IVR flows: every mistake names its node and field."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glasshouse.domain.ivr import (
    FilePrompt,
    FlowError,
    FlowIssue,
    HoursNode,
    MenuNode,
    QueueNode,
    TextPrompt,
    load_flow_text,
    parse_flow,
)
from glasshouse.domain.ivr.flow import MAX_DOCUMENT_BYTES, MAX_NODES

Doc = dict[str, Any]


def base() -> Doc:
    """A valid flow touching most node types; each broken case changes one thing."""
    return {
        "id": "support-line",
        "version": 3,
        "name": "Support line",
        "start": "welcome",
        "defaults": {"timezone": "Europe/Paris", "language": "en", "voice": "en-GB-1"},
        "nodes": {
            "welcome": {"type": "play", "prompt": {"text": "Welcome"}, "next": "hours"},
            "hours": {
                "type": "hours",
                "weekly": {"mon-fri": ["08:00-18:00"]},
                "holidays": ["2025-12-25"],
                "open": "main_menu",
                "closed": "voicemail",
            },
            "main_menu": {
                "type": "menu",
                "prompt": [{"file": "menu/main.wav"}, {"text": "or hold", "voice": "en"}],
                "options": {"1": "sales", "2": "get_account", "9": "xfer"},
                "fallback": "sales",
            },
            "get_account": {
                "type": "collect",
                "prompt": {"text": "Account number?"},
                "variable": "account",
                "min_digits": 4,
                "max_digits": 8,
                "next": "lookup",
                "fallback": "sales",
            },
            "lookup": {
                "type": "http",
                "url": "https://crm.example.com/accounts/{{account}}",
                "headers": {"Authorization": "Bearer abc"},
                "save": {"tier": "customer.tier"},
                "next": "check",
                "fallback": "sales",
            },
            "check": {
                "type": "condition",
                "branches": [{"if": "tier == 'gold'", "goto": "remember"}],
                "else": "sales",
            },
            "remember": {"type": "set", "assign": {"vip": "'yes'"}, "next": "sales"},
            "sales": {
                "type": "queue",
                "queue": "sales",
                "priority": "{{prio}}",
                "skills": {"billing": 2},
                "survey": "csat",
            },
            "csat": {
                "type": "survey",
                "questions": [{"id": "q1", "prompt": {"text": "Rate 1 to 5"}}],
            },
            "xfer": {"type": "transfer", "number": "+33140000000", "fallback": "voicemail"},
            "voicemail": {"type": "voicemail", "box": "sales"},
        },
    }


def test_base_flow_is_valid() -> None:
    flow = parse_flow(base())
    assert (flow.id, flow.version, flow.name, flow.start) == (
        "support-line",
        3,
        "Support line",
        "welcome",
    )
    assert flow.defaults.timezone == "Europe/Paris"
    menu = flow.nodes["main_menu"]
    assert isinstance(menu, MenuNode)
    assert menu.options == (("1", "sales"), ("2", "get_account"), ("9", "xfer"))
    assert isinstance(menu.prompt[0], FilePrompt) and isinstance(menu.prompt[1], TextPrompt)
    assert menu.timeout_ms == 5000 and menu.retries == 2 and menu.barge_in
    queue = flow.nodes["sales"]
    assert isinstance(queue, QueueNode) and queue.survey == "csat"


def test_demo_flow_loads() -> None:
    text = resources.files("glasshouse").joinpath("demo/ivr-main.yaml").read_text("utf-8")
    flow = load_flow_text(text)
    assert flow.id == "main" and flow.version == 1
    assert isinstance(flow.nodes["opening_hours"], HoursNode)
    menu = flow.nodes["main_menu"]
    assert isinstance(menu, MenuNode)
    assert menu.target("1") == "sales" and menu.target("2") == "support"
    assert menu.fallback == "support"


def _walk(doc: Doc, path: str) -> tuple[Any, Any]:
    *parents, last = path.split("/")
    target: Any = doc
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    return target, int(last) if isinstance(target, list) else last


def _set(path: str, value: Any) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        target, last = _walk(doc, path)
        target[last] = value

    return change


def _drop(path: str) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        target, last = _walk(doc, path)
        del target[last]

    return change


def _add_node(node_id: str, node: Doc, via: str = "8") -> Callable[[Doc], None]:
    """Add a node reachable from the main menu's key ``via``."""

    def change(doc: Doc) -> None:
        doc["nodes"][node_id] = node
        doc["nodes"]["main_menu"]["options"][via] = node_id

    return change


def _many_nodes(doc: Doc) -> None:
    for i in range(MAX_NODES + 1):
        doc["nodes"][f"n{i}"] = {"type": "hangup"}


def _instant_loop(doc: Doc) -> None:
    doc["nodes"]["main_menu"]["options"]["5"] = "a"
    doc["nodes"]["a"] = {"type": "set", "assign": {"x": "'1'"}, "next": "b"}
    doc["nodes"]["b"] = {
        "type": "condition",
        "branches": [{"if": "x == '1'", "goto": "a"}],
        "else": "sales",
    }


BROKEN: list[tuple[str, Callable[[Doc], None], str | None, str, str]] = [
    # (case, change, node, field, fragment of the message)
    ("unknown type", _set("nodes/welcome/type", "jump"), "welcome", "type", "unknown node type"),
    ("missing type", _drop("nodes/voicemail/type"), "voicemail", "type", "is required"),
    ("missing field", _drop("nodes/main_menu/fallback"), "main_menu", "fallback", "is required"),
    ("extra field", _set("nodes/welcome/loop", True), "welcome", "loop", "unknown field"),
    ("ill-typed bool", _set("nodes/welcome/barge_in", "yes"), "welcome", "barge_in", "true or"),
    (
        "unknown target",
        _set("nodes/main_menu/options/3", "sals"),
        "main_menu",
        "options.3",
        'goes to unknown node "sals"',
    ),
    ("unknown next", _set("nodes/welcome/next", "hourz"), "welcome", "next", "unknown node"),
    ("unreachable", _set("nodes/orphan", {"type": "hangup"}), "orphan", "", "unreachable"),
    ("bad DTMF key", _set("nodes/main_menu/options/A", "sales"), "main_menu", "options.A", "DTMF"),
    (
        "too many digits",
        _set("nodes/get_account/max_digits", 40),
        "get_account",
        "max_digits",
        "1 to 32",
    ),
    (
        "min above max",
        _set("nodes/get_account/min_digits", 9),
        "get_account",
        "max_digits",
        "below",
    ),
    (
        "zero timeout",
        _set("nodes/main_menu/timeout_s", 0),
        "main_menu",
        "timeout_s",
        "out of range",
    ),
    (
        "timeout as text",
        _set("nodes/main_menu/timeout_s", "5"),
        "main_menu",
        "timeout_s",
        "seconds",
    ),
    ("ftp url", _set("nodes/lookup/url", "ftp://crm/x"), "lookup", "url", "scheme 'ftp'"),
    (
        "file url",
        _set("nodes/lookup/url", "file:///etc/passwd"),
        "lookup",
        "url",
        "not an absolute",
    ),
    (
        "open template",
        _set("nodes/lookup/url", "https://crm/{{id"),
        "lookup",
        "url",
        "never closed",
    ),
    (
        "host from caller",
        _set("nodes/lookup/url", "https://{{host}}/x"),
        "lookup",
        "url",
        "host must be written out",
    ),
    ("GET with body", _set("nodes/lookup/body", {"a": "b"}), "lookup", "body", "GET request"),
    ("bad save path", _set("nodes/lookup/save/tier", "a..b"), "lookup", "save.tier", "path"),
    (
        "bad header",
        _set("nodes/lookup/headers", {"Bad Header": "x"}),
        "lookup",
        "headers.Bad Header",
        "header name",
    ),
    (
        "expr syntax",
        _set("nodes/check/branches/0/if", "tier = 'gold'"),
        "check",
        "branches.0.if",
        "use '=='",
    ),
    (
        "expr not bool",
        _set("nodes/check/branches/0/if", "tier"),
        "check",
        "branches.0.if",
        "true/false",
    ),
    (
        "expr type",
        _set("nodes/check/branches/0/if", "tier > 3"),
        "check",
        "branches.0.if",
        "int(x)",
    ),
    (
        "bad variable",
        _set("nodes/remember/assign", {"1st": "'x'"}),
        "remember",
        "assign.1st",
        "variable name",
    ),
    (
        "keyword variable",
        _set("nodes/get_account/variable", "not"),
        "get_account",
        "variable",
        "variable name",
    ),
    (
        "reversed hours",
        _set("nodes/hours/weekly/mon-fri", ["18:00-08:00"]),
        "hours",
        "weekly.mon-fri.0",
        "ends before",
    ),
    (
        "bad weekday",
        _set("nodes/hours/weekly", {"funday": []}),
        "hours",
        "weekly.funday",
        "weekday",
    ),
    (
        "bad holiday",
        _set("nodes/hours/holidays", ["2025-02-30"]),
        "hours",
        "holidays.0",
        "calendar date",
    ),
    ("bad zone", _set("nodes/hours/zone", "Europe/Atlantis"), "hours", "zone", "unknown time zone"),
    ("no zone", _drop("defaults/timezone"), "hours", "zone", "no time zone"),
    ("priority word", _set("nodes/sales/priority", "high"), "sales", "priority", "whole number"),
    ("priority range", _set("nodes/sales/priority", 500), "sales", "priority", "out of range"),
    ("priority bool", _set("nodes/sales/priority", True), "sales", "priority", "true/false"),
    ("skill level", _set("nodes/sales/skills/billing", 9), "sales", "skills.billing", "1 to 5"),
    (
        "survey not survey",
        _set("nodes/sales/survey", "voicemail"),
        "sales",
        "survey",
        "not a survey",
    ),
    ("instant loop", _instant_loop, "a", "next", 'loop "a" -> "b" -> "a" never waits'),
    ("too many nodes", _many_nodes, None, "nodes", f"more than {MAX_NODES}"),
    (
        "absolute prompt",
        _set("nodes/welcome/prompt", {"file": "/etc/passwd"}),
        "welcome",
        "prompt.file",
        "relative",
    ),
    (
        "dotdot prompt",
        _set("nodes/welcome/prompt", {"file": "a/../../b.wav"}),
        "welcome",
        "prompt.file",
        "'..'",
    ),
    (
        "long prompt",
        _set("nodes/welcome/prompt", {"text": "x" * 1001}),
        "welcome",
        "prompt.text",
        "longer than 1000",
    ),
    (
        "empty prompt",
        _set("nodes/welcome/prompt", {"voice": "en"}),
        "welcome",
        "prompt",
        "'file' or 'text'",
    ),
    (
        "prompt list item",
        _set("nodes/main_menu/prompt/1", {"file": "x", "text": "y"}),
        "main_menu",
        "prompt.1.text",
        "only 'file'",
    ),
    ("version zero", _set("version", 0), None, "version", "out of range"),
    ("version text", _set("version", "1"), None, "version", "whole number"),
    ("unknown start", _set("start", "begin"), None, "start", 'unknown node "begin"'),
    ("unknown top field", _set("author", "me"), None, "author", "unknown top-level field"),
    (
        "bad default",
        _set("defaults/timezone", "Nowhere"),
        None,
        "defaults.timezone",
        "unknown time zone",
    ),
    ("unknown default", _set("defaults/colour", "red"), None, "defaults.colour", "unknown default"),
    (
        "nested quantifier",
        _set("nodes/get_account/pattern", r"(\d+)+"),
        "get_account",
        "pattern",
        "group cannot be repeated",
    ),
    (
        "many quantifiers",
        _set("nodes/get_account/pattern", r"1*2*3*4*5*"),
        "get_account",
        "pattern",
        "more than 4",
    ),
    (
        "regex escape",
        _set("nodes/get_account/pattern", r"\w+"),
        "get_account",
        "pattern",
        "only digits",
    ),
    (
        "terminator",
        _set("nodes/get_account/terminator", "5"),
        "get_account",
        "terminator",
        '"#", "*" or null',
    ),
    ("bad number", _set("nodes/xfer/number", "call-me"), "xfer", "number", "not a phone number"),
    ("bad node id", _add_node("bad id", {"type": "hangup"}), "bad id", "", "not a node id"),
    (
        "duplicate question",
        _set(
            "nodes/csat/questions",
            [{"id": "q", "prompt": {"text": "a"}}, {"id": "q", "prompt": {"text": "b"}}],
        ),
        "csat",
        "questions.1.id",
        "used twice",
    ),
    (
        "voicemail length",
        _set("nodes/voicemail/max_seconds", 5000),
        "voicemail",
        "max_seconds",
        "out of range",
    ),
    ("retries", _set("nodes/main_menu/retries", 9), "main_menu", "retries", "0 to 5"),
    (
        "branch field",
        _set("nodes/check/branches/0/then", "sales"),
        "check",
        "branches.0.then",
        "only 'if'",
    ),
    ("empty assign", _set("nodes/remember/assign", {}), "remember", "assign", "assigns nothing"),
    ("queue id", _set("nodes/sales/queue", "sales team"), "sales", "queue", "is not an id"),
    (
        "callback missing",
        _add_node(
            "cb", {"type": "callback", "number": "{{caller}}", "next": "sales", "fallback": "sales"}
        ),
        "cb",
        "queue",
        "is required",
    ),
]


@pytest.mark.parametrize(
    ("change", "node", "field", "fragment"),
    [
        pytest.param(change, node, field, fragment, id=case)
        for case, change, node, field, fragment in BROKEN
    ],
)
def test_broken_flow_names_node_and_field(
    change: Callable[[Doc], None], node: str | None, field: str, fragment: str
) -> None:
    doc = copy.deepcopy(base())
    change(doc)
    with pytest.raises(FlowError) as info:
        parse_flow(doc)
    matches = [i for i in info.value.issues if (i.node, i.field) == (node, field)]
    assert matches, f"no issue at {node}/{field}: {[str(i) for i in info.value.issues]}"
    assert any(fragment in i.message for i in matches), [str(i) for i in matches]


def test_there_are_at_least_25_distinct_mistakes() -> None:
    assert len({case for case, *_ in BROKEN}) >= 25


def test_issue_reads_like_the_spec() -> None:
    doc = base()
    doc["nodes"]["main_menu"]["options"]["3"] = "sals"
    with pytest.raises(FlowError) as info:
        parse_flow(doc)
    assert [str(i) for i in info.value.issues] == [
        'node "main_menu", field "options.3": goes to unknown node "sals"'
    ]
    assert str(FlowIssue(None, "version", "is required")) == 'field "version": is required'
    assert 'node "main_menu", field "options.3"' in str(info.value)


def test_all_problems_are_collected_at_once() -> None:
    doc = base()
    doc["version"] = -1
    doc["nodes"]["welcome"]["barge_in"] = "no"
    doc["nodes"]["lookup"]["url"] = "gopher://x"
    doc["nodes"]["sales"]["priority"] = 101
    with pytest.raises(FlowError) as info:
        parse_flow(doc)
    assert [(i.node, i.field) for i in info.value.issues] == [
        (None, "version"),
        ("welcome", "barge_in"),
        ("lookup", "url"),
        ("sales", "priority"),
    ]


def test_loop_through_caller_input_is_allowed() -> None:
    doc = base()
    doc["nodes"]["main_menu"]["options"]["0"] = "welcome"  # "press 0 to hear this again"
    parse_flow(doc)


def test_json_documents_load() -> None:
    flow = load_flow_text(json.dumps(base()), fmt="json")
    assert flow.id == "support-line"


def test_yaml_conveniences_unquoted_keys_and_dates() -> None:
    text = """
id: y
version: 1
name: Y
start: m
defaults: {timezone: UTC}
nodes:
  m:
    type: menu
    prompt: {text: "pick"}
    options: {1: h, "*": h}
    fallback: hrs
  hrs:
    type: hours
    weekly: {mon: ["09:00-17:00"]}
    holidays: [2026-05-01]
    open: h
    closed: h
  h: {type: hangup}
"""
    flow = load_flow_text(text)
    menu = flow.nodes["m"]
    assert isinstance(menu, MenuNode) and menu.options == (("*", "h"), ("1", "h"))


@pytest.mark.parametrize(
    ("text", "fmt", "fragment"),
    [
        ("a: &x [1]\nb: *x\n", "yaml", "aliases"),
        ("id: [unclosed\n", "yaml", "invalid YAML"),
        ("- just\n- a list\n", "yaml", "mapping at the top"),
        ("{", "json", "invalid JSON"),
        ("[" * 100_000 + "]" * 100_000, "json", "nested more than 64 deep"),
        ("x: " + "[" * 3000 + "]" * 3000, "yaml", "nested more than 64 deep"),
        ("".join(f"{' ' * i}k{i}:\n" for i in range(1, 900)), "yaml", "nested too deeply"),
        ("x" * (MAX_DOCUMENT_BYTES + 1), "yaml", "larger than"),
        ("version: " + "1" * 5000, "yaml", "invalid YAML: Exceeds the limit"),
        ('{"version": ' + "1" * 5000 + "}", "json", "invalid JSON: Exceeds the limit"),
        ("holidays: [2025-02-30]", "yaml", "invalid YAML: day is out of range"),
        ("id: x", "toml", "unknown format"),
    ],
)
def test_hostile_documents_are_refused_with_a_flow_error(
    text: str, fmt: str, fragment: str
) -> None:
    with pytest.raises(FlowError) as info:
        load_flow_text(text, fmt=fmt)  # type: ignore[arg-type]
    assert fragment in str(info.value)
    assert info.value.issues[0].node is None


def test_bytes_must_be_utf8() -> None:
    with pytest.raises(FlowError, match="not UTF-8"):
        load_flow_text(b"id: \xff\xfe")


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 200) | st.sampled_from(["", "x", "welcome", "1"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=15,
)
_fields = st.sampled_from(
    [
        "type",
        "prompt",
        "next",
        "options",
        "fallback",
        "url",
        "assign",
        "branches",
        "weekly",
        "queue",
        "priority",
        "number",
        "questions",
        "else",
        "open",
        "closed",
        "box",
        "skills",
    ]
)


@settings(deadline=None, max_examples=150)
@given(
    st.sampled_from(sorted(base()["nodes"])),
    _fields,
    _json,
)
def test_any_field_value_gives_a_flow_or_a_flow_error(node: str, field: str, value: Any) -> None:
    doc = base()
    doc["nodes"][node][field] = value
    try:
        parse_flow(doc)
    except FlowError as exc:
        assert exc.issues
        assert all(isinstance(i, FlowIssue) for i in exc.issues)
