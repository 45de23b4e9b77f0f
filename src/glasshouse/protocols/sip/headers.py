"""SIP header fields: the ordered multi-valued collection, and typed values of the fields the
stack reads (RFC 3261 section 20; Refer-To RFC 3515, Replaces RFC 3891, Referred-By RFC 3892,
Event and Subscription-State RFC 6665).

Every typed value is a frozen dataclass with ``parse(text)`` and ``str()``, and
``X.parse(str(x)) == x``. Header parameters keep their values as written (a quoted value keeps
its quotes; :func:`unquote` removes them).
"""

from __future__ import annotations

import dataclasses
import re
import string
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal, TypeVar

from glasshouse.protocols.sip.uri import (
    ALPHANUM,
    HOST_SHAPE,
    IPV4_SHAPE,
    NO_PARAMS,
    PORT_SHAPE,
    SIP_ADDR_SPEC_SHAPE,
    SIP_URI_SHAPE,
    TOKEN_CHARS,
    Params,
    SipParseError,
    Uri,
    _parse_uri_full,
    all_in,
    char_class,
    check_host,
    check_text,
    common_sip_uri,
    format_host,
    is_token,
    parse_host,
    parse_port,
    show,
    span_pattern,
)

_T = TypeVar("_T")

# ---------------------------------------------------------------------------------------------
# Names

#: Header names the stack knows, in their usual spelling.
KNOWN_NAMES: Final = (
    "Accept",
    "Accept-Contact",
    "Accept-Encoding",
    "Accept-Language",
    "Accept-Resource-Priority",
    "Alert-Info",
    "Allow",
    "Allow-Events",
    "Authentication-Info",
    "Authorization",
    "Call-ID",
    "Call-Info",
    "Contact",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Content-Length",
    "Content-Type",
    "CSeq",
    "Date",
    "Error-Info",
    "Event",
    "Expires",
    "From",
    "History-Info",
    "Identity",
    "Identity-Info",
    "In-Reply-To",
    "Join",
    "Max-Forwards",
    "MIME-Version",
    "Min-Expires",
    "Min-SE",
    "Organization",
    "P-Asserted-Identity",
    "P-Preferred-Identity",
    "Path",
    "Priority",
    "Privacy",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Require",
    "RAck",
    "Reason",
    "Record-Route",
    "Refer-Sub",
    "Refer-To",
    "Referred-By",
    "Reject-Contact",
    "Replaces",
    "Reply-To",
    "Request-Disposition",
    "Require",
    "Resource-Priority",
    "Retry-After",
    "Route",
    "RSeq",
    "Security-Client",
    "Security-Server",
    "Security-Verify",
    "Server",
    "Service-Route",
    "Session-Expires",
    "SIP-ETag",
    "SIP-If-Match",
    "Subject",
    "Subscription-State",
    "Supported",
    "Target-Dialog",
    "Timestamp",
    "To",
    "Unsupported",
    "User-Agent",
    "Via",
    "Warning",
    "WWW-Authenticate",
)
_CANONICAL: Final = {name.lower(): name for name in KNOWN_NAMES}
_KNOWN: Final = frozenset(KNOWN_NAMES)

COMPACT_FORMS: Final = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}

# Fields whose grammar is a comma-separated list: "Via: a, b" is two values. Authorization and
# the other credentials/challenges, and Date, contain commas but are single values.
LIST_HEADERS: Final = frozenset(
    name.lower()
    for name in (
        "Accept",
        "Accept-Contact",
        "Accept-Encoding",
        "Accept-Language",
        "Accept-Resource-Priority",
        "Alert-Info",
        "Allow",
        "Allow-Events",
        "Call-Info",
        "Contact",
        "Content-Encoding",
        "Content-Language",
        "Error-Info",
        "History-Info",
        "In-Reply-To",
        "P-Asserted-Identity",
        "P-Preferred-Identity",
        "Path",
        "Proxy-Require",
        "Reason",
        "Record-Route",
        "Reject-Contact",
        "Request-Disposition",
        "Require",
        "Resource-Priority",
        "Route",
        "Security-Client",
        "Security-Server",
        "Security-Verify",
        "Service-Route",
        "Supported",
        "Unsupported",
        "Via",
        "Warning",
    )
)


def canonical_name(name: str) -> str:
    """The long form of a header name in its usual spelling (``v`` and ``VIA`` -> ``Via``).

    Unknown names come back as given.
    """
    known = _CANONICAL_OF.get(name)
    if known is not None:
        return known
    key = name.lower()
    result = COMPACT_FORMS.get(key) or _CANONICAL.get(key, name)
    if result is not name:  # a known header: the set of spellings worth keeping is small
        if len(_CANONICAL_OF) >= 1024:
            _CANONICAL_OF.clear()
        _CANONICAL_OF[name] = result
    return result


_CANONICAL_OF: dict[str, str] = {}


def split_list(value: str) -> list[str]:
    """Split a list-valued field on commas outside quoted strings and ``<...>``."""
    if "," not in value:
        return [value.strip(" \t")]
    if '"' not in value and "<" not in value:
        # Nothing can hide a comma: every comma separates two items.
        return [item.strip(" \t") for item in value.split(",")]
    items: list[str] = []
    start = 0
    quoted = False
    bracketed = False
    i = 0
    n = len(value)
    while i < n:
        c = value[i]
        if quoted:
            if c == "\\":
                i += 2
                continue
            if c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c == "<":
            bracketed = True
        elif c == ">":
            bracketed = False
        elif c == "," and not bracketed:
            items.append(value[start:i].strip(" \t"))
            start = i + 1
        i += 1
    items.append(value[start:].strip(" \t"))
    return items


