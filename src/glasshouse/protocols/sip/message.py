"""SIP messages (RFC 3261 section 7): requests and responses, parsed from a datagram with
:func:`parse_message` or framed from a stream with :class:`SipStreamParser`, serialised with
``bytes(message)``. :func:`make_response` builds a response per RFC 3261 8.2.6.

Parsing checks the start line, the header framing and the fields the transaction and dialog
layers rely on (Via, From, To, Call-ID, CSeq, Max-Forwards, Contact, Route, Record-Route,
Expires, Content-Type, Date); other fields are checked when a typed accessor reads them.
``parse_message(bytes(m)) == m`` for every message the parser returns or the API can build.

Messages written the usual way are read by a few regular expressions (see "The common case"
below) and everything else by the full parser, with the same result and the same errors.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, NoReturn, TypeVar, cast

from glasshouse.protocols.sip.headers import (
    CALL_ID_SHAPE,
    COMPACT_FORMS,
    CONTACT_SHAPE,
    CSEQ_SHAPE,
    KNOWN_NAMES,
    LIST_HEADERS,
    MEDIA_TYPE_SHAPE,
    NAME_ADDR_SHAPE,
    ROUTE_SHAPE,
    VIA_BRANCH,
    VIA_SHAPE,
    AuthHeader,
    CSeq,
    Event,
    Headers,
    MediaType,
    NameAddr,
    Replaces,
    SipWarning,
    SubscriptionState,
    Via,
    _parse_contact_full,
    canonical_name,
    parse_call_id,
    parse_contact,
    parse_date,
    parse_delta_seconds,
    parse_max_forwards,
    parse_token,
    split_list,
)
from glasshouse.protocols.sip.uri import (
    TOKEN_CHARS,
    AbsoluteUri,
    SipParseError,
    SipUri,
    TelUri,
    Uri,
    _parse_uri_full,
    char_class,
    check_text,
    common_sip_uri,
    is_token,
    show,
)

_T = TypeVar("_T")

SIP_VERSION: Final = "SIP/2.0"
MAGIC_COOKIE: Final = "z9hG4bK"

REASON_PHRASES: Final[dict[int, str]] = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    199: "Early Dialog Terminated",
    200: "OK",
    202: "Accepted",
    204: "No Notification",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    305: "Use Proxy",
    380: "Alternative Service",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    412: "Conditional Request Failed",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    417: "Unknown Resource-Priority",
    420: "Bad Extension",
    421: "Extension Required",
    422: "Session Interval Too Small",
    423: "Interval Too Brief",
    428: "Use Identity Header",
    429: "Provide Referrer Identity",
    433: "Anonymity Disallowed",
    436: "Bad Identity Info",
    437: "Unsupported Credential",
    438: "Invalid Identity Header",
    439: "First Hop Lacks Outbound Support",
    440: "Max-Breadth Exceeded",
    469: "Bad Info Package",
    470: "Consent Needed",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    485: "Ambiguous",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    489: "Bad Event",
    491: "Request Pending",
    493: "Undecipherable",
    494: "Security Agreement Required",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    555: "Push Notification Service Not Supported",
    580: "Precondition Failure",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
    607: "Unwanted",
    608: "Rejected",
}
_CLASS_PHRASES: Final = {
    1: "Provisional",
    2: "Success",
    3: "Redirection",
    4: "Client Error",
    5: "Server Error",
    6: "Global Failure",
}


def reason_phrase(status: int) -> str:
    """The usual reason phrase of a status code (its class's name for an unregistered code)."""
    return REASON_PHRASES.get(status) or _CLASS_PHRASES.get(status // 100, "")


class SipFramingError(SipParseError):
    """Where the message ends cannot be told (no end of headers, a bad or missing
    Content-Length, a size limit): on a stream transport the connection must be closed."""


class SipVersionError(SipParseError):
    """The start line names a SIP version other than 2.0 (answered with 505)."""


# ---------------------------------------------------------------------------------------------
# Messages


# Parsed values of the headers every layer reads (Via, From, To, CSeq, Call-ID), by raw text.
# The transaction layer, the dialog and the switch each read them again for one message; the
# values are immutable, so one parse serves them all. Bounded: cleared when full.
_PARSED: dict[tuple[int, str], Any] = {}
_PARSED_MAX: Final = 4096


def _parsed(kind: int, raw: str, parse: Callable[[str], _T]) -> _T:
    key = (kind, raw)
    value = _PARSED.get(key)
    if value is None:
        value = parse(raw)  # a malformed value raises and is not kept
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[key] = value
    return cast(_T, value)


def _parse_from(raw: str) -> NameAddr:
    return NameAddr.parse(raw, what="From header")


def _parse_to(raw: str) -> NameAddr:
    return NameAddr.parse(raw, what="To header")


class _HeaderAccess:
    """Typed readers shared by requests and responses. Each parses the raw field on access (the
    common ones through a small cache of immutable values) and raises SipParseError if it is
    malformed or repeated where one is allowed."""

    headers: Headers

    def _single(self, name: str) -> str | None:
        values = self.headers.get_all(name)
        if len(values) > 1:
            raise SipParseError(f"{len(values)} {name} headers where one is allowed")
        return values[0] if values else None

    def _required(self, name: str) -> str:
        value = self._single(name)
        if value is None:
            raise SipParseError(f"missing {name} header")
        return value

    def _optional(self, name: str, parse: Callable[[str, str], _T]) -> _T | None:
        value = self._single(name)
        return None if value is None else parse(value, f"{name} header")

    def _tokens(self, name: str) -> list[str]:
        return [parse_token(v, f"{name} header") for v in self.headers.get_all(name) if v]

    def _name_addrs(self, name: str, *, brackets: bool = False) -> list[NameAddr]:
        return [
            NameAddr.parse(v, what=f"{name} header", brackets=brackets)
            for v in self.headers.get_all(name)
        ]

    def _auth(self, name: str) -> list[AuthHeader]:
        return [AuthHeader.parse(v, what=f"{name} header") for v in self.headers.get_all(name)]

    @property
    def via(self) -> list[Via]:
        """Every Via value, topmost first."""
        return [Via.parse(v) for v in self.headers.get_all("Via")]

    @property
    def top_via(self) -> Via:
        """The topmost Via (the one that identifies the transaction)."""
        value = self.headers.get("Via")
        if value is None:
            raise SipParseError("missing Via header")
        return _parsed(0, value, Via.parse)

    @property
    def from_(self) -> NameAddr:
        return _parsed(1, self._required("From"), _parse_from)

    @property
    def to(self) -> NameAddr:
        return _parsed(2, self._required("To"), _parse_to)

    @property
    def call_id(self) -> str:
        return _parsed(3, self._required("Call-ID"), parse_call_id)

    @property
    def cseq(self) -> CSeq:
        return _parsed(4, self._required("CSeq"), CSeq.parse)

    @property
    def max_forwards(self) -> int | None:
        return self._optional("Max-Forwards", parse_max_forwards)

    @property
    def expires(self) -> int | None:
        return self._optional("Expires", parse_delta_seconds)

    @property
    def min_expires(self) -> int | None:
        return self._optional("Min-Expires", parse_delta_seconds)

    @property
    def contact(self) -> list[NameAddr]:
        """The Contact values; empty for ``Contact: *`` (see :attr:`contact_wildcard`)."""
        out: list[NameAddr] = []
        for value in self.headers.get_all("Contact"):
            contact = parse_contact(value)
            if isinstance(contact, NameAddr):
                out.append(contact)
        return out

    @property
    def contact_wildcard(self) -> bool:
        """True for ``Contact: *`` (a REGISTER removing every binding)."""
        return any(v == "*" for v in self.headers.get_all("Contact"))

    @property
    def route(self) -> list[NameAddr]:
        return self._name_addrs("Route", brackets=True)

    @property
    def record_route(self) -> list[NameAddr]:
        return self._name_addrs("Record-Route", brackets=True)

    @property
    def content_type(self) -> MediaType | None:
        return self._optional("Content-Type", lambda v, w: MediaType.parse(v, what=w))

    @property
    def allow(self) -> list[str]:
        return self._tokens("Allow")

    @property
    def supported(self) -> list[str]:
        return self._tokens("Supported")

    @property
    def require(self) -> list[str]:
        return self._tokens("Require")

    @property
    def proxy_require(self) -> list[str]:
        return self._tokens("Proxy-Require")

    @property
    def unsupported(self) -> list[str]:
        return self._tokens("Unsupported")

    @property
    def user_agent(self) -> str | None:
        return self._single("User-Agent")

    @property
    def server(self) -> str | None:
        return self._single("Server")

    @property
    def authorization(self) -> list[AuthHeader]:
        return self._auth("Authorization")

    @property
    def proxy_authorization(self) -> list[AuthHeader]:
        return self._auth("Proxy-Authorization")

    @property
    def www_authenticate(self) -> list[AuthHeader]:
        return self._auth("WWW-Authenticate")

    @property
    def proxy_authenticate(self) -> list[AuthHeader]:
        return self._auth("Proxy-Authenticate")

    @property
    def refer_to(self) -> NameAddr | None:
        return self._optional("Refer-To", lambda v, w: NameAddr.parse(v, what=w))

    @property
    def referred_by(self) -> NameAddr | None:
        return self._optional("Referred-By", lambda v, w: NameAddr.parse(v, what=w))

    @property
    def replaces(self) -> Replaces | None:
        return self._optional("Replaces", lambda v, w: Replaces.parse(v, what=w))

    @property
    def event(self) -> Event | None:
        return self._optional("Event", lambda v, w: Event.parse(v, what=w))

    @property
    def subscription_state(self) -> SubscriptionState | None:
        return self._optional("Subscription-State", lambda v, w: SubscriptionState.parse(v, what=w))

    @property
    def date(self) -> datetime | None:
        return self._optional("Date", parse_date)

    @property
    def warning(self) -> list[SipWarning]:
        return [SipWarning.parse(v) for v in self.headers.get_all("Warning")]


@dataclass(eq=True)
class SipRequest(_HeaderAccess):
    """A request: method, Request-URI, header fields and body."""

    method: str
    uri: Uri
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def __post_init__(self) -> None:
        if not is_token(self.method):
            raise ValueError(f"method {self.method!r} is not a token")
        if not isinstance(self.uri, SipUri | TelUri | AbsoluteUri):
            raise TypeError(f"uri must be a parsed URI (parse_uri), not {type(self.uri).__name__}")
        if isinstance(self.uri, SipUri) and self.uri.headers:
            raise ValueError("a Request-URI cannot have header components")

    def __bytes__(self) -> bytes:
        self.__post_init__()
        return _serialise(f"{self.method} {self.uri} {SIP_VERSION}", self.headers, self.body)


@dataclass(eq=True)
class SipResponse(_HeaderAccess):
    """A response: status code, reason phrase (may be empty), header fields and body."""

    status: int
    reason: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def __post_init__(self) -> None:
        if not 100 <= self.status <= 699:
            raise ValueError(f"status {self.status} out of range 100-699")
        check_text(self.reason, "reason phrase")

    def __bytes__(self) -> bytes:
        self.__post_init__()
        return _serialise(f"{SIP_VERSION} {self.status} {self.reason}", self.headers, self.body)


SipMessage = SipRequest | SipResponse


def _serialise(start: str, headers: Headers, body: bytes) -> bytes:
    lines = [start]
    lines.extend(f"{name}: {value}" for name, value in headers)
    lines.append(f"Content-Length: {len(body)}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("utf-8", "surrogateescape") + body


# ---------------------------------------------------------------------------------------------
# Responses


@dataclass(frozen=True, slots=True)
class ResponseHint:
    """What a transport needs to answer a request it could not accept: the status to send
    (400, 420, 505, 513), a Warning text naming the problem, and the request's Via, From, To,
    Call-ID and CSeq as received."""

    status: int
    reason: str
    warning: str
    request_headers: tuple[tuple[str, str], ...]
    extra_headers: tuple[tuple[str, str], ...] = ()

    def response(self, *, to_tag: str | None = None, agent: str = "-") -> SipResponse:
        """The response, with ``Warning: 399 <agent> "<warning>"``."""
        request = Headers._trusted([(canonical_name(n), v) for n, v in self.request_headers])
        headers = _response_headers(request, to_tag)
        headers.add("Warning", str(SipWarning(399, agent, self.warning)))
        for name, value in self.extra_headers:
            headers.add(name, value)
        return SipResponse(self.status, self.reason, headers)


def _response_headers(
    request: Headers, to_tag: str | None, *, copy_timestamp: bool = False
) -> Headers:
    fields = [("Via", v) for v in request.get_all("Via")]
    for name in ("From", "To", "Call-ID", "CSeq"):
        value = request.get(name)
        if value is None:
            continue
        if name == "To" and to_tag is not None:
            to = NameAddr.parse(value, what="To header")
            if to.tag is None:
                value = str(to.with_tag(to_tag))
        fields.append((name, value))
    timestamp = request.get("Timestamp")
    if copy_timestamp and timestamp is not None:
        fields.append(("Timestamp", timestamp))
    return Headers._trusted(fields)


def make_response(
    request: SipRequest,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
) -> SipResponse:
    """A response to ``request`` per RFC 3261 8.2.6: Via, From, To, Call-ID and CSeq copied
    (Timestamp too for 100), ``to_tag`` added to To unless the request's To has a tag already,
    then ``headers`` appended. ``reason`` defaults to the usual phrase."""
    if request.method == "ACK":
        raise ValueError("an ACK is never answered")
    if not 100 <= status <= 699:
        raise ValueError(f"status {status} out of range 100-699")
    out = _response_headers(request.headers, to_tag, copy_timestamp=status == 100)
    for name, value in headers:
        out.add(name, value)
    return SipResponse(status, reason_phrase(status) if reason is None else reason, out)


class BadExtension(SipParseError):
    """The request requires extensions this element does not support (answer 420)."""


def check_extensions(
    request: SipRequest, supported: Collection[str], *, proxy: bool = False
) -> None:
    """Raise :class:`BadExtension` (with a 420 hint listing them in Unsupported) if the request
    requires option tags not in ``supported``: Require for a UAS, Proxy-Require for a proxy
    (RFC 3261 8.2.2.3 and 16.3). ACK and CANCEL are not checked."""
    if request.method in ("ACK", "CANCEL"):
        return
    name = "Proxy-Require" if proxy else "Require"
    known = {tag.lower() for tag in supported}
    missing = [tag for tag in request._tokens(name) if tag.lower() not in known]
    if not missing:
        return
    listed = ", ".join(missing)
    reason = f"unsupported {name}: {listed}"
    hint = ResponseHint(
        420,
        reason_phrase(420),
        reason,
        tuple(_response_headers(request.headers, None)),
        (("Unsupported", listed),),
    )
    raise BadExtension(reason, response_hint=hint)


# ---------------------------------------------------------------------------------------------
# Parsing

_WS: Final = " \t"
_REQUIRED: Final = ("Via", "From", "To", "Call-ID", "CSeq")
_SINGLE: Final = frozenset(
    {"from", "to", "call-id", "cseq", "max-forwards", "expires", "content-type", "date"}
)
# The full parsers, without their common-shape paths: what the full validating parser runs.
_VALIDATORS: Final[dict[str, Callable[[str, str], object]]] = {
    "via": lambda v, w: Via._parse_full(v, what=w),
    "from": lambda v, w: NameAddr._parse_full(v, what=w),
    "to": lambda v, w: NameAddr._parse_full(v, what=w),
    "call-id": parse_call_id,
    "cseq": lambda v, w: CSeq._parse_full(v, what=w),
    "max-forwards": parse_max_forwards,
    "contact": _parse_contact_full,
    "route": lambda v, w: NameAddr._parse_full(v, what=w, brackets=True),
    "record-route": lambda v, w: NameAddr._parse_full(v, what=w, brackets=True),
    "expires": parse_delta_seconds,
    "content-type": lambda v, w: MediaType._parse_full(v, what=w),
    "date": parse_date,
}
_MAX_CONTENT_LENGTH_DIGITS: Final = 10


@dataclass(slots=True)
class _Field:
    line: int
    name: str
    value: str


@dataclass(slots=True)
class _Head:
    """The start line and header fields of one message, read as far as possible."""

    start: str
    fields: list[_Field]
    lengths: list[str]
    error: SipParseError | None


def _parse_head(block: bytes) -> _Head:
    text = block.decode("utf-8", "surrogateescape")
    lines = text.split("\r\n")
    fields: list[_Field] = []
    lengths: list[str] = []
    error: SipParseError | None = None
    current: tuple[int, str, list[str]] | None = None

    def flush() -> None:
        if current is None:
            return
        line, name, parts = current
        value = " ".join(p for p in (part.strip(_WS) for part in parts) if p)
        if name == "Content-Length":
            lengths.append(value)
        elif name.lower() in LIST_HEADERS:
            fields.extend(_Field(line, name, item) for item in split_list(value))
        else:
            fields.append(_Field(line, name, value))

    start = lines[0]
    if "\r" in start or "\n" in start:
        error = SipParseError("line 1 contains a bare CR or LF")
    for number, line in enumerate(lines[1:], start=2):
        if "\r" in line or "\n" in line:
            error = error or SipParseError(f"line {number} contains a bare CR or LF")
            continue
        if line[:1] in (" ", "\t"):
            if current is None:
                error = error or SipParseError(
                    f"header line {number} is a continuation with no header before it"
                )
            else:
                current[2].append(line)
            continue
        flush()
        current = None
        name, colon, value = line.partition(":")
        if not colon:
            error = error or SipParseError(f"header line {number} has no colon")
            continue
        name = name.rstrip(_WS)
        if not is_token(name):
            error = error or SipParseError(f"header line {number} has a bad name {show(name)}")
            continue
        current = (number, canonical_name(name), [value])
    flush()
    return _Head(start, fields, lengths, error)


def _content_length(head: _Head) -> int | None:
    values: list[int] = []
    for raw in head.lengths:
        digits = raw.strip(_WS)
        if (
            not digits
            or not (digits.isascii() and digits.isdigit())
            or len(digits.lstrip("0")) > _MAX_CONTENT_LENGTH_DIGITS
        ):
            raise SipFramingError(f"bad Content-Length {show(digits)}")
        if int(digits) not in values:
            values.append(int(digits))
    if len(values) > 1:
        raise SipFramingError(
            "conflicting Content-Length headers: " + " and ".join(map(str, values))
        )
    return values[0] if values else None


def _is_status_line(start: str) -> bool:
    return start[:4].upper() == "SIP/"


def _parse_status_line(start: str) -> tuple[int, str]:
    version, _, rest = start.partition(" ")
    if version.upper() != SIP_VERSION:
        raise SipVersionError(f"unsupported SIP version {show(version)}")
    code, _, reason = rest.partition(" ")
    if not (len(code) == 3 and code.isascii() and code.isdigit()):
        raise SipParseError(f"bad status code {show(code)}")
    status = int(code)
    if not 100 <= status <= 699:
        raise SipParseError(f"bad status code {code}")
    return status, reason


def _parse_request_line(start: str) -> tuple[str, Uri]:
    parts = start.split(" ")
    if len(parts) != 3 or not all(parts):
        if start != start.rstrip(_WS):
            raise SipParseError("bad request line: trailing whitespace")
        if "" in parts or "\t" in start:
            raise SipParseError("bad request line: elements must be separated by single spaces")
        raise SipParseError(
            f"bad request line: {len(parts)} elements, expected 'METHOD Request-URI SIP/2.0'"
        )
    method, raw_uri, version = parts
    if not is_token(method):
        raise SipParseError(f"bad request line: method {show(method)} is not a token")
    if raw_uri.startswith("<"):
        raise SipParseError("bad Request-URI: must not be enclosed in <>")
    try:
        uri = _parse_uri_full(raw_uri)
    except SipParseError as exc:
        raise SipParseError(f"bad Request-URI: {exc.reason}") from None
    if isinstance(uri, SipUri) and uri.headers:
        raise SipParseError("bad Request-URI: header components are not allowed")
    if version.upper() != SIP_VERSION:
        if version[:4].upper() == "SIP/":
            raise SipVersionError(f"unsupported SIP version {show(version)}")
        raise SipParseError(f"bad request line: {show(version)} is not a SIP version")
    return method, uri


def _build(head: _Head, body: bytes) -> SipMessage:
    if head.error is not None:
        raise head.error
    headers = Headers._trusted([(f.name, f.value) for f in head.fields])
    if _is_status_line(head.start):
        status, reason = _parse_status_line(head.start)
        _validate(head.fields, None)
        return SipResponse(status, reason, headers, body)
    method, uri = _parse_request_line(head.start)
    _validate(head.fields, method)
    return SipRequest(method, uri, headers, body)


def _validate(fields: list[_Field], method: str | None) -> None:
    seen: set[str] = set()
    contacts = 0
    wildcard = False
    cseq: CSeq | None = None
    top_via: Via | None = None
    for f in fields:
        key = f.name.lower()
        check = _VALIDATORS.get(key)
        if check is None:
            continue
        if key in _SINGLE and key in seen:
            raise SipParseError(f"line {f.line}: second {f.name} header")
        seen.add(key)
        try:
            value = check(f.value, f"{f.name} header")
        except SipParseError as exc:
            raise SipParseError(f"line {f.line}: {exc.reason}") from None
        if isinstance(value, CSeq):
            cseq = value
        elif isinstance(value, Via) and top_via is None:
            top_via = value
        elif key == "contact":
            contacts += 1
            wildcard = wildcard or value == "*"
    missing = [name for name in _REQUIRED if name.lower() not in seen]
    if missing:
        noun = "header" if len(missing) == 1 else "headers"
        raise SipParseError(f"missing {', '.join(missing)} {noun}")
    if wildcard and contacts > 1:
        raise SipParseError("Contact * must be the only Contact")
    if method is None:
        return
    assert cseq is not None and top_via is not None
    if cseq.method != method:
        raise SipParseError(f"CSeq method {cseq.method} does not match request method {method}")
    if top_via.branch == MAGIC_COOKIE:
        raise SipParseError(f"Via branch is the bare magic cookie {MAGIC_COOKIE}")


def _hint(head: _Head, status: int, reason: str) -> ResponseHint | None:
    """A response hint if the head is a request (not ACK) whose top Via and To can be read
    and which has From, Call-ID and CSeq to copy."""
    method = head.start.split(" ", 1)[0]
    if not is_token(method) or method == "ACK":
        return None
    by_name: dict[str, list[str]] = {}
    for f in head.fields:
        by_name.setdefault(f.name, []).append(f.value)
    if any(name not in by_name for name in _REQUIRED):
        return None
    try:
        Via.parse(by_name["Via"][0])
        NameAddr.parse(by_name["To"][0])
    except SipParseError:
        return None
    copied = [("Via", v) for v in by_name["Via"]]
    copied += [(name, by_name[name][0]) for name in ("From", "To", "Call-ID", "CSeq")]
    return ResponseHint(status, reason_phrase(status), reason, tuple(copied))


def _with_hint(exc: SipParseError, head: _Head, status: int = 400) -> SipParseError:
    if exc.response_hint is not None:
        return exc
    if isinstance(exc, SipVersionError):
        status = 505
    hint = _hint(head, status, exc.reason)
    if hint is None:
        return exc
    return type(exc)(exc.reason, response_hint=hint)


def _skip_blank_lines(data: bytes | bytearray) -> int:
    i = 0
    while i < len(data) and data[i] in b"\r\n":
        i += 1
    return i


def parse_message(data: bytes) -> SipMessage:
    """Parse one message from a datagram (RFC 3261 18.3: without Content-Length the body is
    the rest of the datagram; octets beyond Content-Length are discarded).

    Raises SipParseError (a ValueError) with ``reason`` and, when the bytes were a request
    that can be answered, ``response_hint``.
    """
    message = _parse_common(data)
    return message if message is not None else _parse_full(data)


def _parse_full(data: bytes) -> SipMessage:
    """parse_message by the full validating parser alone."""
    start = _skip_blank_lines(data)
    if start == len(data):
        raise SipFramingError("empty message")
    end = data.find(b"\r\n\r\n", start)
    if end < 0:
        raise SipFramingError("no empty line after the headers")
    head = _parse_head(data[start:end])
    body = data[end + 4 :]
    try:
        length = _content_length(head)
        if length is not None:
            if length > len(body):
                raise SipFramingError(f"Content-Length {length} but {len(body)} bytes of body")
            body = body[:length]
        return _build(head, bytes(body))
    except SipParseError as exc:
        raise _with_hint(exc, head) from None


# ---------------------------------------------------------------------------------------------
# The common case. Nearly every message is well formed and written the usual way: no folded
# lines, at most one Content-Length, the checked fields in their common shapes (see the
# ``*_SHAPE`` patterns of headers.py). Those are read here with a few regular expressions, in
# a fraction of the time of the full parser; anything else makes these functions return None
# and the full parser reads the message again, accepting it or naming the problem. They never
# accept what the full parser rejects, and what they return equals what it returns.

_TOKEN_RE: Final = char_class(TOKEN_CHARS)
_TOKEN_NAME: Final = re.compile(f"{_TOKEN_RE}+")
_REQUEST_LINE: Final = re.compile(rf"({_TOKEN_RE}+) ([^ ]+) SIP/2\.0")
_STATUS_LINE: Final = re.compile(r"SIP/2\.0 ([1-6][0-9][0-9]) (.*)")
_LENGTH_SHAPE: Final = re.compile(r"[0-9]{1,10}")
_SHAPES: Final[dict[str, re.Pattern[str]]] = {
    "From": NAME_ADDR_SHAPE,
    "To": NAME_ADDR_SHAPE,
    "Call-ID": CALL_ID_SHAPE,
    "Max-Forwards": re.compile(r"25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9]"),
    "Route": ROUTE_SHAPE,
    "Record-Route": ROUTE_SHAPE,
    "Expires": re.compile(r"[0-9]{1,9}"),
    "Content-Type": MEDIA_TYPE_SHAPE,
}
_CHECKED: Final = frozenset({"Via", "CSeq", "Contact", "Date", *_SHAPES})
_SINGLE_NAMES: Final = frozenset(canonical_name(key) for key in _SINGLE)
_REQUIRED_NAMES: Final = frozenset(_REQUIRED)


def _spellings() -> dict[str, tuple[str, bool]]:
    """The usual spellings of header names -> (canonical name, whether list-valued)."""
    spellings = [*KNOWN_NAMES, *(name.lower() for name in KNOWN_NAMES)]
    spellings += [*COMPACT_FORMS, *(letter.upper() for letter in COMPACT_FORMS)]
    return {
        name: (canonical_name(name), canonical_name(name).lower() in LIST_HEADERS)
        for name in spellings
    }


_SPELLINGS: Final = _spellings()


_CommonHead = tuple[str, list[tuple[str, str]], int | None]  # start line, fields, length


def _common_head(block: bytes) -> _CommonHead | None:
    """Start line, header fields and Content-Length of a head without folded lines, bare CR
    or LF, odd header lines or an odd Content-Length; None otherwise."""
    text = block.decode("utf-8", "surrogateescape")
    lines = text.split("\r\n")
    breaks = len(lines) - 1
    if breaks == 0 or text.count("\r") != breaks or text.count("\n") != breaks:
        return None
    fields: list[tuple[str, str]] = []
    length: int | None = None
    for line in lines[1:]:
        name, colon, raw = line.partition(":")
        known = _SPELLINGS.get(name)
        if known is None or not colon:
            # A folded line starts with whitespace, which is not a token character.
            name = name.rstrip(_WS)
            if not colon or _TOKEN_NAME.fullmatch(name) is None:
                return None
            canonical = canonical_name(name)
            listed = canonical.lower() in LIST_HEADERS
        else:
            canonical, listed = known
        value = raw.strip(_WS)
        if canonical == "Content-Length":
            if length is not None or _LENGTH_SHAPE.fullmatch(value) is None:
                return None
            length = int(value)
        elif listed and "," in value:
            fields.extend((canonical, item) for item in split_list(value))
        else:
            fields.append((canonical, value))
    return lines[0], fields, length


def _accepted(name: str, value: str) -> bool:
    """Whether the full check of the field accepts the value."""
    try:
        _VALIDATORS[name.lower()](value, f"{name} header")
    except SipParseError:
        return False
    return True


def _common_valid(fields: list[tuple[str, str]], method: str | None) -> bool:
    """True if :func:`_validate` would accept the fields; False if it might not."""
    seen: set[str] = set()
    top_branch: str | None = None
    cseq_method: str | None = None
    contacts = 0
    wildcard = False
    for name, value in fields:
        if name not in _CHECKED:
            continue
        if name in seen and name in _SINGLE_NAMES:
            return False
        if name == "Via":
            if VIA_SHAPE.fullmatch(value) is not None:
                if "Via" not in seen:
                    branch = VIA_BRANCH.search(value)
                    top_branch = None if branch is None else branch[1]
            elif "Via" not in seen:
                try:
                    top_branch = Via.parse(value).branch
                except SipParseError:
                    return False
            elif not _accepted(name, value):
                return False
        elif name == "CSeq":
            cseq = CSEQ_SHAPE.fullmatch(value)
            if cseq is not None and int(cseq[1]) < 2**31:
                cseq_method = cseq[2]
            else:
                try:
                    cseq_method = CSeq.parse(value).method
                except SipParseError:
                    return False
        elif name == "Contact":
            contacts += 1
            if value == "*":
                wildcard = True
            elif CONTACT_SHAPE.fullmatch(value) is None and not _accepted(name, value):
                return False
        else:
            shape = _SHAPES.get(name)
            if (shape is None or shape.fullmatch(value) is None) and not _accepted(name, value):
                return False
        seen.add(name)
    if not seen >= _REQUIRED_NAMES or (wildcard and contacts > 1):
        return False
    return method is None or (cseq_method == method and top_branch != MAGIC_COOKIE)


def _common_build(start: str, fields: list[tuple[str, str]], body: bytes) -> SipMessage | None:
    """The message, if its start line is good and :func:`_common_valid` accepts its fields."""
    try:
        if _is_status_line(start):
            line = _STATUS_LINE.fullmatch(start)
            status, reason = (int(line[1]), line[2]) if line else _parse_status_line(start)
            if not _common_valid(fields, None):
                return None
            return SipResponse(status, reason, Headers._trusted(fields), body)
        line = _REQUEST_LINE.fullmatch(start)
        common = None if line is None else common_sip_uri(line[2])
        uri: Uri
        if line is not None and common is not None:
            method, uri = line[1], common
        else:
            method, uri = _parse_request_line(start)
    except SipParseError:
        return None
    if not _common_valid(fields, method):
        return None
    return SipRequest(method, uri, Headers._trusted(fields), body)


def _parse_common(data: bytes) -> SipMessage | None:
    """parse_message for a message of the common shape; None for any other."""
    if not data or data[0] in b"\r\n":
        return None
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = _common_head(data[:end])
    if head is None:
        return None
    start, fields, length = head
    body = data[end + 4 :]
    if length is not None:
        if length > len(body):
            return None
        body = body[:length]
    return _common_build(start, fields, bytes(body))


class SipStreamParser:
    """Frames messages on a stream transport (TCP, TLS, RFC 3261 18.3) by Content-Length.

    ``feed(data)`` returns the messages completed by ``data``, in order. CRLFs between
    messages (keep-alives) are skipped. A malformed message raises SipParseError: at once if
    it is the first message of the call, otherwise from the next call (``feed(b"")``), so no
    good message before it is lost. A :class:`SipFramingError` (headers over
    ``max_header_bytes``, Content-Length missing, bad or over ``max_body_bytes``) leaves the
    stream unusable: every later call raises it again and the connection should be closed.
    """

    def __init__(
        self, *, max_header_bytes: int = 32 * 1024, max_body_bytes: int = 64 * 1024
    ) -> None:
        if max_header_bytes < 64 or max_body_bytes < 0:
            raise ValueError("size limits too small")
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self._buffer = bytearray()
        self._searched = 0  # bytes already searched for the end of the headers
        # head bytes, the head as read (common shape or full parser), body length, body offset
        self._pending: tuple[bytes, _CommonHead | _Head, int, int] | None = None
        self._deferred: SipParseError | None = None
        self._fatal: SipFramingError | None = None

    @property
    def failed(self) -> bool:
        """True after a framing error: the stream cannot be read any further."""
        return self._fatal is not None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[SipMessage]:
        """Add received bytes; return the messages now complete."""
        if self._fatal is not None:
            raise self._fatal
        self._buffer += data
        out: list[SipMessage] = []
        while True:
            try:
                message = self._next()
            except SipParseError as exc:
                if not out:
                    raise
                if exc is not self._fatal:
                    self._deferred = exc
                return out
            if message is None:
                return out
            out.append(message)

    def _fail(self, exc: SipParseError, head: _Head | None = None, status: int = 400) -> NoReturn:
        if head is not None:
            exc = _with_hint(exc, head, status)
        self._fatal = SipFramingError(exc.reason, response_hint=exc.response_hint)
        raise self._fatal

    def _next(self) -> SipMessage | None:
        if self._fatal is not None:
            raise self._fatal
        if self._deferred is not None:
            exc, self._deferred = self._deferred, None
            raise exc
        buffer = self._buffer
        if self._pending is None:
            skip = _skip_blank_lines(buffer)
            if skip:
                del buffer[:skip]
                self._searched = 0
            if not buffer:
                return None
            end = buffer.find(b"\r\n\r\n", max(0, self._searched - 3))
            if end < 0 or end > self.max_header_bytes:
                self._searched = len(buffer)
                if len(buffer) > self.max_header_bytes + 3:
                    self._fail(SipFramingError(f"headers exceed {self.max_header_bytes} bytes"))
                return None
            block = bytes(buffer[:end])
            common = _common_head(block)
            if common is not None and common[2] is not None and common[2] <= self.max_body_bytes:
                self._pending = (block, common, common[2], end + 4)
            else:
                full = _parse_head(block)
                self._pending = (block, full, self._framed_length(full), end + 4)
            self._searched = 0
        block, head, length, offset = self._pending
        if len(buffer) < offset + length:
            return None
        body = bytes(buffer[offset : offset + length])
        del buffer[: offset + length]
        self._pending = None
        if not isinstance(head, _Head):
            message = _common_build(head[0], head[1], body)
            if message is not None:
                return message
            head = _parse_head(block)
        try:
            return _build(head, body)
        except SipParseError as exc:
            raise _with_hint(exc, head) from None

    def _framed_length(self, head: _Head) -> int:
        try:
            length = _content_length(head)
        except SipParseError as exc:
            self._fail(exc, head)
        if length is None:
            self._fail(SipFramingError("no Content-Length on a stream transport"), head)
        if length > self.max_body_bytes:
            self._fail(
                SipFramingError(
                    f"Content-Length {length} exceeds the limit of {self.max_body_bytes}"
                ),
                head,
                513,
            )
        return length
