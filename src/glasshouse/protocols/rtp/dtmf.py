"""DTMF: RFC 4733 telephone-events (payload, sender, receiver) and in-band tones (generator and
Goertzel detector), all sans-I/O: packets and time in, digits and packets out."""

from __future__ import annotations

import math
import struct
import sys
from array import array
from dataclasses import dataclass
from operator import mul

from glasshouse.protocols.rtp.packet import RtpPacket, seq_add, timestamp_diff

DIGITS = "0123456789*#ABCD"  # RFC 4733 events 0-15, in event-code order
DEFAULT_PAYLOAD_TYPE = 101
_EVENT = struct.Struct("!BBH")

# Row (low group) and column (high group) frequencies, in Hz.
ROW_FREQUENCIES = (697, 770, 852, 941)
COLUMN_FREQUENCIES = (1209, 1336, 1477, 1633)
_KEYPAD = ("123A", "456B", "789C", "*0#D")  # [row][column]
_TONES = {
    key: (ROW_FREQUENCIES[r], COLUMN_FREQUENCIES[c])
    for r, keys in enumerate(_KEYPAD)
    for c, key in enumerate(keys)
}


class DtmfError(ValueError):
    """A telephone-event payload or a digit is invalid."""


def digit_to_event(digit: str) -> int:
    """RFC 4733 event code of a DTMF digit (``0-9``, ``*``, ``#``, ``A-D``; case-insensitive)."""
    index = DIGITS.find(digit.upper()) if len(digit) == 1 else -1
    if index < 0:
        raise DtmfError(f"not a DTMF digit: {digit!r}")
    return index


def event_to_digit(event: int) -> str:
    if not 0 <= event <= 15:
        raise DtmfError(f"event {event} is not a DTMF digit (0-15)")
    return DIGITS[event]


# ---------------------------------------------------------------------------------------------
# RFC 4733 payload


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """One RFC 4733 telephone-event payload: event code, end bit, volume (-dBm0), duration in
    timestamp units since the event's timestamp."""

    event: int
    end: bool = False
    volume: int = 10
    duration: int = 0

    @classmethod
    def parse(cls, data: bytes) -> TelephoneEvent:
        if len(data) != 4:
            raise DtmfError(f"telephone-event payload must be 4 bytes, got {len(data)}")
        event, flags, duration = _EVENT.unpack(data)
        # The R bit (0x40) is reserved: senders set it to zero, receivers ignore it.
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    def __bytes__(self) -> bytes:
        if not 0 <= self.event <= 255:
            raise DtmfError(f"event {self.event} out of range 0-255")
        if not 0 <= self.volume <= 63:
            raise DtmfError(f"volume {self.volume} out of range 0-63")
        if not 0 <= self.duration <= 0xFFFF:
            raise DtmfError(f"duration {self.duration} out of range 0-65535")
        return _EVENT.pack(self.event, (0x80 if self.end else 0) | self.volume, self.duration)


@dataclass(frozen=True, slots=True)
class DtmfDigit:
    """One key press: the digit, when it started and how long it lasted, in ``clock_rate`` units.
    ``ended`` is False when the press was closed by a timeout or the next press because its end
    packets were lost (the duration is then the last one seen)."""

    digit: str
    timestamp: int
    duration: int
    clock_rate: int = 8000
    ended: bool = True

    @property
    def duration_ms(self) -> float:
        return self.duration * 1000 / self.clock_rate


# ---------------------------------------------------------------------------------------------
# Receiver


@dataclass(slots=True)
class _Press:
    event: int
    start: int  # timestamp of the first segment
    segment: int  # timestamp of the current segment (long events restart it, RFC 4733 2.5.1.3)
    offset: int  # duration of the earlier segments
    duration: int  # longest duration seen in the current segment
    last_seen: float


