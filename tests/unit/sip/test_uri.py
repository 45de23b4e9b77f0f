"""SIP, SIPS and tel URIs: parsing, escaping, serialising, and the comparison rules of
RFC 3261 19.1.4 and RFC 3966 section 4."""

from __future__ import annotations

import string
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glasshouse.protocols.sip import (
    AbsoluteUri,
    Params,
    SipParseError,
    SipUri,
    TelUri,
    Uri,
    parse_uri,
)
from glasshouse.protocols.sip.uri import _parse_uri_full, common_sip_uri

# ---------------------------------------------------------------------------------------------
# Parsing


def test_full_sip_uri() -> None:
    uri = parse_uri(
        "sip:alice:secret@atlanta.com:5061;transport=tcp;lr?subject=project%20x&priority=urgent"
    )
    assert uri == SipUri(
        user="alice",
        password="secret",
        host="atlanta.com",
        port=5061,
        params=Params([("transport", "tcp"), ("lr", None)]),
        headers=(("subject", "project x"), ("priority", "urgent")),
    )
    assert isinstance(uri, SipUri)
    assert uri.transport == "tcp"
    assert uri.lr
    assert uri.params.get("transport") == "tcp"
    assert "LR" in uri.params


def test_sips_ipv6_and_scheme_case() -> None:
    assert parse_uri("SIPS:[2001:db8::1]:5061") == SipUri(
        scheme="sips", host="2001:db8::1", port=5061
    )
    assert str(SipUri(host="::1", port=5060)) == "sip:[::1]:5060"


def test_tel_and_other_schemes() -> None:
    assert parse_uri("tel:+1-201-555-0123;phone-context=example.com") == TelUri(
        number="+1-201-555-0123", params=Params([("phone-context", "example.com")])
    )
    assert parse_uri("soap.beep://192.0.2.103:3002") == AbsoluteUri(
        scheme="soap.beep", opaque="//192.0.2.103:3002"
    )
    assert parse_uri("nobodyKnowsThisScheme:totallyopaquecontent") == AbsoluteUri(
        scheme="nobodyknowsthisscheme", opaque="totallyopaquecontent"
    )


def test_escapes_are_decoded_and_written_back_only_where_needed() -> None:
    # RFC 4475 esc01 and escnull.
    uri = parse_uri("sip:sips%3Auser%40example.com@example.net")
    assert isinstance(uri, SipUri) and uri.user == "sips:user@example.com"
    assert str(uri) == "sip:sips%3Auser%40example.com@example.net"
    assert str(parse_uri("sip:%75se%72@example.com")) == "sip:user@example.com"
    contact = parse_uri("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31")
    assert isinstance(contact, SipUri)
    assert contact.user == "caller"
    assert contact.params == Params([("lr", None), ("name", "value%41")])
    null = parse_uri("sip:null-%00-null@example.com")
    assert isinstance(null, SipUri) and null.user == "null-\x00-null"
    assert str(null) == "sip:null-%00-null@example.com"
    assert str(SipUri(user="I have spaces", host="example.net")) == (
        "sip:I%20have%20spaces@example.net"
    )
    assert str(SipUri(user="é", host="h")) == "sip:%C3%A9@h"


def test_user_part_may_hold_semicolons_and_question_marks() -> None:
    # RFC 4475 semiuri and intmeth.
    uri = parse_uri("sip:user;par=u%40example.net@example.com")
    assert isinstance(uri, SipUri)
    assert (uri.user, uri.host, uri.params) == ("user;par=u@example.net", "example.com", Params())
    weird = parse_uri(
        "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too."
        "(doesn't-it)@example.com"
    )
    assert isinstance(weird, SipUri)
    assert weird.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert weird.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("sip:", "sip: URI has no host"),
        ("sip:@host", "sip: URI has an empty user part"),
        ("sip:host:99999", "sip: URI port 99999 out of range 0-65535"),
        ("sip:host:5x", "bad sip: URI port '5x'"),
        ("sip:host;", "sip: URI has an empty parameter"),
        ("sip:host;a=", "sip: URI parameter 'a' has an empty value"),
        ("sip:ho st", "sip: URI host 'ho st' is not a valid hostname"),
        ("sip:[::1", "sip: URI host '[::1' has no closing ']'"),
        ("sip:[::1]x", "sip: URI has text after the IPv6 address: 'x'"),
        ("sip:[zz]", "sip: URI host '[zz]' is not an IPv6 address"),
        ("sip:999.1.1.1", "sip: URI host '999.1.1.1' is not an IPv4 address"),
        ("sip:-a.com", "sip: URI host '-a.com' is not a valid hostname"),
        ("sip:%zz@x", "sip: URI user part has a bad %-escape '%zz'"),
        ("sip:a b@x", "sip: URI user part contains ' '"),
        ("sip:x?novalue", "sip: URI has a bad header component 'novalue'"),
        ("<sip:a@b>", "URI '<sip:a@b>' has a bad scheme"),
        ("example.com", "URI 'example.com' has no scheme"),
        ("tel:", "tel: URI: bad telephone number ''"),
        ("tel:+", "tel: URI: bad telephone number '+'"),
        ("tel:abcxyz", "tel: URI: bad telephone number 'abcxyz'"),
        ("http:", "http: URI is empty"),
        ("http://a b", "http: URI contains ' '"),
    ],
)
def test_bad_uris_say_why(text: str, reason: str) -> None:
    with pytest.raises(SipParseError) as excinfo:
        parse_uri(text)
    assert excinfo.value.reason == reason


