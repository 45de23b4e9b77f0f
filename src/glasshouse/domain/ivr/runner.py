"""Runs one call through an IVR flow, sans-I/O: commands in, actions out.

The adapter (media server, HTTP client, ACD service) calls ``start``, ``play_finished``,
``digits``, ``http_result``, ``caller_hung_up`` and ``advance`` with the current time in epoch
milliseconds, and carries out the actions returned, in order. Timeouts (menu, digit
collection, HTTP) are the runner's own: every command first fires what is due by its time,
``advance(now)`` fires them alone and ``next_deadline()`` says when to call it.

Every node visited yields a :class:`Step` (node, type, outcome, detail) for the event log; the
details never hold what the caller keyed in, which may be a PIN or a card number. A run ends
with exactly one end action (:data:`END_ACTIONS`) unless the caller hangs up first. A queue
node may name a survey node: when the agent hangs up, ``resume_for_survey`` plays it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum, auto
from types import MappingProxyType
from typing import Final
from urllib.parse import quote

from glasshouse.domain.ivr.expr import EvalError, Template, is_variable_name, to_text
from glasshouse.domain.ivr.flow import (
    DTMF_KEYS,
    CallbackNode,
    CollectNode,
    ConditionNode,
    FilePrompt,
    Flow,
    HangupNode,
    HoursNode,
    HttpNode,
    MenuNode,
    Node,
    PlayNode,
    Prompts,
    QueueNode,
    SetNode,
    SurveyNode,
    TransferNode,
    VoicemailNode,
)

DEFAULT_MAX_STEPS: Final = 200
MAX_TYPEAHEAD: Final = 32
MAX_VARIABLES: Final = 200
MAX_VALUE_LENGTH: Final = 1024
MAX_SPEECH_LENGTH: Final = 4000

_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}")
_PHONE = re.compile(r"\+?[0-9]{3,20}")
_PHONE_PUNCTUATION = str.maketrans("", "", " -().")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# ---------------------------------------------------------------------------------------------
# errors


class RunError(ValueError):
    """A command the run refuses; the run's state is unchanged."""


class RunStateError(RunError):
    """The command makes no sense now (before ``start``, or a survey while still in the IVR)."""


class ClockError(RunError):
    """Time is not integer milliseconds or went backwards."""


class InputError(RunError):
    """A command carried a bad value (not a DTMF key, an impossible HTTP status...)."""


# ---------------------------------------------------------------------------------------------
# actions


@dataclass(frozen=True, slots=True)
class AudioFile:
    """Play a recorded prompt from the tenant's prompt store."""

    file: str


@dataclass(frozen=True, slots=True)
class Speech:
    """Speak ``text`` with text-to-speech."""

    text: str
    voice: str
    language: str


Media = AudioFile | Speech


@dataclass(frozen=True, slots=True)
class Play:
    """Play ``prompts`` in order; report the end with ``play_finished(now, play_id=...)``.
    With ``barge_in`` a caller's key stops it (the runner then sends :class:`StopPlay`)."""

    play_id: int
    prompts: tuple[Media, ...]
    barge_in: bool


@dataclass(frozen=True, slots=True)
class StopPlay:
    play_id: int


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """Call the client's system; answer with ``http_result(..., request_id=...)``. ``body``
    (a JSON object of text fields) is None for a request without one."""

    request_id: int
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: Mapping[str, str] | None
    timeout_ms: int


@dataclass(frozen=True, slots=True)
class Enqueue:
    """Hand the call to the ACD. ``variables`` are the IVR inputs: the agent's screen pop."""

    queue_id: str
    priority: int
    skills: Mapping[str, int]
    variables: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class RecordVoicemail:
    """Play ``prompt``, record up to ``max_seconds`` into mailbox ``box``, then hang up."""

    box: str
    max_seconds: int
    prompt: tuple[Media, ...]


@dataclass(frozen=True, slots=True)
class RequestCallback:
    """Ask the ACD to call ``number`` back from ``queue_id``; the flow goes on."""

    number: str
    queue_id: str
    variables: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class TransferExternal:
    """Transfer the call to an outside number; the IVR's part ends."""

    number: str
    variables: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class StartSurvey:
    """The post-call survey ``survey_id`` (its node id) begins."""

    survey_id: str


