"""WAV decoding in every common format, mono mixdown and resampling to 8 kHz."""

from __future__ import annotations

import contextlib
import math
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glasshouse.adapters.media.audio import (
    AudioError,
    parse_wav,
    read_telephony_pcm,
    read_wav,
    resample,
    telephony_pcm,
    wav_bytes,
    write_file_atomic,
)
from glasshouse.protocols.rtp.g711 import pcma_decode, pcma_encode, pcmu_decode, pcmu_encode
from glasshouse.testing.audio import dominant_frequency, rms_dbfs, tone_pcm

PCM, FLOAT, ALAW, MULAW, EXTENSIBLE = 1, 3, 6, 7, 0xFFFE
GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")


def make_wav(
    tag: int,
    channels: int,
    rate: int,
    bits: int,
    data: bytes,
    *,
    extensible: bool = False,
    extra_chunks: bytes = b"",
    data_size: int | None = None,
) -> bytes:
    """A WAV file built field by field (independently of the code under test)."""
    block = channels * bits // 8
    code = EXTENSIBLE if extensible else tag
    fmt = struct.pack("<HHIIHH", code, channels, rate, rate * block, block, bits)
    if extensible:
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", tag) + GUID_TAIL
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra_chunks
    chunks += b"data" + struct.pack("<I", len(data) if data_size is None else data_size) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def sine(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return amplitude * np.sin(2 * math.pi * freq * t)


def encode_int(values: np.ndarray, bits: int) -> bytes:
    if bits == 8:
        return bytes(np.clip(np.rint(values * 128 + 128), 0, 255).astype(np.uint8).tobytes())
    if bits == 16:
        return bytes(np.rint(values * 32767).astype("<i2").tobytes())
    if bits == 24:
        ints = np.rint(values * 8388607).astype("<i4")
        return b"".join(int(v).to_bytes(3, "little", signed=True) for v in ints)
    return bytes(np.rint(values * 2147483647).astype("<i4").tobytes())


def interleave(*channels: np.ndarray) -> np.ndarray:
    return np.stack(channels, axis=1).reshape(-1)


# ---------------------------------------------------------------------------------------------
# Formats


@pytest.mark.parametrize("bits", [8, 16, 24, 32])
@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100])
def test_integer_pcm_at_common_rates_becomes_an_8khz_tone(bits: int, rate: int) -> None:
    data = encode_int(sine(1000, 0.25, rate), bits)
    audio = parse_wav(make_wav(PCM, 1, rate, bits, data))
    assert (audio.sample_rate, audio.channels, audio.bits_per_sample) == (rate, 1, bits)
    pcm = telephony_pcm(audio)
    assert len(pcm) == 2 * 2000
    assert dominant_frequency(pcm) == pytest.approx(1000, abs=5)
    # 0.5 peak is -6 dBFS; 8-bit quantisation noise does not move the level measurably.
    assert rms_dbfs(pcm[400:-400]) == pytest.approx(-6.0, abs=0.3)


def test_eight_bit_wav_is_unsigned_around_128() -> None:
    audio = parse_wav(make_wav(PCM, 1, 8000, 8, bytes([0, 128, 255])))
    assert audio.samples[:, 0].tolist() == [-1.0, 0.0, 127 / 128]


def test_twenty_four_bit_extremes() -> None:
    data = b"\xff\xff\x7f" + b"\x00\x00\x80" + b"\x00\x00\x00"
    audio = parse_wav(make_wav(PCM, 1, 8000, 24, data))
    assert audio.samples[:, 0].tolist() == [8388607 / 8388608, -1.0, 0.0]


@pytest.mark.parametrize("bits", [32, 64])
def test_float_wav(bits: int) -> None:
    values = sine(1000, 0.2, 16000)
    data = values.astype("<f4" if bits == 32 else "<f8").tobytes()
    audio = parse_wav(make_wav(FLOAT, 1, 16000, bits, data))
    assert audio.format_name == "IEEE float"
    assert np.allclose(audio.samples[:, 0], values, atol=1e-6)


def test_float_wav_out_of_range_and_nan_are_clipped() -> None:
    data = np.array([2.0, -3.0, np.nan, np.inf], dtype="<f4").tobytes()
    audio = parse_wav(make_wav(FLOAT, 1, 8000, 32, data))
    assert audio.samples[:, 0].tolist() == [1.0, -1.0, 0.0, 1.0]