def test_constructor_refuses_what_cannot_be_written() -> None:
    with pytest.raises(ValueError, match="scheme"):
        SipUri(scheme="tel", host="x")
    with pytest.raises(ValueError, match="user part is empty"):
        SipUri(user="", host="x")
    with pytest.raises(ValueError, match="needs a user"):
        SipUri(password="p", host="x")
    with pytest.raises(ValueError, match="CR or LF"):
        SipUri(user="a\r\nb", host="x")
    with pytest.raises(ValueError, match="hostname"):
        SipUri(host="bad host")
    with pytest.raises(ValueError, match="out of range"):
        SipUri(host="x", port=70000)
    with pytest.raises(ValueError, match="empty"):
        SipUri(host="x", params=Params([("a", "")]))
    with pytest.raises(ValueError, match="telephone"):
        TelUri(number="12a;")
    with pytest.raises(ValueError, match="lower case"):
        AbsoluteUri(scheme="HTTP", opaque="//x")


# ---------------------------------------------------------------------------------------------
# Comparison (RFC 3261 19.1.4, whose examples these are)

EQUIVALENT = [
    ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
    ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"),
    (
        "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
        "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
    ),
    (
        "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
        "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
    ),
    ("sip:[2001:db8::1]", "sip:[2001:DB8:0::1]"),
]

DIFFERENT = [
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
    ("sip:bob@biloxi.com", "sips:bob@biloxi.com"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
    ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"),
    ("sip:alice:one@atlanta.com", "sip:alice:two@atlanta.com"),
    ("sip:a@b;lr", "sip:a@b;lr=on"),
    ("sip:a@b", "tel:+123"),
]


@pytest.mark.parametrize(("a", "b"), EQUIVALENT)
def test_equivalent_uris(a: str, b: str) -> None:
    assert parse_uri(a).equivalent(parse_uri(b))
    assert parse_uri(b).equivalent(parse_uri(a))


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_uris(a: str, b: str) -> None:
    assert not parse_uri(a).equivalent(parse_uri(b))
    assert not parse_uri(b).equivalent(parse_uri(a))


def test_tel_comparison_ignores_separators_and_parameter_order() -> None:
    a = parse_uri("tel:+1-201-555-0123;ext=7;isub=a")
    b = parse_uri("tel:+1(201)5550123;ISUB=A;ext=7")
    assert a.equivalent(b)
    assert not a.equivalent(parse_uri("tel:+1-201-555-0124;ext=7;isub=a"))
    assert isinstance(a, TelUri) and a.is_global and a.digits == "+12015550123"
    assert TelUri.parse("tel:+1-201-555-0123;ext=7;isub=a") == a
    with pytest.raises(SipParseError, match="not a tel URI"):
        TelUri.parse("sip:a@b")
    with pytest.raises(SipParseError, match="not a SIP URI"):
        SipUri.parse("tel:+1")


def test_params_are_immutable_and_case_insensitive() -> None:
    params = Params([("Transport", "udp"), ("lr", None)])
    assert params.get("transport") == "udp"
    assert params.get("lr") is None and "lr" in params and "maddr" not in params
    assert params.set("TRANSPORT", "tcp") == Params([("Transport", "tcp"), ("lr", None)])
    assert params.set("maddr", "x") == Params([("Transport", "udp"), ("lr", None), ("maddr", "x")])
    assert params.remove("LR") == Params([("Transport", "udp")])
    assert params == Params([("Transport", "udp"), ("lr", None)])
    assert len(params) == 2 and hash(params) == hash(Params(params))


# ---------------------------------------------------------------------------------------------
# Round trips

_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n")
_TEXT = st.text(alphabet=_CHARS, min_size=1, max_size=12)
_MAYBE_EMPTY_TEXT = st.text(alphabet=_CHARS, max_size=8)
_LABELS = st.text(alphabet=string.ascii_lowercase + string.digits + "-", max_size=8)
_HOSTNAMES = st.lists(_LABELS.map(lambda s: f"h{s}x"), min_size=1, max_size=3).map(".".join)
HOSTS = st.one_of(_HOSTNAMES, st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str))
_PARAMS = st.lists(st.tuples(_TEXT, st.none() | _TEXT), max_size=4).map(Params)


@st.composite
def sip_uris(draw: st.DrawFn) -> SipUri:
    user = draw(st.none() | _TEXT)
    return SipUri(
        scheme=draw(st.sampled_from(["sip", "sips"])),
        user=user,
        password=None if user is None else draw(st.none() | _MAYBE_EMPTY_TEXT),
        host=draw(HOSTS),
        port=draw(st.none() | st.integers(0, 65535)),
        params=draw(_PARAMS),
        headers=tuple(draw(st.lists(st.tuples(_TEXT, _MAYBE_EMPTY_TEXT), max_size=3))),
    )


