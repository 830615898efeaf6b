"""Contract tests: the real azure-batch 15.x BatchClient against the local Batch service."""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from azure.batch import BatchClient, models
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

from emulators.batch_service.processes import alive
from shared.config import DEV_ACCOUNT, DEV_KEY
from tests.integration.batch_service.helpers import client_for, completed, lines, py
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def test_a_wrong_key_or_a_stale_date_is_403_authentication_failed(service):
    with pytest.raises(HttpResponseError) as wrong:
        client_for(service, key="d3Jvbmcta2V5").list_pools().next()
    assert (wrong.value.status_code, wrong.value.error.code) == (403, "AuthenticationFailed")
    with pytest.raises(HttpResponseError) as stale:  # a replayed request is too old
        client_for(service).get_pool("any", ocp_date=datetime.now(UTC) - timedelta(minutes=20))
    assert (stale.value.status_code, stale.value.error.code) == (403, "AuthenticationFailed")


def test_a_duplicate_task_id_is_task_exists_whatever_its_case(batch, pool_and_job):
    n = pool_and_job(nodes=0)
    job = n.job
    batch.create_task(job, models.BatchTaskCreateOptions(id="Photo-1", command_line="true"))
    with pytest.raises(ResourceExistsError) as e:
        batch.create_task(job, models.BatchTaskCreateOptions(id="photo-1", command_line="true"))
    assert (e.value.status_code, e.value.error.code) == (409, "TaskExists")
    assert e.value.error.message.startswith("The specified task already exists.")
    assert batch.get_task(job, "PHOTO-1").id == "Photo-1"  # case-insensitive, case-preserving


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda b, n: b.get_task("nojob", "x"), "JobNotFound"),
        (lambda b, n: b.get_task(n.job, "nothere"), "TaskNotFound"),
        (lambda b, n: b.get_pool("nopool"), "PoolNotFound"),
        (lambda b, n: b.get_node(n.pool, "tvmps_0_d"), "NodeNotFound"),
    ],
)
def test_missing_resources_are_404_with_their_codes(batch, pool_and_job, call, code):
    n = pool_and_job(nodes=0)
    with pytest.raises(ResourceNotFoundError) as e:
        call(batch, n)
    assert (e.value.status_code, e.value.error.code) == (404, code)


def test_duplicate_job_and_pool_ids_are_409(batch, pool_and_job):
    n = pool_and_job(nodes=0)
    with pytest.raises(ResourceExistsError) as job:
        batch.create_job(models.BatchJobCreateOptions(id=n.job.upper(), pool_info=models.BatchPoolInfo(pool_id=n.pool)))
    assert job.value.error.code == "JobExists"
    with pytest.raises(ResourceExistsError) as pool:
        batch.create_pool(models.BatchPoolCreateOptions(id=n.pool, vm_size="x", target_dedicated_nodes=0))
    assert pool.value.error.code == "PoolExists"


def test_a_task_collection_reports_each_task(batch, pool_and_job):
    n = pool_and_job(nodes=0)
    job = n.job
    batch.create_task(job, models.BatchTaskCreateOptions(id="a", command_line="true"))
    group = models.BatchTaskGroup(task_values=[models.BatchTaskCreateOptions(id=i, command_line="true") for i in "ab"])
    by_id = {r.task_id: r for r in batch.create_task_collection(job, group).result_values}
    assert by_id["b"].status == models.BatchTaskAddStatus.SUCCESS and by_id["b"].etag
    assert by_id["a"].status == models.BatchTaskAddStatus.CLIENT_ERROR and by_id["a"].error.code == "TaskExists"
    too_many = models.BatchTaskGroup(
        task_values=[models.BatchTaskCreateOptions(id=f"x{i}", command_line="true") for i in range(101)]
    )
    with pytest.raises(HttpResponseError) as e:
        batch.create_task_collection(job, too_many)
    assert e.value.status_code == 400
    # the SDK's bulk helper chunks by 100 and reports TaskExists as success
    result = batch.create_tasks(
        job, [models.BatchTaskCreateOptions(id=f"t{i}", command_line="true") for i in range(150)]
    )
    assert len(result.result_values) == 150
    assert batch.get_job_task_counts(job).task_counts.active == 152


