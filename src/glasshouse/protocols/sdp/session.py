"""SDP session descriptions (RFC 4566): parse from bytes, serialise with ``bytes()``.

Parsing accepts CRLF or LF line ends, blank lines and session-level lines in any order (real
stacks vary); serialising writes the RFC's order with CRLF. Errors name the line number and the
line. Attributes are kept in order as written; the accessors interpret ``rtpmap``, ``fmtp``,
``ptime``, ``rtcp`` and the direction attributes, which the parser has already checked.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

# RFC 3551 static audio payload types: encoding, clock rate, channels.
STATIC_PAYLOAD_TYPES: dict[int, tuple[str, int, int | None]] = {
    0: ("PCMU", 8000, None),
    3: ("GSM", 8000, None),
    4: ("G723", 8000, None),
    5: ("DVI4", 8000, None),
    6: ("DVI4", 16000, None),
    7: ("LPC", 8000, None),
    8: ("PCMA", 8000, None),
    9: ("G722", 8000, None),
    10: ("L16", 44100, 2),
    11: ("L16", 44100, None),
    12: ("QCELP", 8000, None),
    13: ("CN", 8000, None),
    14: ("MPA", 90000, None),
    15: ("G728", 8000, None),
    16: ("DVI4", 11025, None),
    17: ("DVI4", 22050, None),
    18: ("G729", 8000, None),
}


def _is_number(text: str) -> bool:
    """ASCII digits only (``str.isdigit`` also accepts superscripts, which ``int`` refuses)."""
    return text.isascii() and text.isdigit()


class SdpError(ValueError):
    """A session description is malformed; ``line_number`` (1-based) and ``line`` say where."""

    def __init__(
        self, message: str, line_number: int | None = None, line: str | None = None
    ) -> None:
        if line_number is not None:
            message = f"line {line_number} ({line!r}): {message}"
        super().__init__(message)
        self.line_number = line_number
        self.line = line


class Direction(enum.StrEnum):
    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @property
    def sends(self) -> bool:
        return self in (Direction.SENDRECV, Direction.SENDONLY)

    @property
    def receives(self) -> bool:
        return self in (Direction.SENDRECV, Direction.RECVONLY)

    @classmethod
    def from_flags(cls, sends: bool, receives: bool) -> Direction:
        if sends:
            return cls.SENDRECV if receives else cls.SENDONLY
        return cls.RECVONLY if receives else cls.INACTIVE

    def reversed(self) -> Direction:
        """The same stream seen from the other end (sendonly <-> recvonly)."""
        return Direction.from_flags(self.receives, self.sends)


_DIRECTIONS = frozenset(d.value for d in Direction)


@dataclass(frozen=True, slots=True)
class Origin:
    """``o=``: who made the description; ``session_version`` increases with every change."""

    username: str = "-"
    session_id: str = "0"
    session_version: int = 0
    network_type: str = "IN"
    address_type: str = "IP4"
    address: str = "0.0.0.0"

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.session_version} "
            f"{self.network_type} {self.address_type} {self.address}"
        )


@dataclass(frozen=True, slots=True)
class Connection:
    """``c=``: where media goes. ``address`` keeps any ``/ttl/count`` suffix."""

    address: str
    address_type: str = "IP4"
    network_type: str = "IN"

    def __str__(self) -> str:
        return f"{self.network_type} {self.address_type} {self.address}"

    @property
    def is_hold_address(self) -> bool:
        """``0.0.0.0``: the RFC 2543 way of putting a call on hold, still seen in the wild."""
        return self.address_type == "IP4" and self.address.split("/")[0] == "0.0.0.0"


@dataclass(frozen=True, slots=True)
class Timing:
    """``t=`` and the ``r=`` lines that follow it (kept verbatim)."""

    start: int = 0
    stop: int = 0
    repeats: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Attribute:
    """``a=name`` (``value`` None) or ``a=name:value``."""

    name: str
    value: str | None = None

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"


@dataclass(frozen=True, slots=True)
class RtpMap:
    payload_type: int
    encoding: str
    clock_rate: int
    channels: int | None = None

    def __str__(self) -> str:
        text = f"{self.payload_type} {self.encoding}/{self.clock_rate}"
        return text if self.channels is None else f"{text}/{self.channels}"

    @classmethod
    def parse(cls, value: str) -> RtpMap:
        """Parse the value of ``a=rtpmap:``; raises ``SdpError`` without a line number."""
        head, _, encoding = value.strip().partition(" ")
        parts = encoding.strip().split("/")
        if not _is_number(head) or not 2 <= len(parts) <= 3 or not parts[0]:
            raise SdpError("rtpmap needs '<payload type> <encoding>/<clock rate>[/<channels>]'")
        if not _is_number(parts[1]) or (len(parts) == 3 and not _is_number(parts[2])):
            raise SdpError("rtpmap clock rate and channels must be numbers")
        payload_type = int(head)
        if payload_type > 127:
            raise SdpError(f"rtpmap payload type {payload_type} out of range 0-127")
        channels = int(parts[2]) if len(parts) == 3 else None
        return cls(payload_type, parts[0], int(parts[1]), channels)


@dataclass(frozen=True, slots=True)
class RtcpAddress:
    """``a=rtcp:`` (RFC 3605): the RTCP port, and address when it is not the media's."""

    port: int
    connection: Connection | None = None


