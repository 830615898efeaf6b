"""Virtual nodes (folders, environment, start task, removal) and resource files, through the real client."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta

import pytest
from azure.batch import models
from azure.storage.blob import (
    BlobSasPermissions,
    BlobServiceClient,
    ContainerSasPermissions,
    generate_blob_sas,
    generate_container_sas,
)

from emulators.batch_service.processes import alive
from shared.config import DEV_ACCOUNT, DEV_KEY
from tests.integration.batch_service.helpers import completed, py
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
GATED = "import os, time\nwhile not os.path.exists(r'{gate}'): time.sleep(0.02)"


def test_resource_files_from_an_http_url_and_a_container_sas(batch, pool_and_job, storage_connection, unique, tmp_path):
    service = BlobServiceClient.from_connection_string(storage_connection)
    container = service.create_container(f"in-{unique}")
    container.upload_blob("photo.jpg", b"jpeg-bytes")
    container.upload_blob("models/ocr/det.onnx", b"det")
    container.upload_blob("models/ocr/rec.onnx", b"rec")
    expiry = datetime.now(UTC) + timedelta(hours=1)
    blob_sas = generate_blob_sas(
        DEV_ACCOUNT,
        container.container_name,
        "photo.jpg",
        account_key=DEV_KEY,
        permission=BlobSasPermissions(read=True),
        expiry=expiry,
    )
    container_sas = generate_container_sas(
        DEV_ACCOUNT,
        container.container_name,
        account_key=DEV_KEY,
        permission=ContainerSasPermissions(read=True, list=True),
        expiry=expiry,
    )
    resources = [
        models.ResourceFile(
            http_url=f"{container.url}/photo.jpg?{blob_sas}", file_path="in/photo.jpg", file_mode="0640"
        ),
        models.ResourceFile(
            storage_container_url=f"{container.url}?{container_sas}", blob_prefix="models/", file_path="m"
        ),
    ]
    out = tmp_path / "seen.json"
    code = (
        f"import json, os; files = sorted(os.path.join(d, f) for d, _, fs in os.walk('.') for f in fs); "
        f"json.dump([files, open('in/photo.jpg').read(), oct(os.stat('in/photo.jpg').st_mode & 0o777)], "
        f"open(r'{out}', 'w'))"
    )
    n = pool_and_job()
    job = n.job
    batch.create_task(job, models.BatchTaskCreateOptions(id="files", command_line=py(code), resource_files=resources))
    assert completed(batch, job, "files").execution_info.result == models.BatchTaskExecutionResult.SUCCESS
    files, photo, mode = json.loads(out.read_text())
    assert files == ["./in/photo.jpg", "./m/models/ocr/det.onnx", "./m/models/ocr/rec.onnx"]
    assert (photo, mode) == ("jpeg-bytes", "0o640")


@pytest.mark.parametrize(
    ("url", "code", "category"),
    [
        ("{container}/missing.jpg?{sas}", "BlobNotFound", models.BatchErrorSourceCategory.USER_ERROR),
        ("http://127.0.0.1:9/nothing", "BlobDownloadMiscError", models.BatchErrorSourceCategory.SERVER_ERROR),
    ],
)
def test_a_resource_file_that_cannot_be_fetched_fails_the_task_without_retries(
    batch, pool_and_job, storage_connection, unique, *, url, code, category
):
    container = BlobServiceClient.from_connection_string(storage_connection).create_container(f"in-{unique}")
    sas = generate_container_sas(
        DEV_ACCOUNT,
        container.container_name,
        account_key=DEV_KEY,
        permission=ContainerSasPermissions(read=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    n = pool_and_job()
    job = n.job
    resource = models.ResourceFile(http_url=url.format(container=container.url, sas=sas), file_path="x")
    batch.create_task(
        job,
        models.BatchTaskCreateOptions(
            id="nofile",
            command_line="true",
            resource_files=[resource],
            constraints=models.BatchTaskConstraints(max_task_retry_count=3),
        ),
    )
    info = completed(batch, job, "nofile").execution_info
    assert (info.failure_info.code, info.failure_info.category, info.retry_count) == (code, category, 0)
    assert info.exit_code is None and info.result == models.BatchTaskExecutionResult.FAILURE


def test_the_wall_clock_counts_from_the_start_so_a_download_that_outlasts_it_ends_the_task(batch, pool_and_job,
                                                                                            tmp_path):  # fmt: skip
    ran = tmp_path / "ran"
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts connections, never answers: a stuck download
        resource = models.ResourceFile(http_url=f"http://127.0.0.1:{silent.getsockname()[1]}/photo.jpg", file_path="x")
        n = pool_and_job()
        constraints = models.BatchTaskConstraints(max_wall_clock_time=timedelta(seconds=1), max_task_retry_count=2)
        batch.create_task(n.job, models.BatchTaskCreateOptions(
            id="stuck", command_line=py(f"open(r'{ran}', 'w')"), resource_files=[resource], constraints=constraints,
        ))  # fmt: skip
        info = completed(batch, n.job, "stuck", timeout=20).execution_info  # the download alone would take 60 s
    assert (info.result, info.failure_info.code) == (models.BatchTaskExecutionResult.FAILURE, "MaxWallClockTimeExpiry")
    assert (info.retry_count, info.exit_code) == (0, None)
    assert not ran.exists()  # the command never ran


def test_a_program_that_does_not_exist_is_a_pre_processing_error(batch, pool_and_job):
    n = pool_and_job()
    job = n.job
    batch.create_task(job, models.BatchTaskCreateOptions(id="typo", command_line="/no/such/program --flag"))
    info = completed(batch, job, "typo").execution_info
    assert (info.failure_info.code, info.exit_code, info.retry_count) == ("CommandProgramNotFound", None, 0)


def test_a_task_runs_in_its_folder_with_batchs_environment(batch, pool_and_job, tmp_path):
    n = pool_and_job(common_environment_settings=[models.EnvironmentSetting(name="SITE", value="north")])
    job_id = n.job
    out = tmp_path / "env.json"
    names = [
        "AZ_BATCH_ACCOUNT_NAME",
        "AZ_BATCH_POOL_ID",
        "AZ_BATCH_NODE_ID",
        "AZ_BATCH_JOB_ID",
        "AZ_BATCH_TASK_ID",
        "AZ_BATCH_TASK_RETRY_COUNT",
        "AZ_BATCH_TASK_WORKING_DIR",
        "AZ_BATCH_NODE_SHARED_DIR",
        "AZ_BATCH_NODE_STARTUP_DIR",
        "AZ_BATCH_TASK_DIR",
        "GREETING",
        "SITE",
    ]
    code = (
        f"import json, os; env = {{n: os.environ.get(n) for n in {names}}}; "
        f"json.dump(dict(cwd=os.getcwd(), env=env), open(r'{out}', 'w'))"
    )
    env = [
        models.EnvironmentSetting(name="GREETING", value="hello"),
        models.EnvironmentSetting(name="AZ_BATCH_TASK_ID", value="spoofed"),
    ]
    batch.create_task(
        job_id, models.BatchTaskCreateOptions(id="envtask", command_line=py(code), environment_settings=env)
    )
    task = completed(batch, job_id, "envtask")
    assert task.execution_info.result == models.BatchTaskExecutionResult.SUCCESS
    seen = json.loads(out.read_text())
    e = seen["env"]
    assert (e["AZ_BATCH_ACCOUNT_NAME"], e["AZ_BATCH_POOL_ID"], e["AZ_BATCH_JOB_ID"]) == (
        "sitelenslocal",
        n.pool,
        job_id,
    )
    assert (e["AZ_BATCH_TASK_ID"], e["GREETING"], e["SITE"]) == ("envtask", "hello", "north")
    assert e["AZ_BATCH_TASK_RETRY_COUNT"] is None  # Azure documents no such variable: a task is not told its retry
    assert e["AZ_BATCH_NODE_ID"] == task.node_info.node_id
    assert seen["cwd"] == e["AZ_BATCH_TASK_WORKING_DIR"]
    assert seen["cwd"].endswith(f"/{task.node_info.node_id}/workitems/{job_id}/job-1/envtask/wd")
    assert e["AZ_BATCH_TASK_DIR"].endswith(f"/workitems/{job_id}/job-1/envtask")
    assert e["AZ_BATCH_NODE_SHARED_DIR"].endswith(f"/{task.node_info.node_id}/shared")
    assert task.node_info.task_root_directory == f"workitems/{job_id}/job-1/envtask"


def test_a_start_task_prepares_the_node_and_a_removed_node_takes_its_processes_along(batch, pool_and_job, tmp_path):
    daemon_pid, retry = tmp_path / "daemon.pid", tmp_path / "retry"
    # the start task leaves a daemon behind (as sitelens' node-local inference server) and a file in shared/
    start = py(
        "import os, subprocess, sys; open(os.environ['AZ_BATCH_NODE_SHARED_DIR'] + '/ready', 'w').write(os.getcwd()); "
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'], start_new_session=True); "
        f"open(r'{daemon_pid}', 'w').write(str(p.pid)); "
        f"open(r'{retry}', 'w').write(os.environ.get('AZ_BATCH_TASK_RETRY_COUNT', 'unset'))"
    )
    n = pool_and_job(start_task=models.BatchStartTask(command_line=start, wait_for_success=True))
    job = n.job
    code = "import os; print(open(os.environ['AZ_BATCH_NODE_SHARED_DIR'] + '/ready').read())"
    batch.create_task(job, models.BatchTaskCreateOptions(id="after", command_line=py(code)))
    assert completed(batch, job, "after").execution_info.result == models.BatchTaskExecutionResult.SUCCESS
    node = next(iter(batch.list_nodes(n.pool)))
    assert node.start_task_info.result == models.BatchTaskExecutionResult.SUCCESS
    assert (node.total_tasks_run, node.total_tasks_succeeded) == (1, 1)
    pid = int(daemon_pid.read_text())
    assert alive(pid)
    assert retry.read_text() == "unset"  # no retry count for a start task either
    batch.begin_resize_pool(
        n.pool, models.BatchPoolResizeOptions(target_dedicated_nodes=0), polling_interval=0.1
    ).result()
    wait_for(lambda: not alive(pid), 10, "the start task's daemon to die with its node")


def test_shrinking_with_requeue_puts_a_running_task_back(batch, pool_and_job, tmp_path):
    n = pool_and_job(nodes=1)
    job = n.job
    marker = tmp_path / "runs.txt"
    gate = tmp_path / "go"
    code = f"open(r'{marker}', 'a').write('x')\n" + GATED.format(gate=gate)
    batch.create_task(job, models.BatchTaskCreateOptions(id="moved", command_line=py(code)))
    wait_for(marker.exists, 20, "the task to start")
    shrink = models.BatchPoolResizeOptions(target_dedicated_nodes=0, node_deallocation_option="requeue")
    batch.begin_resize_pool(n.pool, shrink, polling_interval=0.1).result()
    task = batch.get_task(job, "moved")
    assert task.state == models.BatchTaskState.ACTIVE and task.execution_info.requeue_count == 1
    gate.write_text("")
    grow = models.BatchPoolResizeOptions(target_dedicated_nodes=1)
    batch.begin_resize_pool(n.pool, grow, polling_interval=0.1).result()
    task = completed(batch, job, "moved")
    assert task.execution_info.result == models.BatchTaskExecutionResult.SUCCESS
    assert (task.execution_info.requeue_count, task.execution_info.retry_count) == (1, 0)
    assert marker.read_text() == "xx"


@pytest.mark.parametrize("option", ["terminate", "taskcompletion"])
def test_shrinking_with_terminate_or_taskcompletion(batch, pool_and_job, tmp_path, option):
    n = pool_and_job(nodes=1)
    job = n.job
    gate = tmp_path / "go"
    batch.create_task(job, models.BatchTaskCreateOptions(id="busy", command_line=py(GATED.format(gate=gate))))
    wait_for(lambda: batch.get_task(job, "busy").state == models.BatchTaskState.RUNNING, 20, "the task to run")
    shrink = models.BatchPoolResizeOptions(target_dedicated_nodes=0, node_deallocation_option=option)
    poller = batch.begin_resize_pool(n.pool, shrink, polling_interval=0.1)
    if option == "terminate":
        poller.result()
        info = batch.get_task(job, "busy").execution_info
        assert (info.result, info.failure_info.code) == (models.BatchTaskExecutionResult.FAILURE, "TaskEnded")
        return
    # taskcompletion: the node leaves the pool only once its task is done
    wait_for(lambda: next(iter(batch.list_nodes(n.pool))).state == models.BatchNodeState.LEAVING_POOL, 10, "leaving")
    assert batch.get_pool(n.pool).allocation_state == models.AllocationState.RESIZING
    gate.write_text("")
    poller.result()
    assert completed(batch, job, "busy").execution_info.result == models.BatchTaskExecutionResult.SUCCESS
    assert list(batch.list_nodes(n.pool)) == []