TEL_URIS = st.builds(
    TelUri,
    number=st.text(alphabet="0123456789-.()", min_size=0, max_size=12).map(lambda s: f"+1{s}"),
    params=_PARAMS,
)


@settings(max_examples=300)
@given(st.one_of(sip_uris(), TEL_URIS))
def test_uri_round_trip(uri: Uri) -> None:
    text = str(uri)
    assert parse_uri(text) == uri
    assert str(parse_uri(text)) == text
    assert uri.equivalent(parse_uri(text))


# ---------------------------------------------------------------------------------------------
# The common shape (plain ``sip:user@host:port;params``) is read by one regular expression;
# whatever it reads, the full parser reads the same, and it leaves everything else to it.

_COMMON_USERS = st.text(
    alphabet=string.ascii_letters + string.digits + "-_.!~*'()&=+$,;?/#", min_size=1, max_size=10
)
_COMMON_PARAM_TEXT = st.text(
    alphabet=string.ascii_letters + string.digits + "-_.!~*'()[]/:&+$", min_size=1, max_size=8
)
_COMMON_HOSTS = st.one_of(
    st.lists(
        st.text(alphabet=string.ascii_lowercase + string.digits + "-_", max_size=6).map(
            lambda s: f"a{s}9"
        )
        | st.integers(0, 300).map(str),
        min_size=1,
        max_size=3,
    ).map(lambda labels: ".".join([*labels, "example"])),
    st.ip_addresses(v=4).map(str),
)


@st.composite
def common_uri_texts(draw: st.DrawFn) -> str:
    user = draw(st.none() | _COMMON_USERS)
    userinfo = ""
    if user is not None:
        password = draw(st.none() | st.text(alphabet=string.ascii_letters + "-_.&=+$,", max_size=5))
        userinfo = user + ("" if password is None else f":{password}") + "@"
    port = draw(st.none() | st.integers(0, 65535).map(str) | st.sampled_from(["00080", "0"]))
    params = draw(st.lists(st.tuples(_COMMON_PARAM_TEXT, st.none() | _COMMON_PARAM_TEXT)))
    return (
        draw(st.sampled_from(["sip", "sips"]))
        + f":{userinfo}{draw(_COMMON_HOSTS)}"
        + ("" if port is None else f":{port}")
        + "".join(f";{n}" if v is None else f";{n}={v}" for n, v in params)
    )


_SIGNIFICANT = ":;@=?&%.-_#[]<> \t0123456789aZé\x00"


@st.composite
def uri_texts(draw: st.DrawFn) -> str:
    text = draw(st.one_of(common_uri_texts(), sip_uris().map(str), TEL_URIS.map(str)))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            text = text[:at] + draw(st.sampled_from(_SIGNIFICANT)) + text[at + 1 :]
        else:
            text = text[:at] + text[at : at + draw(st.integers(1, 10))] + text[at:]
    return text


def _outcome(parse: Callable[[str], Uri], text: str) -> object:
    try:
        return parse(text)
    except SipParseError as exc:
        return exc.reason


@settings(max_examples=100, deadline=None)
@given(common_uri_texts())
def test_common_uris_are_read_by_the_common_shape(text: str) -> None:
    uri = common_sip_uri(text)
    assert uri is not None
    full = _parse_uri_full(text)
    assert uri == full and hash(uri) == hash(full) and repr(uri) == repr(full)
    assert parse_uri(str(uri)) == uri


@settings(max_examples=250, deadline=None)
@given(uri_texts())
def test_common_shape_agrees_with_the_full_parser(text: str) -> None:
    assert _outcome(parse_uri, text) == _outcome(_parse_uri_full, text)


@pytest.mark.parametrize(
    "text",
    [
        "sip:1.2.3.4",
        "sip:1.2.3",
        "sip:01.2.3.4",
        "sip:256.1.1.1",
        "sip:1.2.3.4.",
        "sip:1.2.3.4.5",
        "sip:example.com.",
        "sip:-a",
        "sip:a-",
        "sip:a_b.1-2",
        "sip:a..b",
        "sip:h:0",
        "sip:h:65535",
        "sip:h:65536",
        "sip:h:00080",
        "sip:h:123456",
        "sip:h:",
        "sip:a:@h",
        "sip:a:b:c@h",
        "sip:#1@h",
        "sip:a@b@c",
        "sip:a;b=c@h;d",
        "sip:h;a=b=c",
        "sip:h;;a",
        "sip:h;a=",
        "sip:h?x=y",
        "SIP:a@h",
        "sip:a%41@h",
        "sip:[::1]:5060",
        "sip:h;maddr=[::1];lr;transport=tcp",
    ],
)
def test_common_shape_edges(text: str) -> None:
    assert _outcome(parse_uri, text) == _outcome(_parse_uri_full, text)