@pytest.mark.parametrize(
    ("tag", "encode", "decode"),
    [(ALAW, pcma_encode, pcma_decode), (MULAW, pcmu_encode, pcmu_decode)],
)
def test_g711_wav_decodes_exactly_like_g711(tag: int, encode: object, decode: object) -> None:
    assert callable(encode) and callable(decode)
    codes = encode(tone_pcm(1000, 200))
    audio = parse_wav(make_wav(tag, 1, 8000, 8, codes))
    assert audio.format_name == ("A-law" if tag == ALAW else "mu-law")
    assert telephony_pcm(audio) == decode(codes)


def test_g711_wav_at_another_rate_is_resampled() -> None:
    codes = pcmu_encode(tone_pcm(1000, 300, rate=16000))
    pcm = telephony_pcm(parse_wav(make_wav(MULAW, 1, 16000, 8, codes)))
    assert len(pcm) == 2 * 2400
    assert dominant_frequency(pcm) == pytest.approx(1000, abs=5)


def test_extensible_format_is_read_by_its_sub_format() -> None:
    data = encode_int(sine(1000, 0.2, 44100), 16)
    audio = parse_wav(make_wav(PCM, 1, 44100, 16, data, extensible=True))
    assert dominant_frequency(telephony_pcm(audio)) == pytest.approx(1000, abs=5)


def test_stereo_is_averaged_to_mono() -> None:
    tone = sine(1000, 0.2, 22050)
    audio = parse_wav(make_wav(PCM, 2, 22050, 16, encode_int(interleave(tone, 0 * tone), 16)))
    assert audio.channels == 2
    pcm = telephony_pcm(audio)
    # Half the tone on one side: 6 dB below the tone (averaging cannot clip).
    assert rms_dbfs(pcm[400:-400]) == pytest.approx(-12.0, abs=0.3)
    assert dominant_frequency(pcm) == pytest.approx(1000, abs=5)
    opposite = parse_wav(make_wav(PCM, 2, 8000, 16, encode_int(interleave(tone, -tone), 16)))
    assert not any(telephony_pcm(opposite))


def test_chunks_before_data_are_skipped_with_their_padding() -> None:
    odd = b"LIST" + struct.pack("<I", 3) + b"abc" + b"\x00"  # odd chunk, one pad byte
    data = encode_int(sine(500, 0.1, 8000), 16)
    audio = parse_wav(make_wav(PCM, 1, 8000, 16, data, extra_chunks=odd))
    assert audio.frames == 800


def test_data_chunk_longer_than_the_file_reads_the_whole_frames_present() -> None:
    data = encode_int(sine(500, 0.1, 8000), 16)
    wav = make_wav(PCM, 2, 8000, 16, data + b"\x01", data_size=0xFFFFFFFF)
    assert parse_wav(wav).frames == len(data) // 4


@pytest.mark.parametrize(
    ("wav", "message"),
    [
        (b"", "not a RIFF/WAVE file"),
        (b"RIFX\x00\x00\x00\x00WAVE", "not a RIFF/WAVE file"),
        (make_wav(0x55, 1, 8000, 16, b""), "unsupported WAV format tag 0x0055"),
        (make_wav(PCM, 1, 8000, 12, b""), "12-bit PCM is not supported"),
        (make_wav(ALAW, 1, 8000, 16, b""), "16-bit A-law is not supported"),
        (make_wav(PCM, 0, 8000, 16, b""), "0 channels"),
        (make_wav(PCM, 1, 10, 16, b""), "sample rate 10 Hz"),
        (b"RIFF\x04\x00\x00\x00WAVE", "no fmt chunk"),
        (b"RIFF\x0c\x00\x00\x00WAVEdata\x00\x00\x00\x00", "data chunk comes before the fmt"),
        (make_wav(PCM, 1, 8000, 16, b"")[:36], "no data chunk"),
    ],
)
def test_bad_files_are_refused_with_the_reason(wav: bytes, message: str) -> None:
    with pytest.raises(AudioError, match=message):
        parse_wav(wav, name="greeting.wav")