class DtmfReceiver:
    """Turns telephone-event packets into exactly one ``DtmfDigit`` per key press.

    A press is identified by its RTP timestamp, so duplicates, the redundant end packets and
    reordered updates fold into one. A press whose end packets are all lost is closed by the
    next press or, ``timeout`` seconds after its last packet, by ``poll``. Events other than the
    16 DTMF digits are ignored.
    """

    def __init__(self, clock_rate: int = 8000, timeout: float = 0.3) -> None:
        self._clock_rate = clock_rate
        self._timeout = timeout
        self._ssrc: int | None = None
        self._active: _Press | None = None
        self._finished: int | None = None  # segment timestamp of the last reported press

    def receive(self, packet: RtpPacket, now: float) -> list[DtmfDigit]:
        """Feed one telephone-event packet; returns the presses it completed (zero to two).
        Raises ``DtmfError`` for a malformed payload, leaving the receiver unchanged."""
        event = TelephoneEvent.parse(packet.payload)
        out: list[DtmfDigit] = []
        if packet.ssrc != self._ssrc:
            if self._ssrc is not None:
                self._close(out, ended=False)
                self._finished = None
            self._ssrc = packet.ssrc
        if event.event > 15:
            return out
        ts = packet.timestamp
        active = self._active
        if active is not None and ts == active.segment:
            active.last_seen = now
            if event.event == active.event:
                active.duration = max(active.duration, event.duration)
                if event.end:
                    self._close(out, ended=True)
            return out
        if self._finished is not None and timestamp_diff(ts, self._finished) <= 0:
            return out  # a late or repeated packet of a press already reported
        if active is not None:
            if timestamp_diff(ts, active.segment) < 0:
                return out  # an update from before the current segment
            gap = timestamp_diff(ts, active.segment)
            if event.event == active.event and not packet.marker and gap <= active.duration:
                # The next segment of a long press (its start falls inside what we saw).
                active.offset += gap
                active.segment = ts
                active.duration = event.duration
                active.last_seen = now
                if event.end:
                    self._close(out, ended=True)
                return out
            self._close(out, ended=False)
        self._active = _Press(event.event, ts, ts, 0, event.duration, now)
        if event.end:
            self._close(out, ended=True)
        return out

    def poll(self, now: float) -> list[DtmfDigit]:
        """Close a press whose end packets never came, ``timeout`` after its last packet."""
        out: list[DtmfDigit] = []
        active = self._active
        if active is not None and now - active.last_seen >= self._timeout:
            self._close(out, ended=False)
        return out

    def next_deadline(self) -> float | None:
        """When ``poll`` next has something to do, or None."""
        active = self._active
        return None if active is None else active.last_seen + self._timeout

    def _close(self, out: list[DtmfDigit], *, ended: bool) -> None:
        active = self._active
        if active is None:
            return
        self._active = None
        self._finished = active.segment
        out.append(
            DtmfDigit(
                DIGITS[active.event],
                active.start,
                active.offset + active.duration,
                self._clock_rate,
                ended,
            )
        )


# ---------------------------------------------------------------------------------------------
# Sender


@dataclass(frozen=True, slots=True)
class ScheduledPacket:
    """A packet and when to send it, in seconds after the key press."""

    offset: float
    packet: RtpPacket


class DtmfSender:
    """The RFC 4733 packets for one key press: the first with the marker bit, an update every
    ``update_interval`` seconds, then ``end_packets`` identical end packets (each with its own
    sequence number) sent together."""

    def __init__(
        self,
        payload_type: int = DEFAULT_PAYLOAD_TYPE,
        clock_rate: int = 8000,
        update_interval: float = 0.05,
        end_packets: int = 3,
        volume: int = 10,
    ) -> None:
        if update_interval <= 0:
            raise ValueError(f"update_interval must be positive, got {update_interval}")
        if end_packets < 1:
            raise ValueError(f"end_packets must be at least 1, got {end_packets}")
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self.update_interval = update_interval
        self.end_packets = end_packets
        self.volume = volume

    def packets(
        self, digit: str, duration_ms: int, *, timestamp: int, sequence_number: int, ssrc: int
    ) -> list[ScheduledPacket]:
        """Every packet for pressing ``digit`` for ``duration_ms``; the caller's RTP stream then
        continues at ``sequence_number + len(result)``."""
        event = digit_to_event(digit)
        total = duration_ms * self.clock_rate // 1000
        if not 0 < total <= 0xFFFF:
            raise DtmfError(
                f"duration {duration_ms} ms must be positive and fit in 65535 timestamp units"
            )
        step = round(self.update_interval * self.clock_rate)
        out: list[ScheduledPacket] = []
        seq = sequence_number
        elapsed = step
        while elapsed < total:
            payload = bytes(TelephoneEvent(event, False, self.volume, elapsed))
            packet = RtpPacket(self.payload_type, seq, timestamp, ssrc, payload, not out)
            out.append(ScheduledPacket(elapsed / self.clock_rate, packet))
            seq = seq_add(seq, 1)
            elapsed += step
        end = bytes(TelephoneEvent(event, True, self.volume, total))
        for _ in range(self.end_packets):
            packet = RtpPacket(self.payload_type, seq, timestamp, ssrc, end, not out)
            out.append(ScheduledPacket(total / self.clock_rate, packet))
            seq = seq_add(seq, 1)
        return out


# ---------------------------------------------------------------------------------------------
# In-band tones


def _to_le16(samples: array[int]) -> bytes:
    if sys.byteorder != "little":
        samples.byteswap()
    return samples.tobytes()


def dtmf_tone(
    digit: str, duration_ms: float, *, sample_rate: int = 8000, level_dbov: float = -10.0
) -> bytes:
    """The two-tone signal of ``digit`` as 16-bit little-endian PCM; ``level_dbov`` is the level
    of each tone relative to a full-scale sine."""
    row, column = _TONES[event_to_digit(digit_to_event(digit))]
    if level_dbov > -6.03:
        raise DtmfError(f"level_dbov {level_dbov} would clip: each tone must be below -6.03")
    amplitude = 32767 * 10 ** (level_dbov / 20)
    low = 2 * math.pi * row / sample_rate
    high = 2 * math.pi * column / sample_rate
    count = round(duration_ms * sample_rate / 1000)
    samples = array(
        "h",
        (round(amplitude * (math.sin(low * n) + math.sin(high * n))) for n in range(count)),
    )
    return _to_le16(samples)


