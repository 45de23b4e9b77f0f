"""The offer/answer model (RFC 3264) for one audio stream of G.711 and telephone-events.

Pure functions: build an offer, answer a remote offer, read the remote answer to our offer.
Each takes the previous local description of the session, if any, so that the origin line stays
the same and its version increases exactly when the description changes (RFC 3264 section 8).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from glasshouse.protocols.sdp.session import (
    Attribute,
    Connection,
    Direction,
    MediaDescription,
    Origin,
    RtpMap,
    SdpError,
    SessionDescription,
    Timing,
)

TELEPHONE_EVENT = "telephone-event"
AUDIO_PROTO = "RTP/AVP"


class NegotiationError(SdpError):
    """An answer does not fit the offer it answers (different m= lines, unoffered codecs)."""


@dataclass(frozen=True, slots=True)
class Codec:
    """A payload format we can use. For dynamic types, ``payload_type`` is the number we offer;
    in an answer the offerer's number is kept."""

    encoding: str
    clock_rate: int
    payload_type: int
    channels: int | None = None
    fmtp: str | None = None

    def matches(self, rtpmap: RtpMap) -> bool:
        return (
            rtpmap.encoding.casefold() == self.encoding.casefold()
            and rtpmap.clock_rate == self.clock_rate
            and (rtpmap.channels or 1) == (self.channels or 1)
        )

    @property
    def is_telephone_event(self) -> bool:
        return self.encoding.casefold() == TELEPHONE_EVENT


PCMU = Codec("PCMU", 8000, 0)
PCMA = Codec("PCMA", 8000, 8)
DTMF = Codec(TELEPHONE_EVENT, 8000, 101, fmtp="0-16")
DEFAULT_CODECS = (PCMU, PCMA, DTMF)


@dataclass(frozen=True, slots=True)
class NegotiatedAudio:
    """What the media layer needs once offer and answer agree."""

    index: int  # of the m= line
    codec: Codec  # with the payload type both sides use
    telephone_event: int | None  # payload type, if both sides do RFC 4733
    remote_address: str | None
    remote_port: int
    remote_rtcp_port: int
    direction: Direction  # ours: what we may send and receive
    ptime: int | None  # the packetisation the remote side asked for


@dataclass(frozen=True, slots=True)
class Answer:
    description: SessionDescription
    audio: NegotiatedAudio | None  # None: every stream was rejected (SIP 488)


def _address_type(address: str) -> str:
    return "IP6" if ":" in address else "IP4"


def _versioned(
    description: SessionDescription, previous: SessionDescription | None
) -> SessionDescription:
    """Give ``description`` the previous origin line, with the version increased if anything
    else changed."""
    if previous is None:
        return description
    same = replace(description, origin=previous.origin) == previous
    version = previous.origin.session_version + (0 if same else 1)
    return replace(description, origin=replace(previous.origin, session_version=version))


def _session(
    address: str, session_id: str, username: str, media: tuple[MediaDescription, ...]
) -> SessionDescription:
    address_type = _address_type(address)
    return SessionDescription(
        origin=Origin(username, session_id, 0, "IN", address_type, address),
        session_name="-",
        connection=Connection(address, address_type),
        timing=(Timing(0, 0),),
        media=media,
    )


def _check_previous(session_id: str, previous: SessionDescription | None) -> None:
    if previous is not None and previous.origin.session_id != session_id:
        raise ValueError(
            f"session_id {session_id!r} differs from the previous description's "
            f"{previous.origin.session_id!r}"
        )


def _codec_attributes(codecs: Sequence[Codec], ptime: int | None) -> list[Attribute]:
    attributes = []
    for c in codecs:
        rtpmap = RtpMap(c.payload_type, c.encoding, c.clock_rate, c.channels)
        attributes.append(Attribute("rtpmap", str(rtpmap)))
        if c.fmtp is not None:
            attributes.append(Attribute("fmtp", f"{c.payload_type} {c.fmtp}"))
    if ptime is not None:
        attributes.append(Attribute("ptime", str(ptime)))
    return attributes


def build_offer(
    address: str,
    port: int,
    *,
    session_id: str,
    codecs: Sequence[Codec] = DEFAULT_CODECS,
    direction: Direction = Direction.SENDRECV,
    ptime: int | None = 20,
    username: str = "-",
    previous: SessionDescription | None = None,
) -> SessionDescription:
    """An offer of one audio stream at ``address:port`` with ``codecs`` in preference order.
    Pass our last description of the session as ``previous`` for a re-offer (hold: ``direction``
    sendonly, or inactive)."""
    _check_previous(session_id, previous)
    if not codecs:
        raise ValueError("an offer needs at least one codec")
    attributes = _codec_attributes(codecs, ptime)
    attributes.append(Attribute(direction.value))
    media = MediaDescription(
        media="audio",
        port=port,
        proto=AUDIO_PROTO,
        formats=tuple(str(c.payload_type) for c in codecs),
        attributes=tuple(attributes),
    )
    return _versioned(_session(address, session_id, username, (media,)), previous)


def _offered_codec(offer: MediaDescription, codec: Codec) -> Codec | None:
    """``codec`` with the offer's payload type number, if the offer has it."""
    for pt in offer.payload_types:
        rtpmap = offer.rtpmap(pt)
        if rtpmap is not None and codec.matches(rtpmap):
            return replace(codec, payload_type=pt)
    return None


def _parse_events(text: str) -> set[int]:
    events: set[int] = set()
    for item in text.split(","):
        low, dash, high = item.strip().partition("-")
        try:
            if dash:
                events.update(range(int(low), int(high) + 1))
            elif low:
                events.add(int(low))
        except ValueError:
            continue  # an unreadable item: keep what we can understand
    return events


