"""The personal data store: one contract for the SQLite store and the in-memory fake (tenant
isolation, erasure, precise errors), the SQLite file's durability across ``kill -9`` and its
erasure down to the bytes, and the ``glasshouse privacy`` command."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glasshouse.adapters.personal import (
    PHONE,
    PersonalStore,
    PersonalStoreError,
    SqlitePersonalStore,
    is_ref,
)
from glasshouse.adapters.personal.base import MAX_VALUE_CHARS
from glasshouse.entrypoints.cli import main
from glasshouse.testing.personal import MemoryPersonalStore

SRC = Path(__file__).resolve().parents[2] / "src"
NUMBER = "+33612345678"
_TEXT = st.characters(exclude_categories=["Cs"])  # any text SQLite can store


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PersonalStore]:
    made: PersonalStore
    if request.param == "sqlite":
        made = SqlitePersonalStore(tmp_path / "personal.db")
    else:
        made = MemoryPersonalStore()
    yield made
    made.close()


# -- the contract ------------------------------------------------------------------------------


def test_a_value_is_read_back_by_its_reference_and_each_put_gets_its_own(
    store: PersonalStore,
) -> None:
    first = store.put("acme", PHONE, NUMBER)
    second = store.put("acme", PHONE, NUMBER)
    assert is_ref(first) and is_ref(second) and first != second
    assert store.get("acme", first) == store.get("acme", second) == NUMBER
    assert store.get("acme", "pd-0000000000000000") is None


def test_a_reference_of_one_tenant_is_neither_readable_nor_erasable_as_another(
    store: PersonalStore,
) -> None:
    ref = store.put("acme", PHONE, NUMBER)
    assert store.get("globex", ref) is None
    assert store.erase_ref("globex", ref) is False
    assert store.erase_value("globex", NUMBER) == 0
    assert store.get("acme", ref) == NUMBER


def test_erasing_a_value_erases_every_reference_to_it_in_that_tenant_only(
    store: PersonalStore,
) -> None:
    refs = [store.put("acme", PHONE, NUMBER) for _ in range(3)]
    other = store.put("acme", PHONE, "+33140000001")
    elsewhere = store.put("globex", PHONE, NUMBER)
    assert store.erase_value("acme", NUMBER) == 3
    assert [store.get("acme", ref) for ref in refs] == [None, None, None]
    assert store.get("acme", other) == "+33140000001"
    assert store.get("globex", elsewhere) == NUMBER
    assert store.erase_value("acme", NUMBER) == 0  # erasing twice is harmless


def test_erasing_one_reference_leaves_the_others(store: PersonalStore) -> None:
    ref, kept = store.put("acme", PHONE, NUMBER), store.put("acme", PHONE, NUMBER)
    assert store.erase_ref("acme", ref) is True
    assert store.erase_ref("acme", ref) is False
    assert (store.get("acme", ref), store.get("acme", kept)) == (None, NUMBER)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.put("", PHONE, NUMBER), "tenant must be a non-empty string"),
        (lambda s: s.put("acme", "Phone Number", NUMBER), "kind must be a lower-case word"),
        (lambda s: s.put("acme", PHONE, ""), "value must not be empty"),
        (lambda s: s.put("acme", PHONE, "9" * (MAX_VALUE_CHARS + 1)), "more than the 4096"),
        (lambda s: s.put("acme", PHONE, "+33\udc80"), "lone surrogate"),
        (lambda s: s.put("acme", PHONE, 33612345678), "value must be a string, got int"),
        (lambda s: s.get("acme", NUMBER), "is not a personal data reference"),
        (lambda s: s.erase_ref("acme", "pd-XYZ"), "is not a personal data reference"),
        (lambda s: s.erase_value(None, NUMBER), "tenant must be a non-empty string"),
    ],
)
def test_bad_arguments_get_a_precise_error(
    store: PersonalStore, call: Callable[[Any], object], message: str
) -> None:
    with pytest.raises(PersonalStoreError, match=message) as info:
        call(store)
    assert "612345678" not in str(info.value)  # errors never repeat a value


def test_a_closed_store_refuses_every_call(store: PersonalStore) -> None:
    ref = store.put("acme", PHONE, NUMBER)
    store.close()
    store.close()  # idempotent
    for call in (
        lambda: store.put("acme", PHONE, NUMBER),
        lambda: store.get("acme", ref),
        lambda: store.erase_ref("acme", ref),
        lambda: store.erase_value("acme", NUMBER),
    ):
        with pytest.raises(PersonalStoreError, match="closed"):
            call()


@settings(deadline=None, max_examples=60)
@given(
    tenant=st.text(_TEXT, min_size=1, max_size=12),
    value=st.text(_TEXT, min_size=1, max_size=64),
)
def test_any_text_value_round_trips_in_both_stores(tenant: str, value: str) -> None:
    for store in (SqlitePersonalStore(":memory:"), MemoryPersonalStore()):
        with store:
            ref = store.put(tenant, "note", value)
            assert store.get(tenant, ref) == value
            assert store.erase_value(tenant, value) == 1
            assert store.get(tenant, ref) is None


# -- the SQLite file -------------------------------------------------------------------------


_KILLED_WRITER = """
import os, signal, sys
from glasshouse.adapters.personal import SqlitePersonalStore
store = SqlitePersonalStore(sys.argv[1], durability="process")
print(store.put("acme", "phone", sys.argv[2]), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_an_acknowledged_put_survives_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "personal.db"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, str(path), NUMBER],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == -signal.SIGKILL, done.stderr
    ref = done.stdout.strip()
    assert is_ref(ref)
    with SqlitePersonalStore(path, create=False) as store:
        assert store.get("acme", ref) == NUMBER


