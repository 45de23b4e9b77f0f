"""The ``glasshouse`` command: one sub-command per module in ``COMMANDS``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module defines ``register(subparsers)`` which adds its sub-command(s) and sets
# ``func`` (taking the parsed namespace, returning an exit code) as the parser default.
COMMANDS: tuple[str, ...] = (
    "glasshouse.entrypoints.cmd_api",
    "glasshouse.entrypoints.cmd_events",
    "glasshouse.entrypoints.cmd_metrics",
    "glasshouse.entrypoints.cmd_privacy",
    "glasshouse.entrypoints.cmd_serve",
    "glasshouse.entrypoints.cmd_simulate",
    "glasshouse.entrypoints.cmd_wfm",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glasshouse", description="Glasshouse contact-center platform"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # a command not shipped in this build
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args))
    except BrokenPipeError:  # e.g. piped into `head`
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
