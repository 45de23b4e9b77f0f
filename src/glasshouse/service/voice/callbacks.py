"""Callbacks: the IVR's callback node through the ACD, then out through the tenant's trunk.

The callback node queues the contact straight as a callback request (``contact.queued`` then
``callback.requested``); the number to call goes to the tenant's personal data store first and
the event names it by reference, so a restart can still dial it and erasing the number
(``glasshouse privacy erase``) leaves the log intact. The caller's flow goes on and the caller
may hang up without abandoning. When the request reaches the head of
its queue and an agent is free, the ACD reserves the agent (``callback.dialing``): the agent's
registered phone rings first, with the screen pop and the number to call back; once the agent
answers, the customer is called through the tenant's trunk while the agent hears a ringback.

- The customer answers: agent and customer are bridged (``callback_connected``, logged as
  ``contact.answered``), recorded, and from there the call is like any answered call (hold,
  transfer, hang-up, wrap-up).
- The customer is busy, rejects or does not answer within ``customer_ring_s``: the agent hears
  "the customer did not answer", gets a BYE, and the attempt is reported (``callback_failed``:
  retried at the back of the queue until the queue's ``callback_max_attempts``).
- The agent does not take it (declines, busy, rings out, no registered phone): the callback goes
  back to its place and the agent goes not ready, as for an inbound ring-no-answer
  (``callback_declined``).
- The number was erased since the request: nothing is dialled and the callback fails for good
  (``callback_given_up``).

A dial-out attempt is a :class:`~glasshouse.service.voice.switch.Call` whose ``callback`` is a
:class:`CallbackAttempt`: its agent leg is ``call.agent`` and, once dialled, its customer leg is
``call.caller`` (before that, the agent's leg stands in), so everything after the connection
takes the switch's ordinary paths. The carrier gets none of the screen-pop headers.

At start the server takes back what a stopped process left pending (:func:`pending_callbacks`,
:meth:`CallbackDialer.restore`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from glasshouse.adapters.media.rtp_session import RtpSession
from glasshouse.adapters.media.sources import EncodedAudio, LoopSource, tone_audio
from glasshouse.adapters.personal import PHONE, PersonalStoreError, is_ref
from glasshouse.domain.acd import Acd
from glasshouse.domain.events import (
    CallbackDialing,
    CallbackFailed,
    CallbackRequested,
    CallbackRestored,
    ContactAnswered,
    Event,
)
from glasshouse.domain.ivr.runner import RequestCallback, Speech
from glasshouse.domain.voice.config import InvalidNumber, Trunk, normalise_number
from glasshouse.protocols.sdp import NegotiatedAudio, SdpError, SessionDescription, accept_answer
from glasshouse.protocols.sdp import build_offer as _build_offer
from glasshouse.protocols.sip.dialog import new_request
from glasshouse.protocols.sip.headers import NameAddr
from glasshouse.protocols.sip.message import SipRequest, SipResponse
from glasshouse.protocols.sip.transaction import with_via
from glasshouse.protocols.sip.uri import SipParseError, SipUri
from glasshouse.service.voice.setup import CallbackSettings

if TYPE_CHECKING:
    from glasshouse.service.voice.switch import Call, Leg, Switch

__all__ = [
    "CALLBACK_NUMBER_HEADER",
    "CallbackAttempt",
    "CallbackDialer",
    "CallbackSettings",
    "PendingCallback",
    "RecoveredCallback",
    "pending_callbacks",
]

_log = logging.getLogger(__name__)

#: The header that gives the agent's phone the number being called back.
CALLBACK_NUMBER_HEADER: Final = "X-Glasshouse-Callback-Number"


@dataclass(slots=True)
class PendingCallback:
    """A callback the ACD holds, with what is needed to dial it (kept in memory only: the
    number's reference is in the log, the screen-pop variables are not). The number itself is
    looked up when dialling, so an erasure in the meantime is seen."""

    queue_id: str
    number_ref: str
    variables: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecoveredCallback:
    """A callback a stopped process left pending: its queue, its number's reference in the
    personal data store, the attempts it made and the agent it was dialling with when it
    stopped ("" when none)."""

    contact_id: str
    queue_id: str
    number_ref: str
    attempts: int = 0
    dialing_agent: str = ""


def pending_callbacks(events: Iterable[Event]) -> list[RecoveredCallback]:
    """The callbacks of one tenant's log still to dial, in request order: a
    ``callback.requested`` with a number reference whose contact was neither connected
    (``contact.answered``) nor finally failed (``callback.failed`` without retry) after it."""
    found: dict[str, dict[str, Any]] = {}
    for event in events:
        body = event.body
        if isinstance(body, CallbackRequested):
            found.pop(body.contact_id, None)
            if body.number_ref:
                found[body.contact_id] = {"queue": body.queue_id, "ref": body.number_ref}
            continue
        entry = found.get(getattr(body, "contact_id", ""))
        if entry is None:
            continue
        if isinstance(body, CallbackDialing):
            entry["agent"] = body.agent_id
        elif isinstance(body, CallbackFailed):
            entry["agent"] = ""
            entry["attempts"] = entry.get("attempts", 0) + 1
            if not body.retry:
                del found[body.contact_id]
        elif isinstance(body, ContactAnswered):
            del found[body.contact_id]
        elif isinstance(body, CallbackRestored):
            entry["queue"] = body.queue_id
    return [
        RecoveredCallback(cid, e["queue"], e["ref"], e.get("attempts", 0), e.get("agent", ""))
        for cid, e in found.items()
    ]


@dataclass(eq=False)
class CallbackAttempt:
    """One dial-out of a callback: the agent reserved, the customer's number (looked up for this
    attempt, in memory only) and how far it got."""

    number: str
    agent_id: str
    trunk: Trunk
    customer_rtp: RtpSession
    dialled: bool = False  # the customer's INVITE went out (``call.caller`` is their leg)
    connected: bool = False  # reported connected: the ordinary paths of the switch take over
    closing: bool = False  # the agent hears "not answered" before the BYE
    reported: bool = False  # the ACD was told how the attempt ended
    failure: str = ""  # why the customer was not reached
    timer: asyncio.TimerHandle | None = None


class CallbackDialer:
    """The switch's callback side; ``switch`` calls it from its ``_ivr``, ACD-event, response,
    hang-up and release paths."""

    def __init__(self, switch: Switch, settings: CallbackSettings | None = None) -> None:
        self.switch = switch
        # None: each tenant's own (``callbacks`` in the server setup); set: for every tenant.
        self.settings = settings
        self.pending: dict[tuple[str, str], PendingCallback] = {}  # (tenant, contact id)
        self.active: dict[tuple[str, str], Call] = {}  # dial-outs in progress
        self._ringback: EncodedAudio | None = None

    def _settings(self, call: Call) -> CallbackSettings:
        return self.settings if self.settings is not None else call.tenant.callbacks

    # -- the IVR's callback node ---------------------------------------------------------------

    def check(self, tenant_id: str) -> Callable[[str, str], str | None]:
        """For :class:`~glasshouse.domain.ivr.runner.FlowRun`: why a callback to ``number`` from
        ``queue_id`` cannot be taken for the tenant (the node then takes its fallback), or None.
        The reason never repeats the number (it goes to the log)."""

        def why_not(number: str, queue_id: str) -> str | None:
            setup = self.switch.tenants.get(tenant_id)
            if setup is None or queue_id not in {q.queue_id for q in setup.queues}:
                return f"{queue_id!r} is not a queue of the tenant"
            trunk = self._trunk(tenant_id)
            if trunk is None:
                return "no trunk to call back through"
            voice_tenant = self.switch.voice.tenant(tenant_id)
            assert voice_tenant is not None
            return _number_refused(voice_tenant.outbound, number)

        return why_not

    def request(self, call: Call, action: RequestCallback) -> bool:
        """Queue the caller's contact as a callback to ``action.number``; the flow goes on and
        the caller's hang-up no longer abandons the contact. False when the ACD refused or the
        number could not be stored."""
        sw = self.switch
        tenant_id = call.tenant.tenant_id
        key = (tenant_id, call.contact_id)
        call.variables.update(action.variables)
        call.queue_id = action.queue_id
        # Stored before the event that names it: a crash in between leaves an unreferenced
        # value (still erasable by number), never a reference to nothing.
        try:
            ref = sw.personal.put(tenant_id, PHONE, action.number)
        except PersonalStoreError as exc:
            _log.error("tenant %s: callback of %s not taken: %s", tenant_id, call.contact_id, exc)
            return False
        # Known before the ACD runs: an agent may be reserved (and dialling start) at once.
        self.pending[key] = PendingCallback(action.queue_id, ref, dict(call.variables))
        call.callback_requested = True
        center = sw.centers[tenant_id]
        ok = sw._run_acd(
            center,
            Acd.enqueue_callback,
            call.contact_id,
            action.queue_id,
            _now_ms(),
            number_ref=ref,
        )
        if not ok:
            self.pending.pop(key, None)
            call.callback_requested = False
            _log.warning("tenant %s: callback of %s refused", tenant_id, call.contact_id)
            with contextlib.suppress(PersonalStoreError):
                sw.personal.erase_ref(tenant_id, ref)  # no event names it: keep no copy
        return ok

    def restore(self, tenant_id: str, recovered: Sequence[RecoveredCallback]) -> int:
        """Put callbacks a stopped process left pending back in the tenant's ACD (see
        :meth:`Acd.restore_callback`); returns how many were taken back."""
        sw = self.switch
        center = sw.centers[tenant_id]
        restored = 0
        for item in recovered:
            key = (tenant_id, item.contact_id)
            self.pending[key] = PendingCallback(item.queue_id, item.number_ref)
            ok = sw._run_acd(
                center,
                Acd.restore_callback,
                item.contact_id,
                item.queue_id,
                max(_now_ms(), center.acd.now),
                attempts=item.attempts,
                dialing_agent=item.dialing_agent,
            )
            if ok:
                restored += 1
            else:
                self.pending.pop(key, None)
        return restored

    # -- the ACD's decisions -------------------------------------------------------------------

    def on_acd_event(self, event: Event) -> None:
        """``callback.dialing`` rings the reserved agent; a final ``callback.failed`` forgets
        the request."""
        body = event.body
        if isinstance(body, CallbackDialing):
            self.switch._spawn(self._ring_agent(event.tenant, body.contact_id, body.agent_id))
        elif isinstance(body, CallbackFailed):
            if not body.retry:
                self.pending.pop((event.tenant, body.contact_id), None)
            key = (event.tenant, body.agent_id)
            if key in self.switch._pending_logout:
                self.switch._phone_gone(*key)

    async def _ring_agent(self, tenant_id: str, contact_id: str, agent_id: str) -> None:
        from glasshouse.service.voice.switch import Call, Leg, _context_headers, _safe_user

        sw = self.switch
        center = sw.centers[tenant_id]
        key = (tenant_id, contact_id)
        pending = self.pending.get(key)
        trunk = self._trunk(tenant_id)
        setup = sw.tenants[tenant_id]
        if pending is None or trunk is None:
            _log.error(
                "tenant %s: callback %s cannot be dialled (%s)",
                tenant_id,
                contact_id,
                "number unknown" if pending is None else "no trunk",
            )
            sw._run_acd(center, Acd.callback_failed, contact_id, _now_ms())
            return
        number = self._number(tenant_id, contact_id, pending.number_ref)
        if number is None:
            self.pending.pop(key, None)
            sw._run_acd(center, Acd.callback_given_up, contact_id, _now_ms())
            return
        if not number:
            sw._run_acd(center, Acd.callback_failed, contact_id, _now_ms())
            return
        account = sw._accounts_by_agent.get((tenant_id, agent_id))
        bindings = sw.registrar.contacts(account.username, sw._loop.time()) if account else []
        if not bindings:
            sw._run_acd(center, Acd.callback_declined, contact_id, _now_ms())
            return
        binding = bindings[-1]
        agent_rtp = await sw.media.open_session()
        customer_rtp = await sw.media.open_session()
        if center.acd.contact_phase(contact_id) != "dialing" or key in self.active:
            agent_rtp.close()
            customer_rtp.close()
            return
        session_id = str(secrets.randbelow(10**9))
        offer = _build_offer(sw.host, agent_rtp.port, session_id=session_id)

        def agent_invite(headers: list[tuple[str, str]]) -> SipRequest:
            return new_request(
                "INVITE",
                binding.contact_uri,
                from_addr=NameAddr(
                    uri=SipUri(host=sw.host, user=_safe_user(number), port=sw.port),
                    display_name=pending.queue_id,
                ),
                to_addr=NameAddr(uri=SipUri(host=sw.host, user=binding.username, port=sw.port)),
                contact=NameAddr(uri=SipUri(host=sw.host, user="glasshouse", port=sw.port)),
                body=bytes(offer),
                content_type="application/sdp",
                extra_headers=headers,
            )

        try:
            invite = agent_invite([])
        except (SipParseError, ValueError) as exc:
            _log.warning("cannot call agent %s back for %s: %s", agent_id, contact_id, exc)
            agent_rtp.close()
            customer_rtp.close()
            sw._run_acd(center, Acd.callback_declined, contact_id, _now_ms())
            return
        reliable = binding.transport.upper() == "TCP"
        leg = Leg("agent", invite, binding.source, reliable, agent_rtp, session_id)
        leg.agent_id = agent_id
        leg.local_sdp = offer
        # Until the customer is dialled the agent's leg stands in as the call's caller.
        call = Call(
            setup,
            contact_id,
            leg,
            in_ivr=False,
            queue_id=pending.queue_id,
            variables=dict(pending.variables),
            agent=leg,
            started_ms=_now_ms(),
            legs=[leg],
        )
        # The screen pop, as for an inbound call, and the number to call back.
        headers = [*_context_headers(call), (CALLBACK_NUMBER_HEADER, number)]
        leg.invite = with_via(agent_invite(headers), sw.host, sw.port, "TCP" if reliable else "UDP")
        attempt = CallbackAttempt(number, agent_id, trunk, customer_rtp)
        call.callback = attempt
        self.active[key] = call
        sw.calls.setdefault(contact_id, call)  # the customer's first call may still be on
        leg.tx_id = sw.stack.send_request(leg.invite, binding.source, reliable=reliable)
        sw._by_invite_tx[leg.tx_id] = (call, leg)
        ring_s = next((q.ring_timeout_s for q in setup.queues if q.queue_id == call.queue_id), 15)
        attempt.timer = sw._loop.call_later(ring_s, self._agent_rang_out, call)

    def _number(self, tenant_id: str, contact_id: str, ref: str) -> str | None:
        """The number to call back: None when it is gone for good (erased, or the log's
        reference is malformed), "" when the store cannot answer now (a failed attempt)."""
        if not is_ref(ref):
            _log.error(
                "tenant %s: callback %s fails for good: %r is not a number reference",
                tenant_id,
                contact_id,
                ref[:40],
            )
            return None
        try:
            number = self.switch.personal.get(tenant_id, ref)
        except PersonalStoreError as exc:
            _log.error("tenant %s: callback %s not dialled: %s", tenant_id, contact_id, exc)
            return ""
        if number is None:
            _log.warning(
                "tenant %s: callback %s fails for good: its number (%s) was erased",
                tenant_id,
                contact_id,
                ref,
            )
        return number

    def _agent_rang_out(self, call: Call) -> None:
        attempt = _attempt(call)
        attempt.timer = None
        agent = call.agent
        if attempt.reported or agent is None or agent.answered or agent.ended:
            return
        self.switch._cancel_agent(agent)
        self._agent_refused(call, "did not answer")

    # -- SIP, from the switch ------------------------------------------------------------------

    def on_answer(self, call: Call, leg: Leg, response: SipResponse) -> None:
        """A 2xx (already acknowledged) to the agent's or the customer's INVITE."""
        sw = self.switch
        attempt = _attempt(call)
        if attempt.reported or attempt.closing or call.released or leg.ended:
            sw._bye_leg(leg)
            leg.ended = True
            leg.rtp.close()
            return
        audio = _accepted(leg, response)
        if audio is None or leg.dialog is None:
            sw._bye_leg(leg)
            leg.ended = True
            if leg is call.agent and not attempt.dialled:
                self._agent_refused(call, "no usable media in the answer")
            else:
                self._not_reached(call, "no usable media in the answer")
            return
        sw._apply_remote(leg.rtp, audio)
        leg.answered = True
        sw._by_dialog[(leg.dialog.call_id, leg.dialog.local_tag)] = (call, leg)
        _cancel_timer(attempt)
        if leg is call.agent and not attempt.dialled:
            self._dial_customer(call)
            return
        center = sw._acd(call)
        if not sw._run_acd(center, Acd.callback_connected, call.contact_id, _now_ms()):
            attempt.reported = True
            sw._bye(call, leg)
            if call.agent is not None:
                sw._bye(call, call.agent)
            sw._release(call, "system", "callback no longer pending")
            return
        attempt.connected = attempt.reported = True
        self.pending.pop((call.tenant.tenant_id, call.contact_id), None)
        assert call.agent is not None
        sw._connect(call, call.agent)

    def on_failure(self, call: Call, leg: Leg, why: str) -> None:
        """The agent's or the customer's INVITE failed (final non-2xx, timeout, transport)."""
        sw = self.switch
        sw._by_invite_tx.pop(leg.tx_id, None)
        leg.ended = True
        attempt = _attempt(call)
        if attempt.reported or attempt.closing:
            return
        if leg is call.agent and not attempt.dialled:
            leg.rtp.close()
            self._agent_refused(call, f"refused: {why}")
        elif leg is call.caller:
            self._not_reached(call, why)

    def on_hangup(self, call: Call, leg: Leg, by: str | None, cause: str) -> bool:
        """A BYE on a dial-out; True when handled here (before the connection), False once
        connected (the switch's ordinary hang-up applies)."""
        attempt = _attempt(call)
        if attempt.connected:
            return False
        sw = self.switch
        leg.ended = True
        if attempt.closing:
            self._finish_not_reached(call)
            return True
        customer = call.caller if attempt.dialled else None
        if customer is not None and not customer.ended:
            sw._cancel_agent(customer)
        _cancel_timer(attempt)
        attempt.reported = True
        sw._release(call, by or "agent", cause)
        center = sw._acd(call)
        command = Acd.callback_failed if attempt.dialled else Acd.callback_declined
        sw._run_acd(center, command, call.contact_id, _now_ms())
        return True

    def on_release(self, call: Call) -> None:
        """The switch releases a dial-out: timers stop, a customer's phone still ringing is
        cancelled. An attempt not reported yet (the server stopping) is left to the restart."""
        attempt = _attempt(call)
        _cancel_timer(attempt)
        if not attempt.dialled:
            attempt.customer_rtp.close()
        elif not call.caller.ended:
            self.switch._cancel_agent(call.caller)
        key = (call.tenant.tenant_id, call.contact_id)
        if self.active.get(key) is call:
            del self.active[key]

    def close(self) -> None:
        """Release every dial-out (the server stops)."""
        for call in list(self.active.values()):
            self.switch._release(call, "system", "shutdown")

    # -- the customer's leg --------------------------------------------------------------------

    def _dial_customer(self, call: Call) -> None:
        from glasshouse.service.voice.switch import Leg, _safe_user

        sw = self.switch
        attempt = _attempt(call)
        tenant_id = call.tenant.tenant_id
        trunk = attempt.trunk
        decision = sw.guard.outbound_decision(tenant_id, trunk, attempt.number, sw._loop.time())
        if not decision.allowed:
            _log.warning("tenant %s: callback refused: %s", tenant_id, decision.reason)
            self._not_reached(call, "refused by the outbound policy")
            return
        call.outbound_ref = decision.call_ref
        dialled = f"{trunk.dial_prefix}{decision.number or attempt.number}"
        rtp = attempt.customer_rtp
        session_id = str(secrets.randbelow(10**9))
        offer = _build_offer(sw.host, rtp.port, session_id=session_id)
        target = SipUri(host=trunk.host, user=_safe_user(dialled), port=trunk.port)
        invite = new_request(
            "INVITE",
            target,
            from_addr=NameAddr(
                uri=SipUri(host=sw.host, user=_safe_user(trunk.caller_id or "glasshouse"))
            ),
            to_addr=NameAddr(uri=target),
            contact=NameAddr(uri=SipUri(host=sw.host, user="glasshouse", port=sw.port)),
            body=bytes(offer),
            content_type="application/sdp",
        )
        reliable = trunk.transport.lower() == "tcp"
        invite = with_via(invite, sw.host, sw.port, "TCP" if reliable else "UDP")
        leg = Leg("caller", invite, (trunk.host, trunk.port), reliable, rtp, session_id)
        leg.local_sdp = offer
        call.caller = leg
        call.legs.append(leg)
        attempt.dialled = True
        leg.tx_id = sw.stack.send_request(invite, (trunk.host, trunk.port), reliable=reliable)
        sw._by_invite_tx[leg.tx_id] = (call, leg)
        attempt.timer = sw._loop.call_later(
            self._settings(call).customer_ring_s, self._customer_rang_out, call
        )
        if call.agent is not None:
            call.agent.rtp.play(LoopSource(self._ringback_audio()))

    def _customer_rang_out(self, call: Call) -> None:
        attempt = _attempt(call)
        attempt.timer = None
        if attempt.reported or attempt.closing or call.caller.answered:
            return
        self.switch._cancel_agent(call.caller)
        self._not_reached(call, "no answer")

    def _ringback_audio(self) -> EncodedAudio:
        if self._ringback is None:
            tone = tone_audio(425, 1000, -16.0)
            self._ringback = EncodedAudio(tone.pcm + b"\x00\x00" * 8000 * 4)
        return self._ringback

    # -- how an attempt ends -------------------------------------------------------------------

    def _agent_refused(self, call: Call, why: str) -> None:
        """The agent did not take the callback: it goes back to its place, the agent not ready."""
        sw = self.switch
        attempt = _attempt(call)
        _cancel_timer(attempt)
        attempt.reported = True
        _log.info("agent %s did not take callback %s: %s", attempt.agent_id, call.contact_id, why)
        sw._release(call, "system", f"callback: agent {why}"[:80])
        sw._run_acd(sw._acd(call), Acd.callback_declined, call.contact_id, _now_ms())

    def _not_reached(self, call: Call, why: str) -> None:
        """The customer was not reached: the agent hears so, then the attempt is reported."""
        sw = self.switch
        attempt = _attempt(call)
        _cancel_timer(attempt)
        attempt.closing = True
        attempt.failure = why
        agent = call.agent
        if agent is None or not agent.answered or agent.ended:
            self._finish_not_reached(call)
            return
        tenant = call.tenant

        async def tell_agent() -> None:
            source = await sw.kit.source(
                tenant.tenant_id,
                [
                    Speech(
                        self._settings(call).not_reached_prompt,
                        tenant.media.voice,
                        tenant.media.voice,
                    )
                ],
            )
            if attempt.reported or call.released:
                return
            agent.rtp.stop_playing()
            agent.rtp.play(source, on_done=lambda: self._finish_not_reached(call))

        sw._spawn(tell_agent())

    def _finish_not_reached(self, call: Call) -> None:
        sw = self.switch
        attempt = _attempt(call)
        if attempt.reported:
            return
        attempt.reported = True
        if call.agent is not None:
            sw._bye(call, call.agent)
        sw._release(call, "system", f"callback: customer {attempt.failure or 'not reached'}"[:80])
        sw._run_acd(sw._acd(call), Acd.callback_failed, call.contact_id, _now_ms())

    def _trunk(self, tenant_id: str) -> Trunk | None:
        voice_tenant = self.switch.voice.tenant(tenant_id)
        return voice_tenant.trunks[0] if voice_tenant and voice_tenant.trunks else None


def _attempt(call: Call) -> CallbackAttempt:
    attempt = call.callback
    assert attempt is not None, "not a callback dial-out"
    return attempt


def _cancel_timer(attempt: CallbackAttempt) -> None:
    if attempt.timer is not None:
        attempt.timer.cancel()
        attempt.timer = None


def _accepted(leg: Leg, response: SipResponse) -> NegotiatedAudio | None:
    try:
        answer = SessionDescription.parse(response.body)
        return accept_answer(leg.local_sdp, answer) if leg.local_sdp else None
    except SdpError:
        return None


def _number_refused(policy: Any, number: str) -> str | None:
    """Why the tenant's outbound policy refuses ``number`` for good (blocked, not allowed), or
    None; limits of the moment (concurrent calls, rate) are checked when dialling."""
    try:
        dialled = normalise_number(number, international_prefix=policy.international_prefix)
    except InvalidNumber:
        return "the number is not a valid phone number"
    if any(pattern.matches(dialled) for pattern in policy.blocked):
        return "the number is blocked by the outbound policy"
    if not any(pattern.matches(dialled) for pattern in policy.allowed):
        return "the number is not allowed by the outbound policy"
    return None


def _now_ms() -> int:
    from glasshouse.service.voice.switch import now_ms

    return now_ms()