def test_a_task_that_exits_3_twice_with_one_retry_ends_failed_with_retry_count_1(batch, pool_and_job, tmp_path):
    n = pool_and_job()
    job = n.job
    attempts = tmp_path / "attempts.txt"
    told = "os.environ.get('AZ_BATCH_TASK_RETRY_COUNT', '-')"
    code = f"import os, sys; open(r'{attempts}', 'a').write({told} + ' '); sys.exit(3)"
    constraints = models.BatchTaskConstraints(max_task_retry_count=1)
    batch.create_task(job, models.BatchTaskCreateOptions(id="t", command_line=py(code), constraints=constraints))
    task = completed(batch, job, "t")
    info = task.execution_info
    assert task.state == models.BatchTaskState.COMPLETED
    assert (info.result, info.exit_code, info.retry_count) == (models.BatchTaskExecutionResult.FAILURE, 3, 1)
    assert info.failure_info.category == models.BatchErrorSourceCategory.USER_ERROR
    assert info.failure_info.code == "FailureExitCode"
    assert info.start_time is not None and info.end_time is not None and info.start_time <= info.end_time
    assert info.last_retry_time == info.start_time
    assert lines(attempts) == ["-", "-"]  # two runs, neither told which it is: Azure sets no retry variable
    counts = batch.get_job_task_counts(job).task_counts
    assert (counts.completed, counts.failed, counts.succeeded) == (1, 1, 0)


