"""The event model: typed, versioned, per-tenant facts that are the source of truth.

Every event is an :class:`Event` envelope (tenant, time, per-tenant sequence, test flag) around a
typed body. Bodies are small frozen dataclasses; their ``TYPE`` is the wire name used in the JSON
Lines export (see ``docs/events.md``). Events carry ids, never personal data.

Times are integer milliseconds since the Unix epoch (UTC), so durations and sums are exact and
incremental and batch metrics agree to the millisecond.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, get_type_hints

SCHEMA_VERSION: Final = 1


class EventError(ValueError):
    """An event (or its JSON form) is malformed; the message names the field and the reason."""


@dataclass(frozen=True, slots=True)
class EventBody:
    """Base of every event body. Subclasses set ``TYPE`` to their wire name."""

    TYPE: ClassVar[str] = ""


# ---------------------------------------------------------------------------------------------
# Configuration facts (recorded so that an exported log describes its own queues and agents)


@dataclass(frozen=True, slots=True)
class QueueConfigured(EventBody):
    """A queue was created or its settings changed (thresholds used by metrics included)."""

    TYPE: ClassVar[str] = "queue.configured"
    queue_id: str
    strategy: str = "longest_idle"
    sl_threshold_s: int = 20
    short_abandon_s: int = 5
    wrap_up_s: int = 0
    #: least delay before a callback the customer did not answer is dialled again; logs
    #: written before the setting existed retried at once, hence 0 when absent
    callback_retry_s: int = 0


@dataclass(frozen=True, slots=True)
class AgentConfigured(EventBody):
    """An agent's skills (name -> proficiency 1-5) and capacity per channel were set."""

    TYPE: ClassVar[str] = "agent.configured"
    agent_id: str
    skills: Mapping[str, int] = field(default_factory=dict)
    capacity: Mapping[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Agent state


@dataclass(frozen=True, slots=True)
class AgentLoggedIn(EventBody):
    TYPE: ClassVar[str] = "agent.logged_in"
    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentLoggedOut(EventBody):
    TYPE: ClassVar[str] = "agent.logged_out"
    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentReady(EventBody):
    TYPE: ClassVar[str] = "agent.ready"
    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentNotReady(EventBody):
    """The agent is not ready; ``reason`` is a tenant-defined reason code ("ring_no_answer" is
    set by the ACD itself)."""

    TYPE: ClassVar[str] = "agent.not_ready"
    agent_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class AgentAcwStarted(EventBody):
    """After-call work on a contact began (the conversation has ended)."""

    TYPE: ClassVar[str] = "agent.acw_started"
    agent_id: str
    contact_id: str


@dataclass(frozen=True, slots=True)
class AgentAcwEnded(EventBody):
    """After-call work on a contact ended: the contact is now handled."""

    TYPE: ClassVar[str] = "agent.acw_ended"
    agent_id: str
    contact_id: str


# ---------------------------------------------------------------------------------------------
# Contact lifecycle


@dataclass(frozen=True, slots=True)
class ContactArrived(EventBody):
    """A contact reached one of the tenant's entry points (a number, a chat widget...)."""

    TYPE: ClassVar[str] = "contact.arrived"
    contact_id: str
    channel: str = "voice"
    entry: str = ""


@dataclass(frozen=True, slots=True)
class ContactBlocked(EventBody):
    """The contact was refused before reaching a queue (no capacity, closed)."""

    TYPE: ClassVar[str] = "contact.blocked"
    contact_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ContactIvrCompleted(EventBody):
    """The contact ended in the IVR with a self-service completion."""

    TYPE: ClassVar[str] = "contact.ivr_completed"
    contact_id: str


@dataclass(frozen=True, slots=True)
class ContactIvrAbandoned(EventBody):
    """The customer left while in the IVR, without a self-service completion."""

    TYPE: ClassVar[str] = "contact.ivr_abandoned"
    contact_id: str


@dataclass(frozen=True, slots=True)
class ContactQueued(EventBody):
    """The contact entered a queue. Higher ``priority`` is served first; ``skills`` maps a skill
    to the minimum proficiency required."""

    TYPE: ClassVar[str] = "contact.queued"
    contact_id: str
    queue_id: str
    channel: str = "voice"
    priority: int = 0
    skills: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ContactOffered(EventBody):
    """The ACD offered the contact to an agent (the agent's phone rings)."""

    TYPE: ClassVar[str] = "contact.offered"
    contact_id: str
    queue_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class ContactOfferWithdrawn(EventBody):
    """An offer stopped ringing without an answer by this agent: another agent answered first
    (ring-all) or the customer left. The agent is free again."""

    TYPE: ClassVar[str] = "contact.offer_withdrawn"
    contact_id: str
    queue_id: str
    agent_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ContactRingNoAnswer(EventBody):
    """The agent did not answer an offer in time; the contact goes back to the queue's front."""

    TYPE: ClassVar[str] = "contact.ring_no_answer"
    contact_id: str
    queue_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class ContactAnswered(EventBody):
    """An agent and the customer are connected: queue time ends, talk time starts."""

    TYPE: ClassVar[str] = "contact.answered"
    contact_id: str
    queue_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class ContactHeld(EventBody):
    TYPE: ClassVar[str] = "contact.held"
    contact_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class ContactRetrieved(EventBody):
    TYPE: ClassVar[str] = "contact.retrieved"
    contact_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class ContactEnded(EventBody):
    """The conversation of an answered contact ended (talk and hold stop)."""

    TYPE: ClassVar[str] = "contact.ended"
    contact_id: str
    agent_id: str
    by: str = "customer"


@dataclass(frozen=True, slots=True)
class ContactAbandoned(EventBody):
    """The customer left while queued (or while an agent's phone was ringing)."""

    TYPE: ClassVar[str] = "contact.abandoned"
    contact_id: str
    queue_id: str


@dataclass(frozen=True, slots=True)
class ContactOverflowed(EventBody):
    """The contact left ``queue_id`` for ``to_queue_id`` (a ``contact.queued`` follows)."""

    TYPE: ClassVar[str] = "contact.overflowed"
    contact_id: str
    queue_id: str
    to_queue_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ContactTimedOut(EventBody):
    """The contact reached the queue's maximum wait and left it (to voicemail or an exit)."""

    TYPE: ClassVar[str] = "contact.timed_out"
    contact_id: str
    queue_id: str


@dataclass(frozen=True, slots=True)
class ContactLost(EventBody):
    """The system cut the contact off while no agent was talking with the customer (in the IVR,
    waiting or ringing in a queue, between queues, waiting for a callback): it ends there.
    ``reason`` says why (``restart``: the server stopped). Not a customer abandon."""

    TYPE: ClassVar[str] = "contact.lost"
    contact_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class CallbackRequested(EventBody):
    """The customer chose "keep my place and call me back": the contact keeps its position.
    ``number_ref`` names the number to call back in the tenant's personal data store (the
    number itself stays out of the log), so a restart can still dial it; "" when none."""

    TYPE: ClassVar[str] = "callback.requested"
    contact_id: str
    queue_id: str
    number_ref: str = ""


@dataclass(frozen=True, slots=True)
class CallbackDialing(EventBody):
    """A callback reached the head of its queue: an agent is reserved and the customer dialed."""

    TYPE: ClassVar[str] = "callback.dialing"
    contact_id: str
    queue_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class CallbackFailed(EventBody):
    """The callback attempt did not reach the customer; ``retry`` tells if it was re-queued."""

    TYPE: ClassVar[str] = "callback.failed"
    contact_id: str
    queue_id: str
    agent_id: str
    retry: bool = False


@dataclass(frozen=True, slots=True)
class CallbackRestored(EventBody):
    """A callback still waiting when the server stopped was taken back into the ACD at start;
    it waits in ``queue_id`` (its metrics state is unchanged: waiting for a callback)."""

    TYPE: ClassVar[str] = "callback.restored"
    contact_id: str
    queue_id: str


@dataclass(frozen=True, slots=True)
class ContactDispositioned(EventBody):
    """The agent recorded an outcome code; ``justified_long`` excludes it from AHT."""

    TYPE: ClassVar[str] = "contact.dispositioned"
    contact_id: str
    agent_id: str
    code: str
    justified_long: bool = False


# ---------------------------------------------------------------------------------------------
# Shift reminders (workforce management)


@dataclass(frozen=True, slots=True)
class ShiftReminderSent(EventBody):
    """A reminder of a shift was sent to its agent on one channel (``email``, ``sms``)."""

    TYPE: ClassVar[str] = "shift.reminder_sent"
    agent_id: str
    shift_id: str
    channel: str
    message_id: str


@dataclass(frozen=True, slots=True)
class ShiftConfirmed(EventBody):
    """The agent confirmed a shift by replying to its reminder."""

    TYPE: ClassVar[str] = "shift.confirmed"
    agent_id: str
    shift_id: str


@dataclass(frozen=True, slots=True)
class ShiftSwapRequested(EventBody):
    """The agent asked to swap a shift; ``note`` is the agent's own words about it (no customer
    data belongs there)."""

    TYPE: ClassVar[str] = "shift.swap_requested"
    agent_id: str
    shift_id: str
    note: str = ""


# ---------------------------------------------------------------------------------------------
# Voice calls: what the IVR did, media, the call's release. Numbers dialled and digits entered
# are not stored (ids and outcomes only): a collected account number stays in the call's
# variables, which travel to the agent's screen, not to the log.


@dataclass(frozen=True, slots=True)
class IvrStep(EventBody):
    """The contact passed node ``node_id`` of IVR flow ``flow_id`` (at ``flow_version``) with
    ``outcome`` (``digit 1``, ``timeout``, ``http 200``, ``open``...)."""

    TYPE: ClassVar[str] = "ivr.step"
    contact_id: str
    flow_id: str
    flow_version: int
    node_id: str
    node_type: str
    outcome: str = ""


@dataclass(frozen=True, slots=True)
class ContactTransferred(EventBody):
    """The agent transferred the contact: ``kind`` is ``blind`` or ``attended``; ``target`` is
    ``queue:<id>``, ``agent:<id>`` or ``external:<destination id>``."""

    TYPE: ClassVar[str] = "contact.transferred"
    contact_id: str
    agent_id: str
    kind: str
    target: str


@dataclass(frozen=True, slots=True)
class ContactOutboundStarted(EventBody):
    """An agent placed a call (the number is not stored): the agent is busy with the contact and
    its talk time starts. ``consult_for`` names the held contact this call consults about."""

    TYPE: ClassVar[str] = "contact.outbound_started"
    contact_id: str
    agent_id: str
    consult_for: str = ""


@dataclass(frozen=True, slots=True)
class ContactOutboundFailed(EventBody):
    """The placed call never connected (``reason``: busy, no answer, refused...): the contact
    ends without after-call work and the agent is free again."""

    TYPE: ClassVar[str] = "contact.outbound_failed"
    contact_id: str
    agent_id: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ContactConsultAnswered(EventBody):
    """Agent ``agent_id`` answered the internal call ``from_agent_id`` placed: both are busy
    with the contact until it ends."""

    TYPE: ClassVar[str] = "contact.consult_answered"
    contact_id: str
    agent_id: str
    from_agent_id: str


@dataclass(frozen=True, slots=True)
class ContactTransferConnected(EventBody):
    """Attended transfer completed: the customer is now connected to ``agent_id``, who took the
    consultation ``consult_id`` from ``from_agent_id``; the new agent's talk time starts."""

    TYPE: ClassVar[str] = "contact.transfer_connected"
    contact_id: str
    agent_id: str
    from_agent_id: str
    consult_id: str


@dataclass(frozen=True, slots=True)
class RecordingStarted(EventBody):
    """Recording of the contact started; ``recording_id`` names the file in the tenant's store."""

    TYPE: ClassVar[str] = "recording.started"
    contact_id: str
    recording_id: str


@dataclass(frozen=True, slots=True)
class RecordingPaused(EventBody):
    """Recording paused (card data being given): the span is stored as silence."""

    TYPE: ClassVar[str] = "recording.paused"
    contact_id: str
    recording_id: str
    by: str = ""


@dataclass(frozen=True, slots=True)
class RecordingResumed(EventBody):
    TYPE: ClassVar[str] = "recording.resumed"
    contact_id: str
    recording_id: str
    by: str = ""


@dataclass(frozen=True, slots=True)
class RecordingStopped(EventBody):
    """The recording file was closed (or recovered after a crash) with ``duration_ms`` of audio."""

    TYPE: ClassVar[str] = "recording.stopped"
    contact_id: str
    recording_id: str
    duration_ms: int


@dataclass(frozen=True, slots=True)
class VoicemailRecorded(EventBody):
    """The caller left a message in voicemail box ``box``."""

    TYPE: ClassVar[str] = "voicemail.recorded"
    contact_id: str
    box: str
    recording_id: str
    duration_ms: int


@dataclass(frozen=True, slots=True)
class SurveyAnswered(EventBody):
    """The caller answered question ``question_id`` of survey ``survey_id`` with ``value``."""

    TYPE: ClassVar[str] = "survey.answered"
    contact_id: str
    survey_id: str
    question_id: str
    value: str


@dataclass(frozen=True, slots=True)
class CallDialed(EventBody):
    """An agent's phone called out through ``trunk`` (the number dialled is not stored)."""

    TYPE: ClassVar[str] = "call.dialed"
    contact_id: str
    agent_id: str
    trunk: str


@dataclass(frozen=True, slots=True)
class CallReleased(EventBody):
    """The call's last leg ended: ``by`` is ``customer``, ``agent`` or ``system``; ``cause`` says
    why (``bye``, ``cancel``, ``ivr hangup``, ``no route``, ``media timeout``, ``shutdown``...)."""

    TYPE: ClassVar[str] = "call.released"
    contact_id: str
    by: str
    cause: str = ""


EVENT_TYPES: Final[dict[str, type[EventBody]]] = {
    cls.TYPE: cls
    for cls in (
        QueueConfigured,
        AgentConfigured,
        AgentLoggedIn,
        AgentLoggedOut,
        AgentReady,
        AgentNotReady,
        AgentAcwStarted,
        AgentAcwEnded,
        ContactArrived,
        ContactBlocked,
        ContactIvrCompleted,
        ContactIvrAbandoned,
        ContactQueued,
        ContactOffered,
        ContactOfferWithdrawn,
        ContactRingNoAnswer,
        ContactAnswered,
        ContactHeld,
        ContactRetrieved,
        ContactEnded,
        ContactAbandoned,
        ContactOverflowed,
        ContactTimedOut,
        ContactLost,
        CallbackRequested,
        CallbackDialing,
        CallbackFailed,
        CallbackRestored,
        ContactDispositioned,
        ShiftReminderSent,
        ShiftConfirmed,
        ShiftSwapRequested,
        IvrStep,
        ContactTransferred,
        ContactOutboundStarted,
        ContactOutboundFailed,
        ContactConsultAnswered,
        ContactTransferConnected,
        RecordingStarted,
        RecordingPaused,
        RecordingResumed,
        RecordingStopped,
        VoicemailRecorded,
        SurveyAnswered,
        CallDialed,
        CallReleased,
    )
}


@dataclass(frozen=True, slots=True)
class Event:
    """One fact in a tenant's log. ``seq`` is 0 until the log assigns it (1, 2, ... per tenant)."""

    tenant: str
    ts: int
    body: EventBody
    seq: int = 0
    test: bool = False

    @property
    def type(self) -> str:
        return self.body.TYPE

    def with_seq(self, seq: int) -> Event:
        return Event(self.tenant, self.ts, self.body, seq, self.test)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        body = self.body
        for name in _field_names(type(body)):
            value = getattr(body, name)
            data[name] = dict(value) if isinstance(value, Mapping) else value
        out: dict[str, Any] = {
            "v": SCHEMA_VERSION,
            "tenant": self.tenant,
            "seq": self.seq,
            "ts": self.ts,
            "type": self.body.TYPE,
            "data": data,
        }
        if self.test:
            out["test"] = True
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)


