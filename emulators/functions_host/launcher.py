"""Run `sitelens functions start` as a child process and wait until it answers, with a deadline.

Start, readiness and stop are `emulators.child_process`'s; a failure is its `ChildFailed`. SIGTERM lets
running invocations finish (the host drains, as the real one does), so the stop timeout is generous.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from emulators.child_process import ChildProcess

NAME = "the Functions host"
STOP_TIMEOUT_S = 45.0  # above the host's own drain of running invocations


class FunctionsHostProcess(ChildProcess):
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
        self.app_dir, self.port = app_dir, port
        args = [sys.executable, "-m", "sitelens", "functions", "start", "--app-dir", str(app_dir),
                "--port", str(port), *extra_args]  # fmt: skip
        super().__init__(NAME, args, log_file=log_file, cwd=cwd, env=env if env is not None else os.environ,
                         stop_timeout_s=STOP_TIMEOUT_S)  # fmt: skip

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/admin/host/ping", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False
