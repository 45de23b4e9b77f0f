"""Music on hold that needs no licence: a 30-second loop synthesised with numpy.

Eight bars at 64 beats a minute (exactly 30 s, a whole number of 20 ms frames) over a C major
progression: a soft pad, a bass on beats one and three, a plucked arpeggio whose pattern changes
every bar and a bell melody. Notes that ring past the end wrap round to the start, so the loop
has no seam. The result is deterministic, peaks at -12 dBFS and is band-limited below 3.6 kHz
so nothing folds over at 8 kHz.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray

from glasshouse.adapters.media.audio import (
    TELEPHONY_RATE,
    AudioError,
    float_to_pcm16,
    read_wav,
    wav_bytes,
    write_file_atomic,
)
from glasshouse.adapters.media.sources import EncodedAudio, LoopSource

MOH_VERSION: Final = 1  # bump when the music changes, so caches render the new version
PEAK_DBFS: Final = -12.0
_BPM: Final = 64
_BEATS_PER_BAR: Final = 4
_HIGHEST_PARTIAL_HZ: Final = 3600.0
_SEED: Final = 20240611
# Phone lines pass little below 300 Hz: the bass is mostly harmonics, and the ear supplies the
# missing fundamental, so it is heard without spending the headroom on inaudible lows.
_BASS_PARTIALS: Final = (0.25, 0.8, 0.6, 0.3)
_BAR_S: Final = 60.0 / _BPM * _BEATS_PER_BAR
LOOP_SAMPLES: Final = round(8 * _BAR_S * TELEPHONY_RATE)  # 240 000: 30 s, 1500 frames of 20 ms

# (bass note, pad notes) per bar, as MIDI note numbers: C Am F G Em Am Dm G7.
_PROGRESSION: Final = (
    (48, (60, 64, 67)),
    (45, (57, 60, 64)),
    (41, (57, 60, 65)),
    (43, (59, 62, 67)),
    (40, (59, 64, 67)),
    (45, (60, 64, 69)),
    (50, (57, 62, 65)),
    (43, (59, 62, 65, 67)),
)
# Melody: (bar, beat, MIDI note, beats long), a phrase that answers itself over the eight bars.
_MELODY: Final = (
    (0, 0, 76, 2),
    (0, 2, 74, 1),
    (0, 3, 72, 1),
    (1, 0, 72, 3),
    (2, 0, 69, 2),
    (2, 2, 72, 2),
    (3, 0, 71, 3),
    (4, 0, 71, 2),
    (4, 2, 74, 1),
    (4, 3, 76, 1),
    (5, 0, 76, 3),
    (6, 0, 74, 2),
    (6, 2, 72, 2),
    (7, 0, 71, 2),
    (7, 2, 74, 2),
)
_ARPEGGIO_PATTERNS: Final = (
    (0, 1, 2, 3, 2, 1, 0, 1),
    (0, 2, 1, 3, 0, 2, 1, 3),
    (3, 2, 1, 0, 1, 2, 3, 2),
    (0, 1, 2, 1, 3, 2, 1, 2),
    (0, 2, 3, 2, 1, 2, 0, 2),
)


def _hz(note: int) -> float:
    return float(440.0 * 2.0 ** ((note - 69) / 12.0))


def _add_note(
    out: NDArray[np.float64],
    start_s: float,
    length_s: float,
    freq: float,
    partials: tuple[float, ...],
    envelope: str,
    gain: float,
) -> None:
    """Mix one note into ``out`` (which is long enough for any note to ring out)."""
    start = round(start_s * TELEPHONY_RATE)
    count = round(length_s * TELEPHONY_RATE)
    t = np.arange(count, dtype=np.float64) / TELEPHONY_RATE
    tone = np.zeros(count)
    for number, weight in enumerate(partials, start=1):
        if weight and freq * number < _HIGHEST_PARTIAL_HZ:
            tone += weight * np.sin(2.0 * math.pi * freq * number * t)
    if envelope == "pluck":
        shape = np.exp(-t / 0.35) * np.minimum(1.0, t / 0.006)
    elif envelope == "bell":
        shape = np.exp(-t / 0.9) * np.minimum(1.0, t / 0.01)
    elif envelope == "bass":
        shape = np.exp(-t / 0.8) * np.minimum(1.0, t / 0.02)
    else:  # pad: slow swell, hold, slow fade that overlaps the next chord
        attack, release = 0.45, 0.9
        shape = np.minimum(1.0, t / attack) * np.clip((length_s - t) / release, 0.0, 1.0)
    # A short raised-cosine tail so no note ends with a step, whatever its envelope.
    fade = min(count, TELEPHONY_RATE // 50)
    shape[count - fade :] *= 0.5 + 0.5 * np.cos(np.linspace(0.0, math.pi, fade))
    out[start : start + count] += gain * tone * shape


def synthesise_music_on_hold() -> bytes:
    """The loop as 8 kHz mono 16-bit little-endian PCM (exactly 30 s); the same bytes every time."""
    beat_s = 60.0 / _BPM
    bar_s = _BAR_S
    total = LOOP_SAMPLES
    ring = 4 * TELEPHONY_RATE  # longest note tail past the end, wrapped round to the start
    out = np.zeros(total + ring, dtype=np.float64)
    rng = np.random.default_rng(_SEED)
    for bar, (bass, pad) in enumerate(_PROGRESSION):
        bar_start = bar * bar_s
        for note in pad:
            # Two voices a few cents apart give the pad a slow, warm beating.
            for cents in (-4.0, 4.0):
                freq = _hz(note) * 2.0 ** (cents / 1200.0)
                _add_note(out, bar_start, bar_s + 0.9, freq, (1.0, 0.15), "pad", 0.05)
        for beat in (0, 2):
            _add_note(out, bar_start + beat * beat_s, 1.8, _hz(bass), _BASS_PARTIALS, "bass", 0.2)
        tones = [*pad[:3], pad[0] + 12]
        pattern = _ARPEGGIO_PATTERNS[int(rng.integers(len(_ARPEGGIO_PATTERNS)))]
        for step, index in enumerate(pattern):
            if step and rng.random() < 0.12:
                continue  # an occasional rest keeps the figure from sounding mechanical
            velocity = 0.11 + 0.04 * rng.random() + (0.03 if step % 4 == 0 else 0.0)
            start = bar_start + step * beat_s / 2
            _add_note(out, start, 1.2, _hz(tones[index] + 12), (1.0, 0.25, 0.08), "pluck", velocity)
    for bar, beat, note, beats in _MELODY:
        start = bar * bar_s + beat * beat_s
        _add_note(out, start, beats * beat_s + 1.5, _hz(note), (1.0, 0.0, 0.12), "bell", 0.22)
    loop = out[:total].copy()
    loop[:ring] += out[total:]
    loop *= 10.0 ** (PEAK_DBFS / 20.0) / float(np.max(np.abs(loop)))
    return float_to_pcm16(loop)


def music_on_hold(cache_dir: Path) -> EncodedAudio:
    """The loop, read from ``cache_dir`` or synthesised and cached there (atomically) on first
    use; a damaged cache file is replaced."""
    path = Path(cache_dir) / f"music-on-hold-v{MOH_VERSION}.wav"
    try:
        audio = read_wav(path)
    except AudioError:
        audio = None
    if (
        audio is not None
        and audio.sample_rate == TELEPHONY_RATE
        and audio.channels == 1
        and audio.frames == LOOP_SAMPLES
    ):
        return EncodedAudio(float_to_pcm16(audio.samples[:, 0]))
    pcm = synthesise_music_on_hold()
    write_file_atomic(path, wav_bytes(pcm))
    return EncodedAudio(pcm)


def music_on_hold_source(cache_dir: Path) -> LoopSource:
    """A source that plays the loop until stopped."""
    return LoopSource(music_on_hold(cache_dir))
