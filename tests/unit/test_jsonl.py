"""JSON Lines export/import of the event log and the ``glasshouse events`` command."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_type_hints

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glasshouse.adapters.eventstore.base import EventStore
from glasshouse.adapters.eventstore.jsonl import (
    Imported,
    JsonlError,
    import_jsonl,
    prepare_import,
    read_jsonl,
    write_jsonl,
)
from glasshouse.adapters.eventstore.sqlite import SqliteEventStore
from glasshouse.domain.events import (
    EVENT_TYPES,
    AgentLoggedIn,
    ContactArrived,
    ContactQueued,
    Event,
    EventBody,
)
from glasshouse.entrypoints.cli import main
from glasshouse.testing.memory_store import MemoryEventStore

ID_FIELDS = {"agent_id", "contact_id", "queue_id"}


def _body_strategy(cls: type[EventBody]) -> st.SearchStrategy[EventBody]:
    hints = get_type_hints(cls)
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if hint is str:
            fields[f.name] = st.text(min_size=1 if f.name in ID_FIELDS else 0, max_size=12)
        elif hint is bool:
            fields[f.name] = st.booleans()
        elif hint is int:
            fields[f.name] = st.integers(min_value=-(2**63), max_value=2**63)
        else:
            fields[f.name] = st.dictionaries(st.text(max_size=6), st.integers(), max_size=3)
    return st.builds(cls, **fields)


events_strategy = st.builds(
    Event,
    tenant=st.text(min_size=1, max_size=8),
    ts=st.integers(min_value=0, max_value=2**63 - 1),
    body=st.one_of([_body_strategy(cls) for cls in EVENT_TYPES.values()]),
    seq=st.integers(min_value=0, max_value=10**9),
    test=st.booleans(),
)


def ev(tenant: str, ts: int, contact: str = "c1") -> Event:
    return Event(tenant=tenant, ts=ts, body=ContactArrived(contact_id=contact))


def lines(*rows: Any) -> io.StringIO:
    """A file whose lines are the given rows (dicts become JSON, strings are taken as they are)."""
    return io.StringIO(
        "".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows)
    )


def good(ts: int = 1000, tenant: str = "acme", contact: str = "c1") -> dict[str, Any]:
    return {
        "v": 1,
        "tenant": tenant,
        "seq": 0,
        "ts": ts,
        "type": "contact.arrived",
        "data": {"contact_id": contact},
    }


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    s: EventStore = (
        MemoryEventStore() if request.param == "memory" else SqliteEventStore(tmp_path / "e.db")
    )
    yield s
    s.close()


# ---------------------------------------------------------------------------------------------
# Writing and reading


@settings(database=None, max_examples=200)
@given(st.lists(events_strategy, max_size=20))
def test_write_then_read_round_trips_any_events(events: list[Event]) -> None:
    out = io.StringIO()
    assert write_jsonl(events, out) == len(events)
    text = out.getvalue()
    assert text.count("\n") == len(events)
    assert read_jsonl(io.StringIO(text), "x.jsonl") == events
    assert read_jsonl(io.BytesIO(text.encode("utf-8")), "x.jsonl") == events


def test_each_event_is_one_compact_line_with_sorted_keys() -> None:
    out = io.StringIO()
    write_jsonl([Event("acme", 5, AgentLoggedIn("a1"), seq=3, test=True)], out)
    assert out.getvalue() == (
        '{"data":{"agent_id":"a1"},"seq":3,"tenant":"acme","test":true,'
        '"ts":5,"type":"agent.logged_in","v":1}\n'
    )


def test_blank_lines_are_ignored_but_still_counted() -> None:
    text = "\n" + json.dumps(good()) + "\n   \n\r\n" + '{"bad json\n'
    with pytest.raises(JsonlError) as info:
        read_jsonl(io.StringIO(text), "f.jsonl")
    assert info.value.errors == [
        "f.jsonl:5: not valid JSON (Unterminated string starting at column 2)"
    ]


def test_every_bad_line_is_reported_with_its_number() -> None:
    wrong_type = good()
    wrong_type["data"] = {"contact_id": 42}
    missing = good()
    missing["data"] = {}
    unknown = good()
    unknown["type"] = "contact.teleported"
    negative = good(ts=-5)
    no_tenant = good()
    del no_tenant["tenant"]
    extra = good()
    extra["data"] = {"contact_id": "c1", "phone": "+15550100"}
    source = lines(
        good(),
        "{not json",
        unknown,
        missing,
        wrong_type,
        negative,
        "[1, 2]",
        no_tenant,
        extra,
        good(ts=2**63),
        good(),
    )
    with pytest.raises(JsonlError) as info:
        read_jsonl(source, "hist.jsonl")
    errors = info.value.errors
    assert [e.split(":")[1] for e in errors] == ["2", "3", "4", "5", "6", "7", "8", "9", "10"]
    assert all(e.startswith("hist.jsonl:") for e in errors)
    assert "not valid JSON" in errors[0]
    assert "unknown event type 'contact.teleported'" in errors[1]
    assert "missing field 'contact_id'" in errors[2]
    assert "field 'contact_id' must be a string, got 42" in errors[3]
    assert "'ts' must be a non-negative integer" in errors[4]
    assert "must be a JSON object" in errors[5]
    assert "'tenant'" in errors[6]
    assert "has no field(s) phone" in errors[7]
    assert "out of range" in errors[8]
    assert str(info.value) == "\n".join(errors)


def test_the_message_lists_at_most_fifty_bad_lines() -> None:
    source = lines(*(["{oops"] * 120))
    with pytest.raises(JsonlError) as info:
        read_jsonl(source, "big.jsonl")
    assert len(info.value.errors) == 120
    message = str(info.value).splitlines()
    assert len(message) == 51
    assert message[49].startswith("big.jsonl:50: ")
    assert message[50] == "and 70 more bad line(s)"


def test_bytes_input_names_a_line_that_is_not_utf8_and_skips_a_bom() -> None:
    first = ("\ufeff" + json.dumps(good())).encode("utf-8")
    source = io.BytesIO(first + b"\n" + b'{"tenant": "caf\xe9"}\n')
    with pytest.raises(JsonlError) as info:
        read_jsonl(source, "win.jsonl")
    assert info.value.errors == ["win.jsonl:2: not valid UTF-8 (byte 0xe9 at column 16)"]


def test_a_foreign_file_may_omit_seq_and_v() -> None:
    row = good()
    del row["seq"], row["v"]
    assert read_jsonl(lines(row), "f") == [ev("acme", 1000)]


# ---------------------------------------------------------------------------------------------
# Importing


def test_import_appends_in_file_order_and_resequences_per_tenant(store: EventStore) -> None:
    store.append([ev("acme", 1, "old")])
    source = lines(
        {**good(10, "acme", "a"), "seq": 77},
        good(5, "beta", "b"),
        {**good(10, "acme", "c"), "seq": 3},
        good(12, "acme", "d"),
    )
    result = import_jsonl(store, source, "h.jsonl")
    assert result == [Imported("acme", 3, 2, 4), Imported("beta", 1, 1, 1)]
    assert [(e.seq, e.body) for e in store.read("acme")] == [
        (1, ContactArrived("old")),
        (2, ContactArrived("a")),
        (3, ContactArrived("c")),
        (4, ContactArrived("d")),
    ]
    assert [e.seq for e in store.read("beta")] == [1]


def test_import_rejects_time_going_backwards_within_a_tenant(store: EventStore) -> None:
    source = lines(good(100), good(50, "beta"), good(99), good(100), good(98))
    with pytest.raises(JsonlError) as info:
        import_jsonl(store, source, "h.jsonl")
    assert info.value.errors == [
        "h.jsonl:3: ts 99 goes backwards (line 1 has ts 100 for tenant 'acme')",
        "h.jsonl:5: ts 98 goes backwards (line 4 has ts 100 for tenant 'acme')",
    ]
    assert store.tenants() == []


def test_import_reports_bad_lines_and_backwards_time_together_in_line_order(
    store: EventStore,
) -> None:
    source = lines(good(100), good(10), "nope")
    with pytest.raises(JsonlError) as info:
        import_jsonl(store, source, "h.jsonl")
    assert [e.split(":")[1] for e in info.value.errors] == ["2", "3"]


def test_a_failed_import_leaves_the_store_unchanged(store: EventStore) -> None:
    before = store.append([ev("acme", 1, "x"), ev("beta", 1, "y")])
    source = lines(good(5), good(6, "gamma"), good(7), "{broken")
    with pytest.raises(JsonlError, match=r"h\.jsonl:4"):
        import_jsonl(store, source, "h.jsonl")
    assert store.tenants() == ["acme", "beta"]
    assert list(store.read("acme")) + list(store.read("beta")) == before


def test_import_tenant_option_assigns_and_overrides_the_tenant(store: EventStore) -> None:
    no_tenant = good(3)
    del no_tenant["tenant"]
    source = lines(good(1, "acd-a"), good(2, "acd-b"), no_tenant)
    assert import_jsonl(store, source, "h", tenant="acme") == [Imported("acme", 3, 1, 3)]
    assert store.tenants() == ["acme"]


def test_time_order_is_checked_after_the_tenant_is_assigned(store: EventStore) -> None:
    def source() -> io.StringIO:
        return lines(good(10, "a"), good(5, "b"))

    with pytest.raises(JsonlError, match="h:2: ts 5 goes backwards"):
        import_jsonl(store, source(), "h", tenant="acme")
    assert len(import_jsonl(store, source(), "h")) == 2


def test_import_refuses_an_empty_tenant_option(store: EventStore) -> None:
    with pytest.raises(ValueError, match="tenant"):
        prepare_import(lines(good()), "h", tenant="")


def test_export_then_import_into_another_store_keeps_every_event(tmp_path: Path) -> None:
    events = [
        Event("acme", 100 + n, ContactQueued(f"c{n}", "q1", priority=n, skills={"en": 2}))
        for n in range(50)
    ]
    with SqliteEventStore(tmp_path / "a.db") as source, MemoryEventStore() as target:
        source.append(events)
        target.append([ev("acme", 1, "already-here")])
        buffer = io.StringIO()
        write_jsonl(source.read("acme", after_seq=10), buffer)
        buffer.seek(0)
        assert import_jsonl(target, buffer) == [Imported("acme", 40, 2, 41)]
        assert [e.body for e in target.read("acme", after_seq=1)] == [e.body for e in events[10:]]


# ---------------------------------------------------------------------------------------------
# The `glasshouse events` command


def write_file(path: Path, *rows: Any) -> Path:
    path.write_text(lines(*rows).getvalue(), encoding="utf-8")
    return path


def test_cli_import_export_and_tenants(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "e.db")
    src = write_file(tmp_path / "h.jsonl", good(1), good(2, "beta"), good(3))
    assert main(["events", "import", "--db", db, str(src)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "acme: imported 2 event(s), seq 1-2",
        "beta: imported 1 event(s), seq 1-1",
    ]

    assert main(["events", "tenants", "--db", db]) == 0
    assert capsys.readouterr().out == "acme\t2\nbeta\t1\n"

    assert main(["events", "export", "--db", db, "--tenant", "acme"]) == 0
    exported = capsys.readouterr().out
    assert [e.seq for e in read_jsonl(io.StringIO(exported), "out")] == [1, 2]

    assert main(["events", "export", "--db", db, "--tenant", "acme", "--after-seq", "1"]) == 0
    assert [e.ts for e in read_jsonl(io.StringIO(capsys.readouterr().out), "o")] == [3]

    out_file = tmp_path / "out" / "acme.jsonl"
    out_file.parent.mkdir()
    assert main(["events", "export", "--db", db, "--tenant", "acme", "-o", str(out_file)]) == 0
    assert out_file.read_text(encoding="utf-8") == exported
    assert "exported 2 event(s)" in capsys.readouterr().err
    assert os.listdir(out_file.parent) == ["acme.jsonl"]  # no temporary file left behind


def test_cli_import_tenant_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "e.db")
    src = write_file(tmp_path / "h.jsonl", good(1, "x"), good(2, "y"))
    assert main(["events", "import", "--db", db, str(src), "--tenant", "acme"]) == 0
    assert capsys.readouterr().out == "acme: imported 2 event(s), seq 1-2\n"
    assert main(["events", "import", "--db", db, str(src), "--tenant", ""]) == 2
    assert "--tenant must not be empty" in capsys.readouterr().err


def test_cli_bad_file_exits_2_with_numbered_lines_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "e.db"
    src = write_file(tmp_path / "h.jsonl", good(1), "{nope", good(0))
    assert main(["events", "import", "--db", str(db), str(src)]) == 2
    err = capsys.readouterr().err
    assert f"{src}:2: not valid JSON" in err
    assert f"{src}:3: ts 0 goes backwards" in err
    assert "2 bad line(s)" in err and "nothing was imported" in err
    assert "Traceback" not in err
    assert not db.exists()


def test_cli_missing_input_and_missing_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "e.db")
    assert main(["events", "import", "--db", db, str(tmp_path / "none.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["events", "export", "--db", db, "--tenant", "acme"]) == 1
    assert "no event store at" in capsys.readouterr().err
    assert main(["events", "tenants", "--db", db]) == 1
    assert "no event store at" in capsys.readouterr().err


def test_cli_export_of_an_unknown_tenant_names_the_known_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "e.db")
    main(["events", "import", "--db", db, str(write_file(tmp_path / "h.jsonl", good()))])
    capsys.readouterr()
    assert main(["events", "export", "--db", db, "--tenant", "acne"]) == 1
    assert "tenant 'acne' has no events (tenants: acme)" in capsys.readouterr().err


def test_cli_empty_file_imports_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "empty.jsonl"
    src.write_text("\n\n")
    assert main(["events", "import", "--db", str(tmp_path / "e.db"), str(src)]) == 0
    assert "no events" in capsys.readouterr().out
    assert not (tmp_path / "e.db").exists()


def test_cli_default_store_is_var_glasshouse_db_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    write_file(tmp_path / "h.jsonl", good())
    assert main(["events", "import", "h.jsonl"]) == 0
    assert (tmp_path / "var" / "glasshouse.db").is_file()
    assert main(["events", "tenants"]) == 0
    assert capsys.readouterr().out.endswith("acme\t1\n")


def test_cli_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["events"]) == 2
    assert "export" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["events", "export", "--tenant", "a", "--after-seq", "-1"])
    assert info.value.code == 2
    assert "must be 0 or more" in capsys.readouterr().err


def test_cli_as_a_process_reads_stdin_and_writes_stdout(tmp_path: Path) -> None:
    db = str(tmp_path / "e.db")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    text = lines(good(1), good(2)).getvalue()

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "glasshouse", "events", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )

    done = run("import", "--db", db, "-", stdin=text)
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        "acme: imported 2 event(s), seq 1-2\n",
        "",
    )
    done = run("export", "--db", db, "--tenant", "acme")
    assert done.returncode == 0
    assert [e.ts for e in read_jsonl(io.StringIO(done.stdout), "out")] == [1, 2]
    done = run("import", "--db", db, "-", stdin="{bad\n")
    assert done.returncode == 2
    assert "<stdin>:1: not valid JSON" in done.stderr
    assert "Traceback" not in done.stderr
