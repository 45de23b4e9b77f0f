"""IVR flow documents: the typed model and the validation done when a tenant uploads one.

A flow is a versioned JSON or YAML document: an id, a version, a start node and a mapping of
node id to node. Validation never stops at the first mistake: it collects every problem and
raises :class:`FlowError` whose issues each name the node and the field, e.g.
``node "main_menu", field "options.3": goes to unknown node "sals"``. Sizes are bounded
(document bytes, node count, string lengths, list lengths) so a hostile upload cannot make the
validator use unbounded memory or time. See docs/ivr.md for the schema of every node type.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Final, Literal, TypeVar, cast

import yaml

from glasshouse.domain.ivr.expr import (
    MAX_TEMPLATE_LENGTH,
    ExprError,
    Expression,
    Template,
    ValueType,
    is_variable_name,
    parse_expression,
    parse_template,
)
from glasshouse.domain.ivr.hours import (
    BusinessHours,
    HoursError,
    parse_business_hours,
    zone_problem,
)

MAX_DOCUMENT_BYTES: Final = 512 * 1024
MAX_NESTING: Final = 64
MAX_NODES: Final = 500
MAX_ID_LENGTH: Final = 64
MAX_NAME_LENGTH: Final = 200
MAX_TEXT_LENGTH: Final = 1000
MAX_PATH_LENGTH: Final = 200
MAX_URL_LENGTH: Final = 2048
MAX_PROMPTS: Final = 10
MAX_ITEMS: Final = 50
MAX_DIGITS: Final = 32
MAX_PATTERN_LENGTH: Final = 64
MAX_PATTERN_QUANTIFIERS: Final = 4
MAX_RETRIES: Final = 5
MAX_PRIORITY: Final = 100
MAX_QUESTIONS: Final = 10

_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8}){0,3}")
_VOICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
_FILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*")
_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://"
    r"(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.\-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"
    r"(?::(?P<port>\d{1,5}))?(?P<rest>[/?#].*)?",
    re.DOTALL,
)
_PHONE = re.compile(r"\+?[0-9]{3,20}")
_HEADER = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~\-]{1,64}")
_JSON_PATH = re.compile(r"[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+){0,9}")
_BRACKETS = re.compile(r"[\[\]{}]")
_PATTERN_CHARS = re.compile(r"[0-9*#\[\]()|?+{},\-^$\\d]*")
DTMF_KEYS: Final = frozenset("0123456789*#")
HTTP_METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE")


# ---------------------------------------------------------------------------------------------
# the model


@dataclass(frozen=True, slots=True)
class FilePrompt:
    """A recorded prompt, a path relative to the tenant's prompt store."""

    file: str


@dataclass(frozen=True, slots=True)
class TextPrompt:
    """Text spoken by text-to-speech; ``voice`` None means the flow's default voice."""

    text: Template
    voice: str | None = None


Prompt = FilePrompt | TextPrompt
Prompts = tuple[Prompt, ...]


@dataclass(frozen=True, slots=True)
class FlowDefaults:
    """Flow-wide settings a node may override; times in milliseconds."""

    language: str = "en"
    voice: str | None = None
    timezone: str | None = None
    menu_timeout_ms: int = 5000
    first_digit_timeout_ms: int = 5000
    inter_digit_timeout_ms: int = 3000
    http_timeout_ms: int = 5000
    retries: int = 2


@dataclass(frozen=True, slots=True)
class PlayNode:
    TYPE: ClassVar[str] = "play"
    id: str
    prompt: Prompts
    next: str
    barge_in: bool = False


@dataclass(frozen=True, slots=True)
class MenuNode:
    TYPE: ClassVar[str] = "menu"
    id: str
    prompt: Prompts
    options: tuple[tuple[str, str], ...]  # (DTMF key, node id)
    fallback: str
    timeout_ms: int = 5000
    retries: int = 2
    invalid_prompt: Prompts = ()
    timeout_prompt: Prompts = ()
    barge_in: bool = True
    save_as: str | None = None

    def target(self, key: str) -> str | None:
        return next((node for k, node in self.options if k == key), None)


@dataclass(frozen=True, slots=True)
class CollectNode:
    TYPE: ClassVar[str] = "collect"
    id: str
    prompt: Prompts
    variable: str
    next: str
    fallback: str
    min_digits: int = 1
    max_digits: int = 16
    terminator: str | None = "#"
    first_digit_timeout_ms: int = 5000
    inter_digit_timeout_ms: int = 3000
    pattern: str | None = None
    retries: int = 2
    invalid_prompt: Prompts = ()
    timeout_prompt: Prompts = ()
    barge_in: bool = True


@dataclass(frozen=True, slots=True)
class HttpNode:
    TYPE: ClassVar[str] = "http"
    id: str
    method: str
    url: Template
    next: str
    fallback: str
    headers: tuple[tuple[str, Template], ...] = ()
    body: tuple[tuple[str, Template], ...] | None = None
    timeout_ms: int = 5000
    save: tuple[tuple[str, str], ...] = ()  # (variable, dotted path into the JSON reply)


@dataclass(frozen=True, slots=True)
class SetNode:
    TYPE: ClassVar[str] = "set"
    id: str
    assign: tuple[tuple[str, Expression], ...]
    next: str


@dataclass(frozen=True, slots=True)
class Branch:
    condition: Expression
    goto: str


@dataclass(frozen=True, slots=True)
class ConditionNode:
    TYPE: ClassVar[str] = "condition"
    id: str
    branches: tuple[Branch, ...]
    otherwise: str  # "else" in the document


@dataclass(frozen=True, slots=True)
class HoursNode:
    TYPE: ClassVar[str] = "hours"
    id: str
    hours: BusinessHours
    open: str
    closed: str
    holiday: str | None = None  # None: holidays go to ``closed``


@dataclass(frozen=True, slots=True)
class QueueNode:
    TYPE: ClassVar[str] = "queue"
    id: str
    queue: Template
    priority: int | Template = 0
    skills: tuple[tuple[str, int | Template], ...] = ()
    survey: str | None = None