# ---------------------------------------------------------------------------------------------
# The collection


class Headers:
    """Ordered header fields. Names are case-insensitive and stored in long canonical form;
    a list-valued field holds one entry per value; values have no surrounding whitespace.

    Content-Length is not kept here: ``bytes(message)`` writes it from the body.
    """

    __slots__ = ("_fields",)

    def __init__(self, fields: Iterable[tuple[str, str]] = ()) -> None:
        self._fields: list[tuple[str, str]] = []
        for name, value in fields:
            self.add(name, value)

    @classmethod
    def _trusted(cls, fields: list[tuple[str, str]]) -> Headers:
        """Wrap fields that are already normalised (the parser's output): a known name in its
        canonical spelling, which is how get() and get_all() look for it."""
        headers = cls()
        headers._fields = fields
        return headers

    @staticmethod
    def _normalise(name: str, value: str) -> list[tuple[str, str]]:
        if not is_token(name):
            raise ValueError(f"bad header name {show(name)}")
        canonical = canonical_name(name)
        if canonical == "Content-Length":
            raise ValueError("Content-Length is written from the body, not set as a header")
        check_text(value, f"{canonical} header")
        value = value.strip(" \t")
        if canonical.lower() in LIST_HEADERS:
            return [(canonical, item) for item in split_list(value)]
        return [(canonical, value)]

    def add(self, name: str, value: str) -> None:
        """Append a field (several, for a comma-separated value of a list-valued field)."""
        self._fields.extend(self._normalise(name, value))

    def prepend(self, name: str, value: str) -> None:
        """Insert before the first field of that name (at the top if there is none): how a
        proxy adds its Via or a Record-Route."""
        new = self._normalise(name, value)
        key = new[0][0].lower()
        index = next((i for i, (n, _) in enumerate(self._fields) if n.lower() == key), 0)
        self._fields[index:index] = new

    def set(self, name: str, value: str) -> None:
        """Replace every field of that name with this value, where the first one was."""
        new = self._normalise(name, value)
        key = new[0][0].lower()
        index = next(
            (i for i, (n, _) in enumerate(self._fields) if n.lower() == key), len(self._fields)
        )
        self.remove(name)
        self._fields[index:index] = new

    def remove(self, name: str) -> int:
        """Remove every field of that name; returns how many there were."""
        key = canonical_name(name).lower()
        before = len(self._fields)
        self._fields = [(n, v) for n, v in self._fields if n.lower() != key]
        return before - len(self._fields)

    def pop_first(self, name: str) -> str:
        """Remove and return the first value of that name (a proxy's top Via); KeyError if none."""
        key = canonical_name(name).lower()
        for i, (n, v) in enumerate(self._fields):
            if n.lower() == key:
                del self._fields[i]
                return v
        raise KeyError(name)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of that name, or ``default``."""
        canonical = canonical_name(name)
        if canonical in _KNOWN:  # stored in exactly this spelling
            for n, v in self._fields:
                if n == canonical:
                    return v
            return default
        key = canonical.lower()
        for n, v in self._fields:
            if n.lower() == key:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of that name, in order."""
        canonical = canonical_name(name)
        if canonical in _KNOWN:  # stored in exactly this spelling
            return [v for n, v in self._fields if n == canonical]
        key = canonical.lower()
        return [v for n, v in self._fields if n.lower() == key]

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._fields))

    def __len__(self) -> int:
        return len(self._fields)

    def items(self) -> list[tuple[str, str]]:
        return list(self._fields)

    def copy(self) -> Headers:
        return Headers._trusted(list(self._fields))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return len(self._fields) == len(other._fields) and all(
            a.lower() == b.lower() and va == vb
            for (a, va), (b, vb) in zip(self._fields, other._fields, strict=True)
        )

    def __repr__(self) -> str:
        return f"Headers({self._fields!r})"


# ---------------------------------------------------------------------------------------------
# Scanning header values (folded lines are already joined with single spaces)

_WS: Final = " \t"
_DIGITS: Final = frozenset(string.digits)
_HOST_CHARS: Final = ALPHANUM | frozenset("-._")
# gen-value = token / host / quoted-string; a host may be an IPv6 reference.
_VALUE_CHARS: Final = TOKEN_CHARS | frozenset(":[]")
_WORD_CHARS: Final = TOKEN_CHARS | frozenset('()<>:\\"/[]?{}')
_MAX_DELTA: Final = 2**32 - 1