def _format_events(events: set[int]) -> str:
    ranges: list[str] = []
    for event in sorted(events):
        if ranges and event - 1 in events:
            start = ranges[-1].split("-")[0]
            ranges[-1] = f"{start}-{event}"
        else:
            ranges.append(str(event))
    return ",".join(ranges)


def _offered_direction(remote: SessionDescription, media: MediaDescription) -> Direction:
    """The remote side's direction for a stream, as it states it."""
    direction = remote.direction(media)
    connection = remote.connection_for(media)
    if connection is not None and connection.is_hold_address:
        # c=0.0.0.0 (RFC 2543 hold): the remote side does not want to receive.
        direction = Direction.from_flags(direction.sends, False)
    return direction


def _rejected(media: MediaDescription) -> MediaDescription:
    return MediaDescription(media.media, 0, media.proto, media.formats)


def build_answer(
    offer: SessionDescription,
    address: str,
    port: int,
    *,
    session_id: str,
    codecs: Sequence[Codec] = DEFAULT_CODECS,
    direction: Direction = Direction.SENDRECV,
    ptime: int | None = 20,
    username: str = "-",
    previous: SessionDescription | None = None,
) -> Answer:
    """Answer ``offer``: the first audio stream over RTP/AVP with a codec in common is accepted
    with our most preferred such codec (and telephone-event if both sides have it), keeping the
    offerer's payload type numbers; every other stream is rejected with port 0. The direction is
    ours (``direction``) limited by the offer's: an offer to send only (hold) gets recvonly."""
    _check_previous(session_id, previous)
    audio_codecs = [c for c in codecs if not c.is_telephone_event]
    event_codecs = [c for c in codecs if c.is_telephone_event]
    answered: list[MediaDescription] = []
    audio: NegotiatedAudio | None = None
    for index, media in enumerate(offer.media):
        chosen = None
        if (
            audio is None
            and media.port != 0
            and media.media == "audio"
            and media.proto == AUDIO_PROTO
        ):
            chosen = next(
                (found for c in audio_codecs if (found := _offered_codec(media, c)) is not None),
                None,
            )
        if chosen is None:
            answered.append(_rejected(media))
            continue
        accepted = [chosen]
        events = None
        for codec in event_codecs:
            offered = _offered_codec(media, codec)
            if offered is None or offered.clock_rate != chosen.clock_rate:
                continue
            # RFC 4733: no "events" parameter means 0-15.
            theirs = _parse_events(media.fmtp(offered.payload_type) or "0-15")
            common = theirs & _parse_events(codec.fmtp or "0-15")
            if common:
                events = replace(offered, fmtp=_format_events(common))
                accepted.append(events)
                break
        offered_direction = _offered_direction(offer, media)
        ours = Direction.from_flags(
            direction.sends and offered_direction.receives,
            direction.receives and offered_direction.sends,
        )
        attributes = _codec_attributes(accepted, ptime)
        attributes.append(Attribute(ours.value))
        answered.append(
            MediaDescription(
                media="audio",
                port=port,
                proto=media.proto,
                formats=tuple(str(c.payload_type) for c in accepted),
                attributes=tuple(attributes),
            )
        )
        audio = _negotiated(index, offer, media, chosen, events, ours)
    description = _session(address, session_id, username, tuple(answered))
    return Answer(_versioned(description, previous), audio)


def _negotiated(
    index: int,
    remote: SessionDescription,
    media: MediaDescription,
    codec: Codec,
    events: Codec | None,
    direction: Direction,
) -> NegotiatedAudio:
    connection = remote.connection_for(media)
    rtcp = media.rtcp
    return NegotiatedAudio(
        index=index,
        codec=codec,
        telephone_event=None if events is None else events.payload_type,
        remote_address=None if connection is None else connection.address.split("/")[0],
        remote_port=media.port,
        remote_rtcp_port=media.port + 1 if rtcp is None else rtcp.port,
        direction=direction,
        ptime=media.ptime,
    )


def accept_answer(offer: SessionDescription, answer: SessionDescription) -> NegotiatedAudio | None:
    """Read the remote answer to our ``offer``: the first accepted audio stream, or None if the
    answer rejected them all. Raises ``NegotiationError`` if the answer does not fit the offer."""
    if len(answer.media) != len(offer.media):
        raise NegotiationError(
            f"the answer has {len(answer.media)} m= lines, the offer had {len(offer.media)}"
        )
    for index, (ours, theirs) in enumerate(zip(offer.media, answer.media, strict=True)):
        if theirs.port == 0 or ours.port == 0 or theirs.media != "audio":
            continue
        offered = set(ours.payload_types)
        codec = None
        events = None
        for pt in theirs.payload_types:
            if pt not in offered:
                raise NegotiationError(f"m= line {index + 1}: payload type {pt} was not offered")
            rtpmap = ours.rtpmap(pt)
            if rtpmap is None:
                continue
            if rtpmap.encoding.casefold() == TELEPHONE_EVENT:
                if events is None:
                    events = Codec(rtpmap.encoding, rtpmap.clock_rate, pt, rtpmap.channels)
            elif codec is None:
                codec = Codec(rtpmap.encoding, rtpmap.clock_rate, pt, rtpmap.channels)
        if codec is None:
            raise NegotiationError(f"m= line {index + 1}: the answer accepts no audio codec")
        # The answer's direction is the remote side's; ours is its mirror image, within what
        # we offered.
        allowed = _offered_direction(answer, theirs).reversed()
        offered_direction = offer.direction(ours)
        direction = Direction.from_flags(
            allowed.sends and offered_direction.sends,
            allowed.receives and offered_direction.receives,
        )
        return _negotiated(index, answer, theirs, codec, events, direction)
    return None
