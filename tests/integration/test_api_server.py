"""``glasshouse api`` as users start it: a real process on a real TCP port, called with urllib."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from glasshouse.service.wfm_staffing import StaffingRequest, staffing

# How long the server may take to start (imports included) on a busy machine.
START_LIMIT_S = 60.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _get_json(url: str) -> tuple[int, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, json.load(response)


def _wait_until_healthy(proc: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + START_LIMIT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            status, body = _get_json(f"{base}/health")
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
            continue
        assert (status, body["status"]) == (200, "ok")
        return
    raise AssertionError(f"no answer on {base}/health in {START_LIMIT_S:g} s:\n{log.read_text()}")


def test_the_api_server_answers_staffing_over_a_real_socket(tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}/api/v1"
    log = tmp_path / "api.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "glasshouse", "api", "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_healthy(proc, base, log)
        fields = {"calls": 360, "aht_s": 240, "interval_s": 1800, "patience_s": 60}
        expected = staffing(StaffingRequest(**fields)).to_json()

        request = urllib.request.Request(
            f"{base}/wfm/staffing",
            data=json.dumps(fields).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "application/json"
            posted = json.load(response)
        assert posted == expected
        assert posted["agents"] == 46

        query = "&".join(f"{name}={value}" for name, value in fields.items())
        assert _get_json(f"{base}/wfm/staffing?{query}") == (200, expected)

        try:
            _get_json(f"{base}/wfm/staffing?calls=100&aht_s=-1")
        except urllib.error.HTTPError as refused:
            with refused:
                assert refused.code == 422
                [error] = json.load(refused)["detail"]
            assert error["loc"] == ["query", "aht_s"]
        else:
            raise AssertionError("a negative AHT was served")
    finally:
        # Ctrl-C, as a user stops it: uvicorn shuts down cleanly and the command exits 0.
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    output = log.read_text()
    assert code == 0, output
    assert "Traceback" not in output
    assert f"Glasshouse API on http://127.0.0.1:{port}/api/v1" in output