def test_block_align_that_disagrees_with_the_format_is_refused() -> None:
    wav = bytearray(make_wav(PCM, 2, 8000, 16, b""))
    wav[32:34] = struct.pack("<H", 3)
    with pytest.raises(AudioError, match="block align 3 does not match 2 channels of 16 bits"):
        parse_wav(bytes(wav))


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match=r"missing\.wav: cannot read"):
        read_wav(tmp_path / "missing.wav")


@settings(deadline=None, max_examples=300)
@given(st.binary(max_size=200))
def test_garbage_never_escapes_as_anything_but_audio_error(data: bytes) -> None:
    for candidate in (data, b"RIFF" + data[:4] + b"WAVE" + data[4:]):
        with contextlib.suppress(AudioError):
            parse_wav(candidate)


@settings(deadline=None, max_examples=50)
@given(st.lists(st.integers(-32768, 32767), max_size=500), st.sampled_from([1, 2]))
def test_written_wav_reads_back_sample_for_sample(samples: list[int], channels: int) -> None:
    samples = samples[: len(samples) - len(samples) % channels]
    pcm = np.array(samples, dtype="<i2").tobytes()
    audio = parse_wav(wav_bytes(pcm, sample_rate=8000, channels=channels))
    assert audio.channels == channels
    assert np.rint(audio.samples.reshape(-1) * 32768).astype(int).tolist() == samples


def test_atomic_write_leaves_only_the_file(tmp_path: Path) -> None:
    target = tmp_path / "cache" / "tone.wav"
    write_file_atomic(target, wav_bytes(tone_pcm(440, 100)))
    write_file_atomic(target, wav_bytes(tone_pcm(880, 100)))
    assert [p.name for p in target.parent.iterdir()] == ["tone.wav"]
    assert dominant_frequency(read_telephony_pcm(target)) == pytest.approx(880, abs=5)


# ---------------------------------------------------------------------------------------------
# Resampling


@pytest.mark.parametrize("rate", [11025, 16000, 22050, 32000, 44100, 48000])
def test_resampling_keeps_a_1khz_tone_at_1khz(rate: int) -> None:
    out = resample(sine(1000, 1.0, rate), rate, 8000)
    assert out.size == 8000
    pcm = np.rint(out * 32767).astype("<i2").tobytes()
    assert dominant_frequency(pcm) == pytest.approx(1000, abs=5)
    assert 20 * math.log10(np.abs(out[500:-500]).max() / 0.5) == pytest.approx(0, abs=0.1)


@pytest.mark.parametrize("rate", [16000, 22050, 44100, 48000])
@pytest.mark.parametrize("freq", [4500, 6000, 7900])
def test_resampling_removes_what_would_alias(rate: int, freq: int) -> None:
    out = resample(sine(freq, 1.0, rate), rate, 8000)
    reference = resample(sine(1000, 1.0, rate), rate, 8000)
    attenuation = 20 * math.log10(np.std(reference[500:-500]) / np.std(out[500:-500]))
    assert attenuation >= 40


def test_resampling_keeps_time_alignment() -> None:
    click = np.zeros(44100)
    click[22050] = 1.0  # at 0.5 s
    out = resample(click, 44100, 8000)
    assert int(np.argmax(np.abs(out))) == 4000


def test_upsampling_does_not_image() -> None:
    out = resample(sine(1000, 1.0, 6000), 6000, 8000)
    pcm = np.rint(out * 32767).astype("<i2").tobytes()
    assert dominant_frequency(pcm) == pytest.approx(1000, abs=5)
    spectrum = np.abs(np.fft.rfft(out * np.hanning(out.size)))
    # The 6 kHz input has no content above 3 kHz; its image at 5 kHz would fold to 3 kHz.
    assert spectrum[3000] < spectrum[1000] * 1e-3


def test_resampling_refuses_bad_arguments() -> None:
    with pytest.raises(AudioError, match="sample rates must be positive"):
        resample(np.zeros(10), 0, 8000)
    with pytest.raises(AudioError, match="mono"):
        resample(np.zeros((10, 2)), 16000, 8000)
    with pytest.raises(AudioError, match="too complex"):
        resample(np.zeros(10), 99991, 8000)