@dataclass(frozen=True, slots=True)
class VoicemailNode:
    TYPE: ClassVar[str] = "voicemail"
    id: str
    box: Template
    prompt: Prompts = ()
    max_seconds: int = 120


@dataclass(frozen=True, slots=True)
class CallbackNode:
    TYPE: ClassVar[str] = "callback"
    id: str
    number: Template
    queue: Template
    next: str
    fallback: str


@dataclass(frozen=True, slots=True)
class TransferNode:
    TYPE: ClassVar[str] = "transfer"
    id: str
    number: Template
    fallback: str


@dataclass(frozen=True, slots=True)
class SurveyQuestion:
    id: str
    prompt: Prompts
    min: int = 1
    max: int = 5


@dataclass(frozen=True, slots=True)
class SurveyNode:
    TYPE: ClassVar[str] = "survey"
    id: str
    questions: tuple[SurveyQuestion, ...]
    intro: Prompts = ()
    goodbye: Prompts = ()
    timeout_ms: int = 5000
    retries: int = 1


@dataclass(frozen=True, slots=True)
class HangupNode:
    TYPE: ClassVar[str] = "hangup"
    id: str
    prompt: Prompts = ()
    reason: str = "normal"


Node = (
    PlayNode
    | MenuNode
    | CollectNode
    | HttpNode
    | SetNode
    | ConditionNode
    | HoursNode
    | QueueNode
    | VoicemailNode
    | CallbackNode
    | TransferNode
    | SurveyNode
    | HangupNode
)

#: Node types that finish at once, without waiting for the caller, media or the network.
INSTANT_TYPES: Final = frozenset({"set", "condition", "hours", "callback"})

#: Node types that need the call answered (the caller's keys, voice or a conversation): an
#: ``early_media`` flow plays its prompts unanswered until it reaches one of these.
ANSWERING_TYPES: Final = frozenset(
    {"menu", "collect", "queue", "voicemail", "callback", "transfer", "survey"}
)


@dataclass(frozen=True, slots=True)
class Flow:
    """A validated flow: every reference resolves and every node is reachable from ``start``."""

    id: str
    version: int
    name: str
    start: str
    nodes: Mapping[str, Node]
    defaults: FlowDefaults = field(default_factory=FlowDefaults)
    early_media: bool = False  # prompts as early media (183) until an answering node


@dataclass(frozen=True, slots=True)
class FlowIssue:
    """One problem; ``node`` None means a top-level field. Reads like the spec's messages."""

    node: str | None
    field: str
    message: str

    def __str__(self) -> str:
        where = []
        if self.node is not None:
            where.append(f'node "{self.node}"')
        if self.field:
            where.append(f'field "{self.field}"')
        return f"{', '.join(where)}: {self.message}" if where else self.message


class FlowError(ValueError):
    """The flow was refused; ``issues`` lists every problem found."""

    def __init__(self, issues: list[FlowIssue] | tuple[FlowIssue, ...]) -> None:
        self.issues = tuple(issues)
        lines = "\n".join(f"  {issue}" for issue in self.issues)
        super().__init__(f"flow refused, {len(self.issues)} problem(s):\n{lines}")


# ---------------------------------------------------------------------------------------------
# loading


