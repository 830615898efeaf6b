"""`sitelens dev`: the local stack in the foreground until Ctrl-C, SIGTERM or a hangup (a closed terminal).

One `sitelens dev` owns a state dir at a time: it holds an exclusive lock on `<state dir>/stack.lock` for its
whole life, and the operating system lets go of it when the process ends, however it ends, so no stale
lock is ever left. A second one on the same state dir is refused, naming the first one's pid, before it
starts anything or touches the first one's `stack.json`.

A `sitelens dev` killed outright (SIGKILL), even while it starts, cannot stop its children: Azurite runs in a
session of its own, the host and the Batch service survive a kill of their parent alone, and node servers
run in sessions of their own. The next `sitelens dev` of the same state dir, once it holds the lock (so no
live one owns them), finds them in /proc (Linux) by the marks their launchers gave them, stops them and
says which it stopped; `stack.json` is not needed, so a run killed before it wrote one leaves nothing
behind either. `sitelens demo` stops what a killed demo left the same way, and `--clean` (`make
clean-local`) does it before it removes the stack's data. Without /proc (macOS) nothing is stopped: the pids
`stack.json` records that run with their launcher's mark on their command lines (`ps`) are named, to be stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import itertools
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import IO

from emulators.batch_service import launcher as batch_launcher
from emulators.batch_service.processes import alive, processes_under
from emulators.child_process import ChildFailed
from emulators.functions_host import launcher as host_launcher
from emulators.signals import stop_event
from sitelens.stack import Stack

REPO = Path(__file__).resolve().parents[1]
LOCK_FILE = "stack.lock"
# What `--clean` removes: the stack's data, logs and telemetry; the model cache and other files stay.
STACK_DATA = ("azurite", "batch", "logs", "telemetry", "stack.json")
# How long a failed start waits to learn whether a stop was asked for: Ctrl-C reaches the children too, and
# one of them can exit of it just before this process's own handler has set the event.
INTERRUPT_GRACE_S = 0.5
_PROC = Path("/proc")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("dev", help="run the local stack in the foreground")
    add_stack_arguments(p)
    p.add_argument("--clean", action="store_true", help="stop what an earlier run left, remove the stack's data "
                   "(Azurite's, the Batch service's, logs, telemetry) and exit (make clean-local)")  # fmt: skip
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
                  "first (Ctrl-C in its terminal)" + ("" if args.clean else ", or give this one another --state-dir "
                  "and other ports"))  # fmt: skip
            return 1
        stopped, unknown = stop_leftovers(state_dir)
        for child, pid in stopped:
            print(f"sitelens dev: stopped the {child} (pid {pid}) an earlier sitelens dev of {state_dir} left running")
        named = ", ".join(f"{child} pid {pid}" for child, pid in unknown)  # where /proc cannot tell whose they are
        if args.clean:
            return _clean(state_dir, named)
        stack = stack_from(args)
        try:
            if not stop.is_set():
                stack.start()  # stops what it started when it fails, however
        except BaseException as exc:
            if stop.wait(INTERRUPT_GRACE_S):
                pass  # reported below
            elif isinstance(exc, ChildFailed):
                print(f"sitelens dev: {exc}")
                if named:
                    print(f"   {stack.stack_file} of an earlier run names processes that still run: {named}")
                return 1
            else:
                raise
        if stop.is_set():  # asked while it started: a child that got the Ctrl-C too is no crash to report
            stack.stop()
            print("sitelens dev: interrupted; stopped")
            return 130
        return _serve(stack, stop)


def _clean(state_dir: Path, still_running: str) -> int:
    """Remove the stack's data from `state_dir`, whose leftovers are stopped and whose lock this process holds."""
    if still_running:
        print(f"sitelens dev: {state_dir / 'stack.json'} names processes that may still run: {still_running}; "
              "stop them, then clean again")  # fmt: skip
        return 1
    for name in STACK_DATA:
        path = state_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    print(f"sitelens dev: removed the stack's data from {state_dir} ({', '.join(STACK_DATA)})")
    return 0


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


# The children in stopping order, as a stack stops: the host first, Azurite last, each with how long its own
# launcher waits for it to stop. Node processes are killed outright, as a VM's are when it goes away; the
# Batch service stops its own nodes first, so most are gone by then.
_STOPPING = (("Functions host", host_launcher.STOP_TIMEOUT_S), ("Batch service", batch_launcher.STOP_TIMEOUT_S),
             ("node process", None), ("Azurite", 10.0))  # fmt: skip
_RECORDED = {"functions": "Functions host", "batch": "Batch service", "azurite": "Azurite"}  # stack.json's keys


