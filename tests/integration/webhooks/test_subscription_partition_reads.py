"""What one photo's event reads of the `subscription` partition of `webhooksubscriptions`, on Azurite, counted
from Table storage's own responses: every subscription's row is in that one partition whatever its site, and an
event reads it by id twice for each subscription of its site and each fleet-wide one (`publish`, then `deliver`),
once for one whose event types leave it out. docs/scale.md gives the partition's ceiling from that count, for the
whole fleet, not per site."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from shared.adapters.azure_notification_queue import StorageNotificationQueue
from shared.adapters.azure_webhook_store import SUBSCRIPTIONS, TableWebhookStore
from shared.webhooks import endpoint
from shared.webhooks.endpoint import EndpointPolicy
from shared.webhooks.models import DeliveryState
from shared.webhooks.service import WebhookService
from tests.integration.webhooks.conftest import make_event

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
READS_PER_SUBSCRIPTION = 2  # publish's read by id, then deliver's


@dataclass
class PartitionReads:
    """A raw response hook: the entities Table storage answered from the `subscription` partition."""

    entities: int = 0

    def __call__(self, response: Any) -> None:
        http = response.http_response
        url = unquote(http.request.url)
        if http.request.method != "GET" or http.status_code != 200:
            return
        if "PartitionKey='subscription'" in url:  # a point read
            self.entities += 1
        elif "PartitionKey eq 'subscription'" in url:  # a query
            self.entities += len(json.loads(http.body() or b"{}").get("value", []))


@pytest.fixture
def counted(storage_connection: str, unique: str) -> tuple[WebhookService, PartitionReads, TableServiceClient]:
    reads = PartitionReads()
    tables = TableServiceClient.from_connection_string(storage_connection, raw_response_hook=reads)
    queue = QueueClient.from_connection_string(storage_connection, f"n-{unique}",
                                               message_encode_policy=TextBase64EncodePolicy())  # fmt: skip
    service = WebhookService(TableWebhookStore(tables, prefix=f"t{unique}"), StorageNotificationQueue(queue),
                             EndpointPolicy(allow_loopback=True),
                             send=lambda target, body, headers: endpoint.Response(200))  # fmt: skip
    return service, reads, tables


def reads_for(service: WebhookService, reads: PartitionReads, site: str, job_id: str) -> int:
    """The entities of the `subscription` partition one event of `site` reads: recorded, then each delivery made
    (`publish` queues a message for each in between, which `on_notification` takes to `deliver`)."""
    reads.entities = 0
    for event_id, subscription_id in service.record(make_event(job_id, site=site, at=datetime.now(UTC))):
        assert service.deliver(event_id, subscription_id) is DeliveryState.DELIVERED
    return reads.entities


def test_an_event_reads_the_one_partition_twice_for_each_subscription_of_its_site_and_the_fleet(counted, unique):
    service, reads, tables = counted
    for n, site, types in [(1, "site-a", "job.succeeded"), (2, "site-b", "job.succeeded"), (3, "site-b", "job.failed"),
                           (4, None, "job.succeeded")]:  # fmt: skip
        service.subscribe(f"http://127.0.0.1:9/hook{n}", site, [types])
    service.store.subscriptions_for("warm-up")  # the store's first read looks for the index's marker
    assert reads_for(service, reads, "site-a", "job-a") == 2 * READS_PER_SUBSCRIPTION  # its own and the fleet's
    # site-b's subscription to failed jobs is read once, by publish, and given no delivery
    assert reads_for(service, reads, "site-b", "job-b") == 2 * READS_PER_SUBSCRIPTION + 1
    assert reads_for(service, reads, "site-c", "job-c") == READS_PER_SUBSCRIPTION  # the fleet-wide one alone
    rows = tables.get_table_client(f"t{unique}{SUBSCRIPTIONS}").query_entities("Url ne ''", select=["PartitionKey"])
    assert sorted(row["PartitionKey"] for row in rows) == ["subscription"] * 4  # every site's, in one partition
    [row] = [line for line in (ROOT / "docs" / "scale.md").read_text(encoding="utf-8").splitlines()
             if line.startswith("| `webhooksubscriptions`, with the index: partition `subscription`")]  # fmt: skip
    assert f"{READS_PER_SUBSCRIPTION} per subscription of the photo's site and per fleet-wide one" in row
    assert "**for the whole fleet**, not per site" in row