@dataclass(frozen=True, slots=True)
class MediaDescription:
    """One ``m=`` section."""

    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    port_count: int | None = None
    information: str | None = None
    connections: tuple[Connection, ...] = ()
    bandwidths: tuple[str, ...] = ()  # "<type>:<value>"
    key: str | None = None
    attributes: tuple[Attribute, ...] = ()

    def attribute(self, name: str) -> str | None:
        """Value of the first ``a=name:value``, or None if absent or valueless."""
        for a in self.attributes:
            if a.name == name:
                return a.value
        return None

    def has_attribute(self, name: str) -> bool:
        return any(a.name == name for a in self.attributes)

    @property
    def payload_types(self) -> tuple[int, ...]:
        """The formats as RTP payload types (non-numeric formats are skipped)."""
        return tuple(int(f) for f in self.formats if _is_number(f))

    def rtpmap(self, payload_type: int) -> RtpMap | None:
        """The ``rtpmap`` for ``payload_type``, or the RFC 3551 static mapping if there is none."""
        for a in self.attributes:
            if a.name == "rtpmap" and a.value is not None:
                head = a.value.lstrip().partition(" ")[0]
                if _is_number(head) and int(head) == payload_type:
                    return RtpMap.parse(a.value)
        static = STATIC_PAYLOAD_TYPES.get(payload_type)
        if static is None:
            return None
        return RtpMap(payload_type, *static)

    def fmtp(self, payload_type: int) -> str | None:
        """The format parameters of ``payload_type``, or None."""
        for a in self.attributes:
            if a.name == "fmtp" and a.value is not None:
                head, _, params = a.value.partition(" ")
                if _is_number(head) and int(head) == payload_type:
                    return params.strip()
        return None

    @property
    def ptime(self) -> int | None:
        value = self.attribute("ptime")
        return None if value is None else int(float(value))

    @property
    def direction(self) -> Direction | None:
        """The media-level direction attribute, if any (see ``SessionDescription.direction``)."""
        for a in self.attributes:
            if a.name in _DIRECTIONS:
                return Direction(a.name)
        return None

    @property
    def rtcp(self) -> RtcpAddress | None:
        value = self.attribute("rtcp")
        return None if value is None else _parse_rtcp(value)


