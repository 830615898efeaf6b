"""Only the job's own task can end it, on the real parts: the token is recorded in the Azurite table, handed to
the task by the local Batch service, sent by the real task client to a real node server, and echoed in the
completion message that server posts to Azurite's `completions` queue. A message forged with the pool's
rights (a result blob in `results/`, a message on the queue) is dropped."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from azure.batch import BatchClient
from azure.storage.queue import QueueClient

from shared.adapters.azure_batch_submitter import TASK_TOKEN
from shared.adapters.azure_photo_store import DERIVED, RESULTS
from shared.jobs import ids
from shared.jobs.models import JobState
from tests.integration.jobs.real_world import RealWorld
from tests.integration.node.conftest import Node, completion_messages, models_dir, node, storage  # noqa: F401 - fixtures

pytestmark = pytest.mark.integration
SERVED = "ocr/ppocrv4"  # the model the node server holds warm


def test_a_real_tasks_completion_carries_its_jobs_token_and_ends_the_job(
    real_world: RealWorld,
    batch_client: BatchClient,
    node: Node,  # noqa: F811 - the imported fixture
    storage: str,  # noqa: F811 - the imported fixture
    tmp_path: Path,
) -> None:
    real_world.ingestion.default_model = SERVED
    job = real_world.ingestion.ingest(real_world.upload(1))
    assert job is not None and job.state is JobState.QUEUED and job.batch_job_id
    recorded = real_world.restarted_store().get(job.id).task_token
    assert recorded
    task = batch_client.get_task(job.batch_job_id, job.id)
    environment = {s.name: s.value or "" for s in task.environment_settings or []}
    assert environment[TASK_TOKEN] == recorded
    # The task as Batch starts it: its own environment, and the input its resource file downloads.
    folder = tmp_path / "task"
    folder.mkdir()
    derived = real_world.blobs.get_blob_client(DERIVED, ids.derived_path(job.id)).download_blob().readall()
    (folder / "input.jpg").write_bytes(derived)
    ran = node.task(job.id, str(folder / "input.jpg"), env={**environment, "AZ_BATCH_TASK_ID": job.id})
    assert ran.returncode == 0, ran.stderr
    assert recorded not in ran.stdout + ran.stderr
    [message] = completion_messages(storage, job.id)
    assert message["task_token"] == recorded
    done = real_world.completion.handle(json.dumps(message).encode())
    assert done.state is JobState.SUCCEEDED
    assert real_world.restarted_store().get(job.id).state is JobState.SUCCEEDED


def test_a_message_forged_with_the_pools_rights_is_dropped(real_world: RealWorld, storage_connection: str) -> None:
    job = real_world.ingestion.ingest(real_world.upload(2))
    assert job is not None and job.state is JobState.QUEUED
    fake = json.dumps({"job_id": job.id, "result": {"lines": [{"text": "ALL CLEAR"}], "width": 640}}).encode()
    real_world.blobs.get_blob_client(RESULTS, ids.result_path(job.id)).upload_blob(fake, overwrite=True)
    success = {"job_id": job.id, "outcome": "succeeded", "result_path": ids.result_path(job.id),
               "checksum": "sha256:" + hashlib.sha256(fake).hexdigest()}  # fmt: skip
    failure = {"job_id": job.id, "outcome": "failed", "error": {"code": "bad_input", "message": "forged"}}
    forgeries = [success, failure, success | {"task_token": "guessed"}, failure | {"task_token": "guessed"}]
    queue = QueueClient.from_connection_string(storage_connection, f"forged-{job.id[2:12]}")
    queue.create_queue()
    for forged in forgeries:  # through a real queue, as the trigger hands the body over
        queue.send_message(json.dumps(forged))
    received = list(queue.receive_messages(max_messages=len(forgeries)))
    assert len(received) == len(forgeries)
    for message in received:
        assert real_world.completion.handle(message.content.encode()).state is JobState.QUEUED
    stored = real_world.restarted_store().get(job.id)
    assert (stored.state, stored.summary, stored.result_path, stored.etag) == (JobState.QUEUED, {}, None, job.etag)
