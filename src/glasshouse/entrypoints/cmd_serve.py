"""``glasshouse serve``: the voice server (SIP on UDP and TCP, RTP media, IVR, ACD) with the demo
tenant by default, until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from importlib import resources
from pathlib import Path

from glasshouse.service.voice.server import ServerOptions, VoiceServer, settle_memory
from glasshouse.service.voice.setup import ServerSetup, SetupError, load_server_setup

EXIT_BAD_INPUT = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the voice server (SIP/RTP, IVR, ACD); the demo tenant by default",
        description=(
            "Run the voice server: SIP on UDP and TCP, RTP media, the tenants' IVR flows and ACD "
            "queues, every event in the log under the data directory. Without --config it runs "
            "the demo tenant: call sip:1000@HOST:PORT, press 1 for sales or 2 for support, and "
            "answer from a softphone registered as agent1, agent2 or agent3."
        ),
    )
    parser.add_argument(
        "--config",
        metavar="YAML",
        help="the server setup (default: the demo, src/glasshouse/demo/server.yaml)",
    )
    parser.add_argument("--sip-host", metavar="ADDRESS", help="listen address (default 127.0.0.1)")
    parser.add_argument(
        "--sip-port", type=int, metavar="PORT", help="SIP port, UDP and TCP (default 5060)"
    )
    parser.add_argument(
        "--rtp-ports", metavar="LOW-HIGH", help="RTP port range (default 20000-29999)"
    )
    parser.add_argument(
        "--data-dir", metavar="DIR", help="event log, recordings, caches (default var/serve)"
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="log every call step")
    parser.set_defaults(func=_serve)


def _demo_path() -> Path:
    return Path(str(resources.files("glasshouse") / "demo" / "server.yaml"))


def _rtp_ports(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    low, sep, high = text.partition("-")
    if not sep or not low.isdigit() or not high.isdigit():
        raise SetupError(f"argument --rtp-ports: expected LOW-HIGH, got {text!r}")
    a, b = int(low), int(high)
    if not 1024 <= a < b <= 65535 or b - a < 3:
        raise SetupError(f"argument --rtp-ports: need 1024 <= LOW < HIGH <= 65535, got {text!r}")
    return a, b


def _banner(setup: ServerSetup, server: VoiceServer) -> str:
    host, port = server.switch.stack.address
    lines = [f"Glasshouse voice server on sip:{host}:{port} (UDP and TCP)"]
    lines.append(f"Event log: {setup.data_dir / 'events.db'}")
    demo = setup.source is not None and setup.source.resolve() == _demo_path().resolve()
    for vt in setup.voice.tenants:
        for route in vt.numbers:
            lines.append(
                f"  tenant {vt.tenant_id}: call sip:{route.number}@{host}:{port} "
                f"(IVR flow {route.flow_id!r})"
            )
        for account in vt.accounts:
            password = f"{account.username}-demo" if demo else "(as configured)"
            lines.append(
                f"  agent phone: user {account.username}  password {password}  "
                f"registrar {host}:{port}  realm {setup.voice.server.realm}"
            )
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


def _serve(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        setup = load_server_setup(args.config or _demo_path(), data_dir=args.data_dir)
        options = ServerOptions(
            sip_host=args.sip_host, sip_port=args.sip_port, rtp_ports=_rtp_ports(args.rtp_ports)
        )
    except SetupError as exc:
        print(f"glasshouse serve: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        import uvloop

        runner: asyncio.Runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # pragma: no cover - uvloop is a dependency; plain asyncio still works
        runner = asyncio.Runner()
    with runner:
        return runner.run(_main(setup, options))


async def _main(setup: ServerSetup, options: ServerOptions) -> int:
    try:
        server = await VoiceServer.create(setup, options)
    except OSError as exc:
        print(f"glasshouse serve: cannot listen: {exc}", file=sys.stderr)
        return 1
    settle_memory()
    print(_banner(setup, server), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        server.close()
        print("stopped", flush=True)
    return 0