@dataclass(frozen=True, slots=True)
class SessionDescription:
    origin: Origin
    session_name: str = "-"
    connection: Connection | None = None
    timing: tuple[Timing, ...] = (Timing(),)
    attributes: tuple[Attribute, ...] = ()
    media: tuple[MediaDescription, ...] = ()
    information: str | None = None
    uri: str | None = None
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    bandwidths: tuple[str, ...] = ()
    time_zones: str | None = None
    key: str | None = None
    version: int = 0

    @classmethod
    def parse(cls, data: bytes | str) -> SessionDescription:
        """Parse a session description; raises ``SdpError`` naming the offending line."""
        return _Parser().parse(data)

    def lines(self) -> list[str]:
        """The description's lines in RFC 4566 order, without line ends."""
        out = [f"v={self.version}", f"o={self.origin}", f"s={self.session_name}"]
        if self.information is not None:
            out.append(f"i={self.information}")
        if self.uri is not None:
            out.append(f"u={self.uri}")
        out.extend(f"e={e}" for e in self.emails)
        out.extend(f"p={p}" for p in self.phones)
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out.extend(f"b={b}" for b in self.bandwidths)
        for t in self.timing:
            out.append(f"t={t.start} {t.stop}")
            out.extend(f"r={r}" for r in t.repeats)
        if self.time_zones is not None:
            out.append(f"z={self.time_zones}")
        if self.key is not None:
            out.append(f"k={self.key}")
        out.extend(f"a={a}" for a in self.attributes)
        for m in self.media:
            port = str(m.port) if m.port_count is None else f"{m.port}/{m.port_count}"
            out.append(" ".join(("m=" + m.media, port, m.proto, *m.formats)))
            if m.information is not None:
                out.append(f"i={m.information}")
            out.extend(f"c={c}" for c in m.connections)
            out.extend(f"b={b}" for b in m.bandwidths)
            if m.key is not None:
                out.append(f"k={m.key}")
            out.extend(f"a={a}" for a in m.attributes)
        for line in out:
            if "\r" in line or "\n" in line or "\0" in line:
                raise SdpError(f"{line[:2]} value contains a line break or NUL: {line!r}")
        return out

    def __str__(self) -> str:
        return "\r\n".join(self.lines()) + "\r\n"

    def __bytes__(self) -> bytes:
        return str(self).encode()

    def direction(self, media: MediaDescription) -> Direction:
        """The direction of a stream: its own attribute, else the session's, else sendrecv."""
        found = media.direction
        if found is not None:
            return found
        for a in self.attributes:
            if a.name in _DIRECTIONS:
                return Direction(a.name)
        return Direction.SENDRECV

    def connection_for(self, media: MediaDescription) -> Connection | None:
        """Where the stream's media goes: its own ``c=`` line, else the session's."""
        return media.connections[0] if media.connections else self.connection


# ---------------------------------------------------------------------------------------------
# Parser


def _parse_rtcp(value: str) -> RtcpAddress:
    parts = value.split()
    if not parts or not _is_number(parts[0]) or len(parts) not in (1, 4):
        raise SdpError("rtcp needs '<port> [<nettype> <addrtype> <address>]'")
    port = int(parts[0])
    if port > 65535:
        raise SdpError(f"rtcp port {port} out of range 0-65535")
    connection = Connection(parts[3], parts[2], parts[1]) if len(parts) == 4 else None
    return RtcpAddress(port, connection)


def _check_attribute(attribute: Attribute) -> None:
    name, value = attribute.name, attribute.value
    if name == "rtpmap":
        RtpMap.parse(value or "")
    elif name == "fmtp":
        head = (value or "").partition(" ")[0]
        if not head.strip():
            raise SdpError("fmtp needs '<format> <parameters>'")
    elif name in ("ptime", "maxptime"):
        try:
            if value is None or float(value) <= 0:
                raise ValueError
        except ValueError:
            raise SdpError(f"{name} must be a positive number of milliseconds") from None
    elif name == "rtcp":
        _parse_rtcp(value or "")


_SESSION_TYPES = frozenset("vosiuepcbtrzkam")
_MEDIA_TYPES = frozenset("icbka")


