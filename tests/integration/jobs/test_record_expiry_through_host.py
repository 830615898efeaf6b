"""Record expiry through the real function_app.py on the local host and Azurite: the `expire_records` timer,
scheduled every second here, deletes a finished job received before `SITELENS_RECORDS_RETENTION_DAYS` (rows written
as the pipeline writes them, with an old receipt time) and keeps one received since."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.data.tables import TableServiceClient

from shared.adapters.azure_job_store import TableJobStore
from shared.errors import NotFound
from shared.jobs import ids
from shared.jobs.models import Job, JobState
from tests.support.stack import HostProcess
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
RARELY = "0 0 0 1 1 *"


def finished(store: TableJobStore, site: str, name: str, received_at: datetime) -> Job:
    blob = f"{site}/cam-1/2026/11/22/{name}.jpg"
    job_id = ids.job_id_for(blob)
    job = Job(job_id, site, "cam-1", name, blob, '"0x1"', received_at, state=JobState.SUCCEEDED,
              finished_at=received_at, event_id=ids.event_id(job_id, "SUCCEEDED"), event_published=True)  # fmt: skip
    assert store.create(job) is not None
    return job


def test_the_timer_expires_a_job_received_before_the_records_cutoff(storage_connection, unique, tmp_path: Path):
    store = TableJobStore(TableServiceClient.from_connection_string(storage_connection), prefix=f"t{unique}")
    now = datetime.now(UTC)
    old = finished(store, f"site-{unique}", "IMG_1", now - timedelta(days=32))
    recent = finished(store, f"site-{unique}", "IMG_2", now - timedelta(days=2))
    values = {
        "AzureWebJobsStorage": storage_connection,
        "AzureFunctionsWebHost__hostid": f"rx-{unique}",
        "SITELENS_TABLE_PREFIX": f"t{unique}",
        "SITELENS_WEBHOOK_SWEEP_SCHEDULE": RARELY,
        "SITELENS_RECONCILE_SCHEDULE": RARELY,
        "SITELENS_RECORDS_EXPIRY_SCHEDULE": "*/1 * * * * *",
        "SITELENS_RESULTS_RETENTION_DAYS": "14",
        "SITELENS_RECORDS_RETENTION_DAYS": "30",
    }
    host = HostProcess.prepare_repo_app(tmp_path / "app", values).start()
    try:

        def gone() -> bool:
            try:
                store.get(old.id)
            except NotFound:
                return True
            return False

        wait_for(gone, timeout=60, what=f"job {old.id} expired by the timer")
    finally:
        host.stop()
    assert store.get(recent.id).state is JobState.SUCCEEDED
    assert "expire_records" in host.log_text()
