"""SIP, SIPS and tel URIs (RFC 3261 section 19.1, RFC 3966), and any other absolute URI.

``parse_uri(text)`` returns a :class:`SipUri`, :class:`TelUri` or :class:`AbsoluteUri`;
``str(uri)`` serialises it. Components are stored unescaped (``%41`` is kept as ``A``) and
``str()`` escapes what the grammar requires, so ``parse_uri(str(u)) == u``. Dataclass equality
is structural; the comparison rules of RFC 3261 19.1.4 are :meth:`SipUri.equivalent`.

:class:`SipParseError`, the error of the whole SIP message layer, is defined here because URIs
are the lowest layer that every other SIP module parses.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import string
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from glasshouse.protocols.sip.message import ResponseHint


class SipParseError(ValueError):
    """A SIP message, header field or URI cannot be parsed.

    ``reason`` names the problem exactly. ``response_hint`` is set when the bytes were a request
    good enough to answer (see :class:`glasshouse.protocols.sip.message.ResponseHint`).
    """

    def __init__(self, reason: str, *, response_hint: ResponseHint | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.response_hint = response_hint


# ---------------------------------------------------------------------------------------------
# Character classes of RFC 3261 section 25.1

ALPHANUM: Final = frozenset(string.ascii_letters + string.digits)
UNRESERVED: Final = ALPHANUM | frozenset("-_.!~*'()")
TOKEN_CHARS: Final = ALPHANUM | frozenset("-.!%*_+`'~")
_USER_CHARS: Final = UNRESERVED | frozenset("&=+$,;?/")
# Phones put '#' unescaped into dial strings; accepted on input, escaped on output.
_USER_INPUT_CHARS: Final = _USER_CHARS | frozenset("#")
_PASSWORD_CHARS: Final = UNRESERVED | frozenset("&=+$,")
_PARAM_CHARS: Final = UNRESERVED | frozenset("[]/:&+$")
_HEADER_CHARS: Final = UNRESERVED | frozenset("[]/?:+$")
_HOSTNAME_CHARS: Final = ALPHANUM | frozenset("-_")
_SCHEME_CHARS: Final = ALPHANUM | frozenset("+-.")
_TEL_GLOBAL_CHARS: Final = frozenset(string.digits + "-.()")
_TEL_LOCAL_CHARS: Final = frozenset(string.hexdigits + "*#-.()")
_TEL_SEPARATORS: Final = frozenset("-.()")
# Opaque part of an absolute URI (RFC 3986 characters, no whitespace or delimiters of SIP).
_OPAQUE_CHARS: Final = UNRESERVED | frozenset("%;?:@&=+$,/[]#")
_HEX: Final = frozenset(string.hexdigits)
_DIGITS: Final = frozenset(string.digits)
_MAX_PORT: Final = 65535


@functools.cache
def span_pattern(chars: frozenset[str]) -> re.Pattern[str]:
    """A regex matching a run of characters from ``chars``."""
    return re.compile("[" + "".join(re.escape(c) for c in sorted(chars)) + "]*")


def char_class(chars: frozenset[str]) -> str:
    """A regex character class matching one character of ``chars``."""
    return "[" + "".join(re.escape(c) for c in sorted(chars)) + "]"


def all_in(text: str, chars: frozenset[str]) -> bool:
    """True if every character of ``text`` is in ``chars`` (true for an empty text)."""
    return span_pattern(chars).fullmatch(text) is not None


def show(value: object, limit: int = 60) -> str:
    """``repr(value)`` for an error message, cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_token(text: str) -> bool:
    """True if ``text`` is a non-empty RFC 3261 token."""
    return bool(text) and all_in(text, TOKEN_CHARS)


def check_text(text: str, what: str) -> None:
    """Raise ValueError if ``text`` cannot go on the wire (CR, LF, or an unencodable surrogate)."""
    if "\r" in text or "\n" in text:
        raise ValueError(f"{what} contains CR or LF: {show(text)}")
    try:
        text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not encodable as UTF-8: {show(text)}") from None


