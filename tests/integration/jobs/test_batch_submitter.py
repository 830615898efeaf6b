"""BatchTaskSubmitter against the local Batch service with the real azure-batch client. Task inputs are
read as the pool's identity, as in Azure: the local service stands in for it with Azurite's credentials."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from azure.batch import BatchClient, models
from azure.core.credentials import AzureNamedKeyCredential
from azure.storage.blob import BlobServiceClient

from emulators.azurite import Azurite, free_port
from emulators.batch_service.identity import NODE_IDENTITY_ID
from emulators.batch_service.launcher import BatchServiceProcess
from shared.adapters.azure_batch_submitter import BatchTaskSubmitter, TaskSpec
from shared.adapters.azure_photo_store import BlobPhotoStore
from shared.errors import Conflict, TransientError
from shared.jobs import ids
from shared.jobs.ports import TaskRequest, TaskState, TaskView
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
DAY = date(2026, 11, 22)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, azurite: Azurite) -> Iterator[BatchServiceProcess]:
    folder = tmp_path_factory.mktemp("batch")
    with BatchServiceProcess.launch(REPO, folder / "data", free_port(), log_file=folder / "batch.log",
                                    time_scale=120.0, boot_delay_s=30.0,
                                    identity_storage=azurite.connection_string) as svc:  # fmt: skip
        yield svc


@pytest.fixture
def client(service: BatchServiceProcess) -> BatchClient:
    return BatchClient(service.endpoint, AzureNamedKeyCredential(service.account_name, service.account_key))


def submitter_for(client: BatchClient, unique: str, command: str, retries: int = 1) -> BatchTaskSubmitter:
    pool = f"pool-{unique}"
    client.create_pool(models.BatchPoolCreateOptions(id=pool, vm_size="standard_nc4as_t4_v3",
                                                     target_dedicated_nodes=1, task_slots_per_node=2))  # fmt: skip
    return BatchTaskSubmitter(client, TaskSpec(pool_id=pool, command=command, environment={"EXTRA": "1"},
                                               max_retries=retries, identity_resource_id=NODE_IDENTITY_ID))  # fmt: skip


@pytest.fixture
def photos(storage_connection: str) -> BlobPhotoStore:
    blobs = BlobServiceClient.from_connection_string(storage_connection)
    store = BlobPhotoStore(blobs, account_key=blobs.credential.account_key, https_only=False)
    store.ensure_containers()
    return store


def batch_job(unique: str, day: date = DAY) -> str:
    """A Batch job of the test's own for `day`, in the per-model shape an earlier release used: the day's own
    (`ids.batch_job_id`) is one for the whole account, which this module's tests share."""
    return f"sitelens-ocr-{unique}-{day:%Y%m%d}"


def request(unique: str, n: int, photos: BlobPhotoStore) -> TaskRequest:
    """A request whose input is a real derived blob on Azurite, downloaded by Batch as the pool's identity."""
    job_id = ids.job_id_for(f"{unique}/{n}")
    photos.put_derived(job_id, b"\xff\xd8\xff jpeg")
    return TaskRequest(job_id, batch_job(unique), "ocr/ppocrv4", photos.derived_url(job_id))


def completed(submitter: BatchTaskSubmitter, req: TaskRequest) -> TaskView:
    def done() -> TaskView | None:
        view = submitter.view(req.batch_job_id, req.job_id)
        return view if view.state is TaskState.COMPLETED else None

    return wait_for(done, 60, f"task {req.job_id} completed")


def test_three_submissions_make_one_task_in_a_batch_job_created_on_demand(client, unique, photos):
    command = f"{sys.executable} -c \"import os,sys; sys.exit(0 if os.path.getsize('input.jpg') == 8 else 1)\""
    submitter = submitter_for(client, unique, command)
    req = request(unique, 1, photos)
    for _ in range(3):
        submitter.submit(req)
    assert [t.id for t in client.list_tasks(req.batch_job_id)] == [req.job_id]
    view = completed(submitter, req)
    assert view.exit_code == 0 and view.failure_code is None  # the input arrived as input.jpg
    task = client.get_task(req.batch_job_id, req.job_id)
    env = {e.name: e.value for e in task.environment_settings or []}
    assert env["SITELENS_JOB_ID"] == req.job_id and env["SITELENS_MODEL"] == "ocr/ppocrv4" and env["EXTRA"] == "1"
    # The task gives up on the node server before Batch's wall clock (10 minutes) ends it without a word.
    assert env["SITELENS_TASK_TIMEOUT_S"] == "540"


