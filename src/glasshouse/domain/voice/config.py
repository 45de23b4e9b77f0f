"""The voice configuration of a server: tenants with their numbers (DIDs), agent SIP accounts,
trunks and outbound policy, plus the server, registrar and toll-fraud guard settings.

:func:`parse_voice_config` builds it from plain data (as loaded from YAML) and names the exact
path of the first problem (``tenants[0].accounts[2].username: ...``). Account passwords are
turned into digest HA1 values for the server realm at once and never kept. Usernames, numbers
and trunk source addresses are unique across tenants, since they tell which tenant a
registration or a call belongs to.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, get_args

import yaml

from glasshouse.protocols.sip.digest import digest_ha1
from glasshouse.protocols.sip.uri import SipParseError, check_host, check_text

Transport = Literal["udp", "tcp"]
TRANSPORTS: Final[tuple[str, ...]] = get_args(Transport)

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The digest algorithms an account's HA1 is stored for (RFC 8760 SHA-256, RFC 2617 MD5).
STORED_ALGORITHMS: Final = ("MD5", "SHA-256")
_HA1_HEX_LENGTH: Final = {"MD5": 32, "SHA-256": 64}

MIN_PASSWORD_LENGTH: Final = 8

#: User-Agent words of well-known SIP scanners, compared with each word of a User-Agent
#: case-insensitively. Only tools whose sole use is scanning or war dialling: a commercial SDK
#: that scanners also abuse (such as PortSIP) stays off the list, since real phones use it.
DEFAULT_SCANNER_USER_AGENTS: Final = frozenset(
    {
        "friendly-scanner",
        "sipvicious",
        "sipcli",
        "sip-scan",
        "sipscan",
        "iwar",
        "sundayddr",
        "vaxsipuseragent",
        "pplsip",
    }
)

#: Destinations blocked unless a tenant sets its own ``blocked`` list: premium-rate and
#: shared-cost ranges, international premium rate, and the international networks most used
#: for revenue-share fraud.
DEFAULT_BLOCKED_PREFIXES: Final = (
    "+1900",  # North America premium rate
    "+1976",  # North America pay-per-call
    "+449",  # United Kingdom premium rate
    "+4470",  # United Kingdom personal numbers
    "+4487",  # United Kingdom shared cost
    "+3389",  # France premium rate (089x)
    "+49900",  # Germany premium rate (0900)
    "+39899",  # Italy premium rate (899)
    "+979",  # International Premium Rate Service
    "+881",  # Global Mobile Satellite System
    "+882",  # International networks
    "+883",  # International networks
)

_IDENTIFIER: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_E164: Final = re.compile(r"\+[1-9][0-9]{1,14}")
_SHORT_NUMBER: Final = re.compile(r"[0-9]{1,15}")
_DIAL_PREFIX: Final = re.compile(r"[0-9*#+]{0,16}")
_PREFIX_PATTERN: Final = re.compile(r"\+?[0-9]*")
_SEPARATORS: Final = str.maketrans("", "", " -.()")
_HEX: Final = frozenset("0123456789abcdef")
_MAX_PORT: Final = 65535


class VoiceConfigError(ValueError):
    """A voice setting is invalid. ``path`` is where in the document (``tenants[0].numbers``),
    ``problem`` what is wrong; ``source`` names the file when one was read."""

    def __init__(self, path: str, problem: str, *, source: str | None = None) -> None:
        where = ": ".join(part for part in (source, path) if part)
        super().__init__(f"{where}: {problem}" if where else problem)
        self.path = path
        self.problem = problem
        self.source = source


class InvalidNumber(ValueError):
    """A dialled number that is not a telephone number."""


# ---------------------------------------------------------------------------------------------
# Numbers


def normalise_number(number: str, *, international_prefix: str = "") -> str:
    """``number`` without visual separators (space, ``-``, ``.``, parentheses), with a leading
    ``international_prefix`` (say ``00``) rewritten to ``+``. Raises InvalidNumber unless the
    result is ``+`` and 2-15 digits (E.164) or 1-15 digits."""
    text = number.translate(_SEPARATORS)
    if international_prefix and text.startswith(international_prefix):
        text = "+" + text[len(international_prefix) :]
    if _E164.fullmatch(text) or _SHORT_NUMBER.fullmatch(text):
        return text
    raise InvalidNumber(f"{number!r} is not a telephone number (E.164 like +4420... or digits)")


@dataclass(frozen=True, slots=True)
class NumberPattern:
    """A pattern for dialled numbers: a prefix such as ``+44`` or ``+`` (every E.164 number),
    or ``re:`` and a regular expression that must match the whole normalised number."""

    text: str
    regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, text: str) -> NumberPattern:
        """Raises ValueError naming the problem for an empty prefix or a bad expression."""
        if text.startswith("re:"):
            expression = text[3:]
            if not expression:
                raise ValueError("the regular expression after 're:' is empty")
            try:
                return cls(text, re.compile(expression))
            except re.error as exc:
                raise ValueError(f"bad regular expression {expression!r}: {exc}") from None
        if not text or not _PREFIX_PATTERN.fullmatch(text):
            raise ValueError(
                f"{text!r} is neither a prefix ('+', digits) nor 're:' and a regular expression"
            )
        return cls(text)

    def matches(self, number: str) -> bool:
        """Whether the normalised ``number`` falls under this pattern."""
        if self.regex is not None:
            return self.regex.fullmatch(number) is not None
        return number.startswith(self.text)


# ---------------------------------------------------------------------------------------------
# Settings


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Where the server listens: the digest realm, the SIP address and the RTP port range."""

    realm: str = "glasshouse"
    sip_host: str = "0.0.0.0"
    sip_port: int = 5060
    rtp_port_min: int = 20000
    rtp_port_max: int = 29999


