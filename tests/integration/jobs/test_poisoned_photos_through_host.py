"""A photo whose blob trigger failed every try, through the real function_app.py on the local host and
Azurite: `on_photo_poisoned` ingests it again from `webjobs-blobtrigger-poison`, records it FAILED
`ingestion_failed` on its last try, and hands what is not a photo's trigger to an operator's queue."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from emulators.functions_host.blob_trigger import trigger_message
from emulators.functions_host.queue_listener import LEASE_SETTING
from shared.jobs import ids
from shared.jobs.poisoned_photos import BLOB_FUNCTION_ID, OPERATOR_QUEUE, POISON_QUEUE, REASON, TRIES
from tests.support.queues import emptied
from tests.support.stack import HostProcess
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
KEYS = {"master": "test-master-key", "host": {"default": "host-key"}}
RARELY = "0 0 0 1 1 *"  # timers these tests do not exercise
BATCH = {  # lets the app build its submitter; a rejected photo never reaches Batch
    "SITELENS_BATCH_URL": "http://127.0.0.1:9",
    "SITELENS_BATCH_ACCOUNT": "unused",
    "SITELENS_BATCH_KEY": base64.b64encode(b"unused").decode(),
}


@pytest.fixture
def start_app(storage_connection: str, unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The real app, its message lease 1 s (a failed try of a `-poison` queue comes back when it lapses),
    and no Event Grid stand-in: only the poison queue delivers photos here."""
    monkeypatch.setenv(LEASE_SETTING, "1")
    for queue in (POISON_QUEUE, OPERATOR_QUEUE):  # what earlier tests left would hide this test's from a peek
        emptied(storage_connection, queue)
    hosts: list[HostProcess] = []

    def start(extra: dict[str, str]) -> HostProcess:
        values = {
            "AzureWebJobsStorage": storage_connection,
            "AzureFunctionsWebHost__hostid": f"pp-{unique}",
            "SITELENS_TABLE_PREFIX": f"t{unique}",
            "SITELENS_WEBHOOK_SWEEP_SCHEDULE": RARELY,
            "SITELENS_RECONCILE_SCHEDULE": RARELY,
            "SITELENS_RECORDS_EXPIRY_SCHEDULE": RARELY,
            **extra,
        }
        host = HostProcess.prepare_repo_app(tmp_path / f"app{len(hosts)}", values, keys=KEYS)
        host.extra_args = ["--no-emulate-event-grid"]
        hosts.append(host.start())
        return host

    yield start
    for host in hosts:
        host.stop()


def put_photo(connection: str, name: str) -> str:
    """Bytes that are no photo: ingestion rejects them without reaching Batch."""
    photos = BlobServiceClient.from_connection_string(connection).get_container_client("photos")
    if not photos.exists():
        photos.create_container()
    return str(photos.get_blob_client(name).upload_blob(b"<html>not a photo</html>" * 50)["etag"])


def poison(connection: str, body: str) -> None:
    """What the host does after the blob trigger's last try: the trigger message, base64, in the poison queue."""
    queue = QueueClient.from_connection_string(connection, POISON_QUEUE, message_encode_policy=TextBase64EncodePolicy())
    with contextlib.suppress(ResourceExistsError):
        queue.create_queue()
    queue.send_message(body)


def job(host: HostProcess, job_id: str) -> dict[str, Any] | None:
    request = urllib.request.Request(f"{host.url}/api/jobs/{job_id}", headers={"x-functions-key": "host-key"})
    try:
        with urllib.request.urlopen(request, timeout=20) as r:
            doc: dict[str, Any] = json.loads(r.read())
            return doc
    except urllib.error.HTTPError as e:
        assert e.code == 404, e.read()
        return None


def terminal(host: HostProcess, job_id: str) -> Callable[[], dict[str, Any] | None]:
    def check() -> dict[str, Any] | None:
        doc = job(host, job_id)
        return doc if doc and doc["state"] in ("SUCCEEDED", "FAILED", "REJECTED") else None

    return check


def test_a_poisoned_photo_is_ingested_again_and_gets_its_job(start_app, storage_connection, unique):
    host = start_app(BATCH)
    name = f"s{unique}/cam1/2026/11/22/IMG_1.jpg"
    poison(storage_connection, trigger_message(BLOB_FUNCTION_ID, "photos", name, put_photo(storage_connection, name)))
    doc = wait_for(terminal(host, ids.job_id_for(name)), 60, "the photo's job from the poison queue")
    assert (doc["state"], doc["reason"], doc["site"]) == ("REJECTED", "unsupported_type", f"s{unique}")


def test_a_photo_that_fails_every_try_ends_failed_on_the_last(start_app, storage_connection, unique):
    # GIVEN an app whose ingestion cannot even be built (no Batch settings): every try fails
    host = start_app({})
    name = f"s{unique}/cam1/2026/11/22/IMG_2.jpg"
    etag = put_photo(storage_connection, name)
    poison(storage_connection, trigger_message(BLOB_FUNCTION_ID, "photos", name, etag))
    # THEN after TRIES tries, each back when its lease lapsed, the photo has a job, FAILED with the reason
    doc = wait_for(terminal(host, ids.job_id_for(name)), 90, "the photo FAILED on the last try")
    assert (doc["state"], doc["reason"], doc["photo_etag"]) == ("FAILED", REASON, etag.strip('"'))
    assert "SITELENS_BATCH_URL" in doc["detail"]
    tries = re.findall(rf"photo {re.escape(name)}: try (\d+) of {TRIES} failed again", host.log_text())
    assert tries == [str(n) for n in range(1, TRIES)]


def test_a_message_that_is_not_a_photos_trigger_goes_to_the_operator_queue(start_app, storage_connection, unique):
    start_app(BATCH)
    body = trigger_message("Host.Functions.on_other_blob", f"other-{unique}", "a.jpg", '"0x1"')
    poison(storage_connection, body)
    operator = QueueClient.from_connection_string(storage_connection, OPERATOR_QUEUE)

    def forwarded() -> list[str]:
        try:
            texts = [base64.b64decode(m.content).decode() for m in operator.peek_messages(max_messages=32)]
        except ResourceNotFoundError:
            return []
        return [t for t in texts if f"other-{unique}" in t]

    assert wait_for(forwarded, 60, "the message in the operator's queue") == [body]
