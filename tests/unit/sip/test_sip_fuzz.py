"""Fuzzing the SIP parsers: random bytes and mutated valid messages either parse (and then
round-trip) or raise SipParseError, never another exception, and every input is handled in
bounded work (crafted worst cases of maximum size, which a quadratic parser would stall on)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glasshouse.protocols.sip import (
    AuthHeader,
    CSeq,
    DigestAuthenticator,
    DigestChallenge,
    DigestCredentials,
    Event,
    MediaType,
    NameAddr,
    Replaces,
    SipMessage,
    SipParseError,
    SipStreamParser,
    SipWarning,
    SubscriptionState,
    Via,
    parse_contact,
    parse_date,
    parse_message,
    parse_uri,
)

FUZZ = settings(
    max_examples=300,
    deadline=None,  # no wall-clock limits in tests: machines are shared and noisy
    suppress_health_check=[HealthCheck.too_slow],
)

SEEDS = [
    (
        b"INVITE sip:bob@biloxi.example.com;transport=tcp SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport,\r\n"
        b" SIP/2.0/TCP [2001:db8::1]:5061;branch=z9hG4bKnashds8;received=192.0.2.1\r\n"
        b"Max-Forwards: 70\r\n"
        b't: "Bob \\"B\\"" <sip:bob@biloxi.example.com>\r\n'
        b"f: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
        b"i: a84b4c76e66710@pc33.atlanta.example.com\r\n"
        b"CSeq: 314159 INVITE\r\n"
        b"m: <sip:alice@pc33.atlanta.example.com>;expires=60;q=0.5, *\r\n"
        b"Route: <sip:p1.example.com;lr>\r\n"
        b"Expires: 30\r\n"
        b"Date: Sat, 13 Nov 2010 23:29:00 GMT\r\n"
        b'Authorization: Digest username="a", realm="r", nonce="n", uri="sip:b", response="00"\r\n'
        b"Content-Type: application/sdp\r\n"
        b"Content-Length: 19\r\n"
        b"\r\n"
        b"v=0\r\no=- 1 1 IN IP4\r\n"
    ),
    (
        b"SIP/2.0 401 Unauthorized\r\n"
        b"Via: SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bKx;received=198.51.100.1;rport=4000\r\n"
        b"From: <sip:alice@example.com>;tag=a\r\n"
        b"To: <sip:alice@example.com>;tag=b\r\n"
        b"Call-ID: reg1@192.0.2.7\r\n"
        b"CSeq: 2 REGISTER\r\n"
        b'WWW-Authenticate: Digest realm="example.com", nonce="abc", qop="auth", algorithm=MD5\r\n'
        b"Content-Length: 0\r\n"
        b"\r\n"
    ),
    (
        b"REFER sip:carol@example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/TLS 192.0.2.9;branch=z9hG4bK1\r\n"
        b"To: <sip:carol@example.com>\r\n"
        b"From: <sip:bob@example.com>;tag=x\r\n"
        b"Call-ID: r1\r\n"
        b"CSeq: 9 REFER\r\n"
        b"Refer-To: <sip:dave@example.com?Replaces=12%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>\r\n"
        b"Event: refer;id=9\r\n"
        b"Subscription-State: active;expires=60\r\n"
        b"l: 0\r\n"
        b"\r\n"
    ),
]

INTERESTING = b':;,<>"\\ \t\r\n%@[]=?*\x00\xff\x7f/'


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.integers(0, 7))
        if action == 0:  # flip a bit
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif action == 1:  # truncate
            del data[at:]
        elif action == 2:  # duplicate a CRLF
            crlf = data.find(b"\r\n", at)
            if crlf >= 0:
                data[crlf:crlf] = b"\r\n"
        elif action == 3:  # drop a CR, an LF or a whole CRLF
            crlf = data.find(b"\r\n", at)
            if crlf >= 0:
                start, end = draw(st.sampled_from([(0, 1), (1, 2), (0, 2)]))
                del data[crlf + start : crlf + end]
        elif action == 4:  # overwrite with a character that means something to SIP
            data[at] = draw(st.sampled_from(INTERESTING))
        elif action == 5:  # insert random bytes
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif action == 6:  # delete a slice
            del data[at : at + draw(st.integers(1, 16))]
        else:  # duplicate a slice (a repeated header, a doubled separator...)
            data[at:at] = data[at : at + draw(st.integers(1, 40))]
    return bytes(data)


def _exercise(message: SipMessage) -> None:
    """A parsed message round-trips, and every typed reader parses or raises SipParseError."""
    assert parse_message(bytes(message)) == message
    for name in (
        "via",
        "from_",
        "to",
        "call_id",
        "cseq",
        "max_forwards",
        "expires",
        "contact",
        "contact_wildcard",
        "route",
        "record_route",
        "content_type",
        "allow",
        "supported",
        "authorization",
        "www_authenticate",
        "refer_to",
        "replaces",
        "event",
        "subscription_state",
        "date",
        "warning",
    ):
        with contextlib.suppress(SipParseError):
            getattr(message, name)


def _parse(data: bytes) -> None:
    try:
        message = parse_message(data)
    except SipParseError as exc:
        assert exc.reason
        if exc.response_hint is not None:
            exc.response_hint.response(to_tag="fz")
        return
    _exercise(message)


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes(data: bytes) -> None:
    _parse(data)


@FUZZ
@given(mutated())
def test_mutated_messages(data: bytes) -> None:
    _parse(data)


@settings(FUZZ, max_examples=150)
@given(st.lists(mutated(), min_size=1, max_size=3), st.data())
def test_mutated_streams(batch: list[bytes], draw: st.DataObject) -> None:
    stream = b"".join(batch)
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    parser = SipStreamParser(max_header_bytes=1024, max_body_bytes=256)
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        chunk = stream[start:end]
        while True:  # feed until no message and no deferred error is left
            try:
                messages = parser.feed(chunk)
            except SipParseError:
                if parser.failed:
                    return
                chunk = b""
                continue
            chunk = b""
            if not messages:
                break
            for message in messages:
                _exercise(message)


SIP_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list(":;,<>\"\\ \t%@[]=?*/.-_~+!'`0123456789sipSIPtelUDPzZ\x00\x7f")),
        st.characters(blacklist_characters="\r\n"),
    ),
    max_size=80,
)


def _via(text: str) -> object:
    return Via.parse(text)


PARSERS: list[Callable[[str], object]] = [
    parse_uri,
    _via,
    NameAddr.parse,
    parse_contact,
    CSeq.parse,
    MediaType.parse,
    AuthHeader.parse,
    SipWarning.parse,
    Replaces.parse,
    Event.parse,
    SubscriptionState.parse,
    parse_date,
    DigestChallenge.parse,
    DigestCredentials.parse,
]


@FUZZ
@given(st.sampled_from(PARSERS), SIP_TEXT)
def test_header_value_parsers(parse: Callable[[str], object], text: str) -> None:
    try:
        value = parse(text)
    except SipParseError as exc:
        assert exc.reason
        return
    if not isinstance(value, str | datetime):  # what was accepted is written back the same
        assert parse(str(value)) == value


@FUZZ
@given(SIP_TEXT, st.floats(min_value=0, max_value=1e12))
def test_nonce_checks_never_raise(nonce: str, now: float) -> None:
    auth = DigestAuthenticator(b"k" * 32, "realm")
    auth.nonce_state(nonce, now)


# ---------------------------------------------------------------------------------------------
# Crafted worst cases: large inputs built to make a careless parser quadratic

_HEAD = b"INVITE sip:a@b SIP/2.0\r\n"
WORST_CASES = {
    "quotes": _HEAD + b"Via: " + b'"' * 60_000 + b"\r\n\r\n",
    "commas": _HEAD + b"Contact: " + b"<sip:a@b>," * 6_000 + b"\r\n\r\n",
    "params": _HEAD + b"Via: SIP/2.0/UDP h" + b";a" * 30_000 + b"\r\n\r\n",
    "header lines": _HEAD + b"X-A: y\r\n" * 8_000 + b"\r\n",
    "folded lines": _HEAD + b"X-A: y\r\n" + b" z\r\n" * 15_000 + b"\r\n",
    "escapes": b"INVITE sip:" + b"%41" * 20_000 + b"@h SIP/2.0\r\n\r\n",
    "brackets": _HEAD + b"To: " + b"<" * 60_000 + b"\r\n\r\n",
    "auth params": _HEAD + b"Authorization: Digest " + b"a=b," * 15_000 + b"\r\n\r\n",
    "no end": _HEAD + b"X: " + b"a" * 65_000,
    "big number": _HEAD + b"CSeq: " + b"9" * 60_000 + b" INVITE\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(WORST_CASES))
def test_worst_cases_take_bounded_time(name: str) -> None:
    data = WORST_CASES[name]
    # linear work on 64 KB takes milliseconds; a quadratic parser would stall the suite
    try:
        message = parse_message(data)
    except SipParseError:
        pass
    else:
        _exercise(message)


def test_stream_fed_one_byte_at_a_time_stays_linear() -> None:
    parser = SipStreamParser()
    data = _HEAD + b"X: " + b"a" * 30_000
    for i in range(len(data)):
        assert parser.feed(data[i : i + 1]) == []
    assert parser.buffered == len(data)