class _NoAliasLoader(yaml.SafeLoader):
    """Refuses anchors and aliases: "billion laughs" documents expand them exponentially."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.constructor.ConstructorError(
                None, None, "aliases (*name) are not allowed in flows", None
            )
        return super().compose_node(parent, index)


def _refused(message: str) -> FlowError:
    return FlowError([FlowIssue(None, "", message)])


def load_flow_text(text: str | bytes, *, fmt: Literal["yaml", "json"] = "yaml") -> Flow:
    """Parse a YAML or JSON flow document and validate it; raises :class:`FlowError`."""
    if isinstance(text, bytes):
        if len(text) > MAX_DOCUMENT_BYTES:
            raise _refused(f"document larger than {MAX_DOCUMENT_BYTES} bytes")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _refused(f"not UTF-8 text: {exc.reason}") from None
    if len(text.encode("utf-8", "surrogatepass")) > MAX_DOCUMENT_BYTES:
        raise _refused(f"document larger than {MAX_DOCUMENT_BYTES} bytes")
    if fmt not in ("yaml", "json"):
        raise _refused(f"unknown format {fmt!r} (yaml or json)")
    if _bracket_depth(text) > MAX_NESTING:
        raise _refused(f"document nested more than {MAX_NESTING} deep")
    try:
        data = json.loads(text) if fmt == "json" else yaml.load(text, Loader=_NoAliasLoader)
    except yaml.YAMLError as exc:
        raise _refused(f"invalid YAML: {exc}") from None
    except RecursionError:
        raise _refused("document nested too deeply") from None
    except ValueError as exc:
        # JSON syntax errors, and values the decoders refuse to build: an integer of
        # thousands of digits, an unquoted YAML date such as 2025-02-30.
        raise _refused(f"invalid {fmt.upper()}: {exc}") from None
    if not isinstance(data, Mapping):
        raise _refused("a flow document must be a mapping at the top")
    return parse_flow(data)


def _bracket_depth(text: str) -> int:
    """The deepest nesting of [ and { (counting those inside strings too, so it can only
    over-estimate): a cheap refusal of documents built to exhaust the parsers' stack."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(text):
        depth = max(0, depth + (1 if match.group() in "[{" else -1))
        deepest = max(deepest, depth)
    return deepest


# ---------------------------------------------------------------------------------------------
# validation

T = TypeVar("T")
D = TypeVar("D")
_Read = Callable[[str, object], T]


class _Bad(Exception):
    """A field failed to read; the issue is already recorded."""


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__


def _show(value: str, limit: int = 40) -> str:
    shown = value if len(value) <= limit else value[:limit] + "..."
    return json.dumps(shown)


class _Checker:
    """Reads one document, collecting issues; ``node`` is the node being read."""

    def __init__(self) -> None:
        self.issues: list[FlowIssue] = []
        self.node: str | None = None
        self.refs: list[tuple[str, str, str]] = []  # (from node, field, to node)
        self.defaults = FlowDefaults()

    def issue(self, path: str, message: str) -> None:
        self.issues.append(FlowIssue(self.node, path, message))

    def fail(self, path: str, message: str) -> _Bad:
        self.issue(path, message)
        return _Bad()

    # -- scalars ------------------------------------------------------------------------------

    def text(self, path: str, raw: object, limit: int = MAX_NAME_LENGTH) -> str:
        if not isinstance(raw, str):
            raise self.fail(path, f"must be text, got {_kind(raw)}")
        if len(raw) > limit:
            raise self.fail(path, f"longer than {limit} characters")
        return raw

    def ident(self, path: str, raw: object) -> str:
        value = self.text(path, raw, MAX_ID_LENGTH + 1)
        if not _ID.fullmatch(value):
            raise self.fail(
                path,
                f"{_show(value)} is not an id (letters, digits, '_' and '-', at most "
                f"{MAX_ID_LENGTH}, starting with a letter or '_')",
            )
        return value

    def variable(self, path: str, raw: object) -> str:
        value = self.text(path, raw, MAX_ID_LENGTH + 1)
        if not is_variable_name(value):
            raise self.fail(
                path,
                f"{_show(value)} is not a variable name (letters, digits and '_', at most 64, "
                "not starting with a digit, not and/or/not/true/false)",
            )
        return value

    def boolean(self, path: str, raw: object) -> bool:
        if not isinstance(raw, bool):
            raise self.fail(path, f"must be true or false, got {_kind(raw)}")
        return raw

    def integer(self, path: str, raw: object, low: int, high: int) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise self.fail(path, f"must be a whole number from {low} to {high}, got {_kind(raw)}")
        if not low <= raw <= high:
            raise self.fail(path, f"{raw} is out of range ({low} to {high})")
        return raw

    def seconds(self, path: str, raw: object, low: float, high: float) -> int:
        """A duration in seconds (may be fractional), returned in milliseconds."""
        if isinstance(raw, bool) or not isinstance(raw, int | float) or raw != raw:
            raise self.fail(path, f"must be a number of seconds, got {_kind(raw)}")
        if not low <= raw <= high:
            raise self.fail(path, f"{raw} seconds is out of range ({low:g} to {high:g})")
        return round(raw * 1000)

    def ref(self, path: str, raw: object) -> str:
        target = self.ident(path, raw)
        assert self.node is not None
        self.refs.append((self.node, path, target))
        return target

    def template(self, path: str, raw: object, limit: int = MAX_TEMPLATE_LENGTH) -> Template:
        value = self.text(path, raw, limit)
        try:
            return parse_template(value, max_length=limit)
        except ExprError as exc:
            raise self.fail(path, f"bad template: {exc}") from None

    def expression(self, path: str, raw: object) -> Expression:
        if not isinstance(raw, str):
            raise self.fail(path, f"must be an expression (text), got {_kind(raw)}")
        try:
            return parse_expression(raw)
        except ExprError as exc:
            raise self.fail(path, f"bad expression: {exc}") from None

    def mapping(self, path: str, raw: object, limit: int = MAX_ITEMS) -> Mapping[Any, Any]:
        if not isinstance(raw, Mapping):
            raise self.fail(path, f"must be a mapping, got {_kind(raw)}")
        if len(raw) > limit:
            raise self.fail(path, f"has more than {limit} entries")
        return raw

    def sequence(self, path: str, raw: object, limit: int = MAX_ITEMS) -> list[Any]:
        if not isinstance(raw, list):
            raise self.fail(path, f"must be a list, got {_kind(raw)}")
        if len(raw) > limit:
            raise self.fail(path, f"has more than {limit} items")
        return raw

    # -- composite values ---------------------------------------------------------------------

    def prompts(self, path: str, raw: object) -> Prompts:
        if isinstance(raw, list):
            if not raw:
                raise self.fail(path, "is an empty list of prompts")
            items = self.sequence(path, raw, MAX_PROMPTS)
            out: list[Prompt] = []
            failed = False
            for index, item in enumerate(items):
                try:
                    out.append(self.one_prompt(f"{path}.{index}", item))
                except _Bad:
                    failed = True
            if failed:
                raise _Bad()
            return tuple(out)
        return (self.one_prompt(path, raw),)

    def one_prompt(self, path: str, raw: object) -> Prompt:
        if not isinstance(raw, Mapping):
            raise self.fail(
                path, f'must be {{file: "name.wav"}} or {{text: "..."}}, got {_kind(raw)}'
            )
        keys = set(raw)
        if "file" in keys:
            if keys - {"file"}:
                extra = sorted(str(k) for k in keys - {"file"})[0]
                raise self.fail(f"{path}.{extra}", "a file prompt has only 'file'")
            name = self.text(f"{path}.file", raw["file"], MAX_PATH_LENGTH)
            if name.startswith("/") or "\\" in name:
                raise self.fail(f"{path}.file", f"{_show(name)} must be a relative path")
            if ".." in name.split("/"):
                raise self.fail(f"{path}.file", f"{_show(name)} must not contain '..'")
            if not _FILE.fullmatch(name):
                raise self.fail(
                    f"{path}.file",
                    f"{_show(name)} may use only letters, digits, '_', '-', '.' and '/'",
                )
            return FilePrompt(name)
        if "text" in keys:
            extra_keys = sorted(str(k) for k in keys - {"text", "voice"})
            if extra_keys:
                raise self.fail(f"{path}.{extra_keys[0]}", "a text prompt has 'text' and 'voice'")
            text = self.template(f"{path}.text", raw["text"], MAX_TEXT_LENGTH)
            if not text.source.strip():
                raise self.fail(f"{path}.text", "is empty")
            voice = None
            if "voice" in raw:
                voice = self.text(f"{path}.voice", raw["voice"], 64)
                if not _VOICE.fullmatch(voice):
                    raise self.fail(f"{path}.voice", f"{_show(voice)} is not a voice name")
            return TextPrompt(text, voice)
        raise self.fail(path, "a prompt needs 'file' or 'text'")

    def url(self, path: str, raw: object) -> Template:
        template = self.template(path, raw, MAX_URL_LENGTH)
        source = template.source
        scheme, sep, rest = source.partition("://")
        authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
        # Placeholders only after the host, so caller input can never choose the server.
        if sep and ("{{" in scheme or "{{" in authority):
            raise self.fail(path, "the scheme and host must be written out, not {{variables}}")
        match = _URL.fullmatch(source)
        if match is None:
            raise self.fail(path, f"{_show(source)} is not an absolute http(s) URL")
        if match["scheme"].lower() not in ("http", "https"):
            raise self.fail(path, f"scheme {match['scheme']!r} is not allowed (http or https)")
        if match["port"] is not None and not 0 < int(match["port"]) < 65536:
            raise self.fail(path, f"port {match['port']} is out of range")
        return template

    def number_template(self, path: str, raw: object) -> Template:
        template = self.template(path, raw, 100)
        if template.is_literal and not _PHONE.fullmatch(template.source):
            raise self.fail(path, f"{_show(template.source)} is not a phone number (+ and digits)")
        return template

    def id_template(self, path: str, raw: object) -> Template:
        template = self.template(path, raw, 100)
        if template.is_literal and not _ID.fullmatch(template.source):
            raise self.fail(path, f"{_show(template.source)} is not an id")
        return template

    def int_or_template(self, path: str, raw: object, low: int, high: int) -> int | Template:
        if isinstance(raw, str):
            template = self.template(path, raw, 100)
            if not template.variables:
                raise self.fail(
                    path, f"must be a whole number from {low} to {high} or a {{{{variable}}}}"
                )
            return template
        return self.integer(path, raw, low, high)

    def pattern(self, path: str, raw: object) -> str:
        value = self.text(path, raw, MAX_PATTERN_LENGTH)
        problem = _pattern_problem(value)
        if problem:
            raise self.fail(path, problem)
        return value


def _pattern_problem(pattern: str) -> str | None:
    """Why a digit pattern is refused. Only a small regex subset is allowed (no nested or
    numerous quantifiers) so matching is fast on any input: a pattern is tenant data."""
    if not _PATTERN_CHARS.fullmatch(pattern):
        return "may use only digits, * # [ ] ( ) | ? + { } , - ^ $ and \\d"
    quantifiers = 0
    i = 0
    in_class = False
    after_group = False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if pattern[i + 1 : i + 2] != "d":
                return "the only escape allowed is \\d"
            i += 2
            after_group = False
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c in "*+?{":
            if pattern[i - 1 : i] in ("(", "|", "") or (c == "?" and pattern[i - 1 : i] == "("):
                return f"quantifier {c!r} at position {i} has nothing to repeat"
            if after_group:
                return "a group cannot be repeated (nested repetition is slow to match)"
            quantifiers += 1
            if c == "{":
                end = pattern.find("}", i)
                if end == -1 or not re.fullmatch(r"\d{1,2}(,\d{0,2})?", pattern[i + 1 : end]):
                    return f"bad repetition at position {i}"
                i = end
        after_group = c == ")" and not in_class
        i += 1
    if quantifiers > MAX_PATTERN_QUANTIFIERS:
        return f"more than {MAX_PATTERN_QUANTIFIERS} repetitions"
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"not a valid pattern: {exc}"
    return None


class _Fields:
    """The fields of one node: reads each once and reports unknown ones."""

    def __init__(self, ck: _Checker, raw: Mapping[Any, Any], allowed: frozenset[str]) -> None:
        self.ck = ck
        self.raw = raw
        self.failed = False
        for key in raw:
            if key in ("type", "label"):
                continue
            if key not in allowed:
                name = str(key)[:MAX_ID_LENGTH]
                ck.issue(name, f"unknown field for a {raw['type']} node")
                self.failed = True
        if "label" in raw:
            self.opt("label", lambda p, v: ck.text(p, v), "")

    def req(self, name: str, read: _Read[T]) -> T:
        if name not in self.raw:
            self.ck.issue(name, "is required")
            self.failed = True
            return cast(T, None)
        return self.opt(name, read, cast(T, None))

    def opt(self, name: str, read: _Read[T], default: D) -> T | D:
        if name not in self.raw:
            return default
        try:
            return read(name, self.raw[name])
        except _Bad:
            self.failed = True
            return default


def _prompt_fields(f: _Fields, name: str, required: bool = False) -> Prompts:
    return f.req(name, f.ck.prompts) if required else f.opt(name, f.ck.prompts, ())


def _play(f: _Fields, node_id: str) -> Node | None:
    ck = f.ck
    prompt = _prompt_fields(f, "prompt", True)
    nxt = f.req("next", ck.ref)
    barge_in = f.opt("barge_in", ck.boolean, False)
    return None if f.failed else PlayNode(node_id, prompt, nxt, barge_in)


def _retries(f: _Fields, default: int) -> int:
    return f.opt("retries", lambda p, v: f.ck.integer(p, v, 0, MAX_RETRIES), default)


def _menu(f: _Fields, node_id: str) -> Node | None:
    ck, d = f.ck, f.ck.defaults
    prompt = _prompt_fields(f, "prompt", True)
    options = f.req("options", lambda p, v: _menu_options(ck, p, v))
    fallback = f.req("fallback", ck.ref)
    timeout = f.opt("timeout_s", lambda p, v: ck.seconds(p, v, 1, 60), d.menu_timeout_ms)
    retries = _retries(f, d.retries)
    invalid = _prompt_fields(f, "invalid_prompt")
    timeout_prompt = _prompt_fields(f, "timeout_prompt")
    barge_in = f.opt("barge_in", ck.boolean, True)
    save_as = f.opt("save_as", ck.variable, None)
    if f.failed:
        return None
    return MenuNode(
        id=node_id,
        prompt=prompt,
        options=options,
        fallback=fallback,
        timeout_ms=timeout,
        retries=retries,
        invalid_prompt=invalid,
        timeout_prompt=timeout_prompt,
        barge_in=barge_in,
        save_as=save_as,
    )


def _menu_options(ck: _Checker, path: str, raw: object) -> tuple[tuple[str, str], ...]:
    mapping = ck.mapping(path, raw, len(DTMF_KEYS))
    if not mapping:
        raise ck.fail(path, "a menu needs at least one option")
    out: list[tuple[str, str]] = []
    failed = False
    for key, target in mapping.items():
        # YAML reads an unquoted 1: as the number 1.
        digit = str(key) if isinstance(key, int) and not isinstance(key, bool) else key
        if not isinstance(digit, str) or digit not in DTMF_KEYS:
            shown = _show(str(key), 10)
            ck.issue(f"{path}.{str(key)[:10]}", f"{shown} is not a DTMF key (0-9, * or #)")
            failed = True
            continue
        try:
            out.append((digit, ck.ref(f"{path}.{digit}", target)))
        except _Bad:
            failed = True
    if failed:
        raise _Bad()
    return tuple(sorted(out))


def _collect(f: _Fields, node_id: str) -> Node | None:
    ck, d = f.ck, f.ck.defaults
    prompt = _prompt_fields(f, "prompt", True)
    variable = f.req("variable", ck.variable)
    nxt = f.req("next", ck.ref)
    fallback = f.req("fallback", ck.ref)
    low = f.opt("min_digits", lambda p, v: ck.integer(p, v, 1, MAX_DIGITS), 1)
    high = f.opt("max_digits", lambda p, v: ck.integer(p, v, 1, MAX_DIGITS), 16)
    if not f.failed and high < low:
        ck.issue("max_digits", f"max_digits {high} is below min_digits {low}")
        f.failed = True
    terminator = f.opt("terminator", _terminator(ck), "#")
    first = f.opt(
        "first_digit_timeout_s", lambda p, v: ck.seconds(p, v, 1, 60), d.first_digit_timeout_ms
    )
    inter = f.opt(
        "inter_digit_timeout_s", lambda p, v: ck.seconds(p, v, 1, 30), d.inter_digit_timeout_ms
    )
    pattern = f.opt("pattern", ck.pattern, None)
    retries = _retries(f, d.retries)
    invalid = _prompt_fields(f, "invalid_prompt")
    timeout_prompt = _prompt_fields(f, "timeout_prompt")
    barge_in = f.opt("barge_in", ck.boolean, True)
    if f.failed:
        return None
    return CollectNode(
        id=node_id,
        prompt=prompt,
        variable=variable,
        next=nxt,
        fallback=fallback,
        min_digits=low,
        max_digits=high,
        terminator=terminator,
        first_digit_timeout_ms=first,
        inter_digit_timeout_ms=inter,
        pattern=pattern,
        retries=retries,
        invalid_prompt=invalid,
        timeout_prompt=timeout_prompt,
        barge_in=barge_in,
    )


def _terminator(ck: _Checker) -> _Read[str | None]:
    def read(path: str, raw: object) -> str | None:
        if raw is None:
            return None
        if raw not in ("#", "*"):
            raise ck.fail(path, f'must be "#", "*" or null, got {_kind(raw)} {raw!r:.20}')
        return raw

    return read


def _http(f: _Fields, node_id: str) -> Node | None:
    ck = f.ck
    method = f.opt("method", _method(ck), "GET")
    url = f.req("url", ck.url)
    nxt = f.req("next", ck.ref)
    fallback = f.req("fallback", ck.ref)
    headers = f.opt("headers", lambda p, v: _headers(ck, p, v), ())
    body = f.opt("body", lambda p, v: _body(ck, p, v), None)
    timeout = f.opt(
        "timeout_s", lambda p, v: ck.seconds(p, v, 0.1, 30), ck.defaults.http_timeout_ms
    )
    save = f.opt("save", lambda p, v: _save(ck, p, v), ())
    if not f.failed and body is not None and method == "GET":
        ck.issue("body", "a GET request has no body; use POST, PUT or PATCH")
        f.failed = True
    if f.failed:
        return None
    return HttpNode(node_id, method, url, nxt, fallback, headers, body, timeout, save)


def _method(ck: _Checker) -> _Read[str]:
    def read(path: str, raw: object) -> str:
        if not isinstance(raw, str) or raw.upper() not in HTTP_METHODS:
            raise ck.fail(path, f"must be one of {', '.join(HTTP_METHODS)}")
        return raw.upper()

    return read


def _headers(ck: _Checker, path: str, raw: object) -> tuple[tuple[str, Template], ...]:
    out: list[tuple[str, Template]] = []
    failed = False
    for name, value in ck.mapping(path, raw, 20).items():
        sub = f"{path}.{str(name)[:64]}"
        if not isinstance(name, str) or not _HEADER.fullmatch(name):
            ck.issue(sub, "is not a valid header name")
            failed = True
            continue
        try:
            out.append((name, ck.template(sub, value, 1000)))
        except _Bad:
            failed = True
    if failed:
        raise _Bad()
    return tuple(out)


def _body(ck: _Checker, path: str, raw: object) -> tuple[tuple[str, Template], ...]:
    out: list[tuple[str, Template]] = []
    failed = False
    for name, value in ck.mapping(path, raw).items():
        sub = f"{path}.{str(name)[:64]}"
        try:
            out.append((ck.text(sub, name, 64), ck.template(sub, value, 1000)))
        except _Bad:
            failed = True
    if failed:
        raise _Bad()
    return tuple(out)


def _save(ck: _Checker, path: str, raw: object) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    failed = False
    for name, where in ck.mapping(path, raw).items():
        sub = f"{path}.{str(name)[:64]}"
        try:
            variable = ck.variable(sub, name)
            where_text = ck.text(sub, where, 200)
            if not _JSON_PATH.fullmatch(where_text):
                raise ck.fail(
                    sub, f"{_show(where_text)} is not a path into the reply like 'customer.tier'"
                )
            out.append((variable, where_text))
        except _Bad:
            failed = True
    if failed:
        raise _Bad()
    return tuple(out)


def _set(f: _Fields, node_id: str) -> Node | None:
    ck = f.ck
    assign = f.req("assign", lambda p, v: _assign(ck, p, v))
    nxt = f.req("next", ck.ref)
    return None if f.failed else SetNode(node_id, assign, nxt)


def _assign(ck: _Checker, path: str, raw: object) -> tuple[tuple[str, Expression], ...]:
    mapping = ck.mapping(path, raw)
    if not mapping:
        raise ck.fail(path, "assigns nothing")
    out: list[tuple[str, Expression]] = []
    failed = False
    for name, source in mapping.items():
        sub = f"{path}.{str(name)[:64]}"
        try:
            out.append((ck.variable(sub, name), ck.expression(sub, source)))
        except _Bad:
            failed = True
    if failed:
        raise _Bad()
    return tuple(out)


def _condition(f: _Fields, node_id: str) -> Node | None:
    ck = f.ck
    branches = f.req("branches", lambda p, v: _branches(ck, p, v))
    otherwise = f.req("else", ck.ref)
    return None if f.failed else ConditionNode(node_id, branches, otherwise)


def _branches(ck: _Checker, path: str, raw: object) -> tuple[Branch, ...]:
    items = ck.sequence(path, raw)
    if not items:
        raise ck.fail(path, "a condition needs at least one branch")
    out: list[Branch] = []
    failed = False
    for index, item in enumerate(items):
        sub = f"{path}.{index}"
        try:
            entry = ck.mapping(sub, item, 10)
            unknown = sorted(str(k) for k in entry if k not in ("if", "goto"))
            if unknown:
                raise ck.fail(f"{sub}.{unknown[0]}", "a branch has only 'if' and 'goto'")
            for key in ("if", "goto"):
                if key not in entry:
                    raise ck.fail(f"{sub}.{key}", "is required")
            expr = ck.expression(f"{sub}.if", entry["if"])
            if expr.type is not ValueType.BOOL:
                raise ck.fail(f"{sub}.if", f"must be true/false, but gives {expr.type.value}")
            out.append(Branch(expr, ck.ref(f"{sub}.goto", entry["goto"])))
        except _Bad:
            failed = True
    if failed:
        raise _Bad()
    return tuple(out)


def _hours(f: _Fields, node_id: str) -> Node | None:
    ck = f.ck
    hours: BusinessHours | None = None
    data = {k: f.raw[k] for k in ("zone", "weekly", "holidays") if k in f.raw}
    try:
        hours = parse_business_hours(data, default_zone=ck.defaults.timezone)
    except HoursError as exc:
        for problem in exc.problems:
            ck.issue(problem.field, problem.message)
        f.failed = True
    open_ = f.req("open", ck.ref)
    closed = f.req("closed", ck.ref)
    holiday = f.opt("holiday", ck.ref, None)
    if f.failed or hours is None:
        return None
    return HoursNode(node_id, hours, open_, closed, holiday)


def _queue(f: _Fields, node_id: str) -> Node | None:
    ck = f.ck
    queue = f.req("queue", ck.id_template)
    priority = f.opt("priority", lambda p, v: ck.int_or_template(p, v, 0, MAX_PRIORITY), 0)
    skills = f.opt("skills", lambda p, v: _skills(ck, p, v), ())
    survey = f.opt("survey", ck.ref, None)
    return None if f.failed else QueueNode(node_id, queue, priority, skills, survey)


def _skills(ck: _Checker, path: str, raw: object) -> tuple[tuple[str, int | Template], ...]:
    out: list[tuple[str, int | Template]] = []
    failed = False
    for name, level in ck.mapping(path, raw, 20).items():
        sub = f"{path}.{str(name)[:64]}"
        try:
            out.append((ck.ident(sub, name), ck.int_or_template(sub, level, 1, 5)))
        except _Bad:
            failed = True
    if failed:
        raise _Bad()
    return tuple(out)


def _voicemail(f: _Fields, node_id: str) -> Node | None:
    ck = f.ck
    box = f.req("box", ck.id_template)
    prompt = _prompt_fields(f, "prompt")
    max_seconds = f.opt("max_seconds", lambda p, v: ck.integer(p, v, 5, 600), 120)
    return None if f.failed else VoicemailNode(node_id, box, prompt, max_seconds)


def _callback(f: _Fields, node_id: str) -> Node | None:
    ck = f.ck
    number = f.req("number", ck.number_template)
    queue = f.req("queue", ck.id_template)
    nxt = f.req("next", ck.ref)
    fallback = f.req("fallback", ck.ref)
    return None if f.failed else CallbackNode(node_id, number, queue, nxt, fallback)


def _transfer(f: _Fields, node_id: str) -> Node | None:
    ck = f.ck
    number = f.req("number", ck.number_template)
    fallback = f.req("fallback", ck.ref)
    return None if f.failed else TransferNode(node_id, number, fallback)


def _survey(f: _Fields, node_id: str) -> Node | None:
    ck = f.ck
    questions = f.req("questions", lambda p, v: _questions(ck, p, v))
    intro = _prompt_fields(f, "intro")
    goodbye = _prompt_fields(f, "goodbye")
    timeout = f.opt("timeout_s", lambda p, v: ck.seconds(p, v, 1, 60), 5000)
    retries = _retries(f, 1)
    if f.failed:
        return None
    return SurveyNode(node_id, questions, intro, goodbye, timeout, retries)


def _questions(ck: _Checker, path: str, raw: object) -> tuple[SurveyQuestion, ...]:
    items = ck.sequence(path, raw, MAX_QUESTIONS)
    if not items:
        raise ck.fail(path, "a survey needs at least one question")
    out: list[SurveyQuestion] = []
    seen: set[str] = set()
    failed = False
    for index, item in enumerate(items):
        sub = f"{path}.{index}"
        try:
            entry = ck.mapping(sub, item, 10)
            unknown = sorted(str(k) for k in entry if k not in ("id", "prompt", "min", "max"))
            if unknown:
                raise ck.fail(f"{sub}.{unknown[0]}", "a question has id, prompt, min and max")
            for key in ("id", "prompt"):
                if key not in entry:
                    raise ck.fail(f"{sub}.{key}", "is required")
            qid = ck.ident(f"{sub}.id", entry["id"])
            if qid in seen:
                raise ck.fail(f"{sub}.id", f'question id "{qid}" is used twice')
            seen.add(qid)
            prompt = ck.prompts(f"{sub}.prompt", entry["prompt"])
            low = ck.integer(f"{sub}.min", entry.get("min", 1), 0, 9)
            high = ck.integer(f"{sub}.max", entry.get("max", 5), 0, 9)
            if high < low:
                raise ck.fail(f"{sub}.max", f"max {high} is below min {low}")
            out.append(SurveyQuestion(qid, prompt, low, high))
        except _Bad:
            failed = True
    if failed:
        raise _Bad()
    return tuple(out)


def _hangup(f: _Fields, node_id: str) -> Node | None:
    ck = f.ck
    prompt = _prompt_fields(f, "prompt")
    reason = f.opt("reason", lambda p, v: ck.ident(p, v), "normal")
    return None if f.failed else HangupNode(node_id, prompt, reason)


_NodeReader = Callable[[_Fields, str], "Node | None"]
_SCHEMA: Final[Mapping[str, tuple[frozenset[str], _NodeReader]]] = {
    "play": (frozenset({"prompt", "next", "barge_in"}), _play),
    "menu": (
        frozenset({
            "prompt", "options", "fallback", "timeout_s", "retries", "invalid_prompt",
            "timeout_prompt", "barge_in", "save_as",
        }),
        _menu,
    ),
    "collect": (
        frozenset({
            "prompt", "variable", "next", "fallback", "min_digits", "max_digits", "terminator",
            "first_digit_timeout_s", "inter_digit_timeout_s", "pattern", "retries",
            "invalid_prompt", "timeout_prompt", "barge_in",
        }),
        _collect,
    ),
    "http": (
        frozenset({"method", "url", "next", "fallback", "headers", "body", "timeout_s", "save"}),
        _http,
    ),
    "set": (frozenset({"assign", "next"}), _set),
    "condition": (frozenset({"branches", "else"}), _condition),
    "hours": (frozenset({"zone", "weekly", "holidays", "open", "closed", "holiday"}), _hours),
    "queue": (frozenset({"queue", "priority", "skills", "survey"}), _queue),
    "voicemail": (frozenset({"box", "prompt", "max_seconds"}), _voicemail),
    "callback": (frozenset({"number", "queue", "next", "fallback"}), _callback),
    "transfer": (frozenset({"number", "fallback"}), _transfer),
    "survey": (
        frozenset({"questions", "intro", "goodbye", "timeout_s", "retries"}),
        _survey,
    ),
    "hangup": (frozenset({"prompt", "reason"}), _hangup),
}  # fmt: skip
NODE_TYPES: Final = tuple(_SCHEMA)


def _defaults(ck: _Checker, raw: object) -> FlowDefaults:
    try:
        mapping = ck.mapping("defaults", raw, 20)
    except _Bad:
        return FlowDefaults()
    d = FlowDefaults()
    values: dict[str, Any] = {}
    readers: dict[str, tuple[str, _Read[Any]]] = {
        "language": ("language", lambda p, v: _language(ck, p, v)),
        "voice": ("voice", lambda p, v: _voice(ck, p, v)),
        "timezone": ("timezone", lambda p, v: _zone(ck, p, v)),
        "menu_timeout_s": ("menu_timeout_ms", lambda p, v: ck.seconds(p, v, 1, 60)),
        "first_digit_timeout_s": ("first_digit_timeout_ms", lambda p, v: ck.seconds(p, v, 1, 60)),
        "inter_digit_timeout_s": ("inter_digit_timeout_ms", lambda p, v: ck.seconds(p, v, 1, 30)),
        "http_timeout_s": ("http_timeout_ms", lambda p, v: ck.seconds(p, v, 0.1, 30)),
        "retries": ("retries", lambda p, v: ck.integer(p, v, 0, MAX_RETRIES)),
    }
    for key, value in mapping.items():
        path = f"defaults.{str(key)[:64]}"
        if key not in readers:
            ck.issue(path, f"unknown default (known: {', '.join(readers)})")
            continue
        attr, read = readers[key]
        with contextlib.suppress(_Bad):
            values[attr] = read(path, value)
    return FlowDefaults(**{**_as_dict(d), **values})


def _as_dict(d: FlowDefaults) -> dict[str, Any]:
    return {name: getattr(d, name) for name in FlowDefaults.__dataclass_fields__}


def _language(ck: _Checker, path: str, raw: object) -> str:
    value = ck.text(path, raw, 35)
    if not _LANGUAGE.fullmatch(value):
        raise ck.fail(path, f"{_show(value)} is not a language tag like 'en' or 'fr-CA'")
    return value


def _voice(ck: _Checker, path: str, raw: object) -> str:
    value = ck.text(path, raw, 64)
    if not _VOICE.fullmatch(value):
        raise ck.fail(path, f"{_show(value)} is not a voice name")
    return value


def _zone(ck: _Checker, path: str, raw: object) -> str:
    problem = zone_problem(raw)
    if problem:
        raise ck.fail(path, problem)
    return cast(str, raw)


_TOP: Final = frozenset(
    {"id", "version", "name", "start", "defaults", "nodes", "description", "early_media"}
)


def parse_flow(data: Mapping[str, object]) -> Flow:
    """Validate a decoded flow document and build the typed :class:`Flow`; raises
    :class:`FlowError` listing every problem, each naming its node and field."""
    ck = _Checker()
    if not isinstance(data, Mapping):
        raise FlowError([FlowIssue(None, "", "a flow document must be a mapping")])
    for key in data:
        if key not in _TOP:
            ck.issue(str(key)[:64], f"unknown top-level field (known: {', '.join(sorted(_TOP))})")

    def top(name: str, read: _Read[T], default: T) -> T:
        if name not in data:
            ck.issue(name, "is required")
            return default
        try:
            return read(name, data[name])
        except _Bad:
            return default

    flow_id = top("id", ck.ident, "")
    version = top("version", lambda p, v: ck.integer(p, v, 1, 2**31 - 1), 0)
    name = top("name", ck.text, "")
    start = top("start", ck.ident, "")
    early_media = False
    if "early_media" in data:
        with contextlib.suppress(_Bad):
            early_media = ck.boolean("early_media", data["early_media"])
    if "description" in data:
        with contextlib.suppress(_Bad):
            ck.text("description", data["description"], MAX_TEXT_LENGTH)
    if "defaults" in data:
        ck.defaults = _defaults(ck, data["defaults"])

    nodes: dict[str, Node] = {}
    types: dict[str, str] = {}
    known: set[str] = set()
    complete = True  # a node with bad fields may have lost edges: reachability would mislead
    empty: Mapping[Any, Any] = {}
    raw_nodes = top("nodes", lambda p, v: ck.mapping(p, v, MAX_NODES), empty)
    if "nodes" in data and not raw_nodes and isinstance(data["nodes"], Mapping):
        ck.issue("nodes", "a flow needs at least one node")
    for key, raw in raw_nodes.items():
        if not isinstance(key, str) or not _ID.fullmatch(key):
            ck.issues.append(
                FlowIssue(
                    str(key)[:MAX_ID_LENGTH],
                    "",
                    "is not a node id (letters, digits, '_' and '-', at most "
                    f"{MAX_ID_LENGTH}, starting with a letter or '_')",
                )
            )
            continue
        known.add(key)
        ck.node = key
        node = _read_node(ck, key, raw, types)
        if node is None:
            complete = False
        else:
            nodes[key] = node
    ck.node = None

    if start and raw_nodes and start not in known:
        ck.issue("start", f'goes to unknown node "{start}"')
    for source, path, target in ck.refs:
        if target not in known:
            ck.issues.append(FlowIssue(source, path, f'goes to unknown node "{target}"'))
        elif path == "survey" and types.get(target, "survey") != "survey":
            ck.issues.append(
                FlowIssue(source, path, f'"{target}" is a {types[target]} node, not a survey')
            )
    if start in known and complete:
        _check_reachable(ck, start, known)
    _check_instant_loops(ck, types)

    if ck.issues:
        raise FlowError(ck.issues)
    return Flow(flow_id, version, name, start, MappingProxyType(nodes), ck.defaults, early_media)


def _read_node(ck: _Checker, node_id: str, raw: object, types: dict[str, str]) -> Node | None:
    if not isinstance(raw, Mapping):
        ck.issue("", f"a node must be a mapping with a 'type', got {_kind(raw)}")
        return None
    node_type = raw.get("type")
    if "type" not in raw:
        ck.issue("type", f"is required (one of {', '.join(NODE_TYPES)})")
        return None
    if not isinstance(node_type, str) or node_type not in _SCHEMA:
        shown = _show(node_type) if isinstance(node_type, str) else _kind(node_type)
        ck.issue("type", f"unknown node type {shown} (one of {', '.join(NODE_TYPES)})")
        return None
    types[node_id] = node_type
    allowed, reader = _SCHEMA[node_type]
    return reader(_Fields(ck, raw, allowed), node_id)


def _check_reachable(ck: _Checker, start: str, known: set[str]) -> None:
    edges: dict[str, list[str]] = {}
    for source, _, target in ck.refs:
        edges.setdefault(source, []).append(target)
    seen = {start}
    todo = deque([start])
    while todo:
        for target in edges.get(todo.popleft(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    for node_id in sorted(known - seen):
        ck.issues.append(FlowIssue(node_id, "", f'is unreachable from the start node "{start}"'))


def _check_instant_loops(ck: _Checker, types: Mapping[str, str]) -> None:
    """A cycle of nodes that neither wait for the caller nor the network would spin forever."""
    edges: dict[str, list[tuple[str, str]]] = {}
    for source, path, target in ck.refs:
        if types.get(source) in INSTANT_TYPES and types.get(target) in INSTANT_TYPES:
            edges.setdefault(source, []).append((path, target))
    reported: set[str] = set()
    for origin in sorted(edges):
        if origin in reported:
            continue
        cycle = _cycle_through(origin, edges)
        if cycle is None:
            continue
        reported.update(node for node, _ in cycle)
        names = " -> ".join(f'"{node}"' for node, _ in cycle) + f' -> "{origin}"'
        ck.issues.append(
            FlowIssue(
                origin,
                cycle[0][1],
                f"loop {names} never waits for the caller or the network",
            )
        )


def _cycle_through(
    origin: str, edges: Mapping[str, list[tuple[str, str]]]
) -> list[tuple[str, str]] | None:
    """The shortest cycle from ``origin`` back to itself, as (node, field taken) pairs."""
    parent: dict[str, tuple[str, str]] = {}
    todo = deque([origin])
    seen: set[str] = set()
    while todo:
        node = todo.popleft()
        for path, target in edges.get(node, ()):
            if target == origin:
                chain = [(node, path)]
                while chain[-1][0] != origin:
                    chain.append(parent[chain[-1][0]])
                return list(reversed(chain))
            if target not in seen:
                seen.add(target)
                parent[target] = (node, path)
                todo.append(target)
    return None