@dataclass
class _Media:
    media: str
    port: int
    port_count: int | None
    proto: str
    formats: tuple[str, ...]
    information: str | None = None
    key: str | None = None
    connections: list[Connection] = field(default_factory=list)
    bandwidths: list[str] = field(default_factory=list)
    attributes: list[Attribute] = field(default_factory=list)

    def build(self) -> MediaDescription:
        return MediaDescription(
            media=self.media,
            port=self.port,
            proto=self.proto,
            formats=self.formats,
            port_count=self.port_count,
            information=self.information,
            connections=tuple(self.connections),
            bandwidths=tuple(self.bandwidths),
            key=self.key,
            attributes=tuple(self.attributes),
        )


class _Parser:
    def __init__(self) -> None:
        self.number = 0
        self.line = ""
        self.version: int | None = None
        self.origin: Origin | None = None
        self.session_name: str | None = None
        self.information: str | None = None
        self.uri: str | None = None
        self.emails: list[str] = []
        self.phones: list[str] = []
        self.connection: Connection | None = None
        self.bandwidths: list[str] = []
        self.timing: list[Timing] = []
        self.time_zones: str | None = None
        self.key: str | None = None
        self.attributes: list[Attribute] = []
        self.media: list[_Media] = []

    def error(self, message: str) -> SdpError:
        return SdpError(message, self.number, self.line)

    def parse(self, data: bytes | str) -> SessionDescription:
        if isinstance(data, str):
            lines = data.split("\n")
        else:
            lines = []
            for number, raw in enumerate(bytes(data).split(b"\n"), 1):
                try:
                    lines.append(raw.decode())
                except UnicodeDecodeError as exc:
                    self.number = number
                    self.line = raw.decode(errors="replace").removesuffix("\r")
                    raise self.error(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
        for number, line in enumerate(lines, 1):
            self.number = number
            line = line.removesuffix("\r")
            self.line = line
            if not line:
                continue
            if len(line) < 2 or line[1] != "=" or not line[0].islower():
                raise self.error("expected '<type>=<value>'")
            if "\0" in line or "\r" in line:
                raise self.error("NUL or CR inside a line")
            kind, value = line[0], line[2:]
            if self.version is None and kind != "v":
                raise self.error("the first line must be 'v=0'")
            try:
                if self.media:
                    self.media_line(kind, value)
                else:
                    self.session_line(kind, value)
            except SdpError as exc:
                if exc.line_number is not None:
                    raise
                raise self.error(str(exc)) from None
        self.number = len(lines)
        self.line = ""
        if self.version is None:
            raise SdpError("empty session description: no 'v=' line")
        if self.origin is None:
            raise SdpError("missing 'o=' line")
        if self.session_name is None:
            raise SdpError("missing 's=' line")
        return SessionDescription(
            origin=self.origin,
            session_name=self.session_name,
            connection=self.connection,
            timing=tuple(self.timing) or (Timing(),),
            attributes=tuple(self.attributes),
            media=tuple(m.build() for m in self.media),
            information=self.information,
            uri=self.uri,
            emails=tuple(self.emails),
            phones=tuple(self.phones),
            bandwidths=tuple(self.bandwidths),
            time_zones=self.time_zones,
            key=self.key,
            version=self.version,
        )

    def once(self, current: object, kind: str) -> None:
        if current is not None:
            raise self.error(f"more than one '{kind}=' line")

    def session_line(self, kind: str, value: str) -> None:
        if kind == "v":
            self.once(self.version, "v")
            if value != "0":
                raise self.error(f"unsupported SDP version {value!r}, expected 0")
            self.version = 0
        elif kind == "o":
            self.once(self.origin, "o")
            self.origin = self.parse_origin(value)
        elif kind == "s":
            self.once(self.session_name, "s")
            self.session_name = value
        elif kind == "i":
            self.once(self.information, "i")
            self.information = value
        elif kind == "u":
            self.once(self.uri, "u")
            self.uri = value
        elif kind == "e":
            self.emails.append(value)
        elif kind == "p":
            self.phones.append(value)
        elif kind == "c":
            self.once(self.connection, "c")
            self.connection = self.parse_connection(value)
        elif kind == "b":
            self.bandwidths.append(self.parse_bandwidth(value))
        elif kind == "t":
            parts = value.split()
            if len(parts) != 2 or not all(_is_number(p) for p in parts):
                raise self.error("t= needs '<start> <stop>' as numbers")
            self.timing.append(Timing(int(parts[0]), int(parts[1])))
        elif kind == "r":
            if not self.timing:
                raise self.error("'r=' line before any 't=' line")
            last = self.timing[-1]
            self.timing[-1] = Timing(last.start, last.stop, (*last.repeats, value))
        elif kind == "z":
            self.once(self.time_zones, "z")
            self.time_zones = value
        elif kind == "k":
            self.once(self.key, "k")
            self.key = value
        elif kind == "a":
            self.attributes.append(self.parse_attribute(value))
        elif kind == "m":
            self.media.append(self.parse_media(value))
        else:
            raise self.error(f"unknown line type '{kind}='")

    def media_line(self, kind: str, value: str) -> None:
        media = self.media[-1]
        if kind == "m":
            self.media.append(self.parse_media(value))
        elif kind == "i":
            self.once(media.information, "i")
            media.information = value
        elif kind == "c":
            media.connections.append(self.parse_connection(value))
        elif kind == "b":
            media.bandwidths.append(self.parse_bandwidth(value))
        elif kind == "k":
            self.once(media.key, "k")
            media.key = value
        elif kind == "a":
            media.attributes.append(self.parse_attribute(value))
        elif kind in _SESSION_TYPES:
            raise self.error(f"'{kind}=' belongs before the first 'm=' line")
        else:
            raise self.error(f"unknown line type '{kind}='")

    def parse_origin(self, value: str) -> Origin:
        parts = value.split()
        if len(parts) != 6:
            raise self.error(
                "o= needs '<username> <sess-id> <sess-version> <nettype> <addrtype> <address>'"
            )
        if not _is_number(parts[2]):
            raise self.error(f"session version {parts[2]!r} is not a number")
        return Origin(parts[0], parts[1], int(parts[2]), parts[3], parts[4], parts[5])

    def parse_connection(self, value: str) -> Connection:
        parts = value.split()
        if len(parts) != 3:
            raise self.error("c= needs '<nettype> <addrtype> <address>'")
        return Connection(parts[2], parts[1], parts[0])

    def parse_bandwidth(self, value: str) -> str:
        bwtype, colon, amount = value.partition(":")
        if not colon or not bwtype or not _is_number(amount):
            raise self.error("b= needs '<type>:<kilobits per second>'")
        return value

    def parse_attribute(self, value: str) -> Attribute:
        name, colon, rest = value.partition(":")
        if not name or any(c.isspace() for c in name):
            raise self.error("a= needs '<name>' or '<name>:<value>'")
        attribute = Attribute(name, rest if colon else None)
        _check_attribute(attribute)
        return attribute

    def parse_media(self, value: str) -> _Media:
        parts = value.split()
        if len(parts) < 4:
            raise self.error("m= needs '<media> <port> <proto> <format> ...'")
        port_text, slash, count_text = parts[1].partition("/")
        if not _is_number(port_text) or (slash and not _is_number(count_text)):
            raise self.error(f"port {parts[1]!r} is not a number")
        port = int(port_text)
        if port > 65535:
            raise self.error(f"port {port} out of range 0-65535")
        if "RTP/" in parts[2] and not all(_is_number(f) and int(f) <= 127 for f in parts[3:]):
            raise self.error("RTP formats must be payload type numbers 0-127")
        return _Media(
            parts[0], port, int(count_text) if slash else None, parts[2], tuple(parts[3:])
        )
