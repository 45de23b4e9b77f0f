"""A small jitter buffer for constant-rate audio: packets in as they arrive, one frame out per
clock tick. Time is a parameter; the buffer never reads a clock.

Playout is by sequence number, one packet per frame (``frame_ms``, the negotiated ptime), which
fits G.711 with silence suppression off (a pause in sending is still handled: it drains the
buffer, which then fills up to the target again).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from glasshouse.protocols.rtp.packet import RtpPacket, seq_diff

# A sequence number this far ahead of or behind the playout point means a new stream, not
# reordering (RFC 3550 A.1 uses the same limits to resynchronise).
_MAX_DROPOUT = 3000
_MAX_MISORDER = 100


class Concealment(enum.Enum):
    """How a frame whose packet is missing is filled."""

    SILENCE = "silence"
    REPEAT = "repeat"  # the previous frame, up to ``max_repeats`` times, then silence


class FrameKind(enum.Enum):
    AUDIO = "audio"  # the packet's payload
    REPEAT = "repeat"  # the previous frame again, for a missing packet
    SILENCE = "silence"  # comfort silence: missing packet, or nothing to play yet


@dataclass(frozen=True, slots=True)
class Frame:
    kind: FrameKind
    payload: bytes
    sequence_number: int | None = None  # the packet played, or None for a filled frame


@dataclass(slots=True)
class JitterStats:
    received: int = 0
    played: int = 0
    duplicates: int = 0
    late: int = 0  # arrived after their frame was played or concealed
    lost: int = 0  # frames concealed while later packets were waiting
    underruns: int = 0  # ticks with nothing buffered at all (loss, pause or a jitter spike)
    dropped: int = 0  # discarded to bring the depth back down
    resets: int = 0  # new SSRC or a sequence jump


class JitterBuffer:
    """Reorders packets by sequence number, drops duplicates and late packets, and plays out one
    ``frame_ms`` frame per ``tick``. Playout starts (and restarts after running dry) once the
    first packet has waited ``target_ms``. When the buffer stays more than a frame deeper than
    the target for a whole ``window_s`` (it started on a delayed packet, or the sender's clock
    runs fast) the excess is dropped, a frame per tick; past ``max_ms`` it is cut at once.

    With ``adaptive``, every late packet (and every underrun ended by the very packet it waited
    for, without a marker bit) raises the target by a frame, up to ``max_ms``, concealing one
    more frame to make room; each ``window_s`` without one lowers it a frame, down to ``min_ms``.

    ``silence`` is a payload, or a function returning one (e.g. ``ComfortNoise.frame``).
    """

    def __init__(
        self,
        silence: bytes | Callable[[], bytes],
        *,
        frame_ms: int = 20,
        target_ms: int = 60,
        max_ms: int = 300,
        adaptive: bool = False,
        min_ms: int = 20,
        window_s: float = 5.0,
        concealment: Concealment = Concealment.SILENCE,
        max_repeats: int = 2,
    ) -> None:
        if frame_ms <= 0:
            raise ValueError(f"frame_ms must be positive, got {frame_ms}")
        if not frame_ms <= min_ms <= target_ms <= max_ms:
            raise ValueError(
                f"need frame_ms <= min_ms <= target_ms <= max_ms, got "
                f"{frame_ms}, {min_ms}, {target_ms}, {max_ms}"
            )
        if callable(silence):
            self._silence = silence
        else:
            payload = bytes(silence)
            self._silence = lambda: payload
        self._frame_s = frame_ms / 1000
        self._min_frames = -(-min_ms // frame_ms)
        self._max_frames = -(-max_ms // frame_ms)
        self._target_frames = -(-target_ms // frame_ms)
        self._adaptive = adaptive
        self._window_s = window_s
        self._repeat = concealment is Concealment.REPEAT
        self._max_repeats = max_repeats
        self.stats = JitterStats()

        self._packets: dict[int, RtpPacket] = {}  # by extended sequence number
        self._ssrc: int | None = None
        self._next: int | None = None  # extended sequence number of the next frame
        self._highest = 0
        self._playing = False
        self._start_at: float | None = None
        self._last_payload: bytes | None = None
        self._repeats = 0
        self._hold = 0  # frames to conceal without advancing, to deepen the buffer
        self._drop = 0  # frames to skip, to make it shallower
        self._underrun_at: float | None = None
        self._window_start = 0.0
        self._window_low: int | None = None  # shallowest depth seen in this window
        self._deepened = False  # in this window

    @property
    def target_ms(self) -> float:
        return self._target_frames * self._frame_s * 1000

    @property
    def depth(self) -> int:
        """Frames from the playout point to the newest packet held, gaps included."""
        if self._next is None or not self._packets:
            return 0
        return self._highest - self._next + 1

    def put(self, packet: RtpPacket, now: float) -> None:
        """A packet has arrived at time ``now`` (seconds)."""
        stats = self.stats
        stats.received += 1
        if packet.ssrc != self._ssrc:
            if self._ssrc is not None:
                self._reset()
            self._ssrc = packet.ssrc
        anchor = self._next
        if anchor is None:
            ext = packet.sequence_number
            self._next = self._highest = ext
        else:
            distance = seq_diff(packet.sequence_number, anchor & 0xFFFF)
            if distance >= _MAX_DROPOUT or distance < -_MAX_MISORDER:
                self._reset()
                ext = packet.sequence_number
                self._next = self._highest = ext
            else:
                ext = anchor + distance
                if self._underrun_at is not None:
                    # The frame we ran dry waiting for came after all, within reach: the
                    # target is too shallow for this network (a pause would set the marker).
                    waited = now - self._underrun_at
                    awaited = ext == anchor and not packet.marker
                    if self._adaptive and awaited and waited <= self._max_frames * self._frame_s:
                        self._deepen(hold=False)
                    self._underrun_at = None
                if ext < anchor:
                    if self._playing or self._last_payload is not None:
                        stats.late += 1
                        if self._adaptive:
                            self._deepen(hold=True)
                        return
                    self._next = ext  # reordered before playout started
        packets = self._packets
        if ext in packets:
            stats.duplicates += 1
            return
        packets[ext] = packet
        if ext > self._highest:
            self._highest = ext
        if self._start_at is None:
            self._start_at = now + self._target_frames * self._frame_s

    def tick(self, now: float) -> Frame:
        """The frame to play at ``now``; call once per ``frame_ms``."""
        packets = self._packets
        if not self._playing:
            start_at = self._start_at
            if start_at is None or now < start_at or not packets:
                return self._fill()
            self._playing = True
            first = min(packets)
            nxt = self._next
            if nxt is None or nxt not in packets:
                if nxt is not None and first > nxt:
                    # resuming after an underrun: the frames between never came
                    self.stats.lost += first - nxt
                self._next = first
            self._window_start = now
            self._window_low = None
        nxt = self._next
        assert nxt is not None
        depth = self._highest - nxt + 1 if packets else 0
        self._observe(depth, now)
        if self._hold:
            self._hold -= 1
            return self._fill()
        skip_to = nxt
        if depth > self._max_frames:
            skip_to = self._highest - self._target_frames + 1  # keep the newest frames
        elif self._drop and depth > 1:
            self._drop -= 1
            skip_to = nxt + 1
        for ext in range(nxt, skip_to):
            if packets.pop(ext, None) is not None:
                self.stats.dropped += 1
        nxt = skip_to
        packet = packets.pop(nxt, None)
        if packet is not None:
            self._next = nxt + 1
            self.stats.played += 1
            self._last_payload = packet.payload
            self._repeats = 0
            return Frame(FrameKind.AUDIO, packet.payload, packet.sequence_number)
        if not packets:
            # Nothing at all to play: wait for the next packet and fill up to the target again.
            # The missing frame keeps its slot, in case it is only late.
            self._next = nxt
            self._playing = False
            self._start_at = None
            self.stats.underruns += 1
            self._underrun_at = now
            return self._fill()
        self._next = nxt + 1
        self.stats.lost += 1
        return self._fill()

    def _fill(self) -> Frame:
        last = self._last_payload  # None before the first frame of a stream
        if self._repeat and last is not None and self._repeats < self._max_repeats:
            self._repeats += 1
            return Frame(FrameKind.REPEAT, last)
        return Frame(FrameKind.SILENCE, self._silence())

    def _deepen(self, *, hold: bool) -> None:
        self._deepened = True
        if self._target_frames < self._max_frames:
            self._target_frames += 1
            if hold:
                self._hold += 1

    def _observe(self, depth: int, now: float) -> None:
        low = self._window_low
        if low is None or depth < low:
            self._window_low = low = depth
        if now - self._window_start < self._window_s:
            return
        if self._adaptive and not self._deepened and self._target_frames > self._min_frames:
            self._target_frames -= 1
        # On time, a tick finds the target plus the frame it is about to play.
        self._drop = max(self._drop, low - self._target_frames - 1)
        self._window_start = now
        self._window_low = None
        self._deepened = False

    def _reset(self) -> None:
        self.stats.resets += 1
        self._packets.clear()
        self._next = None
        self._highest = 0
        self._playing = False
        self._start_at = None
        self._last_payload = None
        self._repeats = 0
        self._hold = 0
        self._drop = 0
        self._underrun_at = None
