"""``glasshouse wfm reminders``: shift reminders from a roster, agents' replies, and the planner's
view of them.

* ``send``: the reminders due now (12 h and 1 h before each shift by default) for the shifts of
  a roster file, to the agents' addresses in a directory file, through a file outbox or SMTP;
  recorded in the tenant's event log first (see ``docs/shift-reminders.md``). Safe to run every
  minute from cron: what the log holds is not sent again.
* ``reply``: record an agent's answer (``C`` to confirm, ``S [note]`` to ask for a swap), as a
  gateway for SMS or e-mail replies would, and print the text to send back.
* ``status``: per shift of the roster, the reminders sent and the agent's answer.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from glasshouse.adapters.eventstore.base import EventStoreError
from glasshouse.adapters.eventstore.sqlite import SqliteEventStore
from glasshouse.adapters.notify import Notifier, NotifyError
from glasshouse.adapters.notify.outbox import FileOutbox
from glasshouse.adapters.notify.smtp import SmtpNotifier
from glasshouse.domain.wfm.reminders import (
    Answer,
    Channel,
    ContactPoint,
    ReminderError,
    ReminderLog,
    ReminderPolicy,
    ShiftReminderStatus,
    UpcomingShift,
    planner_view,
)
from glasshouse.domain.wfm.roster import upcoming_shifts
from glasshouse.entrypoints.roster_csv import RosterCsvError, instant_ms, read_roster_csv
from glasshouse.service.reminders import load_reminder_log, record_reply, send_due_reminders

__all__ = ["register"]

EXIT_BAD_INPUT = 2
_LEAD = re.compile(r"(\d+)\s*(m|min|h)", re.IGNORECASE)


class _InputError(Exception):
    pass


def register(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``reminders`` to the ``wfm`` actions."""
    parser = actions.add_parser(
        "reminders",
        help="shift reminders: send the due ones, record replies, show the answers",
        description=(
            "Shift reminders for the shifts of a roster (the CSV written by `wfm schedule "
            "--agents ... --roster-out`): send the due ones, record agents' replies, and show "
            "the planner which shifts are confirmed, which need a swap and which are unanswered."
        ),
    )
    parser.set_defaults(func=lambda _args: _usage(parser))
    sub = parser.add_subparsers(dest="reminders_action", metavar="ACTION")

    send = sub.add_parser(
        "send",
        help="send the reminders due now",
        description=(
            "Send the reminders due at --now (default: the current time) for the roster's "
            "shifts, each recorded in the event log before it is sent. Run it every few minutes."
        ),
    )
    _common(send)
    _roster(send, required=True)
    send.add_argument(
        "--directory",
        required=True,
        metavar="CSV",
        help=(
            "the agents' addresses: columns agent_id, email, sms (either may be empty) and "
            "optional channels (email, sms or email;sms; default: every channel with an address)"
        ),
    )
    via = send.add_mutually_exclusive_group(required=True)
    via.add_argument(
        "--outbox",
        metavar="DIR",
        help="write each message as a JSON file under DIR/<tenant>/ (for an SMS/e-mail gateway)",
    )
    via.add_argument("--smtp", metavar="HOST[:PORT]", help="send e-mails through this server")
    send.add_argument("--smtp-from", metavar="ADDRESS", help="sender address for --smtp")
    send.add_argument(
        "--leads",
        default="12h,1h",
        metavar="LIST",
        help="how long before a shift each reminder goes (default 12h,1h)",
    )
    send.set_defaults(func=_guarded(_send))

    reply = sub.add_parser(
        "reply",
        help="record an agent's reply to a reminder",
        description=(
            "Record an agent's reply: C (or yes, ok, confirm) confirms the next reminded shift, "
            "S (or swap) with an optional note asks for a swap. Prints the outcome and the text "
            "to send back."
        ),
    )
    _common(reply)
    _roster(reply, required=False)
    reply.add_argument("--agent", required=True, help="the agent who replied")
    reply.add_argument("--text", required=True, help="the reply as received")
    reply.set_defaults(func=_guarded(_reply))

    status = sub.add_parser(
        "status",
        help="the planner's view: reminders sent and answers, per shift",
        description="Per shift of the roster: reminders sent, and the agent's answer.",
    )
    _common(status)
    _roster(status, required=True)
    status.add_argument(
        "--format", choices=("table", "json", "csv"), default="table", help="output format"
    )
    status.add_argument(
        "--all",
        action="store_true",
        help="include shifts that have started (default: from --now on)",
    )
    status.set_defaults(func=_guarded(_status))


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", required=True, metavar="FILE", help="the SQLite event store")
    parser.add_argument("--tenant", required=True, help="the tenant")
    parser.add_argument(
        "--tz", default="UTC", metavar="ZONE", help="the tenant's time zone (default UTC)"
    )
    parser.add_argument(
        "--now",
        metavar="ISO",
        help="the time to act at (ISO 8601; default: the current time)",
    )