def test_a_finished_task_of_an_erased_job_with_the_same_id_is_replaced_not_counted_as_submitted(client, unique, photos):
    """An erased photo sent again the same day gets its old job id back; the old job's finished task, told apart by
    the job's secret, must not stand for the new job's (whose result it never wrote)."""
    submitter = submitter_for(client, unique, f'{sys.executable} -c "pass"')
    old = replace(request(unique, 1, photos), task_token="old-secret")
    submitter.submit(old)
    first = completed(submitter, old)
    new = replace(old, task_token="new-secret")
    submitter.submit(new)
    submitter.submit(new)  # a redelivery of the new job: its own task, not replaced again
    task = client.get_task(new.batch_job_id, new.job_id)
    assert {e.name: e.value for e in task.environment_settings or []}["SITELENS_TASK_TOKEN"] == "new-secret"
    second = completed(submitter, new)
    assert second.exit_code == 0 and second.started_at != first.started_at
    submitter.submit(replace(new, task_token=None))  # a job recorded without a secret: counted as submitted
    assert [t.id for t in client.list_tasks(new.batch_job_id)] == [new.job_id]


def test_the_same_job_again_is_its_task_and_the_same_job_with_another_model_is_a_conflict(client, unique, photos):
    """A day's Batch job holds every model's tasks, so a task id is unique across models for the day: the job's
    task is the one submitted before only when it runs the same model."""
    submitter = submitter_for(client, unique, "true")
    req = replace(request(unique, 5, photos), task_token="the-jobs-secret")
    for _ in range(3):
        submitter.submit(req)  # redeliveries: the job's own task, counted as submitted
    with pytest.raises(Conflict) as caught:
        submitter.submit(replace(req, model="ocr/other"))
    assert "ocr/ppocrv4" in str(caught.value) and "ocr/other" in str(caught.value)
    (task,) = client.list_tasks(req.batch_job_id)
    env = {e.name: e.value for e in task.environment_settings or []}
    assert (task.id, env["SITELENS_MODEL"], env["SITELENS_TASK_TOKEN"]) == (req.job_id, req.model, req.task_token)


def test_the_input_is_read_as_the_pools_identity_with_no_sas(client, unique, photos):
    check = "import sys; sys.exit(0 if open('input.jpg', 'rb').read() == b'\\xff\\xd8\\xff jpeg' else 1)"
    command = f'{sys.executable} -c "{check}"'
    submitter = submitter_for(client, unique, command)
    req = request(unique, 3, photos)
    assert "?" not in req.input_url and "sig=" not in req.input_url  # derived_url signs nothing
    signed = TaskRequest(
        req.job_id,
        req.batch_job_id,
        req.model,
        photos.read_link("derived", ids.derived_path(req.job_id), timedelta(hours=1)),
    )
    submitter.submit(signed)  # even a caller's SAS is not sent along with the identity
    (resource,) = client.get_task(req.batch_job_id, req.job_id).resource_files or []
    assert resource.http_url == req.input_url and "sig=" not in resource.http_url
    assert resource.identity_reference.resource_id == NODE_IDENTITY_ID
    view = completed(submitter, req)
    assert view.exit_code == 0 and view.failure_code is None  # the local service read it as the identity


def test_a_pool_identity_that_cannot_read_the_input_fails_the_task_as_batch_does(client, unique, photos):
    pool = f"pool-{unique}"
    client.create_pool(models.BatchPoolCreateOptions(id=pool, vm_size="standard_nc4as_t4_v3", target_dedicated_nodes=1))
    other = NODE_IDENTITY_ID.replace("id-sitelens-local-node", "id-not-the-pools")
    submitter = BatchTaskSubmitter(client, TaskSpec(pool_id=pool, command="true", identity_resource_id=other))
    req = request(unique, 4, photos)
    submitter.submit(req)
    view = completed(submitter, req)
    assert (view.failure_code, view.exit_code, view.retries) == ("BlobAccessDenied", None, 0)


def test_a_failing_task_shows_batchs_failure_after_its_retries(client, unique, photos):
    submitter = submitter_for(client, unique, f'{sys.executable} -c "import sys; sys.exit(7)"', retries=2)
    req = request(unique, 2, photos)
    submitter.submit(req)
    view = completed(submitter, req)
    assert (view.exit_code, view.failure_code, view.retries) == (7, "FailureExitCode", 2)


def test_a_missing_task_and_old_batch_jobs(client, unique):
    submitter = submitter_for(client, unique, "true")
    assert submitter.view(batch_job(unique), "j_nothing").state is TaskState.MISSING
    old_day = date(2026, 11, 1)
    old = [ids.batch_job_id(old_day), batch_job(unique, old_day)]  # today's shape, and an earlier release's
    for job_id in old:
        pool = models.BatchPoolInfo(pool_id=submitter.spec.pool_id)
        client.create_job(models.BatchJobCreateOptions(id=job_id, pool_info=pool))
    assert submitter.finish_jobs_before(DAY) >= 2

    def ending() -> bool:
        return all(client.get_job(job_id).state in ("terminating", "completed") for job_id in old)

    wait_for(ending, 30, "old days terminated")


def test_an_unreachable_batch_service_is_transient(unique):
    dead = BatchClient(f"http://127.0.0.1:{free_port()}", AzureNamedKeyCredential("a", "a2V5"))
    submitter = BatchTaskSubmitter(dead, TaskSpec(pool_id="p", command="true"))
    with pytest.raises(TransientError):
        submitter.submit(TaskRequest("j_x", "sitelens-x-20261122", "ocr/ppocrv4", "http://127.0.0.1:1/x"))
