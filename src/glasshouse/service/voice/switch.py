"""Call control: a back-to-back user agent between callers, the IVR, the ACD and agents' phones.

An INVITE to a tenant's number is answered at once (our RTP session, G.711 and RFC 4733; an
``early_media`` flow gets a 183 and its 200 only when it needs the caller), runs the number's
IVR flow (prompts, digits from RFC 4733 or SIP INFO), and the flow's queue action
hands the call to the tenant's ACD. While it waits the caller hears music and announcements of
position and expected wait. When the ACD offers the call to an agent, the agent's registered
phone is called (with the IVR inputs as ``X-Glasshouse-*`` headers, the screen pop); its
answer is bridged to the caller and recorded; a ring timeout or a refusal puts the agent not
ready and the call back at the front of the queue. The agent's hold (re-INVITE sendonly or
inactive) plays music to the caller. Either side's BYE ends both legs. Callbacks (the IVR's
callback node, dialled out when the ACD reserves an agent) are in :mod:`.callbacks`.

Every decision goes to the tenant's event log before it is acted on: ACD events through the
:class:`ContactCenter`, IVR steps, recordings and the call's release directly."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import re
import secrets
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from glasshouse.adapters.eventstore.base import EventStore
from glasshouse.adapters.media.recording import CallRecorder
from glasshouse.adapters.media.rtp_session import MediaEngine, RtpSession, bridge, unbridge
from glasshouse.adapters.media.sources import Playlist, ToneSource
from glasshouse.adapters.personal import (
    PHONE,
    PersonalStore,
    PersonalStoreError,
    SqlitePersonalStore,
)
from glasshouse.domain.acd import Acd, AcdError
from glasshouse.domain.events import (
    CallDialed,
    CallReleased,
    ContactTransferred,
    Event,
    EventBody,
    IvrStep,
    RecordingPaused,
    RecordingResumed,
    RecordingStarted,
    RecordingStopped,
    SurveyAnswered,
    VoicemailRecorded,
)
from glasshouse.domain.ivr.flow import ANSWERING_TYPES
from glasshouse.domain.ivr.runner import (
    Action,
    Enqueue,
    FlowRun,
    Hangup,
    HttpRequest,
    Play,
    RecordVoicemail,
    RequestCallback,
    StartSurvey,
    Step,
    StopPlay,
    SurveyAnswer,
    TransferExternal,
)
from glasshouse.domain.voice.config import VoiceConfig
from glasshouse.domain.voice.guard import TollFraudGuard
from glasshouse.domain.voice.registrar import Binding, RegisterResult, Registrar
from glasshouse.protocols.rtp.g711 import G711Law, decode
from glasshouse.protocols.sdp import (
    Direction,
    NegotiatedAudio,
    SdpError,
    SessionDescription,
    accept_answer,
    build_answer,
    build_offer,
)
from glasshouse.protocols.sip.dialog import Dialog, new_request, new_tag
from glasshouse.protocols.sip.headers import NameAddr, Replaces
from glasshouse.protocols.sip.message import SipRequest, SipResponse, make_response
from glasshouse.protocols.sip.transaction import (
    AckReceived,
    RequestReceived,
    ResponseReceived,
    TransactionTimeout,
    TransportFailure,
    TxEvent,
    make_cancel,
    with_via,
)
from glasshouse.protocols.sip.uri import SipParseError, SipUri
from glasshouse.service.contact_center import ContactCenter
from glasshouse.service.voice.callbacks import CallbackAttempt, CallbackDialer
from glasshouse.service.voice.media_kit import MediaKit
from glasshouse.service.voice.setup import TenantSetup
from glasshouse.service.voice.sip_stack import SipStack
from glasshouse.service.voice.transfers import (
    Directory,
    TransferError,
    TransferTarget,
    is_number,
    names_dialog,
    refer_target,
    refusal,
    sipfrag,
)

__all__ = ["Switch", "now_ms"]

_log = logging.getLogger(__name__)

Address = tuple[str, int]
ALLOW: Final = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, REFER, NOTIFY, REGISTER"
_HEADER_VALUE = re.compile(r"[^\x20-\x7e]")
CONTROL_TYPE: Final = "application/x-glasshouse-control"
HOUSEKEEPING_S: Final = 5.0
DTMF_TAIL_S: Final = 0.5
LINGER_S: Final = 40.0  # past Timer B/L (32 s): no answer can come for a leg after that
_DTMF_INFO = re.compile(r"Signal\s*=\s*([0-9*#A-Da-d])", re.IGNORECASE)


def now_ms() -> int:
    """Wall-clock time in ms: event timestamps and the ACD's and IVR's clocks."""
    return int(time.time() * 1000)


@dataclass(eq=False)
class Leg:
    """One SIP dialog of a call and its RTP session."""

    role: str  # "caller", "agent" or "external"
    invite: SipRequest
    dest: Address
    reliable: bool
    rtp: RtpSession
    session_id: str
    tx_id: str = ""
    dialog: Dialog | None = None
    local_sdp: SessionDescription | None = None
    answered: bool = False
    ended: bool = False
    agent_id: str = ""
    ack: SipRequest | None = None


@dataclass(eq=False)
class Call:
    """One customer's call: its legs, where it is (IVR, queue, talking, survey) and media."""

    tenant: TenantSetup
    contact_id: str
    caller: Leg
    run: FlowRun | None = None
    in_ivr: bool = True
    queued: bool = False
    queue_id: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    agent: Leg | None = None
    external: Leg | None = None  # a leg to a trunk (IVR transfer, agent's blind transfer)
    outbound_ref: int | None = None  # the toll-fraud guard's hold on that leg
    talking: bool = False
    held: bool = False
    recorder: CallRecorder | None = None
    recording_id: str = ""
    recording_origin: float = 0.0  # loop time of the recording's start
    started_ms: int = 0
    ivr_timer: asyncio.TimerHandle | None = None
    announce_task: asyncio.Task[None] | None = None
    released: bool = False
    play_seq: int = 0
    legs: list[Leg] = field(default_factory=list)  # every leg the call has had
    surveying: bool = False  # the post-call survey runs (the agent has left)
    voicemail: CallRecorder | None = None
    voicemail_box: str = ""
    voicemail_timer: asyncio.TimerHandle | None = None
    outbound: bool = False  # an agent dialling out: the caller leg is the agent's phone
    caller_tag: str = ""
    callback: CallbackAttempt | None = None  # a callback's dial-out (see callbacks.py)
    callback_requested: bool = False  # the caller chose a callback: hanging up abandons nothing


