"""G.711 PCMU (mu-law) and PCMA (A-law), per ITU-T G.711.

Linear audio is 16-bit signed little-endian PCM in ``bytes``; G.711 audio is one code per sample.
Every conversion is a table look-up built once at import: decoding and PCMU<->PCMA transcoding are
``bytes.translate`` calls, encoding indexes a 65536-entry table by the raw 16-bit sample.
"""

from __future__ import annotations

import enum
import random
import sys
from array import array
from collections.abc import Callable
from operator import itemgetter

PCMU_PAYLOAD_TYPE = 0
PCMA_PAYLOAD_TYPE = 8
PCMU_SILENCE = 0xFF  # of the two mu-law zeros (0xFF, 0x7F), the one an encoder produces for 0
PCMA_SILENCE = 0xD5  # A-law has no zero: +8 is the quietest positive level


class G711Error(ValueError):
    """Input cannot be converted (for example, linear PCM that is not whole 16-bit samples)."""


class G711Law(enum.StrEnum):
    PCMU = "PCMU"
    PCMA = "PCMA"

    @property
    def payload_type(self) -> int:
        """The static RTP payload type (RFC 3551)."""
        return PCMU_PAYLOAD_TYPE if self is G711Law.PCMU else PCMA_PAYLOAD_TYPE

    @property
    def silence_code(self) -> int:
        return PCMU_SILENCE if self is G711Law.PCMU else PCMA_SILENCE


# ---------------------------------------------------------------------------------------------
# One sample at a time: the definition every table below is built from.


def pcmu_encode_sample(sample: int) -> int:
    """Mu-law code of a 16-bit sample (G.711 on its 14-bit input: the low 2 bits are dropped)."""
    value = sample >> 2
    if value < 0:
        value, mask = -value, 0x7F
    else:
        mask = 0xFF
    value = min(value, 8159) + 0x21  # clip, then add the bias of 33
    segment = (value >> 6).bit_length()
    if segment >= 8:
        return 0x7F ^ mask
    return ((segment << 4) | ((value >> (segment + 1)) & 0x0F)) ^ mask


def pcmu_decode_sample(code: int) -> int:
    """16-bit linear value of a mu-law code (0xFF and 0x7F both decode to 0)."""
    inverted = ~code & 0xFF
    value = (((inverted & 0x0F) << 3) + 0x84) << ((inverted & 0x70) >> 4)
    return 0x84 - value if inverted & 0x80 else value - 0x84


def pcma_encode_sample(sample: int) -> int:
    """A-law code of a 16-bit sample (G.711 on its 13-bit input: the low 3 bits are dropped)."""
    value = sample >> 3
    if value >= 0:
        mask = 0xD5
    else:
        value, mask = -value - 1, 0x55
    segment = (value >> 5).bit_length()  # at most 7 for a 13-bit input
    shift = 1 if segment < 2 else segment
    return ((segment << 4) | ((value >> shift) & 0x0F)) ^ mask


def pcma_decode_sample(code: int) -> int:
    """16-bit linear value of an A-law code (even bits are inverted on the wire: XOR 0x55)."""
    code ^= 0x55
    mantissa = (code & 0x0F) << 4
    segment = (code & 0x70) >> 4
    value = mantissa + 8 if segment == 0 else (mantissa + 0x108) << (segment - 1)
    return value if code & 0x80 else -value


# ---------------------------------------------------------------------------------------------
# Tables


PCMU_TO_LINEAR: tuple[int, ...] = tuple(pcmu_decode_sample(c) for c in range(256))
PCMA_TO_LINEAR: tuple[int, ...] = tuple(pcma_decode_sample(c) for c in range(256))
PCMU_TO_PCMA: bytes = bytes(pcma_encode_sample(v) for v in PCMU_TO_LINEAR)
PCMA_TO_PCMU: bytes = bytes(pcmu_encode_sample(v) for v in PCMA_TO_LINEAR)

# Low and high bytes of each code's linear value, for decoding with two translate calls.
_PCMU_LOW = bytes(v & 0xFF for v in PCMU_TO_LINEAR)
_PCMU_HIGH = bytes((v >> 8) & 0xFF for v in PCMU_TO_LINEAR)
_PCMA_LOW = bytes(v & 0xFF for v in PCMA_TO_LINEAR)
_PCMA_HIGH = bytes((v >> 8) & 0xFF for v in PCMA_TO_LINEAR)


def _expand(coarse: bytes, dropped_bits: int) -> bytes:
    """Table indexed by an unsigned 16-bit sample, from one indexed by the sample's top bits."""
    table = bytearray(65536)
    step = 1 << dropped_bits
    for offset in range(step):
        table[offset::step] = coarse
    return bytes(table)


def _swap_index(table: bytes) -> bytes:
    """Re-index a 65536-entry table from little-endian to big-endian sample bytes."""
    swapped = bytearray(65536)
    for low in range(256):
        swapped[low * 256 : low * 256 + 256] = table[low::256]
    return bytes(swapped)


