"""G.711 PCMU/PCMA against ITU-T G.711 reference points, the table-driven buffers against the
per-sample definition, transcoding, and a 1 kHz tone through each law."""

from __future__ import annotations

import math
import struct
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from glasshouse.protocols.rtp import g711
from glasshouse.protocols.rtp.g711 import (
    PCMA_TO_LINEAR,
    PCMA_TO_PCMU,
    PCMU_TO_LINEAR,
    PCMU_TO_PCMA,
    ComfortNoise,
    G711Error,
    G711Law,
    pcma_decode,
    pcma_decode_sample,
    pcma_encode,
    pcma_encode_sample,
    pcma_to_pcmu,
    pcmu_decode,
    pcmu_decode_sample,
    pcmu_encode,
    pcmu_encode_sample,
    pcmu_to_pcma,
    silence,
)

ALL_SAMPLES = range(-32768, 32768)
ALL_PCM = struct.pack("<65536h", *ALL_SAMPLES)
ALL_CODES = bytes(range(256))


def pcm(*samples: int) -> bytes:
    return struct.pack(f"<{len(samples)}h", *samples)


def samples_of(data: bytes) -> tuple[int, ...]:
    return struct.unpack(f"<{len(data) // 2}h", data)


# ---------------------------------------------------------------------------------------------
# Reference points


@pytest.mark.parametrize(
    ("code", "linear"),
    [
        (0xFF, 0),  # +0
        (0x7F, 0),  # -0
        (0xFE, 8),  # smallest step: 2 in G.711's 14-bit units (x4 here)
        (0x7E, -8),
        (0xF0, 120),  # top of the first segment: 30 x 4
        (0xEF, 132),  # bottom of the second: 33 x 4
        (0x70, -120),
        (0x6F, -132),
        (0x80, 32124),  # largest: 8031 x 4
        (0x00, -32124),
    ],
)
def test_pcmu_decode_reference_points(code: int, linear: int) -> None:
    assert pcmu_decode_sample(code) == linear
    assert PCMU_TO_LINEAR[code] == linear


@pytest.mark.parametrize(
    ("code", "linear"),
    [
        (0xD5, 8),  # A-law has no zero: +1 in G.711's 13-bit units (x8 here)
        (0x55, -8),
        (0xDA, 248),  # top of the first segment: 31 x 8
        (0xC5, 264),  # bottom of the third (the first two share a step): 33 x 8
        (0xAA, 32256),  # largest: 4032 x 8
        (0x2A, -32256),
    ],
)
def test_pcma_decode_reference_points(code: int, linear: int) -> None:
    assert pcma_decode_sample(code) == linear
    assert PCMA_TO_LINEAR[code] == linear


def test_pcma_inverts_the_even_bits() -> None:
    # Before the XOR with 0x55 a positive sample has the sign bit set and the rest as in the
    # segment/mantissa layout: the quietest positive level is 1000 0000.
    assert pcma_encode_sample(0) ^ 0x55 == 0b1000_0000
    assert pcma_encode_sample(-1) ^ 0x55 == 0b0000_0000
    assert pcma_encode_sample(32767) ^ 0x55 == 0b1111_1111
    assert pcma_encode(bytes(320)) == b"\xd5" * 160


def test_pcmu_zero_and_extremes() -> None:
    assert pcmu_encode_sample(0) == 0xFF
    assert pcmu_encode_sample(32767) == 0x80
    assert pcmu_encode_sample(-32768) == 0x00
    assert pcmu_encode(bytes(320)) == b"\xff" * 160


def test_encode_of_decode_is_identity_except_the_second_pcmu_zero() -> None:
    for code in range(256):
        expected = 0xFF if code == 0x7F else code  # 0x7F (-0) is canonicalised to 0xFF (+0)
        assert pcmu_encode_sample(pcmu_decode_sample(code)) == expected
        assert pcma_encode_sample(pcma_decode_sample(code)) == code
    assert pcmu_encode(pcmu_decode(ALL_CODES)) == ALL_CODES.replace(b"\x7f", b"\xff")
    assert pcma_encode(pcma_decode(ALL_CODES)) == ALL_CODES