class Switch:
    """The transaction user of the SIP stack for every tenant of the server."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        voice: VoiceConfig,
        tenants: Mapping[str, TenantSetup],
        centers: Mapping[str, ContactCenter],
        store: EventStore,
        registrar: Registrar,
        guard: TollFraudGuard,
        media: MediaEngine,
        kit: MediaKit,
        host: str,
        personal: PersonalStore | None = None,
    ) -> None:
        self._loop = loop
        # Numbers that events name by reference (callbacks, transfers out); closed with the
        # switch. None keeps them in memory only, for a switch without a data directory.
        self.personal: PersonalStore = (
            SqlitePersonalStore(":memory:") if personal is None else personal
        )
        self.voice = voice
        self.tenants = tenants
        self.centers = centers
        self.store = store
        self.registrar = registrar
        self.guard = guard
        self.media = media
        self.kit = kit
        self.host = host
        self.stack: SipStack = SipStack(loop, self.on_event)
        self.calls: dict[str, Call] = {}  # contact id -> call
        self._by_dialog: dict[tuple[str, str], tuple[Call, Leg]] = {}  # (call-id, our tag)
        self._by_invite_tx: dict[str, tuple[Call, Leg]] = {}
        self._acd_timers: dict[str, asyncio.TimerHandle] = {}
        self._acd_deadlines: dict[str, int] = {}  # what each tenant's timer is set for
        self._acd_queue: deque[list[Event]] = deque()
        self._acd_busy = False
        self._pending_logout: set[tuple[str, str]] = set()
        self._accounts_by_agent = {
            (t.tenant_id, a.agent_id): a for t in voice.tenants for a in t.accounts
        }
        self._housekeeping_timer: asyncio.TimerHandle | None = None
        self._ids = itertools.count(1)
        self.callbacks = CallbackDialer(self)
        self.stats: dict[str, int] = {"calls": 0, "answered": 0, "refused": 0, "released": 0}
        for center in centers.values():
            center.subscribe(self._on_acd_events)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run ``coro`` on the loop; a failure is logged, never lost."""
        task: asyncio.Task[Any] = self._loop.create_task(coro)
        task.add_done_callback(_log_failure)
        return task

    async def start(self, port: int) -> None:
        await self.stack.start(self.host, port)
        self._housekeeping_timer = self._loop.call_later(HOUSEKEEPING_S, self._housekeeping)

    def table_sizes(self) -> dict[str, int]:
        """How many calls, dialogs and INVITE transactions the switch still holds (all three
        drop to zero once the calls are over: a check against leaks)."""
        return {
            "calls": len(self.calls),
            "dialogs": len(self._by_dialog),
            "invites": len(self._by_invite_tx),
        }

    @property
    def port(self) -> int:
        return self.stack.address[1]

    def close(self) -> None:
        if self._housekeeping_timer is not None:
            self._housekeeping_timer.cancel()
        for call in list(self.calls.values()):
            self._release(call, "system", "shutdown")
        self.callbacks.close()
        for timer in self._acd_timers.values():
            timer.cancel()
        self.stack.close()
        self.personal.close()

    # -- the log -----------------------------------------------------------------------------

    def _log_event(self, tenant_id: str, body: EventBody) -> None:
        self.store.append([Event(tenant_id, now_ms(), body)])

    def _acd(self, call: Call) -> ContactCenter:
        return self.centers[call.tenant.tenant_id]

    def _run_acd(self, center: ContactCenter, command: Any, *args: Any, **kwargs: Any) -> bool:
        try:
            center.run(command, *args, **kwargs)
        except AcdError as exc:
            _log.info("tenant %s: ACD refused %s: %s", center.tenant, command.__name__, exc)
            return False
        finally:
            self._arm_acd(center)
        return True

    def _arm_acd(self, center: ContactCenter) -> None:
        deadline = center.acd.next_deadline()
        tenant = center.tenant
        if deadline is not None and self._acd_deadlines.get(tenant) == deadline:
            return  # most commands leave the next deadline where it was: keep its timer
        old = self._acd_timers.pop(tenant, None)
        self._acd_deadlines.pop(tenant, None)
        if old is not None:
            old.cancel()
        if deadline is None:
            return
        delay = max(0.0, (deadline - now_ms()) / 1000)
        self._acd_timers[tenant] = self._loop.call_later(delay, self._fire_acd, center)
        self._acd_deadlines[tenant] = deadline

    def _fire_acd(self, center: ContactCenter) -> None:
        self._acd_timers.pop(center.tenant, None)
        self._acd_deadlines.pop(center.tenant, None)
        self._run_acd(center, Acd.advance, max(now_ms(), center.acd.now))

    # -- SIP events --------------------------------------------------------------------------

    def on_event(self, event: TxEvent) -> None:
        if isinstance(event, RequestReceived):
            self._on_request(event)
        elif isinstance(event, AckReceived):
            self._on_ack(event)
        elif isinstance(event, ResponseReceived):
            self._on_response(event)
        elif isinstance(event, TransactionTimeout | TransportFailure):
            found = self._by_invite_tx.get(event.tx_id or "")
            if found is None or event.method != "INVITE":
                return
            call, leg = found
            if call.callback is not None:
                self.callbacks.on_failure(call, leg, f"no answer ({type(event).__name__})")
            elif leg.role == "agent":
                self._agent_failed(call, leg, f"no answer from the phone ({type(event).__name__})")
            elif leg.role == "external":
                self._external_failed(call, leg, f"no answer ({type(event).__name__})")
            elif not call.released:
                # Our 2xx was never acknowledged (RFC 3261 13.3.1.4): end the call.
                self._bye(call, leg)
                self._hangup_from(call, leg, by="system", cause="no ACK")

    def _respond(self, request: SipRequest, status: int, **kwargs: Any) -> None:
        headers = list(kwargs.pop("headers", ()))
        if status == 405:
            headers.append(("Allow", ALLOW))
        self.stack.send_response(make_response(request, status, headers=headers, **kwargs))

    def _on_request(self, event: RequestReceived) -> None:
        request = event.request
        verdict = self.guard.check_request(event.source[0], request.user_agent, self._loop.time())
        if not verdict.allowed:
            return  # blocked sources get no answer at all
        method = request.method
        if method == "REGISTER":
            self._on_register(event)
        elif method == "OPTIONS":
            self._respond(request, 200, headers=[("Allow", ALLOW), ("Accept", "application/sdp")])
        elif method == "INVITE":
            if request.to.tag is None:
                self._on_invite(event)
            else:
                self._in_dialog(event)
        elif method == "CANCEL":
            self._on_cancel(event)
        elif method in ("BYE", "INFO", "REFER", "NOTIFY"):
            self._in_dialog(event)
        else:
            self._respond(request, 405)

    # -- registration ------------------------------------------------------------------------

    def _on_register(self, event: RequestReceived) -> None:
        now = self._loop.time()
        outcome = self.registrar.handle_register(event.request, event.source, now)
        if outcome.auth_failed:
            self.guard.record_auth_failure(event.source[0], now)
        self.stack.send_response(outcome.response)
        tenant_id = outcome.tenant_id
        if tenant_id is None or outcome.username is None:
            return
        setup = self.tenants.get(tenant_id)
        center = self.centers.get(tenant_id)
        if setup is None or center is None or not setup.phones.ready_on_register:
            return
        account = self.voice.account(outcome.username)
        if account is None:
            return
        agent_id = account.agent_id
        if outcome.result is RegisterResult.REGISTERED:
            view = center.acd.agent_view(agent_id)
            if view.presence == "logged_out":
                self._run_acd(center, Acd.login, agent_id, now_ms(), ready=True)
        elif outcome.result is RegisterResult.UNREGISTERED and not self.registrar.contacts(
            outcome.username, now
        ):
            self._phone_gone(tenant_id, agent_id)

    def _phone_gone(self, tenant_id: str, agent_id: str) -> None:
        """The agent's last phone registration ended: log the agent out, at once when idle,
        else as soon as the call and its wrap-up are over."""
        center = self.centers.get(tenant_id)
        if center is None:
            return
        view = center.acd.agent_view(agent_id)
        if view.presence == "logged_out":
            return
        if view.contacts:
            self._pending_logout.add((tenant_id, agent_id))
            return
        self._pending_logout.discard((tenant_id, agent_id))
        self._run_acd(center, Acd.logout, agent_id, now_ms())

    def _housekeeping(self) -> None:
        """Every few seconds: expired registrations log their agents out; the guard forgets
        old failures."""
        now = self._loop.time()
        try:
            for binding in self.registrar.advance(now):
                if not self.registrar.contacts(binding.username, now):
                    setup = self.tenants.get(binding.tenant_id)
                    if setup is not None and setup.phones.ready_on_register:
                        self._phone_gone(binding.tenant_id, binding.agent_id)
            self.guard.advance(now)
        except Exception:
            _log.exception("housekeeping failed")
        self._housekeeping_timer = self._loop.call_later(HOUSEKEEPING_S, self._housekeeping)

    # -- inbound calls -----------------------------------------------------------------------

    def _on_invite(self, event: RequestReceived) -> None:
        request = event.request
        uri = request.uri
        number = uri.user if isinstance(uri, SipUri) else None
        route = self.voice.route_number(number) if number else None
        if route is None and self._from_an_agent(event):
            self._on_agent_dialling(event, number or "")
            return
        decision = self.guard.inbound_decision(event.source[0], number or "")
        if route is None or not decision.allowed:
            status = decision.status if not decision.allowed else 404
            self.stats["refused"] += 1
            self._respond(request, status or 404, to_tag=new_tag())
            return
        setup = self.tenants[route.tenant_id]
        flow = setup.flows[route.flow_id]
        try:
            offer = SessionDescription.parse(request.body) if request.body else None
        except SdpError as exc:
            self._respond(request, 400, to_tag=new_tag(), reason=f"Bad SDP ({exc})"[:60])
            return
        if offer is None:
            self._respond(request, 488, to_tag=new_tag())
            return
        self._spawn(self._answer_inbound(event, setup, flow.id, offer))

    def _from_an_agent(self, event: RequestReceived) -> bool:
        """An INVITE to a number that is not ours is an agent dialling out when it carries
        credentials, names an account, or comes from anywhere but a trunk (which is then
        challenged like an unknown user: nothing tells a scanner which names exist)."""
        request = event.request
        if request.authorization:
            return True
        caller = request.from_.uri
        if isinstance(caller, SipUri) and caller.user and self.voice.account(caller.user):
            return True
        return self.voice.trunk_for_source(event.source[0]) is None

    def _on_agent_dialling(self, event: RequestReceived, number: str) -> None:
        """Only an authenticated agent may call out, within the tenant's outbound policy. A dial
        string naming an agent of the tenant rings that agent's phone instead (see
        :mod:`glasshouse.service.voice.transfers` for the order names are looked up in)."""
        request = event.request
        now = self._loop.time()
        auth = self.registrar.authenticate(request, event.source, now)
        if auth.response is not None:
            if auth.failed:
                self.guard.record_auth_failure(event.source[0], now)
            self.stack.send_response(auth.response)
            return
        account = auth.account
        assert account is not None
        setup = self.tenants.get(account.tenant_id)
        if setup is not None:
            callee = self._directory(setup).agent_for(number)
            if callee is not None or not is_number(number):
                self._dial_agent(event, setup, account.agent_id, callee)
                return
        decision = self.guard.outbound_decision(account.tenant_id, account, number, now)
        if not decision.allowed:
            headers = [("Retry-After", str(decision.retry_after))] if decision.retry_after else []
            self.stats["refused"] += 1
            self._respond(request, decision.status or 403, to_tag=new_tag(), headers=headers)
            return
        try:
            offer = SessionDescription.parse(request.body) if request.body else None
        except SdpError:
            offer = None
        voice_tenant = self.voice.tenant(account.tenant_id)
        trunk = voice_tenant.trunks[0] if voice_tenant and voice_tenant.trunks else None
        if offer is None or setup is None or trunk is None:
            if decision.call_ref is not None:
                self.guard.call_ended(decision.call_ref)
            self._respond(request, 488 if offer is None else 503, to_tag=new_tag())
            return
        contact_id = self._new_contact_id(setup)
        refused = self._start_own_call(setup, account.agent_id, contact_id)
        if refused is not None:
            if decision.call_ref is not None:
                self.guard.call_ended(decision.call_ref)
            self.stats["refused"] += 1
            self._respond(request, refused.status, reason=refused.reason, to_tag=new_tag())
            return
        self._spawn(
            self._agent_call(event, setup, account.agent_id, contact_id, offer, decision, trunk)
        )

    async def _agent_call(
        self,
        event: RequestReceived,
        setup: TenantSetup,
        agent_id: str,
        contact_id: str,
        offer: SessionDescription,
        decision: Any,
        trunk: Any,
    ) -> None:
        call = await self._own_call(event, setup, agent_id, contact_id, offer)
        if call is None:
            self.guard.call_ended(decision.call_ref)
            return
        call.outbound_ref = decision.call_ref
        self._log_event(setup.tenant_id, CallDialed(contact_id, agent_id, trunk.name))
        dialled = f"{trunk.dial_prefix}{decision.number}"
        await self._external_leg(
            call, trunk.host, trunk.port, trunk.transport, dialled, trunk.caller_id
        )

    async def _own_call(
        self,
        event: RequestReceived,
        setup: TenantSetup,
        agent_id: str,
        contact_id: str,
        offer: SessionDescription,
    ) -> Call | None:
        """The call an agent's phone places (to the trunk or to another agent), answered with
        180 until the far end answers; None (the INVITE answered, the ACD told) when our media
        cannot be set up."""
        request = event.request
        opened = await self._answering_media(request, offer)
        if opened is None:
            self._own_call_never_placed(setup, contact_id, "no usable media")
            return None
        rtp, session_id, answer = opened
        leg = Leg("caller", request, event.source, event.reliable, rtp, session_id)
        leg.local_sdp = answer.description
        leg.tx_id = event.tx_id
        leg.agent_id = agent_id
        call = Call(
            setup, contact_id, leg, in_ivr=False, outbound=True, started_ms=now_ms(), legs=[leg]
        )
        self.calls[contact_id] = call
        self._by_invite_tx[event.tx_id] = (call, leg)
        self.stats["calls"] += 1
        self._respond(request, 180, to_tag=self._outbound_tag(call))
        return call

    # -- agents' own calls: busy in the ACD, calls between agents -----------------------------

    def _directory(self, setup: TenantSetup) -> Directory:
        voice_tenant = self.voice.tenant(setup.tenant_id)
        return Directory.of(setup, voice_tenant.accounts if voice_tenant else ())

    def _held_contact(self, tenant_id: str, agent_id: str) -> Call | None:
        """The customer's call the agent holds (their consultation is about it), if any."""
        for call in self.calls.values():
            agent = call.agent
            if (
                call.tenant.tenant_id == tenant_id
                and call.held
                and agent is not None
                and agent.agent_id == agent_id
                and not call.released
            ):
                return call
        return None

    def _start_own_call(
        self, setup: TenantSetup, agent_id: str, contact_id: str, *, number: str = ""
    ) -> TransferError | None:
        """Tell the ACD the agent is busy on a call of their own (a consultation when they hold
        a customer), so it offers them nothing meanwhile; the refusal to answer with, if any.
        An agent who is not logged in to the ACD calls without it."""
        center = self.centers[setup.tenant_id]
        try:
            view = center.acd.agent_view(agent_id)
        except AcdError:
            return None
        if view.presence == "logged_out":
            return None
        held = self._held_contact(setup.tenant_id, agent_id)
        try:
            center.run(
                Acd.start_outbound,
                agent_id,
                contact_id,
                now_ms(),
                number=number,
                consult_for=held.contact_id if held is not None else None,
            )
        except AcdError as exc:
            _log.info("agent %s may not call now: %s", agent_id, exc)
            return TransferError(486, "Busy Here (already on a call)")
        finally:
            self._arm_acd(center)
        return None

    def _own_call_never_placed(self, setup: TenantSetup, contact_id: str, why: str) -> None:
        center = self.centers[setup.tenant_id]
        if center.acd.contact_phase(contact_id) is not None:
            self._run_acd(center, Acd.outbound_failed, contact_id, now_ms(), reason=why)

    def _own_call_over(self, call: Call, by: str, cause: str) -> None:
        """An agent's own call is released: the ACD frees whoever it kept busy for it (the
        caller, and the agent called when it was a call between agents)."""
        center = self._acd(call)
        if center.acd.contact_phase(call.contact_id) is None:
            return  # never told (the agent was not logged in), or handed over by a transfer
        if not call.caller.answered:
            self._run_acd(center, Acd.outbound_failed, call.contact_id, now_ms(), reason=cause)
            return
        peer = call.external
        if by not in ("agent", "system"):
            by = "agent" if peer is not None and peer.agent_id else "customer"
        # One hang-up ends the call for both agents of a call between agents.
        self._run_acd(center, Acd.hangup, call.contact_id, now_ms(), by=by)

    def _dial_agent(
        self, event: RequestReceived, setup: TenantSetup, agent_id: str, callee: str | None
    ) -> None:
        """An agent calls another agent of the tenant: the callee's registered phone rings
        (never through a trunk). 404 for no such agent, 480 when their phone is not
        registered, 486 when they are on the phone."""
        request = event.request
        if callee is None:
            self._respond(request, 404, reason="No such agent or number", to_tag=new_tag())
            return
        if callee == agent_id:
            self._respond(request, 403, reason="Calling oneself", to_tag=new_tag())
            return
        account = self._accounts_by_agent.get((setup.tenant_id, callee))
        bindings = self.registrar.contacts(account.username, self._loop.time()) if account else []
        if not bindings:
            self._respond(request, 480, reason="Agent's phone not registered", to_tag=new_tag())
            return
        center = self.centers[setup.tenant_id]
        if center.acd.agent_view(callee).contacts:
            # Ringing, talking or in after-call work: the ACD would not let them take it.
            self._respond(request, 486, reason="Agent busy", to_tag=new_tag())
            return
        try:
            offer = SessionDescription.parse(request.body) if request.body else None
        except SdpError as exc:
            self._respond(request, 400, to_tag=new_tag(), reason=f"Bad SDP ({exc})"[:60])
            return
        if offer is None:
            self._respond(request, 488, to_tag=new_tag())
            return
        contact_id = self._new_contact_id(setup)
        refused = self._start_own_call(setup, agent_id, contact_id, number=f"agent:{callee}")
        if refused is not None:
            self._respond(request, refused.status, reason=refused.reason, to_tag=new_tag())
            return
        self._spawn(
            self._internal_call(event, setup, agent_id, contact_id, offer, callee, bindings[-1])
        )

    async def _internal_call(
        self,
        event: RequestReceived,
        setup: TenantSetup,
        agent_id: str,
        contact_id: str,
        offer: SessionDescription,
        callee: str,
        binding: Binding,
    ) -> None:
        call = await self._own_call(event, setup, agent_id, contact_id, offer)
        if call is None:
            return
        headers = [("X-Glasshouse-Contact-Id", contact_id), ("X-Glasshouse-Agent", agent_id)]
        held = self._held_contact(setup.tenant_id, agent_id)
        if held is not None:
            # A consultation: the callee sees the customer's screen pop before taking them.
            headers.append(("X-Glasshouse-Consult-For", held.contact_id))
            headers += [h for h in _context_headers(held) if h[0] != "X-Glasshouse-Contact-Id"]
        rtp = await self.media.open_session()
        if call.released:
            rtp.close()
            return
        session_id = str(secrets.randbelow(10**9))
        offer_out = build_offer(self.host, rtp.port, session_id=session_id)
        try:
            invite = new_request(
                "INVITE",
                binding.contact_uri,
                from_addr=NameAddr(
                    uri=SipUri(host=self.host, user=_safe_user(agent_id), port=self.port),
                    display_name=agent_id,
                ),
                to_addr=NameAddr(uri=SipUri(host=self.host, user=binding.username, port=self.port)),
                contact=NameAddr(uri=SipUri(host=self.host, user="glasshouse", port=self.port)),
                body=bytes(offer_out),
                content_type="application/sdp",
                extra_headers=headers,
            )
        except (SipParseError, ValueError) as exc:
            _log.warning("cannot call agent %s: %s", callee, exc)
            rtp.close()
            call.caller.ended = True
            self._respond(call.caller.invite, 480, to_tag=self._outbound_tag(call))
            self._release(call, "system", "callee unreachable")
            return
        reliable = binding.transport.upper() == "TCP"
        invite = with_via(invite, self.host, self.port, "TCP" if reliable else "UDP")
        # The callee's leg is the call's far end, as a trunk's would be: its failure, answer
        # and BYE take the same paths; ``agent_id`` says it is an agent's phone.
        leg = Leg("external", invite, binding.source, reliable, rtp, session_id, agent_id=callee)
        leg.local_sdp = offer_out
        call.external = leg
        call.legs.append(leg)
        leg.tx_id = self.stack.send_request(invite, binding.source, reliable=reliable)
        self._by_invite_tx[leg.tx_id] = (call, leg)
        self._loop.call_later(
            setup.phones.colleague_ring_s, self._colleague_rang_out, call, leg, callee
        )

    def _colleague_rang_out(self, call: Call, leg: Leg, callee: str) -> None:
        """The colleague did not answer in time: their phone stops ringing (CANCEL) and the
        calling agent gets 480."""
        if leg.answered or leg.ended or call.external is not leg or call.released:
            return
        self._cancel_agent(leg)
        self._external_failed(call, leg, f"agent {callee} did not answer", 480)

    async def _answering_media(
        self, request: SipRequest, offer: SessionDescription
    ) -> tuple[RtpSession, str, Any] | None:
        """Our RTP session and SDP answer to ``offer``; None (and 488 sent) when no stream of
        the offer can be used."""
        rtp = await self.media.open_session()
        session_id = str(secrets.randbelow(10**9))
        answer = build_answer(offer, self.host, rtp.port, session_id=session_id)
        if answer.audio is None:
            rtp.close()
            self._respond(request, 488, to_tag=new_tag())
            return None
        self._apply_remote(rtp, answer.audio)
        return rtp, session_id, answer

    def _new_contact_id(self, setup: TenantSetup) -> str:
        return f"{setup.tenant_id}-{int(time.time())}-{next(self._ids)}"

    def _outbound_tag(self, call: Call) -> str:
        if not call.caller_tag:
            call.caller_tag = new_tag()
        return call.caller_tag

    async def _answer_inbound(
        self,
        event: RequestReceived,
        setup: TenantSetup,
        flow_id: str,
        offer: SessionDescription,
    ) -> None:
        request = event.request
        opened = await self._answering_media(request, offer)
        if opened is None:
            return
        rtp, session_id, answer = opened
        contact_id = self._new_contact_id(setup)
        caller = Leg("caller", request, event.source, event.reliable, rtp, session_id)
        caller.local_sdp = answer.description
        call = Call(setup, contact_id, caller, started_ms=now_ms(), legs=[caller])
        caller_uri = request.from_.uri
        if isinstance(caller_uri, SipUri) and caller_uri.user:
            call.variables["caller"] = caller_uri.user
        call.caller_tag = new_tag()
        caller.tx_id = event.tx_id
        self.calls[contact_id] = call
        self._by_invite_tx[event.tx_id] = (call, caller)
        self.stats["calls"] += 1
        rtp.on_dtmf = lambda digit: self._on_digit(call, digit)
        center = self.centers[setup.tenant_id]
        number = request.uri.user if isinstance(request.uri, SipUri) else ""
        self._run_acd(center, Acd.arrive, contact_id, now_ms(), entry=number or "")
        flow = setup.flows[flow_id]
        if flow.early_media:
            # Unreliable 183 with our SDP (RFC 3261 13.3.1.1; no 100rel): the flow's prompts
            # play as early media and the 200 waits until the flow needs the caller.
            progress = self._caller_response(call, 183)
            self.stack.send_response(progress)
        else:
            self._answer_caller(call)
        call.run = FlowRun(
            flow,
            call_id=contact_id,
            variables=call.variables,
            now_ms=now_ms(),
            callback_check=self.callbacks.check(setup.tenant_id),
        )
        self._ivr(call, call.run.start(now_ms()))

    def _caller_response(self, call: Call, status: int) -> SipResponse:
        """Our 183 or 200 to the caller's INVITE: its To tag, our Contact and our SDP answer."""
        caller = call.caller
        response = make_response(
            caller.invite,
            status,
            to_tag=self._outbound_tag(call),
            headers=[
                ("Contact", f"<sip:glasshouse@{self._hostport()}>"),
                ("Allow", ALLOW),
                ("Content-Type", "application/sdp"),
            ],
        )
        response.body = bytes(caller.local_sdp) if caller.local_sdp else b""
        return response

    def _answer_caller(self, call: Call) -> None:
        """Answer an inbound caller (at once, or when an early-media flow needs them)."""
        caller = call.caller
        ok = self._caller_response(call, 200)
        caller.dialog = Dialog.as_uas(caller.invite, ok)
        caller.answered = True
        self._by_dialog[(caller.invite.call_id, self._outbound_tag(call))] = (call, caller)
        self.stack.send_response(ok)

    @staticmethod
    def _needs_answer(run: FlowRun, actions: list[Action]) -> bool:
        """An early-media flow is answered when it reaches a node that needs the caller (menu,
        collect, queue, voicemail, callback, transfer, survey), before that node acts."""
        node = run.flow.nodes.get(run.node_id or "")
        if node is not None and node.TYPE in ANSWERING_TYPES:
            return True
        return any(isinstance(a, Step) and a.node_type in ANSWERING_TYPES for a in actions)

    def _hostport(self) -> str:
        return f"{self.host}:{self.port}"

    @staticmethod
    def _apply_remote(rtp: RtpSession, audio: NegotiatedAudio) -> None:
        if audio.remote_address and audio.remote_port:
            rtp.set_remote(
                (audio.remote_address, audio.remote_port),
                audio.codec.payload_type,
                audio.telephone_event,
            )

    # -- IVR ---------------------------------------------------------------------------------

    @staticmethod
    def _flow_active(call: Call) -> bool:
        return (call.in_ivr or call.surveying) and not call.released

    def _on_digit(self, call: Call, digit: str) -> None:
        if call.voicemail is not None and digit == "#":
            self._end_voicemail(call, "customer")
            return
        if call.run is not None and self._flow_active(call):
            self._ivr(call, call.run.digits(digit, now_ms()))

    def _ivr(self, call: Call, actions: list[Action]) -> None:
        if call.released or call.run is None:
            return
        caller = call.caller
        if not caller.answered and not caller.ended and self._needs_answer(call.run, actions):
            self._answer_caller(call)  # an early-media flow reached a node that needs the caller
        tenant_id = call.tenant.tenant_id
        flow = call.run
        for action in actions:
            if isinstance(action, Step):
                self._log_event(
                    tenant_id,
                    IvrStep(
                        call.contact_id,
                        flow_id=flow.flow.id,
                        flow_version=flow.flow.version,
                        node_id=action.node_id,
                        node_type=action.node_type,
                        outcome=action.outcome,
                    ),
                )
            elif isinstance(action, Play):
                self._play(call, action)
            elif isinstance(action, StopPlay):
                call.caller.rtp.stop_playing()
            elif isinstance(action, HttpRequest):
                self._spawn(self._http(call, action))
            elif isinstance(action, Enqueue):
                self._enqueue(call, action)
            elif isinstance(action, SurveyAnswer):
                self._log_event(
                    tenant_id,
                    SurveyAnswered(
                        call.contact_id, action.survey_id, action.question_id, str(action.value)
                    ),
                )
            elif isinstance(action, StartSurvey):
                pass  # the questions follow as Play actions
            elif isinstance(action, Hangup):
                self._ivr_hangup(call, action.reason)
            elif isinstance(action, TransferExternal):
                self._ivr_transfer(call, action)
            elif isinstance(action, RecordVoicemail):
                self._start_voicemail(call, action)
            elif isinstance(action, RequestCallback):
                # Queued as a callback; the flow goes on (it usually says goodbye).
                self.callbacks.request(call, action)
        self._arm_ivr(call)

    def _arm_ivr(self, call: Call) -> None:
        if call.ivr_timer is not None:
            call.ivr_timer.cancel()
            call.ivr_timer = None
        run = call.run
        if run is None or not self._flow_active(call):
            return
        deadline = run.next_deadline()
        if deadline is None:
            return
        delay = max(0.0, (deadline - now_ms()) / 1000)
        call.ivr_timer = self._loop.call_later(delay, self._fire_ivr, call)

    def _fire_ivr(self, call: Call) -> None:
        call.ivr_timer = None
        if call.run is not None and not call.released:
            self._ivr(call, call.run.advance(now_ms()))

    def _play(self, call: Call, action: Play) -> None:
        call.play_seq += 1
        seq = call.play_seq

        async def start() -> None:
            source = await self.kit.source(call.tenant.tenant_id, action.prompts)
            if call.released or seq != call.play_seq:
                return

            def done() -> None:
                if call.run is not None and self._flow_active(call):
                    self._ivr(call, call.run.play_finished(now_ms(), play_id=action.play_id))

            call.caller.rtp.play(source, on_done=done)

        self._spawn(start())

    async def _http(self, call: Call, action: HttpRequest) -> None:
        def fetch() -> tuple[int | None, Any, str | None]:
            request = urllib.request.Request(
                action.url,
                data=json.dumps(dict(action.body)).encode() if action.body is not None else None,
                method=action.method,
                headers={
                    **dict(action.headers),
                    **({"Content-Type": "application/json"} if action.body is not None else {}),
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=action.timeout_ms / 1000) as resp:
                    raw = resp.read(256 * 1024)
                    status = resp.status
            except urllib.error.HTTPError as exc:
                return exc.code, None, None
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                return None, None, "timeout" if "timed out" in str(exc) else "unreachable"
            try:
                body = json.loads(raw.decode("utf-8")) if raw else None
            except ValueError:
                body = None
            return status, body if isinstance(body, dict) else None, None

        status, body, error = await asyncio.to_thread(fetch)
        if call.run is not None and self._flow_active(call):
            self._ivr(
                call,
                call.run.http_result(status, body, error, now_ms(), request_id=action.request_id),
            )

    def _start_voicemail(self, call: Call, action: RecordVoicemail) -> None:
        """The greeting and a beep, then the caller's voice into the mailbox until ``#``, the
        time limit or the hang-up."""
        if call.in_ivr:
            call.in_ivr = False
            self._run_acd(self._acd(call), Acd.ivr_completed, call.contact_id, now_ms())
        call.voicemail_box = action.box

        async def start() -> None:
            greeting = await self.kit.source(call.tenant.tenant_id, action.prompt)
            if call.released:
                return

            def record() -> None:
                if call.released:
                    return
                index = self.kit.recordings(call.tenant.tenant_id)
                try:
                    recorder = index.start(f"{call.contact_id}-vm", now_ms(), channels=1)
                except Exception:
                    _log.exception("voicemail of %s not started", call.contact_id)
                    self._ivr_hangup(call, "voicemail failed")
                    return
                call.voicemail = recorder
                clock = _MediaClock(self._loop, self._loop.time())

                def on_audio(payload_type: int, payload: bytes, ts: int) -> None:
                    if call.voicemail is not recorder or recorder.closed:
                        return
                    law = G711Law.PCMU if payload_type == 0 else G711Law.PCMA
                    recorder.write(0, decode(law, payload), clock.place(ts))

                call.caller.rtp.add_audio_listener(on_audio)
                call.voicemail_timer = self._loop.call_later(
                    action.max_seconds, self._end_voicemail, call, "system"
                )

            beep = Playlist([greeting, ToneSource(1000, 300)])
            call.caller.rtp.play(beep, on_done=record)

        self._spawn(start())

    def _end_voicemail(self, call: Call, by: str) -> None:
        recorder, call.voicemail = call.voicemail, None
        if call.voicemail_timer is not None:
            call.voicemail_timer.cancel()
            call.voicemail_timer = None
        if recorder is None:
            return
        try:
            info = recorder.close()
        except Exception:
            _log.exception("voicemail of %s not closed cleanly", call.contact_id)
        else:
            self._log_event(
                call.tenant.tenant_id,
                VoicemailRecorded(
                    call.contact_id, call.voicemail_box, f"{call.contact_id}-vm", info.duration_ms
                ),
            )
        if by != "customer" or not call.caller.ended:
            self._bye(call, call.caller)
        self._release(call, by, "voicemail")

    def _ivr_hangup(self, call: Call, reason: str) -> None:
        center = self._acd(call)
        if call.in_ivr:
            call.in_ivr = False
            if not call.callback_requested:  # else the contact waits in the ACD as a callback
                self._run_acd(center, Acd.ivr_completed, call.contact_id, now_ms())
        caller = call.caller
        if not caller.answered and not caller.ended:
            # An early-media flow ended before needing the caller: never answered, never billed.
            caller.ended = True
            status = _early_rejection(reason)
            self._respond(caller.invite, status, to_tag=self._outbound_tag(call))
        else:
            self._bye(call, caller)
        self._release(call, "system", f"ivr {reason}")

    def _enqueue(self, call: Call, action: Enqueue) -> None:
        call.variables.update(action.variables)
        call.queue_id = action.queue_id
        center = self._acd(call)
        ok = self._run_acd(
            center,
            Acd.enqueue,
            call.contact_id,
            action.queue_id,
            now_ms(),
            priority=action.priority,
            skills=dict(action.skills),
        )
        call.in_ivr = False
        if call.ivr_timer is not None:
            call.ivr_timer.cancel()
        if not ok:
            self._bye(call, call.caller)
            self._release(call, "system", "no route")
            return
        if call.contact_id in center.acd.contact_ids() and not call.talking:
            call.queued = True
            self._start_waiting_media(call)

    def _start_waiting_media(self, call: Call) -> None:
        media = call.tenant.media
        if media.moh:
            call.caller.rtp.play(self.kit.music())
        else:
            call.caller.rtp.stop_playing()
        if media.announce_every_s > 0 and call.announce_task is None:
            call.announce_task = self._spawn(self._announce(call))

    async def _announce(self, call: Call) -> None:
        every = call.tenant.media.announce_every_s
        acd = self._acd(call).acd
        try:
            while True:
                await asyncio.sleep(every)
                if call.released or not call.queued or call.talking or call.agent is not None:
                    return
                if acd.contact_phase(call.contact_id) != "waiting":
                    continue
                source = await self.kit.announcement(
                    call.tenant.tenant_id,
                    acd.position(call.contact_id),
                    acd.expected_wait_s(call.contact_id),
                    call.tenant.media.voice,
                )
                if call.released or not call.queued or call.agent is not None:
                    return

                def back_to_music(call: Call = call) -> None:
                    if call.queued and not call.released and call.agent is None:
                        self._start_waiting_media_music(call)

                call.caller.rtp.play(source, on_done=back_to_music)
        except asyncio.CancelledError:
            return

    def _start_waiting_media_music(self, call: Call) -> None:
        if call.tenant.media.moh:
            call.caller.rtp.play(self.kit.music())

    # -- the ACD's decisions -----------------------------------------------------------------

    def _on_acd_events(self, events: list[Event]) -> None:
        self._acd_queue.append(events)
        if self._acd_busy:
            return
        self._acd_busy = True
        try:
            while self._acd_queue:
                for event in self._acd_queue.popleft():
                    try:
                        self._on_acd_event(event)
                    except Exception:
                        _log.exception("acting on %s failed", event.type)
        finally:
            self._acd_busy = False

    def _on_acd_event(self, event: Event) -> None:
        body: Any = event.body
        kind = event.type
        if kind == "contact.offered":
            call = self.calls.get(body.contact_id)
            if call is not None:
                self._spawn(self._ring_agent(call, body.agent_id))
        elif kind in ("agent.acw_ended", "agent.ready", "agent.not_ready"):
            key = (event.tenant, body.agent_id)
            if key in self._pending_logout:
                self._phone_gone(*key)
        elif kind in ("contact.ring_no_answer", "contact.offer_withdrawn"):
            call = self.calls.get(body.contact_id)
            if call is not None and call.agent is not None and call.agent.agent_id == body.agent_id:
                leg = call.agent
                call.agent = None
                self._cancel_agent(leg)
        elif kind in ("callback.dialing", "callback.failed"):
            self.callbacks.on_acd_event(event)

    async def _ring_agent(self, call: Call, agent_id: str) -> None:
        tenant_id = call.tenant.tenant_id
        center = self.centers[tenant_id]
        account = self._accounts_by_agent.get((tenant_id, agent_id))
        bindings: list[Binding] = (
            self.registrar.contacts(account.username, self._loop.time()) if account else []
        )
        if not bindings:
            self._run_acd(center, Acd.decline, agent_id, call.contact_id, now_ms())
            return
        binding = bindings[-1]
        rtp = await self.media.open_session()
        if call.released:
            rtp.close()
            return
        session_id = str(secrets.randbelow(10**9))
        offer = build_offer(self.host, rtp.port, session_id=session_id)
        caller_user = call.variables.get("caller", "anonymous")
        headers = _context_headers(call)
        try:
            invite = new_request(
                "INVITE",
                binding.contact_uri,
                from_addr=NameAddr(
                    uri=SipUri(host=self.host, user=_safe_user(caller_user), port=self.port),
                    display_name=call.queue_id or None,
                ),
                to_addr=NameAddr(uri=SipUri(host=self.host, user=binding.username, port=self.port)),
                contact=NameAddr(uri=SipUri(host=self.host, user="glasshouse", port=self.port)),
                body=bytes(offer),
                content_type="application/sdp",
                extra_headers=headers,
            )
        except (SipParseError, ValueError) as exc:
            _log.warning("cannot call agent %s: %s", agent_id, exc)
            rtp.close()
            self._run_acd(center, Acd.decline, agent_id, call.contact_id, now_ms())
            return
        reliable = binding.transport.upper() == "TCP"
        invite = with_via(invite, self.host, self.port, "TCP" if reliable else "UDP")
        leg = Leg("agent", invite, binding.source, reliable, rtp, session_id, agent_id=agent_id)
        leg.local_sdp = offer
        call.agent = leg
        call.legs.append(leg)
        leg.tx_id = self.stack.send_request(invite, binding.source, reliable=reliable)
        self._by_invite_tx[leg.tx_id] = (call, leg)

    def _forget(self, leg: Leg) -> None:
        """Drop every look-up entry of a leg that is over (they would keep the call alive)."""
        self._by_invite_tx.pop(leg.tx_id, None)
        if leg.dialog is not None:
            self._by_dialog.pop((leg.dialog.call_id, leg.dialog.local_tag), None)

    def _cancel_agent(self, leg: Leg) -> None:
        if leg.answered or leg.ended:
            self._forget(leg)
        else:
            # A 2xx crossing our CANCEL must still find the leg, to be acknowledged and ended.
            self._loop.call_later(LINGER_S, self._forget, leg)
        if leg.ended:
            return
        leg.ended = True
        if leg.answered:
            self._bye_leg(leg)
        else:
            try:
                cancel = make_cancel(leg.invite)
                self.stack.send_request(cancel, leg.dest, reliable=leg.reliable)
            except Exception:
                _log.exception("cannot cancel the call to agent %s", leg.agent_id)
        leg.rtp.close()

    def _agent_failed(self, call: Call, leg: Leg, why: str) -> None:
        self._by_invite_tx.pop(leg.tx_id, None)
        if call.agent is not leg or call.released:
            return
        call.agent = None
        leg.ended = True
        leg.rtp.close()
        _log.info("agent %s did not take %s: %s", leg.agent_id, call.contact_id, why)
        self._run_acd(self._acd(call), Acd.decline, leg.agent_id, call.contact_id, now_ms())

    def _on_response(self, event: ResponseReceived) -> None:
        found = self._by_invite_tx.get(event.tx_id)
        if found is None:
            return  # BYE, CANCEL and other responses need nothing more
        call, leg = found
        response = event.response
        status = response.status
        if status < 200:
            return
        if status >= 300:
            if call.callback is not None:
                self.callbacks.on_failure(call, leg, f"{status} {response.reason}")
            elif leg.role == "external":
                self._external_failed(call, leg, f"{status} {response.reason}", status)
            else:
                self._agent_failed(call, leg, f"{status} {response.reason}")
            return
        # 2xx: acknowledge every one (retransmissions too), act on the first.
        if leg.dialog is None:
            try:
                leg.dialog = Dialog.as_uac(leg.invite, response)
            except Exception:
                _log.exception("bad 2xx from agent %s", leg.agent_id)
                return
        if leg.ack is None:  # the same ACK answers every retransmission of the 2xx
            ack = leg.dialog.create_ack(leg.invite.cseq.number)
            leg.ack = with_via(ack, self.host, self.port, "TCP" if leg.reliable else "UDP")
        self.stack.send_ack(leg.ack, leg.dest, reliable=leg.reliable)
        if event.retransmission or leg.answered:
            return
        if call.callback is not None:
            self.callbacks.on_answer(call, leg, response)
            return
        if leg.role == "external":
            self._external_answered(call, leg, response)
            return
        if call.agent is not leg or call.released or leg.ended:
            self._bye_leg(leg)
            leg.ended = True
            leg.rtp.close()
            return
        try:
            answer_sdp = SessionDescription.parse(response.body)
            audio = accept_answer(leg.local_sdp, answer_sdp) if leg.local_sdp else None
        except SdpError:
            audio = None
        if audio is None:
            self._bye_leg(leg)
            self._agent_failed(call, leg, "no usable media in the answer")
            return
        self._apply_remote(leg.rtp, audio)
        leg.answered = True
        tag = leg.dialog.local_tag
        self._by_dialog[(leg.dialog.call_id, tag)] = (call, leg)
        center = self._acd(call)
        if not self._run_acd(center, Acd.answer, leg.agent_id, call.contact_id, now_ms()):
            self._bye_leg(leg)
            leg.ended = True
            leg.rtp.close()
            call.agent = None
            return
        self._connect(call, leg)

    def _connect(self, call: Call, leg: Leg) -> None:
        call.talking = True
        call.queued = False
        self.stats["answered"] += 1
        if call.announce_task is not None:
            call.announce_task.cancel()
            call.announce_task = None
        call.caller.rtp.stop_playing()
        leg.rtp.stop_playing()
        # The end packets of the key that chose the queue may still be arriving.
        call.caller.rtp.dtmf_quiet_until = self._loop.time() + DTMF_TAIL_S
        bridge(call.caller.rtp, leg.rtp)
        if call.recorder is not None:
            self._record_agent(call, leg)  # transferred: the new agent joins the recording
        elif call.tenant.media.record:
            self._start_recording(call)

    def _start_recording(self, call: Call) -> None:
        index = self.kit.recordings(call.tenant.tenant_id)
        started = now_ms()
        try:
            recorder = index.start(call.contact_id, started)
        except Exception:
            _log.exception("recording of %s not started", call.contact_id)
            return
        call.recorder = recorder
        call.recording_id = call.contact_id
        self._log_event(call.tenant.tenant_id, RecordingStarted(call.contact_id, call.recording_id))
        origin = call.recording_origin = self._loop.time()

        def listener(channel: int) -> Any:
            clock = _MediaClock(self._loop, origin)

            def on_audio(payload_type: int, payload: bytes, ts: int) -> None:
                if call.recorder is None or call.recorder.closed:
                    return
                law = G711Law.PCMU if payload_type == 0 else G711Law.PCMA
                at_ms = clock.place(ts)
                try:
                    call.recorder.write(channel, decode(law, payload), at_ms)
                except Exception:
                    _log.exception("recording write failed for %s", call.contact_id)

            return on_audio

        call.caller.rtp.add_audio_listener(listener(0))
        if call.agent is not None:
            call.agent.rtp.add_audio_listener(listener(1))

    def _stop_recording(self, call: Call) -> None:
        recorder, call.recorder = call.recorder, None
        if recorder is None or recorder.closed:
            return
        try:
            info = recorder.close()
        except Exception:
            _log.exception("recording of %s not closed cleanly", call.contact_id)
            return
        self._log_event(
            call.tenant.tenant_id,
            RecordingStopped(call.contact_id, call.recording_id, info.duration_ms),
        )

    # -- calls out through a trunk ------------------------------------------------------------

    def _ivr_transfer(self, call: Call, action: TransferExternal) -> None:
        """The flow sends the caller to an outside number (the client's own line, say)."""
        call.variables.update(action.variables)
        if call.in_ivr:
            call.in_ivr = False
            if call.ivr_timer is not None:
                call.ivr_timer.cancel()
            self._run_acd(self._acd(call), Acd.ivr_completed, call.contact_id, now_ms())
        if not self._dial_external(call, action.number):
            self._bye(call, call.caller)
            self._release(call, "system", "transfer refused")

    def _dial_external(self, call: Call, number: str) -> bool:
        """Call ``number`` through the tenant's trunk and bridge it to the caller when it
        answers; the caller hears music meanwhile. False when no trunk may take the call."""
        tenant_id = call.tenant.tenant_id
        voice_tenant = self.voice.tenant(tenant_id)
        trunk = voice_tenant.trunks[0] if voice_tenant and voice_tenant.trunks else None
        if trunk is None:
            _log.warning("tenant %s: no trunk to transfer %s to", tenant_id, call.contact_id)
            return False
        decision = self.guard.outbound_decision(tenant_id, trunk, number, self._loop.time())
        if not decision.allowed:
            _log.warning("tenant %s: transfer refused: %s", tenant_id, decision.reason)
            return False
        call.outbound_ref = decision.call_ref
        dialled = f"{trunk.dial_prefix}{decision.number or number}"
        self._spawn(
            self._external_leg(
                call, trunk.host, trunk.port, trunk.transport, dialled, trunk.caller_id
            )
        )
        if call.tenant.media.moh:
            call.caller.rtp.play(self.kit.music())
        return True

    async def _external_leg(
        self, call: Call, host: str, port: int, transport: str, user: str, caller_id: str | None
    ) -> None:
        rtp = await self.media.open_session()
        if call.released:
            rtp.close()
            return
        session_id = str(secrets.randbelow(10**9))
        offer = build_offer(self.host, rtp.port, session_id=session_id)
        headers = _context_headers(call)  # the call's context goes with it, as a screen pop
        reliable = transport.lower() == "tcp"
        invite = new_request(
            "INVITE",
            SipUri(host=host, user=_safe_user(user), port=port),
            from_addr=NameAddr(
                uri=SipUri(
                    host=self.host, user=_safe_user(caller_id or "glasshouse"), port=self.port
                )
            ),
            to_addr=NameAddr(uri=SipUri(host=host, user=_safe_user(user), port=port)),
            contact=NameAddr(uri=SipUri(host=self.host, user="glasshouse", port=self.port)),
            body=bytes(offer),
            content_type="application/sdp",
            extra_headers=headers,
        )
        invite = with_via(invite, self.host, self.port, "TCP" if reliable else "UDP")
        leg = Leg("external", invite, (host, port), reliable, rtp, session_id)
        leg.local_sdp = offer
        call.external = leg
        call.legs.append(leg)
        leg.tx_id = self.stack.send_request(invite, (host, port), reliable=reliable)
        self._by_invite_tx[leg.tx_id] = (call, leg)

    def _external_answered(self, call: Call, leg: Leg, response: Any) -> None:
        if call.external is not leg or call.released or leg.ended:
            self._bye_leg(leg)
            leg.ended = True
            leg.rtp.close()
            return
        try:
            answer_sdp = SessionDescription.parse(response.body)
            audio = accept_answer(leg.local_sdp, answer_sdp) if leg.local_sdp else None
        except SdpError:
            audio = None
        if audio is None or leg.dialog is None:
            self._bye_leg(leg)
            self._external_failed(call, leg, "no usable media in the answer")
            return
        self._apply_remote(leg.rtp, audio)
        leg.answered = True
        self._by_dialog[(leg.dialog.call_id, leg.dialog.local_tag)] = (call, leg)
        if call.outbound and not call.caller.answered:
            self._answer_agent_call(call)
        call.caller.rtp.stop_playing()
        leg.rtp.stop_playing()
        bridge(call.caller.rtp, leg.rtp)

    def _answer_agent_call(self, call: Call) -> None:
        """The far end of an agent's own call answered: so does the switch, to the agent's
        phone. A colleague who answered is busy with the call in the ACD too."""
        caller = call.caller
        ok = make_response(
            caller.invite,
            200,
            to_tag=self._outbound_tag(call),
            headers=[
                ("Contact", f"<sip:glasshouse@{self._hostport()}>"),
                ("Allow", ALLOW),
                ("Content-Type", "application/sdp"),
            ],
        )
        ok.body = bytes(caller.local_sdp) if caller.local_sdp else b""
        caller.dialog = Dialog.as_uas(caller.invite, ok)
        caller.answered = True
        self._by_dialog[(caller.invite.call_id, self._outbound_tag(call))] = (call, caller)
        self.stack.send_response(ok)
        peer = call.external
        center = self._acd(call)
        if peer is not None and peer.agent_id and center.acd.contact_phase(call.contact_id):
            try:
                center.run(Acd.start_inbound_consult, peer.agent_id, call.contact_id, now_ms())
            except AcdError as exc:
                # Answered already: the call goes on, the colleague is just not marked busy.
                _log.info("agent %s took a call the ACD cannot count: %s", peer.agent_id, exc)
            finally:
                self._arm_acd(center)

    def _external_failed(self, call: Call, leg: Leg, why: str, status: int = 480) -> None:
        self._by_invite_tx.pop(leg.tx_id, None)
        leg.ended = True
        leg.rtp.close()
        if call.external is not leg or call.released:
            return
        call.external = None
        _log.info("call out of %s failed: %s", call.contact_id, why)
        if call.outbound and not call.caller.answered:
            call.caller.ended = True
            self._respond(call.caller.invite, status, to_tag=self._outbound_tag(call))
            self._release(call, "external", f"failed: {why}"[:80])
            return
        self._bye(call, call.caller)
        self._release(call, "system", f"transfer failed: {why}"[:80])

    def _on_refer(self, call: Call, leg: Leg, request: SipRequest) -> None:
        """An agent's transfer (RFC 3515). Blind: the Refer-To names an agent, a queue or an
        outside number (reached through the trunk). Attended (RFC 5589 7): the Refer-To carries
        a Replaces naming the agent's consultation (or, sent on the consultation, the customer's
        call): the customer is bridged to the consulted party and the agent let go. Answered
        202, then NOTIFYs with the progress as sipfrag; a transfer that cannot be made leaves
        the calls as they were."""
        own_call = call.outbound and leg is call.caller
        if not ((leg.role == "agent" and call.talking) or (own_call and call.caller.answered)):
            self._respond(request, 403, reason="No transferable call in this dialog")
            return
        try:
            target = refer_target(request.refer_to, self._directory(call.tenant))
        except SipParseError as exc:
            self._respond(request, 400, reason=f"Bad Refer-To ({exc})"[:80])
            return
        except TransferError as exc:
            if exc.status != 404:
                self._respond(request, exc.status, reason=exc.reason)
                return
            # A well-formed request naming nothing we know: reported like any failed transfer.
            self._respond(request, 202)
            self._notify_refer(leg, request, exc.status, exc.reason)
            return
        if target.replaces is None and own_call:
            self._respond(request, 403, reason="Only a customer's call can be transferred")
            return
        self._respond(request, 202)
        self._notify_refer(leg, request, 100)
        try:
            if target.replaces is not None:
                self._attended_transfer(call, leg, request, target.replaces)
            elif target.kind == "external":
                self._blind_external(call, leg, request, target)
            else:
                self._blind_transfer(call, leg, request, target)
        except TransferError as exc:
            self._notify_refer(leg, request, exc.status, exc.reason)

    def _notify_refer(
        self, leg: Leg, refer: SipRequest, status: int, reason: str | None = None
    ) -> None:
        """Report a REFER's progress in its dialog (RFC 3515 2.4.4): a provisional status keeps
        the implicit subscription active, a final one ends it."""
        if leg.dialog is None or leg.ended:
            return
        state = "active;expires=60" if status < 200 else "terminated;reason=noresource"
        try:
            notify = leg.dialog.create_request(
                "NOTIFY",
                body=sipfrag(status, reason),
                content_type="message/sipfrag;version=2.0",
                extra_headers=[
                    ("Event", f"refer;id={refer.cseq.number}"),
                    ("Subscription-State", state),
                ],
            )
            notify = with_via(notify, self.host, self.port, "TCP" if leg.reliable else "UDP")
            self.stack.send_request(notify, leg.dest, reliable=leg.reliable)
        except Exception:
            _log.exception("NOTIFY of a transfer not sent to agent %s", leg.agent_id)

    def _let_transferor_go(self, call: Call, leg: Leg, refer: SipRequest) -> None:
        """The transfer is made: the final NOTIFY, then BYE to the transferring agent's leg."""
        self._notify_refer(leg, refer, 200)
        if call.agent is leg:
            call.agent = None
        self._bye(call, leg)
        leg.rtp.close()

    def _transfer_refused(self, exc: AcdError, center: ContactCenter, agent_id: str) -> None:
        phases: list[str] = []
        if agent_id:
            with contextlib.suppress(AcdError):
                phases = [phase for _, phase in center.acd.agent_view(agent_id).contacts]
        _log.info("tenant %s: transfer refused by the ACD: %s", center.tenant, exc)
        raise refusal(exc, phases) from None

    def _blind_transfer(
        self, call: Call, leg: Leg, refer: SipRequest, target: TransferTarget
    ) -> None:
        """Blind transfer to a queue (the customer waits there again, with music) or to a named
        agent (whose phone rings as for any offer, with the same screen pop)."""
        if target.kind == "agent" and target.name == leg.agent_id:
            raise TransferError(403, "Transfer to oneself")
        center = self._acd(call)
        to_queue = target.name if target.kind == "queue" else None
        to_agent = target.name if target.kind == "agent" else None
        try:
            # An offer the ACD makes at once rings the next phone only once this returns.
            center.run(
                Acd.transfer, call.contact_id, now_ms(), to_queue=to_queue, to_agent=to_agent
            )
        except AcdError as exc:
            self._transfer_refused(exc, center, to_agent or "")
        finally:
            self._arm_acd(center)
        unbridge(call.caller.rtp)  # the ACD logged contact.transferred
        self._let_transferor_go(call, leg, refer)
        call.talking = False
        call.held = False
        call.queued = True
        if to_queue is not None:
            call.queue_id = to_queue
        self._start_waiting_media(call)

    def _blind_external(
        self, call: Call, leg: Leg, refer: SipRequest, target: TransferTarget
    ) -> None:
        """Blind transfer to an outside number, through the tenant's trunk. The log names the
        number by its reference in the personal data store (``external:<ref>``)."""
        tenant_id = call.tenant.tenant_id
        try:
            # Stored before anything is dialled or logged: the event never names nothing.
            ref = self.personal.put(tenant_id, PHONE, target.name)
        except PersonalStoreError as exc:
            _log.error("tenant %s: transfer of %s not made: %s", tenant_id, call.contact_id, exc)
            raise TransferError(500, "Transfer target could not be recorded") from None
        if not self._dial_external(call, target.name):
            with contextlib.suppress(PersonalStoreError):
                self.personal.erase_ref(tenant_id, ref)  # no event names it: keep no copy
            raise TransferError(403, "Number refused by the outbound policy")
        unbridge(call.caller.rtp)
        self._stop_recording(call)
        self._log_transferred(call, leg.agent_id, "blind", f"external:{ref}")
        call.talking = False
        call.held = False
        self._run_acd(self._acd(call), Acd.hangup, call.contact_id, now_ms(), by="agent")
        self._let_transferor_go(call, leg, refer)

    def _log_transferred(self, call: Call, agent_id: str, kind: str, target: str) -> None:
        self._log_event(
            call.tenant.tenant_id, ContactTransferred(call.contact_id, agent_id, kind, target)
        )

    def _find_replaced(self, replaces: Replaces) -> tuple[Call, Leg] | None:
        for tag in (replaces.to_tag, replaces.from_tag):
            found = self._by_dialog.get((replaces.call_id, tag))
            dialog = found[1].dialog if found is not None else None
            if dialog is not None and names_dialog(replaces, dialog):
                return found
        return None

    def _attended_transfer(
        self, call: Call, leg: Leg, refer: SipRequest, replaces: Replaces
    ) -> None:
        """The agent hands the customer they hold to the party of their consultation (another
        agent, or an outside number through the trunk)."""
        found = self._find_replaced(replaces)
        if found is None:
            raise TransferError(481, "Replaces names no call of this agent")
        other_call, other_leg = found
        agent_id = leg.agent_id
        pairs = ((call, leg, other_call, other_leg), (other_call, other_leg, call, leg))
        chosen = next(
            (
                (cust, cust_leg, cons, cons_leg)
                for cust, cust_leg, cons, cons_leg in pairs
                if cust_leg.role == "agent"
                and cust.agent is cust_leg
                and cust.talking
                and cons.outbound
                and cons_leg is cons.caller
            ),
            None,
        )
        if chosen is None or other_leg.agent_id != agent_id or other_call is call:
            raise TransferError(481, "Replaces names no call of this agent")
        cust, cust_leg, cons, cons_leg = chosen
        far = cons.external
        if far is None or not far.answered or far.ended or cons.released:
            raise TransferError(481, "The consultation is not connected")
        center = self._acd(call)
        try:
            center.run(Acd.complete_transfer, cust.contact_id, cons.contact_id, now_ms())
        except AcdError as exc:
            # The customer's contact is not in a state to hand over (not held, say).
            _log.info("tenant %s: attended transfer refused: %s", center.tenant, exc)
            raise TransferError(403, str(exc)[:80]) from None
        finally:
            self._arm_acd(center)
        # The ACD logged contact.transferred. The far end moves to the customer's call.
        cons.external = None
        if far in cons.legs:
            cons.legs.remove(far)
        cust.legs.append(far)
        if far.dialog is not None:
            self._by_dialog[(far.dialog.call_id, far.dialog.local_tag)] = (cust, far)
        if far.tx_id in self._by_invite_tx:
            self._by_invite_tx[far.tx_id] = (cust, far)
        unbridge(far.rtp)
        unbridge(cust.caller.rtp)
        cust.caller.rtp.stop_playing()
        cust.held = False
        self._notify_refer(leg, refer, 200)
        cust.agent = None
        self._bye(cust, cust_leg)
        cust_leg.rtp.close()
        if far.agent_id:
            far.role = "agent"
            cust.agent = far
            cust.talking = True
            bridge(cust.caller.rtp, far.rtp)
            if cust.recorder is not None:
                self._record_agent(cust, far)
        else:
            if cust.outbound_ref is not None:
                self.guard.call_ended(cust.outbound_ref)
            cust.outbound_ref, cons.outbound_ref = cons.outbound_ref, None
            cust.external = far
            cust.talking = False
            self._stop_recording(cust)
            bridge(cust.caller.rtp, far.rtp)
        self._bye(cons, cons_leg)
        self._release(cons, "agent", "transferred")

    def _record_agent(self, call: Call, leg: Leg) -> None:
        """A transferred call's new agent joins its recording on the agent's channel."""
        recorder = call.recorder
        if recorder is None:
            return
        clock = _MediaClock(self._loop, call.recording_origin)

        def on_audio(payload_type: int, payload: bytes, ts: int) -> None:
            if call.recorder is not recorder or recorder.closed:
                return
            law = G711Law.PCMU if payload_type == 0 else G711Law.PCMA
            try:
                recorder.write(1, decode(law, payload), clock.place(ts))
            except Exception:
                _log.exception("recording write failed for %s", call.contact_id)

        leg.rtp.add_audio_listener(on_audio)

    # -- in-dialog requests ------------------------------------------------------------------

    def _in_dialog(self, event: RequestReceived) -> None:
        request = event.request
        tag = request.to.tag
        found = self._by_dialog.get((request.call_id, tag or ""))
        if found is None:
            self._respond(request, 481)
            return
        call, leg = found
        assert leg.dialog is not None
        rejection = leg.dialog.receive_request(request)
        if rejection is not None:
            self.stack.send_response(rejection.response(request))
            return
        if leg.ended:
            # A transferred agent's leg, ended on our side: its BYE crossed ours.
            self._respond(request, 200 if request.method == "BYE" else 481)
            return
        if request.method == "BYE":
            self._respond(request, 200)
            leg.ended = True
            self._hangup_from(call, leg)
        elif request.method == "INFO":
            content_type = request.content_type
            if content_type is not None and str(content_type).lower().startswith(CONTROL_TYPE):
                self._control(call, leg, request)
                return
            self._respond(request, 200)
            match = _DTMF_INFO.search(request.body.decode("latin-1"))
            if match is None and request.body.strip()[:1].isalnum():
                digit = request.body.decode("latin-1").strip()[:1]
            else:
                digit = match.group(1) if match else ""
            if digit and leg is call.caller:
                self._on_digit(call, digit.upper())
        elif request.method == "INVITE":
            self._reinvite(call, leg, request)
        elif request.method == "REFER":
            self._on_refer(call, leg, request)
        elif request.method == "NOTIFY":
            self._respond(request, 200)

    def _control(self, call: Call, leg: Leg, request: SipRequest) -> None:
        """An agent phone's control request (``recording=pause`` or ``recording=resume`` as
        ``application/x-glasshouse-control``), until the agent desktop sends it instead."""
        command = request.body.decode("utf-8", "replace").strip().lower().replace(" ", "")
        if leg.role != "agent" or command not in ("recording=pause", "recording=resume"):
            self._respond(request, 488 if leg.role == "agent" else 403)
            return
        ok = (
            self.pause_recording(call.contact_id, leg.agent_id)
            if command.endswith("pause")
            else self.resume_recording(call.contact_id, leg.agent_id)
        )
        self._respond(request, 200 if ok else 409)

    def pause_recording(self, contact_id: str, by: str) -> bool:
        """Pause the call's recording (card data being given): the span is kept as silence.
        False when the call is not being recorded or is paused already."""
        call = self.calls.get(contact_id)
        recorder = call.recorder if call is not None else None
        if call is None or recorder is None or recorder.is_paused:
            return False
        recorder.pause((self._loop.time() - call.recording_origin) * 1000)
        self._log_event(call.tenant.tenant_id, RecordingPaused(contact_id, call.recording_id, by))
        return True

    def resume_recording(self, contact_id: str, by: str) -> bool:
        call = self.calls.get(contact_id)
        recorder = call.recorder if call is not None else None
        if call is None or recorder is None or not recorder.is_paused:
            return False
        recorder.resume((self._loop.time() - call.recording_origin) * 1000)
        self._log_event(call.tenant.tenant_id, RecordingResumed(contact_id, call.recording_id, by))
        return True

    def _reinvite(self, call: Call, leg: Leg, request: SipRequest) -> None:
        try:
            offer = SessionDescription.parse(request.body) if request.body else None
        except SdpError:
            offer = None
        if offer is None:
            self._respond(request, 488)
            return
        answer = build_answer(
            offer, self.host, leg.rtp.port, session_id=leg.session_id, previous=leg.local_sdp
        )
        if answer.audio is None:
            self._respond(request, 488)
            return
        leg.local_sdp = answer.description
        self._apply_remote(leg.rtp, answer.audio)
        ok = make_response(
            request,
            200,
            headers=[
                ("Contact", f"<sip:glasshouse@{self._hostport()}>"),
                ("Content-Type", "application/sdp"),
            ],
        )
        ok.body = bytes(answer.description)
        self.stack.send_response(ok)
        holding = answer.audio.direction in (Direction.RECVONLY, Direction.INACTIVE)
        if leg.role != "agent" or not call.talking:
            return
        center = self._acd(call)
        if holding and not call.held:
            call.held = True
            unbridge(call.caller.rtp)
            leg.rtp.hold()  # the agent's phone asked not to receive (sendonly or inactive)
            self._run_acd(center, Acd.hold, leg.agent_id, call.contact_id, now_ms())
            if call.tenant.media.moh:
                call.caller.rtp.play(self.kit.music())
        elif not holding and call.held:
            call.held = False
            self._run_acd(center, Acd.retrieve, leg.agent_id, call.contact_id, now_ms())
            call.caller.rtp.stop_playing()
            leg.rtp.unhold()
            bridge(call.caller.rtp, leg.rtp)

    def _on_ack(self, event: AckReceived) -> None:
        return  # the 2xx retransmissions stop in the transaction layer; nothing else waits

    def _on_cancel(self, event: RequestReceived) -> None:
        request = event.request
        self._respond(request, 200)
        # An agent's call out, or an inbound call still in its early media, can be cancelled.
        found = self._by_invite_tx.get(event.cancels or "")
        if found is None:
            return
        call, leg = found
        if leg is not call.caller or leg.answered or call.released:
            return
        leg.ended = True
        self._respond(leg.invite, 487, to_tag=self._outbound_tag(call))
        if call.external is not None:
            external, call.external = call.external, None
            self._cancel_agent(external)
        if not call.outbound:  # an early-media caller gave up before the answer
            self._hangup_from(call, leg, by="customer", cause="cancel")
            return
        self._release(call, "agent", "cancel")

    # -- ending ------------------------------------------------------------------------------

    def _hangup_from(
        self, call: Call, leg: Leg, *, by: str | None = None, cause: str = "bye"
    ) -> None:
        if call.callback is not None and self.callbacks.on_hangup(call, leg, by, cause):
            return
        center = self._acd(call)
        now = now_ms()
        if leg is call.caller:
            if call.voicemail is not None:
                self._end_voicemail(call, "customer")
                return
            if call.in_ivr:
                call.in_ivr = False
                if not call.callback_requested:
                    self._run_acd(center, Acd.ivr_abandoned, call.contact_id, now)
            elif call.talking:
                self._run_acd(center, Acd.hangup, call.contact_id, now, by="customer")
            elif (
                not call.outbound
                and not call.callback_requested
                and call.contact_id in center.acd.contact_ids()
            ):
                self._run_acd(center, Acd.abandon, call.contact_id, now)
            if call.agent is not None:
                agent, call.agent = call.agent, None
                self._cancel_agent(agent)
            if call.external is not None:
                external, call.external = call.external, None
                self._cancel_agent(external)
            self._release(call, by or ("agent" if call.outbound else "customer"), cause)
        elif leg.role == "external":
            self._bye(call, call.caller)
            self._release(call, by or "external", cause)
        else:
            if call.talking:
                self._run_acd(center, Acd.hangup, call.contact_id, now, by="agent")
            if call.external is not None:
                return  # the agent handed the caller over (blind transfer)
            if call.run is not None and call.run.waiting_for_survey and not call.caller.ended:
                self._start_survey(call)
                return
            self._bye(call, call.caller)
            self._release(call, by or "agent", cause)

    def _start_survey(self, call: Call) -> None:
        """The queue node named a survey: the caller stays on the line for it."""
        assert call.run is not None
        call.talking = False
        call.agent = None
        call.surveying = True
        unbridge(call.caller.rtp)
        self._stop_recording(call)
        self._ivr(call, call.run.resume_for_survey(now_ms()))

    def _bye(self, call: Call, leg: Leg) -> None:
        if leg.ended:
            return
        leg.ended = True
        self._bye_leg(leg)

    def _bye_leg(self, leg: Leg) -> None:
        if leg.dialog is None:
            return
        try:
            bye = leg.dialog.create_request("BYE")
            bye = with_via(bye, self.host, self.port, "TCP" if leg.reliable else "UDP")
            self.stack.send_request(bye, leg.dest, reliable=leg.reliable)
        except Exception:
            _log.exception("cannot send BYE")

    def _release(self, call: Call, by: str, cause: str) -> None:
        if call.released:
            return
        call.released = True
        self.stats["released"] += 1
        if call.callback is not None:
            self.callbacks.on_release(call)
        if call.ivr_timer is not None:
            call.ivr_timer.cancel()
        if call.announce_task is not None:
            call.announce_task.cancel()
        if call.voicemail_timer is not None:
            call.voicemail_timer.cancel()
        self._stop_recording(call)
        if call.outbound_ref is not None:
            self.guard.call_ended(call.outbound_ref)
            call.outbound_ref = None
        for leg in call.legs:
            self._forget(leg)
            leg.rtp.close()
        for other in (call.agent, call.external):
            if other is not None and not other.ended:
                self._cancel_agent(other)
        if call.outbound:
            self._own_call_over(call, by, cause)
        if self.calls.get(call.contact_id) is call:  # a callback's dial-out may share the id
            del self.calls[call.contact_id]
        self._log_event(call.tenant.tenant_id, CallReleased(call.contact_id, by, cause))


class _MediaClock:
    """Where a leg's packet goes in a recording, in ms from ``origin`` (loop time): by its RTP
    timestamp from the leg's first packet, so network jitter does not stretch or tear the
    audio; a jump of more than a second (a new stream, suppressed silence) re-anchors the leg
    on arrival time."""

    __slots__ = ("_anchor_ms", "_anchor_ts", "_loop", "_origin")

    def __init__(self, loop: asyncio.AbstractEventLoop, origin: float) -> None:
        self._loop = loop
        self._origin = origin
        self._anchor_ms: float | None = None
        self._anchor_ts = 0

    def place(self, ts: int) -> float:
        arrival = (self._loop.time() - self._origin) * 1000
        if self._anchor_ms is not None:
            at_ms = self._anchor_ms + ((ts - self._anchor_ts) & 0xFFFFFFFF) / 8
            if abs(at_ms - arrival) <= 1000:
                return at_ms
        self._anchor_ms, self._anchor_ts = arrival, ts
        return arrival


def _context_headers(call: Call) -> list[tuple[str, str]]:
    """The call's context for the phone or line it goes to (the screen pop): its contact id,
    its queue and the IVR inputs, one ``X-Glasshouse-Var-<name>`` each (printable, bounded)."""
    headers = [("X-Glasshouse-Contact-Id", call.contact_id)]
    if call.queue_id:
        headers.append(("X-Glasshouse-Queue", call.queue_id))
    for name, value in sorted(call.variables.items()):
        headers.append((f"X-Glasshouse-Var-{name}", _HEADER_VALUE.sub("?", value)[:200]))
    return headers


_EARLY_REJECTIONS: Final = {"busy": 486, "rejected": 603, "declined": 603, "not_found": 404}


def _early_rejection(reason: str) -> int:
    """The final status that ends an early-media call never answered, from the hang-up node's
    reason: ``sip_<4xx-6xx>`` names one, ``busy``, ``rejected``/``declined`` and ``not_found``
    map to 486, 603 and 404; anything else (``closed``...) is 480 Temporarily Unavailable."""
    code = reason.removeprefix("sip_")
    if code != reason and code.isdigit() and 400 <= int(code) <= 699:
        return int(code)
    return _EARLY_REJECTIONS.get(reason, 480)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        _log.error("call task failed", exc_info=task.exception())


def _safe_user(user: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9+._-]", "", user)
    return cleaned or "anonymous"
