"""``glasshouse api``: serve the HTTP API (``/api/v1``) with uvicorn until interrupted."""

from __future__ import annotations

import argparse
import contextlib


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "api",
        help="serve the HTTP API (/api/v1: WFM staffing, health)",
        description=(
            "Serve the HTTP API until interrupted: POST or GET /api/v1/wfm/staffing computes "
            "the staffing of one interval exactly as 'glasshouse wfm staffing' does, "
            "GET /api/v1/health answers when the server is up, and /api/v1/docs documents "
            "every route. See docs/api.md."
        ),
    )
    parser.add_argument(
        "--host", default="127.0.0.1", metavar="ADDRESS", help="listen address (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=_port, default=8080, metavar="PORT", help="TCP port (default 8080)"
    )
    parser.set_defaults(func=_api)


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port (1 to 65535): {text!r}")
    return int(text)


def _api(args: argparse.Namespace) -> int:
    # Imported here so that the other commands do not pay for loading the web stack.
    import uvicorn

    from glasshouse.web.app import API_PREFIX, create_app

    print(
        f"Glasshouse API on http://{args.host}:{args.port}{API_PREFIX} "
        f"(documentation at {API_PREFIX}/docs)",
        flush=True,
    )
    # uvicorn re-raises Ctrl-C once it has shut down cleanly: that is a normal end.
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.run(create_app(), host=args.host, port=args.port)
    return 0
