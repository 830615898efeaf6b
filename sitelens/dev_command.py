"""`sitelens dev`: the local stack in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
from pathlib import Path

from emulators.child_process import ChildFailed
from emulators.signals import stop_event
from sitelens.stack import Stack

REPO = Path(__file__).resolve().parents[1]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("dev", help="run the local stack in the foreground")
    add_stack_arguments(p)
    p.set_defaults(handler=run)


def add_stack_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state-dir", type=Path, default=REPO / ".local", help="data, logs and stack.json (default .local)")
    p.add_argument(
        "--azurite-ports", type=int, nargs=3, default=[10000, 10001, 10002], metavar=("BLOB", "QUEUE", "TABLE")
    )
    p.add_argument("--port", type=int, default=7071, help="Functions host HTTP port")
    p.add_argument("--batch-port", type=int, default=8765, help="local Batch service port")
    p.add_argument("--batch-time-scale", type=float, default=1.0, help="emulated Batch seconds per real second")


def stack_from(args: argparse.Namespace) -> Stack:
    return Stack(
        repo=REPO,
        state_dir=args.state_dir,
        azurite_ports=tuple(args.azurite_ports),
        functions_port=args.port,
        batch_port=args.batch_port,
        batch_time_scale=args.batch_time_scale,
    )


def run(args: argparse.Namespace) -> int:
    stop = stop_event()
    stack = stack_from(args)
    try:
        stack.start()
    except ChildFailed as exc:
        print(f"sitelens dev: {exc}")
        return 1
    print(f"Storage (Azurite)  {stack.azurite.endpoints.url(stack.azurite_ports[0]) if stack.azurite else ''}")
    print(f"Functions host     {stack.functions_url}/api  (keys in {stack.stack_file})")
    if stack.batch is not None:
        print(f"Batch service      {stack.batch.endpoint}  (account {stack.batch.account})")
    print(f"Logs               {args.state_dir / 'logs'}")
    print("Press Ctrl-C to stop.", flush=True)
    dead = None
    while not stop.wait(0.5):  # wakes on a signal at once; the timeout only checks the children's health
        dead = stack.dead_child()
        if dead:
            print(f"sitelens dev: the {dead} exited; stopping the stack")
            break
    stack.stop()
    print("stopped", flush=True)
    return 1 if dead else 0
