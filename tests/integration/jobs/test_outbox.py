"""A terminal job's event in the webhook outbox (Azurite tables): the public status document, once."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from shared.adapters.azure_job_store import TableJobStore
from shared.adapters.azure_notification_queue import StorageNotificationQueue
from shared.adapters.azure_webhook_store import TableWebhookStore
from shared.jobs import document, ids
from shared.jobs.finisher import Finisher
from shared.jobs.models import Job, JobState
from shared.jobs.outbox import WebhookOutbox
from shared.webhooks.endpoint import EndpointPolicy
from shared.webhooks.service import WebhookService

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def test_a_terminal_job_writes_one_event_whose_payload_is_its_status_document(storage_connection, unique):
    tables = TableServiceClient.from_connection_string(storage_connection)
    queue = QueueClient.from_connection_string(storage_connection, f"n-{unique}",
                                               message_encode_policy=TextBase64EncodePolicy())  # fmt: skip
    hooks = TableWebhookStore(tables, prefix=f"t{unique}")
    service = WebhookService(hooks, StorageNotificationQueue(queue), EndpointPolicy(allow_loopback=True))
    store = TableJobStore(tables, prefix=f"t{unique}")
    finisher = Finisher(store, WebhookOutbox(service, lambda: T0), lambda: T0)
    name = "north-yard/cam-1/2026/11/22/p1.jpg"
    job = store.create(Job(ids.job_id_for(name), "north-yard", "cam-1", "p1", name, "e", T0))
    assert job is not None
    done = finisher.finish(job, JobState.REJECTED, reason="corrupt_image", detail="truncated")
    assert done.event_published and store.open_ids() == []
    finisher.publish(store.get(job.id))  # a second publish (a redelivery, the reconciler) adds nothing
    event = hooks.get_event(ids.event_id(job.id, "REJECTED"))
    body = json.loads(event.body)
    assert (event.type, body["type"], body["id"]) == ("job.rejected", "job.rejected", event.id)
    assert body["data"] == document.public(store.get(job.id)) and body["data"]["reason"] == "corrupt_image"
    rows = list(tables.get_table_client(f"t{unique}webhookevents").query_entities(
        "JobId eq @j", parameters={"j": job.id}))  # fmt: skip
    assert len(rows) == 1
