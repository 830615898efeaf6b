"""`sitelens functions start`: run a Functions app folder the way `func start` would."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from emulators.functions_host.host import FunctionsHost, HostOptions
from emulators.signals import STOP_SIGNALS


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = subparsers.add_parser("functions", help="the local Azure Functions host")
    sub = group.add_subparsers(dest="functions_command", metavar="COMMAND", required=True)
    start = sub.add_parser("start", help="run a Functions app folder (like `func start`)")
    start.add_argument("--app-dir", type=Path, default=Path(), help="folder with function_app.py (default: .)")
    start.add_argument("--port", type=int, help="HTTP port (default: Host.LocalHttpPort, else 7071)")
    start.add_argument("--max-concurrency", type=int, help="concurrent invocations (default: worker thread count)")
    start.add_argument("--shutdown-timeout", type=float, default=30.0, help="seconds to wait for running invocations")
    start.add_argument("--blob-scan-interval", type=float, default=2.0, help="seconds between container scans")
    start.add_argument(
        "--no-emulate-event-grid",
        dest="emulate_event_grid",
        action="store_false",
        help="do not scan for Event Grid-sourced blob triggers; deliver them only through the webhook",
    )
    keys = start.add_mutually_exclusive_group()
    keys.add_argument("--enforce-keys", dest="enforce_keys", action="store_true", default=None)
    keys.add_argument(
        "--no-enforce-keys",
        dest="enforce_keys",
        action="store_false",
        help="accept HTTP calls without keys, as Core Tools does",
    )
    start.set_defaults(handler=run_start)


def run_start(args: argparse.Namespace) -> int:
    options = HostOptions(
        app_dir=args.app_dir,
        port=args.port,
        max_concurrency=args.max_concurrency,
        shutdown_timeout_s=args.shutdown_timeout,
        blob_scan_interval_s=args.blob_scan_interval,
        enforce_keys=args.enforce_keys,
        emulate_event_grid=args.emulate_event_grid,
    )
    asyncio.run(serve(options))
    return 0


async def serve(options: HostOptions) -> None:
    host = FunctionsHost(options)
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:  # a closed terminal (SIGHUP) stops it as cleanly as Ctrl-C
        loop.add_signal_handler(sig, host.request_stop)
    await host.start()
    await host.wait_stopped()
    await host.stop()
