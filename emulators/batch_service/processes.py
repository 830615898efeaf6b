"""Processes on virtual nodes: started without a shell in a session of their own, and killed as a VM's would be.

A Batch node is a VM: when it goes away, so does everything that ran on it, daemons a start task left
behind included. Every process the service starts for a node carries `AZ_BATCH_NODE_ROOT_DIR`, and so do
its descendants, so on Linux the processes of one node, or of every node under a data folder, are found
in /proc by that variable and killed: when a node is removed, when the service stops, and when a
restarted service finds survivors of a previous run. Elsewhere only the process groups the service
started are killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
from pathlib import Path
from typing import IO

NODE_ROOT_VARIABLE = "AZ_BATCH_NODE_ROOT_DIR"
_PROC = Path("/proc")


class LaunchError(Exception):
    """The command line could not be started (Batch: a pre-processing error of the task)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code  # CommandProgramNotFound | CommandLaunchFailed
        self.message = message


async def launch(
    command_line: str, cwd: Path, env: dict[str, str], stdout: IO[bytes], stderr: IO[bytes]
) -> asyncio.subprocess.Process:
    """Start `command_line` split like a shell would split it, but not run by one (as Batch does)."""
    try:
        argv = shlex.split(command_line)
    except ValueError as exc:
        raise LaunchError("CommandLaunchFailed", f"the command line cannot be parsed: {exc}") from exc
    if not argv:
        raise LaunchError("CommandLaunchFailed", "the command line is empty")
    try:
        return await asyncio.create_subprocess_exec(
            *argv, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=stdout, stderr=stderr,
            start_new_session=True,  # its own process group, so a kill reaches its children
        )  # fmt: skip
    except FileNotFoundError as exc:
        raise LaunchError("CommandProgramNotFound", f"The program '{argv[0]}' was not found: {exc}") from exc
    except OSError as exc:
        raise LaunchError("CommandLaunchFailed", f"The command line could not be started: {exc}") from exc


def kill_group(pid: int) -> None:
    """SIGKILL the process group led by `pid` (a task started by `launch`), if any of it is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _node_root_of(pid_dir: Path) -> str | None:
    try:
        environ = (pid_dir / "environ").read_bytes()
    except OSError:  # gone, a zombie, or not ours
        return None
    prefix = NODE_ROOT_VARIABLE.encode() + b"="
    for item in environ.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix) :].decode(errors="replace")
    return None


def processes_under(root: Path) -> list[int]:
    """Live processes (Linux) whose node root is `root` or a folder below it."""
    if not _PROC.is_dir():
        return []
    base = str(root)
    found = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        value = _node_root_of(entry)
        if value is not None and (value == base or value.startswith(base.rstrip(os.sep) + os.sep)):
            found.append(int(entry.name))
    return found


def kill_under(root: Path) -> int:
    """SIGKILL every process that ran on the node (or nodes) below `root`; returns how many."""
    pids = processes_under(root)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, dead but not yet reaped, does not)."""
    stat = _PROC / str(pid) / "stat"
    if _PROC.is_dir():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except (OSError, IndexError):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
