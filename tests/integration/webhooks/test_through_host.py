"""Webhooks through the real function_app.py on the local Functions host: API, queue trigger, crash."""

from __future__ import annotations

import json
import signal
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from shared.adapters.azure_notification_queue import StorageNotificationQueue
from shared.adapters.azure_webhook_store import TableWebhookStore
from shared.config import MIN_STALE_ATTEMPT_S
from shared.webhooks.endpoint import EndpointPolicy
from shared.webhooks.models import DeliveryState
from shared.webhooks.service import WebhookService
from shared.webhooks.signing import verify
from tests.integration.webhooks.conftest import make_event
from tests.support.receiver import Receiver, Reply
from tests.support.stack import HostProcess
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
KEYS = {"master": "test-master-key", "host": {"default": "host-key"}}


def app_values(connection: str, unique: str, **extra: str) -> dict[str, str]:
    return {
        "AzureWebJobsStorage": connection,
        "AzureFunctionsWebHost__hostid": f"app-{unique}",
        "SITELENS_TABLE_PREFIX": f"t{unique}",
        "SITELENS_WEBHOOKS_ALLOW_LOOPBACK": "true",
        "SITELENS_WEBHOOK_SWEEP_SCHEDULE": "*/1 * * * * *",
        "SITELENS_RECONCILE_SCHEDULE": "0 0 0 1 1 *",  # the pipeline's reconciler: not exercised here
        "SITELENS_RECORDS_EXPIRY_SCHEDULE": "0 0 0 1 1 *",
        **extra,
    }


def api(host: HostProcess, method: str, path: str, body: object | None = None, key: str | None = "host-key"):
    data = json.dumps(body).encode() if body is not None else None
    headers = {"x-functions-key": key} if key else {}
    request = urllib.request.Request(f"{host.url}/api{path}", data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, json.loads(raw) if raw else None


def publisher(connection: str, unique: str) -> WebhookService:
    """What the pipeline will do on a terminal job: write the event to the outbox and fan it out."""
    queue = QueueClient.from_connection_string(
        connection, "notifications", message_encode_policy=TextBase64EncodePolicy()
    )
    return WebhookService(
        TableWebhookStore(TableServiceClient.from_connection_string(connection), prefix=f"t{unique}"),
        StorageNotificationQueue(queue),
        EndpointPolicy(allow_loopback=True),
    )


@pytest.fixture
def hosts(tmp_path: Path):
    started: list[HostProcess] = []
    yield started
    for host in started:
        host.stop()


def test_subscribe_through_the_api_and_receive_a_signed_webhook(storage_connection, unique, tmp_path, hosts):
    host = HostProcess.prepare_repo_app(tmp_path / "app", app_values(storage_connection, unique), keys=KEYS).start()
    hosts.append(host)
    with Receiver() as receiver:
        assert api(host, "POST", "/subscriptions", {"url": receiver.url}, key=None)[0] == 401
        assert api(host, "POST", "/subscriptions", {"url": "https://169.254.169.254/x"})[0] == 400
        status, created = api(host, "POST", "/subscriptions", {"url": receiver.url, "site": "site1"})
        assert status == 201 and created["secret"].startswith("whsec_")
        status, listed = api(host, "GET", "/subscriptions")
        assert status == 200 and [s["id"] for s in listed["items"]] == [created["id"]]
        assert "secret" not in json.dumps(listed["items"][0]).replace('"secrets"', "")  # never shown again

        event = make_event("job-1")  # a recorded terminal event
        publisher(storage_connection, unique).publish(event)
        [got] = receiver.wait_for(1)
        verify(created["secret"], got.headers, got.body, now=int(got.headers["webhook-timestamp"]))
        assert got.headers["webhook-id"] == event.id

        assert api(host, "DELETE", f"/subscriptions/{created['id']}")[0] == 204
        assert api(host, "DELETE", f"/subscriptions/{created['id']}")[0] == 404
        assert api(host, "GET", "/subscriptions")[1] == {"items": []}


def test_host_killed_mid_attempt_still_delivers_with_the_same_id(storage_connection, unique, tmp_path, hosts):
    # The shortest stale bound the app accepts: the dead attempt is re-driven once it is that old.
    stale = f"{MIN_STALE_ATTEMPT_S:g}"
    values = app_values(
        storage_connection, unique, SITELENS_WEBHOOK_STALE_ATTEMPT_S=stale, SITELENS_WEBHOOK_LOST_MESSAGE_S="1"
    )
    first = HostProcess.prepare_repo_app(tmp_path / "a", values, keys=KEYS).start()
    hosts.append(first)
    hung = threading.Event()
    with Receiver([Reply(200, hold=hung), Reply(200)]) as receiver:
        _, created = api(first, "POST", "/subscriptions", {"url": receiver.url})
        service = publisher(storage_connection, unique)
        event = make_event("job-crash")
        service.publish(event)
        receiver.wait_for(1)  # the first attempt is in flight, its answer held back
        first.stop(signal.SIGKILL)  # the delivering process dies mid-attempt
        hung.set()
        second = HostProcess.prepare_repo_app(tmp_path / "b", values, keys=KEYS).start()
        hosts.append(second)
        got = receiver.wait_for(2, timeout=MIN_STALE_ATTEMPT_S + 60)
        assert got[0].headers["webhook-id"] == got[1].headers["webhook-id"] == event.id

        def delivered() -> bool:
            return service.store.get_delivery(event.id, created["id"]).state is DeliveryState.DELIVERED

        wait_for(delivered, 30, "the delivery to be recorded as delivered")
        attempts = service.store.get_delivery(event.id, created["id"]).attempts
        assert [a.error for a in attempts] == ["interrupted", None]