def dtmf_tones(
    digits: str,
    *,
    tone_ms: float = 100,
    gap_ms: float = 100,
    sample_rate: int = 8000,
    level_dbov: float = -10.0,
) -> bytes:
    """Tones for each digit, each followed by ``gap_ms`` of silence."""
    gap = bytes(2 * round(gap_ms * sample_rate / 1000))
    return b"".join(
        dtmf_tone(d, tone_ms, sample_rate=sample_rate, level_dbov=level_dbov) + gap for d in digits
    )


def goertzel_power(samples: array[int] | list[float], frequency: float, sample_rate: int) -> float:
    """Squared magnitude of the DFT of ``samples`` at ``frequency`` (Goertzel's recurrence). For
    a sine of amplitude A over N samples it is about (A * N / 2) ** 2."""
    return _goertzel(samples, 2 * math.cos(2 * math.pi * frequency / sample_rate))


def _goertzel(samples: array[int] | list[float], coefficient: float) -> float:
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coefficient * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coefficient * s1 * s2


class InbandDtmfDetector:
    """Finds DTMF tones in 16-bit linear PCM fed in frames of any size.

    Each block of ``block_size`` samples (205 at 8 kHz: bins about 39 Hz apart) is classified by
    the Goertzel powers of the 8 DTMF frequencies: the strongest row and column must carry most
    of the block's energy, be above ``min_level_dbov``, stand 8 dB above the other tones of their
    group, and be within 8 dB (normal) or 4 dB (reverse) twist of each other. A digit needs two
    consecutive blocks and ends at the first block without it, so tones and pauses of at least
    about 80 ms are always found. Digits are reported when they end, stamped in samples.
    """

    def __init__(
        self,
        sample_rate: int = 8000,
        block_size: int = 205,
        min_level_dbov: float = -30.0,
        min_tone_fraction: float = 0.7,
    ) -> None:
        self._rate = sample_rate
        self._block = block_size
        self._min_tone_fraction = min_tone_fraction
        self._coefficients = tuple(
            2 * math.cos(2 * math.pi * f / sample_rate)
            for f in ROW_FREQUENCIES + COLUMN_FREQUENCIES
        )
        # A tone of amplitude A gives a power of (A * N / 2) ** 2.
        amplitude = 32767 * 10 ** (min_level_dbov / 20)
        self._min_power = (amplitude * block_size / 2) ** 2
        # Mean square of the quietest acceptable pair of tones: skips Goertzel on silence.
        self._min_energy = amplitude * amplitude * block_size
        self._pending = b""
        self._position = 0  # samples consumed into whole blocks
        self._candidate: str | None = None
        self._candidate_start = 0
        self._current: str | None = None
        self._current_start = 0
        self._current_end = 0

    def feed(self, pcm: bytes) -> list[DtmfDigit]:
        """Consume 16-bit little-endian PCM; returns the digits that ended inside it."""
        data = self._pending + pcm
        block_bytes = 2 * self._block
        whole = len(data) - len(data) % block_bytes
        out: list[DtmfDigit] = []
        for start in range(0, whole, block_bytes):
            samples = array("h")
            samples.frombytes(data[start : start + block_bytes])
            if sys.byteorder != "little":
                samples.byteswap()
            self._step(self._classify(samples), out)
        self._pending = data[whole:]
        return out

    def flush(self) -> list[DtmfDigit]:
        """End of the stream: report a digit still sounding."""
        out: list[DtmfDigit] = []
        self._end_current(out)
        self._candidate = None
        return out

    def _classify(self, samples: array[int]) -> str | None:
        energy = sum(map(mul, samples, samples))
        if energy < self._min_energy:
            return None
        powers = [_goertzel(samples, c) for c in self._coefficients]
        rows, columns = powers[:4], powers[4:]
        row = max(range(4), key=rows.__getitem__)
        column = max(range(4), key=columns.__getitem__)
        row_power = rows[row]
        column_power = columns[column]
        if row_power < self._min_power or column_power < self._min_power:
            return None
        # For a pure pair of tones, 2 * (row + column power) equals N * energy.
        if 2 * (row_power + column_power) < self._min_tone_fraction * self._block * energy:
            return None
        if column_power * 6.31 < row_power or column_power > row_power * 2.51:
            return None
        for group, peak in ((rows, row), (columns, column)):
            if any(group[i] * 6.31 > group[peak] for i in range(4) if i != peak):
                return None
        return _KEYPAD[row][column]

    def _step(self, found: str | None, out: list[DtmfDigit]) -> None:
        start = self._position
        self._position += self._block
        if found is not None and found == self._current:
            self._current_end = self._position
            return
        self._end_current(out)
        if found is not None and found == self._candidate:
            self._current = found
            self._current_start = self._candidate_start
            self._current_end = self._position
            self._candidate = None
        else:
            self._candidate = found
            self._candidate_start = start

    def _end_current(self, out: list[DtmfDigit]) -> None:
        if self._current is not None:
            out.append(
                DtmfDigit(
                    self._current,
                    self._current_start,
                    self._current_end - self._current_start,
                    self._rate,
                )
            )
            self._current = None
