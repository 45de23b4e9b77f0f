"""JSON Lines export and import of the event log (one event per line, see ``docs/events.md``).

Reading validates every line and reports every bad one as ``FILE:LINE: reason``, so a user fixes
a file in one pass instead of one error per attempt. Importing is all-or-nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import IO, Final

from glasshouse.adapters.eventstore.base import MAX_TS, EventStore
from glasshouse.domain.events import Event, EventError, event_from_dict

MAX_LISTED_ERRORS: Final = 50


class JsonlError(ValueError):
    """A JSON Lines file has bad lines. ``errors`` holds every ``FILE:LINE: reason``; the message
    lists the first :data:`MAX_LISTED_ERRORS` of them."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        listed = self.errors[:MAX_LISTED_ERRORS]
        more = len(self.errors) - len(listed)
        if more:
            listed.append(f"and {more} more bad line(s)")
        super().__init__("\n".join(listed))


@dataclass(frozen=True, slots=True)
class Imported:
    """What an import appended for one tenant: ``count`` events, seq ``first_seq..last_seq``."""

    tenant: str
    count: int
    first_seq: int
    last_seq: int


def write_jsonl(events: Iterable[Event], fileobj: IO[str]) -> int:
    """Write ``events`` one JSON object per line (compact, sorted keys); return how many."""
    count = 0
    for event in events:
        fileobj.write(event.to_json())
        fileobj.write("\n")
        count += 1
    return count


def _decode_line(raw: str | bytes, where: str) -> str:
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EventError(
            f"{where}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
        ) from None


def _parse(
    lines: Iterable[str | bytes], source_name: str, tenant: str | None
) -> tuple[list[tuple[int, Event]], list[tuple[int, str]]]:
    events: list[tuple[int, Event]] = []
    errors: list[tuple[int, str]] = []
    for lineno, raw in enumerate(lines, start=1):
        where = f"{source_name}:{lineno}"
        try:
            text = _decode_line(raw, where)
            if lineno == 1:
                text = text.removeprefix("\ufeff")  # files saved by some Windows tools
            if not text.strip():
                continue
            try:
                obj = json.loads(text.rstrip("\r\n"))
            except json.JSONDecodeError as exc:
                # Some of json's messages end in "at", ready for a position.
                reason = exc.msg.removesuffix(" at")
                raise EventError(
                    f"{where}: not valid JSON ({reason} at column {exc.colno})"
                ) from None
            if tenant is not None and isinstance(obj, dict):
                obj["tenant"] = tenant
            event = event_from_dict(obj, where)
            if event.ts > MAX_TS:
                raise EventError(f"{where}: field 'ts' is out of range ({event.ts})")
        except EventError as exc:
            errors.append((lineno, str(exc)))
            continue
        events.append((lineno, event))
    return events, errors


def read_jsonl(fileobj: Iterable[str] | Iterable[bytes], source_name: str) -> list[Event]:
    """Parse a JSON Lines file (text or bytes lines), validating every line; blank lines are
    skipped. Raises :class:`JsonlError` listing every bad line as ``source_name:LINE: reason``."""
    events, errors = _parse(fileobj, source_name, None)
    if errors:
        raise JsonlError([message for _, message in errors])
    return [event for _, event in events]


def prepare_import(
    fileobj: Iterable[str] | Iterable[bytes],
    source_name: str = "<input>",
    *,
    tenant: str | None = None,
) -> list[Event]:
    """Validate a file for import without touching any store; return its events in file order.

    ``tenant``, when given, replaces (or supplies) the tenant of every line. Besides each line's
    own validity, ``ts`` must not go backwards within a tenant. Raises :class:`JsonlError` listing
    every bad line.
    """
    if tenant is not None and (not isinstance(tenant, str) or not tenant):
        raise ValueError(f"tenant must be a non-empty string, got {tenant!r}")
    events, errors = _parse(fileobj, source_name, tenant)
    # Metrics take durations as differences of ts along a contact's events; a log where time runs
    # backwards would give negative queue or talk times.
    last: dict[str, tuple[int, int]] = {}
    for lineno, event in events:
        previous = last.get(event.tenant)
        if previous is not None and event.ts < previous[0]:
            errors.append(
                (
                    lineno,
                    f"{source_name}:{lineno}: ts {event.ts} goes backwards (line {previous[1]} "
                    f"has ts {previous[0]} for tenant {event.tenant!r})",
                )
            )
        else:
            last[event.tenant] = (event.ts, lineno)
    if errors:
        errors.sort(key=lambda item: item[0])
        raise JsonlError([message for _, message in errors])
    return [event for _, event in events]


def summarise_imported(stored: Iterable[Event]) -> list[Imported]:
    """Per tenant (in order of first appearance), how many events were stored and their seqs."""
    seqs: dict[str, list[int]] = {}
    for event in stored:
        seqs.setdefault(event.tenant, []).append(event.seq)
    return [Imported(name, len(got), got[0], got[-1]) for name, got in seqs.items()]


def import_jsonl(
    store: EventStore,
    fileobj: Iterable[str] | Iterable[bytes],
    source_name: str = "<input>",
    *,
    tenant: str | None = None,
) -> list[Imported]:
    """Append a JSON Lines file to ``store`` in file order, all or nothing.

    The whole file is validated first (see :func:`prepare_import`) and then appended as one
    atomic batch, re-sequenced per tenant after what the store already holds (the file's ``seq``
    is not kept). Raises :class:`JsonlError` or the store's ``EventStoreError``; either way
    nothing is written.
    """
    events = prepare_import(fileobj, source_name, tenant=tenant)
    return summarise_imported(store.append(events))