def escape(text: str, safe: frozenset[str]) -> str:
    """Percent-encode every character of ``text`` outside ``safe`` (as UTF-8 octets)."""
    if all_in(text, safe):
        return text
    out: list[str] = []
    for c in text:
        if c in safe:
            out.append(c)
        else:
            out.extend(f"%{b:02X}" for b in c.encode("utf-8", "surrogateescape"))
    return "".join(out)


def unescape(text: str, allowed: frozenset[str], what: str) -> str:
    """Decode ``%XX`` escapes in ``text``; any other character must be in ``allowed``."""
    if "%" not in text and all_in(text, allowed):
        return text
    raw = bytearray()
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "%":
            hexpair = text[i + 1 : i + 3]
            if len(hexpair) != 2 or not all(h in _HEX for h in hexpair):
                raise SipParseError(f"{what} has a bad %-escape {show(text[i : i + 3])}")
            raw.append(int(hexpair, 16))
            i += 3
            continue
        if c not in allowed:
            raise SipParseError(f"{what} contains {show(c)}")
        raw.append(ord(c))
        i += 1
    return raw.decode("utf-8", "surrogateescape")


# ---------------------------------------------------------------------------------------------
# Hosts and ports


def parse_host(text: str, what: str = "host") -> str:
    """Validate a host (hostname, IPv4 address or ``[IPv6]`` reference); IPv6 comes back bare."""
    if text.startswith("["):
        if not text.endswith("]"):
            raise SipParseError(f"{what} {show(text)} has no closing ']'")
        inner = text[1:-1]
        try:
            ipaddress.IPv6Address(inner)
        except ValueError:
            raise SipParseError(f"{what} {show(text)} is not an IPv6 address") from None
        return inner
    check_host(text, what)
    return text


# Hosts already found valid: a server sees the same few hosts in every message. Bounded, so
# a stream of made-up hosts cannot grow it without end.
_VALID_HOSTS: dict[str, None] = {}
_VALID_HOSTS_MAX = 4096


def check_host(host: str, what: str = "host") -> None:
    """Validate a bare host: hostname, IPv4 or IPv6 address (without brackets)."""
    if host in _VALID_HOSTS:
        return
    _check_host(host, what)
    if len(_VALID_HOSTS) >= _VALID_HOSTS_MAX:
        _VALID_HOSTS.clear()
    _VALID_HOSTS[host] = None


def _check_host(host: str, what: str) -> None:
    if not host:
        raise SipParseError(f"{what} is empty")
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise SipParseError(f"{what} {show(host)} is not an IPv6 address") from None
        return
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    if all(label.isascii() and label.isdigit() for label in labels):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise SipParseError(f"{what} {show(host)} is not an IPv4 address") from None
        return
    for label in labels:
        if not label or label[0] == "-" or label[-1] == "-" or not all_in(label, _HOSTNAME_CHARS):
            raise SipParseError(f"{what} {show(host)} is not a valid hostname")


def format_host(host: str) -> str:
    """A host as it appears in a URI or Via: IPv6 addresses in brackets."""
    return f"[{host}]" if ":" in host else host


def parse_port(text: str, what: str = "port") -> int:
    """A port number 0-65535 written as 1 to 5 digits."""
    if not text or len(text) > 5 or not all_in(text, _DIGITS):
        raise SipParseError(f"bad {what} {show(text)}")
    port = int(text)
    if port > _MAX_PORT:
        raise SipParseError(f"{what} {port} out of range 0-{_MAX_PORT}")
    return port


def _host_key(host: str) -> object:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return host.lower().rstrip(".")


# ---------------------------------------------------------------------------------------------
# Parameters