@pytest.mark.parametrize(
    ("decode_sample", "encode_sample"),
    [(pcmu_decode_sample, pcmu_encode_sample), (pcma_decode_sample, pcma_encode_sample)],
)
def test_quantiser_is_monotonic_with_bounded_error(
    decode_sample: Callable[[int], int], encode_sample: Callable[[int], int]
) -> None:
    previous = -(2**16)
    for sample in range(-32768, 32768, 7):
        value = decode_sample(encode_sample(sample))
        assert value >= previous
        previous = value
        # The step doubles per segment: the error stays within about 1/16 of the level.
        assert abs(value - sample) <= max(16, abs(sample) // 16 + 8) or abs(sample) > 32000


# ---------------------------------------------------------------------------------------------
# Tables and buffers


def test_tables_agree_with_the_per_sample_definition_for_every_input() -> None:
    assert pcmu_encode(ALL_PCM) == bytes(pcmu_encode_sample(s) for s in ALL_SAMPLES)
    assert pcma_encode(ALL_PCM) == bytes(pcma_encode_sample(s) for s in ALL_SAMPLES)
    assert samples_of(pcmu_decode(ALL_CODES)) == PCMU_TO_LINEAR
    assert samples_of(pcma_decode(ALL_CODES)) == PCMA_TO_LINEAR


def test_transcoding_tables_equal_decode_then_encode() -> None:
    assert pcmu_to_pcma(ALL_CODES) == pcma_encode(pcmu_decode(ALL_CODES))
    assert pcma_to_pcmu(ALL_CODES) == pcmu_encode(pcma_decode(ALL_CODES))
    assert bytes(pcma_encode_sample(pcmu_decode_sample(c)) for c in range(256)) == PCMU_TO_PCMA
    assert bytes(pcmu_encode_sample(pcma_decode_sample(c)) for c in range(256)) == PCMA_TO_PCMU


def test_byte_order_is_little_endian() -> None:
    assert pcmu_encode(pcm(1000)) == bytes((pcmu_encode_sample(1000),))
    assert pcmu_decode(b"\x80") == b"\x7c\x7d"  # 32124
    assert pcma_decode(b"\x55") == b"\xf8\xff"  # -8


def test_big_endian_index_swap() -> None:
    table = bytes(i * 7 % 251 for i in range(65536))
    swapped = g711._swap_index(table)
    for sample in (0, 1, 255, 256, 1000, -1, -1000, 32767, -32768):
        little = struct.unpack("<H", struct.pack("<h", sample))[0]
        big = struct.unpack(">H", struct.pack("<h", sample))[0]
        assert swapped[big] == table[little]


def test_short_and_odd_buffers() -> None:
    assert pcmu_encode(b"") == b""
    assert pcma_encode(pcm(-5)) == bytes((pcma_encode_sample(-5),))
    assert pcmu_decode(b"") == b""
    with pytest.raises(G711Error, match="linear PCM of 3 bytes is not a whole number"):
        pcmu_encode(b"abc")
    assert pcmu_encode(bytearray(pcm(1, 2))) == pcmu_encode(pcm(1, 2))
    assert pcmu_encode(memoryview(pcm(1, 2))) == pcmu_encode(pcm(1, 2))


@given(st.lists(st.integers(-32768, 32767), max_size=200))
def test_round_trip_keeps_each_sample_within_its_step(samples: list[int]) -> None:
    data = pcm(*samples)
    for law in G711Law:
        codes = g711.encode(law, data)
        assert len(codes) == len(samples)
        back = samples_of(g711.decode(law, codes))
        for original, value in zip(samples, back, strict=True):
            assert (
                abs(value - original) <= max(16, abs(original) // 16 + 8) or abs(original) > 32000
            )
        assert g711.encode(law, g711.decode(law, codes)) == codes  # decoding is exact


@given(st.binary(max_size=200))
def test_transcode_round_trip_through_both_laws(codes: bytes) -> None:
    assert g711.transcode(G711Law.PCMU, G711Law.PCMA, codes) == pcmu_to_pcma(codes)
    assert g711.transcode(G711Law.PCMA, G711Law.PCMU, codes) == pcma_to_pcmu(codes)
    assert g711.transcode(G711Law.PCMA, G711Law.PCMA, codes) == codes


# ---------------------------------------------------------------------------------------------
# Signals


@pytest.mark.parametrize("law", list(G711Law))
def test_a_1khz_sine_keeps_its_frequency(law: G711Law) -> None:
    np = pytest.importorskip("numpy")
    rate, n = 8000, 8000
    amplitude = 16000
    sine = [round(amplitude * math.sin(2 * math.pi * 1000 * i / rate)) for i in range(n)]
    decoded = np.array(samples_of(g711.decode(law, g711.encode(law, pcm(*sine)))), dtype=float)
    spectrum = np.abs(np.fft.rfft(decoded * np.hanning(n)))
    frequencies = np.fft.rfftfreq(n, 1 / rate)
    assert frequencies[int(np.argmax(spectrum))] == pytest.approx(1000, abs=1)
    # G.711 keeps a signal-to-quantisation-noise ratio near 38 dB at this level.
    error = decoded - np.array(sine, dtype=float)
    snr = 10 * math.log10(float(np.sum(np.square(sine))) / float(np.sum(np.square(error))))
    assert snr > 30


def test_silence_payloads() -> None:
    assert silence(G711Law.PCMU) == b"\xff" * 160
    assert silence(G711Law.PCMA, 80) == b"\xd5" * 80
    assert set(samples_of(pcmu_decode(silence(G711Law.PCMU)))) == {0}
    assert set(samples_of(pcma_decode(silence(G711Law.PCMA)))) == {8}
    assert G711Law.PCMU.payload_type == 0
    assert G711Law.PCMA.payload_type == 8


@pytest.mark.parametrize("law", list(G711Law))
def test_comfort_noise_is_quiet_deterministic_and_continuous(law: G711Law) -> None:
    noise = ComfortNoise(law, level_dbov=-50, seed=3, length=800)
    frames = [noise.frame() for _ in range(10)]  # 1600 samples: wraps the 800-sample buffer
    assert all(len(f) == 160 for f in frames)
    assert frames[5:] == frames[:5]
    again = ComfortNoise(law, level_dbov=-50, seed=3, length=800)
    assert frames[:5] == [again.frame() for _ in range(5)]
    values = samples_of(g711.decode(law, b"".join(frames)))
    rms = math.sqrt(sum(v * v for v in values) / len(values))
    level = 20 * math.log10(rms / 32767)
    assert -53 < level < -47
    with pytest.raises(ValueError, match="samples must be in 0-800"):
        noise.frame(801)