def _roster(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument(
        "--roster",
        required=required,
        metavar="CSV",
        help="the roster: columns agent_id, shift_id, start, end, activity",
    )


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return EXIT_BAD_INPUT


def _guarded(run: Any) -> Any:
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return int(run(args))
        except (_InputError, RosterCsvError, ReminderError, EventStoreError, NotifyError) as exc:
            print(f"glasshouse wfm reminders {args.reminders_action}: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT

    return wrapped


# ---------------------------------------------------------------------------------------------
# Inputs


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _InputError(f"argument --tz: unknown time zone {name!r}") from None


def _now_ms(args: argparse.Namespace, tz: tzinfo) -> int:
    if args.now is None:
        return int(time.time() * 1000)
    ms = instant_ms(args.now, tz)
    if ms is None:
        raise _InputError(f"argument --now: not an ISO 8601 date and time: {args.now!r}")
    return ms


def _leads(text: str) -> tuple[int, ...]:
    leads: list[int] = []
    for part in text.split(","):
        match = _LEAD.fullmatch(part.strip())
        if match is None:
            raise _InputError(f"argument --leads: not a lead like 12h or 30m: {part.strip()!r}")
        value = int(match.group(1)) * (3600 if match.group(2).lower() == "h" else 60)
        if value <= 0:
            raise _InputError(f"argument --leads: a lead must be longer than 0: {part.strip()!r}")
        leads.append(value)
    return tuple(leads)


def _shifts(path: str, tz: tzinfo) -> list[UpcomingShift]:
    return upcoming_shifts(read_roster_csv(path, tz))


@dataclass(frozen=True)
class _Directory:
    contacts: dict[str, tuple[ContactPoint, ...]]
    addresses: dict[str, str]


def _directory(path: str) -> _Directory:
    """Contact points per agent and the addresses they refer to (kept out of the log)."""
    try:
        fileobj = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise _InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    with fileobj:
        try:
            rows = [r for r in csv.reader(fileobj) if r and any(f.strip() for f in r)]
        except csv.Error as exc:
            raise _InputError(f"{path}: not valid CSV ({exc})") from None
    if not rows:
        raise _InputError(f"{path}: the file is empty")
    names = [f.strip().lower() for f in rows[0]]
    if "agent_id" not in names or not {"email", "sms"} & set(names):
        raise _InputError(f"{path}:1: header: needs agent_id and an email or sms column")
    col = {n: i for i, n in enumerate(names)}
    contacts: dict[str, tuple[ContactPoint, ...]] = {}
    addresses: dict[str, str] = {}
    problems: list[str] = []
    for number, row in enumerate(rows[1:], 2):

        def cell(name: str, row: list[str] = row) -> str:
            i = col.get(name)
            return row[i].strip() if i is not None and i < len(row) else ""

        agent = cell("agent_id")
        if not agent:
            problems.append(f"{path}:{number}: agent_id: must not be empty")
            continue
        if agent in contacts:
            problems.append(f"{path}:{number}: agent_id: {agent!r} is listed twice")
            continue
        have = {c: cell(c.value) for c in Channel if cell(c.value)}
        wanted_text = cell("channels")
        if wanted_text:
            wanted: list[Channel] = []
            for part in re.split(r"[;\s]+", wanted_text):
                try:
                    wanted.append(Channel(part.lower()))
                except ValueError:
                    problems.append(f"{path}:{number}: channels: {part!r} is not email or sms")
            missing = [c.value for c in wanted if c not in have]
            if missing:
                problems.append(f"{path}:{number}: channels: no address for {', '.join(missing)}")
        else:
            wanted = list(have)
        points: list[ContactPoint] = []
        for channel in wanted:
            if channel in have:
                ref = f"{agent}/{channel.value}"
                addresses[ref] = have[channel]
                points.append(ContactPoint(channel, ref))
        contacts[agent] = tuple(points)
    if problems:
        raise _InputError(f"{len(problems)} problem(s) in {path}:\n" + "\n".join(problems[:20]))
    return _Directory(contacts, addresses)


def _notifier(args: argparse.Namespace) -> Notifier:
    if args.outbox is not None:
        return FileOutbox(args.outbox)
    if not args.smtp_from:
        raise _InputError("argument --smtp-from: needed with --smtp")
    host, _, port_text = args.smtp.partition(":")
    try:
        port = int(port_text) if port_text else 25
    except ValueError:
        raise _InputError(f"argument --smtp: not HOST[:PORT]: {args.smtp!r}") from None
    return SmtpNotifier(host=host or "localhost", port=port, sender=args.smtp_from)


def _local(ms: int, tz: tzinfo) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(tz)


def _open_store(path: str, *, create: bool) -> SqliteEventStore:
    return SqliteEventStore(path, create=create)


# ---------------------------------------------------------------------------------------------
# Actions


def _send(args: argparse.Namespace) -> int:
    tz = _zone(args.tz)
    now = _now_ms(args, tz)
    policy = ReminderPolicy(leads_s=_leads(args.leads), time_zone=args.tz)
    shifts = _shifts(args.roster, tz)
    directory = _directory(args.directory)
    notifier = _notifier(args)
    unknown = sorted({s.agent_id for s in shifts} - set(directory.contacts))
    with _open_store(args.db, create=True) as store:
        report = send_due_reminders(
            args.tenant,
            store,
            notifier,
            shifts,
            directory.contacts,
            now,
            addresses=directory.addresses,
            policy=policy,
        )
    starts = {(s.agent_id, s.shift_id): s.start_ms for s in shifts}
    for event in report.sent:
        body: Any = event.body
        start = starts.get((body.agent_id, body.shift_id))
        when = f"{_local(start, tz):%a %Y-%m-%d %H:%M}" if start is not None else "?"
        print(f"sent {body.channel} to {body.agent_id} for the shift at {when} ({body.shift_id})")
    for due, reason in report.skipped:
        print(f"skipped {due.channel} to {due.agent_id} ({due.shift_id}): {reason}")
    for due, reason in report.failed:
        print(f"FAILED {due.channel} to {due.agent_id} ({due.shift_id}): {reason}")
    if unknown:
        print(f"no directory entry for: {', '.join(unknown)} (nothing sent to them)")
    print(
        f"{len(report.sent)} sent, {len(report.skipped)} skipped, {len(report.failed)} failed "
        f"at {_local(now, tz):%Y-%m-%d %H:%M} {args.tz}"
    )
    return 1 if report.failed else 0


def _reply(args: argparse.Namespace) -> int:
    tz = _zone(args.tz)
    now = _now_ms(args, tz)
    shifts = _shifts(args.roster, tz) if args.roster else None
    with _open_store(args.db, create=False) as store:
        result = record_reply(
            args.tenant,
            store,
            args.agent,
            args.text,
            now,
            shifts=shifts,
            policy=ReminderPolicy(time_zone=args.tz),
        )
    shift = f" for {result.shift_id}" if result.shift_id else ""
    print(f"{result.outcome.value}{shift}")
    print(f"answer: {result.answer}")
    return 0


def _status(args: argparse.Namespace) -> int:
    tz = _zone(args.tz)
    now = _now_ms(args, tz)
    shifts = _shifts(args.roster, tz)
    if not args.all:
        shifts = [s for s in shifts if s.start_ms >= now]
    with _open_store(args.db, create=False) as store:
        log: ReminderLog = load_reminder_log(args.tenant, store)
    rows = planner_view(shifts, log)
    if args.format == "json":
        print(json.dumps([_json_row(r, tz) for r in rows], indent=2))
    elif args.format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(_CSV_COLUMNS)
        for r in rows:
            data = _json_row(r, tz)
            writer.writerow(
                ";".join(data[c]) if isinstance(data[c], list) else data[c] for c in _CSV_COLUMNS
            )
    else:
        sys.stdout.write(_table(rows, tz, args.tz))
    return 0


_CSV_COLUMNS = (
    "start",
    "agent_id",
    "shift_id",
    "answer",
    "answered",
    "note",
    "reminders",
    "channels",
    "first_reminder",
    "last_reminder",
)


def _iso(ms: int | None, tz: tzinfo) -> str | None:
    return None if ms is None else _local(ms, tz).isoformat()


def _json_row(row: ShiftReminderStatus, tz: tzinfo) -> dict[str, Any]:
    return {
        "start": _iso(row.start_ms, tz),
        "agent_id": row.agent_id,
        "shift_id": row.shift_id,
        "answer": row.answer.value,
        "answered": _iso(row.answered_ms, tz),
        "note": row.note,
        "reminders": row.reminders,
        "channels": list(row.channels),
        "first_reminder": _iso(row.first_reminder_ms, tz),
        "last_reminder": _iso(row.last_reminder_ms, tz),
    }


_ANSWER_TEXT = {
    Answer.CONFIRMED: "confirmed",
    Answer.SWAP_REQUESTED: "SWAP REQUESTED",
    Answer.NO_ANSWER: "no answer",
    Answer.NOT_REMINDED: "not reminded yet",
}


def _table(rows: Sequence[ShiftReminderStatus], tz: tzinfo, tz_name: str) -> str:
    counts = Counter(r.answer for r in rows)
    lines = [
        f"Shift reminders: {len(rows)} shift(s), times in {tz_name}",
        "  " + ", ".join(f"{_ANSWER_TEXT[a]} {counts.get(a, 0)}" for a in Answer),
        "",
    ]
    table = [["shift start", "agent", "answer", "answered", "reminders", "note"]]
    for r in rows:
        sent = f"{r.reminders} ({', '.join(r.channels)})" if r.reminders else "0"
        table.append(
            [
                f"{_local(r.start_ms, tz):%a %Y-%m-%d %H:%M}",
                r.agent_id,
                _ANSWER_TEXT[r.answer],
                f"{_local(r.answered_ms, tz):%m-%d %H:%M}" if r.answered_ms is not None else "",
                sent,
                r.note,
            ]
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines) + "\n"
