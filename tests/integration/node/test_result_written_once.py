"""A job's result.json is written once: a later attempt of its task reports the stored bytes, not its own.

Batch runs a task again when an attempt wrote its result and posted its completion but was killed before
it exited; the job may already be SUCCEEDED with the first result's checksum. Found by the chaos run
(docs/reliability.md): the re-run used to overwrite the result under a completed job.
"""

from __future__ import annotations

import secrets

from azure.storage.blob import BlobClient, BlobServiceClient

from batch_tasks.artifacts import RESULTS, overlay_path, result_path
from batch_tasks.node.settings import StorageSettings
from batch_tasks.node.storage import AzureResultStore


def test_a_later_attempt_keeps_the_first_result_and_reports_its_bytes(storage: str) -> None:
    store = AzureResultStore.from_settings(StorageSettings(connection_string=storage))
    job_id = f"j_{secrets.token_hex(8)}"
    first = store.write_results(job_id, b'{"attempt": 1}', b"overlay-1")
    second = store.write_results(job_id, b'{"attempt": 2}', b"overlay-2")

    assert first == (result_path(job_id), b'{"attempt": 1}')
    assert second == (result_path(job_id), b'{"attempt": 1}')  # the stored bytes: their checksum is the job's
    results = BlobServiceClient.from_connection_string(storage).get_container_client(RESULTS)
    assert results.download_blob(result_path(job_id)).readall() == b'{"attempt": 1}'
    assert results.download_blob(overlay_path(job_id)).readall() == b"overlay-1"  # beside its own result


def test_a_create_refused_because_the_result_exists_reports_the_stored_bytes(storage: str, monkeypatch) -> None:
    """Between the existence check and the create: another attempt's create, or this write's own when its reply
    was lost and the SDK sent it again. Either way the create meets 409 BlobAlreadyExists."""
    store = AzureResultStore.from_settings(StorageSettings(connection_string=storage))
    job_id = f"j_{secrets.token_hex(8)}"
    store.write_results(job_id, b'{"attempt": 1}', None)
    monkeypatch.setattr(BlobClient, "exists", lambda self, **kw: False)  # the check ran before the other create
    assert store.write_results(job_id, b'{"attempt": 2}', None) == (result_path(job_id), b'{"attempt": 1}')
