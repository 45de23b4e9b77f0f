"""The registrar, driven with REGISTER bytes as a phone sends them: the digest handshake,
binding life (register, refresh, expiry, removal, wildcard), ordering, NAT, limits, and the
rule that an unknown username is answered exactly like a wrong password."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glasshouse.domain.voice import (
    GuardSettings,
    RegisterOutcome,
    RegisterResult,
    Registrar,
    TollFraudGuard,
    VoiceConfig,
    parse_voice_config,
)
from glasshouse.protocols.sip import (
    DigestAuthenticator,
    DigestChallenge,
    Headers,
    SipRequest,
    SipResponse,
    authorize,
    choose_challenge,
    parse_message,
    parse_uri,
)

SECRET = b"registrar-test-secret-0123456789"
PHONE = ("192.0.2.10", 5062)
REQUEST_URI = "sip:127.0.0.1:5060"


def make_config(**registrar: int) -> VoiceConfig:
    return parse_voice_config(
        {
            "server": {"realm": "glasshouse"},
            "registrar": {
                "min_expires": 60,
                "max_expires": 3600,
                "default_expires": 600,
                "max_contacts": 3,
                **registrar,
            },
            "tenants": [
                {
                    "id": "demo",
                    "accounts": [
                        {"username": "agent1", "agent": "a1", "password": "agent1-demo"},
                        {"username": "agent2", "agent": "a2", "password": "agent2-demo"},
                    ],
                }
            ],
        }
    )


def make_registrar(*, lifetime: float = 300.0, **registrar: int) -> Registrar:
    authenticator = DigestAuthenticator(SECRET, "glasshouse", lifetime=lifetime)
    return Registrar(make_config(**registrar), authenticator)


def register_bytes(
    *,
    user: str = "agent1",
    contacts: tuple[str, ...] = ("<sip:agent1@192.0.2.10:5062>",),
    expires: int | None = None,
    call_id: str = "call-1@phone",
    cseq: int = 1,
    authorization: str | None = None,
    extra: tuple[str, ...] = (),
) -> bytes:
    lines = [
        f"REGISTER {REQUEST_URI} SIP/2.0",
        f"Via: SIP/2.0/UDP 192.0.2.10:5062;rport;branch=z9hG4bK-{call_id.replace('@', '.')}-{cseq}",
        "Max-Forwards: 70",
        f"From: <sip:{user}@127.0.0.1>;tag=phone-tag",
        f"To: <sip:{user}@127.0.0.1>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        *[f"Contact: {c}" for c in contacts],
        *([f"Expires: {expires}"] if expires is not None else []),
        *([f"Authorization: {authorization}"] if authorization else []),
        *extra,
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def register(**kwargs: object) -> SipRequest:
    message = parse_message(register_bytes(**kwargs))  # type: ignore[arg-type]
    assert isinstance(message, SipRequest)
    return message


def challenges(response: SipResponse) -> list[DigestChallenge]:
    return [DigestChallenge.parse(v) for v in response.headers.get_all("WWW-Authenticate")]


@dataclass
class FakePhone:
    """A phone that answers the registrar's challenges like a real one: strongest algorithm,
    qop auth, nonce reused with a rising nonce count."""

    registrar: Registrar
    username: str = "agent1"
    password: str = "agent1-demo"
    source: tuple[str, int] = PHONE
    call_id: str = "call-1@phone"
    cseq: int = 0
    algorithm: str | None = None
    challenge: DigestChallenge | None = None
    nc: int = 0
    log: list[RegisterOutcome] = field(default_factory=list)

    def credentials(self) -> str | None:
        if self.challenge is None:
            return None
        self.nc += 1
        credentials = authorize(
            self.challenge,
            method="REGISTER",
            uri=REQUEST_URI,
            username=self.username,
            password=self.password,
            cnonce="phone-cnonce",
            nc=self.nc,
        )
        return str(credentials)

    def send(self, now: float, **kwargs: object) -> RegisterOutcome:
        self.cseq += 1
        request = register(
            user=self.username,
            call_id=self.call_id,
            cseq=self.cseq,
            authorization=self.credentials(),
            **kwargs,
        )
        outcome = self.registrar.handle_register(request, self.source, now)
        self.log.append(outcome)
        if outcome.response.status == 401:
            offered = challenges(outcome.response)
            if self.algorithm is None:
                self.challenge = choose_challenge(offered)
            else:
                self.challenge = next(c for c in offered if c.algorithm == self.algorithm)
            self.nc = 0
        return outcome

    def register(self, now: float, **kwargs: object) -> RegisterOutcome:
        """Send, and once more with credentials if challenged."""
        outcome = self.send(now, **kwargs)
        if outcome.response.status == 401:
            outcome = self.send(now, **kwargs)
        return outcome


def contact_expiries(response: SipResponse) -> dict[str, int]:
    out: dict[str, int] = {}
    for value in response.headers.get_all("Contact"):
        match = re.fullmatch(r"<([^>]*)>(?:;[^;]*)*;expires=(\d+)(?:;.*)?", value)
        assert match is not None, value
        out[match.group(1)] = int(match.group(2))
    return out


# ---------------------------------------------------------------------------------------------
# The handshake and the life of a binding


def test_challenge_register_refresh_unregister() -> None:
    registrar = make_registrar()
    phone = FakePhone(registrar)

    first = phone.send(0.0)
    assert first.response.status == 401 and first.result is RegisterResult.CHALLENGED
    offered = challenges(first.response)
    assert [c.algorithm for c in offered] == ["SHA-256", "MD5"]
    assert len({c.nonce for c in offered}) == 1
    assert all(c.realm == "glasshouse" and c.qop == ("auth",) for c in offered)
    assert first.response.to.tag is not None

    done = phone.send(1.0)
    assert done.response.status == 200 and done.result is RegisterResult.REGISTERED
    assert (done.username, done.tenant_id) == ("agent1", "demo")
    assert contact_expiries(done.response) == {"sip:agent1@192.0.2.10:5062": 600}
    (binding,) = registrar.contacts("agent1", 1.0)
    assert binding == done.added[0]
    assert (binding.agent_id, binding.source, binding.transport) == ("a1", PHONE, "udp")
    assert binding.expires_at == 601.0 and not binding.behind_nat

    refreshed = phone.send(300.0, expires=900)
    assert refreshed.result is RegisterResult.REFRESHED
    assert refreshed.added == () and len(refreshed.refreshed) == 1
    assert contact_expiries(refreshed.response) == {"sip:agent1@192.0.2.10:5062": 900}
    (binding,) = registrar.contacts("agent1", 300.0)
    assert (binding.registered_at, binding.refreshed_at, binding.expires_at) == (
        1.0,
        300.0,
        1200.0,
    )

    gone = phone.register(400.0, expires=0)  # the nonce is stale by now: challenged again
    assert gone.result is RegisterResult.UNREGISTERED and gone.response.status == 200
    assert gone.removed == (binding,)
    assert gone.response.headers.get_all("Contact") == []
    assert registrar.contacts("agent1", 400.0) == []


def test_md5_works_too() -> None:
    registrar = make_registrar()
    phone = FakePhone(registrar, algorithm="MD5")
    outcome = phone.register(0.0)
    assert phone.challenge is not None and phone.challenge.algorithm == "MD5"
    assert outcome.result is RegisterResult.REGISTERED


def test_query_lists_bindings_without_changing_them() -> None:
    registrar = make_registrar()
    phone = FakePhone(registrar)
    phone.register(0.0)
    outcome = phone.send(10.0, contacts=())
    assert outcome.result is RegisterResult.QUERIED and outcome.response.status == 200
    assert contact_expiries(outcome.response) == {"sip:agent1@192.0.2.10:5062": 590}


def test_several_contacts_per_account() -> None:
    registrar = make_registrar()
    desk = FakePhone(registrar, call_id="desk")
    soft = FakePhone(registrar, call_id="soft", source=("192.0.2.20", 5060))
    desk.register(0.0)
    outcome = soft.register(5.0, contacts=("<sip:agent1@192.0.2.20;transport=udp>",))
    assert outcome.result is RegisterResult.REGISTERED
    assert contact_expiries(outcome.response) == {
        "sip:agent1@192.0.2.10:5062": 595,
        "sip:agent1@192.0.2.20;transport=udp": 600,
    }
    assert [b.call_id for b in registrar.contacts("agent1", 5.0)] == ["desk", "soft"]
    assert registrar.contacts("agent2", 5.0) == []


def test_wildcard_removes_every_binding() -> None:
    registrar = make_registrar()
    phone = FakePhone(registrar)
    phone.register(0.0, contacts=("<sip:agent1@192.0.2.10:5062>", "<sip:agent1@192.0.2.10:5064>"))
    assert len(registrar.contacts("agent1", 0.0)) == 2
    refused = phone.send(1.0, contacts=("*",), expires=60)
    assert refused.response.status == 400 and refused.result is RegisterResult.REJECTED
    assert refused.response.headers["Warning"] == '399 glasshouse "Contact * needs Expires: 0"'
    outcome = phone.send(2.0, contacts=("*",), expires=0)
    assert outcome.result is RegisterResult.UNREGISTERED
    assert len(outcome.removed) == 2
    assert registrar.contacts("agent1", 2.0) == []


def test_bindings_expire_exactly_at_their_time() -> None:
    registrar = make_registrar()
    phone = FakePhone(registrar)
    phone.register(0.0, expires=60)
    assert len(registrar.contacts("agent1", 59.999)) == 1
    assert registrar.advance(59.999) == []
    assert registrar.contacts("agent1", 60.0) == []
    (expired,) = registrar.advance(60.0)
    assert expired.username == "agent1" and expired.expires_at == 60.0
    assert registrar.advance(61.0) == []


def test_expires_is_capped_and_defaulted() -> None:
    registrar = make_registrar()
    phone = FakePhone(registrar)
    outcome = phone.register(
        0.0,
        contacts=("<sip:agent1@192.0.2.10:5062>;expires=99999", "<sip:agent1@192.0.2.10:5070>"),
    )
    assert contact_expiries(outcome.response) == {
        "sip:agent1@192.0.2.10:5062": 3600,
        "sip:agent1@192.0.2.10:5070": 600,
    }


def test_interval_too_brief() -> None:
    registrar = make_registrar()
    phone = FakePhone(registrar)
    outcome = phone.register(0.0, expires=30)
    assert outcome.response.status == 423 and outcome.response.reason == "Interval Too Brief"
    assert outcome.response.min_expires == 60
    assert outcome.result is RegisterResult.REJECTED
    assert registrar.contacts("agent1", 0.0) == []


# ---------------------------------------------------------------------------------------------
# Credentials


def test_wrong_password_fails_with_the_username_tried() -> None:
    registrar = make_registrar()
    phone = FakePhone(registrar, password="not-the-password")
    outcome = phone.register(0.0)
    assert outcome.response.status == 401
    assert outcome.result is RegisterResult.AUTH_FAILED and outcome.auth_failed
    assert (outcome.username, outcome.tenant_id) == ("agent1", "demo")
    assert registrar.contacts("agent1", 0.0) == []


def _nonce_free(response: SipResponse) -> bytes:
    nonces = {c.nonce for c in challenges(response)}
    assert len(nonces) == 1
    return bytes(response).replace(nonces.pop().encode(), b"NONCE")


def test_unknown_user_and_wrong_password_get_identical_responses() -> None:
    registrar = make_registrar()
    nonce = challenges(registrar.handle_register(register(), PHONE, 0.0).response)[0]
    for algorithm in ("SHA-256", "MD5"):
        challenge = DigestChallenge(
            realm="glasshouse", nonce=nonce.nonce, algorithm=algorithm, qop=("auth",)
        )
        answers = {}
        for username in ("agent1", "ghost"):
            credentials = authorize(
                challenge,
                method="REGISTER",
                uri=REQUEST_URI,
                username=username,
                password="wrong-password",
                cnonce="same-cnonce",
            )
            # The To and From name agent1 in both: only the credentials differ.
            request = register(authorization=str(credentials))
            answers[username] = registrar.handle_register(request, PHONE, 1.0)
        known, unknown = answers["agent1"], answers["ghost"]
        assert known.result is unknown.result is RegisterResult.AUTH_FAILED
        assert (known.username, unknown.username) == ("agent1", "ghost")
        assert known.response.status == unknown.response.status == 401
        assert _nonce_free(known.response) == _nonce_free(unknown.response)


def test_stale_nonce_is_challenged_again_with_stale_true() -> None:
    registrar = make_registrar(lifetime=30.0)
    phone = FakePhone(registrar)
    phone.send(0.0)
    outcome = phone.send(31.0)  # right password, but the nonce is 31 s old
    assert outcome.response.status == 401 and outcome.result is RegisterResult.CHALLENGED
    assert all(c.stale for c in challenges(outcome.response))
    assert not outcome.auth_failed
    again = phone.send(31.0)
    assert again.result is RegisterResult.REGISTERED


def test_replayed_credentials_fail() -> None:
    registrar = make_registrar()
    phone = FakePhone(registrar)
    assert phone.register(0.0).result is RegisterResult.REGISTERED
    assert phone.challenge is not None
    # A copy of the accepted credentials (same nonce, same nonce count) in a new request.
    copied = authorize(
        phone.challenge,
        method="REGISTER",
        uri=REQUEST_URI,
        username="agent1",
        password="agent1-demo",
        cnonce="phone-cnonce",
        nc=1,
    )
    request = register(call_id=phone.call_id, cseq=3, authorization=str(copied))
    outcome = registrar.handle_register(request, PHONE, 1.0)
    assert outcome.result is RegisterResult.AUTH_FAILED and outcome.response.status == 401


def test_nonce_from_another_address_is_only_challenged() -> None:
    registrar = make_registrar()
    phone = FakePhone(registrar)
    phone.send(0.0)
    phone.source = ("203.0.113.9", 5062)
    outcome = phone.send(1.0)
    assert outcome.response.status == 401 and outcome.result is RegisterResult.CHALLENGED
    assert phone.send(2.0).result is RegisterResult.REGISTERED


def test_to_must_be_the_authenticated_user() -> None:
    registrar = make_registrar()
    phone = FakePhone(registrar)
    phone.send(0.0)
    assert phone.challenge is not None
    credentials = authorize(
        phone.challenge,
        method="REGISTER",
        uri=REQUEST_URI,
        username="agent1",
        password="agent1-demo",
    )
    request = register(user="agent2", authorization=str(credentials))
    outcome = registrar.handle_register(request, PHONE, 1.0)
    assert outcome.response.status == 403 and outcome.result is RegisterResult.FORBIDDEN
    assert outcome.response.headers["Warning"] == (
        "399 glasshouse \"To sip:agent2@127.0.0.1 is not the authenticated user 'agent1'\""
    )
    assert registrar.contacts("agent2", 1.0) == []


def test_digest_uri_must_be_the_request_uri() -> None:
    registrar = make_registrar()
    phone = FakePhone(registrar)
    phone.send(0.0)
    assert phone.challenge is not None
    credentials = authorize(
        phone.challenge,
        method="REGISTER",
        uri="sip:elsewhere.example",
        username="agent1",
        password="agent1-demo",
    )
    outcome = registrar.handle_register(register(authorization=str(credentials)), PHONE, 1.0)
    assert outcome.response.status == 400
    assert "is not the Request-URI" in outcome.response.headers["Warning"]


def test_five_wrong_passwords_block_the_source_through_the_guard() -> None:
    registrar = make_registrar()
    guard = TollFraudGuard(GuardSettings(), registrar.config)
    phone = FakePhone(registrar, password="guessing-1")
    dropped = 0
    for second in range(10):
        if not guard.check_request(PHONE[0], "Zoiper rv2.10", float(second)).allowed:
            dropped += 1
            continue
        outcome = phone.register(float(second))
        if outcome.auth_failed:
            guard.record_auth_failure(PHONE[0], float(second))
    assert dropped == 5 and guard.dropped(PHONE[0]) == 5
    assert guard.is_blocked(PHONE[0], 10.0)


# ---------------------------------------------------------------------------------------------
# Ordering, NAT, limits, malformed requests


def test_call_id_and_cseq_ordering() -> None:
    registrar = make_registrar()
    phone = FakePhone(registrar)
    phone.register(0.0)  # CSeq 1 challenged, CSeq 2 registered
    phone.cseq = 1  # the next request reuses CSeq 2 in the same Call-ID
    outcome = phone.send(1.0, expires=0)
    assert outcome.response.status == 400 and outcome.result is RegisterResult.REJECTED
    assert outcome.response.headers["Warning"] == (
        '399 glasshouse "out of order: CSeq 2 is not above 2 for Call-ID call-1@phone"'
    )
    assert len(registrar.contacts("agent1", 1.0)) == 1
    # Another Call-ID (the phone restarted) may replace the binding whatever its CSeq.
    rebooted = FakePhone(registrar, call_id="call-2@phone", challenge=phone.challenge, nc=50)
    outcome = rebooted.send(2.0, expires=120)
    assert outcome.result is RegisterResult.REFRESHED
    (binding,) = registrar.contacts("agent1", 2.0)
    assert (binding.call_id, binding.cseq, binding.expires_at) == ("call-2@phone", 1, 122.0)


def test_nat_uses_the_packet_source() -> None:
    registrar = make_registrar()
    phone = FakePhone(registrar, source=("203.0.113.7", 40000))
    outcome = phone.register(0.0, contacts=("<sip:agent1@10.0.0.5:5060>",))
    (binding,) = outcome.added
    assert str(binding.contact_uri) == "sip:agent1@10.0.0.5:5060"
    assert binding.source == ("203.0.113.7", 40000) and binding.behind_nat


def test_max_contacts() -> None:
    registrar = make_registrar(max_contacts=2)
    phone = FakePhone(registrar)
    many = tuple(f"<sip:agent1@192.0.2.10:{port}>" for port in (5001, 5002, 5003))
    outcome = phone.register(0.0, contacts=many)
    assert outcome.response.status == 403
    assert "an account may bind at most 2" in outcome.response.headers["Warning"]
    phone.send(1.0, contacts=many[:1])
    phone.send(2.0, contacts=many[1:2])
    # A third contact pushes out the one refreshed longest ago.
    outcome = phone.send(3.0, contacts=many[2:])
    assert outcome.result is RegisterResult.REGISTERED
    assert [str(b.contact_uri) for b in outcome.removed] == ["sip:agent1@192.0.2.10:5001"]
    assert [str(b.contact_uri) for b in registrar.contacts("agent1", 3.0)] == [
        "sip:agent1@192.0.2.10:5002",
        "sip:agent1@192.0.2.10:5003",
    ]


def test_bad_contact_and_expires_get_400() -> None:
    registrar = make_registrar()
    phone = FakePhone(registrar)
    outcome = phone.register(0.0, contacts=("<tel:+15550100>",))
    assert outcome.response.status == 400
    assert outcome.response.headers["Warning"] == (
        '399 glasshouse "Contact tel:+15550100 is not a sip or sips URI"'
    )
    # Built without the parser, so the bad Expires reaches the registrar.
    good = register(authorization=phone.credentials(), cseq=10)
    headers = Headers([*good.headers.items(), ("Expires", "soon")])
    bad = SipRequest("REGISTER", parse_uri(REQUEST_URI), headers)
    outcome = registrar.handle_register(bad, PHONE, 1.0)
    assert outcome.response.status == 400 and outcome.result is RegisterResult.REJECTED
    assert outcome.response.headers["Warning"] == (
        "399 glasshouse \"bad Expires header: 'soon' is not a number\""
    )


def test_unsupported_extension_and_uri_scheme() -> None:
    registrar = make_registrar()
    outcome = registrar.handle_register(register(extra=("Require: gruu-plus",)), PHONE, 0.0)
    assert outcome.response.status == 420
    assert outcome.response.headers["Unsupported"] == "gruu-plus"
    request = register()
    tel = SipRequest("REGISTER", parse_uri("tel:+15550100"), request.headers)
    assert registrar.handle_register(tel, PHONE, 0.0).response.status == 416


def test_registrar_refuses_a_mismatched_authenticator() -> None:
    config = make_config()
    with pytest.raises(ValueError, match="is not the server realm"):
        Registrar(config, DigestAuthenticator(SECRET, "elsewhere"))
    with pytest.raises(ValueError, match="accounts store no HA1 for SHA-512-256"):
        Registrar(config, DigestAuthenticator(SECRET, "glasshouse", algorithms=("SHA-512-256",)))
    with pytest.raises(ValueError, match="handles REGISTER, not OPTIONS"):
        Registrar(config, DigestAuthenticator(SECRET, "glasshouse")).handle_register(
            SipRequest("OPTIONS", parse_uri(REQUEST_URI)), PHONE, 0.0
        )


HEADER_TEXT = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=0, max_size=40
)


@settings(deadline=None, max_examples=150)
@given(
    name=st.sampled_from(
        ["Contact", "Expires", "To", "From", "CSeq", "Call-ID", "Via", "Authorization", "Require"]
    ),
    value=HEADER_TEXT,
)
def test_garbage_in_any_header_gets_a_response_not_an_exception(name: str, value: str) -> None:
    registrar = make_registrar()
    phone = FakePhone(registrar)
    phone.send(0.0)
    good = register(authorization=phone.credentials(), cseq=2)
    headers = Headers([(n, v) for n, v in good.headers.items() if n != name] + [(name, value)])
    request = SipRequest("REGISTER", parse_uri(REQUEST_URI), headers)
    outcome = registrar.handle_register(request, PHONE, 1.0)
    assert 200 <= outcome.response.status < 500
    assert bytes(outcome.response).startswith(b"SIP/2.0 ")
