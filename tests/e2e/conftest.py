"""One local stack for the pipeline's end-to-end tests: Azurite, the Batch service (pool at 0 nodes,
autoscaled by the real formula, node servers started by the real start task) and the Functions host with
the real function_app.py. The reconciler's bounds are shortened so that repairs show within seconds."""

from __future__ import annotations

import contextlib
import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.batch import models
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient, ContentSettings

from emulators.azurite import free_ports
from shared.jobs.ids import batch_job_id, content_key, job_id_for
from shared.pipeline_settings import PipelineSettings
from sitelens.local_pool import POOL_ID
from sitelens.stack import Stack
from tests.support.browser import browser, chromium_executable  # noqa: F401 - fixtures of the browser tests
from tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
TERMINAL = ("SUCCEEDED", "FAILED", "REJECTED")
MAX_BYTES = 8 * 1024 * 1024  # a 12 MP photo is 2-3 MB; a smaller cap keeps the too-large upload cheap
STRICT_SITE = "strict-yard"  # a site whose policy rejects blurry photos
SETTINGS = {
    # Repairs within seconds: a job open 4 s is re-driven from Batch's view, swept every 2 s.
    "SITELENS_STUCK_AFTER_S": "4",
    "SITELENS_RECONCILE_SCHEDULE": "*/2 * * * * *",
    "SITELENS_MAX_PHOTO_BYTES": str(MAX_BYTES),
    "SITELENS_QUALITY_REJECT": json.dumps({STRICT_SITE: ["blurry"]}),
}


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: dict[str, Any] | None


@dataclass
class Pipeline:
    stack: Stack
    polled: dict[str, list[int]] = field(default_factory=dict)  # job id → every status code seen

    def __post_init__(self) -> None:
        assert self.stack.azurite is not None
        self.blobs = BlobServiceClient.from_connection_string(self.stack.azurite.connection_string)
        self.tables = TableServiceClient.from_connection_string(self.stack.azurite.connection_string)

    @property
    def api(self) -> str:
        return f"{self.stack.functions_url}/api"

    def http(self, method: str, path: str, *, key: str | None = "host", headers: dict[str, str] | None = None,
             body: bytes | None = None) -> Reply:  # fmt: skip
        request = urllib.request.Request(self.api + path, data=body, method=method, headers=headers or {})
        if key == "host":
            request.add_header("x-functions-key", self.stack.keys["host"]["default"])
        elif key:
            request.add_header("x-functions-key", key)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw, status, got = response.read(), response.status, dict(response.headers)
        except urllib.error.HTTPError as exc:
            with exc:
                raw, status, got = exc.read(), exc.code, dict(exc.headers)
        return Reply(status, got, json.loads(raw) if raw else None)

    def put(self, name: str, data: bytes) -> str:
        """Commit a photo as a device would (the blob name as the upload API chooses it); returns the job id."""
        blob = self.blobs.get_blob_client("photos", name)
        blob.upload_blob(data, overwrite=True, content_settings=ContentSettings(content_type="image/jpeg"))
        return job_id_for(name)

    def status(self, job_id: str) -> Reply:
        reply = self.http("GET", f"/jobs/{job_id}")
        self.polled.setdefault(job_id, []).append(reply.status)
        return reply

    def wait_accepted(self, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
        def accepted() -> dict[str, Any] | None:
            reply = self.status(job_id)
            return reply.body if reply.status == 200 else None

        return wait_for(accepted, timeout, f"job {job_id} accepted")

    def wait_terminal(self, job_id: str, timeout: float = 240.0) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            reply = self.status(job_id)
            return reply.body if reply.status == 200 and reply.body and reply.body["state"] in TERMINAL else None

        return wait_for(done, timeout, f"job {job_id} terminal")

    def tasks(self, job_id: str) -> list[Any]:
        """Every Batch task with this id, in any Batch job."""
        client = self.stack.pool().client()
        return [t for j in client.list_jobs() for t in client.list_tasks(j.id) if t.id == job_id]

    def ensure_batch_job(self) -> None:
        """Today's and tomorrow's Batch jobs, which the app creates on its first submission of the day. Tomorrow's
        too: the app submits into the UTC day of the job's received_at, recorded seconds later, across midnight
        tomorrow's."""
        client = self.stack.pool().client()
        today = datetime.now(UTC).date()
        for day in (today, today + timedelta(days=1)):
            job = models.BatchJobCreateOptions(id=batch_job_id(day), pool_info=models.BatchPoolInfo(pool_id=POOL_ID))
            with contextlib.suppress(ResourceExistsError):
                client.create_job(job)

    def results(self, job_id: str) -> list[str]:
        return sorted(b.name for b in self.blobs.get_container_client("results").list_blobs(name_starts_with=job_id))

    def events(self, job_id: str) -> list[dict[str, Any]]:
        table = self.tables.get_table_client("webhookevents")
        return list(table.query_entities("JobId eq @job", parameters={"job": job_id}))

    def claimed(self, site: str, data: bytes, model: str = PipelineSettings().default_model) -> bool:
        """The content claim exists: ingestion has validated the photo and submits next."""
        table = self.tables.get_table_client("jobs")
        key = f"content~{site}~{content_key(hashlib.sha256(data).hexdigest(), model)}"
        try:
            return bool(list(table.query_entities("PartitionKey eq @pk", parameters={"pk": key})))
        except ResourceNotFoundError:  # the app creates its table on first use
            return False

    def deliver_again(self, name: str, etag: str) -> None:
        """A blob-created event as Event Grid posts it (Azure's at-least-once delivery: again and again)."""
        url = self.blobs.get_blob_client("photos", name).url
        data = {"url": url, "eTag": etag, "blobType": "BlockBlob", "api": "PutBlob"}
        event = [{"eventType": "Microsoft.Storage.BlobCreated", "subject": f"/blobServices/default/containers/photos/"
                  f"blobs/{name}", "data": data}]  # fmt: skip
        request = urllib.request.Request(
            f"{self.stack.functions_url}/runtime/webhooks/blobs?functionName=Host.Functions.on_photo_uploaded",
            data=json.dumps(event).encode(), method="POST",
            headers={"aeg-event-type": "Notification", "Content-Type": "application/json",
                     "x-functions-key": self.stack.keys["master"]},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 202


def unread_request(port: int) -> bool:
    """A connection to `port` on loopback holds bytes its (stopped) server has not read yet (Linux /proc)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), Path(table).open() as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                local, state, queues = fields[1], fields[3], fields[4]
                if int(local.rsplit(":", 1)[1], 16) == port and state == "01" and int(queues.split(":")[1], 16) > 0:
                    return True
    return False


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    state = tmp_path_factory.mktemp("stack")
    blob_port, queue_port, table_port, functions_port, batch_port = free_ports(5)
    stack = Stack(
        repo=REPO,
        state_dir=state,
        azurite_ports=(blob_port, queue_port, table_port),
        functions_port=functions_port,
        batch_port=batch_port,
        functions_env=dict(SETTINGS),
    )
    stack.start()
    try:
        yield Pipeline(stack)
    finally:
        with contextlib.suppress(Exception):
            stack.stop()
