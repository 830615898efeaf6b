"""`sitelens dev`: the local stack in the foreground until Ctrl-C, SIGTERM or a hangup (a closed terminal).

One `sitelens dev` owns a state dir at a time: it holds an exclusive lock on `<state dir>/stack.lock` for its
whole life, and the operating system lets go of it when the process ends, however it ends, so no stale
lock is ever left. A second one on the same state dir is refused, naming the first one's pid, before it
starts anything or touches the first one's `stack.json`.

A `sitelens dev` killed outright (SIGKILL) cannot stop its children: Azurite runs in a session of its own,
and the host and the Batch service survive a kill of their parent alone. The next `sitelens dev` of the same
state dir, once it holds the lock (so no live one owns them), stops the children its predecessor's
`stack.json` records, but only those still running as that state dir's (on Linux, read in /proc: Azurite and
the Batch service by the data folders on their command lines, the host by the telemetry folder in its
environment), and says which it stopped. The Batch service it then starts ends the nodes left from before.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import IO

from emulators.batch_service import launcher as batch_launcher
from emulators.batch_service.processes import alive
from emulators.child_process import ChildFailed
from emulators.functions_host import launcher as host_launcher
from emulators.signals import stop_event
from sitelens.stack import Stack

REPO = Path(__file__).resolve().parents[1]
LOCK_FILE = "stack.lock"
_PROC = Path("/proc")


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
    # Absolute, so the children's command lines name the same folder whatever the next run's working directory.
    state_dir = args.state_dir = args.state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / LOCK_FILE).open("a+") as lock:  # held until this process ends
        owner = claim(lock)
        if owner is not None:
            print(f"sitelens dev: another sitelens dev (pid {owner}) runs the stack of {state_dir}; stop that one "
                  "first (Ctrl-C in its terminal), or give this one another --state-dir and other ports")  # fmt: skip
            return 1
        stopped, unknown = stop_leftovers(state_dir)
        for child, pid in stopped:
            print(f"sitelens dev: stopped the {child} (pid {pid}) an earlier sitelens dev of {state_dir} left running")
        stack = stack_from(args)
        try:
            stack.start()
        except ChildFailed as exc:
            print(f"sitelens dev: {exc}")
            if unknown:  # where /proc cannot tell whose they are: the user can
                named = ", ".join(f"{child} pid {pid}" for child, pid in unknown)
                print(f"   {stack.stack_file} of an earlier run names processes that still run: {named}")
            return 1
        return _serve(stack, stop)


def _serve(stack: Stack, stop: threading.Event) -> int:
    dead = None
    try:
        url = stack.azurite.endpoints.url(stack.azurite_ports[0]) if stack.azurite else ""
        print(f"Storage (Azurite)  {url}")
        print(f"Functions host     {stack.functions_url}/api  (keys in {stack.stack_file})")
        if stack.batch is not None:
            print(f"Batch service      {stack.batch.endpoint}  (account {stack.batch.account})")
        print(f"Logs               {stack.state_dir / 'logs'}")
        print("Press Ctrl-C to stop.", flush=True)
        while not stop.wait(0.5):  # wakes on a signal at once; the timeout only checks the children's health
            dead = stack.dead_child()
            if dead:
                print(f"sitelens dev: the {dead} exited (its log: {stack.log_file(dead)}); stopping the stack")
                break
    finally:  # also when printing fails: a closed terminal leaves nowhere to print
        stack.stop()
    print("stopped", flush=True)
    return 1 if dead else 0


def claim(lock: IO[str]) -> str | None:
    """Lock `lock` for as long as it stays open and write this process's pid in it; None then. When another
    process holds it: that one's pid, as it wrote it ("?" if it has not yet)."""
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        return lock.read().strip() or "?"
    lock.seek(0)
    lock.truncate()
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    return None


def stop_leftovers(state_dir: Path) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """Stop the children that `<state_dir>/stack.json` records and that still run as that state dir's, the
    host first and Azurite last, as a stack stops. Only for the holder of the lock: no live `sitelens dev`
    owns them then. Returns the (child, pid) stopped and those alive that cannot be inspected (no /proc).
    The file goes too once nothing it records runs."""
    stack_file = state_dir / "stack.json"
    try:
        pids = json.loads(stack_file.read_text())["pids"]
    except (OSError, ValueError, KeyError, TypeError):
        return [], []
    stopped, unknown = [], []
    for key, child, where, mark, patience_s in _leftover_marks(state_dir):
        pid = pids.get(key)
        if not isinstance(pid, int) or not alive(pid):
            continue
        if not _PROC.is_dir():
            unknown.append((child, pid))
        elif mark in _proc_strings(pid, where):  # else the pid is another program's now
            _terminate(pid, patience_s)
            stopped.append((child, pid))
    if not any(isinstance(pid, int) and alive(pid) for pid in pids.values()):
        stack_file.unlink(missing_ok=True)  # its endpoints lead nowhere now
    return stopped, unknown


def _leftover_marks(state_dir: Path) -> list[tuple[str, str, str, str, float]]:
    """For each child, in stopping order: its key in `stack.json`'s pids, its name, what in /proc shows it
    is this state dir's and holds what, and how long its own launcher waits for it to stop."""
    return [
        ("functions", "Functions host", "environ", f"SITELENS_TELEMETRY_DIR={state_dir / 'telemetry'}",
         host_launcher.STOP_TIMEOUT_S),
        ("batch", "Batch service", "cmdline", str(state_dir / "batch"), batch_launcher.STOP_TIMEOUT_S),
        ("azurite", "Azurite", "cmdline", str(state_dir / "azurite"), 10.0),  # as emulators/azurite.py waits
    ]  # fmt: skip


def _proc_strings(pid: int, what: str) -> list[str]:
    """A process's command line or environment (Linux), one string per item; empty where there is no /proc."""
    try:
        return (_PROC / str(pid) / what).read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _terminate(pid: int, patience_s: float) -> None:
    """SIGTERM, then SIGKILL if it still runs after `patience_s`: not our child, so we poll instead of waiting."""
    for sig, within_s in ((signal.SIGTERM, patience_s), (signal.SIGKILL, 10.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + within_s
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)  # polling a condition with a deadline: nothing signals another's exit
        if not alive(pid):
            return
