"""A delivery after a lost submission, on the real parts (tests/integration/jobs/real_world.py): the job, its
quality already recorded and read back from the jobs table (JSON, so its flags a list), is written once, for
QUEUED, and not once more for a quality that has not changed."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest
from azure.batch import BatchClient
from azure.core.credentials import AzureNamedKeyCredential
from azure.data.tables import TableServiceClient

from emulators.azurite import free_port
from shared.adapters.azure_batch_submitter import BatchTaskSubmitter
from shared.adapters.azure_job_store import TableJobStore
from shared.errors import TransientError
from shared.jobs import ids
from shared.jobs.models import JobState

pytestmark = pytest.mark.integration


def test_a_delivery_after_a_lost_submission_writes_the_job_once(real_world, storage_connection):
    world = real_world
    name = world.upload(1)
    job_id = ids.job_id_for(name)
    dead = BatchClient(f"http://127.0.0.1:{free_port()}", AzureNamedKeyCredential("a", "a2V5"), retry_total=0)
    world.ingestion.submitter = BatchTaskSubmitter(dead, world.submitter.spec)  # Batch out of reach
    with pytest.raises(TransientError):
        world.ingestion.ingest(name)
    received = world.store.get(job_id)
    assert received.state is JobState.RECEIVED and received.quality and received.content_sha256

    writes: list[str] = []

    def job_row_written(request: Any) -> None:
        http = request.http_request
        if http.method in ("PUT", "PATCH", "MERGE") and f"PartitionKey='{job_id}',RowKey='job'" in unquote(http.url):
            writes.append(http.method)

    tables = TableServiceClient.from_connection_string(storage_connection, raw_request_hook=job_row_written)
    world.ingestion.store = TableJobStore(tables, prefix=world.prefix)  # the same table, its requests seen
    world.ingestion.submitter = world.submitter  # Batch is back; the host redelivers the blob
    queued = world.ingestion.ingest(name)
    assert queued is not None and queued.state is JobState.QUEUED and queued.quality == received.quality
    assert writes == ["PUT"]  # QUEUED, with where the task went; nothing else
