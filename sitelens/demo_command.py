"""`sitelens demo` (`make demo`): start the local stack, run what works end to end, stop.

It grows with the pipeline; today it proves the foundation: Azurite up, the Functions host serving the
real `function_app.py`, a health call through HTTP with the host's semantics.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import urllib.request
from pathlib import Path

from emulators.azurite import AzuriteError, free_port
from sitelens.stack import Stack, StackError

REPO = Path(__file__).resolve().parents[1]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("demo", help="start the local stack, run the main job end to end, stop")
    p.set_defaults(handler=run)


def run(_args: argparse.Namespace) -> int:
    # Free ports and a throw-away state folder, so the demo runs beside a `sitelens dev` already up.
    with tempfile.TemporaryDirectory(prefix="sitelens-demo-") as state:
        stack = Stack(
            repo=REPO,
            state_dir=Path(state),
            azurite_ports=(free_port(), free_port(), free_port()),
            functions_port=free_port(),
            batch_port=free_port(),
        )
        try:
            stack.start()
        except (AzuriteError, StackError) as exc:
            print(f"demo: the local stack did not start: {exc}")
            return 1
        try:
            return _steps(stack)
        finally:
            stack.stop()


def _steps(stack: Stack) -> int:
    batch = stack.batch.endpoint if stack.batch else "-"
    print(f"1. Local stack up: Azurite, the Functions host at {stack.functions_url}, Batch at {batch}")
    with urllib.request.urlopen(f"{stack.functions_url}/api/health", timeout=10) as r:
        body = json.loads(r.read())
    print(f"2. GET /api/health -> {r.status} {body}")
    ok = r.status == 200 and body.get("status") == "ok"
    print("demo: OK" if ok else "demo: FAILED")
    return 0 if ok else 1
