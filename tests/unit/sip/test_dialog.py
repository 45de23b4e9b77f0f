"""SIP dialogs: creation on both sides with Record-Route sets, in-dialog requests through the
wire and back, CSeq ordering, target refreshes, strict routing, and out-of-dialog requests."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glasshouse.protocols.sip.dialog import (
    Dialog,
    DialogError,
    DialogId,
    DialogState,
    Rejection,
    dialog_id_from_request,
    dialog_id_from_response,
    new_call_id,
    new_request,
    new_tag,
)
from glasshouse.protocols.sip.headers import NameAddr
from glasshouse.protocols.sip.message import (
    SipRequest,
    SipResponse,
    make_response,
    parse_message,
)
from glasshouse.protocols.sip.transaction import with_via
from glasshouse.protocols.sip.uri import SipParseError, parse_uri

CALLER_CONTACT = "<sip:caller@192.0.2.10:5060>"
AGENT_CONTACT = "<sip:agent@192.0.2.20:5062;transport=udp>"
# Record-Route as the callee sees it: the proxy nearest to it first.
RECORD_ROUTE = "<sip:p2.example.com;lr>, <sip:p1.example.com;lr>"


def wire(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


def invite_text(*, uri: str = "sip:agent@example.com", record_route: bool = True) -> str:
    rr = f"Record-Route: {RECORD_ROUTE}\n" if record_route else ""
    return (
        f"INVITE {uri} SIP/2.0\n"
        "Via: SIP/2.0/UDP p2.example.com;branch=z9hG4bKp2\n"
        "Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bKp1\n"
        "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKuac;received=192.0.2.10\n"
        "Max-Forwards: 68\n"
        f"{rr}"
        'From: "Caller" <sip:caller@example.com>;tag=caller1\n'
        "To: <sip:agent@example.com>\n"
        "Call-ID: dlg1@192.0.2.10\n"
        "CSeq: 101 INVITE\n"
        f"Contact: {CALLER_CONTACT}\n"
        "\n"
    )


def parse_request(data: bytes) -> SipRequest:
    message = parse_message(data)
    assert isinstance(message, SipRequest)
    return message


def parse_response(data: bytes) -> SipResponse:
    message = parse_message(data)
    assert isinstance(message, SipResponse)
    return message


def invite(*, uri: str = "sip:agent@example.com", record_route: bool = True) -> SipRequest:
    return parse_request(wire(invite_text(uri=uri, record_route=record_route)))


def respond(
    request: SipRequest,
    status: int,
    *,
    tag: str | None = "agent1",
    contact: str | None = AGENT_CONTACT,
    record_route: bool = True,
) -> SipResponse:
    """A response as the callee sends it (Record-Route copied, 12.1.1)."""
    headers: list[tuple[str, str]] = []
    if record_route:
        headers += [("Record-Route", rr) for rr in request.headers.get_all("Record-Route")]
    if contact is not None:
        headers.append(("Contact", contact))
    return make_response(request, status, to_tag=tag, headers=headers)


def over_the_wire(message: SipRequest) -> SipRequest:
    """The request as the peer parses it, after our transport adds its Via."""
    return parse_request(bytes(with_via(message, "192.0.2.10", 5060)))


def pair(status: int = 200) -> tuple[Dialog, Dialog]:
    """The caller's and the callee's dialogs after the INVITE and a ``status`` answer."""
    request = invite()
    response = respond(request, status)
    callee = Dialog.as_uas(request, response)
    caller = Dialog.as_uac(request, parse_response(bytes(response)))
    return caller, callee


# ---------------------------------------------------------------------------------------------
# Creation


def test_callee_dialog_from_the_invite_and_its_answer() -> None:
    request = invite()
    ringing = respond(request, 180)
    dialog = Dialog.as_uas(request, ringing)
    assert dialog.state is DialogState.EARLY
    assert dialog.id == DialogId("dlg1@192.0.2.10", "agent1", "caller1")
    assert str(dialog.local_uri) == "<sip:agent@example.com>"
    assert str(dialog.remote_uri) == '"Caller" <sip:caller@example.com>'
    assert str(dialog.remote_target) == "sip:caller@192.0.2.10:5060"
    assert str(dialog.local_contact) == AGENT_CONTACT
    assert [str(r) for r in dialog.route_set] == [
        "<sip:p2.example.com;lr>",
        "<sip:p1.example.com;lr>",
    ]
    assert (dialog.local_seq, dialog.remote_seq) == (None, 101)
    assert not dialog.is_uac and not dialog.secure
    dialog.response_sent(respond(request, 200))
    assert dialog.state is DialogState.CONFIRMED
    assert Dialog.as_uas(request, respond(request, 200)).state is DialogState.CONFIRMED


def test_caller_dialog_from_a_2xx_reverses_the_record_route() -> None:
    caller, callee = pair()
    assert caller.state is DialogState.CONFIRMED and caller.is_uac
    assert caller.id == DialogId("dlg1@192.0.2.10", "caller1", "agent1")
    assert caller.id == (callee.id.call_id, callee.id.remote_tag, callee.id.local_tag)
    assert [str(r) for r in caller.route_set] == [
        "<sip:p1.example.com;lr>",
        "<sip:p2.example.com;lr>",
    ]
    assert str(caller.remote_target) == "sip:agent@192.0.2.20:5062;transport=udp"
    assert str(caller.local_contact) == CALLER_CONTACT
    assert (caller.local_seq, caller.remote_seq) == (101, None)
    assert str(caller.local_uri) == '"Caller" <sip:caller@example.com>'
    assert str(caller.remote_uri) == "<sip:agent@example.com>"


def test_early_dialog_confirmed_by_the_2xx_recomputes_its_route_set() -> None:
    request = invite()
    early = respond(request, 183, record_route=False, contact=None)
    caller = Dialog.as_uac(request, early)
    assert caller.state is DialogState.EARLY
    assert caller.route_set == ()
    assert caller.remote_target == request.uri  # a 1xx without Contact
    caller.receive_response(parse_response(bytes(respond(request, 200))))
    assert caller.state is DialogState.CONFIRMED
    assert [str(r.uri) for r in caller.route_set] == [
        "sip:p1.example.com;lr",
        "sip:p2.example.com;lr",
    ]
    assert str(caller.remote_target) == "sip:agent@192.0.2.20:5062;transport=udp"


def test_failure_to_the_invite_ends_an_early_dialog() -> None:
    request = invite()
    caller = Dialog.as_uac(request, respond(request, 180))
    caller.receive_response(respond(request, 486))
    assert caller.state is DialogState.TERMINATED
    callee = Dialog.as_uas(request, respond(request, 180))
    callee.response_sent(respond(request, 487))
    assert callee.state is DialogState.TERMINATED


def test_sips_request_uri_makes_a_secure_dialog() -> None:
    request = invite(uri="sips:agent@example.com")
    assert Dialog.as_uas(request, respond(request, 200)).secure


@pytest.mark.parametrize(
    ("status", "tag", "contact", "message"),
    [
        (200, None, AGENT_CONTACT, "the 200 response has no To tag"),
        (200, "agent1", None, r"the 200 response has no Contact \(RFC 3261 12.1.1\)"),
        (100, None, AGENT_CONTACT, "a 100 response does not create a dialog"),
        (486, "agent1", None, "a 486 response does not create a dialog"),
    ],
)
def test_responses_that_cannot_create_a_dialog(
    status: int, tag: str | None, contact: str | None, message: str
) -> None:
    request = invite()
    response = respond(request, status, tag=tag, contact=contact)
    with pytest.raises(DialogError, match=message):
        Dialog.as_uas(request, response)
    with pytest.raises(DialogError, match=message):
        Dialog.as_uac(request, response)


def test_requests_that_cannot_create_a_dialog() -> None:
    request = invite()
    bye = parse_request(bytes(request).replace(b"INVITE", b"BYE"))
    with pytest.raises(DialogError, match="a BYE does not create a dialog"):
        Dialog.as_uas(bye, respond(bye, 200))
    no_contact = invite()
    no_contact.headers.remove("Contact")
    with pytest.raises(DialogError, match="the INVITE request has no Contact"):
        Dialog.as_uas(no_contact, respond(no_contact, 200))
    with pytest.raises(DialogError, match="the INVITE request has no Contact"):
        Dialog.as_uac(no_contact, respond(no_contact, 200))
    other_call = respond(request, 200)
    other_call.headers.set("Call-ID", "else@192.0.2.10")
    with pytest.raises(DialogError, match=r"the 200 response has Call-ID 'else@192\.0\.2\.10'"):
        Dialog.as_uac(request, other_call)


def test_peer_without_from_tag() -> None:
    request = invite()
    request.headers.set("From", "<sip:caller@example.com>")
    callee = Dialog.as_uas(request, respond(request, 200))
    assert callee.remote_tag == ""
    bye = callee.create_request("BYE")
    assert bye.to.tag is None and bye.from_.tag == "agent1"


# ---------------------------------------------------------------------------------------------
# In-dialog requests, through the wire to the peer's dialog


def test_caller_bye_reaches_the_callee_through_the_route_set() -> None:
    caller, callee = pair()
    bye = caller.create_request("BYE")
    assert str(bye.uri) == "sip:agent@192.0.2.20:5062;transport=udp"
    assert [str(r) for r in bye.route] == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    assert str(bye.cseq) == "102 BYE" and caller.local_seq == 102
    assert bye.max_forwards == 70
    assert "Contact" not in bye.headers
    assert bye.from_.tag == "caller1" and bye.to.tag == "agent1"
    received = over_the_wire(bye)
    assert dialog_id_from_request(received) == callee.id
    assert callee.receive_request(received) is None
    assert callee.remote_seq == 102
    ok = make_response(received, 200)
    callee.response_sent(ok)
    assert callee.state is DialogState.TERMINATED
    caller.receive_response(parse_response(bytes(ok)))
    assert caller.state is DialogState.TERMINATED
    assert dialog_id_from_response(ok) == caller.id


def test_callee_request_starts_its_own_cseq_space() -> None:
    caller, callee = pair()
    info = callee.create_request(
        "INFO",
        body=b"Signal=5\r\n",
        content_type="application/dtmf-relay",
        extra_headers=[("Info-Package", "dtmf")],
    )
    assert str(info.cseq) == "1 INFO" and callee.local_seq == 1
    assert str(info.uri) == "sip:caller@192.0.2.10:5060"
    assert [str(r) for r in info.route] == ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]
    assert info.content_type is not None and info.content_type.mime == "application/dtmf-relay"
    assert info.headers["Info-Package"] == "dtmf"
    received = over_the_wire(info)
    assert received.body == b"Signal=5\r\n"
    assert dialog_id_from_request(received) == caller.id
    assert caller.receive_request(received) is None
    assert caller.remote_seq == 1


def test_reinvite_refreshes_the_target_on_both_sides() -> None:
    caller, callee = pair()
    caller.local_contact = NameAddr.parse("<sip:caller@198.51.100.4:5070>")
    reinvite = caller.create_request("INVITE", body=b"v=0\r\n", content_type="application/sdp")
    assert reinvite.contact == [caller.local_contact]
    received = over_the_wire(reinvite)
    assert callee.receive_request(received) is None
    assert str(callee.remote_target) == "sip:caller@198.51.100.4:5070"
    ok = make_response(received, 200, headers=[("Contact", "<sip:agent@198.51.100.9>")])
    callee.response_sent(ok)
    caller.receive_response(parse_response(bytes(ok)))
    assert str(caller.remote_target) == "sip:agent@198.51.100.9"
    assert caller.state is DialogState.CONFIRMED
    # INFO is not a target refresh: its Contact (if any) changes nothing.
    info = caller.create_request("INFO", extra_headers=[("Contact", "<sip:x@203.0.113.1>")])
    assert callee.receive_request(over_the_wire(info)) is None
    assert str(callee.remote_target) == "sip:caller@198.51.100.4:5070"
    update = callee.create_request("UPDATE")
    assert update.contact == [callee.local_contact]
    assert caller.receive_request(over_the_wire(update)) is None
    assert caller.remote_target == callee.local_contact.uri


def test_ack_for_the_2xx() -> None:
    caller, callee = pair()
    ack = caller.create_ack(101, body=b"v=0\r\n", content_type="application/sdp")
    assert ack.method == "ACK" and str(ack.cseq) == "101 ACK"
    assert caller.local_seq == 101  # an ACK takes no new number
    assert ack.uri == caller.remote_target and ack.route == list(caller.route_set)
    assert "Contact" not in ack.headers
    assert callee.receive_request(over_the_wire(ack)) is None
    # After a later request, the ACK of the first INVITE is still accepted.
    callee.receive_request(over_the_wire(caller.create_request("INFO")))
    assert callee.receive_request(over_the_wire(ack)) is None
    assert callee.remote_seq == 102


def test_lower_cseq_is_refused_with_500_and_equal_is_accepted() -> None:
    caller, callee = pair()
    first = over_the_wire(caller.create_request("INFO"))
    second = over_the_wire(caller.create_request("INFO"))
    assert callee.receive_request(second) is None
    rejection = callee.receive_request(first)
    assert rejection == Rejection(500, "CSeq 102 is lower than 103: the request is out of order")
    response = rejection.response(first, agent="glasshouse")
    assert response.status == 500
    assert response.warning[0].text == rejection.reason
    assert response.warning[0].agent == "glasshouse"
    assert callee.remote_seq == 103
    assert callee.receive_request(second) is None  # equal is not lower (12.2.2)


def test_requests_of_another_or_an_ended_dialog_get_481() -> None:
    caller, callee = pair()
    stranger = over_the_wire(caller.create_request("INFO"))
    stranger.headers.set("From", "<sip:caller@example.com>;tag=someone-else")
    rejection = callee.receive_request(stranger)
    assert rejection is not None and rejection.status == 481
    callee.terminate()
    late = callee.receive_request(over_the_wire(caller.create_request("INFO")))
    assert late == Rejection(481, "dialog dlg1@192.0.2.10 is terminated")
    with pytest.raises(DialogError, match=r"dialog dlg1@192\.0\.2\.10 is terminated"):
        callee.create_request("BYE")


def test_responses_that_end_a_dialog() -> None:
    for status in (408, 481):
        caller, _ = pair()
        request = caller.create_request("INVITE")
        caller.receive_response(respond(request, status))
        assert caller.state is DialogState.TERMINATED
    caller, _ = pair()
    request = caller.create_request("INVITE")
    caller.receive_response(respond(request, 491))  # a re-INVITE refused: the dialog stays
    assert caller.state is DialogState.CONFIRMED


def test_response_of_another_fork_is_refused() -> None:
    request = invite()
    caller = Dialog.as_uac(request, respond(request, 180, tag="fork1"))
    with pytest.raises(DialogError, match="To tag 'fork2', not 'fork1'"):
        caller.receive_response(respond(request, 200, tag="fork2"))


def test_strict_router_first_in_the_route_set() -> None:
    caller, _ = pair()
    caller.route_set = (
        NameAddr.parse("<sip:strict.example.com;method=INVITE;maddr=192.0.2.99>"),
        NameAddr.parse("<sip:p2.example.com;lr>"),
    )
    bye = caller.create_request("BYE")
    assert str(bye.uri) == "sip:strict.example.com;maddr=192.0.2.99"
    assert [str(r) for r in bye.route] == [
        "<sip:p2.example.com;lr>",
        "<sip:agent@192.0.2.20:5062;transport=udp>",
    ]
    assert over_the_wire(bye).uri == bye.uri


def test_create_request_refuses_what_it_does_not_build() -> None:
    caller, _ = pair()
    with pytest.raises(ValueError, match="use create_ack or make_cancel"):
        caller.create_request("ACK")
    with pytest.raises(ValueError, match="use create_ack or make_cancel"):
        caller.create_request("CANCEL")
    with pytest.raises(ValueError, match="method 'B Y E' is not a token"):
        caller.create_request("B Y E")
    with pytest.raises(ValueError, match="a request with a body needs a content_type"):
        caller.create_request("INFO", body=b"x")
    with pytest.raises(SipParseError, match="bad Content-Type header"):
        caller.create_request("INFO", body=b"x", content_type="not a type")
    caller.local_seq = 2**31 - 1
    with pytest.raises(DialogError, match="has used every CSeq number"):
        caller.create_request("BYE")


def test_dialog_ids_of_messages_outside_a_dialog() -> None:
    request = invite()
    assert dialog_id_from_request(request) is None
    assert dialog_id_from_response(make_response(request, 100)) is None
    ringing = respond(request, 180)
    assert dialog_id_from_response(ringing) == DialogId("dlg1@192.0.2.10", "caller1", "agent1")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.sampled_from(["INFO", "UPDATE", "NOTIFY"]))))
def test_requests_from_both_sides_are_accepted_in_order(
    script: list[tuple[bool, str]],
) -> None:
    caller, callee = pair()
    for from_caller, method in script:
        sender, receiver = (caller, callee) if from_caller else (callee, caller)
        request = over_the_wire(sender.create_request(method))
        assert receiver.receive_request(request) is None
        assert receiver.remote_seq == sender.local_seq == request.cseq.number
    assert caller.local_seq == 101 + sum(1 for side, _ in script if side)
    assert callee.local_seq == (sum(1 for side, _ in script if not side) or None)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 2**31 - 1), min_size=1, max_size=30))
def test_cseq_order_accepts_exactly_the_non_decreasing_numbers(numbers: list[int]) -> None:
    caller, callee = pair()
    template = over_the_wire(caller.create_request("INFO"))
    highest = 101
    for number in numbers:
        request = parse_request(bytes(template))
        request.headers.set("CSeq", f"{number} INFO")
        outcome = callee.receive_request(request)
        if number < highest:
            assert outcome is not None and outcome.status == 500
        else:
            assert outcome is None
            highest = number
        assert callee.remote_seq == highest


# ---------------------------------------------------------------------------------------------
# Requests outside a dialog


def test_new_request_for_an_agent() -> None:
    request = new_request(
        "INVITE",
        parse_uri("sip:agent7@192.0.2.20:5062"),
        from_addr=NameAddr.parse('"Queue Sales" <sip:sales@cc.example.com>'),
        to_addr=NameAddr.parse("<sip:agent7@cc.example.com>"),
        contact=NameAddr.parse("<sip:acd@192.0.2.1:5060>"),
        route=[NameAddr.parse("<sip:edge.example.com;lr>")],
        body=b"v=0\r\n",
        content_type="application/sdp",
    )
    assert request.from_.tag is not None and request.to.tag is None
    assert str(request.cseq) == "1 INVITE" and request.max_forwards == 70
    assert [str(c) for c in request.contact] == ["<sip:acd@192.0.2.1:5060>"]
    assert [str(r) for r in request.route] == ["<sip:edge.example.com;lr>"]
    assert request.call_id and request.from_.display_name == "Queue Sales"
    sent = with_via(request, "192.0.2.1", 5060)
    assert parse_message(bytes(sent)) == sent
    # The agent answers; both sides get a dialog from it.
    ok = respond(parse_request(bytes(sent)), 200, record_route=False)
    caller = Dialog.as_uac(sent, ok)
    assert caller.local_seq == 1 and caller.route_set == ()
    assert caller.local_tag == request.from_.tag


def test_new_request_fixed_values_and_options() -> None:
    options = new_request(
        "OPTIONS",
        parse_uri("sip:agent7@192.0.2.20"),
        from_addr=NameAddr.parse("<sip:acd@cc.example.com>;tag=old"),
        to_addr=NameAddr.parse("<sip:agent7@cc.example.com>"),
        call_id="probe-1",
        from_tag="fixed",
        cseq=7,
    )
    assert options.call_id == "probe-1" and options.from_.tag == "fixed"
    assert str(options.cseq) == "7 OPTIONS" and "Contact" not in options.headers


def test_new_request_refusals() -> None:
    uri = parse_uri("sip:agent7@192.0.2.20")
    me = NameAddr.parse("<sip:acd@cc.example.com>")
    agent = NameAddr.parse("<sip:agent7@cc.example.com>")
    with pytest.raises(ValueError, match="an INVITE needs a contact"):
        new_request("INVITE", uri, from_addr=me, to_addr=agent)
    with pytest.raises(ValueError, match="a request outside a dialog has no To tag"):
        new_request("OPTIONS", uri, from_addr=me, to_addr=agent.with_tag("x"))
    with pytest.raises(ValueError, match="an ACK is built from the request it belongs to"):
        new_request("ACK", uri, from_addr=me, to_addr=agent)
    with pytest.raises(ValueError, match="CSeq 2147483648 out of range"):
        new_request("OPTIONS", uri, from_addr=me, to_addr=agent, cseq=2**31)


def test_fresh_tags_and_call_ids() -> None:
    tags = {new_tag() for _ in range(500)}
    call_ids = {new_call_id() for _ in range(500)}
    assert len(tags) == 500 and len(call_ids) == 500
