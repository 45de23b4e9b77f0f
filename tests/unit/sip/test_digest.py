"""Digest authentication: the RFC 2617 and RFC 7616 examples, stateless nonces, verification
outcomes, and the client side answering a challenge."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glasshouse.protocols.sip import (
    DigestAuthenticator,
    DigestChallenge,
    DigestCredentials,
    DigestOutcome,
    NonceState,
    SipParseError,
    authorize,
    choose_challenge,
    digest_ha1,
    digest_response,
)

# ---------------------------------------------------------------------------------------------
# Published examples

RFC2617_CHALLENGE = (
    'Digest realm="testrealm@host.com", qop="auth,auth-int",'
    ' nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)
RFC2617_CREDENTIALS = (
    'Digest username="Mufasa", realm="testrealm@host.com",'
    ' nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth,'
    ' nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1",'
    ' opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)
RFC7616_CHALLENGE = (
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm},'
    ' nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",'
    ' opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
)
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC7616_RESPONSES = {
    "MD5": "8ca523f5e9506fed4657c9700eebdbec",
    "SHA-256": "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
}


def test_rfc2617_section_3_5() -> None:
    challenge = DigestChallenge.parse(RFC2617_CHALLENGE)
    assert challenge == DigestChallenge(
        realm="testrealm@host.com",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        qop=("auth", "auth-int"),
        opaque="5ccc069c403ebaf9f0171e9517f40e41",
    )
    credentials = DigestCredentials.parse(RFC2617_CREDENTIALS)
    assert credentials == DigestCredentials(
        username="Mufasa",
        realm="testrealm@host.com",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        uri="/dir/index.html",
        response="6629fae49393a05397450978507c4ef1",
        cnonce="0a4f113b",
        opaque="5ccc069c403ebaf9f0171e9517f40e41",
        qop="auth",
        nc=1,
    )
    ha1 = digest_ha1("MD5", "Mufasa", "testrealm@host.com", "Circle Of Life")
    assert (
        digest_response(
            algorithm="MD5",
            ha1=ha1,
            nonce=credentials.nonce,
            method="GET",
            uri="/dir/index.html",
            qop="auth",
            cnonce="0a4f113b",
            nc=1,
        )
        == "6629fae49393a05397450978507c4ef1"
    )
    answer = authorize(
        challenge,
        method="GET",
        uri="/dir/index.html",
        username="Mufasa",
        password="Circle Of Life",
        cnonce="0a4f113b",
    )
    assert answer == credentials


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_rfc7616_section_3_9_1(algorithm: str) -> None:
    challenge = DigestChallenge.parse(RFC7616_CHALLENGE.format(algorithm=algorithm))
    assert challenge.algorithm == algorithm and challenge.qop == ("auth", "auth-int")
    credentials = authorize(
        challenge,
        method="GET",
        uri="/dir/index.html",
        username="Mufasa",
        password="Circle of Life",
        cnonce=RFC7616_CNONCE,
        nc=1,
    )
    assert credentials.response == RFC7616_RESPONSES[algorithm]
    assert str(credentials) == (
        'Digest username="Mufasa", realm="http-auth@example.org",'
        ' nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", uri="/dir/index.html",'
        f' response="{RFC7616_RESPONSES[algorithm]}", algorithm={algorithm},'
        f' cnonce="{RFC7616_CNONCE}", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",'
        " qop=auth, nc=00000001"
    )
    assert DigestCredentials.parse(str(credentials)) == credentials


def test_parse_errors_name_the_problem() -> None:
    with pytest.raises(SipParseError) as excinfo:
        DigestChallenge.parse('Basic realm="x"')
    assert excinfo.value.reason == "bad Digest challenge: scheme 'Basic' is not Digest"
    with pytest.raises(SipParseError) as excinfo:
        DigestChallenge.parse('Digest realm="x"')
    assert excinfo.value.reason == "bad Digest challenge: no nonce"
    with pytest.raises(SipParseError) as excinfo:
        DigestChallenge.parse('Digest realm="x", nonce="y", stale=maybe')
    assert excinfo.value.reason == "bad Digest challenge: stale='maybe'"
    with pytest.raises(SipParseError) as excinfo:
        DigestCredentials.parse(RFC2617_CREDENTIALS.replace("nc=00000001", "nc=xyz"))
    assert excinfo.value.reason == "bad Digest credentials: nc='xyz' is not 8 hex digits"
    with pytest.raises(SipParseError) as excinfo:
        DigestCredentials.parse(RFC2617_CREDENTIALS.replace('cnonce="0a4f113b", ', ""))
    assert excinfo.value.reason == "bad Digest credentials: credentials with qop need cnonce and nc"
    with pytest.raises(SipParseError) as excinfo:
        DigestCredentials.parse(RFC2617_CREDENTIALS + ', realm="again"')
    assert excinfo.value.reason == "bad Digest credentials: realm given twice"


# ---------------------------------------------------------------------------------------------
# Server side

SECRET = b"0123456789abcdef0123456789abcdef"
SALT = b"saltsalt"


def _authenticator(
    *,
    lifetime: float = 300.0,
    algorithms: tuple[str, ...] = ("SHA-256", "MD5"),
    qop: tuple[str, ...] = ("auth",),
    opaque: str | None = None,
) -> DigestAuthenticator:
    return DigestAuthenticator(
        SECRET,
        "glasshouse.example",
        lifetime=lifetime,
        algorithms=algorithms,
        qop=qop,
        opaque=opaque,
    )


def _answer(
    challenge: DigestChallenge, password: str = "s3cret", method: str = "REGISTER", nc: int = 1
) -> DigestCredentials:
    return authorize(
        challenge,
        method=method,
        uri="sip:glasshouse.example",
        username="agent007",
        password=password,
        cnonce="c0ffee",
        nc=nc,
    )


def test_nonces_are_signed_and_expire() -> None:
    auth = _authenticator(lifetime=300)
    nonce = auth.make_nonce(1_000.0, salt=SALT)
    assert nonce == auth.make_nonce(1_000.9, salt=SALT)  # whole seconds, same salt
    assert auth.nonce_state(nonce, 1_000.0) is NonceState.VALID
    assert auth.nonce_state(nonce, 1_300.0) is NonceState.VALID
    assert auth.nonce_state(nonce, 1_300.5) is NonceState.STALE
    assert auth.nonce_state(nonce, 1_000.0, context=b"192.0.2.1") is NonceState.INVALID
    bound = auth.make_nonce(1_000.0, context=b"192.0.2.1")
    assert auth.nonce_state(bound, 1_001.0, context=b"192.0.2.1") is NonceState.VALID
    other_secret = DigestAuthenticator(b"x" * 32, "glasshouse.example")
    other_realm = DigestAuthenticator(SECRET, "elsewhere.example")
    assert other_secret.nonce_state(nonce, 1_000.0) is NonceState.INVALID
    assert other_realm.nonce_state(nonce, 1_000.0) is NonceState.INVALID
    raw = bytearray(base64.urlsafe_b64decode(nonce + "=="))
    raw[3] ^= 1  # move the issue time
    forged = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    assert auth.nonce_state(forged, 1_000.0) is NonceState.INVALID
    for junk in ("", "abc", nonce + "A", nonce[:-1] + "!", "é" * 43, nonce + "=="):
        assert auth.nonce_state(junk, 1_000.0) is NonceState.INVALID
    with pytest.raises(ValueError, match="at least 16 bytes"):
        DigestAuthenticator(b"short", "r")


def test_challenges_offer_each_algorithm_with_one_nonce() -> None:
    auth = _authenticator(opaque="op")
    first, second = auth.challenges(50.0, salt=SALT)
    assert (first.algorithm, second.algorithm) == ("SHA-256", "MD5")
    assert first.nonce == second.nonce and first.qop == ("auth",) and first.opaque == "op"
    assert str(first) == (
        f'Digest realm="glasshouse.example", nonce="{first.nonce}", algorithm=SHA-256,'
        ' qop="auth", opaque="op"'
    )
    (stale,) = _authenticator(algorithms=("MD5",)).challenges(50.0, stale=True)
    assert str(stale).endswith(", stale=true") and DigestChallenge.parse(str(stale)) == stale


def test_verify_outcomes() -> None:
    auth = _authenticator(lifetime=60)
    sha256, md5 = auth.challenges(100.0, salt=SALT)
    good = _answer(sha256)
    seen: set[tuple[str, int]] = set()

    def fresh(nonce: str, nc: int) -> bool:
        if (nonce, nc) in seen:
            return False
        seen.add((nonce, nc))
        return True

    def verify(
        credentials: DigestCredentials,
        now: float = 110.0,
        method: str = "REGISTER",
        request_uri: str | None = None,
        nonce_count_check: Callable[[str, int], bool] | None = None,
    ) -> DigestOutcome:
        return auth.verify(
            credentials,
            method=method,
            now=now,
            password="s3cret",
            request_uri=request_uri,
            nonce_count_check=nonce_count_check,
        )

    assert verify(good, nonce_count_check=fresh) is DigestOutcome.ACCEPTED
    assert verify(good, nonce_count_check=fresh) is DigestOutcome.REPLAYED
    assert verify(_answer(sha256, nc=2), nonce_count_check=fresh) is DigestOutcome.ACCEPTED
    assert verify(_answer(md5)) is DigestOutcome.ACCEPTED
    assert verify(_answer(sha256, password="wrong")) is DigestOutcome.WRONG_RESPONSE
    assert verify(good, method="INVITE") is DigestOutcome.WRONG_RESPONSE
    assert verify(good, now=161.0) is DigestOutcome.STALE_NONCE
    assert verify(_answer(sha256, password="wrong"), now=161.0) is DigestOutcome.WRONG_RESPONSE
    assert verify(good, request_uri="sip:other.example") is DigestOutcome.WRONG_URI
    assert verify(good, request_uri="sip:glasshouse.example") is DigestOutcome.ACCEPTED
    ha1 = digest_ha1("SHA-256", "agent007", "glasshouse.example", "s3cret")
    assert auth.verify(good, method="REGISTER", now=110.0, ha1=ha1) is DigestOutcome.ACCEPTED
    elsewhere = DigestChallenge(realm="elsewhere", nonce=sha256.nonce, algorithm="SHA-256")
    assert verify(_answer(elsewhere)) is DigestOutcome.WRONG_REALM
    made_up = DigestChallenge(realm="glasshouse.example", nonce="bm9ub25jZQ", algorithm="MD5")
    assert verify(_answer(made_up)) is DigestOutcome.INVALID_NONCE
    no_qop = DigestChallenge(realm="glasshouse.example", nonce=sha256.nonce, qop=())
    assert verify(_answer(no_qop)) is DigestOutcome.UNSUPPORTED
    sess = DigestChallenge(realm="glasshouse.example", nonce=sha256.nonce, algorithm="MD5-sess")
    assert verify(_answer(sess)) is DigestOutcome.UNSUPPORTED
    with pytest.raises(ValueError, match="password or the stored ha1"):
        auth.verify(good, method="REGISTER", now=110.0)


@pytest.mark.parametrize(
    "algorithm",
    ["MD5", "MD5-sess", "SHA-256", "SHA-256-sess", "SHA-512-256", "SHA-512-256-sess"],
)
@pytest.mark.parametrize("qop", [(), ("auth",), ("auth-int",)])
def test_every_algorithm_and_qop_round_trips(algorithm: str, qop: tuple[str, ...]) -> None:
    auth = _authenticator(algorithms=(algorithm,), qop=qop)
    (challenge,) = auth.challenges(0.0)
    credentials = authorize(
        DigestChallenge.parse(str(challenge)),
        method="INVITE",
        uri="sip:bob@example.com",
        username="alice",
        password="pässword",
        body=b"v=0\r\n",
    )
    assert credentials.qop == (qop[0] if qop else None)
    parsed = DigestCredentials.parse(str(credentials))
    assert parsed == credentials
    outcome = auth.verify(parsed, method="INVITE", now=1.0, password="pässword", body=b"v=0\r\n")
    assert outcome is DigestOutcome.ACCEPTED
    if qop == ("auth-int",):
        changed = auth.verify(parsed, method="INVITE", now=1.0, password="pässword", body=b"")
        assert changed is DigestOutcome.WRONG_RESPONSE


def test_client_picks_the_strongest_supported_challenge() -> None:
    challenges = [
        DigestChallenge(realm="r", nonce="n", algorithm="MD5"),
        DigestChallenge(realm="r", nonce="n", algorithm="SHA-512"),
        DigestChallenge(realm="r", nonce="n", algorithm="SHA-256-sess"),
    ]
    chosen = choose_challenge(challenges)
    assert chosen is not None and chosen.algorithm == "SHA-256-sess"
    assert choose_challenge([challenges[1]]) is None
    with pytest.raises(ValueError, match="unsupported digest algorithm 'SHA-512'"):
        authorize(challenges[1], method="REGISTER", uri="sip:r", username="u", password="p")
    with pytest.raises(ValueError, match="no supported qop"):
        authorize(
            DigestChallenge(realm="r", nonce="n", qop=("auth-conf",)),
            method="REGISTER",
            uri="sip:r",
            username="u",
            password="p",
        )
    random_cnonce = authorize(
        challenges[0], method="REGISTER", uri="sip:r", username="u", password="p"
    )
    assert random_cnonce.cnonce and random_cnonce.nc == 1


_VALUES = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=20
)
_TOKENS = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.",
    min_size=1,
    max_size=10,
)


@settings(max_examples=150)
@given(
    st.builds(
        DigestChallenge,
        realm=_VALUES,
        nonce=_VALUES,
        algorithm=_TOKENS,
        qop=st.lists(_TOKENS, max_size=3).map(tuple),
        opaque=st.none() | _VALUES,
        stale=st.booleans(),
        domain=st.none() | _VALUES,
    )
)
def test_challenge_round_trip(challenge: DigestChallenge) -> None:
    parsed = DigestChallenge.parse(str(challenge))
    assert DigestChallenge.parse(str(parsed)) == parsed
    # Only the spelling of a known algorithm may change ("md5" -> "MD5").
    assert parsed.algorithm.lower() == challenge.algorithm.lower()
    assert parsed == dataclasses.replace(challenge, algorithm=parsed.algorithm)


@settings(max_examples=150)
@given(
    st.builds(
        DigestCredentials,
        username=_VALUES,
        realm=_VALUES,
        nonce=_VALUES,
        uri=_VALUES,
        response=_VALUES,
        algorithm=st.sampled_from(["MD5", "SHA-256", "SHA-512-256-sess"]),
        cnonce=_VALUES,
        opaque=st.none() | _VALUES,
        qop=st.sampled_from(["auth", "auth-int"]),
        nc=st.integers(0, 0xFFFFFFFF),
    )
)
def test_credentials_round_trip(credentials: DigestCredentials) -> None:
    assert DigestCredentials.parse(str(credentials)) == credentials
