"""Call recording that survives a crash: a stereo 8 kHz 16-bit WAV (left = caller, right = agent)
written a whole flush interval at a time, and a per-tenant index that finds recordings a crash left
open.

Each flush appends the audio, then rewrites the RIFF and data sizes, then fsyncs, so after
``kill -9`` the file is a valid WAV up to the last flush; a crash between the append and the size
rewrite leaves sizes that lag the data, which :func:`repair_wav` fixes.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from glasshouse.adapters.media.audio import AudioError, fsync_directory, parse_fmt_chunk, wav_header

RECORDING_RATE: Final = 8000
CALLER: Final = 0  # left channel
AGENT: Final = 1  # right channel
_HEADER_BYTES: Final = 44
_SAMPLES_PER_MS: Final = RECORDING_RATE // 1000
_MAX_DATA_BYTES: Final = 0xFFFFFFFF - 36  # the RIFF size field is 32 bits
_SILENCE_CHUNK: Final = 1 << 20
_TENANT_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_CALL_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}")


class RecordingError(ValueError):
    """A recording cannot be written, repaired or indexed as asked; the message says why."""


@dataclass(frozen=True)
class RecordingInfo:
    """A finished recording: its file, length, the paused spans (ms from the start, silent in the
    file) and the file's size in bytes."""

    path: Path
    duration_ms: int
    paused: list[tuple[int, int]] = field(default_factory=list)
    bytes: int = 0


def _media_position(at_ms: object) -> int:
    if (
        isinstance(at_ms, bool)
        or not isinstance(at_ms, int | float)
        or not 0 <= at_ms < math.inf  # also refuses NaN
    ):
        raise RecordingError(f"media time must be a non-negative number of ms, got {at_ms!r}")
    return round(at_ms * _SAMPLES_PER_MS)