@dataclass(frozen=True, slots=True)
class SurveyAnswer:
    survey_id: str
    question_id: str
    value: int


@dataclass(frozen=True, slots=True)
class Hangup:
    reason: str


@dataclass(frozen=True, slots=True)
class Step:
    """One outcome at one node, for the event log ("digit 1", "timeout", "http 200", "open")."""

    node_id: str
    node_type: str
    outcome: str
    detail: str = ""


Action = (
    Play
    | StopPlay
    | HttpRequest
    | Enqueue
    | RecordVoicemail
    | RequestCallback
    | TransferExternal
    | StartSurvey
    | SurveyAnswer
    | Hangup
    | Step
)

#: Actions that end the IVR's handling of the call (a survey may follow an Enqueue).
END_ACTIONS: Final = (Enqueue, RecordVoicemail, TransferExternal, Hangup)


# ---------------------------------------------------------------------------------------------
# the run


class _Phase(Enum):
    NEW = auto()
    PLAYING = auto()
    INPUT = auto()
    HTTP = auto()
    QUEUED = auto()  # handed to the ACD, a survey may follow
    ENDED = auto()


class _After(Enum):
    """What the end of a prompt leads to."""

    NEXT = auto()  # a play node: go on
    INPUT = auto()  # a menu, collect or survey question: wait for keys
    HANGUP = auto()  # a goodbye: hang up


class _BudgetSpent(Exception):
    pass


