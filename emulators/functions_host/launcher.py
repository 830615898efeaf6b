"""Run `sitelens functions start` as a child process and wait until it answers, with a deadline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

READY_TIMEOUT_S = 60.0


class HostStartError(RuntimeError):
    """The host exited or did not answer in time; the message points at its log."""


class FunctionsHostProcess:
    def __init__(
        self,
        app_dir: Path,
        port: int,
        log_file: Path,
        *,
        env: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
        cwd: Path | None = None,
    ) -> None:
        self.app_dir = app_dir
        self.port = port
        self.log_file = log_file
        self.env = dict(env) if env is not None else dict(os.environ)
        self.extra_args = list(extra_args)
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = READY_TIMEOUT_S) -> FunctionsHostProcess:
        args = [sys.executable, "-m", "sitelens", "functions", "start", "--app-dir", str(self.app_dir),
                "--port", str(self.port), *self.extra_args]  # fmt: skip
        with self.log_file.open("ab") as out:
            self.process = subprocess.Popen(args, cwd=self.cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while not self.ready():
            if self.process.poll() is not None:
                raise HostStartError(f"the Functions host exited with {self.process.returncode}; see {self.log_file}")
            if time.monotonic() > deadline:
                self.stop()
                raise HostStartError(f"the Functions host did not answer within {timeout_s:.0f} s; see {self.log_file}")
            time.sleep(0.1)  # poll interval of the readiness condition
        return self

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/admin/host/ping", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 45.0) -> int | None:
        """Signal the host (SIGTERM lets running invocations finish) and wait; kill after the timeout."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode
