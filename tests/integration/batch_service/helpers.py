"""Helpers shared by the Batch service tests: the client, waiting on tasks, Python command lines."""

from __future__ import annotations

import sys
from pathlib import Path

from azure.batch import BatchClient, models
from azure.core.credentials import AzureNamedKeyCredential

from emulators.batch_service.launcher import BatchServiceProcess
from tests.support.waiting import wait_for


def client_for(svc: BatchServiceProcess, key: str | None = None) -> BatchClient:
    """The production client, Shared Key, with retries off so a failure shows at once."""
    credential = AzureNamedKeyCredential(svc.account_name, key or svc.account_key)
    return BatchClient(svc.endpoint, credential, retry_total=0)


def completed(batch: BatchClient, job_id: str, task_id: str, timeout: float = 30.0) -> models.BatchTask:
    def done() -> models.BatchTask | None:
        task = batch.get_task(job_id, task_id)
        return task if task.state == models.BatchTaskState.COMPLETED else None

    return wait_for(done, timeout, f"task {task_id} to complete")


def py(code: str) -> str:
    """A command line running `code` with this Python (Batch runs command lines without a shell)."""
    return f'{sys.executable} -c "{code}"'


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []
