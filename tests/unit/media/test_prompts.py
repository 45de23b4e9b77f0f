"""Tenant prompt libraries, text to speech with espeak-ng (the real engine), announcements."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glasshouse.adapters.media.audio import wav_bytes
from glasshouse.adapters.media.prompts import (
    PromptError,
    PromptLibrary,
    TextToSpeech,
    announcement_text,
    check_prompt_name,
)
from glasshouse.testing.audio import dominant_frequency, rms_dbfs, tone_pcm

ESPEAK = shutil.which("espeak-ng")
needs_espeak = pytest.mark.skipif(ESPEAK is None, reason="espeak-ng is not installed")


def put_prompt(root: Path, tenant: str, name: str, freq: float, ms: int = 400) -> Path:
    path = root / "tenants" / tenant / "prompts" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    stereo = np.repeat(np.frombuffer(tone_pcm(freq, ms, rate=44100), dtype="<i2"), 2)
    path.write_bytes(wav_bytes(stereo.tobytes(), sample_rate=44100, channels=2))
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    put_prompt(tmp_path, "acme", "welcome.wav", 500)
    put_prompt(tmp_path, "acme", "ivr/menu.wav", 700)
    put_prompt(tmp_path, "beta", "secret.wav", 900)
    return tmp_path


# ---------------------------------------------------------------------------------------------
# Prompt library


def test_prompts_are_loaded_from_the_tenants_folder_as_8khz(root: Path) -> None:
    library = PromptLibrary(root, "acme")
    welcome = library.load("welcome.wav")
    assert welcome.duration_ms == 400
    assert dominant_frequency(welcome.pcm) == pytest.approx(500, abs=5)
    assert dominant_frequency(library.load("ivr/menu.wav").pcm) == pytest.approx(700, abs=5)
    assert library.names() == ["ivr/menu.wav", "welcome.wav"]
    source = library.source("welcome.wav")
    assert b"".join(iter(lambda: source.next_payload(0), None)) == welcome.encoded(0)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../beta/prompts/secret.wav", "'..'"),
        ("../../beta/prompts/secret.wav", "'..'"),
        ("ivr/../../../beta/prompts/secret.wav", "'..'"),
        ("..", "'..'"),
        ("/etc/passwd", "absolute path"),
        (str(Path("/tmp/beta/prompts/secret.wav")), "absolute path"),
        ("welcome\x00.wav", "NUL"),
        ("..\\beta\\secret.wav", "backslash"),
        ("welcome.mp3", "must end in .wav"),
        ("welcome", "must end in .wav"),
        (".hidden.wav", "must start with a letter or digit"),
        ("ivr//menu.wav", "must start with a letter or digit"),
        ("ivr/./menu.wav", "must start with a letter or digit"),
        ("", "non-empty"),
        ("a/" * 9 + "x.wav", "nested more than 8"),
    ],
)
def test_names_that_could_leave_the_folder_are_refused(root: Path, name: str, message: str) -> None:
    library = PromptLibrary(root, "acme")
    with pytest.raises(PromptError, match=message):
        library.load(name)


def test_a_symlink_to_another_tenant_is_refused(root: Path) -> None:
    link = root / "tenants" / "acme" / "prompts" / "shortcut.wav"
    link.symlink_to(root / "tenants" / "beta" / "prompts" / "secret.wav")
    library = PromptLibrary(root, "acme")
    with pytest.raises(PromptError, match="resolves outside its prompt folder"):
        library.load("shortcut.wav")
    assert "shortcut.wav" not in library.names()


def test_each_tenant_sees_only_its_own_prompts(root: Path) -> None:
    assert PromptLibrary(root, "beta").names() == ["secret.wav"]
    with pytest.raises(PromptError, match=r"prompt 'secret\.wav' not found for tenant 'acme'"):
        PromptLibrary(root, "acme").load("secret.wav")


@pytest.mark.parametrize("tenant", ["", "../beta", "a/b", ".", "acme\x00", 7])
def test_tenant_ids_are_checked(root: Path, tenant: object) -> None:
    with pytest.raises(PromptError, match="tenant id"):
        PromptLibrary(root, tenant)  # type: ignore[arg-type]


def test_unreadable_prompt_names_the_prompt(root: Path) -> None:
    (root / "tenants" / "acme" / "prompts" / "broken.wav").write_bytes(b"not audio")
    with pytest.raises(PromptError, match=r"prompt 'broken\.wav' of tenant 'acme'.*not a RIFF"):
        PromptLibrary(root, "acme").load("broken.wav")


def test_loaded_prompts_are_cached_and_a_changed_file_is_reloaded(root: Path) -> None:
    library = PromptLibrary(root, "acme")
    first = library.load("welcome.wav")
    assert library.load("welcome.wav") is first
    path = put_prompt(root, "acme", "welcome.wav", 1200, ms=600)
    os.utime(path, ns=(10**18, 10**18))
    changed = library.load("welcome.wav")
    assert changed.duration_ms == 600
    assert dominant_frequency(changed.pcm) == pytest.approx(1200, abs=5)
    assert library.cached_bytes == changed.size_bytes


def test_cache_is_bounded_by_bytes_and_evicts_the_least_recently_used(root: Path) -> None:
    size = PromptLibrary(root, "acme").load("welcome.wav").size_bytes
    library = PromptLibrary(root, "acme", cache_bytes=2 * size)
    welcome = library.load("welcome.wav")
    menu = library.load("ivr/menu.wav")
    assert library.load("welcome.wav") is welcome  # now the most recent
    put_prompt(root, "acme", "third.wav", 300)
    library.load("third.wav")
    assert library.cached_bytes <= 2 * size
    assert library.load("welcome.wav") is welcome
    assert library.load("ivr/menu.wav") is not menu  # was evicted, so read again


def test_oversized_prompt_files_are_refused(root: Path) -> None:
    library = PromptLibrary(root, "acme", max_file_bytes=1000)
    with pytest.raises(PromptError, match=r"prompt 'welcome\.wav' of tenant 'acme' is \d+ bytes"):
        library.load("welcome.wav")


def test_prompt_larger_than_the_cache_is_served_but_not_kept(root: Path) -> None:
    library = PromptLibrary(root, "acme", cache_bytes=100)
    assert library.load("welcome.wav").duration_ms == 400
    assert library.cached_bytes == 0


@settings(deadline=None, max_examples=300)
@given(st.text(max_size=40))
def test_no_accepted_name_can_climb_out(name: str) -> None:
    try:
        relative = check_prompt_name(name)
    except PromptError:
        return
    assert not relative.is_absolute()
    assert ".." not in relative.parts and "\x00" not in name and "\\" not in name


# ---------------------------------------------------------------------------------------------
# Text to speech


@pytest.fixture(scope="module")
def tts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tts")


@needs_espeak
def test_speech_is_rendered_once_then_read_from_the_cache(tts_dir: Path) -> None:
    tts = TextToSpeech(tts_dir / "a")
    speech = tts.speak("Thank you for calling. Please hold.", tenant_id="acme")
    assert tts.renders == 1
    assert speech.duration_ms > 1000
    path = tts.cache_path("Thank you for calling. Please hold.", tenant_id="acme")
    assert path.parent == tts_dir / "a" / "acme"
    os.utime(path, ns=(1, 1))
    again = tts.speak("Thank you for calling. Please hold.", tenant_id="acme")
    assert tts.renders == 1
    assert again.pcm == speech.pcm
    assert path.stat().st_mtime_ns == 1
    # A new instance (a restarted process) also finds it on disk.
    restarted = TextToSpeech(tts_dir / "a")
    assert restarted.speak("Thank you for calling. Please hold.", tenant_id="acme").pcm == (
        speech.pcm
    )
    assert restarted.renders == 0
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary files left


@needs_espeak
def test_speech_sounds_like_speech(tts_dir: Path) -> None:
    speech = TextToSpeech(tts_dir / "b").speak("Your call is important to us.", tenant_id="acme")
    assert rms_dbfs(speech.pcm) > -35
    frames = np.frombuffer(speech.pcm, dtype="<i2").astype(np.float64)
    frames = frames[: frames.size - frames.size % 160].reshape(-1, 160)
    energy = np.sqrt((frames**2).mean(axis=1))
    active = energy > 0.01 * energy.max()
    # Syllables and gaps: the level of sounding frames varies widely, unlike a tone or noise...
    low, high = np.percentile(energy[active], [10, 90])
    assert high > 5 * low
    # ...and so does the spectrum, as the formants move from vowel to vowel.
    spectra = np.abs(np.fft.rfft(frames[active] * np.hanning(160), axis=1))
    centroids = (spectra * np.fft.rfftfreq(160, 1 / 8000)).sum(axis=1) / spectra.sum(axis=1)
    assert np.std(centroids) > 150
    pitch = dominant_frequency(speech.pcm)
    assert 80 < pitch < 3400


@needs_espeak
def test_voice_speed_and_tenant_each_get_their_own_cache_entry(tts_dir: Path) -> None:
    tts = TextToSpeech(tts_dir / "c")
    slow = tts.speak("Goodbye.", "en", 100, tenant_id="acme")
    fast = tts.speak("Goodbye.", "en", 300, tenant_id="acme")
    assert slow.duration_ms > fast.duration_ms
    tts.speak("Goodbye.", "en", 100, tenant_id="beta")
    assert tts.renders == 3
    assert sorted(p.name for p in (tts_dir / "c").iterdir()) == ["acme", "beta"]
    assert len(list((tts_dir / "c" / "acme").iterdir())) == 2
    assert len(list((tts_dir / "c" / "beta").iterdir())) == 1


@needs_espeak
def test_prerender_renders_only_what_is_missing(tts_dir: Path) -> None:
    tts = TextToSpeech(tts_dir / "d")
    texts = [announcement_text(n, 120) for n in range(1, 4)]
    assert tts.prerender([*texts, texts[0]], tenant_id="acme") == 3
    assert tts.prerender(texts, tenant_id="acme") == 0
    assert tts.renders == 3


@needs_espeak
def test_text_that_looks_like_an_option_is_spoken(tts_dir: Path) -> None:
    target = tts_dir / "evil.wav"
    speech = TextToSpeech(tts_dir / "e").speak(f"-w {target}", tenant_id="acme")
    assert speech.duration_ms > 300
    assert not target.exists()


@needs_espeak
def test_engine_failure_names_the_text_and_exit_code(tts_dir: Path) -> None:
    tts = TextToSpeech(tts_dir / "f")
    with pytest.raises(PromptError, match=r"failed speaking 'Hello there' \(exit code 1\).*voice"):
        tts.speak("Hello there", voice="zz-nonexistent", tenant_id="acme")
    assert not any((tts_dir / "f" / "acme").iterdir())


def test_missing_engine_is_a_clear_error(tmp_path: Path) -> None:
    tts = TextToSpeech(tmp_path, executable=str(tmp_path / "no-such-espeak"))
    with pytest.raises(PromptError, match="not installed: cannot speak 'Welcome'"):
        tts.speak("Welcome", tenant_id="acme")


def test_engine_that_writes_nothing_is_an_error(tmp_path: Path) -> None:
    fake = tmp_path / "fake-espeak"
    fake.write_text("#!/bin/sh\necho 'fake 1.0'\n")
    fake.chmod(0o755)
    tts = TextToSpeech(tmp_path / "cache", executable=str(fake))
    with pytest.raises(PromptError, match="unreadable audio for 'Welcome'"):
        tts.speak("Welcome", tenant_id="acme")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"text": ""}, "non-empty"),
        ({"text": "   "}, "non-empty"),
        ({"text": "a\x00b"}, "NUL"),
        ({"text": "x" * 5000}, "5000 characters"),
        ({"voice": "en; rm -rf /"}, "not a valid voice"),
        ({"voice": ""}, "not a valid voice"),
        ({"speed": 10}, "outside 80-450"),
        ({"speed": 160.0}, "whole number"),
        ({"tenant_id": "../beta"}, "tenant id"),
    ],
)
def test_speech_arguments_are_checked(
    tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"text": "Hello", "voice": "en", "speed": 160, "tenant_id": "acme"}
    args.update(kwargs)
    tts = TextToSpeech(tmp_path, executable="/bin/echo")
    with pytest.raises(PromptError, match=message):
        tts.speak(**args)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Announcements


@pytest.mark.parametrize(
    ("position", "wait", "text"),
    [
        (3, 120, "You are caller number 3 in the queue. Your expected wait is about 2 minutes."),
        (1, None, "You are the next caller in the queue."),
        (12, None, "You are caller number 12 in the queue."),
        (2, 0, "You are caller number 2 in the queue. Your expected wait is less than a minute."),
        (2, 59, "You are caller number 2 in the queue. Your expected wait is less than a minute."),
        (2, 60, "You are caller number 2 in the queue. Your expected wait is about 1 minute."),
        (2, 89, "You are caller number 2 in the queue. Your expected wait is about 1 minute."),
        (2, 90, "You are caller number 2 in the queue. Your expected wait is about 2 minutes."),
        (2, 569, "You are caller number 2 in the queue. Your expected wait is about 9 minutes."),
        (2, 570, "You are caller number 2 in the queue. Your expected wait is about 10 minutes."),
        (2, 749, "You are caller number 2 in the queue. Your expected wait is about 10 minutes."),
        (2, 750, "You are caller number 2 in the queue. Your expected wait is about 15 minutes."),
        (2, 3449, "You are caller number 2 in the queue. Your expected wait is about 55 minutes."),
        (2, 3450, "You are caller number 2 in the queue. Your expected wait is about an hour."),
        (2, 3749, "You are caller number 2 in the queue. Your expected wait is about an hour."),
        (2, 3750, "You are caller number 2 in the queue. Your expected wait is more than an hour."),
    ],
)
def test_announcement_wording(position: int, wait: int | None, text: str) -> None:
    assert announcement_text(position, wait) == text


@settings(deadline=None, max_examples=200)
@given(st.integers(1, 10_000), st.integers(0, 100_000))
def test_announcements_are_grammatical_and_never_shorter_for_longer_waits(
    position: int, wait: int
) -> None:
    text = announcement_text(position, wait)
    assert text.startswith("You are ") and text.endswith(".")
    assert "1 minutes" not in text.replace("11 minutes", "").replace("21 minutes", "")

    def minutes(t: str) -> float:
        phrase = t.split("wait is ")[1]
        if "less than" in phrase:
            return 0
        if "an hour" in phrase:
            return 60 if "about" in phrase else 61
        return int(phrase.split()[1])

    assert minutes(announcement_text(position, wait + 30)) >= minutes(text)


@pytest.mark.parametrize(("position", "wait"), [(0, 10), (-1, 10), (True, 10), (2, -5), (2, 1.5)])
def test_announcement_arguments_are_checked(position: object, wait: object) -> None:
    with pytest.raises(PromptError):
        announcement_text(position, wait)  # type: ignore[arg-type]
