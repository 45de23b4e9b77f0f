"""Call recording: alignment of the two legs, pause, flushing in whole seconds with a valid header,
repair after a crash, and the per-tenant index."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from glasshouse.adapters.media.audio import parse_wav
from glasshouse.adapters.media.recording import (
    AGENT,
    CALLER,
    CallRecorder,
    RecordingError,
    RecordingIndex,
    repair_wav,
)
from glasshouse.testing.audio import channel, dominant_frequency, tone_pcm

FRAME = 320  # bytes in 20 ms of 8 kHz 16-bit audio


def frames_of(pcm: bytes) -> list[bytes]:
    return [pcm[i : i + FRAME] for i in range(0, len(pcm), FRAME)]


def samples(path: Path) -> np.ndarray:
    """The recording as int16 samples, shape (frames, channels)."""
    audio = parse_wav(path.read_bytes())
    assert (audio.sample_rate, audio.bits_per_sample) == (8000, 16)
    return np.rint(audio.samples * 32768).astype(np.int16)


def assert_header_matches_file(path: Path) -> int:
    data = path.read_bytes()
    (riff_size,) = struct.unpack_from("<I", data, 4)
    (data_size,) = struct.unpack_from("<I", data, 40)
    assert riff_size == len(data) - 8
    assert data_size == len(data) - 44
    return int(data_size)


def test_legs_are_placed_by_media_time(tmp_path: Path) -> None:
    caller, agent = tone_pcm(440, 2000), tone_pcm(1000, 1500)
    recorder = CallRecorder(tmp_path / "call.wav")
    # Packets arrive interleaved as the call runs; the agent starts talking at 500 ms.
    for i, payload in enumerate(frames_of(caller)):
        recorder.write(CALLER, payload, i * 20)
        if i >= 25:
            recorder.write(AGENT, agent[(i - 25) * FRAME : (i - 24) * FRAME], i * 20)
    info = recorder.close()
    assert info.duration_ms == 2000
    assert info.bytes == 44 + 2000 * 8 * 4 == (tmp_path / "call.wav").stat().st_size
    recorded = samples(tmp_path / "call.wav")
    assert recorded[:, 0].tobytes() == caller
    assert not recorded[:4000, 1].any()
    assert recorded[4000:, 1].tobytes() == agent[: 12000 * 2]
    # The agent's tone begins exactly at sample 4000 (0.5 s): its first non-zero sample is the
    # tone's own first non-zero sample, shifted by 4000.
    first_in_tone = int(np.flatnonzero(np.frombuffer(agent, dtype="<i2"))[0])
    assert int(np.flatnonzero(recorded[:, 1])[0]) == 4000 + first_in_tone


def test_gaps_become_silence_and_reordered_packets_land_in_place(tmp_path: Path) -> None:
    tone = tone_pcm(800, 200)
    recorder = CallRecorder(tmp_path / "call.wav", channels=1)
    parts = frames_of(tone)
    order = [1, 0, 3, 2, 4, 6, 5, 7, 9, 8]  # jitter: pairs swapped
    for i in order:
        recorder.write(CALLER, parts[i], 1000 + i * 20)
    info = recorder.close(at_ms=1500)
    assert info.duration_ms == 1500
    recorded = samples(tmp_path / "call.wav")[:, 0]
    assert not recorded[:8000].any()
    assert recorded[8000:9600].tobytes() == tone
    assert not recorded[9600:].any()


def test_flushes_whole_seconds_with_a_valid_header_each_time(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    recorder = CallRecorder(path, late_ms=200)
    assert assert_header_matches_file(path) == 0
    tone = tone_pcm(440, 4000)
    sizes_seen = set()
    for i, payload in enumerate(frames_of(tone)):
        recorder.write(CALLER, payload, i * 20)
        recorder.write(AGENT, payload, i * 20)
        data_size = assert_header_matches_file(path)
        sizes_seen.add(data_size)
        # Whole seconds only, and only seconds no late packet can still change.
        assert data_size % 32000 == 0
        assert recorder.flushed_ms == data_size // 32
        assert recorder.flushed_ms <= max(0, (i + 1) * 20 - 200)
        assert parse_wav(path.read_bytes()).frames == data_size // 4
    assert sizes_seen == {0, 32000, 64000, 96000}
    recorder.close()
    assert assert_header_matches_file(path) == 128000


def test_flush_interval_is_configurable(tmp_path: Path) -> None:
    recorder = CallRecorder(tmp_path / "call.wav", channels=1, flush_interval_ms=200, late_ms=0)
    for i, payload in enumerate(frames_of(tone_pcm(440, 500))):
        recorder.write(CALLER, payload, i * 20)
    assert recorder.flushed_ms == 400
    assert recorder.close().duration_ms == 500


def test_late_audio_for_a_flushed_second_is_dropped_and_counted(tmp_path: Path) -> None:
    recorder = CallRecorder(tmp_path / "call.wav", channels=1, late_ms=0)
    recorder.write(CALLER, bytes(16000), 0)  # one second: flushed at once
    assert recorder.flushed_ms == 1000
    recorder.write(CALLER, tone_pcm(440, 100), 950)  # 50 ms late, 50 ms in time
    assert recorder.late_ms_dropped == 50
    recorded = samples(tmp_path / "call.wav")
    recorder.close()
    recorded = samples(tmp_path / "call.wav")[:, 0]
    assert not recorded[:8000].any()
    assert recorded[8000:8400].tobytes() == tone_pcm(440, 100)[800:]


def test_a_jump_ahead_in_media_time_is_silence(tmp_path: Path) -> None:
    recorder = CallRecorder(tmp_path / "call.wav")
    recorder.write(CALLER, tone_pcm(440, 20), 0)
    recorder.write(AGENT, tone_pcm(440, 20), 600_000)  # ten minutes on hold with no packets
    assert recorder.flushed_ms >= 599_000
    info = recorder.close()
    assert info.duration_ms == 600_020
    recorded = samples(tmp_path / "call.wav")
    assert not recorded[160:4_800_000].any()


def test_pause_records_silence_and_reports_the_span(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    events: list[tuple[str, object]] = []
    recorder = CallRecorder(path, on_event=lambda e, d: events.append((e, d)))
    tone = tone_pcm(440, 4000)
    for i, payload in enumerate(frames_of(tone)):
        at = i * 20
        if at == 1000:
            recorder.pause(1000)
            assert recorder.is_paused
        if at == 2500:
            recorder.resume(2500)
        recorder.write(CALLER, payload, at)
        recorder.write(AGENT, payload, at)
    # A late packet from inside the paused span must not reach the file.
    recorder.write(CALLER, tone[28000:28320], 1750)
    info = recorder.close()
    assert info.paused == [(1000, 2500)]
    recorded = samples(path)
    assert not recorded[8000:20000].any()
    assert recorded[:8000, 0].tobytes() == tone[:16000]
    assert recorded[20000:, 1].tobytes() == tone[40000:]
    assert events[:2] == [("paused", 1000), ("resumed", 2500)]
    assert events[2][0] == "closed" and events[2][1] == info


def test_pause_after_the_audio_reached_disk_silences_it_there(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    recorder = CallRecorder(path, channels=1, late_ms=0)
    recorder.write(CALLER, tone_pcm(440, 2000), 0)
    assert recorder.flushed_ms == 2000
    recorder.pause(1500)
    assert not samples(path)[12000:, 0].any()
    info = recorder.close(at_ms=3000)
    assert info.paused == [(1500, 3000)]
    assert info.duration_ms == 3000


def test_pause_and_resume_are_checked(tmp_path: Path) -> None:
    recorder = CallRecorder(tmp_path / "call.wav")
    with pytest.raises(RecordingError, match="not paused"):
        recorder.resume(100)
    recorder.pause(1000)
    with pytest.raises(RecordingError, match="already paused"):
        recorder.pause(1200)
    with pytest.raises(RecordingError, match="resume at 900 ms is before the pause at 1000 ms"):
        recorder.resume(900)
    recorder.resume(2000)
    with pytest.raises(RecordingError, match="before the end of the previous pause"):
        recorder.pause(1500)
    assert recorder.paused_spans() == [(1000, 2000)]
    recorder.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((2, b"\x00\x00", 0), "channel must be 0 \\(caller\\) or 1 \\(agent\\), got 2"),
        ((True, b"\x00\x00", 0), "channel"),
        ((0, b"\x00", 0), "1 bytes is not a whole number of 16-bit samples"),
        ((0, "abcd", 0), "audio must be bytes"),
        ((0, b"\x00\x00", -20), "media time"),
        ((0, b"\x00\x00", float("nan")), "media time"),
        ((0, b"\x00\x00", float("inf")), "media time"),
        ((0, b"\x00\x00", 300_000_000), "beyond the 4 GiB"),
    ],
)
def test_bad_writes_are_refused(tmp_path: Path, args: tuple[object, ...], message: str) -> None:
    recorder = CallRecorder(tmp_path / "call.wav")
    with pytest.raises(RecordingError, match=message):
        recorder.write(*args)  # type: ignore[arg-type]
    recorder.close()


def test_recorder_never_overwrites_and_refuses_use_after_close(tmp_path: Path) -> None:
    with CallRecorder(tmp_path / "call.wav") as recorder:
        recorder.write(CALLER, bytes(320), 0)
    assert recorder.closed
    with pytest.raises(RecordingError, match="is closed"):
        recorder.write(CALLER, bytes(320), 20)
    with pytest.raises(RecordingError, match="already exists"):
        CallRecorder(tmp_path / "call.wav")
    for kwargs in ({"channels": 3}, {"flush_interval_ms": 0}, {"late_ms": -1}):
        with pytest.raises(RecordingError):
            CallRecorder(tmp_path / "other.wav", **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Repair


def recorded_file(tmp_path: Path, seconds: int = 2) -> Path:
    path = tmp_path / "call.wav"
    recorder = CallRecorder(path)
    tone = tone_pcm(440, seconds * 1000)
    for i, payload in enumerate(frames_of(tone)):
        recorder.write(CALLER, payload, i * 20)
        recorder.write(AGENT, payload, i * 20)
    recorder.close()
    return path


def test_repair_takes_in_data_written_after_the_last_header_update(tmp_path: Path) -> None:
    path = recorded_file(tmp_path)
    stereo = np.repeat(np.frombuffer(tone_pcm(440, 500), dtype="<i2"), 2).astype("<i2")
    with path.open("ab") as handle:  # a crash between appending and rewriting the sizes
        handle.write(stereo.tobytes() + b"\x01\x02\x03")  # ...and the last frame torn
    assert repair_wav(path) == 2500
    assert assert_header_matches_file(path) == 2500 * 32
    assert dominant_frequency(channel(samples(path).tobytes(), 0)) == pytest.approx(440, abs=5)


def test_repair_shrinks_sizes_that_claim_too_much(tmp_path: Path) -> None:
    path = recorded_file(tmp_path)
    data = bytearray(path.read_bytes())
    data[40:44] = struct.pack("<I", 10**6)
    path.write_bytes(bytes(data[:-10]))
    assert repair_wav(path) == 1999  # 15998 of 16000 frames are whole
    assert assert_header_matches_file(path) % 4 == 0


def test_repair_of_a_sound_file_changes_nothing(tmp_path: Path) -> None:
    path = recorded_file(tmp_path)
    before = path.read_bytes()
    assert repair_wav(path) == 2000
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "no RIFF/WAVE header"), (b"RIFF\x00\x00\x00\x00WAVE", "no data chunk")],
)
def test_repair_refuses_what_is_not_a_wav(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(RecordingError, match=message):
        repair_wav(path)
    with pytest.raises(RecordingError, match="cannot open"):
        repair_wav(tmp_path / "missing.wav")


# ---------------------------------------------------------------------------------------------
# Index

STARTED = 1_700_000_000_000  # 2023-11-14T22:13:20Z


def test_recordings_are_filed_by_tenant_and_utc_date(tmp_path: Path) -> None:
    index = RecordingIndex(tmp_path, "acme")
    assert index.recording_path("c-1", STARTED) == (
        tmp_path / "tenants" / "acme" / "recordings" / "2023" / "11" / "14" / "c-1.wav"
    )


@pytest.mark.parametrize("call_id", ["", "../c1", "a/b", ".", "c1\x00", "x" * 200, 5])
def test_call_ids_are_checked(tmp_path: Path, call_id: object) -> None:
    with pytest.raises(RecordingError, match="call id"):
        RecordingIndex(tmp_path, "acme").start(call_id, STARTED)  # type: ignore[arg-type]


@pytest.mark.parametrize("tenant", ["", "../beta", "a/b"])
def test_index_tenant_ids_are_checked(tmp_path: Path, tenant: str) -> None:
    with pytest.raises(RecordingError, match="tenant id"):
        RecordingIndex(tmp_path, tenant)


def test_index_follows_a_recording_from_start_to_close(tmp_path: Path) -> None:
    index = RecordingIndex(tmp_path, "acme")
    recorder = index.start("c-1", STARTED)
    for i, payload in enumerate(frames_of(tone_pcm(440, 1000))):
        recorder.write(CALLER, payload, i * 20)
    recorder.pause(400)
    recorder.resume(600)
    (open_one,) = index.recordings()
    assert not open_one.closed and open_one.paused == [(400, 600)]
    info = recorder.close()
    (closed,) = index.recordings()
    assert closed.closed and not closed.recovered
    assert (closed.duration_ms, closed.paused, closed.bytes) == (1000, [(400, 600)], info.bytes)
    assert closed.path == info.path
    assert index.recover() == []
    with pytest.raises(RecordingError, match="already exists"):
        index.start("c-1", STARTED)
    assert RecordingIndex(tmp_path, "beta").recordings() == []


def crash_state(tmp_path: Path, call_id: str) -> tuple[RecordingIndex, Path]:
    """A recording as a crash leaves it: indexed as started (and paused), file flushed to 1 s
    with more data after the header's sizes, no close entry."""
    index = RecordingIndex(tmp_path, "acme")
    recorder = index.start(call_id, STARTED)
    tone = tone_pcm(440, 1600)
    recorder.pause(1400)
    for i, payload in enumerate(frames_of(tone)):
        recorder.write(CALLER, payload, i * 20)
    snapshot = recorder.path.read_bytes()
    assert recorder.flushed_ms == 1000
    recorder.close()
    lines = index.index_path.read_text().splitlines()
    index.index_path.write_text("\n".join(lines[:-1]) + "\n")
    recorder.path.write_bytes(snapshot + bytes(8000 * 4 // 10))  # 100 ms past the header
    return RecordingIndex(tmp_path, "acme"), recorder.path


def test_recover_repairs_and_closes_what_a_crash_left_open(tmp_path: Path) -> None:
    index, path = crash_state(tmp_path, "c-2")
    (recovered,) = index.recover()
    assert recovered.closed and recovered.recovered
    assert recovered.duration_ms == 1100
    assert recovered.paused == [(1400, 1400)]  # open at the crash: ends where the audio does
    assert recovered.bytes == path.stat().st_size == 44 + 1100 * 32
    assert assert_header_matches_file(path) == 1100 * 32
    assert index.recordings() == [recovered]
    assert index.recover() == []


def test_recover_marks_a_missing_file(tmp_path: Path) -> None:
    index, path = crash_state(tmp_path, "c-3")
    path.unlink()
    (recovered,) = index.recover()
    assert (recovered.duration_ms, recovered.problem) == (0, "file missing")


def test_a_torn_index_line_is_skipped_and_not_glued_to_the_next(tmp_path: Path) -> None:
    index, _ = crash_state(tmp_path, "c-4")
    with index.index_path.open("a") as handle:
        handle.write('{"event": "clo')  # the crash cut this entry short
    fresh = RecordingIndex(tmp_path, "acme")
    (recovered,) = fresh.recover()
    assert recovered.call_id == "c-4"
    lines = fresh.index_path.read_text().splitlines()
    assert json.loads(lines[-1])["event"] == "closed"
    assert lines[-2] == '{"event": "clo'
    assert [r.closed for r in RecordingIndex(tmp_path, "acme").recordings()] == [True]
