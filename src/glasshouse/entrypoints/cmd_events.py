"""``glasshouse events``: export, import and list the event log (JSON Lines, ``docs/events.md``)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from glasshouse.adapters.eventstore.base import EventStoreError
from glasshouse.adapters.eventstore.jsonl import (
    JsonlError,
    prepare_import,
    summarise_imported,
    write_jsonl,
)
from glasshouse.adapters.eventstore.sqlite import SqliteEventStore

DEFAULT_DB = Path("var") / "glasshouse.db"

# Bad input (a bad file, a bad argument) exits 2 like argparse's own usage errors; a failure of
# the store itself exits 1.
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "events",
        help="export, import and list the event log",
        description="Export, import and list the event log (JSON Lines, one event per line).",
    )
    parser.set_defaults(func=lambda _args: _usage(parser))
    actions = parser.add_subparsers(dest="events_action", metavar="ACTION")

    export = actions.add_parser(
        "export",
        help="write a tenant's events as JSON Lines",
        description="Write a tenant's events, in seq order, as JSON Lines.",
    )
    _add_db(export)
    export.add_argument(
        "--tenant", required=True, metavar="NAME", help="the tenant whose events to export"
    )
    export.add_argument(
        "--after-seq",
        type=_non_negative_int,
        default=0,
        metavar="N",
        help="only events with seq greater than N (for incremental exports; default 0)",
    )
    export.add_argument(
        "--output", "-o", metavar="FILE", help="write to FILE instead of standard output"
    )
    export.set_defaults(func=_export)

    imp = actions.add_parser(
        "import",
        help="append a JSON Lines file to the event log, all or nothing",
        description=(
            "Validate every line of FILE, then append all its events in file order, "
            "re-sequenced per tenant. Nothing is imported if any line is bad."
        ),
    )
    _add_db(imp)
    imp.add_argument("file", metavar="FILE.jsonl", help="the file to import ('-' for stdin)")
    imp.add_argument(
        "--tenant",
        metavar="NAME",
        help="put every event in this tenant (e.g. history exported from another ACD)",
    )
    imp.set_defaults(func=_import)

    tenants = actions.add_parser(
        "tenants",
        help="list the tenants in the event log",
        description="List the tenants that have events, one per line: NAME<TAB>LAST_SEQ.",
    )
    _add_db(tenants)
    tenants.set_defaults(func=_tenants)


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"the event store (default: {DEFAULT_DB} in the current directory)",
    )


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_BAD_INPUT


def _error(action: str, message: str) -> None:
    print(f"glasshouse events {action}: {message}", file=sys.stderr)


def _db(args: argparse.Namespace) -> Path:
    db: Path | None = args.db
    return DEFAULT_DB if db is None else db


def _export(args: argparse.Namespace) -> int:
    tenant: str = args.tenant
    try:
        with SqliteEventStore(_db(args), create=False) as store:
            if store.last_seq(tenant) == 0:
                known = ", ".join(store.tenants()) or "none"
                _error("export", f"tenant {tenant!r} has no events (tenants: {known})")
                return EXIT_FAILURE
            events = store.read(tenant, after_seq=args.after_seq)
            if args.output is None:
                write_jsonl(events, sys.stdout)
                sys.stdout.flush()
                return 0
            with _atomic_output(Path(args.output)) as out:
                count = write_jsonl(events, out)
    except EventStoreError as exc:
        _error("export", str(exc))
        return EXIT_FAILURE
    except OSError as exc:
        _error("export", f"cannot write {args.output}: {exc.strerror or exc}")
        return EXIT_FAILURE
    print(f"exported {count} event(s) of tenant {tenant!r} to {args.output}", file=sys.stderr)
    return 0


@contextlib.contextmanager
def _atomic_output(path: Path) -> Iterator[IO[str]]:
    """A file that appears at ``path`` only once fully written, so a failed export never leaves
    a truncated file that looks complete."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _import(args: argparse.Namespace) -> int:
    tenant: str | None = args.tenant
    if tenant is not None and not tenant:
        _error("import", "--tenant must not be empty")
        return EXIT_BAD_INPUT
    source: str = args.file
    try:
        if source == "-":
            name = "<stdin>"
            events = prepare_import(sys.stdin.buffer, name, tenant=tenant)
        else:
            name = source
            with open(source, "rb") as fileobj:
                events = prepare_import(fileobj, name, tenant=tenant)
    except JsonlError as exc:
        print(str(exc), file=sys.stderr)
        _error("import", f"{len(exc.errors)} bad line(s) in {name}; nothing was imported")
        return EXIT_BAD_INPUT
    except OSError as exc:
        _error("import", f"cannot read {source}: {exc.strerror or exc}")
        return EXIT_BAD_INPUT
    if not events:
        print(f"{name}: no events; nothing was imported")
        return 0
    # The file is validated before the store is opened, so bad input never creates a database.
    db = _db(args)
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
        with SqliteEventStore(db) as store:
            stored = store.append(events)
    except EventStoreError as exc:
        _error("import", str(exc))
        return EXIT_FAILURE
    except OSError as exc:
        _error("import", f"cannot create {db.parent}: {exc.strerror or exc}")
        return EXIT_FAILURE
    for item in summarise_imported(stored):
        print(
            f"{item.tenant}: imported {item.count} event(s), seq {item.first_seq}-{item.last_seq}"
        )
    return 0


def _tenants(args: argparse.Namespace) -> int:
    try:
        with SqliteEventStore(_db(args), create=False) as store:
            rows = [(name, store.last_seq(name)) for name in store.tenants()]
    except EventStoreError as exc:
        _error("tenants", str(exc))
        return EXIT_FAILURE
    for name, last in rows:
        print(f"{name}\t{last}")
    return 0
