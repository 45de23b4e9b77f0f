"""A recording survives ``kill -9``: a real recorder process, killed while it writes.

The recorder is this file run as a script. It records a call through a tenant's
:class:`RecordingIndex` (440 Hz on the caller's leg, 660 Hz on the agent's from 0.5 s), a little
faster than real time, and prints ``flushed_ms`` (flushed to stdout) each time more audio is safe
on disk. The test kills it with SIGKILL once a few seconds are flushed, then checks that the file
is a valid WAV at least as long as the last acknowledgement, that it still carries the right tones
on the right legs, and that the index's start-up recovery closes it with its real duration.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from glasshouse.adapters.media.audio import parse_wav
from glasshouse.adapters.media.recording import AGENT, CALLER, RecordingIndex, repair_wav
from glasshouse.testing.audio import dominant_frequency, tone_pcm

SRC = Path(__file__).resolve().parents[2] / "src"
STARTED = 1_700_000_000_000
FLUSHED_WANTED_MS = 3000
RECORDER_LIMIT_MS = 120_000  # a recorder that is never killed still stops
DEADLINE_S = 60.0
FRAME = 320


def record_until_killed(root: str, tenant: str, call_id: str) -> None:
    recorder = RecordingIndex(Path(root), tenant).start(call_id, STARTED)
    caller, agent = tone_pcm(440, 10_000), tone_pcm(660, 10_000)
    period = len(caller) // FRAME  # both tones are whole cycles over 10 s: they loop seamlessly
    reported = 0
    for i in range(RECORDER_LIMIT_MS // 20):
        k = i % period
        recorder.write(CALLER, caller[k * FRAME : (k + 1) * FRAME], i * 20)
        if i >= 25:
            j = (i - 25) % period
            recorder.write(AGENT, agent[j * FRAME : (j + 1) * FRAME], i * 20)
        if recorder.flushed_ms != reported:
            reported = recorder.flushed_ms
            print(reported, flush=True)
        time.sleep(0.002)  # ten times real time: seconds of audio in a fraction of a second


def run_and_kill(root: Path, call_id: str) -> int:
    """Start a recorder, SIGKILL it once enough is flushed; the last flushed_ms it reported."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, __file__, str(root), "acme", call_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    last = 0
    try:
        deadline = time.monotonic() + DEADLINE_S
        assert proc.stdout is not None
        while last < FLUSHED_WANTED_MS:
            line = proc.stdout.readline()
            if not line:
                assert proc.stderr is not None
                raise AssertionError(f"recorder exited early: {proc.stderr.read()}")
            last = int(line)
            assert time.monotonic() < deadline, "recorder too slow to flush"
        os.kill(proc.pid, signal.SIGKILL)
        # Acknowledgements already in the pipe are as good as the ones read.
        rest = proc.stdout.read()
        last = max([last, *(int(x) for x in rest.split())])
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert proc.returncode == -signal.SIGKILL
    return last


def leg(pcm: np.ndarray, index: int) -> bytes:
    return pcm[:, index].astype("<i2").tobytes()


@pytest.mark.parametrize("call_id", ["call-a", "call-b"])
def test_recording_is_valid_after_kill_9(tmp_path: Path, call_id: str) -> None:
    flushed_ms = run_and_kill(tmp_path, call_id)
    path = RecordingIndex(tmp_path, "acme").recording_path(call_id, STARTED)

    # Even before repair, the header describes at least everything acknowledged.
    before = parse_wav(path.read_bytes())
    assert before.duration_ms >= flushed_ms

    duration_ms = repair_wav(path)
    assert duration_ms >= flushed_ms
    data = path.read_bytes()
    audio = parse_wav(data)
    assert (audio.sample_rate, audio.channels, audio.bits_per_sample) == (8000, 2, 16)
    assert len(data) == 44 + audio.frames * 4
    assert audio.duration_ms == duration_ms
    samples = np.rint(audio.samples[: flushed_ms * 8] * 32768).astype(np.int16)
    assert dominant_frequency(leg(samples, CALLER)) == pytest.approx(440, abs=5)
    assert not samples[:4000, AGENT].any()
    assert dominant_frequency(leg(samples[4000:], AGENT)) == pytest.approx(660, abs=5)
    # Every acknowledged sample is the tone the recorder wrote, not a zeroed or torn frame.
    caller = np.frombuffer(tone_pcm(440, 10_000), dtype="<i2")
    expected = np.resize(caller, flushed_ms * 8)
    assert np.array_equal(samples[:, CALLER], expected)


def test_index_recovery_after_kill_9(tmp_path: Path) -> None:
    flushed_ms = run_and_kill(tmp_path, "call-c")
    index = RecordingIndex(tmp_path, "acme")
    (open_one,) = index.recordings()
    assert not open_one.closed
    (recovered,) = index.recover()
    assert recovered.call_id == "call-c" and recovered.recovered and recovered.problem is None
    assert recovered.duration_ms is not None and recovered.duration_ms >= flushed_ms
    assert recovered.bytes == recovered.path.stat().st_size
    audio = parse_wav(recovered.path.read_bytes())
    assert audio.duration_ms == recovered.duration_ms
    # A restart sees it closed and has nothing left to recover.
    restarted = RecordingIndex(tmp_path, "acme")
    assert restarted.recover() == []
    assert restarted.recordings() == [recovered]


if __name__ == "__main__":
    record_until_killed(sys.argv[1], sys.argv[2], sys.argv[3])
