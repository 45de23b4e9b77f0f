"""Named rosters (``glasshouse wfm schedule --agents --roster-out``), the roster file, and shift
reminders from it (``glasshouse wfm reminders send | reply | status``), down to the planner's
report showing the answers."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from glasshouse.adapters.eventstore.jsonl import write_jsonl
from glasshouse.adapters.eventstore.sqlite import SqliteEventStore
from glasshouse.adapters.notify.outbox import FileOutbox
from glasshouse.domain.events import Event, ShiftConfirmed, ShiftReminderSent, ShiftSwapRequested
from glasshouse.domain.sim import parse_scenario, simulate
from glasshouse.domain.wfm.adherence import Activity
from glasshouse.domain.wfm.roster import (
    RosterEntry,
    RosterError,
    roster_entries,
    shift_id,
    upcoming_shifts,
)
from glasshouse.domain.wfm.scheduling import AgentShift, BreakPlacement, ShiftType
from glasshouse.entrypoints.cli import main
from glasshouse.entrypoints.roster_csv import RosterCsvError, read_roster_csv, write_roster_csv

PARIS = ZoneInfo("Europe/Paris")
HOUR_MS = 3_600_000


def _ms(text: str, tz: ZoneInfo = PARIS) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=tz).timestamp() * 1000)


# ---------------------------------------------------------------------------------------------
# Roster entries


def test_roster_entries_place_shifts_and_breaks_on_the_given_slots() -> None:
    # Two days of hourly slots in Paris; 29 March 2026 is the spring-forward day (23 hours).
    slots = [_ms(f"2026-03-28T{h:02d}:00") for h in range(24)]
    day2 = _ms("2026-03-29T00:00")
    slots += [day2 + h * HOUR_MS for h in range(24)]  # the UTC hours the local slots map to
    lunch = BreakPlacement("lunch", 4, 1800)
    shifts = [
        AgentShift("b", 1, ShiftType("8h", 8, 8, (lunch,))),
        AgentShift("a", 0, ShiftType("4h", 22, 4)),  # overnight into day 2
    ]
    entries = roster_entries(shifts, slots, 3600)
    a_start = slots[22]
    b_start = slots[24 + 8]
    assert entries == [
        RosterEntry("a", shift_id("a", a_start), a_start, a_start + 4 * HOUR_MS, Activity.WORK),
        RosterEntry("b", shift_id("b", b_start), b_start, b_start + 8 * HOUR_MS, Activity.WORK),
        RosterEntry(
            "b",
            shift_id("b", b_start),
            b_start + 4 * HOUR_MS,
            b_start + 4 * HOUR_MS + 1_800_000,
            Activity.LUNCH,
        ),
    ]
    assert [s.shift_id for s in upcoming_shifts(entries)] == [
        shift_id("a", a_start),
        shift_id("b", b_start),
    ]
    with pytest.raises(RosterError, match="outside the 48 slots"):
        roster_entries([AgentShift("c", 2, ShiftType("8h", 8, 8))], slots, 3600)
    with pytest.raises(RosterError, match="divide a day"):
        roster_entries([], slots, 7 * 60)


def test_roster_csv_round_trips_and_names_bad_lines(tmp_path: Path) -> None:
    start = _ms("2026-02-02T08:00")
    entries = [
        RosterEntry("a1", shift_id("a1", start), start, start + 8 * HOUR_MS, Activity.WORK),
        RosterEntry(
            "a1", shift_id("a1", start), start + 4 * HOUR_MS, start + 5 * HOUR_MS, Activity.BREAK
        ),
    ]
    path = tmp_path / "roster.csv"
    assert write_roster_csv(path, entries, PARIS) == 2
    assert "2026-02-02T08:00:00+01:00" in path.read_text()
    assert read_roster_csv(path, UTC) == entries  # offsets written: the zone of reading is moot
    # A hand-made schedule without shift ids still makes reminders.
    path.write_text("agent_id,start,end,activity\nx,2026-02-02T09:00,2026-02-02T17:00,work\n")
    (only,) = read_roster_csv(path, PARIS)
    assert only.shift_id == ""
    assert upcoming_shifts([only])[0].shift_id == shift_id("x", _ms("2026-02-02T09:00"))
    path.write_text(
        "agent_id,shift_id,start,end,activity\n"
        "x,s1,2026-02-02T09:00,soon,work\n"
        "x,s1,2026-02-02T09:00,2026-02-02T08:00,work\n"
        "x,s1,2026-02-02T09:00,2026-02-02T10:00,nap\n"
    )
    with pytest.raises(RosterCsvError) as err:
        read_roster_csv(path, PARIS)
    text = str(err.value)
    assert "3 problem(s)" in text
    assert f"{path}:2: end: not an ISO 8601 date and time: 'soon'" in text
    assert f"{path}:3: " in text and "start_ms < end_ms" in text
    assert f"{path}:4: activity: 'nap' is not one of" in text
    path.write_text("agent_id,start\n")
    with pytest.raises(RosterCsvError, match="missing column"):
        read_roster_csv(path, PARIS)


# ---------------------------------------------------------------------------------------------
# wfm schedule --agents


NEED = {8: 2, 9: 3, 10: 3, 11: 3, 12: 2, 13: 2, 14: 3, 15: 3, 16: 2, 17: 1}


@pytest.fixture(scope="module")
def rostered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A week's roster of six agents under 2 consecutive days off, 5 working days, 11 h rest."""
    folder = tmp_path_factory.mktemp("roster")
    req = folder / "req.csv"
    req.write_text(
        "interval_start,required\n"
        + "".join(f"2026-02-{d:02d}T{h:02d}:00,{n}\n" for d in range(2, 9) for h, n in NEED.items())
    )
    agents = folder / "agents.csv"
    agents.write_text("agent_id,max_shifts\n" + "".join(f"a{i},\n" for i in range(1, 7)))
    args = [
        "wfm", "schedule", "--requirement", str(req), "--interval", "60m", "--tz",
        "Europe/Paris", "--shifts", "8h,4h", "--max-time", "8", "--agents", str(agents),
        "--days-off", "2", "--consecutive-days-off", "--max-working-days", "5",
        "--min-rest", "11h", "--roster-out", str(folder / "roster.csv"), "--format", "json",
    ]  # fmt: skip
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(args) == 0
    (folder / "schedule.json").write_text(out.getvalue())
    return folder


