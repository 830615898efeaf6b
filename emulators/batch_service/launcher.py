"""Start `sitelens batch serve` as a child process, wait until it answers, stop it.

    with BatchServiceProcess.launch(repo, data_dir, port, log_file=log, time_scale=120) as batch:
        client = BatchClient(batch.endpoint, AzureNamedKeyCredential(batch.account_name, batch.account_key))

The account key is the data folder's (created there once, mode 0600) unless one is given, in which case
it is kept there; the child reads it from that file, so it never shows on a command line. The storage
connection that stands in for the pools' managed identity (identity.py), if given, reaches the child in
its environment, for the same reason.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from emulators.batch_service.identity import STORAGE_SETTING
from emulators.batch_service.server import DEFAULT_ACCOUNT, account_key

READY_TIMEOUT_S = 60.0


class BatchServiceProcess:
    def __init__(
        self,
        data_dir: Path,
        port: int,
        log_file: Path,
        *,
        time_scale: float = 1.0,
        boot_delay_s: float = 30.0,
        account: str = DEFAULT_ACCOUNT,
        account_key: str | None = None,
        repo_root: Path | None = None,
        identity_storage: str | None = None,
    ) -> None:
        self.data_dir, self.port, self.log_file = data_dir, port, log_file
        self.time_scale, self.boot_delay_s, self.account = time_scale, boot_delay_s, account
        self._given_key, self.repo_root = account_key, repo_root
        self.identity_storage = identity_storage
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def launch(
        cls,
        repo_root: Path,
        data_dir: Path,
        port: int,
        *,
        log_file: Path,
        account_name: str = DEFAULT_ACCOUNT,
        account_key: str | None = None,
        time_scale: float = 1.0,
        boot_delay_s: float = 30.0,
        timeout_s: float = READY_TIMEOUT_S,
        identity_storage: str | None = None,
    ) -> BatchServiceProcess:
        """Construct and start in one call; raises RuntimeError (naming the log) if it does not come up."""
        service = cls(data_dir, port, log_file, time_scale=time_scale, boot_delay_s=boot_delay_s,
                      account=account_name, account_key=account_key, repo_root=repo_root,
                      identity_storage=identity_storage)  # fmt: skip
        return service.start(timeout_s)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def account_name(self) -> str:
        return self.account

    @property
    def account_key(self) -> str:
        return account_key(self.data_dir, self._given_key)

    def start(self, timeout_s: float = READY_TIMEOUT_S) -> BatchServiceProcess:
        """Start the child (again, after `stop()`, on the same data) and wait until it answers."""
        self.account_key  # noqa: B018 - creates the key file before the child reads it
        args = [sys.executable, "-m", "sitelens", "batch", "serve", "--port", str(self.port),
                "--data", str(self.data_dir), "--account", self.account, "--time-scale", str(self.time_scale),
                "--boot-delay", str(self.boot_delay_s)]  # fmt: skip
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, STORAGE_SETTING: self.identity_storage} if self.identity_storage else None
        with self.log_file.open("ab") as out:
            self.process = subprocess.Popen(args, cwd=self.repo_root, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout_s
        while not self.ready():
            if self.process.poll() is not None:
                raise RuntimeError(f"the Batch service exited with {self.process.returncode}; see {self.log_file}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the Batch service did not answer within {timeout_s:.0f} s; see {self.log_file}")
            time.sleep(0.05)  # poll interval of the readiness condition
        return self

    def ready(self) -> bool:
        """The service answers (an unsigned request is refused with 403, which is enough to know)."""
        try:
            urllib.request.urlopen(f"{self.endpoint}/pools?api-version=2025-06-01", timeout=1).close()
        except urllib.error.HTTPError as exc:
            exc.close()
            return exc.code == 403
        except OSError:
            return False
        return True

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int | None:
        """Signal the service (SIGTERM: it stops its nodes and saves its state) and wait; kill after the timeout."""
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

    def __exit__(
        self, _type: type[BaseException] | None, _value: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()
