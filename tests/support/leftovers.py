"""Stand-ins for a local stack's processes, and a sweep that leaves none of a test's processes behind.

A stand-in is a `sleep` in Python that carries one mark the stack's launchers give their children (a data
folder after an option on its command line, a variable in its environment), so finding and stopping a state
dir's processes is tested without starting Azurite, the Batch service or the Functions host.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

SLEEP = [sys.executable, "-c", "import time; time.sleep(300)"]


class StandIns:
    """Started stand-ins, each in a session of its own as Azurite and the node servers run; `close` kills and
    reaps whichever still run."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([*SLEEP, *args], env={**os.environ, **(env or {})}, start_new_session=True)
        self.started.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.started:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def stand_ins() -> Iterator[StandIns]:
    started = StandIns()
    try:
        yield started
    finally:
        started.close()


def naming(path: Path) -> list[int]:
    """This user's processes (Linux) whose command line or environment names `path` (or a path below it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if entry.stat().st_uid != os.getuid():
                continue
            if any(str(path).encode() in (entry / what).read_bytes() for what in ("cmdline", "environ")):
                found.append(int(entry.name))
    return found


def kill_naming(path: Path) -> None:
    """SIGKILL what `naming` finds: a test's own processes, whatever it asserted before."""
    for pid in naming(path):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