def test_named_roster_keeps_the_weekly_rules(rostered: Path) -> None:
    entries = read_roster_csv(rostered / "roster.csv", PARIS)
    works = [e for e in entries if e.activity is Activity.WORK]
    assert works and {e.agent_id for e in works} <= {f"a{i}" for i in range(1, 7)}
    by_agent: dict[str, list[RosterEntry]] = {}
    for e in works:
        by_agent.setdefault(e.agent_id, []).append(e)
    for agent, shifts in by_agent.items():
        shifts.sort(key=lambda e: e.start_ms)
        days = [datetime.fromtimestamp(e.start_ms / 1000, PARIS).date() for e in shifts]
        assert len(days) == len(set(days)) <= 5, agent  # one shift a day, 5 days at most
        for before, after in itertools.pairwise(shifts):
            assert after.start_ms - before.end_ms >= 11 * HOUR_MS, agent
        off = sorted({d.day for d in days} ^ set(range(2, 9)))
        assert len(off) >= 2
        # two of the days off are consecutive
        assert any(b - a == 1 for a, b in itertools.pairwise(off)), (agent, off)
    # Every break lies inside its shift and carries its shift id.
    spans = {e.shift_id: (e.start_ms, e.end_ms) for e in works}
    for e in entries:
        if e.activity is not Activity.WORK:
            start, end = spans[e.shift_id]
            assert start <= e.start_ms < e.end_ms <= end
    # Per interval, the agents present (breaks taken off) are the coverage the solver reported.
    coverage = json.loads((rostered / "schedule.json").read_text())["coverage"]
    assert len(coverage) == 7 * 24
    for cell in coverage:
        at = _ms(f"{cell['date']}T{cell['time']}")
        end = at + HOUR_MS

        def overlap(e: RosterEntry, at: int = at, end: int = end) -> float:
            return max(0, min(e.end_ms, end) - max(e.start_ms, at)) / HOUR_MS

        present = sum(overlap(e) if e.activity is Activity.WORK else -overlap(e) for e in entries)
        assert present == pytest.approx(cell["scheduled"]), cell
        if cell["required"]:
            assert cell["scheduled"] + cell["under"] >= cell["required"]


