"""A job routed to a model the registry does not have ends FAILED `unknown_model` after its first attempt, on the
real parts: the job recorded in Azurite's table and submitted to the local Batch service, the task run as Batch
starts it (its environment names the model) by the real task client against a real node server, whose registry
looks the version up in Azurite's `models` container. Before, the task exited 2 with no message, Batch spent its
retries and the job ended `task_failed` with only the exit code to show for it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from azure.batch import BatchClient

from shared.adapters.azure_batch_submitter import TASK_MODEL
from shared.adapters.azure_photo_store import DERIVED
from shared.jobs import ids
from shared.jobs.models import JobState
from tests.integration.jobs.real_world import RealWorld
from tests.integration.node.conftest import Node, completion_messages, models_dir, node, storage  # noqa: F401 - fixtures

pytestmark = pytest.mark.integration


def test_a_job_for_a_model_never_published_fails_unknown_model_at_its_first_attempt(
    real_world: RealWorld,
    batch_client: BatchClient,
    node: Node,  # noqa: F811 - the imported fixture
    storage: str,  # noqa: F811 - the imported fixture
    tmp_path: Path,
) -> None:
    ghost = f"ghost/9.9.{real_world.prefix}"  # routed, never published (a version of this test's own)
    real_world.ingestion.default_model = ghost
    job = real_world.ingestion.ingest(real_world.upload(1))
    assert job is not None and job.state is JobState.QUEUED and job.batch_job_id
    task = batch_client.get_task(job.batch_job_id, job.id)
    environment = {s.name: s.value or "" for s in task.environment_settings or []}
    assert environment[TASK_MODEL] == ghost
    folder = tmp_path / "task"
    folder.mkdir()
    derived = real_world.blobs.get_blob_client(DERIVED, ids.derived_path(job.id)).download_blob().readall()
    (folder / "input.jpg").write_bytes(derived)

    def attempt() -> dict[str, Any]:
        """One run of the task as Batch starts it; the completion message that run posted."""
        before = len(completion_messages(storage, job.id))
        ran = node.task(job.id, str(folder / "input.jpg"), env={**environment, "AZ_BATCH_TASK_ID": job.id})
        assert ran.returncode == 2, ran.stderr  # the exit Batch has always seen for it
        assert f"task {job.id}: unknown_model: model {ghost} is not in the registry" in ran.stderr
        messages = completion_messages(storage, job.id)
        assert len(messages) == before + 1, messages
        return messages[-1]

    message = attempt()
    assert message["outcome"] == "failed" and message["error"]["code"] == "unknown_model"
    done = real_world.completion.handle(json.dumps(message).encode())
    assert (done.state, done.reason, done.attempt) == (JobState.FAILED, "unknown_model", 1)
    assert f"model {ghost} is not in the registry" in (done.detail or "")

    # Batch still retries exit 2: the retry meets the same failure, and its message changes nothing.
    again = real_world.completion.handle(json.dumps(attempt()).encode())
    stored = real_world.restarted_store().get(job.id)
    for seen in (again, stored):
        assert (seen.state, seen.reason, seen.attempt, seen.detail) == (
            JobState.FAILED, "unknown_model", 1, done.detail)  # fmt: skip
