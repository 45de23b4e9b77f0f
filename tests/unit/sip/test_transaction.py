"""SIP transactions: the four state machines over unreliable and reliable transports with their
exact timer schedules, matching (ACK, CANCEL, retransmissions, strays), Via response routing,
and random loss, duplication and reordering between two layers."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Sequence
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glasshouse.protocols.sip.headers import Headers
from glasshouse.protocols.sip.message import (
    SipMessage,
    SipRequest,
    SipResponse,
    make_response,
    parse_message,
)
from glasshouse.protocols.sip.transaction import (
    AckReceived,
    Address,
    LegacyBranchError,
    RequestReceived,
    ResponseReceived,
    TimerConfig,
    TransactionError,
    TransactionLayer,
    TransactionTimeout,
    Transmit,
    TransportFailure,
    TxEvent,
    TxState,
    is_rfc3261_branch,
    make_cancel,
    new_branch,
    response_address,
    with_via,
)
from glasshouse.protocols.sip.uri import SipParseError, parse_uri

M = TypeVar("M", SipRequest, SipResponse)

UAC: Address = ("192.0.2.10", 5060)
UAS: Address = ("192.0.2.20", 5060)
# The retransmission times of a request or response that doubles from T1 up to T2 (timer E
# of non-INVITE, timer G), and of the INVITE's timer A (doubling without a ceiling).
CAPPED = [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
DOUBLING = [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]


def wire(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


def request_text(
    method: str = "INVITE",
    *,
    branch: str = "z9hG4bKinv1",
    sent_by: str = "192.0.2.10:5060",
    via_params: str = ";rport",
    cseq: int = 1,
    transport: str = "UDP",
) -> str:
    return (
        f"{method} sip:agent@192.0.2.20 SIP/2.0\n"
        f"Via: SIP/2.0/{transport} {sent_by};branch={branch}{via_params}\n"
        "Max-Forwards: 70\n"
        "Route: <sip:proxy.example.com;lr>\n"
        "From: <sip:caller@example.com>;tag=from1\n"
        "To: <sip:agent@example.com>\n"
        "Call-ID: call1@192.0.2.10\n"
        f"CSeq: {cseq} {method}\n"
        "Contact: <sip:caller@192.0.2.10>\n"
        "\n"
    )


def request(method: str = "INVITE", **kwargs: object) -> SipRequest:
    message = parse_message(wire(request_text(method, **kwargs)))
    assert isinstance(message, SipRequest)
    return message


def answer(req: SipRequest, status: int, tag: str | None = "to1") -> SipResponse:
    contact = [("Contact", "<sip:agent@192.0.2.20>")] if 100 < status < 300 else []
    return make_response(req, status, to_tag=tag if status > 100 else None, headers=contact)


def ack_2xx(req: SipRequest, ok: SipResponse, branch: str = "z9hG4bKack2xx") -> SipRequest:
    """The ACK a dialog user sends for a 2xx: a branch of its own."""
    headers = Headers(
        [
            ("Via", f"SIP/2.0/UDP 192.0.2.10:5060;branch={branch};rport"),
            ("Max-Forwards", "70"),
            ("From", req.headers["From"]),
            ("To", ok.headers["To"]),
            ("Call-ID", req.call_id),
            ("CSeq", f"{req.cseq.number} ACK"),
        ]
    )
    return SipRequest("ACK", parse_uri("sip:agent@192.0.2.20"), headers)


def same_branch_ack(req: SipRequest, final: SipResponse) -> SipRequest:
    """An ACK for a non-2xx final response, as the client transaction builds it."""
    headers = Headers(
        [
            ("Via", req.headers["Via"]),
            ("Max-Forwards", "70"),
            ("From", req.headers["From"]),
            ("To", final.headers["To"]),
            ("Call-ID", req.call_id),
            ("CSeq", f"{req.cseq.number} ACK"),
        ]
    )
    return SipRequest("ACK", req.uri, headers)


def reparse(message: M) -> M:
    parsed = parse_message(bytes(message))
    assert isinstance(parsed, type(message))
    return parsed


def outgoing(method: str = "INVITE") -> SipRequest:
    """A request as the transaction user hands it over: its Via added by with_via."""
    req = request(method)
    req.headers.remove("Via")
    return with_via(req, UAC[0], UAC[1])


def transmits(events: Sequence[TxEvent]) -> list[Transmit]:
    return [e for e in events if isinstance(e, Transmit)]


def for_tu(events: Sequence[TxEvent]) -> list[TxEvent]:
    return [e for e in events if not isinstance(e, Transmit)]


def on_wire(events: Sequence[TxEvent]) -> list[SipMessage]:
    return [parse_message(e.data) for e in transmits(events)]


def run(layer: TransactionLayer, until: float) -> list[tuple[float, TxEvent]]:
    """Advance from deadline to deadline up to ``until``; every event with its time."""
    timeline: list[tuple[float, TxEvent]] = []
    while (deadline := layer.next_deadline()) is not None and deadline <= until:
        timeline.extend((deadline, event) for event in layer.advance(deadline))
    return timeline


def times_of(timeline: list[tuple[float, TxEvent]], kind: type) -> list[float]:
    return [t for t, e in timeline if isinstance(e, kind)]


def start_server(
    layer: TransactionLayer, req: SipRequest, *, reliable: bool = False, now: float = 0.0
) -> tuple[str, SipRequest]:
    events = layer.receive(reparse(req), UAC, now, reliable=reliable)
    assert len(events) == 1 and isinstance(events[0], RequestReceived)
    return events[0].tx_id, events[0].request


# ---------------------------------------------------------------------------------------------
# Configuration and helpers


def test_timer_values_follow_t1_t2_t4() -> None:
    config = TimerConfig()
    unreliable = {name: config.duration(name, reliable=False) for name in "ABDEFGHIJKLM"}
    assert unreliable == {
        "A": 0.5,
        "B": 32.0,
        "D": 32.0,
        "E": 0.5,
        "F": 32.0,
        "G": 0.5,
        "H": 32.0,
        "I": 5.0,
        "J": 32.0,
        "K": 5.0,
        "L": 32.0,
        "M": 32.0,
    }
    reliable = {name: config.duration(name, reliable=True) for name in "DIJK"}
    assert reliable == {"D": 0.0, "I": 0.0, "J": 0.0, "K": 0.0}
    assert TimerConfig(t1=1.0).duration("D", reliable=False) == 64.0
    assert TimerConfig(t1=0.1).duration("D", reliable=False) == 32.0  # at least 32 s
    assert config.duration("trying", reliable=True) == 0.2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"t1": 0.0}, "t1 must be above 0"),
        ({"t1": 5.0}, "t2 (4.0) must not be below t1 (5.0)"),
        ({"t4": math.nan}, "timer t4 must be a finite number"),
        ({"trying": -1.0}, "timer trying must be a finite number"),
    ],
)
def test_bad_timer_config_is_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        TimerConfig(**kwargs)


def test_unknown_timer_name() -> None:
    with pytest.raises(ValueError, match="unknown timer 'Z'"):
        TimerConfig().duration("Z", reliable=False)


def test_new_branch_is_rfc3261_and_unique() -> None:
    branches = {new_branch() for _ in range(1000)}
    assert len(branches) == 1000
    assert all(is_rfc3261_branch(b) for b in branches)
    assert not is_rfc3261_branch(None)
    assert not is_rfc3261_branch("z9hG4bK")
    assert not is_rfc3261_branch("a71b2")


def test_with_via_adds_a_top_via_with_rport_and_leaves_the_original() -> None:
    original = request()
    stamped = with_via(original, "198.51.100.7", 5080, "tcp")
    vias = stamped.via
    assert len(vias) == 2 and len(original.via) == 1
    top = vias[0]
    assert (top.transport, top.host, top.port) == ("TCP", "198.51.100.7", 5080)
    assert is_rfc3261_branch(top.branch)
    assert "rport" in top.params and top.rport is None
    assert vias[1] == original.top_via
    fixed = with_via(original, "198.51.100.7", None, branch="z9hG4bKfixed")
    assert fixed.top_via.branch == "z9hG4bKfixed" and fixed.top_via.port is None
    assert reparse(stamped) == stamped


# ---------------------------------------------------------------------------------------------
# Client INVITE


def test_client_invite_retransmits_on_timer_a_until_timer_b() -> None:
    layer = TransactionLayer()
    req = request()
    tx_id, events = layer.send_request(req, UAS, 0.0, reliable=False)
    assert events == [Transmit(bytes(req), UAS, False, tx_id)]
    assert layer.state(tx_id) is TxState.CALLING
    timeline = run(layer, 100.0)
    assert times_of(timeline, Transmit) == DOUBLING
    assert all(e == events[0] for _, e in timeline if isinstance(e, Transmit))
    assert [(t, e) for t, e in timeline if not isinstance(e, Transmit)] == [
        (32.0, TransactionTimeout(tx_id, "INVITE"))
    ]
    assert len(layer) == 0 and layer.next_deadline() is None
    assert layer.state(tx_id) is TxState.TERMINATED


def test_client_invite_over_reliable_transport_does_not_retransmit() -> None:
    layer = TransactionLayer()
    tx_id, _ = layer.send_request(request(), UAS, 10.0, reliable=True)
    timeline = run(layer, 100.0)
    assert timeline == [(42.0, TransactionTimeout(tx_id, "INVITE"))]


def test_client_invite_provisional_stops_retransmission_and_timer_b() -> None:
    layer = TransactionLayer()
    req = request()
    tx_id, _ = layer.send_request(req, UAS, 0.0, reliable=False)
    assert run(layer, 0.6) == [(0.5, Transmit(bytes(req), UAS, False, tx_id))]
    ringing = answer(req, 180)
    events = layer.receive(reparse(ringing), UAS, 0.7, reliable=False)
    assert events == [ResponseReceived(tx_id, reparse(ringing))]
    assert layer.state(tx_id) is TxState.PROCEEDING
    assert layer.next_deadline() is None  # no retransmission, no timer B in Proceeding
    again = layer.receive(reparse(ringing), UAS, 0.8, reliable=False)
    assert for_tu(again) == events  # every provisional goes up (17.1.1.2)


def test_client_invite_non_2xx_is_acknowledged_per_17_1_1_3() -> None:
    layer = TransactionLayer()
    req = request()
    tx_id, _ = layer.send_request(req, UAS, 0.0, reliable=False)
    layer.receive(reparse(answer(req, 180)), UAS, 0.1, reliable=False)
    busy = answer(req, 486)
    events = layer.receive(reparse(busy), UAS, 0.2, reliable=False)
    assert for_tu(events) == [ResponseReceived(tx_id, reparse(busy))]
    [ack] = on_wire(events)
    assert transmits(events)[0].dest == UAS
    assert isinstance(ack, SipRequest) and ack.method == "ACK"
    assert ack.uri == req.uri
    assert ack.headers.get_all("Via") == [req.headers["Via"]]  # one Via, the same branch
    assert ack.to == busy.to and ack.to.tag == "to1"
    assert (ack.from_, ack.call_id) == (req.from_, req.call_id)
    assert str(ack.cseq) == "1 ACK"
    assert ack.route == req.route and ack.max_forwards == 70
    assert ack.body == b""
    assert layer.state(tx_id) is TxState.COMPLETED
    # A retransmitted final response is absorbed and answered with the same ACK.
    again = layer.receive(reparse(busy), UAS, 1.0, reliable=False)
    assert again == transmits(events)
    # Provisional and 2xx responses in Completed are dropped.
    assert layer.receive(reparse(answer(req, 180)), UAS, 1.1, reliable=False) == []
    assert layer.receive(reparse(answer(req, 200)), UAS, 1.2, reliable=False) == []
    # Timer D ends the transaction 32 s after the final response; later copies are strays.
    assert run(layer, 100.0) == []
    assert layer.state(tx_id) is TxState.TERMINATED
    assert layer.receive(reparse(busy), UAS, 40.0, reliable=False) == []


def test_client_invite_non_2xx_over_reliable_transport_ends_at_once() -> None:
    layer = TransactionLayer()
    req = request()
    layer.send_request(req, UAS, 0.0, reliable=True)
    events = layer.receive(reparse(answer(req, 603)), UAS, 0.3, reliable=True)
    assert [type(e) for e in events] == [Transmit, ResponseReceived]
    assert transmits(events)[0].reliable
    assert len(layer) == 0 and layer.next_deadline() is None


def test_client_invite_accepted_passes_every_2xx_up_until_timer_m() -> None:
    layer = TransactionLayer()
    req = request()
    tx_id, _ = layer.send_request(req, UAS, 0.0, reliable=False)
    ok = reparse(answer(req, 200))
    assert layer.receive(ok, UAS, 0.3, reliable=False) == [ResponseReceived(tx_id, ok)]
    assert layer.state(tx_id) is TxState.ACCEPTED
    # A retransmission is passed up (for the ACK to be sent again), flagged as such.
    assert layer.receive(ok, UAS, 0.8, reliable=False) == [
        ResponseReceived(tx_id, ok, retransmission=True)
    ]
    forked = reparse(answer(req, 200, tag="to2"))
    assert layer.receive(forked, UAS, 0.9, reliable=False) == [ResponseReceived(tx_id, forked)]
    # No INVITE retransmission after the 2xx, nothing for non-2xx responses in Accepted.
    assert layer.receive(reparse(answer(req, 486)), UAS, 1.0, reliable=False) == []
    assert layer.receive(reparse(answer(req, 180)), UAS, 1.0, reliable=False) == []
    assert run(layer, 32.2) == []
    assert layer.state(tx_id) is TxState.ACCEPTED
    assert layer.next_deadline() == pytest.approx(32.3)  # timer M
    assert run(layer, 32.4) == [] and len(layer) == 0
    assert layer.receive(ok, UAS, 33.0, reliable=False) == []  # stray 2xx (RFC 6026)


def test_client_invite_2xx_over_reliable_transport_still_waits_timer_m() -> None:
    layer = TransactionLayer()
    req = request()
    tx_id, _ = layer.send_request(req, UAS, 0.0, reliable=True)
    layer.receive(reparse(answer(req, 200)), UAS, 1.0, reliable=True)
    assert layer.next_deadline() == 33.0
    assert layer.state(tx_id) is TxState.ACCEPTED


# ---------------------------------------------------------------------------------------------
# Client non-INVITE


def test_client_non_invite_retransmits_doubling_to_t2_until_timer_f() -> None:
    layer = TransactionLayer()
    req = request("OPTIONS")
    tx_id, _ = layer.send_request(req, UAS, 0.0, reliable=False)
    assert layer.state(tx_id) is TxState.TRYING
    timeline = run(layer, 100.0)
    assert times_of(timeline, Transmit) == CAPPED
    assert timeline[-1] == (32.0, TransactionTimeout(tx_id, "OPTIONS"))
    assert len(layer) == 0


def test_client_non_invite_in_proceeding_retransmits_every_t2() -> None:
    layer = TransactionLayer()
    req = request("BYE")
    tx_id, _ = layer.send_request(req, UAS, 0.0, reliable=False)
    run(layer, 0.6)
    events = layer.receive(reparse(answer(req, 100)), UAS, 0.7, reliable=False)
    assert [type(e) for e in events] == [ResponseReceived]
    assert layer.state(tx_id) is TxState.PROCEEDING
    timeline = run(layer, 100.0)
    assert times_of(timeline, Transmit) == [1.5, 5.5, 9.5, 13.5, 17.5, 21.5, 25.5, 29.5]
    assert timeline[-1] == (32.0, TransactionTimeout(tx_id, "BYE"))  # timer F kept running


def test_client_non_invite_final_then_timer_k() -> None:
    layer = TransactionLayer()
    req = request("OPTIONS")
    tx_id, _ = layer.send_request(req, UAS, 0.0, reliable=False)
    ok = reparse(answer(req, 200))
    assert for_tu(layer.receive(ok, UAS, 0.2, reliable=False)) == [ResponseReceived(tx_id, ok)]
    assert layer.state(tx_id) is TxState.COMPLETED
    assert layer.receive(ok, UAS, 0.3, reliable=False) == []  # absorbed
    assert layer.next_deadline() == pytest.approx(5.2)  # timer K = T4
    assert run(layer, 100.0) == [] and len(layer) == 0


def test_client_non_invite_over_reliable_transport() -> None:
    layer = TransactionLayer()
    req = request("OPTIONS")
    layer.send_request(req, UAS, 0.0, reliable=True)
    assert layer.next_deadline() == 32.0  # timer F only
    layer.receive(reparse(answer(req, 404)), UAS, 0.2, reliable=True)
    assert len(layer) == 0  # timer K is 0


# ---------------------------------------------------------------------------------------------
# Server INVITE


def test_server_invite_sends_100_trying_after_200_ms() -> None:
    layer = TransactionLayer()
    tx_id, received = start_server(layer, request())
    assert layer.state(tx_id) is TxState.PROCEEDING
    assert layer.next_deadline() == 0.2
    [(when, event)] = run(layer, 10.0)
    assert when == 0.2 and isinstance(event, Transmit) and event.dest == UAC
    [trying] = on_wire([event])
    assert isinstance(trying, SipResponse) and trying.status == 100
    assert trying.to.tag is None
    assert trying.headers.get_all("Via") == received.headers.get_all("Via")
    # The INVITE retransmitted: the 100 again.
    assert layer.receive(reparse(request()), UAC, 0.5, reliable=False) == [event]


def test_server_invite_no_100_when_the_tu_answers_first() -> None:
    layer = TransactionLayer()
    _, received = start_server(layer, request())
    ringing = answer(received, 180)
    sent = layer.send_response(ringing, 0.1)
    assert on_wire(sent) == [reparse(ringing)]
    assert layer.next_deadline() is None
    # A retransmitted INVITE gets the latest provisional response.
    assert layer.receive(reparse(request()), UAC, 0.4, reliable=False) == sent


def test_server_invite_retransmission_before_200_ms_gets_100_at_once() -> None:
    layer = TransactionLayer()
    start_server(layer, request())
    events = layer.receive(reparse(request()), UAC, 0.05, reliable=False)
    [trying] = on_wire(events)
    assert isinstance(trying, SipResponse) and trying.status == 100
    assert layer.next_deadline() is None  # and not a second time at 0.2


def test_server_invite_non_2xx_retransmits_on_timer_g_until_timer_h() -> None:
    layer = TransactionLayer()
    tx_id, received = start_server(layer, request())
    busy = answer(received, 486)
    sent = layer.send_response(busy, 0.0)
    assert layer.state(tx_id) is TxState.COMPLETED
    timeline = run(layer, 100.0)
    assert times_of(timeline, Transmit) == CAPPED
    assert all(e == sent[0] for _, e in timeline if isinstance(e, Transmit))
    assert timeline[-1] == (32.0, TransactionTimeout(tx_id, "INVITE"))
    assert len(layer) == 0


def test_server_invite_ack_confirms_then_timer_i() -> None:
    layer = TransactionLayer()
    tx_id, received = start_server(layer, request())
    busy = answer(received, 486)
    sent = layer.send_response(busy, 0.0)
    assert layer.receive(reparse(request()), UAC, 0.2, reliable=False) == sent
    ack = same_branch_ack(request(), busy)
    assert layer.receive(reparse(ack), UAC, 0.7, reliable=False) == []
    assert layer.state(tx_id) is TxState.CONFIRMED
    assert layer.receive(reparse(ack), UAC, 0.8, reliable=False) == []  # absorbed
    assert layer.receive(reparse(request()), UAC, 0.9, reliable=False) == []
    assert layer.next_deadline() == pytest.approx(5.7)  # timer I = T4; G and H stopped
    assert run(layer, 100.0) == [] and len(layer) == 0


def test_server_invite_non_2xx_over_reliable_transport() -> None:
    layer = TransactionLayer()
    _, received = start_server(layer, request(transport="TCP"), reliable=True)
    busy = answer(received, 480)
    layer.send_response(busy, 0.0)
    assert layer.next_deadline() == 32.0  # timer H, no timer G
    ack = same_branch_ack(request(transport="TCP"), busy)
    assert layer.receive(reparse(ack), UAC, 0.1, reliable=True) == []
    assert len(layer) == 0  # timer I is 0


def test_server_invite_2xx_retransmitted_until_the_ack() -> None:
    layer = TransactionLayer()
    tx_id, received = start_server(layer, request())
    ok = answer(received, 200)
    sent = layer.send_response(ok, 0.0)
    assert layer.state(tx_id) is TxState.ACCEPTED
    timeline = run(layer, 4.0)
    assert times_of(timeline, Transmit) == [0.5, 1.5, 3.5]
    assert all(e == sent[0] for _, e in timeline)
    # INVITE retransmissions are absorbed in Accepted (RFC 6026).
    assert layer.receive(reparse(request()), UAC, 4.5, reliable=False) == []
    ack = reparse(ack_2xx(request(), ok))
    assert layer.receive(ack, UAC, 5.0, reliable=False) == [AckReceived(ack, UAC, False, tx_id)]
    assert layer.receive(ack, UAC, 5.1, reliable=False) == []  # a repeated ACK
    # No more 2xx; timer L ends the transaction 32 s after the 2xx, without a timeout.
    assert run(layer, 100.0) == []
    assert len(layer) == 0
    late = layer.receive(ack, UAC, 40.0, reliable=False)
    assert late == [AckReceived(ack, UAC, False, None)]


def test_server_invite_2xx_never_acknowledged_times_out_on_timer_l() -> None:
    layer = TransactionLayer()
    tx_id, received = start_server(layer, request())
    layer.send_response(answer(received, 200), 0.0)
    timeline = run(layer, 100.0)
    assert times_of(timeline, Transmit) == CAPPED
    assert timeline[-1] == (32.0, TransactionTimeout(tx_id, "INVITE"))


def test_server_invite_2xx_over_reliable_transport() -> None:
    layer = TransactionLayer()
    tx_id, received = start_server(layer, request(transport="TCP"), reliable=True)
    ok = answer(received, 200)
    layer.send_response(ok, 0.0)
    assert layer.next_deadline() == 32.0  # timer L only
    ack = reparse(ack_2xx(request(), ok))
    events = layer.receive(ack, UAC, 0.5, reliable=True)
    assert events == [AckReceived(ack, UAC, True, tx_id)]
    assert run(layer, 100.0) == [] and len(layer) == 0


def test_server_invite_ack_with_the_invite_branch_in_accepted() -> None:
    layer = TransactionLayer()
    tx_id, received = start_server(layer, request())
    ok = answer(received, 200)
    layer.send_response(ok, 0.0)
    ack = reparse(same_branch_ack(request(), ok))
    assert layer.receive(ack, UAC, 0.2, reliable=False) == [AckReceived(ack, UAC, False, tx_id)]
    assert run(layer, 31.0) == []  # timer G stopped


def test_server_invite_tu_may_resend_its_2xx_in_accepted() -> None:
    layer = TransactionLayer()
    _, received = start_server(layer, request())
    ok = answer(received, 200)
    first = layer.send_response(ok, 0.0)
    assert layer.send_response(ok, 0.2) == first


def test_ack_matching_nothing_goes_up_without_a_transaction() -> None:
    layer = TransactionLayer()
    ack = reparse(ack_2xx(request(), answer(request(), 200)))
    assert layer.receive(ack, UAC, 0.0, reliable=False) == [AckReceived(ack, UAC, False, None)]
    assert len(layer) == 0


def test_ack_before_a_final_response_is_dropped() -> None:
    layer = TransactionLayer()
    tx_id, _ = start_server(layer, request())
    ack = reparse(same_branch_ack(request(), answer(request(), 486)))
    assert layer.receive(ack, UAC, 0.1, reliable=False) == []
    assert layer.state(tx_id) is TxState.PROCEEDING


@pytest.mark.parametrize(
    ("first", "then", "message"),
    [
        (486, 180, "is completed: it cannot send a 180"),
        (200, 486, "is accepted: it cannot send a 486"),
        (200, 183, "is accepted: it cannot send a 183"),
    ],
)
def test_server_invite_refuses_responses_its_state_does_not_allow(
    first: int, then: int, message: str
) -> None:
    layer = TransactionLayer()
    _, received = start_server(layer, request())
    layer.send_response(answer(received, first), 0.0)
    with pytest.raises(TransactionError, match=message):
        layer.send_response(answer(received, then), 0.1)


def test_response_for_no_server_transaction_is_refused() -> None:
    layer = TransactionLayer()
    with pytest.raises(TransactionError, match="no server transaction for the 200 response"):
        layer.send_response(answer(request(), 200), 0.0)
    bare = SipResponse(200, "OK")
    with pytest.raises(TransactionError, match="the 200 response has no Via"):
        layer.send_response(bare, 0.0)


# ---------------------------------------------------------------------------------------------
# Server non-INVITE


def test_server_non_invite_over_unreliable_transport() -> None:
    layer = TransactionLayer()
    tx_id, received = start_server(layer, request("OPTIONS"))
    assert layer.state(tx_id) is TxState.TRYING
    assert layer.next_deadline() is None  # no 100 Trying for non-INVITE
    assert layer.receive(reparse(request("OPTIONS")), UAC, 0.1, reliable=False) == []
    trying = layer.send_response(answer(received, 100), 0.2)
    assert layer.state(tx_id) is TxState.PROCEEDING
    assert layer.receive(reparse(request("OPTIONS")), UAC, 0.3, reliable=False) == trying
    ok = layer.send_response(answer(received, 200), 0.4)
    assert layer.state(tx_id) is TxState.COMPLETED
    assert layer.receive(reparse(request("OPTIONS")), UAC, 0.5, reliable=False) == ok
    with pytest.raises(TransactionError, match="is completed: it cannot send a 500"):
        layer.send_response(answer(received, 500), 0.6)
    assert layer.next_deadline() == pytest.approx(32.4)  # timer J
    assert run(layer, 100.0) == [] and len(layer) == 0


def test_server_non_invite_over_reliable_transport_ends_with_its_final_response() -> None:
    layer = TransactionLayer()
    _, received = start_server(layer, request("REGISTER", transport="TCP"), reliable=True)
    layer.send_response(answer(received, 200), 0.0)
    assert len(layer) == 0


# ---------------------------------------------------------------------------------------------
# Matching: CANCEL, retransmissions, strays, legacy branches


def test_cancel_names_the_invite_server_transaction_it_matches() -> None:
    layer = TransactionLayer()
    invite_id, invite = start_server(layer, request())
    cancel = reparse(make_cancel(request()))
    [event] = layer.receive(cancel, UAC, 0.5, reliable=False)
    assert isinstance(event, RequestReceived) and event.cancels == invite_id
    assert event.tx_id != invite_id
    assert layer.receive(reparse(cancel), UAC, 0.6, reliable=False) == []  # absorbed
    ok = layer.send_response(answer(event.request, 200), 0.7)
    terminated = layer.send_response(answer(invite, 487), 0.7)
    assert [m.status for m in on_wire(ok + terminated)] == [200, 487]
    assert layer.receive(reparse(cancel), UAC, 0.8, reliable=False) == ok
    other = reparse(make_cancel(request(branch="z9hG4bKother")))
    [unmatched] = layer.receive(other, UAC, 0.9, reliable=False)
    assert isinstance(unmatched, RequestReceived) and unmatched.cancels is None


def test_cancel_from_another_sent_by_does_not_match() -> None:
    layer = TransactionLayer()
    start_server(layer, request())
    cancel = reparse(make_cancel(request(sent_by="192.0.2.11:5060")))
    [event] = layer.receive(cancel, UAC, 0.5, reliable=False)
    assert isinstance(event, RequestReceived) and event.cancels is None


def test_make_cancel_per_rfc_3261_9_1() -> None:
    invite = with_via(request(), "192.0.2.10", 5060)
    cancel = make_cancel(invite)
    assert cancel.method == "CANCEL" and cancel.uri == invite.uri
    assert cancel.headers.get_all("Via") == [invite.headers["Via"]]
    assert (cancel.from_, cancel.to, cancel.call_id) == (invite.from_, invite.to, invite.call_id)
    assert str(cancel.cseq) == "1 CANCEL"
    assert cancel.route == invite.route
    with pytest.raises(ValueError, match="an ACK cannot be cancelled"):
        make_cancel(same_branch_ack(request(), answer(request(), 486)))


def test_client_cancel_is_its_own_transaction() -> None:
    layer = TransactionLayer()
    invite = request()
    invite_id, _ = layer.send_request(invite, UAS, 0.0, reliable=False)
    layer.receive(reparse(answer(invite, 180)), UAS, 0.1, reliable=False)
    cancel = make_cancel(invite)
    cancel_id, _ = layer.send_request(cancel, UAS, 1.0, reliable=False)
    assert cancel_id != invite_id
    ok = reparse(answer(cancel, 200))
    assert for_tu(layer.receive(ok, UAS, 1.1, reliable=False)) == [ResponseReceived(cancel_id, ok)]
    terminated = reparse(answer(invite, 487))
    events = layer.receive(terminated, UAS, 1.2, reliable=False)
    assert for_tu(events) == [ResponseReceived(invite_id, terminated)]


def test_cancelled_invite_without_a_final_response_is_given_up() -> None:
    layer = TransactionLayer()
    invite = request()
    invite_id, _ = layer.send_request(invite, UAS, 0.0, reliable=False)
    layer.receive(reparse(answer(invite, 180)), UAS, 0.1, reliable=False)
    cancel_id, _ = layer.send_request(make_cancel(invite), UAS, 2.0, reliable=False)
    layer.receive(reparse(answer(make_cancel(invite), 200)), UAS, 2.1, reliable=False)
    timeline = run(layer, 100.0)
    assert (34.0, TransactionTimeout(invite_id, "INVITE")) in timeline
    assert len(layer) == 0
    assert layer.state(cancel_id) is TxState.TERMINATED


def test_stray_responses_are_dropped() -> None:
    layer = TransactionLayer()
    req = request()
    layer.send_request(req, UAS, 0.0, reliable=False)
    unknown = answer(request(branch="z9hG4bKelse"), 200)
    assert layer.receive(reparse(unknown), UAS, 0.1, reliable=False) == []
    wrong_method = answer(request("OPTIONS"), 200)  # same branch, CSeq OPTIONS
    assert layer.receive(reparse(wrong_method), UAS, 0.1, reliable=False) == []
    two_vias = answer(req, 200)
    two_vias.headers.add("Via", "SIP/2.0/UDP 192.0.2.99;branch=z9hG4bKx")
    assert layer.receive(reparse(two_vias), UAS, 0.1, reliable=False) == []
    no_branch = answer(request(), 200)
    no_branch.headers.set("Via", "SIP/2.0/UDP 192.0.2.10")
    assert layer.receive(reparse(no_branch), UAS, 0.1, reliable=False) == []


def test_request_without_magic_cookie_is_refused_with_a_400_hint() -> None:
    layer = TransactionLayer()
    old = request(branch="a7c6a8dlze.1")
    with pytest.raises(LegacyBranchError) as info:
        layer.receive(reparse(old), UAC, 0.0, reliable=False)
    assert info.value.reason == "top Via branch 'a7c6a8dlze.1' does not start with z9hG4bK"
    hint = info.value.response_hint
    assert hint is not None and hint.status == 400
    response = hint.response()
    assert response.status == 400 and response.call_id == old.call_id
    assert "does not start with z9hG4bK" in response.warning[0].text
    assert isinstance(info.value, SipParseError)
    no_branch = request(via_params="")
    no_branch.headers.set("Via", "SIP/2.0/UDP 192.0.2.10:5060")
    with pytest.raises(LegacyBranchError, match="top Via has no branch parameter"):
        layer.receive(no_branch, UAC, 0.0, reliable=False)
    old_ack = same_branch_ack(old, answer(old, 486))
    with pytest.raises(LegacyBranchError) as ack_info:
        layer.receive(reparse(old_ack), UAC, 0.0, reliable=False)
    assert ack_info.value.response_hint is None  # an ACK is never answered
    assert len(layer) == 0


def test_send_request_refuses_what_it_cannot_run() -> None:
    layer = TransactionLayer()
    no_via = request()
    no_via.headers.remove("Via")
    with pytest.raises(TransactionError, match="has no Via: add one with with_via"):
        layer.send_request(no_via, UAS, 0.0, reliable=False)
    bad = request()
    bad.headers.set("Via", "SIP/2.0/UDP 192.0.2.10;branch=1234")
    with pytest.raises(TransactionError, match="branch '1234' does not start with z9hG4bK"):
        layer.send_request(bad, UAS, 0.0, reliable=False)
    ack = same_branch_ack(request(), answer(request(), 200))
    with pytest.raises(TransactionError, match="use send_ack"):
        layer.send_request(ack, UAS, 0.0, reliable=False)
    mismatch = request()
    mismatch.headers.set("CSeq", "1 OPTIONS")
    with pytest.raises(TransactionError, match="CSeq method OPTIONS does not match INVITE"):
        layer.send_request(mismatch, UAS, 0.0, reliable=False)
    layer.send_request(request(), UAS, 0.0, reliable=False)
    with pytest.raises(TransactionError, match="branch z9hG4bKinv1 is running"):
        layer.send_request(request(), UAS, 0.1, reliable=False)
    with pytest.raises(TransactionError, match="send_ack takes an ACK, not an INVITE"):
        layer.send_ack(request(), UAS, reliable=False)


def test_send_ack_is_a_single_transmission() -> None:
    layer = TransactionLayer()
    ack = ack_2xx(request(), answer(request(), 200))
    assert layer.send_ack(ack, UAS, reliable=True) == [Transmit(bytes(ack), UAS, True)]
    assert len(layer) == 0


# ---------------------------------------------------------------------------------------------
# Response routing (RFC 3261 18.2.1, 18.2.2, RFC 3581)


def test_received_and_rport_are_recorded_and_used() -> None:
    layer = TransactionLayer()
    source = ("203.0.113.5", 40000)
    req = request("OPTIONS", sent_by="10.0.0.5:5060")  # behind a NAT, asks for rport
    [event] = layer.receive(reparse(req), source, 0.0, reliable=False)
    assert isinstance(event, RequestReceived)
    top = event.request.top_via
    assert (top.received, top.rport) == ("203.0.113.5", 40000)
    [sent] = layer.send_response(make_response(event.request, 200), 0.1)
    assert isinstance(sent, Transmit) and sent.dest == source
    [response] = on_wire([sent])
    assert response.top_via.received == "203.0.113.5" and response.top_via.rport == 40000


def test_without_rport_responses_go_to_the_source_ip_and_sent_by_port() -> None:
    layer = TransactionLayer()
    source = ("203.0.113.5", 40000)
    req = request("OPTIONS", sent_by="pbx.example.com:5070", via_params="")
    [event] = layer.receive(reparse(req), source, 0.0, reliable=False)
    assert isinstance(event, RequestReceived)
    top = event.request.top_via
    assert top.received == "203.0.113.5" and "rport" not in top.params
    [sent] = layer.send_response(make_response(event.request, 200), 0.1)
    assert isinstance(sent, Transmit) and sent.dest == ("203.0.113.5", 5070)


def test_a_via_that_matches_the_source_is_left_alone() -> None:
    layer = TransactionLayer()
    req = reparse(request("OPTIONS", via_params=""))
    [event] = layer.receive(req, UAC, 0.0, reliable=False)
    assert isinstance(event, RequestReceived) and event.request == req


def test_a_source_that_is_not_an_ip_address_is_refused() -> None:
    layer = TransactionLayer()
    with pytest.raises(TransactionError, match=r"source address 'pbx\.example' is not an IP"):
        layer.receive(reparse(request("OPTIONS")), ("pbx.example", 5060), 0.0, reliable=False)
    assert len(layer) == 0


def test_response_address_rules() -> None:
    source = ("198.51.100.1", 6000)
    plain = request("OPTIONS", sent_by="a.example.com", via_params="").top_via
    assert response_address(plain, source, reliable=False) == ("198.51.100.1", 5060)
    assert response_address(plain, source, reliable=True) == source  # same connection
    rport = request("OPTIONS", sent_by="a.example.com:5070").top_via
    assert response_address(rport, source, reliable=False) == source
    maddr = request("OPTIONS", sent_by="a.example.com:5070", via_params=";maddr=239.0.0.1")
    assert response_address(maddr.top_via, source, reliable=False) == ("239.0.0.1", 5070)


def test_ipv6_source() -> None:
    layer = TransactionLayer()
    source = ("2001:db8::5", 5062)
    req = request("OPTIONS", sent_by="[2001:db8::9]:5060")
    [event] = layer.receive(reparse(req), source, 0.0, reliable=False)
    assert isinstance(event, RequestReceived)
    assert event.request.top_via.received == "2001:db8::5"
    [sent] = layer.send_response(make_response(event.request, 200), 0.0)
    assert isinstance(sent, Transmit) and sent.dest == source
    assert parse_message(sent.data).top_via.rport == 5062


# ---------------------------------------------------------------------------------------------
# Transport errors


def test_transport_error_by_transaction_id() -> None:
    layer = TransactionLayer()
    tx_id, _ = layer.send_request(request(), UAS, 0.0, reliable=False)
    assert layer.transport_error(tx_id, 0.1) == [TransportFailure(tx_id, "INVITE", UAS)]
    assert len(layer) == 0 and layer.next_deadline() is None
    assert layer.transport_error(tx_id, 0.2) == []


def test_transport_error_by_destination_ends_every_transaction_using_it() -> None:
    layer = TransactionLayer()
    a, _ = layer.send_request(request(branch="z9hG4bKa"), UAS, 0.0, reliable=True)
    b, _ = layer.send_request(request("OPTIONS", branch="z9hG4bKb"), UAS, 0.0, reliable=True)
    other = ("192.0.2.30", 5060)
    c, _ = layer.send_request(request(branch="z9hG4bKc"), other, 0.0, reliable=True)
    server, _ = start_server(layer, request(branch="z9hG4bKs", transport="TCP"), reliable=True)
    events = layer.transport_error(UAS, 0.5)
    assert sorted(e.tx_id for e in events if isinstance(e, TransportFailure)) == sorted([a, b])
    assert layer.transport_error(UAC, 0.5) == [TransportFailure(server, "INVITE", UAC)]
    assert len(layer) == 1 and layer.state(c) is TxState.CALLING


# ---------------------------------------------------------------------------------------------
# Scale: one heap, lazy cancellation


def test_many_transactions_keep_exact_timers_while_cancelled_ones_pile_up() -> None:
    layer = TransactionLayer()
    requests = [request("OPTIONS", branch=f"z9hG4bK{i}") for i in range(1500)]
    for i, req in enumerate(requests):
        layer.send_request(req, UAS, i * 0.001, reliable=False)
    for i, req in enumerate(requests):
        layer.receive(reparse(answer(req, 200)), UAS, 0.2 + i * 0.001, reliable=False)
    assert len(layer) == 1500
    timeline = run(layer, 1000.0)
    assert timeline == []  # every timer E and F was cancelled by the final response
    assert len(layer) == 0 and layer.next_deadline() is None


# ---------------------------------------------------------------------------------------------
# Two layers over a lossy, duplicating, reordering network


class Peers:
    """A client layer and a server layer with scripted transaction users: the callee answers
    after ``delay`` (ringing first if ``provisional``), the caller cancels an INVITE still
    unanswered at ``patience``."""

    def __init__(
        self,
        method: str,
        final: int,
        *,
        provisional: bool,
        reliable: bool,
        delay: float,
        patience: float,
    ) -> None:
        self.method = method
        self.final = final
        self.provisional = provisional
        self.reliable = reliable
        self.delay = delay
        self.patience = patience
        self.uac = TransactionLayer()
        self.uas = TransactionLayer()
        self.in_flight: list[Transmit] = []
        self.uac_events: list[TxEvent] = []
        self.uas_events: list[TxEvent] = []
        self.invite = outgoing(method)
        self.tx_id = ""
        self.cancelled = False
        self.unanswered: dict[str, tuple[float, SipRequest]] = {}  # server tx: when, request

    def start(self) -> None:
        self.tx_id, events = self.uac.send_request(self.invite, UAS, 0.0, reliable=self.reliable)
        self.from_uac(events, 0.0)

    def next_deadline(self) -> float | None:
        times = [self.uac.next_deadline(), self.uas.next_deadline()]
        times += [when for when, _ in self.unanswered.values()]
        if not self.cancelled and self.uac.state(self.tx_id) is TxState.PROCEEDING:
            times.append(self.patience)
        return min((t for t in times if t is not None), default=None)

    def advance(self, now: float) -> None:
        self.from_uac(self.uac.advance(now), now)
        self.from_uas(self.uas.advance(now), now)
        for tx_id, (when, req) in list(self.unanswered.items()):
            if when <= now:
                del self.unanswered[tx_id]
                self.from_uas(self.uas.send_response(answer(req, self.final), now), now)
        stuck = self.uac.state(self.tx_id) is TxState.PROCEEDING
        if now >= self.patience and stuck and not self.cancelled:
            self.cancelled = True
            cancel = make_cancel(self.invite)
            _, events = self.uac.send_request(cancel, UAS, now, reliable=self.reliable)
            self.from_uac(events, now)

    def from_uac(self, events: list[TxEvent], now: float) -> None:
        for event in events:
            if isinstance(event, Transmit):
                self.in_flight.append(event)
                continue
            self.uac_events.append(event)
            if (
                isinstance(event, ResponseReceived)
                and event.response.cseq.method == "INVITE"
                and 200 <= event.response.status < 300
            ):
                ack = ack_2xx(self.invite, event.response, branch=new_branch())
                self.from_uac(self.uac.send_ack(ack, UAS, reliable=self.reliable), now)

    def from_uas(self, events: list[TxEvent], now: float) -> None:
        for event in events:
            if isinstance(event, Transmit):
                self.in_flight.append(event)
                continue
            self.uas_events.append(event)
            if not isinstance(event, RequestReceived):
                continue
            req = event.request
            if req.method == "CANCEL":
                status = 200 if event.cancels is not None else 481
                self.from_uas(self.uas.send_response(answer(req, status), now), now)
                pending = self.unanswered.pop(event.cancels or "", None)
                if pending is not None:
                    self.from_uas(self.uas.send_response(answer(pending[1], 487), now), now)
                continue
            if self.provisional and req.method == "INVITE":
                self.from_uas(self.uas.send_response(answer(req, 180), now), now)
            if self.delay:
                self.unanswered[event.tx_id] = (now + self.delay, req)
            else:
                self.from_uas(self.uas.send_response(answer(req, self.final), now), now)

    def deliver(self, transmit: Transmit, now: float) -> None:
        message = parse_message(transmit.data)
        if transmit.dest == UAS:
            self.from_uas(self.uas.receive(message, UAC, now, reliable=self.reliable), now)
        else:
            self.from_uac(self.uac.receive(message, UAS, now, reliable=self.reliable), now)


Chooser = Callable[[int], int]  # a number from 0 to n - 1


def exchange(peers: Peers, choose: Chooser, *, loss: int, responses_only: bool) -> None:
    """Run the exchange to its end. A reliable transport delivers in order, once; a datagram
    may be lost, doubled or overtaken. Time stands still while anything is in flight."""
    peers.start()
    now = 0.0
    duplicates = 0
    for _ in range(5000):
        if peers.in_flight:
            reliable = peers.reliable
            index = choose(len(peers.in_flight)) if not reliable else 0
            transmit = peers.in_flight[index]
            fate = "deliver"
            if not reliable:
                roll = choose(100)  # below the loss rate: lost; odd: doubled
                lossy = transmit.dest == UAC or not responses_only
                fate = "lose" if lossy and roll < loss else "double" if roll % 2 else "deliver"
            if fate == "double" and duplicates < 30:
                duplicates += 1
            else:
                del peers.in_flight[index]
            if fate != "lose":
                peers.deliver(transmit, now)
            continue
        deadline = peers.next_deadline()
        if deadline is None:
            return
        now = max(now, deadline)
        peers.advance(now)
    pytest.fail("the exchange did not end")


def check_exchange(peers: Peers) -> None:
    """Both layers are empty, and neither transaction user saw anything twice."""
    assert len(peers.uac) == 0 and len(peers.uas) == 0
    # The caller's transaction ends exactly once: a final response, or a timeout.
    ends = [
        e
        for e in peers.uac_events
        if (
            isinstance(e, ResponseReceived)
            and e.tx_id == peers.tx_id
            and e.response.status >= 200
            and not e.retransmission
        )
        or (isinstance(e, TransactionTimeout) and e.tx_id == peers.tx_id)
    ]
    assert len(ends) == 1
    if peers.reliable:
        assert isinstance(ends[0], ResponseReceived)
        assert ends[0].response.status in (peers.final, 487)
    # The callee sees the request at most once (exactly once if it was answered), and an
    # ACK for its 2xx at most once within the transaction.
    requests = [
        e
        for e in peers.uas_events
        if isinstance(e, RequestReceived) and e.request.method == peers.method
    ]
    assert len(requests) <= 1
    if isinstance(ends[0], ResponseReceived):
        assert len(requests) == 1
    acks = [e for e in peers.uas_events if isinstance(e, AckReceived) and e.tx_id is not None]
    assert len(acks) <= 1
    # Provisional responses go up as often as they arrive (17.1.1.2), never after a final.
    statuses = [
        e.response.status
        for e in peers.uac_events
        if isinstance(e, ResponseReceived) and e.tx_id == peers.tx_id
    ]
    first_final = next((i for i, s in enumerate(statuses) if s >= 200), len(statuses))
    assert all(s >= 200 for s in statuses[first_final:])


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    method=st.sampled_from(["INVITE", "OPTIONS"]),
    final=st.sampled_from([200, 486]),
    provisional=st.booleans(),
    reliable=st.booleans(),
    delay=st.sampled_from([3.0, 0.0, 0.1]),
    patience=st.sampled_from([1.0, 60.0]),
    loss=st.sampled_from([0, 30, 80, 100]),
    responses_only=st.booleans(),
)
def test_loss_duplication_and_reordering_never_repeat_events_and_always_end(
    data: st.DataObject,
    method: str,
    final: int,
    provisional: bool,
    reliable: bool,
    delay: float,
    patience: float,
    loss: int,
    responses_only: bool,
) -> None:
    peers = Peers(
        method,
        final,
        provisional=provisional,
        reliable=reliable,
        delay=delay,
        patience=patience,
    )
    exchange(
        peers,
        lambda n: data.draw(st.integers(0, n - 1)),
        loss=loss,
        responses_only=responses_only,
    )
    check_exchange(peers)


def test_the_same_over_many_seeded_networks() -> None:
    # Hypothesis favours the first values of each choice; uniform seeded runs also reach the
    # cancelled calls (the callee answering 487) and timeouts of both kinds.
    ends: set[tuple[str, bool, str]] = set()
    for seed in range(400):
        rng = random.Random(seed)
        peers = Peers(
            rng.choice(["INVITE", "OPTIONS"]),
            rng.choice([200, 486]),
            provisional=rng.random() < 0.5,
            reliable=rng.random() < 0.3,
            delay=rng.choice([0.0, 0.1, 3.0]),
            patience=rng.choice([1.0, 60.0]),
        )
        exchange(
            peers,
            rng.randrange,
            loss=rng.choice([0, 30, 80, 100]),
            responses_only=rng.random() < 0.5,
        )
        check_exchange(peers)
        ending = next(
            (
                str(e.response.status)
                for e in peers.uac_events
                if isinstance(e, ResponseReceived)
                and e.tx_id == peers.tx_id
                and e.response.status >= 200
            ),
            "timeout",
        )
        ends.add((peers.method, peers.cancelled, ending))
    expected = {
        ("INVITE", True, "487"),
        ("OPTIONS", False, "timeout"),
        ("INVITE", False, "timeout"),
    }
    assert expected <= ends
