"""The server setup file: the demo loads, tenant settings are read, and mistakes are refused with
the field's path."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from glasshouse.service.voice.setup import (
    CallbackSettings,
    SetupError,
    load_server_setup,
)

DEMO = Path(__file__).resolve().parents[3] / "src" / "glasshouse" / "demo"


def copy_demo(tmp_path: Path, server_yaml: str | None = None) -> Path:
    for name in ("voice.yaml", "ivr-main.yaml", "server.yaml"):
        shutil.copy(DEMO / name, tmp_path / name)
    if server_yaml is not None:
        (tmp_path / "server.yaml").write_text(server_yaml, encoding="utf-8")
    return tmp_path / "server.yaml"


def demo_with(tmp_path: Path, old: str, new: str) -> Path:
    text = (DEMO / "server.yaml").read_text(encoding="utf-8")
    assert old in text
    return copy_demo(tmp_path, text.replace(old, new, 1))


def test_the_demo_setup_loads_with_its_callback_settings(tmp_path: Path) -> None:
    setup = load_server_setup(copy_demo(tmp_path))
    tenant = setup.tenants["demo"]
    assert [q.queue_id for q in tenant.queues] == ["sales", "support"]
    assert tenant.callbacks == CallbackSettings(30.0, "The customer did not answer.")


def test_callback_settings_default_when_absent(tmp_path: Path) -> None:
    text = (DEMO / "server.yaml").read_text(encoding="utf-8")
    text = text[: text.index("    callbacks:")]
    setup = load_server_setup(copy_demo(tmp_path, text))
    assert setup.tenants["demo"].callbacks == CallbackSettings()


def test_callback_settings_are_read(tmp_path: Path) -> None:
    path = demo_with(tmp_path, "customer_ring_s: 30", "customer_ring_s: 45")
    assert load_server_setup(path).tenants["demo"].callbacks.customer_ring_s == 45


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "customer_ring_s: 30",
            "customer_ring_s: 2",
            r"tenants\[0\]\.callbacks\.customer_ring_s: expected a whole number 5-300, got 2",
        ),
        (
            "customer_ring_s: 30",
            "customer_ring_s: thirty",
            r"tenants\[0\]\.callbacks\.customer_ring_s: expected a whole number",
        ),
        (
            "customer_ring_s: 30",
            "customer_ring: 30",
            r"tenants\[0\]\.callbacks: unknown field\(s\) customer_ring",
        ),
        (
            "not_reached_prompt: The customer did not answer.",
            'not_reached_prompt: " "',
            r"tenants\[0\]\.callbacks\.not_reached_prompt: expected a non-empty string",
        ),
        (
            "    callbacks:\n",
            "    call_backs:\n",
            r"tenants\[0\]: unknown field\(s\) call_backs",
        ),
    ],
)
def test_bad_callback_settings_name_the_field(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    with pytest.raises(SetupError, match=message):
        load_server_setup(demo_with(tmp_path, old, new))
