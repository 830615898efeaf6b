"""`POST /api/uploads` and `sitelens upload` through the real function_app.py on the local Functions host."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobClient, BlobServiceClient
from azure.storage.queue import QueueClient

from shared.jobs import ids
from sitelens import cli
from tests.support.queues import emptied
from tests.support.stack import HostProcess
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
KEYS = {"master": "test-master-key", "host": {"default": "host-key"}}
RARELY = "0 0 0 1 1 *"  # timers this test does not exercise


@pytest.fixture
def host(storage_connection, unique, tmp_path: Path) -> Iterator[HostProcess]:
    values = {
        "AzureWebJobsStorage": storage_connection,
        "AzureFunctionsWebHost__hostid": f"up-{unique}",
        "SITELENS_TABLE_PREFIX": f"t{unique}",
        "SITELENS_WEBHOOK_SWEEP_SCHEDULE": RARELY,
        "SITELENS_RECONCILE_SCHEDULE": RARELY,
        "SITELENS_RECORDS_EXPIRY_SCHEDULE": RARELY,
        "SITELENS_UPLOAD_SAS_TTL_S": "120",
    }
    started = HostProcess.prepare_repo_app(tmp_path / "app", values, keys=KEYS).start()
    try:
        yield started
    finally:
        started.stop()


def post(host: HostProcess, body: object, key: str | None = "host-key") -> tuple[int, str, dict[str, Any]]:
    headers = {"Content-Type": "application/json", **({"x-functions-key": key} if key else {})}
    request = urllib.request.Request(f"{host.url}/api/uploads", json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=20) as r:
            return r.status, r.headers.get("Content-Type", ""), json.loads(r.read())
    except urllib.error.HTTPError as e:
        with e:
            raw = e.read()
        return e.code, e.headers.get("Content-Type", ""), json.loads(raw) if raw else {}


def test_the_route_needs_a_key_and_answers_problem_documents(host, unique):
    body = {"site_id": f"s{unique}", "device_id": "cam1", "photo_id": "IMG1"}
    assert post(host, body, key=None)[0] == 401
    assert post(host, body, key="wrong")[0] == 401
    status, media, doc = post(host, {**body, "site_id": "../x"})
    assert (status, doc["reason"]) == (400, "invalid_site_id") and media.startswith("application/problem+json")
    status, media, doc = post(host, body)
    assert status == 201 and media.startswith("application/json")
    assert doc["blob_name"].startswith(f"photos/s{unique}/cam1/") and "sp=cw" in doc["upload_url"]
    assert post(host, body)[2]["blob_name"] == doc["blob_name"]


def test_sitelens_upload_through_the_host_prints_the_pipelines_job_id(host, unique, tmp_path, capsys, azurite):
    from azure.storage.blob import BlobServiceClient

    path = tmp_path / "nameplate.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 1000)
    command = ["upload", str(path), "--site", f"s{unique}", "--device", "cam1", "--block-size", "64KiB",
               "--api", f"{host.url}/api", "--key", "host-key", "--json"]  # fmt: skip
    assert cli.main(command) == 0
    [outcome] = json.loads(capsys.readouterr().out)
    assert outcome["status"] == "uploaded" and outcome["blocks_sent"] == 4
    blob = BlobServiceClient.from_connection_string(azurite.connection_string).get_blob_client(
        "photos", outcome["blob_name"]
    )
    assert blob.download_blob().readall() == path.read_bytes()
    assert outcome["job_id"] == ids.job_id_for(outcome["blob_name"])
    assert outcome["etag"] == blob.get_blob_properties().etag.strip('"')  # compare with the job's photo_etag

    assert cli.main(command) == 0  # the same file again: the API says it is there and names the same job
    [again] = json.loads(capsys.readouterr().out)
    assert again["status"] == "already_uploaded" and again["job_id"] == outcome["job_id"]
    assert again["blocks_sent"] == 0


@pytest.fixture
def pipeline_host(storage_connection, unique, tmp_path: Path) -> Iterator[HostProcess]:
    """The real app with its blob trigger able to run: a rejected photo never reaches Batch, so the Batch
    settings only have to let the app build its submitter (loopback, nothing listens there)."""
    values = {
        "AzureWebJobsStorage": storage_connection,
        "AzureFunctionsWebHost__hostid": f"pl-{unique}",
        "SITELENS_TABLE_PREFIX": f"t{unique}",
        "SITELENS_WEBHOOK_SWEEP_SCHEDULE": RARELY,
        "SITELENS_RECONCILE_SCHEDULE": RARELY,
        "SITELENS_RECORDS_EXPIRY_SCHEDULE": RARELY,
        "SITELENS_BATCH_URL": "http://127.0.0.1:9",
        "SITELENS_BATCH_ACCOUNT": "unused",
        "SITELENS_BATCH_KEY": base64.b64encode(b"unused").decode(),
    }
    emptied(storage_connection, "webjobs-blobtrigger-poison")  # so that a peek sees this test's, if any
    started = HostProcess.prepare_repo_app(tmp_path / "app", values, keys=KEYS).start()
    try:
        yield started
    finally:
        started.stop()


def poisoned(storage_connection: str, blob_name: str) -> list[dict[str, Any]]:
    poison = QueueClient.from_connection_string(storage_connection, "webjobs-blobtrigger-poison")
    try:
        bodies = [json.loads(base64.b64decode(m.content)) for m in poison.peek_messages(max_messages=32)]
    except ResourceNotFoundError:
        return []
    return [b for b in bodies if b.get("BlobName") == blob_name]


def test_a_snapshot_taken_with_the_upload_sas_does_not_keep_a_rejected_photo_in_photos(
    pipeline_host, storage_connection, unique
):
    status, _, grant = post(pipeline_host, {"site_id": f"s{unique}", "device_id": "cam1", "photo_id": "IMG1"})
    assert status == 201
    name = grant["blob_name"].removeprefix("photos/")
    device = BlobClient.from_blob_url(grant["upload_url"])
    block = base64.b64encode(b"000000-junk").decode()
    device.stage_block(block, b"<html>not a photo</html>" * 100)
    device.commit_block_list([block], if_none_match="*")  # type: ignore[list-item]
    device.create_snapshot()  # the SAS allows it; a plain delete of the original then fails SnapshotsPresent
    blobs = BlobServiceClient.from_connection_string(storage_connection)
    photos = blobs.get_container_client("photos")

    def left() -> list[tuple[str, str | None]]:
        return [(b.name, b.snapshot) for b in photos.list_blobs(name_starts_with=name, include=["snapshots"])]

    wait_for(lambda: not left(), 60, "the rejected photo and its snapshot gone from photos/")
    job = get(pipeline_host, f"/api/jobs/{grant['job_hint']}")
    assert job["state"] == "REJECTED" and job["reason"] == "unsupported_type" and job["later_writes"] == 0
    assert blobs.get_blob_client("quarantine", name).exists()
    assert poisoned(storage_connection, f"photos/{name}") == poisoned(storage_connection, name) == []


def get(host: HostProcess, path: str) -> dict[str, Any]:
    request = urllib.request.Request(f"{host.url}{path}", headers={"x-functions-key": "host-key"})
    with urllib.request.urlopen(request, timeout=20) as r:
        doc: dict[str, Any] = json.loads(r.read())
        return doc
