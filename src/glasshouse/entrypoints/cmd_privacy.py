"""``glasshouse privacy``: erase a customer's personal data (GDPR) from a voice server's data
directory, or show what a log's reference names. The event log is never rewritten: its
references to an erased value simply point at nothing (``docs/privacy.md``)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Final

from glasshouse.adapters.personal import PersonalStoreError, SqlitePersonalStore, is_ref

DEFAULT_DATA_DIR: Final = Path("var") / "serve"
STORE_FILE: Final = "personal.db"

EXIT_FAILURE: Final = 1
EXIT_BAD_INPUT: Final = 2

# The separators people type in numbers; stored numbers have none (the IVR and the transfer
# code strip the same ones).
_SEPARATORS: Final = str.maketrans("", "", " -.()")
_NUMBER: Final = re.compile(r"\+?[0-9]{2,32}")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "privacy",
        help="erase a customer's personal data; show what a log reference names",
        description=(
            "Personal data (callback and transfer numbers) lives in DATA_DIR/personal.db and "
            "the event log names it by reference (pd-...). Erasing it leaves the log as it is."
        ),
    )
    parser.set_defaults(func=lambda _args: _usage(parser))
    actions = parser.add_subparsers(dest="privacy_action", metavar="ACTION")

    erase = actions.add_parser(
        "erase",
        help="erase a telephone number (every reference to it) or one reference",
        description=(
            "Erase a tenant's telephone number everywhere it is stored, or the value behind "
            "one reference. A pending callback to an erased number fails for good when it "
            "comes up for dialling. Safe while the server runs."
        ),
    )
    _add_common(erase)
    what = erase.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--number", metavar="NUMBER", help="the number as dialled (spaces, dashes, dots ignored)"
    )
    what.add_argument("--ref", metavar="REF", help="one reference from the log (pd-...)")
    erase.set_defaults(func=_erase)

    show = actions.add_parser(
        "show",
        help="print the value a log reference names",
        description="Print the value behind a reference (pd-...), if it was not erased.",
    )
    _add_common(show)
    show.add_argument("--ref", required=True, metavar="REF", help="the reference (pd-...)")
    show.set_defaults(func=_show)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        metavar="DIR",
        help=f"the voice server's data directory (default: {DEFAULT_DATA_DIR})",
    )
    parser.add_argument("--tenant", required=True, metavar="NAME", help="the tenant")


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_BAD_INPUT


def _error(action: str, message: str) -> None:
    print(f"glasshouse privacy {action}: {message}", file=sys.stderr)


def _open(data_dir: Path) -> SqlitePersonalStore:
    return SqlitePersonalStore(data_dir / STORE_FILE, create=False)


def _bad_arguments(args: argparse.Namespace) -> str | None:
    """What is wrong with the tenant or the reference given, checked before any file is opened."""
    if not args.tenant:
        return "--tenant must not be empty"
    if args.ref is not None and not is_ref(args.ref):
        return f"--ref {args.ref!r} is not a reference (pd- and 16 hex digits, as in the log)"
    return None


def _erase(args: argparse.Namespace) -> int:
    tenant: str = args.tenant
    problem = _bad_arguments(args)
    if problem is not None:
        _error("erase", problem)
        return EXIT_BAD_INPUT
    number: str | None = None
    if args.number is not None:
        number = str(args.number).translate(_SEPARATORS)
        if _NUMBER.fullmatch(number) is None:
            _error("erase", "--number must be a telephone number (digits, an optional leading +)")
            return EXIT_BAD_INPUT
    try:
        with _open(args.data_dir) as store:
            if number is not None:
                erased = store.erase_value(tenant, number)
            else:
                erased = int(store.erase_ref(tenant, args.ref))
    except PersonalStoreError as exc:
        _error("erase", str(exc))
        return EXIT_FAILURE
    if erased:
        print(f"erased {erased} value(s) of tenant {tenant!r}")
    else:
        print(f"nothing stored for it in tenant {tenant!r}: nothing to erase")
    return 0


def _show(args: argparse.Namespace) -> int:
    tenant: str = args.tenant
    problem = _bad_arguments(args)
    if problem is not None:
        _error("show", problem)
        return EXIT_BAD_INPUT
    try:
        with _open(args.data_dir) as store:
            value = store.get(tenant, args.ref)
    except PersonalStoreError as exc:
        _error("show", str(exc))
        return EXIT_FAILURE
    if value is None:
        _error("show", f"{args.ref} names nothing in tenant {tenant!r} (erased, or never stored)")
        return EXIT_FAILURE
    print(value)
    return 0
