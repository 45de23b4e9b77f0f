"""Voice configuration: parsing, the exact path of every error, HA1 values instead of
passwords, and the look-ups across tenants."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from glasshouse.domain.voice import (
    DEFAULT_BLOCKED_PREFIXES,
    InvalidNumber,
    NumberPattern,
    SipAccount,
    VoiceConfig,
    VoiceConfigError,
    load_voice_config,
    normalise_number,
    parse_voice_config,
)
from glasshouse.protocols.sip import digest_response

DEMO = Path(__file__).parents[3] / "src" / "glasshouse" / "demo" / "voice.yaml"


def base() -> dict[str, Any]:
    return {
        "server": {"realm": "glasshouse", "sip_host": "127.0.0.1", "sip_port": 5060},
        "tenants": [
            {
                "id": "acme",
                "numbers": [{"number": "+442071234567", "flow": "main"}],
                "accounts": [
                    {"username": "agent1", "agent": "a-1", "password": "secret-one"},
                    {"username": "agent2", "agent": "a-2", "password": "secret-two"},
                    {"username": "agent3", "agent": "a-3", "password": "secret-three"},
                ],
                "trunks": [{"name": "carrier", "host": "192.0.2.10"}],
                "outbound": {"allowed": ["+44"]},
            },
            {
                "id": "globex",
                "numbers": [{"number": "1000", "flow": "support"}],
                "accounts": [{"username": "g1", "agent": "g-1", "password": "globex-pass"}],
                "trunks": [
                    {
                        "name": "carrier",
                        "host": "sip.carrier.example",
                        "allowed_sources": ["198.51.100.0/24"],
                    }
                ],
            },
        ],
    }


def edit(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = copy.deepcopy(base())
    change(data)
    return data


def acme(data: dict[str, Any]) -> dict[str, Any]:
    tenant: dict[str, Any] = data["tenants"][0]
    return tenant


def globex(data: dict[str, Any]) -> dict[str, Any]:
    tenant: dict[str, Any] = data["tenants"][1]
    return tenant


ERRORS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("no tenants", lambda d: d.pop("tenants"), "tenants: is required but missing"),
    (
        "unknown top-level key",
        lambda d: d.update(tenant=[]),
        "tenant: unknown setting (expected one of server, registrar, guard, tenants)",
    ),
    (
        "tenants not a list",
        lambda d: d.update(tenants={"id": "acme"}),
        "tenants: expected a list, got dict",
    ),
    (
        "username used by another tenant",
        lambda d: globex(d)["accounts"].append(
            {"username": "agent1", "agent": "x", "password": "whatever-1"}
        ),
        'tenants[1].accounts[1].username: "agent1" is already used by tenant "acme"',
    ),
    (
        "username twice in one tenant",
        lambda d: acme(d)["accounts"].append(
            {"username": "agent2", "agent": "x", "password": "whatever-1"}
        ),
        'tenants[0].accounts[3].username: "agent2" is already used by tenant "acme"',
    ),
    (
        "number used by another tenant",
        lambda d: globex(d)["numbers"].append({"number": "+442071234567", "flow": "x"}),
        'tenants[1].numbers[1].number: "+442071234567" is already used by tenant "acme"',
    ),
    (
        "unquoted short number",
        lambda d: globex(d)["numbers"][0].update(number=1000),
        "tenants[1].numbers[0].number: expected text, got the number 1000: write it in quotes",
    ),
    (
        "number with letters",
        lambda d: acme(d)["numbers"][0].update(number="+44 20 CALL"),
        "tenants[0].numbers[0].number: '+44 20 CALL' is neither E.164 ('+' and 2-15 digits)"
        " nor 1-15 digits",
    ),
    (
        "missing flow",
        lambda d: acme(d)["numbers"][0].pop("flow"),
        "tenants[0].numbers[0].flow: is required but missing",
    ),
    (
        "short password",
        lambda d: acme(d)["accounts"][2].update(password="short"),
        "tenants[0].accounts[2].password: must be at least 8 characters long",
    ),
    (
        "password equal to the username",
        lambda d: acme(d)["accounts"][0].update(username="agent1-long", password="agent1-long"),
        "tenants[0].accounts[0].password: must not be the username",
    ),
    (
        "password and ha1",
        lambda d: acme(d)["accounts"][1].update(ha1={"MD5": "0" * 32, "SHA-256": "0" * 64}),
        "tenants[0].accounts[1]: give either 'password' or 'ha1', not both or neither",
    ),
    (
        "ha1 of the wrong length",
        lambda d: acme(d)["accounts"].__setitem__(
            1, {"username": "agent2", "agent": "a-2", "ha1": {"MD5": "0" * 31, "SHA-256": "0" * 64}}
        ),
        "tenants[0].accounts[1].ha1.MD5: expected 32 hexadecimal digits",
    ),
    (
        "username with a space",
        lambda d: acme(d)["accounts"][0].update(username="agent 1"),
        "tenants[0].accounts[0].username: username 'agent 1' must be 1-64 letters, digits,"
        " '_', '.' or '-', starting with a letter or digit",
    ),
    (
        "misspelt account key",
        lambda d: acme(d)["accounts"][1].update(pasword="x"),
        "tenants[0].accounts[1].pasword: unknown setting"
        " (expected one of username, agent, password, ha1)",
    ),
    (
        "trunk transport",
        lambda d: acme(d)["trunks"][0].update(transport="sctp"),
        "tenants[0].trunks[0].transport: expected one of udp, tcp, got 'sctp'",
    ),
    (
        "trunk host name without sources",
        lambda d: globex(d)["trunks"][0].pop("allowed_sources"),
        "tenants[1].trunks[0].allowed_sources: required when the host"
        " 'sip.carrier.example' is a name: list the carrier's IP addresses",
    ),
    (
        "bad trunk source",
        lambda d: acme(d)["trunks"][0].update(allowed_sources=["192.0.2.10", "10.0.0.300"]),
        "tenants[0].trunks[0].allowed_sources[1]: '10.0.0.300' is not an IP address or"
        " network (like 192.0.2.0/24)",
    ),
    (
        "trunk sources overlapping another tenant's",
        lambda d: globex(d)["trunks"][0].update(allowed_sources=["192.0.2.0/24"]),
        "tenants[1].trunks[0].allowed_sources: 192.0.2.0/24 overlaps 192.0.2.10/32 of trunk"
        " 'carrier' of tenant 'acme': a call's source must tell one trunk",
    ),
    (
        "trunk port",
        lambda d: acme(d)["trunks"][0].update(port=70000),
        "tenants[0].trunks[0].port: must be at most 65535, got 70000",
    ),
    (
        "trunk defined twice",
        lambda d: acme(d)["trunks"].append({"name": "carrier", "host": "192.0.2.99"}),
        'tenants[0].trunks[1].name: trunk "carrier" is defined twice',
    ),
    (
        "bad regular expression",
        lambda d: acme(d)["outbound"].update(allowed=["+44", "re:[0-9"]),
        "tenants[0].outbound.allowed[1]: bad regular expression '[0-9':"
        " unterminated character set at position 0",
    ),
    (
        "blocked pattern that is not a prefix",
        lambda d: acme(d)["outbound"].update(blocked=["+1 900"]),
        "tenants[0].outbound.blocked[0]: '+1 900' is neither a prefix ('+', digits)"
        " nor 're:' and a regular expression",
    ),
    (
        "negative limit",
        lambda d: acme(d)["outbound"].update(calls_per_minute=-1),
        "tenants[0].outbound.calls_per_minute: must be at least 0, got -1",
    ),
    (
        "tenant defined twice",
        lambda d: globex(d).update(id="acme"),
        "tenants[1].id: tenant 'acme' is defined twice",
    ),
    (
        "odd first RTP port",
        lambda d: d["server"].update(rtp_port_min=20001),
        "server.rtp_port_min: RTP uses even ports: 20001 is odd",
    ),
    (
        "RTP range upside down",
        lambda d: d["server"].update(rtp_port_min=30000, rtp_port_max=20000),
        "server.rtp_port_max: must be above rtp_port_min (30000), got 20000",
    ),
    (
        "bad SIP host",
        lambda d: d["server"].update(sip_host="300.1.1.1"),
        "server.sip_host: host '300.1.1.1' is not an IPv4 address",
    ),
    (
        "default expiry under the minimum",
        lambda d: d.update(registrar={"min_expires": 120, "default_expires": 60}),
        "registrar.default_expires: must be at least 120, got 60",
    ),
    (
        "zero failure window",
        lambda d: d.update(guard={"failure_window_s": 0}),
        "guard.failure_window_s: must be more than 0 seconds, got 0",
    ),
    (
        "scanner name with a space",
        lambda d: d.update(guard={"scanner_user_agents": ["bad agent"]}),
        "guard.scanner_user_agents[0]: 'bad agent' must be one word"
        " (no spaces, '/', '(', ')', ';' or ',')",
    ),
    (
        "boolean where a number is expected",
        lambda d: d.update(registrar={"max_contacts": True}),
        "registrar.max_contacts: expected a whole number, got True",
    ),
]


@pytest.mark.parametrize(("change", "message"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors_name_the_exact_path(change: Callable[[dict[str, Any]], None], message: str) -> None:
    with pytest.raises(VoiceConfigError) as caught:
        parse_voice_config(edit(change))
    assert str(caught.value) == message
    assert message.startswith(caught.value.path + ": ")


def test_the_base_document_is_valid_and_the_lookups_work() -> None:
    config = parse_voice_config(base())
    acme_tenant = config.tenant_for_number("+44 20 7123 4567")
    assert acme_tenant is not None and acme_tenant.tenant_id == "acme"
    assert acme_tenant.flow_for("+442071234567") == "main"
    route = config.route_number("1000")
    assert route is not None and (route.tenant_id, route.flow_id) == ("globex", "support")
    assert config.tenant_for_number("+15550000000") is None
    account = config.account("g1")
    assert account is not None and (account.tenant_id, account.agent_id) == ("globex", "g-1")
    assert config.account("G1") is None  # usernames are exact
    trunk = config.trunk_for_source("198.51.100.77")
    assert trunk is not None and (trunk.tenant_id, trunk.name) == ("globex", "carrier")
    trunk = config.trunk_for_source("::ffff:192.0.2.10")
    assert trunk is not None and trunk.tenant_id == "acme"
    assert config.trunk_for_source("192.0.2.11") is None
    assert config.trunk_for_source("not-an-address") is None
    assert config.tenant("globex") is not None and config.tenant("nobody") is None


def test_defaults() -> None:
    config = parse_voice_config({"tenants": [{"id": "t"}]})
    assert config.server.realm == "glasshouse"
    assert (config.server.rtp_port_min, config.server.rtp_port_max) == (20000, 29999)
    assert config.registrar.min_expires == 60 and config.registrar.max_contacts == 5
    assert config.guard.max_auth_failures == 5 and config.guard.block_s == 900
    policy = config.tenants[0].outbound
    assert policy.allowed == ()
    assert [p.text for p in policy.blocked] == list(DEFAULT_BLOCKED_PREFIXES)
    assert (policy.max_concurrent, policy.max_concurrent_per_account) == (10, 2)
    assert policy.calls_per_minute == 10 and policy.international_prefix == "00"
    trunk = parse_voice_config(base()).tenants[0].trunks[0]
    assert (trunk.port, trunk.transport, trunk.dial_prefix, trunk.caller_id) == (
        5060,
        "udp",
        "",
        None,
    )
    assert [str(n) for n in trunk.allowed_sources] == ["192.0.2.10/32"]


# ---------------------------------------------------------------------------------------------
# HA1


@pytest.mark.parametrize("realm", ["glasshouse", "voice.example.com"])
def test_ha1_is_the_digest_of_username_realm_password(realm: str) -> None:
    data = base()
    data["server"]["realm"] = realm
    account = parse_voice_config(data).account("agent2")
    assert account is not None
    secret = f"agent2:{realm}:secret-two".encode()
    assert account.ha1_md5 == hashlib.md5(secret, usedforsecurity=False).hexdigest()
    assert account.ha1_sha256 == hashlib.sha256(secret).hexdigest()
    assert account.ha1_for("SHA-256-sess") == account.ha1_sha256
    assert account.ha1_for("md5") == account.ha1_md5
    assert account.ha1_for("SHA-512-256") is None


@pytest.mark.parametrize(
    ("algorithm", "response"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_stored_ha1_answers_the_rfc_7616_example(algorithm: str, response: str) -> None:
    # RFC 7616 section 3.9.1: user Mufasa, password "Circle of Life".
    config = parse_voice_config(
        {
            "server": {"realm": "http-auth@example.org"},
            "tenants": [
                {
                    "id": "t",
                    "accounts": [
                        {"username": "Mufasa", "agent": "m", "password": "Circle of Life"}
                    ],
                }
            ],
        }
    )
    account = config.account("Mufasa")
    assert account is not None
    ha1 = account.ha1_for(algorithm)
    assert ha1 is not None
    computed = digest_response(
        algorithm=algorithm,
        ha1=ha1,
        nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        method="GET",
        uri="/dir/index.html",
        qop="auth",
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        nc=1,
    )
    assert computed == response


def test_ha1_may_be_given_instead_of_the_password() -> None:
    md5 = hashlib.md5(b"agent1:glasshouse:secret-one", usedforsecurity=False).hexdigest()
    sha = hashlib.sha256(b"agent1:glasshouse:secret-one").hexdigest()
    data = base()
    account_data = data["tenants"][0]["accounts"][0]
    del account_data["password"]
    account_data["ha1"] = {"MD5": md5.upper(), "SHA-256": sha}
    account = parse_voice_config(data).account("agent1")
    assert account == parse_voice_config(base()).account("agent1")


def test_the_clear_password_is_not_kept() -> None:
    config = parse_voice_config(base())
    assert "secret-one" not in repr(config)
    account = config.account("agent1")
    assert isinstance(account, SipAccount)
    values = [getattr(account, f.name) for f in dataclasses.fields(account)]
    assert all("secret-one" not in str(v) for v in values)
    assert "ha1" not in repr(account)


# ---------------------------------------------------------------------------------------------
# Numbers and patterns


def test_normalise_number() -> None:
    assert normalise_number("+44 (20) 7123-4567") == "+442071234567"
    assert normalise_number("0044 20 7123 4567", international_prefix="00") == "+442071234567"
    assert normalise_number("011 1 900 555 0100", international_prefix="011") == "+19005550100"
    assert normalise_number("1000") == "1000"
    for bad in ("", "+", "+0123", "12a4", "+1234567890123456", "sip:1000"):
        with pytest.raises(InvalidNumber, match="is not a telephone number"):
            normalise_number(bad)


def test_number_patterns() -> None:
    assert NumberPattern.parse("+44").matches("+442071234567")
    assert not NumberPattern.parse("+44").matches("+4520")
    assert NumberPattern.parse("+").matches("+15550100")
    assert not NumberPattern.parse("+").matches("5550100")
    regex = NumberPattern.parse("re:[1-9][0-9]{2,3}")
    assert regex.matches("555") and not regex.matches("5551234") and not regex.matches("055")
    with pytest.raises(ValueError, match="after 're:' is empty"):
        NumberPattern.parse("re:")


# ---------------------------------------------------------------------------------------------
# Files


def test_the_demo_file() -> None:
    config = load_voice_config(DEMO)
    assert isinstance(config, VoiceConfig)
    assert config.server.realm == "glasshouse"
    assert (config.server.sip_host, config.server.sip_port) == ("127.0.0.1", 5060)
    assert (config.server.rtp_port_min, config.server.rtp_port_max) == (20000, 29999)
    assert [t.tenant_id for t in config.tenants] == ["demo"]
    route = config.route_number("1000")
    assert route is not None and (route.tenant_id, route.flow_id) == ("demo", "main")
    for n in (1, 2, 3):
        account = config.account(f"agent{n}")
        assert account is not None and account.agent_id == f"agent{n}"
        secret = f"agent{n}:glasshouse:agent{n}-demo".encode()
        assert account.ha1_sha256 == hashlib.sha256(secret).hexdigest()
    trunk = config.trunk_for_source("127.0.0.1")
    assert trunk is not None
    assert (trunk.name, trunk.host, trunk.port, trunk.transport) == (
        "loopback-trunk",
        "127.0.0.1",
        5080,
        "udp",
    )


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "voice.yaml"
    broken.write_text("tenants:\n  - id: acme\n    numbers: [{number: 1000, flow: main}]\n")
    with pytest.raises(VoiceConfigError) as caught:
        load_voice_config(broken)
    assert str(caught.value) == (
        f"{broken}: tenants[0].numbers[0].number: expected text, got the number 1000:"
        " write it in quotes"
    )
    assert caught.value.source == str(broken)
    broken.write_text("tenants: [\n")
    with pytest.raises(VoiceConfigError, match="not valid YAML"):
        load_voice_config(broken)
    with pytest.raises(VoiceConfigError, match="cannot read the file"):
        load_voice_config(tmp_path / "missing.yaml")


def test_registrar_algorithms_setting() -> None:
    from glasshouse.domain.voice.config import VoiceConfigError, parse_voice_config

    assert parse_voice_config({"tenants": []}).registrar.algorithms == ("SHA-256", "MD5")
    config = parse_voice_config({"registrar": {"algorithms": ["MD5"]}, "tenants": []})
    assert config.registrar.algorithms == ("MD5",)
    for bad, message in (
        (["SHA-1"], "registrar.algorithms[0]: 'SHA-1' is not one of MD5, SHA-256"),
        (["MD5", "MD5"], "registrar.algorithms[1]: 'MD5' is listed twice"),
        ([], "registrar.algorithms: must be a non-empty list"),
    ):
        try:
            parse_voice_config({"registrar": {"algorithms": bad}, "tenants": []})
        except VoiceConfigError as exc:
            assert message in str(exc)
        else:
            raise AssertionError(f"{bad!r} accepted")