class _Cursor:
    __slots__ = ("pos", "text", "what")

    def __init__(self, text: str, what: str) -> None:
        self.text = text
        self.what = what
        self.pos = 0

    def fail(self, detail: str) -> SipParseError:
        return SipParseError(f"bad {self.what}: {detail}")

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_ws(self) -> bool:
        start = self.pos
        text = self.text
        while self.pos < len(text) and text[self.pos] in " \t":
            self.pos += 1
        return self.pos > start

    def run(self, chars: frozenset[str]) -> str:
        start = self.pos
        match = span_pattern(chars).match(self.text, start)
        assert match is not None  # a '*' pattern always matches
        self.pos = match.end()
        return self.text[start : self.pos]

    def token(self, item: str) -> str:
        value = self.run(TOKEN_CHARS)
        if not value:
            found = repr(self.peek()) if not self.at_end() else "the end"
            raise self.fail(f"expected {item}, found {found}")
        return value

    def expect(self, char: str) -> None:
        if self.peek() != char:
            found = repr(self.peek()) if not self.at_end() else "the end"
            raise self.fail(f"expected {show(char)}, found {found}")
        self.pos += 1

    def raw_quoted(self) -> str:
        """A quoted string including its quotes, as written."""
        start = self.pos
        self.expect('"')
        text = self.text
        while self.pos < len(text):
            c = text[self.pos]
            if c == "\\":
                if self.pos + 1 >= len(text):
                    break
                self.pos += 2
                continue
            self.pos += 1
            if c == '"':
                return text[start : self.pos]
        raise self.fail("unterminated quoted string")

    def quoted(self) -> str:
        """A quoted string, unescaped."""
        return unquote(self.raw_quoted())

    def end(self) -> None:
        self.skip_ws()
        if not self.at_end():
            raise self.fail(f"unexpected {show(self.text[self.pos :])}")

    def params(self) -> Params:
        """``*( SEMI generic-param )`` up to the end of the value."""
        items: list[tuple[str, str | None]] = []
        while True:
            self.skip_ws()
            if self.at_end():
                return Params(items)
            if self.peek() != ";":
                raise self.fail(f"expected ';', found {show(self.peek())}")
            self.pos += 1
            self.skip_ws()
            name = self.run(TOKEN_CHARS)
            if not name:
                raise self.fail("empty parameter")
            self.skip_ws()
            if self.peek() != "=":
                items.append((name, None))
                continue
            self.pos += 1
            self.skip_ws()
            if self.peek() == '"':
                items.append((name, self.raw_quoted()))
                continue
            value = self.run(_VALUE_CHARS)
            if not value:
                raise self.fail(f"parameter {show(name)} has no value")
            items.append((name, value))


def _construct(cur: _Cursor, make: Callable[[], _T]) -> _T:
    """Build a parsed value; a constructor's ValueError becomes this header's SipParseError."""
    try:
        return make()
    except SipParseError:
        raise
    except ValueError as exc:
        raise cur.fail(str(exc)) from None


def _trusted(cls: type[_T], **fields: object) -> _T:
    """An instance of a frozen dataclass built from parts a shape pattern has already checked
    (so its __post_init__ would find nothing wrong)."""
    value = object.__new__(cls)
    for name, field_value in fields.items():
        object.__setattr__(value, name, field_value)
    return value


def quote(text: str) -> str:
    """``text`` as a quoted string: quotes, backslashes and control characters escaped."""
    out = ['"']
    for c in text:
        if c in '"\\' or (c < " " and c != "\t") or c == "\x7f":
            out.append("\\")
        out.append(c)
    out.append('"')
    return "".join(out)


def unquote(value: str) -> str:
    """The content of a quoted string (escapes removed); other text is returned as is."""
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return value
    inner = value[1:-1]
    if "\\" not in inner:
        return inner
    out: list[str] = []
    i = 0
    while i < len(inner):
        c = inner[i]
        if c == "\\" and i + 1 < len(inner):
            out.append(inner[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _is_quoted_string(value: str) -> bool:
    cursor = _Cursor(value, "quoted string")
    try:
        cursor.raw_quoted()
    except SipParseError:
        return False
    return cursor.at_end()


def _check_header_params(params: Params, what: str) -> None:
    for name, value in params:
        if not is_token(name):
            raise ValueError(f"{what} parameter name {show(name)} is not a token")
        if value is None:
            continue
        if value.startswith('"'):
            check_text(value, f"{what} parameter {show(name)}")
            if not _is_quoted_string(value):
                raise ValueError(
                    f"{what} parameter {show(name)} has a bad quoted value {show(value)}"
                )
        elif not value or not all_in(value, _VALUE_CHARS):
            raise ValueError(
                f"{what} parameter {show(name)} value {show(value)} "
                "must be a token or a quoted string"
            )


def _format_params(params: Params) -> str:
    return "".join(f";{n}" if v is None else f";{n}={v}" for n, v in params)


def _uint(text: str, what: str, maximum: int) -> int:
    if not text or not all_in(text, _DIGITS):
        raise SipParseError(f"bad {what}: {show(text)} is not a number")
    # Length first: int() of a huge digit string is slow and raises ValueError past 4300 digits.
    significant = text.lstrip("0")
    if len(significant) > len(str(maximum)) or int(significant or "0") > maximum:
        raise SipParseError(f"bad {what}: {text} exceeds {maximum}")
    return int(significant or "0")


# ---------------------------------------------------------------------------------------------
# Simple values


def parse_token(text: str, what: str = "token") -> str:
    """One token (a method in Allow, an option tag in Supported/Require...)."""
    value = text.strip(_WS)
    if not is_token(value):
        raise SipParseError(f"bad {what}: {show(value)} is not a token")
    return value


def parse_call_id(text: str, what: str = "Call-ID header") -> str:
    """``word [ "@" word ]``."""
    value = text.strip(_WS)
    words = value.split("@")
    if len(words) > 2 or not all(w and all_in(w, _WORD_CHARS) for w in words):
        raise SipParseError(f"bad {what}: {show(value)} is not word[@word]")
    return value


def parse_delta_seconds(text: str, what: str = "Expires header") -> int:
    """Seconds 0 to 2**32-1."""
    return _uint(text.strip(_WS), what, _MAX_DELTA)


def parse_max_forwards(text: str, what: str = "Max-Forwards header") -> int:
    """Hops 0 to 255."""
    return _uint(text.strip(_WS), what, 255)


_QVALUE: Final = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")


def parse_qvalue(text: str, what: str = "q parameter") -> float:
    """A q-value: 0 to 1 with at most three decimals."""
    if not _QVALUE.fullmatch(text):
        raise SipParseError(f"bad {what}: {show(text)} is not a q-value")
    return float(text)


_DATE: Final = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([0-9]{4}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) GMT"
)
_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
_WEEKDAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def parse_date(text: str, what: str = "Date header") -> datetime:
    """An RFC 1123 date in GMT (``Sat, 13 Nov 2010 23:29:00 GMT``), as an aware UTC datetime."""
    match = _DATE.fullmatch(text.strip(_WS))
    if match is None:
        raise SipParseError(f"bad {what}: {show(text.strip(_WS))} is not an RFC 1123 date in GMT")
    _, day, month, year, hour, minute, second = match.groups()
    try:
        return datetime(
            int(year),
            _MONTHS.index(month) + 1,
            int(day),
            int(hour),
            int(minute),
            int(second),
            tzinfo=UTC,
        )
    except ValueError as exc:
        raise SipParseError(f"bad {what}: {exc}") from None


def format_date(when: datetime) -> str:
    """The Date header value for an aware datetime."""
    if when.tzinfo is None:
        raise ValueError("format_date needs an aware datetime")
    utc = when.astimezone(UTC)
    return (
        f"{_WEEKDAYS[utc.weekday()]}, {utc.day:02d} {_MONTHS[utc.month - 1]} {utc.year:04d} "
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d} GMT"
    )


