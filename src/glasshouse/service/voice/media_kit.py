"""Audio for calls: IVR prompts (recorded files and text-to-speech), music on hold, queue
announcements, and the recording store, per tenant under the server's data directory."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path

from glasshouse.adapters.media.moh import music_on_hold
from glasshouse.adapters.media.prompts import (
    PromptError,
    PromptLibrary,
    TextToSpeech,
    announcement_text,
)
from glasshouse.adapters.media.recording import RecordingIndex
from glasshouse.adapters.media.source import AudioSource
from glasshouse.adapters.media.sources import EncodedAudio, LoopSource, Playlist, SilenceSource
from glasshouse.domain.ivr.expr import Template
from glasshouse.domain.ivr.flow import Flow, TextPrompt
from glasshouse.domain.ivr.runner import AudioFile, Media, Speech

__all__ = ["MediaKit"]

_log = logging.getLogger(__name__)

_SPEECH_CACHE_ENTRIES = 512


class MediaKit:
    """Prompts, speech, music and recordings under ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.tts = TextToSpeech(self.data_dir / "speech-cache")
        self._moh: EncodedAudio | None = None
        self._libraries: dict[str, PromptLibrary] = {}
        self._indexes: dict[str, RecordingIndex] = {}
        # Spoken texts already encoded, per tenant: a prompt heard by every caller is read and
        # encoded once, not once per call. Bounded; the oldest entry goes first.
        self._speech: OrderedDict[tuple[str, str, str], EncodedAudio] = OrderedDict()

    def library(self, tenant_id: str) -> PromptLibrary:
        lib = self._libraries.get(tenant_id)
        if lib is None:
            lib = self._libraries[tenant_id] = PromptLibrary(self.data_dir, tenant_id)
        return lib

    def recordings(self, tenant_id: str) -> RecordingIndex:
        index = self._indexes.get(tenant_id)
        if index is None:
            index = self._indexes[tenant_id] = RecordingIndex(self.data_dir, tenant_id)
        return index

    def music(self) -> LoopSource:
        if self._moh is None:
            self._moh = music_on_hold(self.data_dir / "music")
        return LoopSource(self._moh)

    def prerender(self, tenant_id: str, flows: Iterable[Flow], voice: str) -> int:
        """Speak every fixed text of the tenant's flows into the cache before calls come, so
        a caller never waits for the speech engine; returns how many were rendered."""
        texts: dict[str, str] = {}
        for flow in flows:
            for node in flow.nodes.values():
                for value in _prompt_fields(node):
                    if isinstance(value, TextPrompt) and value.text.is_literal:
                        texts[value.text.render({})] = value.voice or voice
        rendered = 0
        for text, spoken_by in texts.items():
            rendered += self.tts.prerender([text], spoken_by, tenant_id=tenant_id)
        return rendered

    def _audio(self, tenant_id: str, media: Media) -> EncodedAudio | None:
        try:
            if isinstance(media, AudioFile):
                return self.library(tenant_id).load(media.file)
            key = (tenant_id, media.voice or "en", media.text)
            audio = self._speech.get(key)
            if audio is None:
                audio = self.tts.speak(media.text, media.voice or "en", tenant_id=tenant_id)
                self._speech[key] = audio
                if len(self._speech) > _SPEECH_CACHE_ENTRIES:
                    self._speech.popitem(last=False)
            else:
                self._speech.move_to_end(key)
            return audio
        except PromptError as exc:
            _log.warning("tenant %s: prompt not played: %s", tenant_id, exc)
            return None

    async def source(self, tenant_id: str, prompts: Iterable[Media]) -> AudioSource:
        """The prompts one after the other; speech not in the cache is rendered off the loop.
        A prompt that cannot be had is replaced by a short silence (and logged)."""
        items: list[AudioSource | EncodedAudio] = []
        for media in prompts:
            if isinstance(media, Speech) and not self._cached(tenant_id, media):
                audio = await asyncio.to_thread(self._audio, tenant_id, media)
            else:
                audio = self._audio(tenant_id, media)
            items.append(audio if audio is not None else SilenceSource(200))
        return Playlist(items)

    def _cached(self, tenant_id: str, speech: Speech) -> bool:
        if (tenant_id, speech.voice or "en", speech.text) in self._speech:
            return True
        try:
            path = self.tts.cache_path(speech.text, speech.voice or "en", tenant_id=tenant_id)
        except PromptError:
            return True  # the error is reported where the audio is fetched
        return path.exists()

    async def announcement(
        self, tenant_id: str, position: int, expected_wait_s: int | None, voice: str
    ) -> AudioSource:
        """ "You are caller number 3 ..." for a queued caller."""
        return await self.source(
            tenant_id, [Speech(announcement_text(position, expected_wait_s), voice, voice)]
        )


def _prompt_fields(node: object) -> list[object]:
    """Every prompt held by a node (single prompts, lists, survey questions)."""
    found: list[object] = []

    def walk(value: object) -> None:
        if isinstance(value, TextPrompt):
            found.append(value)
        elif isinstance(value, tuple | list):
            for item in value:
                walk(item)
        elif hasattr(value, "__dataclass_fields__") and not isinstance(value, Template):
            for name in value.__dataclass_fields__:
                walk(getattr(value, name))
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)

    for name in getattr(node, "__dataclass_fields__", {}):
        walk(getattr(node, name))
    return found
