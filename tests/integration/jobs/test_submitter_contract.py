"""BatchTaskSubmitter on the local Batch service, then MemoryBatch: the fake the unit tests run on must answer a
submission as the real submitter does. True only when the call created the task (what `sitelens.tasks.submitted`
counts); the job's own task again counts as submitted; an erased job's task under the same id (another secret)
is replaced; the job's own task with another model is a Conflict, since one Batch job a day holds every model's
tasks and the id cannot stand for both."""

from __future__ import annotations

from dataclasses import replace

import pytest
from azure.batch import models

from shared.adapters.azure_batch_submitter import BatchTaskSubmitter, TaskSpec
from shared.errors import Conflict
from shared.jobs.ports import TaskRequest, TaskState, TaskSubmitter
from tests.unit.jobs.fakes import MemoryBatch

pytestmark = pytest.mark.integration


@pytest.fixture(params=["batch", "memory"])
def either_submitter(request: pytest.FixtureRequest, unique: str) -> TaskSubmitter:
    """The real submitter on the test's own Batch service (a pool without nodes: tasks wait), then the fake."""
    if request.param == "memory":
        return MemoryBatch()
    client = request.getfixturevalue("batch_client")
    pool = f"pool-{unique}"
    client.create_pool(models.BatchPoolCreateOptions(id=pool, vm_size="standard_nc4as_t4_v3",
                                                     target_dedicated_nodes=0))  # fmt: skip
    return BatchTaskSubmitter(client, TaskSpec(pool_id=pool, command="true"))


def test_a_task_is_created_once_kept_for_its_own_job_replaced_for_an_erased_one_and_refused_for_another_model(
    either_submitter: TaskSubmitter, unique: str
):
    job_id = f"j_{unique}"
    req = TaskRequest(job_id, "sitelens-20261122", "ocr/ppocrv4", f"http://127.0.0.1:1/derived/{job_id}/input.jpg",
                      task_token="the-jobs-secret")  # fmt: skip
    assert either_submitter.submit(req) is True
    assert [either_submitter.submit(req) for _ in range(2)] == [False, False]  # redeliveries: the job's own task
    with pytest.raises(Conflict):
        either_submitter.submit(replace(req, model="ocr/other"))
    assert either_submitter.submit(replace(req, task_token=None)) is False  # recorded without a secret: its task
    assert either_submitter.submit(replace(req, task_token="a-new-jobs-secret")) is True  # the erased job's went
    assert either_submitter.view(req.batch_job_id, job_id).state is TaskState.ACTIVE