# ---------------------------------------------------------------------------------------------
# Via


@dataclass(frozen=True, slots=True, kw_only=True)
class Via:
    """One Via value: ``SIP/2.0/UDP host:port;branch=...``. IPv6 hosts are stored bare."""

    transport: str
    host: str
    port: int | None = None
    params: Params = NO_PARAMS
    protocol: str = "SIP/2.0"

    def __post_init__(self) -> None:
        name, slash, version = self.protocol.partition("/")
        if not (slash and is_token(name) and is_token(version)):
            raise ValueError(f"bad Via protocol {show(self.protocol)}")
        if not is_token(self.transport):
            raise ValueError(f"bad Via transport {show(self.transport)}")
        try:
            check_host(self.host, "Via host")
        except SipParseError as exc:
            raise ValueError(exc.reason) from None
        if self.port is not None and not 0 <= self.port <= 65535:
            raise ValueError(f"Via port {self.port} out of range")
        _check_header_params(self.params, "Via")
        try:
            _check_via_params(self.params)
        except SipParseError as exc:
            raise ValueError(exc.reason) from None

    @classmethod
    def parse(cls, text: str, *, what: str = "Via header") -> Via:
        match = VIA_SHAPE.fullmatch(text)
        if match is None:
            return cls._parse_full(text, what=what)
        transport, host, port, params = match.groups()
        return _trusted(
            cls,
            protocol=_SIP_2_0,
            transport=transport,
            host=host,
            port=None if port is None else int(port),
            params=_shape_params(params),
        )

    @classmethod
    def _parse_full(cls, text: str, *, what: str = "Via header") -> Via:
        """Via.parse by the full parser alone (for any shape)."""
        cur = _Cursor(text, what)
        cur.skip_ws()
        name = cur.token("protocol name")
        cur.skip_ws()
        cur.expect("/")
        cur.skip_ws()
        version = cur.token("protocol version")
        cur.skip_ws()
        cur.expect("/")
        cur.skip_ws()
        transport = cur.token("transport")
        if not cur.skip_ws():
            raise cur.fail("expected whitespace before the sent-by host")
        if cur.peek() == "[":
            close = text.find("]", cur.pos)
            if close < 0:
                raise cur.fail("IPv6 host has no closing ']'")
            raw_host = text[cur.pos : close + 1]
            cur.pos = close + 1
        else:
            raw_host = cur.run(_HOST_CHARS)
        try:
            host = parse_host(raw_host, "sent-by host")
        except SipParseError as exc:
            raise cur.fail(exc.reason) from None
        cur.skip_ws()
        port: int | None = None
        if cur.peek() == ":":
            cur.pos += 1
            cur.skip_ws()
            try:
                port = parse_port(cur.run(_DIGITS), "sent-by port")
            except SipParseError as exc:
                raise cur.fail(exc.reason) from None
        params = cur.params()
        try:
            _check_via_params(params)
        except SipParseError as exc:
            raise cur.fail(exc.reason) from None
        return _construct(
            cur,
            lambda: cls(
                protocol=f"{name}/{version}",
                transport=transport,
                host=host,
                port=port,
                params=params,
            ),
        )

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return (
            f"{self.protocol}/{self.transport} {format_host(self.host)}{port}"
            f"{_format_params(self.params)}"
        )

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @property
    def rport(self) -> int | None:
        """The ``rport`` value a server filled in; ``"rport" in via.params`` for the request."""
        value = self.params.get("rport")
        return int(value) if value else None

    @property
    def maddr(self) -> str | None:
        return self.params.get("maddr")

    @property
    def ttl(self) -> int | None:
        value = self.params.get("ttl")
        return int(value) if value else None

    def with_param(self, name: str, value: str | None) -> Via:
        """A copy with one parameter set (``received``, ``rport`` on the way in)."""
        return dataclasses.replace(self, params=self.params.set(name, value))


def _check_via_params(params: Params) -> None:
    for name, value in params:
        key = name.lower()
        if key == "ttl":
            _uint(value or "", "ttl", 255)
        elif key == "maddr":
            parse_host(value or "", "maddr")
        elif key == "received":
            host = parse_host(value or "", "received")
            if not (":" in host or all(all_in(p, _DIGITS) for p in host.split("."))):
                raise SipParseError(f"received {show(host)} is not an IP address")
        elif key == "rport":
            if value is not None:
                parse_port(value, "rport")
        elif key == "branch" and value is None:
            raise SipParseError("branch has no value")


# ---------------------------------------------------------------------------------------------
# name-addr / addr-spec: From, To, Contact, Route, Record-Route, Refer-To, Referred-By...


