"""Start `sitelens batch serve` as a child process, wait until it answers, stop it.

    with BatchServiceProcess.launch(repo, data_dir, port, log_file=log, time_scale=120) as batch:
        client = BatchClient(batch.endpoint, AzureNamedKeyCredential(batch.account_name, batch.account_key))

The account key is the data folder's (created there once, mode 0600) unless one is given, in which case
it is kept there; the child reads it from that file, so it never shows on a command line. The storage
connection that stands in for the pools' managed identity (identity.py), if given, reaches the child in
its environment, for the same reason. Start, readiness and stop are `emulators.child_process`'s; a
failure is its `ChildFailed`.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Self

from emulators.batch_service.identity import STORAGE_SETTING
from emulators.batch_service.server import DEFAULT_ACCOUNT, DEFAULT_ACTIVE_JOB_QUOTA, account_key
from emulators.child_process import READY_TIMEOUT_S, ChildProcess

NAME = "the Batch service"
STOP_TIMEOUT_S = 30.0  # the service stops its nodes and saves its state first


class BatchServiceProcess(ChildProcess):
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
        active_job_quota: int = DEFAULT_ACTIVE_JOB_QUOTA,
    ) -> None:
        self.data_dir, self.port = data_dir, port
        self.time_scale, self.boot_delay_s, self.account = time_scale, boot_delay_s, account
        self._given_key, self.repo_root = account_key, repo_root
        self.identity_storage = identity_storage
        args = [sys.executable, "-m", "sitelens", "batch", "serve", "--port", str(port), "--data", str(data_dir),
                "--account", account, "--time-scale", str(time_scale), "--boot-delay", str(boot_delay_s),
                "--active-job-quota", str(active_job_quota)]  # fmt: skip
        env = {**os.environ, STORAGE_SETTING: identity_storage} if identity_storage else None
        super().__init__(NAME, args, log_file=log_file, cwd=repo_root, env=env, stop_timeout_s=STOP_TIMEOUT_S,
                         poll_s=0.05)  # fmt: skip

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
        active_job_quota: int = DEFAULT_ACTIVE_JOB_QUOTA,
    ) -> BatchServiceProcess:
        """Construct and start in one call; raises `ChildFailed` (with its log's tail) if it does not come up."""
        service = cls(data_dir, port, log_file, time_scale=time_scale, boot_delay_s=boot_delay_s,
                      account=account_name, account_key=account_key, repo_root=repo_root,
                      identity_storage=identity_storage, active_job_quota=active_job_quota)  # fmt: skip
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

    def start(self, timeout_s: float = READY_TIMEOUT_S) -> Self:
        """Start the child (again, after `stop()`, on the same data) and wait until it answers."""
        self.account_key  # noqa: B018 - creates the key file before the child reads it
        return super().start(timeout_s)

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