class CallRecorder:
    """Records a call to a new WAV file at ``path`` (never overwriting one).

    Audio is placed by media time, so legs stay aligned and gaps become silence. Audio arriving
    more than ``late_ms`` behind the newest audio may find its second already on disk; that part
    is dropped and counted in :attr:`late_ms_dropped`. ``on_event`` hears ``("paused", at_ms)``,
    ``("resumed", at_ms)`` and ``("closed", info)``."""

    def __init__(
        self,
        path: Path,
        *,
        channels: int = 2,
        flush_interval_ms: int = 1000,
        late_ms: int = 500,
        on_event: Callable[[str, object], None] | None = None,
    ) -> None:
        if channels not in (1, 2):
            raise RecordingError(f"a recording has 1 or 2 channels, not {channels!r}")
        if isinstance(flush_interval_ms, bool) or not isinstance(flush_interval_ms, int):
            raise RecordingError(f"flush interval must be whole ms, got {flush_interval_ms!r}")
        if flush_interval_ms < 1:
            raise RecordingError(f"flush interval must be positive, got {flush_interval_ms} ms")
        if isinstance(late_ms, bool) or not isinstance(late_ms, int) or late_ms < 0:
            raise RecordingError(f"late_ms must be a non-negative whole number, got {late_ms!r}")
        self.path = Path(path)
        self.channels = channels
        self._block = 2 * channels
        self._unit = flush_interval_ms * _SAMPLES_PER_MS
        self._late = late_ms * _SAMPLES_PER_MS
        self._on_event = on_event
        self._pending: NDArray[np.int16] = np.zeros((2 * self._unit, channels), dtype="<i2")
        self._flushed = 0  # frames on disk
        self._high = 0  # end of the newest audio, in frames
        self._pauses: list[tuple[int, int | None]] = []  # frames; None: still paused
        self._late_dropped = 0
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        except FileExistsError:
            raise RecordingError(f"recording {self.path} already exists") from None
        except OSError as exc:
            raise RecordingError(f"cannot create {self.path}: {exc.strerror or exc}") from exc
        try:
            self._pwrite(wav_header(0, sample_rate=RECORDING_RATE, channels=channels), 0)
            self._fsync()
            fsync_directory(self.path.parent)
        except BaseException:
            os.close(self._fd)
            raise

    # -- state ---------------------------------------------------------------------------------

    @property
    def flushed_ms(self) -> int:
        """Media time safely on disk: the file is a valid WAV at least this long even after a
        crash."""
        return self._flushed // _SAMPLES_PER_MS

    @property
    def late_ms_dropped(self) -> int:
        return self._late_dropped // _SAMPLES_PER_MS

    @property
    def is_paused(self) -> bool:
        return bool(self._pauses) and self._pauses[-1][1] is None

    @property
    def closed(self) -> bool:
        return self._closed

    def paused_spans(self) -> list[tuple[int, int | None]]:
        """Pause intervals so far in ms (``None`` end: still paused)."""
        return [
            (s // _SAMPLES_PER_MS, None if e is None else e // _SAMPLES_PER_MS)
            for s, e in self._pauses
        ]

    # -- audio ---------------------------------------------------------------------------------

    def write(self, channel: int, pcm_s16le: bytes, at_ms: float) -> None:
        """Place 8 kHz 16-bit little-endian audio of one leg (0 = caller, 1 = agent) at media
        time ``at_ms`` from the start of the recording."""
        self._check_open()
        if isinstance(channel, bool) or channel not in range(self.channels):
            raise RecordingError(
                f"channel must be 0 (caller){' or 1 (agent)' if self.channels == 2 else ''}, "
                f"got {channel!r}"
            )
        if not isinstance(pcm_s16le, bytes | bytearray | memoryview):
            raise RecordingError(f"audio must be bytes, got {type(pcm_s16le).__name__}")
        if len(pcm_s16le) % 2:
            raise RecordingError(
                f"audio of {len(pcm_s16le)} bytes is not a whole number of 16-bit samples"
            )
        start = _media_position(at_ms)
        samples = np.frombuffer(pcm_s16le, dtype="<i2")
        end = start + samples.size
        if samples.size == 0:
            return
        self._check_size(end)
        high = max(self._high, end)
        settled = high - self._late
        # Silence before this audio that is already settled goes to disk first, so a jump ahead
        # in media time never needs a buffer as long as the jump.
        self._flush_whole_units(min(start, settled))
        if start < self._flushed:
            skipped = min(self._flushed, end) - start
            self._late_dropped += skipped
            samples, start = samples[skipped:], start + skipped
        if samples.size:
            offset = start - self._flushed
            self._ensure_capacity(offset + samples.size)
            self._pending[offset : offset + samples.size, channel] = samples
            self._silence_paused(start, end, channel)
        self._high = high
        self._flush_whole_units(settled)

    def pause(self, at_ms: float) -> None:
        """Stop recording from ``at_ms`` (for example while a caller reads out card details): the
        span is written as silence, even audio for it that arrives later."""
        self._check_open()
        if self.is_paused:
            raise RecordingError(f"recording {self.path.name} is already paused")
        start = _media_position(at_ms)
        previous_end = (self._pauses[-1][1] or 0) if self._pauses else 0
        if start < previous_end:
            raise RecordingError(
                f"pause at {at_ms} ms is before the end of the previous pause "
                f"({previous_end // _SAMPLES_PER_MS} ms)"
            )
        self._pauses.append((start, None))
        if start < self._flushed:
            # Already on disk: overwrite with silence so nothing said after the pause is kept.
            self._write_silence(start, self._flushed)
            self._fsync()
        self._pending[max(0, start - self._flushed) :, :] = 0
        self._notify("paused", start // _SAMPLES_PER_MS)

    def resume(self, at_ms: float) -> None:
        """Record again from ``at_ms``."""
        self._check_open()
        if not self.is_paused:
            raise RecordingError(f"recording {self.path.name} is not paused")
        end = _media_position(at_ms)
        start = self._pauses[-1][0]
        if end < start:
            raise RecordingError(
                f"resume at {at_ms} ms is before the pause at {start // _SAMPLES_PER_MS} ms"
            )
        self._pauses[-1] = (start, end)
        self._notify("resumed", end // _SAMPLES_PER_MS)

    def close(self, at_ms: float | None = None) -> RecordingInfo:
        """Write everything buffered and finish the file; ``at_ms`` extends the recording with
        silence to that media time (for example the moment the call ended)."""
        self._check_open()
        if at_ms is not None:
            end = _media_position(at_ms)
            self._check_size(end)
            self._high = max(self._high, end)
        if self.is_paused:
            start = self._pauses[-1][0]
            self._pauses[-1] = (start, max(self._high, start))
        self._write_frames(self._high - self._flushed)
        os.close(self._fd)
        self._closed = True
        fsync_directory(self.path.parent)
        info = RecordingInfo(
            self.path,
            self._flushed * 1000 // RECORDING_RATE,
            [(s // _SAMPLES_PER_MS, (e or s) // _SAMPLES_PER_MS) for s, e in self._pauses],
            _HEADER_BYTES + self._flushed * self._block,
        )
        self._notify("closed", info)
        return info

    def __enter__(self) -> CallRecorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._closed:
            self.close()

    # -- internals -----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RecordingError(f"recording {self.path.name} is closed")

    def _check_size(self, end_frame: int) -> None:
        if end_frame * self._block > _MAX_DATA_BYTES:
            raise RecordingError(
                f"media time {end_frame // _SAMPLES_PER_MS} ms is beyond the 4 GiB a WAV file holds"
            )

    def _notify(self, event: str, detail: object) -> None:
        if self._on_event is not None:
            self._on_event(event, detail)

    def _ensure_capacity(self, frames: int) -> None:
        if frames > len(self._pending):
            grown = np.zeros((max(frames, 2 * len(self._pending)), self.channels), dtype="<i2")
            grown[: len(self._pending)] = self._pending
            self._pending = grown

    def _silence_paused(self, start: int, end: int, channel: int) -> None:
        for pause_start, pause_end in self._pauses:
            low = max(start, pause_start)
            high = end if pause_end is None else min(end, pause_end)
            if low < high:
                self._pending[low - self._flushed : high - self._flushed, channel] = 0

    def _flush_whole_units(self, limit: int) -> None:
        units = (limit - self._flushed) // self._unit
        if units > 0:
            self._write_frames(units * self._unit)

    def _pwrite(self, data: bytes, offset: int) -> None:
        view = memoryview(data)
        try:
            while view:
                written = os.pwrite(self._fd, view, offset)
                view, offset = view[written:], offset + written
        except OSError as exc:
            raise RecordingError(f"cannot write {self.path}: {exc.strerror or exc}") from exc

    def _write_frames(self, count: int) -> None:
        """Append ``count`` frames (buffered audio, then silence), rewrite the sizes, fsync."""
        if count <= 0:
            return
        from_buffer = min(count, len(self._pending))
        offset = _HEADER_BYTES + self._flushed * self._block
        self._pwrite(self._pending[:from_buffer].tobytes(), offset)
        if count > from_buffer:
            self._write_silence(self._flushed + from_buffer, self._flushed + count)
        # Shift what is left to the front of the buffer (numpy copes with the overlap).
        self._pending[: len(self._pending) - from_buffer] = self._pending[from_buffer:]
        self._pending[len(self._pending) - from_buffer :] = 0
        self._flushed += count
        data_bytes = self._flushed * self._block
        # Sizes only after the data, so a crash in between leaves sizes that lag, never lead.
        self._pwrite(struct.pack("<I", 36 + data_bytes), 4)
        self._pwrite(struct.pack("<I", data_bytes), 40)
        self._fsync()

    def _fsync(self) -> None:
        try:
            os.fsync(self._fd)
        except OSError as exc:
            raise RecordingError(f"cannot sync {self.path}: {exc.strerror or exc}") from exc

    def _write_silence(self, start: int, end: int) -> None:
        position = _HEADER_BYTES + start * self._block
        remaining = (end - start) * self._block
        zeros = bytes(min(remaining, _SILENCE_CHUNK))
        while remaining > 0:
            chunk = zeros[: min(remaining, len(zeros))]
            self._pwrite(chunk, position)
            position += len(chunk)
            remaining -= len(chunk)


# ---------------------------------------------------------------------------------------------
# Repair


def repair_wav(path: Path) -> int:
    """Make a WAV file whose data chunk is last (as :class:`CallRecorder` writes them) valid
    again after a crash: sizes are set to the data actually present, a half-written frame at the
    end is cut off. Returns the duration in ms."""
    path = Path(path)
    try:
        handle = open(path, "r+b")  # noqa: SIM115 (closed in the finally below)
    except OSError as exc:
        raise RecordingError(f"cannot open {path} for repair: {exc.strerror or exc}") from exc
    try:
        file_size = os.fstat(handle.fileno()).st_size
        head = handle.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise RecordingError(f"{path}: no RIFF/WAVE header ({file_size} bytes)")
        fmt = None
        position = 12
        while True:
            handle.seek(position)
            chunk = handle.read(8)
            if len(chunk) < 8:
                raise RecordingError(f"{path}: no data chunk")
            chunk_id, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"fmt ":
                try:
                    fmt = parse_fmt_chunk(handle.read(size), str(path))
                except AudioError as exc:
                    raise RecordingError(str(exc)) from exc
            elif chunk_id == b"data":
                break
            position += 8 + size + (size & 1)
        if fmt is None:
            raise RecordingError(f"{path}: data chunk comes before any fmt chunk")
        data_start = position + 8
        present = max(0, file_size - data_start)
        whole = present - present % fmt.block_align
        if whole > _MAX_DATA_BYTES:
            whole = _MAX_DATA_BYTES - _MAX_DATA_BYTES % fmt.block_align
        if data_start + whole != file_size:
            handle.truncate(data_start + whole)
        handle.seek(4)
        handle.write(struct.pack("<I", data_start + whole - 8))
        handle.seek(position + 4)
        handle.write(struct.pack("<I", whole))
        handle.flush()
        os.fsync(handle.fileno())
    finally:
        handle.close()
    return whole // fmt.block_align * 1000 // fmt.sample_rate


# ---------------------------------------------------------------------------------------------
# Index


def _check_name(what: str, pattern: re.Pattern[str], allowed: str, value: object) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise RecordingError(
            f"{what} {value!r} is not allowed: use 1-128 letters, digits or {allowed}, "
            "starting with a letter or digit"
        )
    return value


@dataclass(frozen=True)
class IndexedRecording:
    """What the index knows of one recording (``duration_ms`` and ``bytes`` once closed)."""

    call_id: str
    path: Path
    started_at_ms: int
    closed: bool = False
    duration_ms: int | None = None
    paused: list[tuple[int, int | None]] = field(default_factory=list)  # None: open when read
    bytes: int | None = None
    recovered: bool = False
    problem: str | None = None


class RecordingIndex:
    """One tenant's recordings: files under ``root/tenants/<tenant>/recordings/YYYY/MM/DD/`` (UTC
    date the recording started) and an append-only ``index.jsonl`` beside them, each entry
    fsynced. One process writes a tenant's index at a time."""

    def __init__(self, root: Path, tenant_id: str) -> None:
        self.tenant_id = _check_name("tenant id", _TENANT_ID, "'_', '-', '.'", tenant_id)
        self.directory = Path(root) / "tenants" / self.tenant_id / "recordings"
        self.index_path = self.directory / "index.jsonl"
        self._tail_checked = False

    def recording_path(self, call_id: str, started_at_ms: int) -> Path:
        """Where the recording of ``call_id`` started at ``started_at_ms`` (Unix ms) lives."""
        _check_name("call id", _CALL_ID, "'_', '-', '.', '@'", call_id)
        if isinstance(started_at_ms, bool) or not isinstance(started_at_ms, int):
            raise RecordingError(f"start time must be whole Unix ms, got {started_at_ms!r}")
        if started_at_ms < 0:
            raise RecordingError(f"start time must not be before 1970, got {started_at_ms}")
        day = datetime.fromtimestamp(started_at_ms / 1000, UTC)
        return self.directory / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}" / f"{call_id}.wav"

    def start(
        self,
        call_id: str,
        started_at_ms: int,
        *,
        channels: int = 2,
        flush_interval_ms: int = 1000,
        late_ms: int = 500,
    ) -> CallRecorder:
        """Start recording a call: the index learns of it before the file exists, so a crash at
        any point leaves nothing :meth:`recover` cannot find. Pauses and the close are indexed
        as they happen."""
        path = self.recording_path(call_id, started_at_ms)
        if path.exists():
            raise RecordingError(f"recording {path} already exists")
        relative = path.relative_to(self.directory).as_posix()
        self._append(
            {"event": "started", "call_id": call_id, "path": relative, "at_ms": started_at_ms}
        )

        def on_event(event: str, detail: object) -> None:
            entry: dict[str, Any] = {"event": event, "call_id": call_id, "path": relative}
            if isinstance(detail, RecordingInfo):
                entry.update(_info_fields(detail))
            else:
                entry["at_ms"] = detail
            self._append(entry)

        try:
            return CallRecorder(
                path,
                channels=channels,
                flush_interval_ms=flush_interval_ms,
                late_ms=late_ms,
                on_event=on_event,
            )
        except RecordingError as exc:
            # Close the entry at once, so recovery never mistakes another file for this one.
            entry = {"event": "closed", "call_id": call_id, "path": relative, "problem": str(exc)}
            self._append({**entry, **_info_fields(RecordingInfo(path, 0, [], 0))})
            raise

    def recordings(self) -> list[IndexedRecording]:
        """Every recording in the index, in the order they started."""
        state: dict[str, dict[str, Any]] = {}
        for entry in self._entries():
            key = entry.get("path")
            if not isinstance(key, str):
                continue
            if entry.get("event") == "started":
                state[key] = {"entry": entry, "pauses": [], "closed": None}
            elif key in state:
                record = state[key]
                if entry.get("event") == "paused":
                    record["pauses"].append([entry.get("at_ms"), None])
                elif entry.get("event") == "resumed" and record["pauses"]:
                    record["pauses"][-1][1] = entry.get("at_ms")
                elif entry.get("event") == "closed":
                    record["closed"] = entry
        return [self._summarise(key, record) for key, record in state.items()]

    def recover(self) -> list[IndexedRecording]:
        """At start-up: repair every recording that was started but never closed and mark it
        closed with the duration its file really has. Returns the recordings it closed."""
        recovered = []
        for recording in self.recordings():
            if recording.closed:
                continue
            problem = None
            duration = 0
            size = 0
            if not recording.path.exists():
                problem = "file missing"  # the crash came between indexing and creating it
            else:
                try:
                    duration = repair_wav(recording.path)
                    size = recording.path.stat().st_size
                except RecordingError as exc:
                    problem = str(exc)
            # A pause still open at the crash lasted to the end of what was recorded.
            paused = [
                (start, max(start, duration) if end is None else end)
                for start, end in recording.paused
            ]
            entry: dict[str, Any] = {
                "event": "closed",
                "call_id": recording.call_id,
                "path": recording.path.relative_to(self.directory).as_posix(),
                "duration_ms": duration,
                "paused": [list(p) for p in paused],
                "bytes": size,
                "recovered": True,
            }
            if problem is not None:
                entry["problem"] = problem
            self._append(entry)
            recovered.append(self._summarise_closed(recording, entry))
        return recovered

    # -- internals -----------------------------------------------------------------------------

    def _summarise(self, key: str, record: dict[str, Any]) -> IndexedRecording:
        started = record["entry"]
        base = IndexedRecording(
            call_id=str(started.get("call_id")),
            path=self.directory / key,
            started_at_ms=int(started.get("at_ms") or 0),
            paused=[(int(s), None if e is None else int(e)) for s, e in record["pauses"]],
        )
        if record["closed"] is None:
            return base
        return self._summarise_closed(base, record["closed"])

    @staticmethod
    def _summarise_closed(base: IndexedRecording, closed: dict[str, Any]) -> IndexedRecording:
        return IndexedRecording(
            call_id=base.call_id,
            path=base.path,
            started_at_ms=base.started_at_ms,
            closed=True,
            duration_ms=int(closed.get("duration_ms") or 0),
            paused=[(int(s), int(e)) for s, e in closed.get("paused") or []],
            bytes=int(closed.get("bytes") or 0),
            recovered=bool(closed.get("recovered")),
            problem=closed.get("problem"),
        )

    def _entries(self) -> Iterator[dict[str, Any]]:
        try:
            text = self.index_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return
        for line in text.split("\n"):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # torn by a crash mid-append: the entry was never acknowledged
            if isinstance(entry, dict):
                yield entry

    def _append(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n"
        self.directory.mkdir(parents=True, exist_ok=True)
        created = not self.index_path.exists()
        fd = os.open(self.index_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            if not self._tail_checked:
                # After a crash mid-append the last line may lack its newline; start a fresh line
                # so this entry is not glued to the torn one.
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = "\n" + line
                self._tail_checked = True
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_directory(self.directory)


def _info_fields(info: RecordingInfo) -> dict[str, Any]:
    return {
        "duration_ms": info.duration_ms,
        "paused": [list(p) for p in info.paused],
        "bytes": info.bytes,
    }
