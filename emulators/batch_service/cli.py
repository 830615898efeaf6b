"""`sitelens batch serve`: the local Batch service in the foreground, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta
from pathlib import Path

from emulators.batch_service.server import (
    DEFAULT_ACCOUNT,
    DEFAULT_ACTIVE_JOB_QUOTA,
    DEFAULT_PORT,
    ServiceOptions,
    serve,
)
from emulators.signals import STOP_SIGNALS

REPO = Path(__file__).resolve().parents[2]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = subparsers.add_parser("batch", help="the local Azure Batch service")
    sub = group.add_subparsers(dest="batch_command", metavar="COMMAND", required=True)
    p = sub.add_parser("serve", help="serve the Batch REST API on loopback")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--data", type=Path, default=REPO / ".local" / "batch", help="state, node folders, account key")
    p.add_argument("--account", default=DEFAULT_ACCOUNT, help="the Batch account name clients sign with")
    p.add_argument("--key", help="the account's Shared Key (base64), kept in the data folder; default: the one there")
    p.add_argument("--time-scale", type=_positive, default=1.0, help="emulated seconds per real second")
    p.add_argument("--boot-delay", type=float, default=30.0, help="node boot time, in emulated seconds")
    p.add_argument("--active-job-quota", type=_count, default=DEFAULT_ACTIVE_JOB_QUOTA,
                   help="jobs the account may hold that are not completed, as Azure's quota (default 100)")  # fmt: skip
    p.set_defaults(handler=run)


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def run(args: argparse.Namespace) -> int:
    options = ServiceOptions(
        data_dir=args.data, port=args.port, account=args.account, key=args.key,
        time_scale=args.time_scale, boot_delay=timedelta(seconds=args.boot_delay),
        active_job_quota=args.active_job_quota,
    )  # fmt: skip

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:  # a closed terminal (SIGHUP) stops it as cleanly as Ctrl-C
            loop.add_signal_handler(sig, stop.set)
        await serve(options, stop)

    asyncio.run(main())
    return 0