@dataclass(frozen=True, slots=True, kw_only=True)
class NameAddr:
    """``"Display" <uri>;params``. ``display_name`` is unquoted; ``None`` when absent."""

    uri: Uri
    display_name: str | None = None
    params: Params = NO_PARAMS

    def __post_init__(self) -> None:
        if self.display_name is not None:
            check_text(self.display_name, "display name")
        _check_header_params(self.params, "name-addr")

    @classmethod
    def parse(cls, text: str, *, what: str = "name-addr", brackets: bool = False) -> NameAddr:
        """Parse name-addr or addr-spec form; ``brackets=True`` requires ``<...>`` (Route)."""
        match = (ROUTE_SHAPE if brackets else NAME_ADDR_SHAPE).fullmatch(text)
        if match is not None:
            groups = match.groups()
            quoted, tokens, raw_uri, params = groups[:4]
            if raw_uri is None:  # the addr-spec alternative
                raw_uri, params = groups[4:6]
            uri = common_sip_uri(raw_uri)
            if uri is not None:
                if quoted is not None:
                    display: str | None = unquote(quoted)
                else:
                    display = None if tokens is None else " ".join(tokens.split())
                return _trusted(cls, uri=uri, display_name=display, params=_shape_params(params))
        return cls._parse_full(text, what=what, brackets=brackets)

    @classmethod
    def _parse_full(cls, text: str, *, what: str = "name-addr", brackets: bool = False) -> NameAddr:
        """NameAddr.parse by the full parser alone (for any shape)."""
        cur = _Cursor(text, what)
        cur.skip_ws()
        display: str | None = None
        if cur.peek() == '"':
            display = cur.quoted()
            cur.skip_ws()
            if cur.peek() != "<":
                raise cur.fail("expected '<' after the display name")
            uri = _angle_uri(cur)
        elif (lt := text.find("<", cur.pos)) >= 0:
            words = [w for w in re.split("[ \t]+", text[cur.pos : lt]) if w]
            for word in words:
                if not is_token(word):
                    raise cur.fail(
                        f"display name {show(text[cur.pos : lt].strip())} must be quoted"
                    )
            display = " ".join(words) if words else None
            cur.pos = lt
            uri = _angle_uri(cur)
        else:
            if brackets:
                raise cur.fail("the URI must be enclosed in <>")
            start = cur.pos
            while not cur.at_end() and cur.peek() not in "; \t":
                cur.pos += 1
            raw = text[start : cur.pos]
            if not raw:
                raise cur.fail("no URI")
            if "?" in raw or "," in raw:
                raise cur.fail("a URI with ',', ';' or '?' must be enclosed in <>")
            uri = _uri(raw, cur)
        params = cur.params()
        return _construct(cur, lambda: cls(uri=uri, display_name=display, params=params))

    def __str__(self) -> str:
        display = f"{quote(self.display_name)} " if self.display_name is not None else ""
        return f"{display}<{self.uri}>{_format_params(self.params)}"

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def with_tag(self, tag: str) -> NameAddr:
        """A copy with the ``tag`` parameter set."""
        if not is_token(tag):
            raise ValueError(f"tag {show(tag)} is not a token")
        return dataclasses.replace(self, params=self.params.set("tag", tag))

    @property
    def expires(self) -> int | None:
        """The Contact ``expires`` parameter."""
        value = self.params.get("expires")
        return parse_delta_seconds(value, "expires parameter") if value is not None else None

    @property
    def q(self) -> float | None:
        """The Contact ``q`` parameter."""
        value = self.params.get("q")
        return parse_qvalue(value) if value is not None else None


def _uri(raw: str, cur: _Cursor) -> Uri:
    try:
        return _parse_uri_full(raw)
    except SipParseError as exc:
        raise cur.fail(exc.reason) from None


def _angle_uri(cur: _Cursor) -> Uri:
    cur.expect("<")
    close = cur.text.find(">", cur.pos)
    if close < 0:
        raise cur.fail("no closing '>'")
    raw = cur.text[cur.pos : close]
    if raw != raw.strip(_WS):
        raise cur.fail("whitespace inside <>")
    uri = _uri(raw, cur)
    cur.pos = close + 1
    return uri


Wildcard = Literal["*"]
WILDCARD: Final[Wildcard] = "*"


def parse_contact(text: str, what: str = "Contact header") -> NameAddr | Wildcard:
    """One Contact value: a name-addr with valid ``expires``/``q``, or the wildcard ``*``."""
    return _parse_contact(text, what, NameAddr.parse)


def _parse_contact_full(text: str, what: str = "Contact header") -> NameAddr | Wildcard:
    """parse_contact by the full parser alone (for any shape)."""
    return _parse_contact(text, what, NameAddr._parse_full)


def _parse_contact(text: str, what: str, parse: Callable[..., NameAddr]) -> NameAddr | Wildcard:
    if text.strip(_WS) == "*":
        return WILDCARD
    contact = parse(text, what=what)
    try:
        _ = contact.expires, contact.q
    except SipParseError as exc:
        raise SipParseError(f"bad {what}: {exc.reason}") from None
    return contact


# ---------------------------------------------------------------------------------------------
# CSeq, Content-Type, Warning