def test_an_output_file_reaches_storage_only_on_its_condition(batch, pool_and_job, storage_connection, unique):
    blobs = BlobServiceClient.from_connection_string(storage_connection)
    container = blobs.create_container(f"out-{unique}")
    sas = generate_container_sas(
        DEV_ACCOUNT,
        container.container_name,
        account_key=DEV_KEY,
        permission=ContainerSasPermissions(write=True, create=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )

    def output(pattern: str, path: str, condition: str, content_type: str | None = None) -> models.OutputFile:
        headers = [models.OutputFileUploadHeader(name="Content-Type", value=content_type)] if content_type else None
        destination = models.OutputFileBlobContainerDestination(
            container_url=f"{container.url}?{sas}", path=path, upload_headers=headers
        )
        return models.OutputFile(
            file_pattern=pattern,
            destination=models.OutputFileDestination(container=destination),
            upload_options=models.OutputFileUploadConfiguration(upload_condition=condition),
        )

    def outputs(task_id: str) -> list[models.OutputFile]:
        return [
            output("result.json", f"{task_id}/on-success.json", "tasksuccess", "application/json"),
            output("result.json", f"{task_id}/on-failure.json", "taskfailure"),
            output("../std*.txt", f"{task_id}/logs", "taskcompletion"),
        ]

    n = pool_and_job(slots=2)
    job = n.job
    for task_id, exit_code in (("good", 0), ("bad", 4)):
        code = f"import sys; open('result.json', 'w').write('{{}}'); print('out'); sys.exit({exit_code})"
        batch.create_task(
            job, models.BatchTaskCreateOptions(id=task_id, command_line=py(code), output_files=outputs(task_id))
        )
    assert completed(batch, job, "good").execution_info.result == models.BatchTaskExecutionResult.SUCCESS
    assert completed(batch, job, "bad").execution_info.exit_code == 4
    names = sorted(b.name for b in container.list_blobs())
    assert names == [
        "bad/logs/stderr.txt",
        "bad/logs/stdout.txt",
        "bad/on-failure.json",
        "good/logs/stderr.txt",
        "good/logs/stdout.txt",
        "good/on-success.json",
    ]
    assert container.get_blob_client("good/on-success.json").get_blob_properties().content_settings.content_type == (
        "application/json"
    )
    assert container.download_blob("good/logs/stdout.txt").readall() == b"out\n"


def test_an_upload_that_fails_fails_the_task_without_retries(batch, pool_and_job):
    n = pool_and_job()
    job = n.job
    nowhere = models.OutputFileBlobContainerDestination(container_url="http://127.0.0.1:9/devstoreaccount1/c?sig=x")
    out = models.OutputFile(
        file_pattern="*.txt",
        destination=models.OutputFileDestination(container=nowhere),
        upload_options=models.OutputFileUploadConfiguration(upload_condition="taskcompletion"),
    )
    constraints = models.BatchTaskConstraints(max_task_retry_count=2)
    code = "open('a.txt', 'w').write('a')"
    batch.create_task(
        job, models.BatchTaskCreateOptions(id="up", command_line=py(code), output_files=[out], constraints=constraints)
    )
    info = completed(batch, job, "up").execution_info
    assert (info.result, info.exit_code, info.retry_count) == (models.BatchTaskExecutionResult.FAILURE, 0, 0)
    assert info.failure_info.code == "FileUploadMiscError"


def test_a_wall_clock_limit_kills_the_process(batch, pool_and_job, tmp_path):
    n = pool_and_job()
    job = n.job
    pid_file = tmp_path / "pid"
    code = f"import os, time; open(r'{pid_file}', 'w').write(str(os.getpid())); time.sleep(60)"
    constraints = models.BatchTaskConstraints(max_wall_clock_time=timedelta(seconds=1), max_task_retry_count=3)
    batch.create_task(job, models.BatchTaskCreateOptions(id="slow", command_line=py(code), constraints=constraints))
    task = completed(batch, job, "slow", timeout=20)
    info = task.execution_info
    assert info.result == models.BatchTaskExecutionResult.FAILURE
    assert info.failure_info.code == "MaxWallClockTimeExpiry"
    assert info.retry_count == 0  # a wall-clock kill is not retried
    assert info.start_time is not None and info.end_time is not None
    assert not alive(int(pid_file.read_text()))
    assert task.constraints.max_wall_clock_time == timedelta(seconds=1)


def test_evaluate_returns_azures_results_string(batch, unique):
    auto = f"auto-{unique}"
    batch.create_pool(
        models.BatchPoolCreateOptions(
            id=auto,
            vm_size="standard_nc4as_t4_v3",
            enable_auto_scale=True,
            auto_scale_formula="$TargetDedicatedNodes = 0;",
            auto_scale_evaluation_interval=timedelta(minutes=5),
        )
    )
    run = batch.evaluate_pool_auto_scale(
        auto, models.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula="x = 1; $TargetDedicatedNodes = x * 2;")
    )
    assert run.results == "$TargetDedicatedNodes=2;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;x=1"
    assert run.error is None
    short = "x = $PendingTasks.GetSample(TimeInterval_Minute * 10, 90);"
    bad = batch.evaluate_pool_auto_scale(auto, models.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula=short))
    assert bad.error.code == "InsufficientSampleData"
    assert bad.error.error_values[0].name == "Message"
    with pytest.raises(HttpResponseError) as e:
        batch.evaluate_pool_auto_scale(auto, models.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula="x = ("))
    assert (e.value.status_code, e.value.error.code) == (400, "AutoScalingFormulaSyntaxError")
    assert batch.get_pool(auto).auto_scale_evaluation_interval == timedelta(minutes=5)


def test_unknown_fields_are_kept_and_unsupported_operations_are_invalid_uri(batch, pool_and_job, service):
    n = pool_and_job(nodes=0)
    job = n.job
    task = models.BatchTaskCreateOptions(id="x", command_line="true")
    task["someFutureField"] = {"a": 1}  # models are dict-like; unknown fields are sent as-is
    batch.create_task(job, task)
    assert batch.get_task(job, "x").get("someFutureField") == {"a": 1}
    for unsupported in (
        lambda: batch.update_pool(n.pool, models.BatchPoolUpdateOptions(metadata=[])),
        lambda: list(batch.list_applications()),
        lambda: batch.begin_disable_job(job, models.BatchJobDisableOptions(disable_tasks="requeue")).result(),
    ):
        with pytest.raises(HttpResponseError) as e:
            unsupported()
        assert (e.value.status_code, e.value.error.code) == (400, "InvalidUri")