class FlowRun:
    """One call in one flow. Not thread-safe; one adapter drives it."""

    def __init__(
        self,
        flow: Flow,
        *,
        call_id: str,
        variables: Mapping[str, str],
        now_ms: int,
        max_steps: int = DEFAULT_MAX_STEPS,
        callback_check: Callable[[str, str], str | None] | None = None,
    ) -> None:
        if not isinstance(call_id, str) or not call_id:
            raise InputError("a call id is required")
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise InputError(f"max_steps must be a whole number >= 1, got {max_steps!r}")
        _check_time(now_ms)
        self.flow = flow
        self.call_id = call_id
        self.max_steps = max_steps
        #: ``(number, queue_id) -> None`` when the service can take a callback, else why not
        self._callback_check = callback_check
        self._vars = _checked_variables(variables)
        self._now = now_ms
        self._phase = _Phase.NEW
        self._node: Node | None = None
        self._out: list[Action] = []
        self._steps = 0
        self._deadline: int | None = None
        self._after = _After.NEXT
        self._play_seq = 0
        self._playing: int | None = None
        self._barge_in = False
        self._request_seq = 0
        self._request: int | None = None
        self._typeahead = ""
        self._attempt = 0
        self._collected = ""
        self._question = 0
        self._survey: str | None = None
        self._hangup_reason = ""

    # -- views ---------------------------------------------------------------------------------

    @property
    def variables(self) -> Mapping[str, str]:
        """The call's variables now (read-only view)."""
        return MappingProxyType(self._vars)

    @property
    def node_id(self) -> str | None:
        return self._node.id if self._node is not None else None

    @property
    def finished(self) -> bool:
        return self._phase is _Phase.ENDED

    @property
    def waiting_for_survey(self) -> bool:
        """Queued with a survey to run when the agent hangs up."""
        return self._phase is _Phase.QUEUED

    def next_deadline(self) -> int | None:
        """When ``advance`` has something to fire (epoch ms), or None."""
        return None if self._phase is _Phase.ENDED else self._deadline

    # -- commands ------------------------------------------------------------------------------

    def start(self, now: int) -> list[Action]:
        """Enter the flow's start node."""
        if self._phase is not _Phase.NEW:
            raise RunStateError(f"call {self.call_id} has already started")
        return self._command(now, lambda: self._goto(self.flow.start), started=False)

    def advance(self, now: int) -> list[Action]:
        """Fire every timeout due at or before ``now``."""
        return self._command(now, None)

    def play_finished(self, now: int, *, play_id: int | None = None) -> list[Action]:
        """The current prompt ended. A ``play_id`` of an older prompt is ignored."""
        return self._command(now, lambda: self._on_play_finished(play_id))

    def digits(self, keys: str, now: int) -> list[Action]:
        """The caller pressed ``keys`` (one or more of 0-9 * #), in order."""
        if not isinstance(keys, str) or not keys or len(keys) > MAX_TYPEAHEAD:
            raise InputError(f"keys must be 1 to {MAX_TYPEAHEAD} DTMF characters, got {keys!r:.40}")
        bad = sorted(set(keys) - DTMF_KEYS)
        if bad:
            raise InputError(f"{bad[0]!r} is not a DTMF key (0-9, * or #)")
        return self._command(now, lambda: self._on_digits(keys))

    def http_result(
        self,
        status: int | None,
        body: Mapping[str, object] | None,
        error: str | None,
        now: int,
        *,
        request_id: int | None = None,
    ) -> list[Action]:
        """The answer to the pending :class:`HttpRequest`: a status (and decoded JSON object
        body), or ``error`` ("timeout", "connection refused"...). Stale answers are ignored."""
        if status is not None and (
            isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599
        ):
            raise InputError(f"HTTP status must be a number from 100 to 599, got {status!r:.40}")
        if body is not None and not isinstance(body, Mapping):
            raise InputError(f"HTTP body must be a decoded JSON object, got {type(body).__name__}")
        if error is not None and not isinstance(error, str):
            raise InputError(f"HTTP error must be text, got {type(error).__name__}")
        if status is None and error is None:
            raise InputError("an HTTP result needs a status or an error")
        return self._command(now, lambda: self._on_http(status, body, error, request_id))

    def caller_hung_up(self, now: int) -> list[Action]:
        """The caller left; records where, and the run ends."""
        return self._command(now, self._on_caller_hung_up)

    def resume_for_survey(self, now: int) -> list[Action]:
        """The agent hung up: run the survey the queue node named. Returns nothing when the
        run has ended (no survey, or the caller left); refused while still in the IVR."""
        if self._phase is _Phase.ENDED:
            return []
        if self._phase is not _Phase.QUEUED:
            raise RunStateError(f"call {self.call_id} is not waiting in a queue")
        survey = self._survey
        assert survey is not None
        return self._command(now, lambda: self._goto(survey))

    # -- plumbing ------------------------------------------------------------------------------

    def _command(
        self, now: int, action: Callable[[], None] | None, *, started: bool = True
    ) -> list[Action]:
        _check_time(now)
        if now < self._now:
            raise ClockError(f"time went backwards: {now} < {self._now}")
        if started and self._phase is _Phase.NEW:
            raise RunStateError(f"call {self.call_id} has not started")
        try:
            self._fire_due(now)
            self._now = now
            if action is not None and self._phase is not _Phase.ENDED:
                action()
        except _BudgetSpent:
            self._end_on_budget()
        out, self._out = self._out, []
        return out

    def _fire_due(self, now: int) -> None:
        # Timeouts act at their own time, so what they start is timed from then.
        while (
            self._deadline is not None and self._deadline <= now and self._phase is not _Phase.ENDED
        ):
            self._now = max(self._now, self._deadline)
            self._deadline = None
            self._on_timeout()

    def _step(self, outcome: str, detail: str = "", *, charge: bool = True) -> None:
        node = self._node
        assert node is not None
        if charge:
            if self._steps >= self.max_steps:
                raise _BudgetSpent()
            self._steps += 1
        self._out.append(Step(node.id, node.TYPE, outcome, detail))

    def _end_on_budget(self) -> None:
        if self._playing is not None:
            self._out.append(StopPlay(self._playing))
        self._step("error", f"step budget of {self.max_steps} spent", charge=False)
        self._end(Hangup("step budget exhausted"))

    def _end(self, action: Action, *, queued: bool = False) -> None:
        self._out.append(action)
        self._phase = _Phase.QUEUED if queued else _Phase.ENDED
        self._deadline = None
        self._playing = None
        self._request = None

    def _goto(self, node_id: str) -> None:
        # Instant nodes chain here; a node that waits returns None and a later command resumes.
        target: str | None = node_id
        while target is not None and self._phase is not _Phase.ENDED:
            node = self.flow.nodes[target]
            self._node = node
            if self._steps >= self.max_steps:
                raise _BudgetSpent()  # before the node acts, so it changes nothing
            self._deadline = None
            self._attempt = 0
            self._collected = ""
            target = self._enter(node)

    def _render(self, template: Template, escape: Callable[[str], str] | None = None) -> str:
        return template.render(self._vars, escape=escape)

    def _media(self, prompts: Prompts) -> tuple[Media, ...]:
        d = self.flow.defaults
        out: list[Media] = []
        for prompt in prompts:
            if isinstance(prompt, FilePrompt):
                out.append(AudioFile(prompt.file))
            else:
                text = self._render(prompt.text)[:MAX_SPEECH_LENGTH]
                out.append(Speech(text, prompt.voice or d.voice or d.language, d.language))
        return tuple(out)

    def _play(self, prompts: Prompts, *, barge_in: bool, after: _After) -> None:
        self._play_seq += 1
        self._playing = self._play_seq
        self._barge_in = barge_in
        self._after = after
        self._phase = _Phase.PLAYING
        self._out.append(Play(self._play_seq, self._media(prompts), barge_in))

    def _set_var(self, name: str, value: str) -> None:
        if name in self._vars or len(self._vars) < MAX_VARIABLES:
            self._vars[name] = value[:MAX_VALUE_LENGTH]

    # -- entering nodes ------------------------------------------------------------------------

    def _enter_play(self, node: PlayNode) -> str | None:
        self._play(node.prompt, barge_in=node.barge_in, after=_After.NEXT)
        return None

    def _enter_input(self, node: MenuNode | CollectNode) -> str | None:
        if node.barge_in and self._typeahead:
            # Keys pressed ahead answer this node before its prompt plays.
            self._phase = _Phase.INPUT
            self._pump()
            return None
        if not node.barge_in:
            self._typeahead = ""
        self._play(node.prompt, barge_in=node.barge_in, after=_After.INPUT)
        return None

    def _enter_http(self, node: HttpNode) -> str | None:
        self._request_seq += 1
        self._request = self._request_seq
        url = self._render(node.url, lambda value: quote(value, safe=""))
        headers = tuple(
            (name, _CONTROL.sub(" ", self._render(value))) for name, value in node.headers
        )
        body = None
        if node.body is not None:
            body = MappingProxyType({name: self._render(value) for name, value in node.body})
        self._out.append(
            HttpRequest(self._request_seq, node.method, url, headers, body, node.timeout_ms)
        )
        self._phase = _Phase.HTTP
        self._deadline = self._now + node.timeout_ms
        return None

    def _enter_set(self, node: SetNode) -> str | None:
        problems: list[str] = []
        for name, expression in node.assign:
            try:
                self._set_var(name, to_text(expression.evaluate(self._vars)))
            except EvalError as exc:
                problems.append(f"{name}: {exc}")
        if problems:
            self._step("error", "; ".join(problems))
        else:
            self._step("set", ", ".join(name for name, _ in node.assign))
        return node.next

    def _enter_condition(self, node: ConditionNode) -> str | None:
        for index, branch in enumerate(node.branches, 1):
            try:
                chosen = branch.condition.evaluate(self._vars)
            except EvalError as exc:
                self._step("error", f"branch {index}: {exc}; taking else")
                return node.otherwise
            if chosen is True:
                self._step(f"branch {index}")
                return branch.goto
        self._step("else")
        return node.otherwise

    def _enter_hours(self, node: HoursNode) -> str | None:
        state = node.hours.state(self._now)
        self._step(state, node.hours.local_time(self._now).strftime("%a %H:%M %Z"))
        if state == "open":
            return node.open
        if state == "holiday" and node.holiday is not None:
            return node.holiday
        return node.closed

    def _enter_queue(self, node: QueueNode) -> str | None:
        queue_id = self._render(node.queue)
        if not _ID.fullmatch(queue_id):
            self._step("error", f"queue name {queue_id[:64]!r} is not a queue id")
            self._end(Hangup("error"))
            return None
        notes: list[str] = []
        priority = _level(node.priority, self._vars, 0, 100)
        if priority is None:
            notes.append("priority is not 0-100, using 0")
            priority = 0
        skills: dict[str, int] = {}
        for skill, raw_level in node.skills:
            level = _level(raw_level, self._vars, 1, 5)
            if level is None:
                notes.append(f"skill {skill} level is not 1-5, dropped")
            else:
                skills[skill] = level
        self._step("queued", "; ".join([queue_id, *notes]))
        self._survey = node.survey
        action = Enqueue(
            queue_id, priority, MappingProxyType(skills), MappingProxyType(dict(self._vars))
        )
        self._end(action, queued=node.survey is not None)
        return None

    def _enter_voicemail(self, node: VoicemailNode) -> str | None:
        box = self._render(node.box)
        if not _ID.fullmatch(box):
            self._step("error", f"mailbox name {box[:64]!r} is not an id")
            self._end(Hangup("error"))
            return None
        self._step("voicemail", box)
        self._end(RecordVoicemail(box, node.max_seconds, self._media(node.prompt)))
        return None

    def _enter_callback(self, node: CallbackNode) -> str | None:
        number = self._render(node.number).translate(_PHONE_PUNCTUATION)
        queue_id = self._render(node.queue)
        if not _PHONE.fullmatch(number):
            self._step("invalid number")
            return node.fallback
        if not _ID.fullmatch(queue_id):
            self._step("error", f"queue name {queue_id[:64]!r} is not a queue id")
            return node.fallback
        problem = self._callback_check(number, queue_id) if self._callback_check else None
        if problem is not None:
            self._step("unavailable", _CONTROL.sub(" ", problem)[:200])
            return node.fallback
        self._out.append(RequestCallback(number, queue_id, MappingProxyType(dict(self._vars))))
        self._step("callback requested", queue_id)
        return node.next

    def _enter_transfer(self, node: TransferNode) -> str | None:
        number = self._render(node.number).translate(_PHONE_PUNCTUATION)
        if not _PHONE.fullmatch(number):
            self._step("invalid number")
            return node.fallback
        self._step("transfer")
        self._end(TransferExternal(number, MappingProxyType(dict(self._vars))))
        return None

    def _enter_survey(self, node: SurveyNode) -> str | None:
        self._typeahead = ""
        self._question = 0
        self._out.append(StartSurvey(node.id))
        self._step("started")
        self._play(node.intro + node.questions[0].prompt, barge_in=True, after=_After.INPUT)
        return None

    def _enter_hangup(self, node: HangupNode) -> str | None:
        self._step("hangup", node.reason)
        if node.prompt:
            self._hangup_reason = node.reason
            self._play(node.prompt, barge_in=False, after=_After.HANGUP)
        else:
            self._end(Hangup(node.reason))
        return None

    def _enter(self, node: Node) -> str | None:
        """Start ``node``; returns the node to go on to at once, or None when it waits/ends."""
        match node:
            case PlayNode():
                return self._enter_play(node)
            case MenuNode() | CollectNode():
                return self._enter_input(node)
            case HttpNode():
                return self._enter_http(node)
            case SetNode():
                return self._enter_set(node)
            case ConditionNode():
                return self._enter_condition(node)
            case HoursNode():
                return self._enter_hours(node)
            case QueueNode():
                return self._enter_queue(node)
            case VoicemailNode():
                return self._enter_voicemail(node)
            case CallbackNode():
                return self._enter_callback(node)
            case TransferNode():
                return self._enter_transfer(node)
            case SurveyNode():
                return self._enter_survey(node)
            case HangupNode():
                return self._enter_hangup(node)

    # -- events --------------------------------------------------------------------------------

    def _on_play_finished(self, play_id: int | None) -> None:
        if self._phase is not _Phase.PLAYING or play_id not in (None, self._playing):
            return
        self._playing = None
        node = self._node
        if self._after is _After.NEXT:
            assert isinstance(node, PlayNode)
            self._step("played")
            self._goto(node.next)
        elif self._after is _After.HANGUP:
            self._end(Hangup(self._hangup_reason))
        else:
            self._wait_for_keys()

    def _wait_for_keys(self) -> None:
        node = self._node
        self._phase = _Phase.INPUT
        if isinstance(node, MenuNode):
            self._deadline = self._now + node.timeout_ms
        elif isinstance(node, CollectNode):
            wait = node.inter_digit_timeout_ms if self._collected else node.first_digit_timeout_ms
            self._deadline = self._now + wait
        elif isinstance(node, SurveyNode):
            self._deadline = self._now + node.timeout_ms

    def _on_digits(self, keys: str) -> None:
        phase = self._phase
        if phase is _Phase.PLAYING:
            if not self._barge_in:
                return
            assert self._playing is not None
            self._out.append(StopPlay(self._playing))
            self._playing = None
            self._typeahead = (self._typeahead + keys)[:MAX_TYPEAHEAD]
            if self._after is _After.NEXT:
                node = self._node
                assert isinstance(node, PlayNode)
                self._step("barge-in")
                self._goto(node.next)
            else:
                self._wait_for_keys()
                self._pump()
        elif phase in (_Phase.INPUT, _Phase.HTTP):
            # Keys pressed during a lookup wait for the next menu or collect node.
            self._typeahead = (self._typeahead + keys)[:MAX_TYPEAHEAD]
            if phase is _Phase.INPUT:
                self._pump()

    def _pump(self) -> None:
        while self._typeahead and self._phase is _Phase.INPUT:
            key, self._typeahead = self._typeahead[0], self._typeahead[1:]
            node = self._node
            if isinstance(node, MenuNode):
                self._menu_key(node, key)
            elif isinstance(node, CollectNode):
                self._collect_key(node, key)
            elif isinstance(node, SurveyNode):
                self._survey_key(node, key)

    def _on_timeout(self) -> None:
        node = self._node
        if self._phase is _Phase.HTTP:
            assert isinstance(node, HttpNode)
            self._request = None
            self._step("http error: timeout")
            self._goto(node.fallback)
        elif isinstance(node, MenuNode):
            self._retry(node, "timeout", node.timeout_prompt)
        elif isinstance(node, CollectNode):
            if self._collected:
                self._collect_done(node)
            else:
                self._retry(node, "timeout", node.timeout_prompt)
        elif isinstance(node, SurveyNode):
            self._survey_miss(node, "timeout")

    def _on_http(
        self,
        status: int | None,
        body: Mapping[str, object] | None,
        error: str | None,
        request_id: int | None,
    ) -> None:
        if self._phase is not _Phase.HTTP or request_id not in (None, self._request):
            return
        node = self._node
        assert isinstance(node, HttpNode)
        self._request = None
        self._deadline = None
        if error is not None or status is None:
            reason = _CONTROL.sub(" ", error or "no response")[:100]
            self._step(f"http error: {reason}")
            self._goto(node.fallback)
        elif 200 <= status < 300:
            missing = []
            for name, path in node.save:
                value = _json_value(body, path)
                if value is None:
                    missing.append(name)
                self._set_var(name, value or "")
            self._step(f"http {status}", f"missing: {', '.join(missing)}" if missing else "")
            self._goto(node.next)
        else:
            self._step(f"http {status}")
            self._goto(node.fallback)

    def _on_caller_hung_up(self) -> None:
        if self._phase is not _Phase.QUEUED:
            self._step("caller hung up", charge=False)
        self._phase = _Phase.ENDED
        self._deadline = None
        self._playing = None
        self._request = None

    # -- input nodes ---------------------------------------------------------------------------

    def _retry(
        self, node: MenuNode | CollectNode, outcome: str, prefix: Prompts, what: str = ""
    ) -> None:
        self._deadline = None
        self._collected = ""
        self._typeahead = ""
        self._attempt += 1
        lead = f"{what}, " if what else ""
        if self._attempt > node.retries:
            self._step(outcome, f"{lead}fallback to {node.fallback}")
            self._goto(node.fallback)
            return
        self._step(outcome, f"{lead}retry {self._attempt} of {node.retries}")
        self._play(prefix + node.prompt, barge_in=node.barge_in, after=_After.INPUT)

    def _menu_key(self, node: MenuNode, key: str) -> None:
        target = node.target(key)
        if target is None:
            self._retry(node, "invalid", node.invalid_prompt, f"key {key}")
            return
        self._deadline = None
        if node.save_as:
            self._set_var(node.save_as, key)
        self._step(f"digit {key}")
        self._goto(target)

    def _collect_key(self, node: CollectNode, key: str) -> None:
        if key == node.terminator:
            self._collect_done(node)
            return
        self._collected += key
        if len(self._collected) >= node.max_digits:
            self._collect_done(node)
        else:
            self._deadline = self._now + node.inter_digit_timeout_ms

    def _collect_done(self, node: CollectNode) -> None:
        value = self._collected
        self._deadline = None
        if len(value) < node.min_digits:
            problem = f"{len(value)} digits, {node.min_digits} needed"
        elif node.pattern is not None and not re.fullmatch(node.pattern, value):
            problem = f"{len(value)} digits not matching the pattern"
        else:
            self._set_var(node.variable, value)
            self._step("collected", f"{len(value)} digits")
            self._goto(node.next)
            return
        self._retry(node, "invalid", node.invalid_prompt, problem)

    def _survey_key(self, node: SurveyNode, key: str) -> None:
        question = node.questions[self._question]
        if not key.isdigit() or not question.min <= int(key) <= question.max:
            self._survey_miss(node, "invalid")
            return
        self._deadline = None
        self._out.append(SurveyAnswer(node.id, question.id, int(key)))
        self._step("answered", f"{question.id}={key}")
        self._next_question(node)

    def _survey_miss(self, node: SurveyNode, outcome: str) -> None:
        question = node.questions[self._question]
        self._deadline = None
        self._typeahead = ""
        self._attempt += 1
        if self._attempt > node.retries:
            self._step(outcome, f"{question.id} skipped")
            self._next_question(node)
            return
        self._step(outcome, f"{question.id}, retry {self._attempt} of {node.retries}")
        self._play(question.prompt, barge_in=True, after=_After.INPUT)

    def _next_question(self, node: SurveyNode) -> None:
        self._question += 1
        self._attempt = 0
        if self._question < len(node.questions):
            prompt = node.questions[self._question].prompt
            self._play(prompt, barge_in=True, after=_After.INPUT)
            return
        self._step("complete")
        if node.goodbye:
            self._hangup_reason = "survey complete"
            self._play(node.goodbye, barge_in=False, after=_After.HANGUP)
        else:
            self._end(Hangup("survey complete"))