class Params:
    """Ordered ``;name=value`` parameters, immutable; names match case-insensitively.

    A value of ``None`` is a parameter without ``=value`` (``;lr``). In URIs values are stored
    unescaped; in header fields they are stored as written (a quoted value keeps its quotes).
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str | None]] = ()) -> None:
        self._items: tuple[tuple[str, str | None], ...] = tuple(items)

    def __iter__(self) -> Iterator[tuple[str, str | None]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = name.lower()
        return any(n.lower() == key for n, _ in self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Params):
            return self._items == other._items
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        return f"Params({list(self._items)!r})"

    @property
    def items(self) -> tuple[tuple[str, str | None], ...]:
        return self._items

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of the first parameter called ``name``; ``None`` for a flag parameter."""
        key = name.lower()
        for n, v in self._items:
            if n.lower() == key:
                return v
        return default

    def set(self, name: str, value: str | None) -> Params:
        """A copy with ``name`` set to ``value``: replaces the first occurrence, or appends."""
        key = name.lower()
        out: list[tuple[str, str | None]] = []
        done = False
        for n, v in self._items:
            if n.lower() == key:
                if not done:
                    out.append((n, value))
                    done = True
                continue
            out.append((n, v))
        if not done:
            out.append((name, value))
        return Params(out)

    def remove(self, name: str) -> Params:
        """A copy without any parameter called ``name``."""
        key = name.lower()
        return Params((n, v) for n, v in self._items if n.lower() != key)

    def first_by_name(self) -> dict[str, str | None]:
        """Lower-cased name -> value of its first occurrence."""
        out: dict[str, str | None] = {}
        for n, v in self._items:
            out.setdefault(n.lower(), v)
        return out


NO_PARAMS: Final = Params()


def _format_uri_params(params: Params) -> str:
    return "".join(
        f";{escape(n, _PARAM_CHARS)}"
        if v is None
        else f";{escape(n, _PARAM_CHARS)}={escape(v, _PARAM_CHARS)}"
        for n, v in params
    )


def _parse_uri_params(text: str, what: str) -> Params:
    items: list[tuple[str, str | None]] = []
    for part in text.split(";"):
        name, eq, value = part.partition("=")
        if not name:
            raise SipParseError(f"{what} has an empty parameter")
        pname = unescape(name, _PARAM_CHARS, f"{what} parameter name")
        if not eq:
            items.append((pname, None))
            continue
        if not value:
            raise SipParseError(f"{what} parameter {show(pname)} has an empty value")
        items.append((pname, unescape(value, _PARAM_CHARS, f"{what} parameter {show(pname)}")))
    return Params(items)


# ---------------------------------------------------------------------------------------------
# URIs

# Parameters that make two SIP URIs differ when only one of them has it (RFC 3261 19.1.4).
_SIGNIFICANT_PARAMS: Final = frozenset({"user", "ttl", "method", "maddr", "transport"})