def test_erasure_leaves_no_copy_in_the_files_even_with_another_process_attached(
    tmp_path: Path,
) -> None:
    path = tmp_path / "personal.db"
    with SqlitePersonalStore(path, durability="process") as server:
        refs = [server.put("acme", PHONE, NUMBER) for _ in range(50)]
        kept = server.put("acme", PHONE, "+33140000001")
        with SqlitePersonalStore(path, create=False) as cli:  # as `glasshouse privacy` does
            assert cli.erase_value("acme", NUMBER) == 50
        # The server's connection sees the erasure at once.
        assert all(server.get("acme", ref) is None for ref in refs)
        assert server.get("acme", kept) == "+33140000001"
        files = [p for p in tmp_path.iterdir() if p.name.startswith("personal.db")]
        raw = b"".join(p.read_bytes() for p in files)
        assert NUMBER.encode() not in raw
        assert b"+33140000001" in raw  # the check would see a number that is there


def test_a_file_that_is_not_a_personal_store_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(PersonalStoreError, match="not a Glasshouse personal data store"):
        SqlitePersonalStore(other)
    with pytest.raises(PersonalStoreError, match="no personal data store at"):
        SqlitePersonalStore(tmp_path / "missing.db", create=False)
    with pytest.raises(PersonalStoreError, match="durability must be one of power, process"):
        SqlitePersonalStore(tmp_path / "p.db", durability="sometimes")


# -- glasshouse privacy ----------------------------------------------------------------------


def test_privacy_erase_by_number_and_show_by_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with SqlitePersonalStore(tmp_path / "personal.db") as store:
        ref = store.put("demo", PHONE, NUMBER)
        other = store.put("demo", PHONE, "+33140000001")
    common = ["--data-dir", str(tmp_path), "--tenant", "demo"]
    assert main(["privacy", "show", *common, "--ref", ref]) == 0
    assert capsys.readouterr().out == f"{NUMBER}\n"
    assert main(["privacy", "erase", *common, "--number", "+33 6 12-34.56.78"]) == 0
    assert capsys.readouterr().out == "erased 1 value(s) of tenant 'demo'\n"
    assert main(["privacy", "show", *common, "--ref", ref]) == 1
    assert "names nothing in tenant 'demo' (erased" in capsys.readouterr().err
    assert main(["privacy", "erase", *common, "--number", NUMBER]) == 0
    assert "nothing to erase" in capsys.readouterr().out
    assert main(["privacy", "erase", *common, "--ref", other]) == 0
    assert capsys.readouterr().out == "erased 1 value(s) of tenant 'demo'\n"


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["erase", "--tenant", "demo", "--number", "call me"], 2, "must be a telephone number"),
        (["erase", "--tenant", "demo", "--ref", "+3361"], 2, "is not a reference"),
        (["erase", "--tenant", "", "--number", NUMBER], 2, "--tenant must not be empty"),
        (["show", "--tenant", "demo", "--ref", "pd-0000000000000000"], 1, "no personal data"),
    ],
)
def test_privacy_refuses_bad_arguments_and_a_missing_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, message: str
) -> None:
    assert main(["privacy", *argv, "--data-dir", str(tmp_path / "none")]) == code
    assert message in capsys.readouterr().err
    assert not (tmp_path / "none").exists()  # nothing created on the way