@dataclass(frozen=True, slots=True)
class CSeq:
    """``CSeq: 314159 INVITE``; the number is below 2**31."""

    number: int
    method: str

    def __post_init__(self) -> None:
        if not 0 <= self.number < 2**31:
            raise ValueError(f"CSeq number {self.number} out of range 0 to 2**31-1")
        if not is_token(self.method):
            raise ValueError(f"CSeq method {show(self.method)} is not a token")

    @classmethod
    def parse(cls, text: str, *, what: str = "CSeq header") -> CSeq:
        match = CSEQ_SHAPE.fullmatch(text)
        if match is not None and int(match[1]) < 2**31:
            return cls(int(match[1]), match[2])
        return cls._parse_full(text, what=what)

    @classmethod
    def _parse_full(cls, text: str, *, what: str = "CSeq header") -> CSeq:
        """CSeq.parse by the full parser alone (for any shape)."""
        cur = _Cursor(text, what)
        cur.skip_ws()
        digits = cur.run(_DIGITS)
        if not digits:
            raise cur.fail("expected a sequence number")
        number = _uint(digits, what, 2**31 - 1)
        if not cur.skip_ws():
            raise cur.fail("expected whitespace after the sequence number")
        method = cur.token("method")
        cur.end()
        return _construct(cur, lambda: cls(number, method))

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaType:
    """``Content-Type: application/sdp;charset=utf-8``."""

    main_type: str
    subtype: str
    params: Params = NO_PARAMS

    def __post_init__(self) -> None:
        if not (is_token(self.main_type) and is_token(self.subtype)):
            raise ValueError(f"bad media type {show(self.main_type)}/{show(self.subtype)}")
        _check_header_params(self.params, "media type")

    @classmethod
    def parse(cls, text: str, *, what: str = "Content-Type header") -> MediaType:
        match = MEDIA_TYPE_SHAPE.fullmatch(text)
        if match is None:
            return cls._parse_full(text, what=what)
        main_type, subtype, params = match.groups()
        return _trusted(cls, main_type=main_type, subtype=subtype, params=_shape_params(params))

    @classmethod
    def _parse_full(cls, text: str, *, what: str = "Content-Type header") -> MediaType:
        """MediaType.parse by the full parser alone (for any shape)."""
        cur = _Cursor(text, what)
        cur.skip_ws()
        main_type = cur.token("media type")
        cur.skip_ws()
        cur.expect("/")
        cur.skip_ws()
        subtype = cur.token("media subtype")
        params = cur.params()
        return _construct(cur, lambda: cls(main_type=main_type, subtype=subtype, params=params))

    def __str__(self) -> str:
        return f"{self.main_type}/{self.subtype}{_format_params(self.params)}"

    @property
    def mime(self) -> str:
        """``type/subtype`` in lower case, for comparisons."""
        return f"{self.main_type}/{self.subtype}".lower()


@dataclass(frozen=True, slots=True)
class SipWarning:
    """A Warning value: ``399 proxy.example.com "text"``."""

    code: int
    agent: str
    text: str

    def __post_init__(self) -> None:
        if not 100 <= self.code <= 999:
            raise ValueError(f"warning code {self.code} is not three digits")
        _check_warn_agent(self.agent)
        check_text(self.text, "warning text")

    @classmethod
    def parse(cls, text: str, *, what: str = "Warning header") -> SipWarning:
        cur = _Cursor(text, what)
        cur.skip_ws()
        digits = cur.run(_DIGITS)
        if len(digits) != 3:
            raise cur.fail(f"warning code {show(digits)} is not three digits")
        if not cur.skip_ws():
            raise cur.fail("expected whitespace after the code")
        start = cur.pos
        while not cur.at_end() and cur.peek() not in _WS:
            cur.pos += 1
        agent = text[start : cur.pos]
        try:
            _check_warn_agent(agent)
        except ValueError as exc:
            raise cur.fail(str(exc)) from None
        if not cur.skip_ws():
            raise cur.fail("expected whitespace after the agent")
        warn_text = cur.quoted()
        cur.end()
        return _construct(cur, lambda: cls(int(digits), agent, warn_text))

    def __str__(self) -> str:
        return f"{self.code} {self.agent} {quote(self.text)}"


def _check_warn_agent(agent: str) -> None:
    if is_token(agent):
        return
    host, port = agent, None
    if agent.startswith("[") and "]" in agent:
        close = agent.index("]")
        host, rest = agent[: close + 1], agent[close + 1 :]
        if rest:
            port = rest[1:] if rest[0] == ":" else "?"
    elif agent.count(":") == 1:
        host, port = agent.split(":")
    try:
        parse_host(host, "warning agent")
        if port is not None:
            parse_port(port, "warning agent port")
    except SipParseError:
        raise ValueError(
            f"warning agent {show(agent)} is neither host[:port] nor a token"
        ) from None


# ---------------------------------------------------------------------------------------------
# Authorization, WWW-Authenticate, Proxy-Authenticate, Proxy-Authorization