def test_schedule_agents_file_errors(
    capsys: pytest.CaptureFixture[str], rostered: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "agents.csv"
    bad.write_text("agent_id,max_shifts\na1,\na1,3\n")
    args = ["wfm", "schedule", "--requirement", str(rostered / "req.csv"), "--interval", "60m"]
    assert main([*args, "--agents", str(bad)]) == 2
    assert f"{bad}:3: agent_id: 'a1' already on line 2" in capsys.readouterr().err
    bad.write_text("agent_id,max_shifts\na1,nine\n")
    assert main([*args, "--agents", str(bad)]) == 2
    assert f"{bad}:2: max_shifts: must be a whole number 0-7, got 'nine'" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# wfm reminders


def _directory(path: Path) -> Path:
    rows = ["agent_id,email,sms,channels"]
    rows += [f"a{i},a{i}@example.test,+3361234567{i}," for i in range(1, 6)]
    rows += ["a6,a6@example.test,,email"]
    path.write_text("\n".join(rows) + "\n")
    return path


def _first_shift(rostered: Path) -> tuple[str, str, int]:
    works = [
        e for e in read_roster_csv(rostered / "roster.csv", PARIS) if e.activity is Activity.WORK
    ]
    first = min(works, key=lambda e: (e.start_ms, e.agent_id))
    return first.agent_id, first.shift_id, first.start_ms


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, PARIS).isoformat()