# ---------------------------------------------------------------------------------------------
# Parsing and validation at the boundary

_HINTS: dict[type[EventBody], dict[str, Any]] = {}
# Per body class, computed once: every event of a call passes through here before it is stored.
_FIELD_NAMES: dict[type[EventBody], tuple[str, ...]] = {}
_PLANS: dict[type[EventBody], tuple[frozenset[str], tuple[tuple[str, Any, bool], ...]]] = {}


def _field_names(cls: type[EventBody]) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _plan(cls: type[EventBody]) -> tuple[frozenset[str], tuple[tuple[str, Any, bool], ...]]:
    """The field names, and per field its name, type hint and whether it is required."""
    plan = _PLANS.get(cls)
    if plan is None:
        hints = _hints(cls)
        fields = tuple(
            (
                f.name,
                hints[f.name],
                f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
            )
            for f in dataclasses.fields(cls)
        )
        plan = _PLANS[cls] = (frozenset(hints), fields)
    return plan


def _hints(cls: type[EventBody]) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        raw = get_type_hints(cls)
        hints = {f.name: raw[f.name] for f in dataclasses.fields(cls)}
        _HINTS[cls] = hints
    return hints


def _check_value(where: str, name: str, hint: Any, value: Any) -> Any:
    if hint is str:
        if value.__class__ is not str and not isinstance(value, str):
            raise EventError(f"{where}: field '{name}' must be a string, got {value!r}")
        return value
    text = str(hint)
    if hint is bool:
        if not isinstance(value, bool):
            raise EventError(f"{where}: field '{name}' must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise EventError(f"{where}: field '{name}' must be an integer, got {value!r}")
        return value
    if text.startswith(("collections.abc.Mapping[str, int]", "typing.Mapping[str, int]")):
        if not isinstance(value, Mapping):
            raise EventError(f"{where}: field '{name}' must be an object, got {value!r}")
        for k, v in value.items():
            if not isinstance(k, str) or isinstance(v, bool) or not isinstance(v, int):
                raise EventError(
                    f"{where}: field '{name}' must map names to integers, got {k!r}: {v!r}"
                )
        return dict(value)
    raise EventError(f"{where}: field '{name}' has an unsupported type {text}")  # pragma: no cover


def make_body(type_name: str, data: Mapping[str, Any], where: str = "event") -> EventBody:
    """Build a typed body from its wire name and fields, or raise :class:`EventError`."""
    cls = EVENT_TYPES.get(type_name)
    if cls is None:
        raise EventError(f"{where}: unknown event type {type_name!r}")
    if not isinstance(data, Mapping):
        raise EventError(f"{where}: 'data' must be an object, got {data!r}")
    names, fields = _plan(cls)
    if not names.issuperset(data):
        unknown = sorted(set(data) - names)
        raise EventError(f"{where}: {type_name} has no field(s) {', '.join(unknown)}")
    kwargs: dict[str, Any] = {}
    for name, hint, required in fields:
        if name in data:
            kwargs[name] = _check_value(where, name, hint, data[name])
        elif required:
            raise EventError(f"{where}: {type_name} is missing field '{name}'")
    for key in ("agent_id", "contact_id", "queue_id"):
        if key in kwargs and not kwargs[key]:
            raise EventError(f"{where}: field '{key}' must not be empty")
    return cls(**kwargs)


def event_from_dict(obj: Any, where: str = "event") -> Event:
    """Parse the JSON form of an event (see ``docs/events.md``), or raise :class:`EventError`."""
    if not isinstance(obj, Mapping):
        raise EventError(f"{where}: an event must be a JSON object, got {type(obj).__name__}")
    version = obj.get("v", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise EventError(
            f"{where}: unsupported schema version {version!r} (this is {SCHEMA_VERSION})"
        )
    tenant = obj.get("tenant")
    if not isinstance(tenant, str) or not tenant:
        raise EventError(f"{where}: field 'tenant' must be a non-empty string")
    ts = obj.get("ts")
    if isinstance(ts, bool) or not isinstance(ts, int) or ts < 0:
        raise EventError(f"{where}: field 'ts' must be a non-negative integer (ms), got {ts!r}")
    seq = obj.get("seq", 0)
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise EventError(f"{where}: field 'seq' must be a non-negative integer, got {seq!r}")
    test = obj.get("test", False)
    if not isinstance(test, bool):
        raise EventError(f"{where}: field 'test' must be true or false, got {test!r}")
    type_name = obj.get("type")
    if not isinstance(type_name, str):
        raise EventError(f"{where}: field 'type' must be a string")
    body = make_body(type_name, obj.get("data", {}), where)
    return Event(tenant=tenant, ts=ts, body=body, seq=seq, test=test)


def event_from_json(line: str, where: str = "event") -> Event:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise EventError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    return event_from_dict(obj, where)
