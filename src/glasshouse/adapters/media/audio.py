"""WAV files in, telephony audio out: parse any common PCM, float, A-law or mu-law WAV, mix it
down to mono and resample it to 8 kHz 16-bit linear PCM (the form every source encodes from).

Resampling is polyphase with a Kaiser-windowed sinc low-pass, so content above the new Nyquist
frequency is removed (>= 80 dB by design) instead of folding back into the speech band.
"""

from __future__ import annotations

import math
import os
import struct
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray

from glasshouse.protocols.rtp.g711 import pcma_decode, pcmu_decode

TELEPHONY_RATE: Final = 8000

FORMAT_PCM: Final = 0x0001
FORMAT_IEEE_FLOAT: Final = 0x0003
FORMAT_ALAW: Final = 0x0006
FORMAT_MULAW: Final = 0x0007
FORMAT_EXTENSIBLE: Final = 0xFFFE
# WAVE_FORMAT_EXTENSIBLE sub-formats share this GUID tail; the first two bytes are the format tag.
_GUID_TAIL: Final = bytes.fromhex("000000001000800000aa00389b71")

_FORMAT_NAMES: Final = {
    FORMAT_PCM: "PCM",
    FORMAT_IEEE_FLOAT: "IEEE float",
    FORMAT_ALAW: "A-law",
    FORMAT_MULAW: "mu-law",
}
_MAX_CHANNELS: Final = 32
_MIN_RATE, _MAX_RATE = 1000, 384_000
# Resampler design: pass band up to 7/8 of the lower Nyquist frequency, stop band from Nyquist.
_STOPBAND_DB: Final = 80.0
_PASSBAND_FRACTION: Final = 0.875
_MAX_RATIO_TERM: Final = 50_000


class AudioError(ValueError):
    """Audio that cannot be read or converted; the message names the file and the problem."""


@dataclass(frozen=True, eq=False)
class Audio:
    """Decoded audio: ``samples`` has shape (frames, channels), float64 in [-1.0, 1.0]."""

    samples: NDArray[np.float64]
    sample_rate: int
    format_name: str = "PCM"
    bits_per_sample: int = 16

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration_ms(self) -> float:
        return 1000.0 * self.frames / self.sample_rate


# ---------------------------------------------------------------------------------------------
# Parsing


@dataclass(frozen=True)
class WavFormat:
    """The fields of a fmt chunk this module uses (``tag`` is resolved from EXTENSIBLE)."""

    tag: int
    channels: int
    sample_rate: int
    block_align: int
    bits: int


def parse_fmt_chunk(body: bytes, where: str) -> WavFormat:
    """Decode and check a fmt chunk's body; ``where`` names the file in errors."""
    if len(body) < 16:
        raise AudioError(f"{where}: fmt chunk is {len(body)} bytes, needs at least 16")
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", body)
    if tag == FORMAT_EXTENSIBLE:
        if len(body) < 40:
            raise AudioError(f"{where}: WAVE_FORMAT_EXTENSIBLE fmt chunk is too short")
        guid = body[24:40]
        if guid[2:] != _GUID_TAIL:
            raise AudioError(f"{where}: unsupported WAVE_FORMAT_EXTENSIBLE sub-format {guid.hex()}")
        tag = struct.unpack_from("<H", guid)[0]
    if tag not in _FORMAT_NAMES:
        raise AudioError(f"{where}: unsupported WAV format tag 0x{tag:04x}")
    if not 1 <= channels <= _MAX_CHANNELS:
        raise AudioError(f"{where}: {channels} channels (1-{_MAX_CHANNELS} supported)")
    if not _MIN_RATE <= rate <= _MAX_RATE:
        raise AudioError(f"{where}: sample rate {rate} Hz outside {_MIN_RATE}-{_MAX_RATE} Hz")
    valid_bits = {
        FORMAT_PCM: (8, 16, 24, 32),
        FORMAT_IEEE_FLOAT: (32, 64),
        FORMAT_ALAW: (8,),
        FORMAT_MULAW: (8,),
    }[tag]
    if bits not in valid_bits:
        raise AudioError(
            f"{where}: {bits}-bit {_FORMAT_NAMES[tag]} is not supported "
            f"(supported: {', '.join(map(str, valid_bits))} bits)"
        )
    if block_align != channels * bits // 8:
        raise AudioError(
            f"{where}: block align {block_align} does not match {channels} channels of {bits} bits"
        )
    return WavFormat(tag, channels, rate, block_align, bits)


