"""Audio sources: what each one yields, frame by frame, in both G.711 laws; music on hold."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from glasshouse.adapters.media.audio import read_wav, wav_bytes
from glasshouse.adapters.media.moh import (
    LOOP_SAMPLES,
    music_on_hold,
    music_on_hold_source,
    synthesise_music_on_hold,
)
from glasshouse.adapters.media.source import AudioSource
from glasshouse.adapters.media.sources import (
    EncodedAudio,
    LoopSource,
    Playlist,
    PromptSource,
    SilenceSource,
    SourceError,
    ToneSource,
)
from glasshouse.protocols.rtp.g711 import pcma_decode, pcma_encode, pcmu_decode, pcmu_encode
from glasshouse.testing.audio import dominant_frequency, rms_dbfs, tone_pcm

PCMU, PCMA = 0, 8


def drain(source: AudioSource, payload_type: int = PCMU, limit: int = 100_000) -> list[bytes]:
    frames = []
    while (payload := source.next_payload(payload_type)) is not None:
        frames.append(payload)
        assert len(frames) < limit, "source never finished"
    return frames


def ramp_pcm(samples: int) -> bytes:
    return (np.arange(samples) * 97 % 20000 - 10000).astype("<i2").tobytes()


# ---------------------------------------------------------------------------------------------
# EncodedAudio and PromptSource


def test_encoded_audio_pads_the_last_frame_with_silence() -> None:
    audio = EncodedAudio(ramp_pcm(400))
    assert audio.frames == 3
    assert audio.duration_ms == 60
    assert audio.pcm[800:] == bytes(160)
    assert audio.encoded(PCMU)[400:] == b"\xff" * 80
    assert audio.encoded(PCMA)[400:] == b"\xd5" * 80


@pytest.mark.parametrize(("pt", "encode"), [(PCMU, pcmu_encode), (PCMA, pcma_encode)])
def test_prompt_plays_each_frame_once_in_the_asked_law(pt: int, encode: object) -> None:
    assert callable(encode)
    pcm = ramp_pcm(1600)
    frames = drain(PromptSource(EncodedAudio(pcm)), pt)
    assert [len(f) for f in frames] == [160] * 10
    assert b"".join(frames) == encode(pcm)


def test_the_law_can_change_between_frames() -> None:
    pcm = ramp_pcm(320)
    source = PromptSource(EncodedAudio(pcm))
    assert source.next_payload(PCMU) == pcmu_encode(pcm[:320])
    assert source.next_payload(PCMA) == pcma_encode(pcm[320:])


def test_finished_prompt_stays_finished_and_stop_finishes_early() -> None:
    source = PromptSource(EncodedAudio(ramp_pcm(480)))
    assert len(drain(source)) == 3
    assert source.next_payload(PCMU) is None
    assert source.next_payload(PCMA) is None
    stopped = PromptSource(EncodedAudio(ramp_pcm(480)))
    stopped.next_payload(PCMU)
    assert stopped.position_ms == 20
    stopped.stop()
    assert stopped.next_payload(PCMU) is None


def test_frame_index_is_checked() -> None:
    audio = EncodedAudio(ramp_pcm(320))
    assert audio.frame(PCMA, 1) == pcma_encode(audio.pcm[320:])
    with pytest.raises(SourceError, match="frame 2 out of range 0-1"):
        audio.frame(PCMU, 2)


def test_odd_pcm_is_refused() -> None:
    with pytest.raises(SourceError, match="3 bytes is not a whole number of 16-bit samples"):
        EncodedAudio(b"abc")


@pytest.mark.parametrize("pt", [3, 9, 18, 101, -1, None, "0"])
def test_every_source_refuses_unknown_payload_types(pt: object) -> None:
    audio = EncodedAudio(ramp_pcm(160))
    sources: list[AudioSource] = [
        PromptSource(audio),
        LoopSource(audio),
        SilenceSource(100),
        ToneSource(440, 100),
        Playlist([audio]),
        Playlist([]),
    ]
    for source in sources:
        with pytest.raises(SourceError, match=f"payload type {pt!r} is not supported.*G.711"):
            source.next_payload(pt)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Loop, silence, tone, playlist


def test_loop_wraps_round_until_stopped() -> None:
    audio = EncodedAudio(ramp_pcm(480))
    loop = LoopSource(audio)
    frames = [loop.next_payload(PCMU) for _ in range(7)]
    whole = audio.encoded(PCMU)
    assert b"".join(f or b"" for f in frames) == whole * 2 + whole[:160]
    loop.stop()
    assert loop.next_payload(PCMU) is None
    assert loop.next_payload(PCMU) is None


def test_loop_of_nothing_is_refused() -> None:
    with pytest.raises(SourceError, match="cannot loop empty audio"):
        LoopSource(EncodedAudio(b""))


@pytest.mark.parametrize(("ms", "frames"), [(0, 0), (1, 1), (20, 1), (50, 3), (1000, 50)])
def test_silence_rounds_up_to_whole_frames(ms: int, frames: int) -> None:
    assert drain(SilenceSource(ms), PCMU) == [b"\xff" * 160] * frames
    assert drain(SilenceSource(ms), PCMA) == [b"\xd5" * 160] * frames


@pytest.mark.parametrize("ms", [-20, 1.5, True, "20"])
def test_silence_length_is_checked(ms: object) -> None:
    with pytest.raises(SourceError, match="silence length"):
        SilenceSource(ms)  # type: ignore[arg-type]


@pytest.mark.parametrize(("freq", "pt"), [(440, PCMU), (1004, PCMA), (2600, PCMU)])
def test_tone_is_at_its_frequency_and_level(freq: int, pt: int) -> None:
    frames = drain(ToneSource(freq, 1000, level_dbfs=-10), pt)
    assert len(frames) == 50
    codes = b"".join(frames)
    pcm = pcmu_decode(codes) if pt == PCMU else pcma_decode(codes)
    assert dominant_frequency(pcm) == pytest.approx(freq, abs=5)
    assert rms_dbfs(pcm[800:-800]) == pytest.approx(-10, abs=0.3)


def test_tone_starts_and_ends_without_a_click() -> None:
    pcm = pcmu_decode(b"".join(drain(ToneSource(1000, 200, level_dbfs=0))))
    samples = np.frombuffer(pcm, dtype="<i2")
    assert abs(int(samples[0])) < 200 and abs(int(samples[-1])) < 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 100, -10), "frequency"),
        ((4000, 100, -10), "frequency"),
        ((440, -1, -10), "length"),
        ((440, 100, 3), "level"),
        ((440, 100, float("nan")), "level"),
    ],
)
def test_tone_arguments_are_checked(args: tuple[float, int, float], message: str) -> None:
    with pytest.raises(SourceError, match=message):
        ToneSource(*args)


def test_playlist_plays_its_items_back_to_back() -> None:
    first, second = EncodedAudio(ramp_pcm(320)), EncodedAudio(ramp_pcm(160))
    playlist = Playlist([first, SilenceSource(40), PromptSource(second), Playlist([])])
    frames = drain(playlist, PCMA)
    assert b"".join(frames) == (first.encoded(PCMA) + b"\xd5" * 320 + second.encoded(PCMA))
    assert playlist.next_payload(PCMA) is None


def test_playlist_ending_in_a_loop_plays_until_stopped() -> None:
    music = EncodedAudio(ramp_pcm(160))
    playlist = Playlist([SilenceSource(20), LoopSource(music)])
    frames = [playlist.next_payload(PCMU) for _ in range(5)]
    assert frames == [b"\xff" * 160] + [music.encoded(PCMU)] * 4
    playlist.stop()
    assert playlist.next_payload(PCMU) is None


def test_from_wav_converts_any_rate(tmp_path: Path) -> None:
    path = tmp_path / "hello.wav"
    path.write_bytes(wav_bytes(tone_pcm(700, 500, rate=16000), sample_rate=16000))
    audio = EncodedAudio.from_wav(path)
    assert audio.duration_ms == 500
    assert dominant_frequency(audio.pcm) == pytest.approx(700, abs=5)


# ---------------------------------------------------------------------------------------------
# Music on hold


@pytest.fixture(scope="module")
def music() -> bytes:
    return synthesise_music_on_hold()


def test_music_is_thirty_seconds_peaking_at_minus_12_dbfs(music: bytes) -> None:
    samples = np.frombuffer(music, dtype="<i2").astype(np.float64)
    assert samples.size == LOOP_SAMPLES == 240_000
    peak_dbfs = 20 * np.log10(np.abs(samples).max() / 32768)
    assert peak_dbfs == pytest.approx(-12, abs=0.05)
    # Never silent, never far quieter than average: it is music, not gaps.
    levels = [rms_dbfs(music[i : i + 16000]) for i in range(0, len(music), 16000)]
    assert min(levels) > -40 and max(levels) - min(levels) < 12


def test_music_is_deterministic(music: bytes) -> None:
    assert synthesise_music_on_hold() == music


def test_music_loops_without_a_seam(music: bytes) -> None:
    samples = np.frombuffer(music, dtype="<i2").astype(np.float64)
    steps = np.abs(np.diff(samples))
    seam = abs(samples[0] - samples[-1])
    assert seam <= np.percentile(steps, 99.9)


def test_music_is_not_one_bar_repeated(music: bytes) -> None:
    samples = np.frombuffer(music, dtype="<i2").astype(np.float64)
    bars = samples.reshape(8, -1)
    for a in range(8):
        for b in range(a + 1, 8):
            correlation = np.corrcoef(bars[a], bars[b])[0, 1]
            assert correlation < 0.9


def test_music_has_its_energy_in_the_telephone_band(music: bytes) -> None:
    samples = np.frombuffer(music, dtype="<i2").astype(np.float64)
    power = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / 8000)
    band = power[(freqs >= 200) & (freqs <= 3400)].sum()
    assert band / power.sum() > 0.9


def test_music_is_cached_as_a_wav_on_first_use(tmp_path: Path, music: bytes) -> None:
    first = music_on_hold(tmp_path)
    assert first.pcm == music
    (cached,) = tmp_path.iterdir()
    assert cached.suffix == ".wav"
    assert read_wav(cached).sample_rate == 8000
    os.utime(cached, ns=(1, 1))
    second = music_on_hold(tmp_path)
    assert second.pcm == music
    assert cached.stat().st_mtime_ns == 1  # read, not rewritten


def test_damaged_music_cache_is_replaced(tmp_path: Path, music: bytes) -> None:
    music_on_hold(tmp_path)
    (cached,) = tmp_path.iterdir()
    cached.write_bytes(b"RIFF garbage")
    assert music_on_hold(tmp_path).pcm == music
    assert read_wav(cached).frames == LOOP_SAMPLES


def test_music_on_hold_source_loops(tmp_path: Path) -> None:
    source = music_on_hold_source(tmp_path)
    frames = [source.next_payload(PCMA) for _ in range(1501)]
    assert frames[1500] == frames[0]
    source.stop()
    assert source.next_payload(PCMA) is None
