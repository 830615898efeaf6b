"""Resource files read as the pool's managed identity: a plain blob URL (no SAS) plus `identityReference`,
read by the local service with the storage credentials that stand in for the identity, and refused
(`BlobAccessDenied`, no retries, the command never runs) where those cannot authorise the read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.batch import BatchClient, models
from azure.storage.blob import BlobServiceClient, ContainerClient

from emulators.azurite import Azurite, free_port
from emulators.batch_service.identity import NODE_IDENTITY_ID
from emulators.batch_service.launcher import BatchServiceProcess
from tests.integration.batch_service.conftest import BOOT_S, REPO, TIME_SCALE
from tests.integration.batch_service.helpers import client_for, completed, py

pytestmark = pytest.mark.integration
OTHER_IDENTITY = NODE_IDENTITY_ID.replace("id-sitelens-local-node", "id-someone-else")
AS_THE_POOL = models.BatchNodeIdentityReference(resource_id=NODE_IDENTITY_ID)


@pytest.fixture(scope="module")
def identity_batch(tmp_path_factory: pytest.TempPathFactory, azurite: Azurite) -> Iterator[BatchClient]:
    """A service whose pools' identity is stood in for by this Azurite's development account."""
    folder = tmp_path_factory.mktemp("batch-identity")
    with BatchServiceProcess.launch(REPO, folder / "data", free_port(), log_file=folder / "batch.log",
                                    time_scale=TIME_SCALE, boot_delay_s=BOOT_S,
                                    identity_storage=azurite.connection_string) as svc:  # fmt: skip
        yield client_for(svc)


@pytest.fixture
def private_blob(storage_connection: str, unique: str) -> str:
    """A blob in a private container, by its plain URL: readable only with credentials."""
    container: ContainerClient = BlobServiceClient.from_connection_string(storage_connection).create_container(
        f"derived-{unique}"
    )
    container.upload_blob("j_1/input.jpg", b"jpeg-bytes")
    return f"{container.url}/j_1/input.jpg"


def run_task(batch: BatchClient, unique: str, resource: models.ResourceFile, out: Path) -> models.BatchTask:
    pool, job = f"pool-{unique}", f"job-{unique}"
    batch.create_pool(models.BatchPoolCreateOptions(id=pool, vm_size="standard_nc4as_t4_v3",
                                                    target_dedicated_nodes=1))  # fmt: skip
    batch.create_job(models.BatchJobCreateOptions(id=job, pool_info=models.BatchPoolInfo(pool_id=pool)))
    code = f"import shutil; shutil.copy('input.jpg', r'{out}')"
    batch.create_task(job, models.BatchTaskCreateOptions(
        id="t", command_line=py(code), resource_files=[resource],
        constraints=models.BatchTaskConstraints(max_task_retry_count=2),
    ))  # fmt: skip
    return completed(batch, job, "t")


def denied(task: models.BatchTask, out: Path) -> str:
    info = task.execution_info
    assert info.result == models.BatchTaskExecutionResult.FAILURE and info.retry_count == 0
    assert info.failure_info.category == models.BatchErrorSourceCategory.USER_ERROR
    assert not out.exists(), "the command ran although its input was refused"
    return str(info.failure_info.code)


def test_a_blob_named_with_the_pools_identity_is_downloaded_without_any_sas(identity_batch, private_blob, unique,
                                                                            tmp_path):  # fmt: skip
    assert "?" not in private_blob
    resource = models.ResourceFile(http_url=private_blob, file_path="input.jpg", identity_reference=AS_THE_POOL)
    out = tmp_path / "seen.jpg"
    task = run_task(identity_batch, unique, resource, out)
    assert task.execution_info.result == models.BatchTaskExecutionResult.SUCCESS, task.execution_info.failure_info
    assert out.read_bytes() == b"jpeg-bytes"


@pytest.mark.parametrize(
    ("identity", "url"),
    [
        (OTHER_IDENTITY, "{blob}"),  # an identity the pool does not carry
        (NODE_IDENTITY_ID, "http://127.0.0.1:9/otheraccount/derived/j_1/input.jpg"),  # another account
    ],
    ids=["another identity", "another storage account"],
)
def test_a_read_the_identity_cannot_authorise_is_refused(identity_batch, private_blob, unique, tmp_path, *, identity,
                                                         url):  # fmt: skip
    reference = models.BatchNodeIdentityReference(resource_id=identity)
    resource = models.ResourceFile(http_url=url.format(blob=private_blob), file_path="input.jpg",
                                   identity_reference=reference)  # fmt: skip
    out = tmp_path / "seen.jpg"
    assert denied(run_task(identity_batch, unique, resource, out), out) == "BlobAccessDenied"


def test_a_service_with_no_stand_in_credentials_refuses_identity_reads(batch, private_blob, unique, tmp_path):
    resource = models.ResourceFile(http_url=private_blob, file_path="input.jpg", identity_reference=AS_THE_POOL)
    out = tmp_path / "seen.jpg"
    assert denied(run_task(batch, unique, resource, out), out) == "BlobAccessDenied"


def test_without_the_identity_reference_the_plain_url_is_not_readable(identity_batch, private_blob, unique, tmp_path):
    out = tmp_path / "seen.jpg"
    task = run_task(identity_batch, unique, models.ResourceFile(http_url=private_blob, file_path="input.jpg"), out)
    assert denied(task, out) in ("BlobAccessDenied", "BlobNotFound")  # storage's answer to an anonymous read
