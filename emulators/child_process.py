"""One child process of the local stack (Azurite, the Batch service, the Functions host): start it with its
output in a log file, wait for its readiness condition against a deadline, stop it with SIGTERM and then
SIGKILL. Every failure is a `ChildFailed` naming the child, the reason and the tail of its log, so a caller
(sitelens/stack.py, the tests) catches one type whichever child it was.

Readiness is a condition polled until the deadline, never a fixed wait; a child that exits first fails at
once with its exit code. A failed start stops what it started, so nothing is left holding a port.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

READY_TIMEOUT_S = 60.0
LOG_TAIL_LINES = 20


class ChildFailed(RuntimeError):
    """A child of the local stack could not be started, or is not usable; `str()` says why and what to do."""

    def __init__(self, name: str, reason: str, log_file: Path | None = None) -> None:
        self.name, self.reason = name, reason
        self.log_tail = tail(log_file) if log_file is not None else ""
        where = f"; see {log_file}" if log_file is not None else ""
        super().__init__(f"{name}: {reason}{where}" + (f"\n{self.log_tail}" if self.log_tail else ""))


def tail(log_file: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a child's log (empty when there is none yet)."""
    try:
        text = log_file.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class ChildProcess:
    """A command run as a child with a readiness condition. Use as a context manager or call `stop()`."""

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        *,
        ready: Callable[[], bool] | None = None,
        log_file: Path | None = None,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        own_session: bool = False,
        stop_timeout_s: float = 30.0,
        poll_s: float = 0.1,
    ) -> None:
        self.name, self.args, self._ready = name, list(args), ready
        self.log_file, self.cwd, self.env = log_file, cwd, dict(env) if env is not None else None
        self.own_session, self.stop_timeout_s, self.poll_s = own_session, stop_timeout_s, poll_s
        self.process: subprocess.Popen[bytes] | None = None

    def ready(self) -> bool:
        """The readiness condition: the `ready` given, or a subclass's own (a launcher is a subclass)."""
        if self._ready is None:
            raise NotImplementedError(f"{self.name} has no readiness condition")
        return self._ready()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self, timeout_s: float = READY_TIMEOUT_S) -> Self:
        """Start the child (again, after `stop()`) and wait until `ready()` holds; `ChildFailed` otherwise."""
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
        out = self.log_file.open("ab") if self.log_file is not None else None
        try:
            self.process = subprocess.Popen(
                self.args, cwd=self.cwd, env=self.env, stdout=out or subprocess.DEVNULL, stderr=subprocess.STDOUT,
                start_new_session=self.own_session,
            )  # fmt: skip
        except OSError as exc:
            raise self.failed(f"cannot be started ({exc})") from exc
        finally:
            if out is not None:
                out.close()  # the child holds its own descriptor
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while not self.ready():
            if self.process.poll() is not None:
                raise self.failed(f"exited with code {self.process.returncode} before it was ready")
            if time.monotonic() > deadline:
                raise self.failed(f"did not answer within {timeout_s:.0f} s")
            time.sleep(self.poll_s)  # poll interval of the readiness condition, not a synchronisation sleep

    def failed(self, reason: str) -> ChildFailed:
        return ChildFailed(self.name, reason, self.log_file)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float | None = None) -> int | None:
        """Send `sig` (SIGTERM lets the child finish what it is doing) and wait; SIGKILL after the timeout.
        Returns the exit code (None if never started); stopping a stopped child only reads it again."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(self.stop_timeout_s if timeout_s is None else timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _value: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()