_TOKEN68: Final = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthHeader:
    """Credentials or a challenge: ``Digest realm="x", nonce="y"``.

    ``params`` holds ``(name, value, quoted)`` with values unquoted; ``quoted`` records how the
    value was written, so ``str()`` writes it back the same way.
    """

    scheme: str
    params: tuple[tuple[str, str, bool], ...] = ()
    token68: str | None = None

    def __post_init__(self) -> None:
        if not is_token(self.scheme):
            raise ValueError(f"auth scheme {show(self.scheme)} is not a token")
        if self.token68 is not None:
            if self.params:
                raise ValueError("an auth header has either token68 or parameters")
            if not _TOKEN68.fullmatch(self.token68):
                raise ValueError(f"bad token68 {show(self.token68)}")
        for name, value, was_quoted in self.params:
            if not is_token(name):
                raise ValueError(f"auth parameter name {show(name)} is not a token")
            check_text(value, f"auth parameter {show(name)}")
            if not was_quoted and not is_token(value):
                raise ValueError(f"auth parameter {show(name)} value {show(value)} must be quoted")

    @classmethod
    def parse(cls, text: str, *, what: str = "Authorization header") -> AuthHeader:
        cur = _Cursor(text, what)
        cur.skip_ws()
        scheme = cur.token("auth scheme")
        if cur.at_end():
            return _construct(cur, lambda: cls(scheme=scheme))
        if not cur.skip_ws():
            raise cur.fail("expected whitespace after the auth scheme")
        start = cur.pos
        try:
            params = _auth_params(cur)
        except SipParseError:
            rest = text[start:].strip(_WS)
            if _TOKEN68.fullmatch(rest):
                return _construct(cur, lambda: cls(scheme=scheme, token68=rest))
            raise
        return _construct(cur, lambda: cls(scheme=scheme, params=params))

    def __str__(self) -> str:
        if self.token68 is not None:
            return f"{self.scheme} {self.token68}"
        if not self.params:
            return self.scheme
        rendered = ", ".join(
            f"{n}={quote(v)}" if was_quoted else f"{n}={v}" for n, v, was_quoted in self.params
        )
        return f"{self.scheme} {rendered}"

    def get(self, name: str) -> str | None:
        """The (unquoted) value of the first parameter called ``name``."""
        key = name.lower()
        for n, v, _ in self.params:
            if n.lower() == key:
                return v
        return None


def _auth_params(cur: _Cursor) -> tuple[tuple[str, str, bool], ...]:
    params: list[tuple[str, str, bool]] = []
    while True:
        cur.skip_ws()
        if cur.at_end():
            return tuple(params)
        if cur.peek() == ",":  # empty list elements are allowed (RFC 7235)
            cur.pos += 1
            continue
        name = cur.token("auth parameter")
        cur.skip_ws()
        cur.expect("=")
        cur.skip_ws()
        if cur.peek() == '"':
            params.append((name, cur.quoted(), True))
        else:
            params.append((name, cur.token(f"value of {show(name)}"), False))
        cur.skip_ws()
        if not cur.at_end():
            cur.expect(",")


# ---------------------------------------------------------------------------------------------
# Replaces (RFC 3891), Event and Subscription-State (RFC 6665)


