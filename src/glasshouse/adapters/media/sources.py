"""Audio sources that play into a call: prompts, playlists, loops (music on hold), silence and
tones. Each implements :class:`~glasshouse.adapters.media.source.AudioSource`.

Audio is encoded to both G.711 laws once, when it is loaded; a packet is then a 160-byte slice,
so 500 calls pulling 50 packets a second cost 25 000 slices, not 25 000 encodes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Final

import numpy as np

from glasshouse.adapters.media.audio import TELEPHONY_RATE, float_to_pcm16, read_telephony_pcm
from glasshouse.adapters.media.source import FRAME_MS, FRAME_SAMPLES, AudioSource
from glasshouse.protocols.rtp.g711 import (
    PCMA_PAYLOAD_TYPE,
    PCMA_SILENCE,
    PCMU_PAYLOAD_TYPE,
    PCMU_SILENCE,
    pcma_encode,
    pcmu_encode,
)

_SILENT_FRAMES: Final = {
    PCMU_PAYLOAD_TYPE: bytes((PCMU_SILENCE,)) * FRAME_SAMPLES,
    PCMA_PAYLOAD_TYPE: bytes((PCMA_SILENCE,)) * FRAME_SAMPLES,
}


class SourceError(ValueError):
    """A source was asked for something it cannot give (an unknown payload type, bad audio)."""


def _silent_frame(payload_type: int) -> bytes:
    """The silent payload of a law; also the check that ``payload_type`` is one we play."""
    frame = _SILENT_FRAMES.get(payload_type) if type(payload_type) is int else None
    if frame is None:
        raise _unsupported(payload_type)
    return frame


def _unsupported(payload_type: object) -> SourceError:
    return SourceError(
        f"payload type {payload_type!r} is not supported: audio sources play G.711 only "
        f"({PCMU_PAYLOAD_TYPE} = PCMU, {PCMA_PAYLOAD_TYPE} = PCMA)"
    )


class EncodedAudio:
    """8 kHz mono 16-bit linear audio with its PCMU and PCMA encodings, in whole 20 ms frames
    (a partial last frame is padded with silence). Immutable once built."""

    __slots__ = ("_by_type", "frames", "pcm")

    def __init__(self, pcm: bytes) -> None:
        if len(pcm) % 2:
            raise SourceError(
                f"linear PCM of {len(pcm)} bytes is not a whole number of 16-bit samples"
            )
        short = -(len(pcm) // 2) % FRAME_SAMPLES
        self.pcm: bytes = bytes(pcm) + b"\x00\x00" * short
        self.frames: int = len(self.pcm) // (2 * FRAME_SAMPLES)
        self._by_type: dict[int, bytes] = {
            PCMU_PAYLOAD_TYPE: pcmu_encode(self.pcm),
            PCMA_PAYLOAD_TYPE: pcma_encode(self.pcm),
        }

    @classmethod
    def from_wav(cls, path: Path) -> EncodedAudio:
        """Load any supported WAV file (converted to 8 kHz mono)."""
        return cls(read_telephony_pcm(path))

    @property
    def duration_ms(self) -> int:
        return self.frames * FRAME_MS

    @property
    def size_bytes(self) -> int:
        """Memory held: the linear audio and both encodings."""
        return len(self.pcm) + 2 * self.frames * FRAME_SAMPLES

    def encoded(self, payload_type: int) -> bytes:
        """The whole audio in the law of ``payload_type`` (0 = PCMU, 8 = PCMA)."""
        encoded = self._by_type.get(payload_type) if type(payload_type) is int else None
        if encoded is None:
            raise _unsupported(payload_type)
        return encoded

    def frame(self, payload_type: int, index: int) -> bytes:
        """The ``index``-th 20 ms payload (160 bytes)."""
        if not 0 <= index < self.frames:
            raise SourceError(f"frame {index} out of range 0-{self.frames - 1}")
        start = index * FRAME_SAMPLES
        return self.encoded(payload_type)[start : start + FRAME_SAMPLES]

    def __repr__(self) -> str:
        return f"EncodedAudio({self.duration_ms} ms)"


class PromptSource:
    """Plays ``audio`` once, then is finished."""

    __slots__ = ("_audio", "_next")

    def __init__(self, audio: EncodedAudio) -> None:
        self._audio = audio
        self._next = 0

    def next_payload(self, payload_type: int) -> bytes | None:
        encoded = self._audio.encoded(payload_type)
        start = self._next * FRAME_SAMPLES
        if self._next >= self._audio.frames:
            return None
        self._next += 1
        return encoded[start : start + FRAME_SAMPLES]

    def stop(self) -> None:
        """Finish now: the next pull returns ``None``."""
        self._next = self._audio.frames

    @property
    def position_ms(self) -> int:
        """How much has been played."""
        return self._next * FRAME_MS


class LoopSource:
    """Plays ``audio`` over and over (music on hold) until :meth:`stop` is called."""

    __slots__ = ("_audio", "_next", "_stopped")

    def __init__(self, audio: EncodedAudio) -> None:
        if audio.frames == 0:
            raise SourceError("cannot loop empty audio")
        self._audio = audio
        self._next = 0
        self._stopped = False

    def next_payload(self, payload_type: int) -> bytes | None:
        encoded = self._audio.encoded(payload_type)
        if self._stopped:
            return None
        start = self._next * FRAME_SAMPLES
        self._next = (self._next + 1) % self._audio.frames
        return encoded[start : start + FRAME_SAMPLES]

    def stop(self) -> None:
        """Finish now: the next pull returns ``None``."""
        self._stopped = True


class SilenceSource:
    """``ms`` of digital silence (rounded up to whole 20 ms frames)."""

    __slots__ = ("_left",)

    def __init__(self, ms: int) -> None:
        if isinstance(ms, bool) or not isinstance(ms, int) or ms < 0:
            raise SourceError(f"silence length must be a non-negative whole number of ms: {ms!r}")
        self._left = -(-ms // FRAME_MS)

    def next_payload(self, payload_type: int) -> bytes | None:
        frame = _silent_frame(payload_type)
        if self._left <= 0:
            return None
        self._left -= 1
        return frame

    def stop(self) -> None:
        """Finish now: the next pull returns ``None``."""
        self._left = 0


def tone_audio(freq_hz: float, ms: int, level_dbfs: float = -10.0) -> EncodedAudio:
    """A sine tone of peak level ``level_dbfs`` (0 = full scale), with 5 ms ramps at each end so
    it starts and stops without a click."""
    if not isinstance(freq_hz, int | float) or not 0 < freq_hz < TELEPHONY_RATE / 2:
        raise SourceError(f"tone frequency must be between 0 and 4000 Hz, got {freq_hz!r}")
    if isinstance(ms, bool) or not isinstance(ms, int) or ms < 0:
        raise SourceError(f"tone length must be a non-negative whole number of ms: {ms!r}")
    if not isinstance(level_dbfs, int | float) or not -120.0 <= level_dbfs <= 0.0:
        raise SourceError(f"tone level must be between -120 and 0 dBFS, got {level_dbfs!r}")
    count = ms * TELEPHONY_RATE // 1000
    t = np.arange(count, dtype=np.float64) / TELEPHONY_RATE
    wave = 10.0 ** (level_dbfs / 20.0) * np.sin(2.0 * math.pi * freq_hz * t)
    ramp = min(count // 2, TELEPHONY_RATE * 5 // 1000)
    if ramp:
        shape = 0.5 - 0.5 * np.cos(np.linspace(0.0, math.pi, ramp))
        wave[:ramp] *= shape
        wave[count - ramp :] *= shape[::-1]
    return EncodedAudio(float_to_pcm16(wave * (32767.0 / 32768.0)))


class ToneSource(PromptSource):
    """Plays a ``freq_hz`` sine for ``ms`` at ``level_dbfs`` peak (see :func:`tone_audio`)."""

    __slots__ = ()

    def __init__(self, freq_hz: float, ms: int, level_dbfs: float = -10.0) -> None:
        super().__init__(tone_audio(freq_hz, ms, level_dbfs))


class Playlist:
    """Plays its sources one after the other; finished when the last one is. Encoded audio in
    the list is played once, as a :class:`PromptSource`."""

    __slots__ = ("_current", "_sources")

    def __init__(self, sources: Iterable[AudioSource | EncodedAudio]) -> None:
        self._sources: list[AudioSource] = [
            PromptSource(s) if isinstance(s, EncodedAudio) else s for s in sources
        ]
        self._current = 0

    def next_payload(self, payload_type: int) -> bytes | None:
        _silent_frame(payload_type)
        while self._current < len(self._sources):
            payload = self._sources[self._current].next_payload(payload_type)
            if payload is not None:
                return payload
            self._current += 1
        return None

    def stop(self) -> None:
        """Finish now (the sources it holds are left as they are)."""
        self._current = len(self._sources)