def test_any_api_version_is_accepted_but_one_is_required(service, batch):
    credential = AzureNamedKeyCredential(service.account_name, service.account_key)
    older = BatchClient(service.endpoint, credential, retry_total=0, api_version="2024-07-01.20.0")
    assert [p.id for p in older.list_pools()] == [p.id for p in batch.list_pools()]
    with pytest.raises(HttpResponseError) as missing:
        batch.send_request(HttpRequest("GET", "/pools"))
    assert (missing.value.status_code, missing.value.error.code) == (400, "MissingRequiredQueryParameter")
    with pytest.raises(urllib.error.HTTPError) as e:  # an unsigned request is refused before anything else
        urllib.request.urlopen(f"{service.endpoint}/pools?api-version=2025-06-01", timeout=5)
    e.value.close()
    assert e.value.code == 403


def test_lists_page_with_next_links_filter_and_select(batch, pool_and_job):
    n = pool_and_job(nodes=0)
    job = n.job
    group = models.BatchTaskGroup(
        task_values=[models.BatchTaskCreateOptions(id=f"t{i:02d}", command_line="true") for i in range(25)]
    )
    batch.create_task_collection(job, group)
    batch.terminate_task(job, "t07")
    pages = list(batch.list_tasks(job, max_results=10, select=["id", "state"]).by_page())
    assert [len(list(p)) for p in pages] == [10, 10, 5]
    listed = list(batch.list_tasks(job, max_results=10, select=["id", "state"]))
    assert sorted(t.id for t in listed) == [f"t{i:02d}" for i in range(25)]
    assert all(t.command_line is None and t.state is not None for t in listed)
    failed = batch.list_tasks(job, filter="state eq 'completed' and executionInfo/result eq 'failure'")
    assert [t.id for t in failed] == ["t07"]
    assert len(list(batch.list_tasks(job, filter="state eq 'active'"))) == 24
    assert [t.id for t in batch.list_tasks(job, filter="startswith(id, 't2')")] == [f"t2{i}" for i in range(5)]
    with pytest.raises(HttpResponseError) as e:
        list(batch.list_tasks(job, filter="state eq"))
    assert (e.value.status_code, e.value.error.code) == (400, "InvalidQueryParameterValue")


def test_resources_carry_etag_last_modified_and_lower_case_enums(batch, pool_and_job, service):
    n = pool_and_job(nodes=0)
    job = n.job
    batch.create_task(job, models.BatchTaskCreateOptions(id="t", command_line="true"))
    task = batch.get_task(job, "t")
    assert task.etag.startswith("0x") and task.last_modified.tzinfo is not None
    assert task.state == models.BatchTaskState.ACTIVE and task.state == "active"
    assert task.constraints.retention_time == timedelta(days=7)
    assert batch.get_job(job).all_tasks_complete_mode == models.BatchAllTasksCompleteMode.NO_ACTION
    raw = batch.send_request(HttpRequest("GET", f"/jobs/{job}/tasks/t", params={"api-version": "2025-06-01"}))
    assert raw.headers["ETag"] == task.etag and raw.headers["Last-Modified"].endswith(" GMT")
    assert raw.headers["Content-Type"] == "application/json;odata=minimalmetadata"
    assert raw.json()["odata.metadata"].endswith("#tasks/@Element")


def test_a_failed_start_task_makes_the_node_unusable(batch, pool_and_job):
    start = models.BatchStartTask(
        command_line=py("import sys; sys.exit(2)"), wait_for_success=True, max_task_retry_count=1
    )
    n = pool_and_job(start_task=start)

    def failed() -> models.BatchNode | None:
        nodes = list(batch.list_nodes(n.pool))
        return nodes[0] if nodes and nodes[0].state == models.BatchNodeState.START_TASK_FAILED else None

    node = wait_for(failed, 20, "the node to fail its start task")
    info = node.start_task_info
    assert (info.exit_code, info.retry_count, info.result) == (2, 1, models.BatchTaskExecutionResult.FAILURE)
    counts = {c.pool_id: c for c in batch.list_pool_node_counts()}
    assert counts[n.pool].dedicated.start_task_failed == 1
