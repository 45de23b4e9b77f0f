"""Tenant prompts: recorded WAV prompts from the tenant's own folder, text to speech with a disk
cache, and the wording of queue announcements.

A tenant's prompts live under ``root/tenants/<tenant>/prompts/``. Prompt names are checked before
they touch the file system and the resolved path must stay inside that folder, so no name (``..``,
an absolute path, a symlink) reaches another tenant's files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Final

from glasshouse.adapters.media.audio import (
    TELEPHONY_RATE,
    AudioError,
    parse_wav,
    read_wav,
    telephony_pcm,
    wav_bytes,
    write_file_atomic,
)
from glasshouse.adapters.media.sources import EncodedAudio, PromptSource

_TENANT_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_NAME_PART: Final = re.compile(r"\w[\w .,()+-]{0,127}")
_PROMPT_SUFFIXES: Final = frozenset({".wav"})
_MAX_NAME_DEPTH: Final = 8
_VOICE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+-]{0,63}")
_MIN_SPEED, _MAX_SPEED = 80, 450
_MAX_TEXT: Final = 4000


class PromptError(ValueError):
    """A prompt cannot be found, read or rendered; the message names the prompt or text."""


def check_tenant_id(tenant_id: object) -> str:
    """``tenant_id`` if it can name a tenant's folder, else :class:`PromptError`."""
    if not isinstance(tenant_id, str) or not _TENANT_ID.fullmatch(tenant_id):
        raise PromptError(
            f"tenant id {tenant_id!r} is not allowed: use 1-128 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit"
        )
    return tenant_id


def check_prompt_name(name: object) -> PurePosixPath:
    """The relative path a prompt name stands for, or :class:`PromptError` saying what is wrong
    with it. Names are ``/``-separated, each part starting with a letter or digit, ending .wav."""
    if not isinstance(name, str) or not name:
        raise PromptError(f"prompt name must be a non-empty string, got {name!r}")
    if "\x00" in name:
        raise PromptError(f"prompt name {name!r} contains a NUL character")
    if "\\" in name:
        raise PromptError(f"prompt name {name!r} contains a backslash: separate folders with '/'")
    if name.startswith("/"):
        raise PromptError(f"prompt name {name!r} is an absolute path: names are relative")
    parts = name.split("/")
    if ".." in parts:
        raise PromptError(f"prompt name {name!r} contains '..': prompts cannot leave their folder")
    if len(parts) > _MAX_NAME_DEPTH:
        raise PromptError(f"prompt name {name!r} is nested more than {_MAX_NAME_DEPTH} deep")
    for part in parts:
        if not _NAME_PART.fullmatch(part):
            raise PromptError(
                f"prompt name {name!r}: part {part!r} must start with a letter or digit and use "
                "only letters, digits, spaces and _ . , ( ) + -"
            )
    path = PurePosixPath(name)
    if path.suffix.lower() not in _PROMPT_SUFFIXES:
        raise PromptError(f"prompt name {name!r} must end in .wav")
    return path