@dataclass(frozen=True, slots=True)
class RegistrarSettings:
    """Registration intervals in seconds, the number of contacts one account may bind, and the
    digest algorithms challenged with, strongest first. Some phones still in service refuse a
    challenge set that contains SHA-256 at all (baresip 1.0, sipp 3.6), so the set is a setting;
    both algorithms are kept as HA1 for every account either way."""

    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 3600
    max_contacts: int = 5
    algorithms: tuple[str, ...] = ("SHA-256", "MD5")


@dataclass(frozen=True, slots=True)
class GuardSettings:
    """Toll-fraud guard: ``max_auth_failures`` within ``failure_window_s`` block a source for
    ``block_s``; a scanner User-Agent blocks it for ``scanner_block_s`` at once."""

    max_auth_failures: int = 5
    failure_window_s: float = 60.0
    block_s: float = 900.0
    scanner_block_s: float = 86400.0
    scanner_user_agents: frozenset[str] = DEFAULT_SCANNER_USER_AGENTS


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """Which numbers a tenant may dial out and how many calls it may place. ``blocked`` wins
    over ``allowed``; an empty ``allowed`` list means no outbound calls at all."""

    allowed: tuple[NumberPattern, ...] = ()
    blocked: tuple[NumberPattern, ...] = tuple(
        NumberPattern(prefix) for prefix in DEFAULT_BLOCKED_PREFIXES
    )
    international_prefix: str = "00"
    max_concurrent: int = 10
    max_concurrent_per_account: int = 2
    calls_per_minute: int = 10


# ---------------------------------------------------------------------------------------------
# Tenants


@dataclass(frozen=True, slots=True)
class NumberRoute:
    """A number (DID) of a tenant and the IVR flow that answers it."""

    number: str
    tenant_id: str
    flow_id: str


@dataclass(frozen=True, slots=True)
class SipAccount:
    """An agent's SIP account: the ACD agent it logs in as and its digest HA1 values (never the
    password) for the server realm."""

    username: str
    tenant_id: str
    agent_id: str
    ha1_md5: str = field(repr=False)
    ha1_sha256: str = field(repr=False)

    def ha1_for(self, algorithm: str) -> str | None:
        """The stored HA1 for a digest algorithm (``-sess`` variants share their base's), or
        None for an algorithm not stored."""
        base = algorithm.upper().removesuffix("-SESS")
        if base == "MD5":
            return self.ha1_md5
        if base == "SHA-256":
            return self.ha1_sha256
        return None