def test_send_reply_and_status(
    capsys: pytest.CaptureFixture[str], rostered: Path, tmp_path: Path
) -> None:
    db, outbox = str(tmp_path / "events.db"), tmp_path / "outbox"
    roster = str(rostered / "roster.csv")
    common = ["--db", db, "--tenant", "acme", "--tz", "Europe/Paris"]
    send = [
        "wfm", "reminders", "send", *common, "--roster", roster,
        "--directory", str(_directory(tmp_path / "dir.csv")), "--outbox", str(outbox),
    ]  # fmt: skip
    agent, sid, start = _first_shift(rostered)
    first_wave = [
        e
        for e in read_roster_csv(rostered / "roster.csv", PARIS)
        if e.activity is Activity.WORK and e.start_ms == start
    ]
    # One minute before the 12-hour lead of the first shifts: nothing is due.
    assert main([*send, "--now", _iso(start - 12 * HOUR_MS - 60_000)]) == 0
    assert "0 sent, 0 skipped, 0 failed" in capsys.readouterr().out
    assert not outbox.exists() or not FileOutbox(outbox).messages("acme")
    # At the lead exactly: every shift starting then gets one message per channel.
    assert main([*send, "--now", _iso(start - 12 * HOUR_MS)]) == 0
    out = capsys.readouterr().out
    expected = sum(1 if e.agent_id == "a6" else 2 for e in first_wave)
    assert f"{expected} sent, 0 skipped, 0 failed" in out
    messages = FileOutbox(outbox).messages("acme")
    assert len(messages) == expected
    mine = [m for m in messages if m.address in (f"{agent}@example.test",)]
    assert len(mine) == 1 and "Reply C to confirm" in mine[0].body
    # Running again sends nothing more (the log holds them).
    assert main([*send, "--now", _iso(start - 12 * HOUR_MS + 120_000)]) == 0
    assert "0 sent" in capsys.readouterr().out
    assert len(FileOutbox(outbox).messages("acme")) == expected
    # Addresses never reach the log.
    with SqliteEventStore(db) as store:
        logged = list(store.read("acme"))
    assert {e.type for e in logged} == {"shift.reminder_sent"}
    assert "example.test" not in "".join(e.to_json() for e in logged)

    reply = ["wfm", "reminders", "reply", *common, "--roster", roster]
    when = ["--now", _iso(start - 11 * HOUR_MS)]
    assert main([*reply, "--agent", agent, "--text", "S dentist at 9", *when]) == 0
    out = capsys.readouterr().out
    assert f"swap_requested for {sid}" in out and "has gone to your planner" in out
    assert main([*reply, "--agent", agent, "--text", "maybe", *when]) == 0
    assert "not_understood" in capsys.readouterr().out
    assert main([*reply, "--agent", "a6", "--text", "C", *when]) == 0
    assert "no_shift" in capsys.readouterr().out or "a6" in {e.agent_id for e in first_wave}

    status = ["wfm", "reminders", "status", *common, "--roster", roster, *when]
    assert main([*status, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    mine_row = next(r for r in rows if r["shift_id"] == sid)
    assert mine_row["answer"] == "swap_requested" and mine_row["note"] == "dentist at 9"
    assert mine_row["reminders"] == (1 if agent == "a6" else 2)
    others = [r for r in rows if r["start"] == _iso(start) and r["shift_id"] != sid]
    assert all(r["answer"] in ("no_answer", "confirmed") for r in others)
    later = [r for r in rows if r["start"] > _iso(start)]
    assert later and all(r["answer"] == "not_reminded" for r in later)
    assert main(status) == 0
    table = capsys.readouterr().out
    assert "SWAP REQUESTED" in table and "dentist at 9" in table
    assert main([*status, "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("start,agent_id,shift_id,answer,")


@pytest.mark.parametrize(
    ("extra", "directory", "expected"),
    [
        (["--now", "tomorrow"], None, "argument --now: not an ISO 8601 date and time"),
        (["--leads", "12h,soon"], None, "argument --leads: not a lead like 12h or 30m: 'soon'"),
        (["--tz", "Mars/Olympus"], None, "argument --tz: unknown time zone 'Mars/Olympus'"),
        ([], "agent_id,fax\na1,123\n", "needs agent_id and an email or sms column"),
        ([], "agent_id,email,channels\na1,,email\n", ":2: channels: no address for email"),
        ([], "agent_id,email,channels\na1,x@y.z,pigeon\n", ":2: channels: 'pigeon' is not"),
        ([], "agent_id,email\na1,x@y.z\na1,x@y.z\n", ":3: agent_id: 'a1' is listed twice"),
    ],
)
def test_send_bad_input(
    capsys: pytest.CaptureFixture[str],
    rostered: Path,
    tmp_path: Path,
    extra: list[str],
    directory: str | None,
    expected: str,
) -> None:
    path = tmp_path / "dir.csv"
    if directory is None:
        _directory(path)
    else:
        path.write_text(directory)
    args = [
        "wfm", "reminders", "send", "--db", str(tmp_path / "e.db"), "--tenant", "acme",
        "--roster", str(rostered / "roster.csv"), "--directory", str(path),
        "--outbox", str(tmp_path / "o"), *extra,
    ]  # fmt: skip
    assert main(args) == 2
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_status_needs_an_existing_store(
    capsys: pytest.CaptureFixture[str], rostered: Path, tmp_path: Path
) -> None:
    args = ["wfm", "reminders", "status", "--db", str(tmp_path / "none.db"), "--tenant", "t"]
    assert main([*args, "--roster", str(rostered / "roster.csv")]) == 2
    assert "no event store at" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# The planner report shows the answers


FLOOR = {
    "tenant": "acme",
    "start": "2026-01-05T00:00:00Z",
    "duration": "15d",
    "interval": "60m",
    "seed": 3,
    "drain": "30m",
    "queues": [{"id": "support", "wrap_up_s": 10}],
    "agents": [{"count": 3, "prefix": "a"}],
    "arrivals": [
        {
            "queue": "support",
            "per_interval": [0] * 8 + [6] * 10 + [0] * 6,
            "handle_time": {"dist": "exponential", "mean_s": 240},
        }
    ],
}


def test_report_lists_shift_confirmations(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    events = list(simulate(parse_scenario(FLOOR)).events)
    s1 = _ms("2026-01-15T08:00", UTC)
    s2 = _ms("2026-01-15T09:00", UTC)
    extra = [
        ShiftReminderSent("a1", shift_id("a1", s1), "sms", "m1"),
        ShiftReminderSent("a2", shift_id("a2", s2), "email", "m2"),
        ShiftConfirmed("a1", shift_id("a1", s1)),
        ShiftSwapRequested("a2", shift_id("a2", s2), "exam"),
    ]
    ts = s1 - 10 * HOUR_MS
    events += [Event("acme", ts + i, body) for i, body in enumerate(extra)]
    events.sort(key=lambda e: e.ts)  # stable: the log's own order within a millisecond
    events = [e.with_seq(i) for i, e in enumerate(events, 1)]
    log = tmp_path / "events.jsonl"
    with log.open("w") as fh:
        write_jsonl(events, fh)
    roster = tmp_path / "roster.csv"
    write_roster_csv(
        roster,
        [
            RosterEntry("a1", shift_id("a1", s1), s1, s1 + 8 * HOUR_MS, Activity.WORK),
            RosterEntry("a2", shift_id("a2", s2), s2, s2 + 8 * HOUR_MS, Activity.WORK),
            RosterEntry("a3", shift_id("a3", s2), s2, s2 + 4 * HOUR_MS, Activity.WORK),
        ],
        UTC,
    )
    output = tmp_path / "report.html"
    args = [
        "wfm", "report", "--events", str(log), "--output", str(output), "--interval", "60m",
        "--days", "1", "--max-time", "3", "--adherence-schedule", str(roster),
    ]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    page = output.read_text()
    assert "Shift confirmations" in page
    table = page[page.index('class="confirmations"') :]
    table = table[: table.index("</table>")]
    assert table.count("<tr>") == 3  # header + a1 + a2; a3 was neither reminded nor answered
    assert "confirmed" in table and "swap requested" in table and "exam" in table
    assert "a3" not in table
