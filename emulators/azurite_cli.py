"""`sitelens azurite`: run Azurite alone, as the project configures it."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from types import FrameType

from emulators.azurite import Azurite, AzuriteError

REPO = Path(__file__).resolve().parents[1]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("azurite", help="run only Azurite (storage) in the foreground")
    p.add_argument("--data-dir", type=Path, default=REPO / ".local" / "azurite")
    p.add_argument("--ports", type=int, nargs=3, default=[10000, 10001, 10002], metavar=("BLOB", "QUEUE", "TABLE"))
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        azurite = Azurite.start(REPO, args.data_dir, tuple(args.ports))
    except AzuriteError as exc:
        print(f"sitelens azurite: {exc}")
        return 1
    print(f"AzureWebJobsStorage={azurite.connection_string}", flush=True)
    stop.wait()
    azurite.stop()
    return 0