@dataclass(frozen=True, slots=True)
class TrunkAuth:
    """Credentials the server gives a carrier that challenges it. The password is kept because
    the carrier's realm is only known from its challenge."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Trunk:
    """A carrier connection of a tenant. Calls in are accepted only from ``allowed_sources``."""

    name: str
    tenant_id: str
    host: str
    port: int = 5060
    transport: Transport = "udp"
    auth: TrunkAuth | None = None
    allowed_sources: tuple[IpNetwork, ...] = ()
    caller_id: str | None = None
    dial_prefix: str = ""

    def accepts(self, source_ip: str) -> bool:
        """Whether calls from ``source_ip`` may come in on this trunk."""
        address = _ip(source_ip)
        return address is not None and any(address in net for net in self.allowed_sources)


@dataclass(frozen=True, slots=True)
class Tenant:
    """One tenant's voice setup."""

    tenant_id: str
    numbers: tuple[NumberRoute, ...] = ()
    accounts: tuple[SipAccount, ...] = ()
    trunks: tuple[Trunk, ...] = ()
    outbound: OutboundPolicy = OutboundPolicy()

    def flow_for(self, number: str) -> str | None:
        """The flow answering ``number`` if the tenant owns it."""
        return next((r.flow_id for r in self.numbers if r.number == number), None)

    def account(self, username: str) -> SipAccount | None:
        return next((a for a in self.accounts if a.username == username), None)

    def trunk(self, name: str) -> Trunk | None:
        return next((t for t in self.trunks if t.name == name), None)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True, slots=True)
