"""The toll-fraud guard with injected time: failure windows exact at their boundaries,
scanner User-Agents, dropped requests, and the inbound and outbound call rules."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glasshouse.domain.voice import (
    GuardSettings,
    SipAccount,
    TollFraudGuard,
    Trunk,
    VoiceConfig,
    parse_voice_config,
    scanner_word,
)
from glasshouse.domain.voice.config import DEFAULT_SCANNER_USER_AGENTS

ATTACKER = "203.0.113.66"


def make_config() -> VoiceConfig:
    return parse_voice_config(
        {
            "tenants": [
                {
                    "id": "acme",
                    "numbers": [{"number": "+442071234567", "flow": "main"}],
                    "accounts": [
                        {"username": "agent1", "agent": "a1", "password": "agent1-demo"},
                        {"username": "agent2", "agent": "a2", "password": "agent2-demo"},
                    ],
                    "trunks": [{"name": "carrier", "host": "192.0.2.10"}],
                    "outbound": {
                        "allowed": ["+44", "+33", "re:[1-9][0-9]{2,5}"],
                        "max_concurrent": 3,
                        "max_concurrent_per_account": 2,
                        "calls_per_minute": 3,
                    },
                },
                {
                    "id": "globex",
                    "numbers": [{"number": "1000", "flow": "support"}],
                    "accounts": [{"username": "g1", "agent": "g-1", "password": "globex-pass"}],
                    "trunks": [{"name": "carrier", "host": "198.51.100.1"}],
                },
            ]
        }
    )


CONFIG = make_config()


def make_guard(**overrides: object) -> TollFraudGuard:
    guard_settings = GuardSettings(**overrides)  # type: ignore[arg-type]
    return TollFraudGuard(guard_settings, CONFIG)


def account(username: str) -> SipAccount:
    found = CONFIG.account(username)
    assert found is not None
    return found


def trunk(tenant_id: str) -> Trunk:
    tenant = CONFIG.tenant(tenant_id)
    assert tenant is not None
    return tenant.trunks[0]


# ---------------------------------------------------------------------------------------------
# Authentication failures


def test_a_failure_leaves_the_window_exactly_at_its_length() -> None:
    guard = make_guard()
    for t in (0.0, 10.0, 20.0, 30.0):
        assert guard.record_auth_failure(ATTACKER, t).allowed
    # 60 s after the first failure it no longer counts: four in the window, not five.
    assert guard.record_auth_failure(ATTACKER, 60.0).allowed
    assert guard.check_request(ATTACKER, None, 60.0).allowed
    verdict = guard.record_auth_failure(ATTACKER, 60.5)
    assert not verdict.allowed and verdict.blocked_until == 960.5
    assert verdict.reason == "5 authentication failures within 60 s"


def test_five_failures_just_inside_the_window_block() -> None:
    guard = make_guard()
    for t in (0.0, 1.0, 2.0, 3.0):
        guard.record_auth_failure(ATTACKER, t)
    assert not guard.record_auth_failure(ATTACKER, 59.999).allowed
    assert guard.is_blocked(ATTACKER, 59.999)


def test_a_block_ends_exactly_at_its_time_and_drops_are_counted() -> None:
    guard = make_guard(block_s=100.0)
    for second in range(5):
        guard.record_auth_failure(ATTACKER, float(second))
    assert guard.dropped(ATTACKER) == 0
    for t in (5.0, 50.0, 103.999):
        verdict = guard.check_request(ATTACKER, "Zoiper rv2.10", t)
        assert not verdict.allowed and verdict.blocked_until == 104.0
    assert guard.dropped(ATTACKER) == 3
    assert guard.check_request(ATTACKER, "Zoiper rv2.10", 104.0).allowed
    assert not guard.is_blocked(ATTACKER, 104.0)
    # The failures before the block do not count again.
    assert guard.record_auth_failure(ATTACKER, 104.0).allowed


def test_other_sources_are_not_affected() -> None:
    guard = make_guard(max_auth_failures=2)
    guard.record_auth_failure(ATTACKER, 0.0)
    guard.record_auth_failure(ATTACKER, 1.0)
    assert not guard.check_request(ATTACKER, None, 2.0).allowed
    assert guard.check_request("203.0.113.67", None, 2.0).allowed


def test_ipv4_mapped_ipv6_is_the_same_source() -> None:
    guard = make_guard(max_auth_failures=2)
    guard.record_auth_failure(ATTACKER, 0.0)
    guard.record_auth_failure(f"::ffff:{ATTACKER}", 1.0)
    assert guard.is_blocked(ATTACKER, 2.0)


def test_advance_forgets_and_reports_ended_blocks() -> None:
    guard = make_guard(max_auth_failures=2, block_s=10.0)
    guard.record_auth_failure(ATTACKER, 0.0)
    guard.record_auth_failure(ATTACKER, 1.0)
    guard.record_auth_failure("198.51.100.200", 1.0)
    assert guard.advance(10.999) == []
    assert guard.advance(11.0) == [ATTACKER]
    # The other source's single failure has left the window by 61 s.
    assert guard.advance(61.0) == []
    assert guard.record_auth_failure("198.51.100.200", 61.0).allowed
    assert guard.unblock("198.51.100.200") and not guard.unblock("198.51.100.200")


@settings(deadline=None, max_examples=200)
@given(st.lists(st.floats(min_value=0, max_value=600, allow_nan=False), max_size=30))
def test_blocked_exactly_when_five_failures_fall_within_a_minute(times: list[float]) -> None:
    guard = make_guard(block_s=1e9)
    blocked_at: float | None = None
    for t in sorted(times):
        if not guard.record_auth_failure(ATTACKER, t).allowed and blocked_at is None:
            blocked_at = t
    ordered = sorted(times)
    expected = next(
        (ordered[i] for i in range(4, len(ordered)) if ordered[i] - ordered[i - 4] < 60.0),
        None,
    )
    assert blocked_at == expected


# ---------------------------------------------------------------------------------------------
# Scanners


@pytest.mark.parametrize(
    "user_agent",
    [
        "friendly-scanner",
        "SIPVicious 0.3.4",
        "sipcli/v1.8",
        "VaxSIPUserAgent/3.1",
        "sip-scan",
        "iWar",
        "sundayddr",
    ],
)
def test_scanner_user_agents_are_blocked_at_once(user_agent: str) -> None:
    guard = make_guard()
    verdict = guard.check_request(ATTACKER, user_agent, 0.0)
    assert not verdict.allowed and verdict.blocked_until == 86400.0
    assert user_agent in verdict.reason
    assert guard.dropped(ATTACKER) == 1
    # The source stays blocked whatever it claims to be next.
    assert not guard.check_request(ATTACKER, "Yealink SIP-T46S", 1.0).allowed
    assert guard.dropped(ATTACKER) == 2


@pytest.mark.parametrize(
    "user_agent",
    [
        "Zoiper rv2.10.19.9",
        "MySIPClient 1.0",
        "Linphone/5.2.0 (belle-sip/5.2.0)",
        "PortSIP VoIP SDK 11.2",
        "baresip v3.10.0 (x86_64/linux)",
        "",
    ],
)
def test_ordinary_user_agents_pass(user_agent: str) -> None:
    assert make_guard().check_request(ATTACKER, user_agent, 0.0).allowed


def test_the_scanner_list_can_be_changed() -> None:
    words = DEFAULT_SCANNER_USER_AGENTS | {"portsip"}
    assert scanner_word("PortSIP VoIP SDK 11.2", words) == "PortSIP"
    assert scanner_word("MySIPClient", words) is None
    guard = make_guard(scanner_user_agents=words, scanner_block_s=60.0)
    assert guard.check_request(ATTACKER, "PortSIP VoIP SDK 11.2", 0.0).blocked_until == 60.0


# ---------------------------------------------------------------------------------------------
# Inbound


def test_inbound_rules() -> None:
    guard = make_guard()
    allowed = guard.inbound_decision("192.0.2.10", "+44 20 7123 4567")
    assert allowed.allowed and allowed.status is None
    assert (allowed.tenant_id, allowed.number, allowed.flow_id) == (
        "acme",
        "+442071234567",
        "main",
    )
    unknown = guard.inbound_decision("192.0.2.10", "+442079999999")
    assert (unknown.allowed, unknown.status) == (False, 404)
    # Another tenant's number through this tenant's trunk is not found either.
    assert guard.inbound_decision("192.0.2.10", "1000").status == 404
    assert guard.inbound_decision("198.51.100.1", "1000").allowed
    stranger = guard.inbound_decision(ATTACKER, "+442071234567")
    assert (stranger.allowed, stranger.status) == (False, 403)


# ---------------------------------------------------------------------------------------------
# Outbound


def test_only_agents_and_trunks_of_the_tenant_may_call_out() -> None:
    guard = make_guard()
    anonymous = guard.outbound_decision("acme", None, "+442071110000", 0.0)
    assert (anonymous.allowed, anonymous.status) == (False, 403)
    assert anonymous.reason == (
        "only authenticated agents and configured trunks may place outbound calls"
    )
    foreign = guard.outbound_decision("acme", account("g1"), "+442071110000", 0.0)
    assert (foreign.status, foreign.reason) == (403, "account 'g1' is not one of this tenant")
    foreign_trunk = guard.outbound_decision("acme", trunk("globex"), "+442071110000", 0.0)
    assert foreign_trunk.status == 403
    assert guard.outbound_decision("nobody", account("agent1"), "+442071110000", 0.0).status == 403
    assert guard.outbound_decision("acme", trunk("acme"), "+442071110000", 0.0).allowed
    assert guard.outbound_decision("acme", account("agent1"), "+442071110000", 0.0).allowed


@pytest.mark.parametrize(
    ("number", "status", "normalised"),
    [
        ("+44 20 7111 0000", None, "+442071110000"),
        ("0033 1 44 55 66 77", None, "+33144556677"),
        ("5550", None, "5550"),
        ("+1 900 555 0100", 403, "+19005550100"),
        ("001 900 555 0100", 403, "+19005550100"),  # the "00" spelling is blocked the same
        ("+44 9 0123 4567", 403, "+44901234567"),  # blocked beats the allowed +44
        ("+49 30 1234567", 403, "+49301234567"),  # not in the allowed list
        ("0800123", 403, "0800123"),
        ("12ab", 484, None),
    ],
)
def test_number_rules(number: str, status: int | None, normalised: str | None) -> None:
    decision = make_guard().outbound_decision("acme", account("agent1"), number, 0.0)
    assert (decision.allowed, decision.status, decision.number) == (
        status is None,
        status,
        normalised,
    )


def test_blocked_reason_names_the_prefix() -> None:
    decision = make_guard().outbound_decision("acme", account("agent1"), "+19005550100", 0.0)
    assert decision.reason == "+19005550100 is blocked (+1900)"


def test_concurrent_limits_and_release() -> None:
    guard = make_guard()
    agent1, agent2 = account("agent1"), account("agent2")
    first = guard.outbound_decision("acme", agent1, "+442071110001", 0.0)
    second = guard.outbound_decision("acme", agent1, "+442071110002", 1.0)
    assert first.allowed and second.allowed and first.call_ref != second.call_ref
    busy = guard.outbound_decision("acme", agent1, "+442071110003", 2.0)
    assert (busy.allowed, busy.status) == (False, 486)
    third = guard.outbound_decision("acme", agent2, "+442071110004", 3.0)
    assert third.allowed and guard.active_calls("acme") == 3
    full = guard.outbound_decision("acme", trunk("acme"), "+442071110005", 4.0)
    assert (full.allowed, full.status) == (False, 503)
    assert first.call_ref is not None
    assert guard.call_ended(first.call_ref)
    assert not guard.call_ended(first.call_ref)
    assert not guard.call_ended(12345)
    assert guard.active_calls("acme") == 2
    assert guard.outbound_decision("acme", agent1, "+442071110006", 5.0).allowed


def test_calls_per_minute_is_a_sliding_window() -> None:
    guard = make_guard()
    agent1 = account("agent1")
    for t in (0.0, 10.0, 20.0):
        decision = guard.outbound_decision("acme", agent1, "+442071110000", t)
        assert decision.allowed and decision.call_ref is not None
        guard.call_ended(decision.call_ref)
    limited = guard.outbound_decision("acme", agent1, "+442071110000", 59.5)
    assert (limited.allowed, limited.status, limited.retry_after) == (False, 503, 1)
    assert limited.reason == "account 'agent1' placed 3 calls in the last minute, the most it may"
    # At 60 s the first call has left the window.
    assert guard.outbound_decision("acme", agent1, "+442071110000", 60.0).allowed
    assert not guard.outbound_decision("acme", agent1, "+442071110000", 69.999).allowed
    # Refused attempts do not count, and other accounts have their own window.
    assert guard.outbound_decision("acme", account("agent2"), "+442071110000", 61.0).allowed


def test_a_tenant_without_allowed_patterns_cannot_call_out() -> None:
    decision = make_guard().outbound_decision("globex", account("g1"), "+442071110000", 0.0)
    assert (decision.allowed, decision.status) == (False, 403)
    assert decision.reason == (
        "+442071110000 matches none of the allowed patterns of tenant 'globex'"
    )
