"""Resource files from Azurite, requeue on shrink, and an unknown path, through the real client."""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
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

from shared.config import DEV_ACCOUNT, DEV_KEY
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def test_resource_files_from_an_http_url_and_a_container_sas(batch, pool_and_job, storage_connection, unique, tmp_path):
    service = BlobServiceClient.from_connection_string(storage_connection)
    container = service.create_container(f"in-{unique}")
    container.upload_blob("photo.jpg", b"jpeg-bytes")
    container.upload_blob("models/ocr/det.onnx", b"det")
    container.upload_blob("models/ocr/rec.onnx", b"rec")
    expiry = datetime.now(UTC) + timedelta(hours=1)
    blob_sas = generate_blob_sas(DEV_ACCOUNT, container.container_name, "photo.jpg", account_key=DEV_KEY,
                                 permission=BlobSasPermissions(read=True), expiry=expiry)  # fmt: skip
    read_list = ContainerSasPermissions(read=True, list=True)
    container_sas = generate_container_sas(
        DEV_ACCOUNT, container.container_name, account_key=DEV_KEY, permission=read_list, expiry=expiry
    )
    resources = [
        models.ResourceFile(http_url=f"{container.url}/photo.jpg?{blob_sas}", file_path="in/photo.jpg"),
        models.ResourceFile(
            storage_container_url=f"{container.url}?{container_sas}", blob_prefix="models/", file_path="m"
        ),
    ]
    out = tmp_path / "seen.txt"
    code = (f"import os; open(r'{out}', 'w').write(' '.join(sorted(os.path.join(d, f) for d, _, fs in os.walk('.') "
            "for f in fs)) + ' ' + open('in/photo.jpg').read())")  # fmt: skip
    job = pool_and_job()
    batch.create_task(job, models.BatchTaskCreateOptions(id="files", command_line=f"{sys.executable} -c \"{code}\"",
                                                         resource_files=resources))  # fmt: skip
    wait_for(lambda: batch.get_task(job, "files").state == models.BatchTaskState.COMPLETED, 30, "the task")
    assert batch.get_task(job, "files").execution_info.result == models.BatchTaskExecutionResult.SUCCESS
    assert out.read_text() == "./in/photo.jpg ./m/models/ocr/det.onnx ./m/models/ocr/rec.onnx jpeg-bytes"


def test_missing_resource_file_fails_the_task_without_retries(batch, pool_and_job):
    job = pool_and_job()
    missing = [models.ResourceFile(http_url="http://127.0.0.1:9/nothing", file_path="x")]
    retries = models.BatchTaskConstraints(max_task_retry_count=3)
    task = models.BatchTaskCreateOptions(id="nofile", command_line="true", resource_files=missing, constraints=retries)
    batch.create_task(job, task)
    wait_for(lambda: batch.get_task(job, "nofile").state == models.BatchTaskState.COMPLETED, 30, "the task")
    info = batch.get_task(job, "nofile").execution_info
    assert info.failure_info.code == "ResourceFileDownloadFailed" and info.retry_count == 0


def test_shrinking_with_requeue_puts_a_running_task_back(batch, pool_and_job, tmp_path):
    job = pool_and_job(nodes=1)
    marker = tmp_path / "runs.txt"
    code = f"open(r'{marker}', 'a').write('x'); import time; time.sleep(1)"
    batch.create_task(job, models.BatchTaskCreateOptions(id="moved", command_line=f'{sys.executable} -c "{code}"'))
    wait_for(lambda: batch.get_task(job, "moved").state == models.BatchTaskState.RUNNING, 20, "the task to run")
    shrink = models.BatchPoolResizeOptions(target_dedicated_nodes=0, node_deallocation_option="requeue")
    batch.begin_resize_pool("pool", shrink, polling_interval=0.1).result()
    task = batch.get_task(job, "moved")
    assert task.state == models.BatchTaskState.ACTIVE and task.execution_info.requeue_count == 1
    batch.begin_resize_pool(
        "pool", models.BatchPoolResizeOptions(target_dedicated_nodes=1), polling_interval=0.1
    ).result()
    wait_for(lambda: batch.get_task(job, "moved").execution_info.result == models.BatchTaskExecutionResult.SUCCESS,
             30, "the requeued task to succeed on the new node")  # fmt: skip
    # the first attempt may be killed before it writes; never more than the two attempts run
    assert marker.read_text() in ("x", "xx")
    assert batch.get_task(job, "moved").execution_info.requeue_count == 1


def test_unknown_path_answers_resource_not_found(service):
    try:
        urllib.request.urlopen(f"{service.endpoint}/certificates?api-version=2025-06-01", timeout=5)
    except urllib.error.HTTPError as e:
        assert e.code in (403, 404)  # unauthenticated callers are refused before routing
    else:
        pytest.fail("an unknown path answered 2xx")
