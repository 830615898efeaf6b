"""Contract tests: the real azure-batch 15.x BatchClient against the local Batch service."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import pytest
from azure.batch import models
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

from shared.config import DEV_ACCOUNT, DEV_KEY
from tests.integration.batch_service.conftest import client_for
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def completed(batch, job_id: str, task_id: str, timeout: float = 30.0) -> models.BatchTask:
    def done() -> models.BatchTask | None:
        task = batch.get_task(job_id, task_id)
        return task if task.state == models.BatchTaskState.COMPLETED else None

    return wait_for(done, timeout, f"task {task_id} to complete")


def py(code: str) -> str:
    return f'{sys.executable} -c "{code}"'


def test_wrong_key_is_403_authentication_failed(service):
    with pytest.raises(HttpResponseError) as e:
        client_for(service, key="d3Jvbmcta2V5").list_pools().next()
    assert (e.value.status_code, e.value.error.code) == (403, "AuthenticationFailed")


def test_duplicate_task_id_is_task_exists_case_insensitively(batch, pool_and_job):
    job = pool_and_job()
    batch.create_task(job, models.BatchTaskCreateOptions(id="Photo-1", command_line="true"))
    with pytest.raises(ResourceExistsError) as e:
        batch.create_task(job, models.BatchTaskCreateOptions(id="photo-1", command_line="true"))
    assert e.value.error.code == "TaskExists"
    with pytest.raises(ResourceNotFoundError) as missing:
        batch.get_task("nojob", "x")
    assert missing.value.error.code == "JobNotFound"


def test_task_collection_reports_per_task_results(batch, pool_and_job):
    job = pool_and_job()
    batch.create_task(job, models.BatchTaskCreateOptions(id="a", command_line="true"))
    group = models.BatchTaskGroup(task_values=[models.BatchTaskCreateOptions(id=i, command_line="true") for i in "ab"])
    result = batch.create_task_collection(job, group)
    by_id = {r.task_id: r for r in result.result_values}
    assert by_id["b"].status == models.BatchTaskAddStatus.SUCCESS
    assert by_id["a"].status == models.BatchTaskAddStatus.CLIENT_ERROR and by_id["a"].error.code == "TaskExists"


def test_exit_3_twice_with_one_retry_ends_failed_with_retry_count_1(batch, pool_and_job):
    job = pool_and_job()
    constraints = models.BatchTaskConstraints(max_task_retry_count=1)
    batch.create_task(job, models.BatchTaskCreateOptions(id="t", command_line=py("import sys; sys.exit(3)"),
                                                         constraints=constraints))  # fmt: skip
    task = completed(batch, job, "t")
    info = task.execution_info
    assert (info.result, info.exit_code, info.retry_count) == (models.BatchTaskExecutionResult.FAILURE, 3, 1)
    assert info.failure_info.code == "FailureExitCode" and info.failure_info.category == "usererror"
    counts = batch.get_job_task_counts(job).task_counts
    assert (counts.completed, counts.failed, counts.succeeded) == (1, 1, 0)


def test_environment_and_working_directory(batch, pool_and_job, tmp_path):
    job = pool_and_job()
    out = tmp_path / "env.txt"
    code = (
        f"import os; open(r'{out}', 'w').write("
        "os.environ['AZ_BATCH_TASK_ID'] + ' ' + os.environ['GREETING'] + ' ' + os.getcwd())"
    )
    env = [models.EnvironmentSetting(name="GREETING", value="hello")]
    batch.create_task(job, models.BatchTaskCreateOptions(id="envtask", command_line=py(code), environment_settings=env))
    assert completed(batch, job, "envtask").execution_info.result == models.BatchTaskExecutionResult.SUCCESS
    task_id, greeting, cwd = out.read_text().split(" ")
    assert (task_id, greeting) == ("envtask", "hello")
    assert cwd.endswith("/workitems/job/job-1/envtask/wd")


def test_wall_clock_limit_kills(batch, pool_and_job):
    job = pool_and_job()
    constraints = models.BatchTaskConstraints(max_wall_clock_time=timedelta(seconds=1), max_task_retry_count=3)
    batch.create_task(job, models.BatchTaskCreateOptions(id="slow", command_line="sleep 60", constraints=constraints))
    task = completed(batch, job, "slow", timeout=20)
    assert task.execution_info.failure_info.code == "MaxWallClockTimeExpiry"
    assert task.execution_info.retry_count == 0  # a wall-clock kill is not retried


def test_output_file_reaches_storage_only_on_its_condition(batch, pool_and_job, storage_connection, unique):
    container = f"out-{unique}"
    service = BlobServiceClient.from_connection_string(storage_connection)
    service.create_container(container)
    sas = generate_container_sas(DEV_ACCOUNT, container, account_key=DEV_KEY,
                                 permission=ContainerSasPermissions(write=True, create=True),
                                 expiry=datetime.now(UTC) + timedelta(hours=1))  # fmt: skip
    url = f"{service.get_container_client(container).url}?{sas}"

    def output(pattern: str, path: str, condition: str) -> models.OutputFile:
        destination = models.OutputFileDestination(
            container=models.OutputFileBlobContainerDestination(container_url=url, path=path)
        )
        upload = models.OutputFileUploadConfiguration(upload_condition=condition)
        return models.OutputFile(file_pattern=pattern, destination=destination, upload_options=upload)

    job = pool_and_job()
    outputs = [
        output("result.json", "ok/result.json", "tasksuccess"),
        output("result.json", "bad/result.json", "taskfailure"),
    ]
    code = "open('result.json', 'w').write('{}')"
    batch.create_task(job, models.BatchTaskCreateOptions(id="up", command_line=py(code), output_files=outputs))
    completed(batch, job, "up")
    names = [b.name for b in service.get_container_client(container).list_blobs()]
    assert names == ["ok/result.json"]


def test_evaluate_returns_azures_results_string(batch):
    batch.create_pool(models.BatchPoolCreateOptions(id="auto", vm_size="standard_nc4as_t4_v3", enable_auto_scale=True,
                                                    auto_scale_formula="$TargetDedicatedNodes = 0;",
                                                    auto_scale_evaluation_interval=timedelta(minutes=5)))  # fmt: skip
    run = batch.evaluate_pool_auto_scale(
        "auto", models.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula="x = 1; $TargetDedicatedNodes = x * 2;")
    )
    assert run.results == "$TargetDedicatedNodes=2;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;x=1"
    bad = batch.evaluate_pool_auto_scale(
        "auto",
        models.BatchPoolEvaluateAutoScaleOptions(
            auto_scale_formula="x = $PendingTasks.GetSample(TimeInterval_Minute * 10, 90);"
        ),
    )
    assert bad.error.code == "InsufficientSampleData"
    with pytest.raises(HttpResponseError) as e:
        batch.evaluate_pool_auto_scale("auto", models.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula="x = ("))
    assert (e.value.status_code, e.value.error.code) == (400, "AutoScalingFormulaSyntaxError")


def test_failed_start_task_makes_the_node_unusable(batch, pool_and_job):
    start = models.BatchStartTask(command_line="false", wait_for_success=True)
    pool_and_job(start_task=start)

    def failed() -> bool:
        nodes = list(batch.list_nodes("pool"))
        return bool(nodes) and nodes[0].state == models.BatchNodeState.START_TASK_FAILED

    wait_for(failed, 20, "the node to fail its start task")


def test_unknown_fields_accepted_and_unknown_paths_answer_not_found(batch, pool_and_job, service):
    job = pool_and_job()
    task = models.BatchTaskCreateOptions(id="x", command_line="true")
    task["someFutureField"] = {"a": 1}  # models are dict-like; unknown fields are sent as-is
    batch.create_task(job, task)
    assert batch.get_task(job, "x").get("someFutureField") == {"a": 1}
    with pytest.raises(HttpResponseError) as e:
        client_for(service).get_node("pool", "no-such-node")
    assert e.value.status_code == 404
