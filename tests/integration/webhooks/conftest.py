from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from shared.adapters.azure_notification_queue import StorageNotificationQueue
from shared.adapters.azure_webhook_store import TableWebhookStore
from shared.webhooks import endpoint
from shared.webhooks.endpoint import EndpointPolicy
from shared.webhooks.models import Event
from shared.webhooks.service import WebhookService
from tests.support.receiver import Receiver

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def make_event(job_id: str, type_: str = "job.succeeded", site: str = "site1", at: datetime | None = None) -> Event:
    body = json.dumps({"type": type_, "job_id": job_id, "status": type_.split(".")[1]}).encode()
    return Event(f"evt_{job_id}", job_id, site, type_, body, at or datetime.now(UTC))


class Harness:
    """The real service on Azurite tables and queue, a real HTTP sender, and an injected clock."""

    def __init__(self, connection: str, unique: str, send_timeout: float = 2.0) -> None:
        queue_name = f"notifications-{unique}"
        self.clock = Clock()
        self.queue = QueueClient.from_connection_string(connection, queue_name)
        self.service = WebhookService(
            TableWebhookStore(TableServiceClient.from_connection_string(connection), prefix=f"t{unique}"),
            StorageNotificationQueue(
                QueueClient.from_connection_string(
                    connection, queue_name, message_encode_policy=TextBase64EncodePolicy()
                )
            ),
            EndpointPolicy(allow_loopback=True),
            send=lambda t, b, h: endpoint.post(t, b, h, timeout=send_timeout),
            clock=self.clock,
        )

    def event(self, job_id: str, type_: str = "job.succeeded", site: str = "site1") -> Event:
        return make_event(job_id, type_, site, self.clock())

    def messages(self) -> list[dict[str, str]]:
        """Every notification visible on the queue, taken off it: a message received and left there would be
        visible again once its visibility timeout lapsed, and a later call would count it again."""
        found = []
        for m in self.queue.receive_messages(messages_per_page=32, visibility_timeout=60):
            found.append(json.loads(base64.b64decode(m.content)))
            self.queue.delete_message(m)
        return found

    def run_until_settled(self, event_id: str, sub_id: str, max_attempts: int = 12) -> str:
        """Play the queue trigger: deliver, then jump the clock to the next attempt, until terminal."""
        for _ in range(max_attempts):
            state = self.service.deliver(event_id, sub_id)
            if state.terminal:
                return state.value
            delivery = self.service.store.get_delivery(event_id, sub_id)
            self.clock.now = max(self.clock.now, delivery.next_attempt_at)
        return "pending"


@pytest.fixture
def harness(storage_connection: str, unique: str) -> Harness:
    return Harness(storage_connection, unique)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r
