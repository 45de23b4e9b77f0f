"""Measuring and making audio in tests: the frequency of a tone, its level, a reference tone.

Levels follow AES17: a full-scale sine reads 0 dBFS, so ``rms_dbfs(tone_pcm(f, ms, level_dbfs=L))``
is ``L`` (within rounding).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

_FULL_SCALE = 32768.0


def _samples(pcm: bytes) -> NDArray[np.float64]:
    if len(pcm) % 2:
        raise ValueError(f"linear PCM of {len(pcm)} bytes is not a whole number of 16-bit samples")
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


def dominant_frequency(pcm_s16le: bytes, sample_rate: int = 8000) -> float:
    """The frequency in Hz of the strongest spectral peak of mono 16-bit little-endian PCM,
    interpolated between FFT bins (accurate to well under 1 Hz for a steady tone of 0.1 s+)."""
    samples = _samples(pcm_s16le)
    if samples.size < 16:
        raise ValueError(f"need at least 16 samples to measure a frequency, got {samples.size}")
    samples = samples - samples.mean()
    if not np.any(samples):
        raise ValueError("silence has no dominant frequency")
    # Zero-padding to at least 1 s gives bins of at most 1 Hz before interpolation.
    size = max(samples.size, sample_rate)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size), n=size))
    peak = int(np.argmax(spectrum[1:-1])) + 1
    # Parabolic interpolation on log magnitudes locates a Hann-windowed peak between bins.
    a, b, c = np.log(spectrum[peak - 1 : peak + 2] + 1e-12)
    denominator = a - 2.0 * b + c
    shift = 0.5 * (a - c) / denominator if denominator else 0.0
    return float((peak + shift) * sample_rate / size)


def tone_pcm(freq: float, ms: int, rate: int = 8000, level_dbfs: float = -10.0) -> bytes:
    """A sine of ``freq`` Hz lasting ``ms``, as 16-bit little-endian PCM at ``rate``; its peak is
    ``level_dbfs`` below full scale."""
    count = ms * rate // 1000
    t = np.arange(count, dtype=np.float64) / rate
    amplitude = 32767.0 * 10.0 ** (level_dbfs / 20.0)
    wave = np.rint(amplitude * np.sin(2.0 * math.pi * freq * t))
    return bytes(wave.astype("<i2").tobytes())


def rms_dbfs(pcm: bytes) -> float:
    """RMS level of 16-bit little-endian PCM in dBFS (a full-scale sine is 0 dBFS; digital
    silence is ``-inf``)."""
    samples = _samples(pcm)
    if samples.size == 0:
        return -math.inf
    rms = float(np.sqrt(np.mean(samples * samples)))
    if rms == 0.0:
        return -math.inf
    return 20.0 * math.log10(rms * math.sqrt(2.0) / _FULL_SCALE)


def channel(pcm: bytes, index: int, channels: int = 2) -> bytes:
    """One channel of interleaved 16-bit little-endian PCM (0 = left)."""
    samples = np.frombuffer(pcm, dtype="<i2")
    if samples.size % channels:
        raise ValueError(f"{len(pcm)} bytes is not a whole number of {channels}-channel frames")
    return samples.reshape(-1, channels)[:, index].astype("<i2").tobytes()