# ---------------------------------------------------------------------------------------------
# helpers


def _check_time(now: object) -> None:
    if isinstance(now, bool) or not isinstance(now, int):
        raise ClockError(f"time must be integer epoch milliseconds, got {now!r:.40}")


def _checked_variables(variables: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(variables, Mapping):
        raise InputError(f"variables must be a mapping, got {type(variables).__name__}")
    if len(variables) > MAX_VARIABLES:
        raise InputError(f"more than {MAX_VARIABLES} variables")
    out: dict[str, str] = {}
    for name, value in variables.items():
        if not is_variable_name(name):
            raise InputError(f"{name!r:.70} is not a variable name")
        if not isinstance(value, str):
            raise InputError(f"variable {name} must be text, got {type(value).__name__}")
        if len(value) > MAX_VALUE_LENGTH:
            raise InputError(f"variable {name} is longer than {MAX_VALUE_LENGTH} characters")
        out[name] = value
    return out


def _level(raw: int | Template, variables: Mapping[str, str], low: int, high: int) -> int | None:
    if isinstance(raw, int):
        return raw
    text = raw.render(variables).strip()
    if not text.isascii() or not text.isdigit() or len(text) > 3:
        return None
    value = int(text)
    return value if low <= value <= high else None


def _json_value(body: Mapping[str, object] | None, path: str) -> str | None:
    """The scalar at dotted ``path`` of a JSON reply, as text; None when absent or not scalar."""
    current: object = body
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    if isinstance(current, bool):
        return "true" if current else "false"
    if isinstance(current, int):
        return str(current) if abs(current) < 10**18 else None
    if isinstance(current, float):
        if not math.isfinite(current):
            return None
        return str(int(current)) if current.is_integer() and abs(current) < 1e18 else repr(current)
    if isinstance(current, str):
        return current[:MAX_VALUE_LENGTH]
    return None if current is not None else ""