def _encode_table(encode_sample: Callable[[int], int], dropped_bits: int) -> bytes:
    size = 1 << (16 - dropped_bits)
    half = size // 2
    # Index k holds the top bits of an unsigned 16-bit value, so k >= half is a negative sample.
    coarse = bytes(
        encode_sample((k if k < half else k - size) << dropped_bits) for k in range(size)
    )
    table = _expand(coarse, dropped_bits)
    # ``array("H")`` reads samples in the machine's byte order; the wire order is little-endian.
    return table if sys.byteorder == "little" else _swap_index(table)


_PCMU_ENCODE = _encode_table(pcmu_encode_sample, 2)
_PCMA_ENCODE = _encode_table(pcma_encode_sample, 3)


# ---------------------------------------------------------------------------------------------
# Buffers


def _samples(pcm: bytes) -> array[int]:
    if len(pcm) & 1:
        raise G711Error(f"linear PCM of {len(pcm)} bytes is not a whole number of 16-bit samples")
    samples = array("H")
    samples.frombytes(pcm)
    return samples


def _encode(table: bytes, pcm: bytes) -> bytes:
    samples = _samples(pcm)
    if len(samples) > 1:
        # itemgetter with many indices returns a tuple in one C call: about twice as fast as map.
        return bytes(itemgetter(*samples)(table))
    return bytes(table[s] for s in samples)


def _decode(low: bytes, high: bytes, codes: bytes) -> bytes:
    pcm = bytearray(2 * len(codes))
    pcm[0::2] = codes.translate(low)
    pcm[1::2] = codes.translate(high)
    return bytes(pcm)


def pcmu_encode(pcm: bytes) -> bytes:
    """16-bit little-endian linear PCM to mu-law codes."""
    return _encode(_PCMU_ENCODE, pcm)


def pcma_encode(pcm: bytes) -> bytes:
    """16-bit little-endian linear PCM to A-law codes."""
    return _encode(_PCMA_ENCODE, pcm)


def pcmu_decode(codes: bytes) -> bytes:
    """Mu-law codes to 16-bit little-endian linear PCM."""
    return _decode(_PCMU_LOW, _PCMU_HIGH, codes)


def pcma_decode(codes: bytes) -> bytes:
    """A-law codes to 16-bit little-endian linear PCM."""
    return _decode(_PCMA_LOW, _PCMA_HIGH, codes)


def pcmu_to_pcma(codes: bytes) -> bytes:
    """Transcode without going through linear PCM (same result as decode then encode)."""
    return codes.translate(PCMU_TO_PCMA)


def pcma_to_pcmu(codes: bytes) -> bytes:
    """Transcode without going through linear PCM (same result as decode then encode)."""
    return codes.translate(PCMA_TO_PCMU)


def encode(law: G711Law, pcm: bytes) -> bytes:
    return pcmu_encode(pcm) if law is G711Law.PCMU else pcma_encode(pcm)


def decode(law: G711Law, codes: bytes) -> bytes:
    return pcmu_decode(codes) if law is G711Law.PCMU else pcma_decode(codes)


def transcode(source: G711Law, target: G711Law, codes: bytes) -> bytes:
    if source is target:
        return codes
    return pcmu_to_pcma(codes) if source is G711Law.PCMU else pcma_to_pcmu(codes)


# ---------------------------------------------------------------------------------------------
# Silence and comfort noise


def silence(law: G711Law, samples: int = 160) -> bytes:
    """A payload of digital silence (160 samples = 20 ms at 8 kHz)."""
    return bytes((law.silence_code,)) * samples


class ComfortNoise:
    """Low-level white noise in G.711 codes, so a gap does not sound like a dead line.

    One second of noise is generated and encoded once; frames are consecutive slices of it.
    """

    __slots__ = ("_buffer", "_length", "_position")

    def __init__(
        self, law: G711Law, level_dbov: float = -60.0, seed: int = 0, length: int = 8000
    ) -> None:
        if length <= 0:
            raise ValueError(f"length must be positive, got {length}")
        if level_dbov > 0:
            raise ValueError(f"level_dbov must be at most 0, got {level_dbov}")
        rng = random.Random(seed)
        rms = 32767 * 10 ** (level_dbov / 20)
        samples = array(
            "h", (max(-32768, min(32767, round(rng.gauss(0, rms)))) for _ in range(length))
        )
        if sys.byteorder != "little":
            samples.byteswap()
        codes = encode(law, samples.tobytes())
        self._buffer = codes + codes  # any slice up to `length` long is contiguous
        self._length = length
        self._position = 0

    def frame(self, samples: int = 160) -> bytes:
        """The next ``samples`` codes of noise."""
        if not 0 <= samples <= self._length:
            raise ValueError(f"samples must be in 0-{self._length}, got {samples}")
        start = self._position
        self._position = (start + samples) % self._length
        return self._buffer[start : start + samples]
