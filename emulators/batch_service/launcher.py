"""Start `sitelens batch serve` as a child process, wait until it answers, stop it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from emulators.batch_service.server import DEFAULT_ACCOUNT, account_key

READY_TIMEOUT_S = 60.0


class BatchServiceProcess:
    def __init__(self, data_dir: Path, port: int, log_file: Path, *, time_scale: float = 1.0,
                 boot_delay_s: float = 30.0, account: str = DEFAULT_ACCOUNT) -> None:  # fmt: skip
        self.data_dir, self.port, self.log_file = data_dir, port, log_file
        self.time_scale, self.boot_delay_s, self.account = time_scale, boot_delay_s, account
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def account_key(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return account_key(self.data_dir, None)

    def start(self, timeout_s: float = READY_TIMEOUT_S) -> BatchServiceProcess:
        key = self.account_key  # created before the child starts, so both use the same
        args = [sys.executable, "-m", "sitelens", "batch", "serve", "--port", str(self.port),
                "--data", str(self.data_dir),
                "--account", self.account, "--key", key, "--time-scale", str(self.time_scale),
                "--boot-delay", str(self.boot_delay_s)]  # fmt: skip
        with self.log_file.open("ab") as out:
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while not self._answers():
            if self.process.poll() is not None:
                raise RuntimeError(f"the Batch service exited with {self.process.returncode}; see {self.log_file}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the Batch service did not answer within {timeout_s:.0f} s; see {self.log_file}")
            time.sleep(0.1)  # poll interval of the readiness condition
        return self

    def _answers(self) -> bool:
        try:
            urllib.request.urlopen(f"{self.endpoint}/pools", timeout=1).close()
        except urllib.error.HTTPError as exc:
            return exc.code == 403  # unauthenticated, but the service is up
        except OSError:
            return False
        return True

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int | None:
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

    def __enter__(self) -> BatchServiceProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
