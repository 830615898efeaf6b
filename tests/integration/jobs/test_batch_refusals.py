"""A closed Batch job and a job given up, against the local Batch service with the real azure-batch client.

Ingestion and the reconciler run over in-memory stores (tests/unit/jobs/fakes.py) with the real
BatchTaskSubmitter. Pools have no nodes, so a submitted task waits in the queue, as it does through an
outage; each test routes photos to a model of its own, so its Batch jobs are its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.batch import BatchClient, models
from azure.batch.models._models import BatchJobTerminateOptions  # 15.x does not export it publicly
from azure.core.credentials import AzureNamedKeyCredential

from emulators.azurite import free_port
from emulators.batch_service.launcher import BatchServiceProcess
from shared.adapters.azure_batch_submitter import BatchTaskSubmitter, TaskSpec
from shared.jobs.models import JobState
from sitelens.local_pool import POOL_ID, LocalPool
from tests.unit.infra import bicep
from tests.unit.jobs.test_pipeline import World

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BatchServiceProcess]:
    folder = tmp_path_factory.mktemp("batch")
    with BatchServiceProcess.launch(REPO, folder / "data", free_port(), log_file=folder / "batch.log") as svc:
        yield svc


@pytest.fixture
def client(service: BatchServiceProcess) -> BatchClient:
    return BatchClient(service.endpoint, AzureNamedKeyCredential(service.account_name, service.account_key))


@pytest.fixture
def world(client: BatchClient, unique: str) -> World:
    """The pipeline of the unit tests, submitting to the local Batch service: a pool without nodes."""
    pool = f"pool-{unique}"
    client.create_pool(models.BatchPoolCreateOptions(id=pool, vm_size="standard_nc4as_t4_v3", target_dedicated_nodes=0))
    world = World()
    submitter = BatchTaskSubmitter(client, TaskSpec(pool_id=pool, command="true"))
    world.ingestion.submitter = world.reconciler.submitter = submitter
    world.ingestion.default_model = f"ocr/{unique}"
    return world


def test_a_photo_submitted_to_a_terminated_batch_job_fails_batch_refused_at_once(client, world):
    first = world.ingestion.ingest(world.upload(1))
    assert first.state is JobState.QUEUED
    client.begin_terminate_job(first.batch_job_id, BatchJobTerminateOptions(termination_reason="closed"),
                               polling_interval=0.1).result()  # fmt: skip
    job = world.ingestion.ingest(world.upload(2))  # the same day's Batch job: it takes no more tasks
    assert job.state is JobState.FAILED and job.reason == "batch_refused" and "JobCompleted" in job.detail
    assert world.store.open_ids() == [first.id]  # the refused job is done with; the reconciler has nothing to repeat
    assert [t.id for t in client.list_tasks(first.batch_job_id)] == [first.id]


def test_a_job_given_up_has_its_waiting_task_cancelled(client, world):
    job = world.ingestion.ingest(world.upload(1))
    assert client.get_task(job.batch_job_id, job.id).state == models.BatchTaskState.ACTIVE
    assert client.get_job_task_counts(job.batch_job_id).task_counts.active == 1
    world.clock.advance(25 * 3600)  # the pool never ran it
    sweep = world.reconciler.run()
    assert world.store.get(job.id).reason == "timed_out" and sweep.uncancelled == 0
    task = client.get_task(job.batch_job_id, job.id)
    assert task.state == models.BatchTaskState.COMPLETED  # no longer pending: it holds no node up
    counts = client.get_job_task_counts(job.batch_job_id).task_counts
    assert (counts.active, counts.running) == (0, 0)


def test_cancel_finds_an_ended_or_missing_task_done(client, world):
    job = world.ingestion.ingest(world.upload(1))
    submitter = world.reconciler.submitter
    submitter.cancel(job.batch_job_id, job.id)
    submitter.cancel(job.batch_job_id, job.id)  # TaskCompleted: already ended
    submitter.cancel(job.batch_job_id, "j_never_submitted")  # TaskNotFound
    submitter.cancel("sitelens-nothing-20261122", job.id)  # JobNotFound
    assert client.get_task(job.batch_job_id, job.id).state == models.BatchTaskState.COMPLETED


def test_the_local_pool_schedules_tasks_as_the_deployed_pool_does(client, service):
    LocalPool(service.endpoint, service.account_name, service.account_key, REPO).ensure("UseDevelopmentStorage=true")
    pool = client.get_pool(POOL_ID)
    deployed = bicep.resource(bicep.module("batch"), "pool")["properties"]["taskSchedulingPolicy"]["nodeFillType"]
    assert pool.task_scheduling_policy.node_fill_type == deployed.lower() == "pack"