def _decode_samples(fmt: WavFormat, data: bytes) -> NDArray[np.float64]:
    """Interleaved sample bytes to float64 in [-1, 1], shape (frames, channels)."""
    if fmt.tag == FORMAT_ALAW:
        values = np.frombuffer(pcma_decode(data), dtype="<i2") / 32768.0
    elif fmt.tag == FORMAT_MULAW:
        values = np.frombuffer(pcmu_decode(data), dtype="<i2") / 32768.0
    elif fmt.tag == FORMAT_IEEE_FLOAT:
        raw = np.frombuffer(data, dtype="<f4" if fmt.bits == 32 else "<f8")
        values = np.nan_to_num(raw.astype(np.float64), nan=0.0, posinf=1.0, neginf=-1.0)
        values = np.clip(values, -1.0, 1.0)
    elif fmt.bits == 8:
        # 8-bit WAV is unsigned with 128 as zero.
        values = (np.frombuffer(data, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    elif fmt.bits == 16:
        values = np.frombuffer(data, dtype="<i2") / 32768.0
    elif fmt.bits == 24:
        triples = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        values = ints / float(1 << 23)
    else:
        values = np.frombuffer(data, dtype="<i4") / float(1 << 31)
    return np.asarray(values, dtype=np.float64).reshape(-1, fmt.channels)


def parse_wav(data: bytes, *, name: str = "WAV data") -> Audio:
    """Decode a RIFF/WAVE file held in memory; ``name`` is used in error messages.

    A data chunk that claims more bytes than the file holds (a streaming or interrupted writer)
    is read up to the last whole frame present."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError(f"{name}: not a RIFF/WAVE file")
    fmt: WavFormat | None = None
    position = 12
    while position + 8 <= len(data):
        chunk_id = data[position : position + 4]
        (size,) = struct.unpack_from("<I", data, position + 4)
        body_start = position + 8
        if chunk_id == b"fmt ":
            fmt = parse_fmt_chunk(data[body_start : body_start + size], name)
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioError(f"{name}: data chunk comes before the fmt chunk")
            body = data[body_start : body_start + size]
            whole = len(body) - len(body) % fmt.block_align
            return Audio(
                _decode_samples(fmt, body[:whole]),
                fmt.sample_rate,
                _FORMAT_NAMES[fmt.tag],
                fmt.bits,
            )
        position = body_start + size + (size & 1)  # chunks are padded to even sizes
    if fmt is None:
        raise AudioError(f"{name}: no fmt chunk")
    raise AudioError(f"{name}: no data chunk")


def read_wav(path: Path) -> Audio:
    """Read and decode a WAV file (see :func:`parse_wav`)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise AudioError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return parse_wav(data, name=str(path))


# ---------------------------------------------------------------------------------------------
# Conversion


def to_mono(samples: NDArray[np.float64]) -> NDArray[np.float64]:
    """Average the channels of a (frames, channels) array; averaging, not summing, cannot clip."""
    if samples.ndim == 1:
        return samples
    if samples.shape[1] == 1:
        return np.ascontiguousarray(samples[:, 0])
    return np.asarray(samples.mean(axis=1), dtype=np.float64)


@lru_cache(maxsize=32)
def _polyphase_filters(up: int, down: int) -> NDArray[np.float64]:
    """Per-phase taps, shape (up, taps), for resampling by up/down (already reduced)."""
    # Frequencies are in cycles per sample of the upsampled stream (rate = input rate * up), where
    # the lower Nyquist frequency min(from, to) / 2 comes out as 1 / (2 * max(up, down)).
    cutoff_stop = 0.5 / max(up, down)  # cycles per upsampled sample
    cutoff_pass = cutoff_stop * _PASSBAND_FRACTION
    transition = cutoff_stop - cutoff_pass
    cutoff = (cutoff_pass + cutoff_stop) / 2.0
    beta = 0.1102 * (_STOPBAND_DB - 8.7)
    length = math.ceil((_STOPBAND_DB - 7.95) / (2.285 * 2.0 * math.pi * transition))
    half = max(1, math.ceil(length / (2 * up)))  # taps each side, in input samples
    taps = 2 * half + 1
    n = np.arange(taps * up, dtype=np.float64)
    centre = half * up
    prototype = 2.0 * cutoff * np.sinc(2.0 * cutoff * (n - centre)) * up
    window = np.kaiser(2 * centre + 1, beta)
    prototype[: 2 * centre + 1] *= window
    prototype[2 * centre + 1 :] = 0.0
    # Output n reads input samples q-half..q+half (q = n*down // up) with phase r = n*down % up:
    # the tap on input q+half-w is prototype[r + w'*up] with w' = 2*half - w.
    phases = np.empty((up, taps), dtype=np.float64)
    for r in range(up):
        phases[r] = prototype[r + up * np.arange(taps - 1, -1, -1)]
    phases.flags.writeable = False  # shared through the cache
    return phases


def resample(samples: NDArray[np.float64], from_rate: int, to_rate: int) -> NDArray[np.float64]:
    """Resample mono float audio from ``from_rate`` to ``to_rate`` Hz, low-pass filtered below the
    lower of the two Nyquist frequencies; output has ceil(len * to / from) samples, in phase."""
    if from_rate <= 0 or to_rate <= 0:
        raise AudioError(f"sample rates must be positive, got {from_rate} -> {to_rate}")
    if samples.ndim != 1:
        raise AudioError(f"resample takes mono audio, got an array of shape {samples.shape}")
    if from_rate == to_rate or samples.size == 0:
        return np.array(samples, dtype=np.float64)
    g = math.gcd(from_rate, to_rate)
    up, down = to_rate // g, from_rate // g
    if max(up, down) > _MAX_RATIO_TERM:
        # The filter bank grows with the ratio's terms; coprime odd rates would need hundreds of MB.
        raise AudioError(
            f"cannot resample {from_rate} Hz to {to_rate} Hz: the ratio {up}/{down} is too complex"
        )
    phases = _polyphase_filters(up, down)
    taps = phases.shape[1]
    half = taps // 2
    count = -(-samples.size * up // down)
    padded = np.concatenate([np.zeros(half), samples.astype(np.float64), np.zeros(half + 1)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, taps)
    out = np.empty(count, dtype=np.float64)
    # Outputs n, n + up, n + 2*up... share a phase and step through the input by ``down`` samples,
    # so each phase is one strided view of the input windows (no copy) times one tap vector.
    # einsum rather than ``@``: a threaded BLAS on many small products is slower on a busy host.
    for first in range(min(up, count)):
        start = first * down // up
        size = len(range(first, count, up))
        view = windows[start : start + (size - 1) * down + 1 : down]
        out[first::up] = np.einsum("ij,j->i", view, phases[first * down % up])
    return out


def float_to_pcm16(samples: NDArray[np.float64]) -> bytes:
    """Float audio in [-1, 1] to 16-bit little-endian PCM, rounded and clipped."""
    scaled = np.clip(np.rint(samples * 32768.0), -32768, 32767)
    return scaled.astype("<i2").tobytes()


def pcm16_to_float(pcm: bytes) -> NDArray[np.float64]:
    """16-bit little-endian PCM to float64 in [-1, 1)."""
    if len(pcm) % 2:
        raise AudioError(f"linear PCM of {len(pcm)} bytes is not a whole number of 16-bit samples")
    return np.frombuffer(pcm, dtype="<i2") / 32768.0


def telephony_pcm(audio: Audio) -> bytes:
    """Audio as 8 kHz mono 16-bit little-endian PCM, the input every source encodes from."""
    mono = to_mono(audio.samples)
    return float_to_pcm16(resample(mono, audio.sample_rate, TELEPHONY_RATE))


def read_telephony_pcm(path: Path) -> bytes:
    """Read any supported WAV file as 8 kHz mono 16-bit little-endian PCM."""
    return telephony_pcm(read_wav(path))


# ---------------------------------------------------------------------------------------------
# Writing


def wav_header(data_bytes: int, *, sample_rate: int, channels: int, bits: int = 16) -> bytes:
    """The 44-byte header of a canonical PCM WAV file holding ``data_bytes`` of samples."""
    block_align = channels * bits // 8
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + data_bytes,
        b"WAVE",
        b"fmt ",
        16,
        FORMAT_PCM,
        channels,
        sample_rate,
        sample_rate * block_align,
        block_align,
        bits,
        b"data",
        data_bytes,
    )


def wav_bytes(pcm: bytes, *, sample_rate: int = TELEPHONY_RATE, channels: int = 1) -> bytes:
    """A complete 16-bit PCM WAV file around interleaved little-endian samples."""
    if len(pcm) % (2 * channels):
        raise AudioError(f"{len(pcm)} bytes is not a whole number of {channels}-channel frames")
    return wav_header(len(pcm), sample_rate=sample_rate, channels=channels) + pcm


def write_file_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the whole new one, never a part:
    a temporary file in the same directory, fsynced, then renamed over the target."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    """Make a rename or a new file in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