@dataclass(frozen=True, slots=True, kw_only=True)
class Replaces:
    """``Replaces: call-id;to-tag=x;from-tag=y[;early-only]``."""

    call_id: str
    to_tag: str
    from_tag: str
    early_only: bool = False
    params: Params = NO_PARAMS  # extension parameters

    def __post_init__(self) -> None:
        parse_call_id(self.call_id, "Replaces Call-ID")
        if not (is_token(self.to_tag) and is_token(self.from_tag)):
            raise ValueError(
                f"Replaces tags {show(self.to_tag)}, {show(self.from_tag)} must be tokens"
            )
        for name in ("to-tag", "from-tag", "early-only"):
            if name in self.params:
                raise ValueError(f"{name} is a field of Replaces, not an extension parameter")
        _check_header_params(self.params, "Replaces")

    @classmethod
    def parse(cls, text: str, *, what: str = "Replaces header") -> Replaces:
        cur = _Cursor(text, what)
        cur.skip_ws()
        start = cur.pos
        while not cur.at_end() and cur.peek() not in "; \t":
            cur.pos += 1
        call_id = parse_call_id(text[start : cur.pos], what)
        params = cur.params()
        fields = params.first_by_name()
        to_tag, from_tag = fields.get("to-tag"), fields.get("from-tag")
        if not to_tag or not from_tag:
            raise cur.fail("to-tag and from-tag are required")
        if "early-only" in fields and fields["early-only"] is not None:
            raise cur.fail("early-only takes no value")
        extra = Params(
            (n, v) for n, v in params if n.lower() not in ("to-tag", "from-tag", "early-only")
        )
        return _construct(
            cur,
            lambda: cls(
                call_id=call_id,
                to_tag=to_tag,
                from_tag=from_tag,
                early_only="early-only" in fields,
                params=extra,
            ),
        )

    def __str__(self) -> str:
        early = ";early-only" if self.early_only else ""
        return (
            f"{self.call_id};to-tag={self.to_tag};from-tag={self.from_tag}{early}"
            f"{_format_params(self.params)}"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """``Event: refer;id=93809824`` (the package and its parameters)."""

    package: str
    params: Params = NO_PARAMS

    def __post_init__(self) -> None:
        if not is_token(self.package):
            raise ValueError(f"event package {show(self.package)} is not a token")
        _check_header_params(self.params, "Event")

    @classmethod
    def parse(cls, text: str, *, what: str = "Event header") -> Event:
        cur = _Cursor(text, what)
        cur.skip_ws()
        package = cur.token("event package")
        params = cur.params()
        return _construct(cur, lambda: cls(package=package, params=params))

    def __str__(self) -> str:
        return f"{self.package}{_format_params(self.params)}"

    @property
    def id(self) -> str | None:
        return self.params.get("id")


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionState:
    """``Subscription-State: active;expires=600`` or ``terminated;reason=noresource``."""

    state: str
    params: Params = NO_PARAMS

    def __post_init__(self) -> None:
        if not is_token(self.state):
            raise ValueError(f"subscription state {show(self.state)} is not a token")
        _check_header_params(self.params, "Subscription-State")
        for name in ("expires", "retry-after"):
            if name in self.params:
                try:
                    parse_delta_seconds(self.params.get(name) or "", f"{name} parameter")
                except SipParseError as exc:
                    raise ValueError(exc.reason) from None

    @classmethod
    def parse(cls, text: str, *, what: str = "Subscription-State header") -> SubscriptionState:
        cur = _Cursor(text, what)
        cur.skip_ws()
        state = cur.token("subscription state")
        params = cur.params()
        return _construct(cur, lambda: cls(state=state, params=params))

    def __str__(self) -> str:
        return f"{self.state}{_format_params(self.params)}"

    @property
    def expires(self) -> int | None:
        value = self.params.get("expires")
        return int(value) if value else None

    @property
    def retry_after(self) -> int | None:
        value = self.params.get("retry-after")
        return int(value) if value else None

    @property
    def reason(self) -> str | None:
        return self.params.get("reason")


# ---------------------------------------------------------------------------------------------
# Common shapes. Each pattern matches, with ``fullmatch``, a subset of the values the full
# parser accepts: the usual way of writing the field (no optional whitespace, no IPv6, no
# %-escapes, only the usual parameters). A value that matches is accepted by the full parser,
# with the parts the groups capture, so the parsers above build it from the groups and checking
# a message can stop at the match; any other value goes through the full parser.

_SIP_2_0: Final = "SIP/2.0"
_TOKEN_RE: Final = char_class(TOKEN_CHARS)
_VALUE_RE: Final = char_class(_VALUE_CHARS)
# A quoted string: plain characters, or a backslash and any character. Surrogates are left to
# the full parser, which decides whether they can be encoded. Written as runs of plain
# characters between escapes, which the regex engine scans far faster than one alternation per
# character.
_QUOTED_PLAIN: Final = r'[^"\\\r\n\ud800-\udfff]*'
_QUOTED_RE: Final = rf'"{_QUOTED_PLAIN}(?:\\[^\r\n\ud800-\udfff]{_QUOTED_PLAIN})*"'
_QVALUE_RE: Final = r"(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)"
_PARAM_ITEM: Final = re.compile(rf";({_TOKEN_RE}+)(?:=({_VALUE_RE}+|{_QUOTED_RE}))?")


def _param_shape(*, quoted: bool, contact: bool) -> str:
    """One ``;name[=value]`` header parameter. An addr-spec cannot have quoted values (a '<'
    inside one would be taken for a name-addr); a Contact's q and expires must be valid."""
    value = f"(?:{_VALUE_RE}+|{_QUOTED_RE})" if quoted else f"{_VALUE_RE}+"
    generic = f"{_TOKEN_RE}+(?:={value})?"
    if not contact:
        return f";{generic}"
    return (
        f";(?:(?i:q)={_QVALUE_RE}|(?i:expires)=[0-9]{{1,9}}"
        f"|(?!(?i:q|expires)(?!{_TOKEN_RE})){generic})"
    )


def _shape_params(raw: str) -> Params:
    """The parameters captured by a shape pattern (``;a=1;b``), values as written."""
    if not raw:
        return NO_PARAMS
    return Params([(name, value or None) for name, value in _PARAM_ITEM.findall(raw)])


def _name_addr_shape(*, brackets: bool, contact: bool) -> re.Pattern[str]:
    """Groups: quoted display name, token display name, URI, parameters; then URI and
    parameters of the addr-spec form."""
    display = f"(?:({_QUOTED_RE})[ \t]*|({_TOKEN_RE}+(?:[ \t]+{_TOKEN_RE}+)*)[ \t]*)?"
    params = _param_shape(quoted=True, contact=contact)
    name_addr = f"{display}<({SIP_URI_SHAPE})>((?:{params})*)"
    if brackets:
        return re.compile(name_addr)
    params = _param_shape(quoted=False, contact=contact)
    return re.compile(f"{name_addr}|({SIP_ADDR_SPEC_SHAPE})((?:{params})*)")


#: From, To, Refer-To...: accepted by ``NameAddr.parse``.
NAME_ADDR_SHAPE: Final = _name_addr_shape(brackets=False, contact=False)
#: Route, Record-Route: accepted by ``NameAddr.parse(..., brackets=True)``.
ROUTE_SHAPE: Final = _name_addr_shape(brackets=True, contact=False)
#: One Contact value (not ``*``): accepted by :func:`parse_contact`.
CONTACT_SHAPE: Final = _name_addr_shape(brackets=False, contact=True)
#: Accepted by ``Via.parse``; ttl and maddr, and received other than IPv4, are left out.
#: Groups: transport, host, port, parameters.
VIA_SHAPE: Final = re.compile(
    rf"SIP/2\.0/({_TOKEN_RE}+) ({HOST_SHAPE})(?::({PORT_SHAPE}))?"
    rf"((?:;(?:(?i:branch)={_VALUE_RE}+|(?i:rport)(?:={PORT_SHAPE})?|(?i:received)={IPV4_SHAPE}"
    rf"|(?!(?i:ttl|maddr|received|rport|branch)(?!{_TOKEN_RE})){_TOKEN_RE}+(?:={_VALUE_RE}+)?))*)"
)
#: The first ``branch`` parameter of a value that matches :data:`VIA_SHAPE`.
VIA_BRANCH: Final = re.compile(r";(?i:branch)=([^;]*)")
#: Accepted by :func:`parse_call_id`.
CALL_ID_SHAPE: Final = re.compile(f"{char_class(_WORD_CHARS)}+(?:@{char_class(_WORD_CHARS)}+)?")
#: Sequence number (group 1, below 2**31 once checked) and method (group 2) of a CSeq.
CSEQ_SHAPE: Final = re.compile(rf"([0-9]{{1,10}})[ \t]+({_TOKEN_RE}+)")
#: Accepted by ``MediaType.parse``. Groups: type, subtype, parameters.
MEDIA_TYPE_SHAPE: Final = re.compile(
    f"({_TOKEN_RE}+)/({_TOKEN_RE}+)((?:{_param_shape(quoted=True, contact=False)})*)"
)
