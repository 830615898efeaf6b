"""`sitelens azurite`: run Azurite alone, as the project configures it."""

from __future__ import annotations

import argparse
from pathlib import Path

from emulators.azurite import Azurite
from emulators.child_process import ChildFailed
from emulators.signals import stop_event

REPO = Path(__file__).resolve().parents[1]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("azurite", help="run only Azurite (storage) in the foreground")
    p.add_argument("--data-dir", type=Path, default=REPO / ".local" / "azurite")
    p.add_argument("--ports", type=int, nargs=3, default=[10000, 10001, 10002], metavar=("BLOB", "QUEUE", "TABLE"))
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    stop = stop_event()
    try:
        azurite = Azurite.start(REPO, args.data_dir, tuple(args.ports))
    except ChildFailed as exc:
        print(f"sitelens azurite: {exc}")
        return 1
    print(f"AzureWebJobsStorage={azurite.connection_string}", flush=True)
    stop.wait()
    azurite.stop()
    return 0