class PromptLibrary:
    """One tenant's recorded prompts, converted to 8 kHz G.711 on first use and kept in a
    least-recently-used memory cache of at most ``cache_bytes``. A changed file is re-read."""

    def __init__(
        self,
        root: Path,
        tenant_id: str,
        *,
        cache_bytes: int = 32 * 1024 * 1024,
        max_file_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        if cache_bytes < 0:
            raise PromptError(f"cache_bytes must be non-negative, got {cache_bytes}")
        self.max_file_bytes = max_file_bytes
        self.tenant_id = check_tenant_id(tenant_id)
        self.directory = Path(root) / "tenants" / self.tenant_id / "prompts"
        self.cache_limit = cache_bytes
        self._cache: OrderedDict[str, tuple[tuple[int, int], EncodedAudio]] = OrderedDict()
        self._cached_bytes = 0
        self._lock = threading.Lock()

    @property
    def cached_bytes(self) -> int:
        """Memory the cache holds now."""
        return self._cached_bytes

    def path(self, name: str) -> Path:
        """The file a prompt name refers to, checked to lie inside this tenant's prompt folder
        even after following symlinks."""
        relative = check_prompt_name(name)
        base = self.directory.resolve()
        resolved = (base / relative).resolve()
        if not resolved.is_relative_to(base):
            raise PromptError(
                f"prompt {name!r} of tenant {self.tenant_id!r} resolves outside its prompt folder"
            )
        return resolved

    def names(self) -> list[str]:
        """Every prompt in the folder, as names :meth:`load` accepts, sorted."""
        if not self.directory.is_dir():
            return []
        found = []
        for path in self.directory.rglob("*"):
            name = path.relative_to(self.directory).as_posix()
            try:
                self.path(name)
            except PromptError:
                continue
            if path.is_file():
                found.append(name)
        return sorted(found)

    def load(self, name: str) -> EncodedAudio:
        """A prompt's audio, from the cache when the file has not changed since it was read."""
        path = self.path(name)
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise PromptError(f"prompt {name!r} not found for tenant {self.tenant_id!r}") from None
        except OSError as exc:
            raise PromptError(f"prompt {name!r}: cannot read: {exc.strerror or exc}") from exc
        if not path.is_file():
            raise PromptError(f"prompt {name!r} of tenant {self.tenant_id!r} is not a file")
        if stat.st_size > self.max_file_bytes:
            raise PromptError(
                f"prompt {name!r} of tenant {self.tenant_id!r} is {stat.st_size} bytes "
                f"(at most {self.max_file_bytes})"
            )
        version = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            hit = self._cache.get(name)
            if hit is not None and hit[0] == version:
                self._cache.move_to_end(name)
                return hit[1]
        try:
            audio = EncodedAudio(telephony_pcm(read_wav(path)))
        except AudioError as exc:
            raise PromptError(f"prompt {name!r} of tenant {self.tenant_id!r}: {exc}") from exc
        self._remember(name, version, audio)
        return audio

    def source(self, name: str) -> PromptSource:
        """A source that plays the prompt once."""
        return PromptSource(self.load(name))

    def _remember(self, name: str, version: tuple[int, int], audio: EncodedAudio) -> None:
        with self._lock:
            old = self._cache.pop(name, None)
            if old is not None:
                self._cached_bytes -= old[1].size_bytes
            if audio.size_bytes > self.cache_limit:
                return  # larger than the whole cache: serve it, keep nothing
            self._cache[name] = (version, audio)
            self._cached_bytes += audio.size_bytes
            while self._cached_bytes > self.cache_limit:
                _, (_, evicted) = self._cache.popitem(last=False)
                self._cached_bytes -= evicted.size_bytes


# ---------------------------------------------------------------------------------------------
# Text to speech


def _check_speech_args(text: object, voice: object, speed: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise PromptError(f"text to speak must be a non-empty string, got {text!r}")
    if "\x00" in text:
        raise PromptError(f"text to speak {text[:40]!r} contains a NUL character")
    if len(text) > _MAX_TEXT:
        raise PromptError(f"text to speak is {len(text)} characters long (at most {_MAX_TEXT})")
    if not isinstance(voice, str) or not _VOICE.fullmatch(voice):
        raise PromptError(f"voice {voice!r} is not a valid voice name (like 'en' or 'en-us+f3')")
    if isinstance(speed, bool) or not isinstance(speed, int):
        raise PromptError(f"speed must be a whole number of words per minute, got {speed!r}")
    if not _MIN_SPEED <= speed <= _MAX_SPEED:
        raise PromptError(f"speed {speed} words per minute outside {_MIN_SPEED}-{_MAX_SPEED}")
    return text


def _quote(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


class TextToSpeech:
    """Speech from text with espeak-ng, cached on disk per tenant under
    ``cache_dir/<tenant>/<sha256>.wav`` (already 8 kHz mono), keyed by voice, speed, text and the
    engine's version, so an upgraded engine renders afresh."""

    def __init__(
        self, cache_dir: Path, *, executable: str = "espeak-ng", timeout_s: float = 30.0
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self.executable = executable
        self.timeout_s = timeout_s
        self.renders = 0  # how many times the engine has been run to speak (not cache hits)
        self._engine_version: str | None = None

    def engine_version(self, *, speaking: str = "anything") -> str:
        """The engine's ``--version`` line (run once per instance); ``speaking`` is the text
        named in the error if the engine is missing."""
        if self._engine_version is None:
            result = self._run([self.executable, "--version"], speaking)
            self._engine_version = result.stdout.decode("utf-8", "replace").strip()
        return self._engine_version

    def cache_path(self, text: str, voice: str = "en", speed: int = 160, *, tenant_id: str) -> Path:
        """Where the rendering of ``text`` is (or will be) cached for this tenant."""
        tenant = check_tenant_id(tenant_id)
        _check_speech_args(text, voice, speed)
        key = json.dumps(
            {
                "engine": self.engine_version(speaking=_quote(text)),
                "voice": voice,
                "speed": speed,
                "text": text,
            },
            sort_keys=True,
        )
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return self.cache_dir / tenant / f"{digest}.wav"

    def speak(
        self, text: str, voice: str = "en", speed: int = 160, *, tenant_id: str
    ) -> EncodedAudio:
        """``text`` spoken by ``voice`` at ``speed`` words per minute; rendered by espeak-ng on
        the first request and read from the tenant's cache afterwards."""
        path = self.cache_path(text, voice, speed, tenant_id=tenant_id)
        cached = self._read_cached(path)
        if cached is not None:
            return cached
        return self._render(path, text, voice, speed)

    def prerender(
        self, texts: Iterable[str], voice: str = "en", speed: int = 160, *, tenant_id: str
    ) -> int:
        """Make sure every text is in the cache (for example a queue's announcements before
        calls arrive); returns how many had to be rendered."""
        rendered = 0
        for text in texts:
            path = self.cache_path(text, voice, speed, tenant_id=tenant_id)
            if self._read_cached(path) is None:
                self._render(path, text, voice, speed)
                rendered += 1
        return rendered

    def _read_cached(self, path: Path) -> EncodedAudio | None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise PromptError(f"cannot read cached speech {path}: {exc.strerror or exc}") from exc
        try:
            audio = parse_wav(data, name=str(path))
        except AudioError:
            return None  # damaged (for example by a disk error): render it again
        if audio.sample_rate != TELEPHONY_RATE or audio.channels != 1 or audio.frames == 0:
            return None
        return EncodedAudio(telephony_pcm(audio))

    def _render(self, path: Path, text: str, voice: str, speed: int) -> EncodedAudio:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, raw_name = tempfile.mkstemp(prefix=".render-", suffix=".wav", dir=path.parent)
        os.close(fd)
        raw = Path(raw_name)
        try:
            # An argument list, never a shell; "--" so text starting with "-" is not an option.
            command = [self.executable, "-v", voice, "-s", str(speed), "-w", raw_name, "--", text]
            self._run(command, _quote(text))
            self.renders += 1
            try:
                audio = read_wav(raw)
            except AudioError as exc:
                raise PromptError(
                    f"{self.executable} wrote unreadable audio for {_quote(text)}: {exc}"
                ) from exc
            if audio.frames == 0:
                raise PromptError(f"{self.executable} produced no audio for {_quote(text)}")
            pcm = telephony_pcm(audio)
            write_file_atomic(path, wav_bytes(pcm))
        finally:
            raw.unlink(missing_ok=True)
        return EncodedAudio(pcm)

    def _run(self, command: list[str], what: str) -> subprocess.CompletedProcess[bytes]:
        try:
            result = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=self.timeout_s,
                check=False,
            )
        except FileNotFoundError:
            raise PromptError(
                f"text-to-speech engine {self.executable!r} is not installed: cannot speak {what}"
            ) from None
        except PermissionError:
            raise PromptError(
                f"text-to-speech engine {self.executable!r} cannot be run: cannot speak {what}"
            ) from None
        except subprocess.TimeoutExpired:
            raise PromptError(
                f"{self.executable} did not finish within {self.timeout_s:g} s speaking {what}"
            ) from None
        if result.returncode != 0:
            stderr = result.stderr.decode("utf-8", "replace").strip() or "(no error output)"
            raise PromptError(
                f"{self.executable} failed speaking {what} (exit code {result.returncode}): "
                f"{stderr}"
            )
        return result


# ---------------------------------------------------------------------------------------------
# Announcements


def _about(wait_s: int) -> str:
    """The expected-wait phrase. Under a minute: "less than a minute". Under 9.5 minutes: the
    nearest whole minute (halves up). Under 57.5 minutes: the nearest 5 minutes (halves up, at
    least 10). Under 62.5 minutes: "about an hour". Longer: "more than an hour"."""
    if wait_s < 60:
        return "less than a minute"
    minutes = (wait_s + 30) // 60
    if minutes < 10:
        return "about 1 minute" if minutes == 1 else f"about {minutes} minutes"
    fives = max(10, (wait_s + 150) // 300 * 5)
    if fives < 60:
        return f"about {fives} minutes"
    return "about an hour" if fives == 60 else "more than an hour"


def announcement_text(position: int, expected_wait_s: int | None) -> str:
    """What to tell a queued caller: "You are caller number 3 in the queue. Your expected wait
    is about 2 minutes." (position 1 is "the next caller"; no wait sentence when it is None)."""
    if isinstance(position, bool) or not isinstance(position, int) or position < 1:
        raise PromptError(f"queue position must be a whole number from 1, got {position!r}")
    if expected_wait_s is not None and (
        isinstance(expected_wait_s, bool)
        or not isinstance(expected_wait_s, int)
        or expected_wait_s < 0
    ):
        raise PromptError(
            f"expected wait must be a non-negative whole number of seconds, got {expected_wait_s!r}"
        )
    if position == 1:
        sentence = "You are the next caller in the queue."
    else:
        sentence = f"You are caller number {position} in the queue."
    if expected_wait_s is None:
        return sentence
    return f"{sentence} Your expected wait is {_about(expected_wait_s)}."