class VoiceConfig:
    """The whole server's voice configuration, with look-ups across tenants. Construction
    checks that usernames, numbers and trunk sources are unique across tenants."""

    tenants: tuple[Tenant, ...] = ()
    server: ServerSettings = ServerSettings()
    registrar: RegistrarSettings = RegistrarSettings()
    guard: GuardSettings = GuardSettings()
    _tenants: dict[str, Tenant] = field(init=False, repr=False, compare=False)
    _numbers: dict[str, NumberRoute] = field(init=False, repr=False, compare=False)
    _accounts: dict[str, SipAccount] = field(init=False, repr=False, compare=False)
    _sources: list[tuple[IpNetwork, Trunk]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tenants: dict[str, Tenant] = {}
        numbers: dict[str, NumberRoute] = {}
        accounts: dict[str, SipAccount] = {}
        sources: list[tuple[IpNetwork, Trunk]] = []
        for ti, tenant in enumerate(self.tenants):
            where = f"tenants[{ti}]"
            if tenant.tenant_id in tenants:
                raise VoiceConfigError(
                    f"{where}.id", f"tenant {tenant.tenant_id!r} is defined twice"
                )
            tenants[tenant.tenant_id] = tenant
            for ni, route in enumerate(tenant.numbers):
                other = numbers.get(route.number)
                if other is not None:
                    raise VoiceConfigError(
                        f"{where}.numbers[{ni}].number",
                        f'"{route.number}" is already used by tenant "{other.tenant_id}"',
                    )
                numbers[route.number] = route
            for ai, account in enumerate(tenant.accounts):
                known = accounts.get(account.username)
                if known is not None:
                    raise VoiceConfigError(
                        f"{where}.accounts[{ai}].username",
                        f'"{account.username}" is already used by tenant "{known.tenant_id}"',
                    )
                accounts[account.username] = account
            names: set[str] = set()
            for ki, trunk in enumerate(tenant.trunks):
                if trunk.name in names:
                    raise VoiceConfigError(
                        f"{where}.trunks[{ki}].name", f'trunk "{trunk.name}" is defined twice'
                    )
                names.add(trunk.name)
                for net in trunk.allowed_sources:
                    for seen, owner in sources:
                        if net.version == seen.version and net.overlaps(seen):
                            raise VoiceConfigError(
                                f"{where}.trunks[{ki}].allowed_sources",
                                f"{net} overlaps {seen} of trunk {owner.name!r} of tenant "
                                f"{owner.tenant_id!r}: a call's source must tell one trunk",
                            )
                    sources.append((net, trunk))
        object.__setattr__(self, "_tenants", tenants)
        object.__setattr__(self, "_numbers", numbers)
        object.__setattr__(self, "_accounts", accounts)
        object.__setattr__(self, "_sources", sources)

    def tenant(self, tenant_id: str) -> Tenant | None:
        return self._tenants.get(tenant_id)

    def route_number(self, number: str) -> NumberRoute | None:
        """The tenant and flow of a dialled number (visual separators ignored), or None."""
        return self._numbers.get(number.translate(_SEPARATORS))

    def tenant_for_number(self, number: str) -> Tenant | None:
        """The tenant owning a dialled number, or None when no tenant does."""
        route = self.route_number(number)
        return None if route is None else self._tenants[route.tenant_id]

    def account(self, username: str) -> SipAccount | None:
        """The SIP account with this username (exact match), in whichever tenant."""
        return self._accounts.get(username)

    def trunk_for_source(self, host: str) -> Trunk | None:
        """The trunk that accepts calls from the IP address ``host``, or None."""
        address = _ip(host)
        if address is None:
            return None
        return next((trunk for net, trunk in self._sources if address in net), None)


# ---------------------------------------------------------------------------------------------
# Parsing


def _mapping(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise VoiceConfigError(path, f"expected a mapping, got {_kind(value)}")
    for key in value:
        if not isinstance(key, str):
            raise VoiceConfigError(path, f"keys must be strings, got {key!r}")
    return value


def _list(value: object, path: str) -> Sequence[Any]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise VoiceConfigError(path, f"expected a list, got {_kind(value)}")
    return value


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _keys(
    data: Mapping[str, Any], path: str, allowed: Sequence[str], required: Sequence[str]
) -> None:
    for key in data:
        if key not in allowed:
            raise VoiceConfigError(
                _join(path, key), f"unknown setting (expected one of {', '.join(allowed)})"
            )
    for key in required:
        if key not in data:
            raise VoiceConfigError(_join(path, key), "is required but missing")


def _string(value: object, path: str) -> str:
    if not isinstance(value, str) or not value:
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise VoiceConfigError(
                path, f"expected text, got the number {value!r}: write it in quotes"
            )
        raise VoiceConfigError(path, f"expected non-empty text, got {value!r}")
    return value


def _identifier(value: object, path: str, what: str) -> str:
    text = _string(value, path)
    if not _IDENTIFIER.fullmatch(text):
        raise VoiceConfigError(
            path,
            f"{what} {text!r} must be 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit",
        )
    return text


def _int(value: object, path: str, *, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise VoiceConfigError(path, f"expected a whole number, got {value!r}")
    if value < low:
        raise VoiceConfigError(path, f"must be at least {low}, got {value}")
    if high is not None and value > high:
        raise VoiceConfigError(path, f"must be at most {high}, got {value}")
    return value


def _seconds(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise VoiceConfigError(path, f"expected a number of seconds, got {value!r}")
    if value <= 0:
        raise VoiceConfigError(path, f"must be more than 0 seconds, got {value}")
    return float(value)


def _host(value: object, path: str) -> str:
    text = _string(value, path)
    try:
        check_host(text)
    except SipParseError as exc:
        raise VoiceConfigError(path, exc.reason) from None
    return text


def _number(value: object, path: str) -> str:
    text = _string(value, path)
    if not (_E164.fullmatch(text) or _SHORT_NUMBER.fullmatch(text)):
        raise VoiceConfigError(
            path, f"{text!r} is neither E.164 ('+' and 2-15 digits) nor 1-15 digits"
        )
    return text


def _patterns(value: object, path: str) -> tuple[NumberPattern, ...]:
    out: list[NumberPattern] = []
    for i, item in enumerate(_list(value, path)):
        where = f"{path}[{i}]"
        try:
            out.append(NumberPattern.parse(_string(item, where)))
        except VoiceConfigError:
            raise
        except ValueError as exc:
            raise VoiceConfigError(where, str(exc)) from None
    return tuple(out)


def _realm(value: object, path: str) -> str:
    realm = _string(value, path)
    try:
        check_text(realm, "realm")
    except ValueError as exc:
        raise VoiceConfigError(path, str(exc)) from None
    # The realm is sent as a quoted string in every challenge.
    if '"' in realm or "\\" in realm:
        raise VoiceConfigError(path, "must not contain '\"' or '\\'")
    return realm


def _server(value: object) -> ServerSettings:
    path = "server"
    data = _mapping(value, path)
    _keys(data, path, ("realm", "sip_host", "sip_port", "rtp_port_min", "rtp_port_max"), ())
    default = ServerSettings()
    low = _int(data.get("rtp_port_min", default.rtp_port_min), f"{path}.rtp_port_min", low=1024)
    high = _int(
        data.get("rtp_port_max", default.rtp_port_max),
        f"{path}.rtp_port_max",
        low=1024,
        high=_MAX_PORT,
    )
    if low % 2:
        raise VoiceConfigError(f"{path}.rtp_port_min", f"RTP uses even ports: {low} is odd")
    if high <= low:
        raise VoiceConfigError(
            f"{path}.rtp_port_max", f"must be above rtp_port_min ({low}), got {high}"
        )
    return ServerSettings(
        realm=_realm(data.get("realm", default.realm), f"{path}.realm"),
        sip_host=_host(data.get("sip_host", default.sip_host), f"{path}.sip_host"),
        sip_port=_int(
            data.get("sip_port", default.sip_port), f"{path}.sip_port", low=1, high=_MAX_PORT
        ),
        rtp_port_min=low,
        rtp_port_max=high,
    )


def _registrar(value: object) -> RegistrarSettings:
    path = "registrar"
    data = _mapping(value, path)
    _keys(
        data,
        path,
        ("min_expires", "max_expires", "default_expires", "max_contacts", "algorithms"),
        (),
    )
    default = RegistrarSettings()
    low = _int(data.get("min_expires", default.min_expires), f"{path}.min_expires", low=1)
    high = _int(data.get("max_expires", default.max_expires), f"{path}.max_expires", low=low)
    usual = _int(
        data.get("default_expires", min(max(default.default_expires, low), high)),
        f"{path}.default_expires",
        low=low,
        high=high,
    )
    contacts = _int(data.get("max_contacts", default.max_contacts), f"{path}.max_contacts", low=1)
    raw = data.get("algorithms", list(default.algorithms))
    if not isinstance(raw, list) or not raw:
        raise VoiceConfigError(f"{path}.algorithms", "must be a non-empty list of MD5, SHA-256")
    algorithms: list[str] = []
    for k, name in enumerate(raw):
        if name not in ("MD5", "SHA-256"):
            raise VoiceConfigError(
                f"{path}.algorithms[{k}]", f"{name!r} is not one of MD5, SHA-256"
            )
        if name in algorithms:
            raise VoiceConfigError(f"{path}.algorithms[{k}]", f"{name!r} is listed twice")
        algorithms.append(name)
    return RegistrarSettings(
        min_expires=low,
        max_expires=high,
        default_expires=usual,
        max_contacts=contacts,
        algorithms=tuple(algorithms),
    )


def _guard(value: object) -> GuardSettings:
    path = "guard"
    data = _mapping(value, path)
    _keys(
        data,
        path,
        (
            "max_auth_failures",
            "failure_window_s",
            "block_s",
            "scanner_block_s",
            "scanner_user_agents",
        ),
        (),
    )
    default = GuardSettings()
    agents = default.scanner_user_agents
    if "scanner_user_agents" in data:
        where = f"{path}.scanner_user_agents"
        words: set[str] = set()
        for i, item in enumerate(_list(data["scanner_user_agents"], where)):
            word = _string(item, f"{where}[{i}]")
            if any(c.isspace() or c in "/();," for c in word):
                raise VoiceConfigError(
                    f"{where}[{i}]",
                    f"{word!r} must be one word (no spaces, '/', '(', ')', ';' or ',')",
                )
            words.add(word.lower())
        agents = frozenset(words)
    return GuardSettings(
        max_auth_failures=_int(
            data.get("max_auth_failures", default.max_auth_failures),
            f"{path}.max_auth_failures",
            low=1,
        ),
        failure_window_s=_seconds(
            data.get("failure_window_s", default.failure_window_s), f"{path}.failure_window_s"
        ),
        block_s=_seconds(data.get("block_s", default.block_s), f"{path}.block_s"),
        scanner_block_s=_seconds(
            data.get("scanner_block_s", default.scanner_block_s), f"{path}.scanner_block_s"
        ),
        scanner_user_agents=agents,
    )


def _ha1(value: object, path: str) -> dict[str, str]:
    data = _mapping(value, path)
    _keys(data, path, STORED_ALGORITHMS, STORED_ALGORITHMS)
    out: dict[str, str] = {}
    for algorithm in STORED_ALGORITHMS:
        where = f"{path}.{algorithm}"
        text = _string(data[algorithm], where).lower()
        length = _HA1_HEX_LENGTH[algorithm]
        if len(text) != length or not set(text) <= _HEX:
            raise VoiceConfigError(where, f"expected {length} hexadecimal digits")
        out[algorithm] = text
    return out


def _account(value: object, path: str, tenant_id: str, realm: str) -> SipAccount:
    data = _mapping(value, path)
    _keys(data, path, ("username", "agent", "password", "ha1"), ("username", "agent"))
    username = _identifier(data["username"], f"{path}.username", "username")
    agent_id = _string(data["agent"], f"{path}.agent")
    if ("password" in data) == ("ha1" in data):
        raise VoiceConfigError(path, "give either 'password' or 'ha1', not both or neither")
    if "ha1" in data:
        ha1 = _ha1(data["ha1"], f"{path}.ha1")
    else:
        where = f"{path}.password"
        password = _string(data["password"], where)
        if len(password) < MIN_PASSWORD_LENGTH:
            raise VoiceConfigError(where, f"must be at least {MIN_PASSWORD_LENGTH} characters long")
        if password == username:
            raise VoiceConfigError(where, "must not be the username")
        ha1 = {a: digest_ha1(a, username, realm, password) for a in STORED_ALGORITHMS}
    return SipAccount(
        username=username,
        tenant_id=tenant_id,
        agent_id=agent_id,
        ha1_md5=ha1["MD5"],
        ha1_sha256=ha1["SHA-256"],
    )


def _sources(value: object, path: str) -> tuple[IpNetwork, ...]:
    out: list[IpNetwork] = []
    for i, item in enumerate(_list(value, path)):
        where = f"{path}[{i}]"
        text = _string(item, where)
        try:
            out.append(ipaddress.ip_network(text, strict=True))
        except ValueError:
            raise VoiceConfigError(
                where, f"{text!r} is not an IP address or network (like 192.0.2.0/24)"
            ) from None
    if not out:
        raise VoiceConfigError(path, "list at least one address, or leave the setting out")
    return tuple(out)


def _trunk(value: object, path: str, tenant_id: str) -> Trunk:
    data = _mapping(value, path)
    _keys(
        data,
        path,
        (
            "name",
            "host",
            "port",
            "transport",
            "auth",
            "allowed_sources",
            "caller_id",
            "dial_prefix",
        ),
        ("name", "host"),
    )
    name = _identifier(data["name"], f"{path}.name", "trunk name")
    host = _host(data["host"], f"{path}.host")
    transport = data.get("transport", "udp")
    if transport not in TRANSPORTS:
        raise VoiceConfigError(
            f"{path}.transport", f"expected one of {', '.join(TRANSPORTS)}, got {transport!r}"
        )
    auth: TrunkAuth | None = None
    if "auth" in data:
        where = f"{path}.auth"
        auth_data = _mapping(data["auth"], where)
        _keys(auth_data, where, ("username", "password"), ("username", "password"))
        auth = TrunkAuth(
            username=_string(auth_data["username"], f"{where}.username"),
            password=_string(auth_data["password"], f"{where}.password"),
        )
    if "allowed_sources" in data:
        sources = _sources(data["allowed_sources"], f"{path}.allowed_sources")
    elif _ip(host) is not None:
        sources = (ipaddress.ip_network(host),)
    else:
        raise VoiceConfigError(
            f"{path}.allowed_sources",
            f"required when the host {host!r} is a name: list the carrier's IP addresses",
        )
    caller_id = None
    if data.get("caller_id") is not None:
        caller_id = _number(data["caller_id"], f"{path}.caller_id")
    prefix = data.get("dial_prefix", "")
    if not isinstance(prefix, str) or not _DIAL_PREFIX.fullmatch(prefix):
        raise VoiceConfigError(
            f"{path}.dial_prefix",
            f"expected up to 16 of 0-9, '*', '#', '+' in quotes, got {prefix!r}",
        )
    return Trunk(
        name=name,
        tenant_id=tenant_id,
        host=host,
        port=_int(data.get("port", 5060), f"{path}.port", low=1, high=_MAX_PORT),
        transport=transport,
        auth=auth,
        allowed_sources=sources,
        caller_id=caller_id,
        dial_prefix=prefix,
    )


def _outbound(value: object, path: str) -> OutboundPolicy:
    data = _mapping(value, path)
    _keys(
        data,
        path,
        (
            "allowed",
            "blocked",
            "international_prefix",
            "max_concurrent",
            "max_concurrent_per_account",
            "calls_per_minute",
        ),
        (),
    )
    default = OutboundPolicy()
    prefix = data.get("international_prefix", default.international_prefix)
    if not isinstance(prefix, str) or not re.fullmatch(r"[0-9]{0,4}", prefix):
        raise VoiceConfigError(
            f"{path}.international_prefix",
            f"expected up to 4 digits in quotes (like '00' or '011'), got {prefix!r}",
        )
    return OutboundPolicy(
        allowed=_patterns(data.get("allowed", []), f"{path}.allowed"),
        blocked=(
            _patterns(data["blocked"], f"{path}.blocked") if "blocked" in data else default.blocked
        ),
        international_prefix=prefix,
        max_concurrent=_int(
            data.get("max_concurrent", default.max_concurrent), f"{path}.max_concurrent", low=0
        ),
        max_concurrent_per_account=_int(
            data.get("max_concurrent_per_account", default.max_concurrent_per_account),
            f"{path}.max_concurrent_per_account",
            low=0,
        ),
        calls_per_minute=_int(
            data.get("calls_per_minute", default.calls_per_minute),
            f"{path}.calls_per_minute",
            low=0,
        ),
    )


def _tenant(value: object, path: str, realm: str) -> Tenant:
    data = _mapping(value, path)
    _keys(data, path, ("id", "numbers", "accounts", "trunks", "outbound"), ("id",))
    tenant_id = _identifier(data["id"], f"{path}.id", "tenant id")
    numbers: list[NumberRoute] = []
    for i, item in enumerate(_list(data.get("numbers", []), f"{path}.numbers")):
        where = f"{path}.numbers[{i}]"
        entry = _mapping(item, where)
        _keys(entry, where, ("number", "flow"), ("number", "flow"))
        numbers.append(
            NumberRoute(
                number=_number(entry["number"], f"{where}.number"),
                tenant_id=tenant_id,
                flow_id=_identifier(entry["flow"], f"{where}.flow", "flow id"),
            )
        )
    accounts = tuple(
        _account(item, f"{path}.accounts[{i}]", tenant_id, realm)
        for i, item in enumerate(_list(data.get("accounts", []), f"{path}.accounts"))
    )
    trunks = tuple(
        _trunk(item, f"{path}.trunks[{i}]", tenant_id)
        for i, item in enumerate(_list(data.get("trunks", []), f"{path}.trunks"))
    )
    outbound = _outbound(data.get("outbound", {}), f"{path}.outbound")
    return Tenant(
        tenant_id=tenant_id,
        numbers=tuple(numbers),
        accounts=accounts,
        trunks=trunks,
        outbound=outbound,
    )


def parse_voice_config(data: object) -> VoiceConfig:
    """Build a :class:`VoiceConfig` from plain data (as loaded from YAML). Raises
    VoiceConfigError naming the path of the first problem."""
    top = _mapping(data, "")
    _keys(top, "", ("server", "registrar", "guard", "tenants"), ("tenants",))
    server = _server(top.get("server", {}))
    registrar = _registrar(top.get("registrar", {}))
    guard = _guard(top.get("guard", {}))
    tenants = tuple(
        _tenant(item, f"tenants[{i}]", server.realm)
        for i, item in enumerate(_list(top["tenants"], "tenants"))
    )
    return VoiceConfig(tenants=tenants, server=server, registrar=registrar, guard=guard)


def load_voice_config(path: str | os.PathLike[str]) -> VoiceConfig:
    """Read and parse a YAML voice configuration file; errors (unreadable file, bad YAML, bad
    setting) are VoiceConfigError with the file name in ``source``."""
    source = os.fspath(path)
    try:
        with open(source, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise VoiceConfigError("", f"cannot read the file: {exc}", source=source) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise VoiceConfigError("", f"not valid YAML: {exc}", source=source) from None
    try:
        return parse_voice_config(data)
    except VoiceConfigError as exc:
        raise VoiceConfigError(exc.path, exc.problem, source=source) from None