@dataclass(frozen=True, slots=True, kw_only=True)
class SipUri:
    """A ``sip:`` or ``sips:`` URI. ``host`` holds IPv6 addresses without brackets."""

    host: str
    user: str | None = None
    password: str | None = None
    port: int | None = None
    params: Params = NO_PARAMS
    headers: tuple[tuple[str, str], ...] = ()
    scheme: str = "sip"

    def __post_init__(self) -> None:
        if self.scheme not in ("sip", "sips"):
            raise ValueError(f"SIP URI scheme must be 'sip' or 'sips', not {show(self.scheme)}")
        try:
            check_host(self.host)
        except SipParseError as exc:
            raise ValueError(exc.reason) from None
        if self.port is not None and not 0 <= self.port <= _MAX_PORT:
            raise ValueError(f"port {self.port} out of range 0-{_MAX_PORT}")
        if self.user is not None:
            if not self.user:
                raise ValueError("user part is empty; use None for no user")
            check_text(self.user, "user part")
        if self.password is not None:
            if self.user is None:
                raise ValueError("a password needs a user")
            check_text(self.password, "password")
        for name, value in self.params:
            if not name or value == "":
                raise ValueError(f"URI parameter {show(name)}={show(value)} is empty")
            check_text(name, "URI parameter")
            if value is not None:
                check_text(value, "URI parameter")
        for name, value in self.headers:
            if not name:
                raise ValueError("URI header name is empty")
            check_text(name, "URI header")
            check_text(value, "URI header")

    @classmethod
    def parse(cls, text: str) -> SipUri:
        """Parse a ``sip:`` or ``sips:`` URI."""
        uri = parse_uri(text)
        if not isinstance(uri, SipUri):
            raise SipParseError(f"not a SIP URI: {show(text)}")
        return uri

    def __str__(self) -> str:
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(escape(self.user, _USER_CHARS))
            if self.password is not None:
                out += [":", escape(self.password, _PASSWORD_CHARS)]
            out.append("@")
        out.append(format_host(self.host))
        if self.port is not None:
            out.append(f":{self.port}")
        out.append(_format_uri_params(self.params))
        if self.headers:
            out.append("?")
            out.append(
                "&".join(
                    f"{escape(n, _HEADER_CHARS)}={escape(v, _HEADER_CHARS)}"
                    for n, v in self.headers
                )
            )
        return "".join(out)

    @property
    def transport(self) -> str | None:
        """The ``transport`` parameter, lower-cased, if present."""
        value = self.params.get("transport")
        return value.lower() if value else None

    @property
    def lr(self) -> bool:
        """True for a loose-routing URI (``;lr``)."""
        return "lr" in self.params

    def equivalent(self, other: Uri) -> bool:
        """URI comparison of RFC 3261 19.1.4 (not the same as ``==``)."""
        if not isinstance(other, SipUri) or self.scheme != other.scheme:
            return False
        if self.user != other.user or self.password != other.password:
            return False
        if _host_key(self.host) != _host_key(other.host) or self.port != other.port:
            return False
        mine = self.params.first_by_name()
        theirs = other.params.first_by_name()
        for name in mine.keys() | theirs.keys():
            if name in mine and name in theirs:
                a, b = mine[name], theirs[name]
                if (a is None) != (b is None) or (a or "").lower() != (b or "").lower():
                    return False
            elif name in _SIGNIFICANT_PARAMS:
                return False
        return sorted((n.lower(), v.lower()) for n, v in self.headers) == sorted(
            (n.lower(), v.lower()) for n, v in other.headers
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class TelUri:
    """A ``tel:`` URI (RFC 3966): a global (``+...``) or local number and parameters."""

    number: str
    params: Params = NO_PARAMS

    def __post_init__(self) -> None:
        _check_tel_number(self.number)
        for name, value in self.params:
            if not name or value == "":
                raise ValueError(f"tel URI parameter {show(name)}={show(value)} is empty")
            check_text(name, "tel URI parameter")
            if value is not None:
                check_text(value, "tel URI parameter")

    @classmethod
    def parse(cls, text: str) -> TelUri:
        """Parse a ``tel:`` URI."""
        uri = parse_uri(text)
        if not isinstance(uri, TelUri):
            raise SipParseError(f"not a tel URI: {show(text)}")
        return uri

    def __str__(self) -> str:
        return f"tel:{self.number}{_format_uri_params(self.params)}"

    @property
    def is_global(self) -> bool:
        return self.number.startswith("+")

    @property
    def digits(self) -> str:
        """The number without visual separators."""
        return "".join(c for c in self.number if c not in _TEL_SEPARATORS)

    def equivalent(self, other: Uri) -> bool:
        """RFC 3966 section 4: separators ignored, case-insensitive, parameters in any order."""
        if not isinstance(other, TelUri) or self.digits.lower() != other.digits.lower():
            return False

        def key(params: Params) -> list[tuple[str, str]]:
            return sorted((n.lower(), (v or "").lower()) for n, v in params)

        return key(self.params) == key(other.params)


def _check_tel_number(number: str) -> None:
    if number.startswith("+"):
        body, allowed = number[1:], _TEL_GLOBAL_CHARS
        digits = string.digits
    else:
        body, allowed = number, _TEL_LOCAL_CHARS
        digits = string.hexdigits + "*#"
    if not body or not all_in(body, allowed) or not any(c in digits for c in body):
        raise ValueError(f"bad telephone number {show(number)}")


@dataclass(frozen=True, slots=True, kw_only=True)
class AbsoluteUri:
    """A URI of any other scheme (``http:``, ``mailto:``, ``urn:``...), kept opaque."""

    scheme: str
    opaque: str

    def __post_init__(self) -> None:
        if (
            not self.scheme
            or self.scheme[0] not in string.ascii_letters
            or not all_in(self.scheme, _SCHEME_CHARS)
        ):
            raise ValueError(f"bad URI scheme {show(self.scheme)}")
        if self.scheme != self.scheme.lower():
            raise ValueError(f"URI scheme must be lower case: {show(self.scheme)}")
        if not self.opaque or not all_in(self.opaque, _OPAQUE_CHARS):
            raise ValueError(f"bad {self.scheme}: URI content {show(self.opaque)}")

    def __str__(self) -> str:
        return f"{self.scheme}:{self.opaque}"

    def equivalent(self, other: Uri) -> bool:
        return isinstance(other, AbsoluteUri) and str(self) == str(other)


Uri = SipUri | TelUri | AbsoluteUri

# ---------------------------------------------------------------------------------------------
# Common shapes. Most URIs on the wire are plain ``sip:user@host:port;params``. These patterns
# match a subset of what the full parser accepts (no %-escapes, no IPv6, no URI headers, no
# upper-case scheme), and anything they match the full parser accepts with the same result, so
# a match can skip it; anything else goes through the full parser.

_OCTET: Final = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# A hostname label: runs of letters, digits and '_' joined by '-' (no '-' at either end).
_LABEL: Final = r"[A-Za-z0-9_]+(?:-+[A-Za-z0-9_]+)*"
#: An IPv4 address as :mod:`ipaddress` accepts it (no leading zeros).
IPV4_SHAPE: Final = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
#: A hostname or IPv4 address that :func:`check_host` accepts. The lookahead keeps out names
#: made only of digits and dots, which must be IPv4 addresses.
HOST_SHAPE: Final = rf"(?:{IPV4_SHAPE}|(?=[0-9.]*[A-Za-z_\-]){_LABEL}(?:\.{_LABEL})*)"
#: A port that :func:`parse_port` accepts: 1 to 5 digits, at most 65535.
PORT_SHAPE: Final = r"(?:[0-5]?[0-9]{1,4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_USER: Final = char_class(_USER_INPUT_CHARS)
_PASSWORD: Final = char_class(_PASSWORD_CHARS)
_PARAM: Final = char_class(_PARAM_CHARS)
#: A SIP URI without headers, in the form written inside ``<...>``.
SIP_URI_SHAPE: Final = (
    rf"sips?:(?:{_USER}+(?::{_PASSWORD}*)?@)?{HOST_SHAPE}(?::{PORT_SHAPE})?"
    rf"(?:;{_PARAM}+(?:={_PARAM}+)?)*"
)
#: A SIP URI in addr-spec form (no ``<>``): it ends at the first ';' and has no ',' or '?'.
SIP_ADDR_SPEC_SHAPE: Final = (
    rf"sips?:(?:{char_class(_USER_INPUT_CHARS - frozenset(';?,'))}+"
    rf"(?::{char_class(_PASSWORD_CHARS - frozenset(','))}*)?@)?{HOST_SHAPE}(?::{PORT_SHAPE})?"
)
_COMMON_SIP_URI: Final = re.compile(
    rf"(sips?):(?:({_USER}+)(?::({_PASSWORD}*))?@)?({HOST_SHAPE})(?::({PORT_SHAPE}))?"
    rf"((?:;{_PARAM}+(?:={_PARAM}+)?)*)"
)


def common_sip_uri(text: str) -> SipUri | None:
    """The URI if ``text`` has the common shape, built without re-validating its parts."""
    match = _COMMON_SIP_URI.fullmatch(text)
    if match is None:
        return None
    scheme, user, password, host, port, raw_params = match.groups()
    params = NO_PARAMS
    if raw_params:
        items: list[tuple[str, str | None]] = []
        for part in raw_params[1:].split(";"):
            name, eq, value = part.partition("=")
            items.append((name, value if eq else None))
        params = Params(items)
    uri = object.__new__(SipUri)
    # The shape guarantees what __post_init__ would check; set the frozen fields directly.
    setattr_ = object.__setattr__
    setattr_(uri, "host", host)
    setattr_(uri, "user", user)
    setattr_(uri, "password", password)
    setattr_(uri, "port", None if port is None else int(port))
    setattr_(uri, "params", params)
    setattr_(uri, "headers", ())
    setattr_(uri, "scheme", scheme)
    return uri


def parse_uri(text: str) -> Uri:
    """Parse a URI as it appears in a Request-URI or inside ``<...>``."""
    common = common_sip_uri(text)
    return common if common is not None else _parse_uri_full(text)


def _parse_uri_full(text: str) -> Uri:
    """parse_uri by the full parser alone (for any shape)."""
    scheme, colon, rest = text.partition(":")
    if not colon or not scheme:
        raise SipParseError(f"URI {show(text)} has no scheme")
    if scheme[0] not in string.ascii_letters or not all_in(scheme, _SCHEME_CHARS):
        raise SipParseError(f"URI {show(text)} has a bad scheme")
    scheme = scheme.lower()
    if scheme in ("sip", "sips"):
        return _parse_sip_uri(scheme, rest)
    if scheme == "tel":
        return _parse_tel_uri(rest)
    if not rest:
        raise SipParseError(f"{scheme}: URI is empty")
    for c in rest:
        if c not in _OPAQUE_CHARS:
            raise SipParseError(f"{scheme}: URI contains {show(c)}")
    return AbsoluteUri(scheme=scheme, opaque=rest)


def _parse_sip_uri(scheme: str, rest: str) -> SipUri:
    what = f"{scheme}: URI"
    user: str | None = None
    password: str | None = None
    # The user part may contain ';', '?' and '/', so the first '@' ends it.
    userinfo, at, hostpart = rest.partition("@")
    if not at:
        userinfo, hostpart = "", rest
    else:
        raw_user, colon, raw_password = userinfo.partition(":")
        if not raw_user:
            raise SipParseError(f"{what} has an empty user part")
        user = unescape(raw_user, _USER_INPUT_CHARS, f"{what} user part")
        if colon:
            password = unescape(raw_password, _PASSWORD_CHARS, f"{what} password")
    hostport, qmark, raw_headers = hostpart.partition("?")
    hostport, semi, raw_params = hostport.partition(";")
    if hostport.startswith("["):
        close = hostport.find("]")
        if close < 0:
            raise SipParseError(f"{what} host {show(hostport)} has no closing ']'")
        host_text, after = hostport[: close + 1], hostport[close + 1 :]
        if after and not after.startswith(":"):
            raise SipParseError(f"{what} has text after the IPv6 address: {show(after)}")
        has_port, port_text = bool(after), after[1:]
    else:
        host_text, colon, port_text = hostport.partition(":")
        has_port = bool(colon)
    if not host_text:
        raise SipParseError(f"{what} has no host")
    host = parse_host(host_text, f"{what} host")
    port = parse_port(port_text, f"{what} port") if has_port else None
    params = _parse_uri_params(raw_params, what) if semi else NO_PARAMS
    headers: list[tuple[str, str]] = []
    if qmark:
        for part in raw_headers.split("&"):
            name, eq, value = part.partition("=")
            if not name or not eq:
                raise SipParseError(f"{what} has a bad header component {show(part)}")
            headers.append(
                (
                    unescape(name, _HEADER_CHARS, f"{what} header name"),
                    unescape(value, _HEADER_CHARS, f"{what} header {show(name)}"),
                )
            )
    try:
        return SipUri(
            scheme=scheme,
            user=user,
            password=password,
            host=host,
            port=port,
            params=params,
            headers=tuple(headers),
        )
    except ValueError as exc:
        raise SipParseError(f"{what}: {exc}") from None


def _parse_tel_uri(rest: str) -> TelUri:
    number, semi, raw_params = rest.partition(";")
    params = _parse_uri_params(raw_params, "tel: URI") if semi else NO_PARAMS
    try:
        return TelUri(number=number, params=params)
    except ValueError as exc:
        raise SipParseError(f"tel: URI: {exc}") from None