def stop_leftovers(state_dir: Path) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """Stop every process of `state_dir`'s stack that still runs, child by child in `_STOPPING`'s order. Only
    for the holder of the lock: no live owner runs them then. Returns the (child, pid) stopped, and, where
    there is no /proc to find them by, the pids `stack.json` records that are alive with their child's mark on
    their command lines (nothing is stopped then). `stack.json` goes too once nothing it records runs: its
    endpoints lead nowhere."""
    stack_file = state_dir / "stack.json"
    try:
        recorded = json.loads(stack_file.read_text())["pids"].items()
        pids = {_RECORDED[k]: v for k, v in recorded if k in _RECORDED and isinstance(v, int)}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pids = {}
    if not _PROC.is_dir():
        # A pid recorded before a power loss may be another program's by now: without its mark it is not counted,
        # or `--clean` would refuse for as long as that program runs.
        marks = _marks(state_dir)
        return [], [(child, pid) for child, pid in pids.items() if alive(pid) and _carries(pid, marks[child])]
    stopped = []
    for child, patience_s in _STOPPING:
        # Looked for afresh each time: a Batch service that stops ends its nodes itself.
        found = stack_processes(state_dir).get(child, [])
        stopped += [(child, pid) for pid in _terminate(found, patience_s)]
    if not any(alive(pid) for pid in pids.values()):
        stack_file.unlink(missing_ok=True)
    return stopped, []


def stack_processes(state_dir: Path) -> dict[str, list[int]]:
    """This user's live processes (Linux: read in /proc) that are `state_dir`'s stack's, by child, known by what
    their launchers put in them: Azurite's data folder after `--location` and the Batch service's after
    `--data` on their command lines, `AZ_BATCH_NODE_ROOT_DIR` under `<state dir>/batch` in a node process's
    environment, and `SITELENS_TELEMETRY_DIR=<state dir>/telemetry` in the environment of a
    `sitelens functions start`. A process that merely names one of these folders, or another folder whose
    name starts the same, is none of them."""
    found: dict[str, list[int]] = {"node process": [p for p in processes_under(state_dir / "batch") if _mine(p)]}
    telemetry, marks = f"SITELENS_TELEMETRY_DIR={state_dir / 'telemetry'}", _marks(state_dir)
    for entry in _PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid() or not _mine(int(entry.name)):
            continue
        argv = _proc_strings(entry, "cmdline")
        child = next((child for child, mark in marks.items() if _given(argv, *mark)), None)
        if child is None or (child == "Functions host" and telemetry not in _proc_strings(entry, "environ")):
            continue
        if int(entry.name) not in found["node process"] and alive(int(entry.name)):
            found.setdefault(child, []).append(int(entry.name))
    return {child: pids for child, pids in found.items() if pids}


def _marks(state_dir: Path) -> dict[str, tuple[str, str]]:
    """The two arguments, one after the other, that each child's launcher puts on its command line."""
    return {
        "Azurite": ("--location", str(state_dir / "azurite")),
        "Batch service": ("--data", str(state_dir / "batch")),
        "Functions host": ("functions", "start"),
    }


def _carries(pid: int, mark: tuple[str, str]) -> bool:
    """Without /proc (macOS): whether the process's command line, as `ps` shows it (its arguments joined by
    spaces), has `mark` in it as whole words. When `ps` cannot be run, it may: counted as the stack's."""
    try:
        shown = subprocess.run(["ps", "-ww", "-o", "command=", "-p", str(pid)], capture_output=True, text=True,
                               timeout=10, check=False)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return True
    return shown.returncode == 0 and f" {' '.join(mark)} " in f" {shown.stdout.strip()} "


def _given(argv: list[str], option: str, value: str) -> bool:
    """Whether `value` follows `option` on a command line, as one argument each."""
    return any(a == option and b == value for a, b in itertools.pairwise(argv))


def _mine(pid: int) -> bool:
    """Whether the process runs as this user: no other user's process is ever stopped."""
    try:
        return (_PROC / str(pid)).stat().st_uid == os.getuid()
    except OSError:
        return False


def _proc_strings(pid_dir: Path, what: str) -> list[str]:
    """A process's command line or environment, one string per item; empty when it has gone or is not readable."""
    try:
        return (pid_dir / what).read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _terminate(pids: list[int], patience_s: float | None) -> list[int]:
    """SIGTERM, then SIGKILL to those still running after `patience_s` (None: SIGKILL at once); not our
    children, so we poll instead of waiting. Returns the pids that were signalled."""
    signalled = [pid for pid in pids if alive(pid)]
    steps = ((signal.SIGKILL, 10.0),) if patience_s is None else ((signal.SIGTERM, patience_s), (signal.SIGKILL, 10.0))
    for sig, within_s in steps:
        for pid in signalled:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + within_s
        while any(map(alive, signalled)) and time.monotonic() < deadline:
            time.sleep(0.1)  # polling a condition with a deadline: nothing signals another's exit
        if not any(map(alive, signalled)):
            break
    return signalled
