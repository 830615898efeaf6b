"""A retry's queue message is never visible before its attempt is due, and the instance that takes it attempts it
even when its clock runs a few seconds behind the sender's (clock skew between instances): dropped as an early
duplicate, the retry would wait for the sweep, minutes late. A message well ahead of its attempt is still a
duplicate and sends nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from typing import cast

import pytest
from azure.storage.queue import QueueClient

from shared.adapters.azure_notification_queue import StorageNotificationQueue
from shared.webhooks import endpoint
from shared.webhooks.endpoint import EndpointPolicy
from shared.webhooks.models import DeliveryState, Event
from shared.webhooks.service import WebhookService
from tests.unit.api.fakes import MemoryWebhookStore
from tests.unit.uploads.fakes import Clock

SKEW = timedelta(seconds=2)  # the taking instance's clock behind the sending one's


class RecordingQueueClient:
    """The QueueClient calls the notification queue makes; remembers each message's visibility timeout."""

    def __init__(self) -> None:
        self.visible_after_s: list[int] = []

    def create_queue(self) -> None:
        pass

    def send_message(self, content: str, visibility_timeout: int | None = None) -> None:
        self.visible_after_s.append(visibility_timeout or 0)


@pytest.mark.parametrize("delay_s", [0.001, 0.5, 4.2, 4.999, 5.0, 29.7])
def test_a_delayed_message_becomes_visible_at_its_delay_not_before(delay_s: float) -> None:
    client = RecordingQueueClient()
    StorageNotificationQueue(cast("QueueClient", client)).send("evt_1", "sub_1", timedelta(seconds=delay_s))
    [visible_after_s] = client.visible_after_s
    assert delay_s <= visible_after_s < delay_s + 1  # whole seconds, as the queue takes them


def test_a_retry_taken_by_an_instance_whose_clock_is_behind_is_attempted() -> None:
    client, clock, sent = RecordingQueueClient(), Clock(datetime(2026, 12, 1, 12, 0, tzinfo=UTC)), []

    def send(_target: endpoint.Target, _body: bytes, _headers: dict[str, str]) -> endpoint.Response:
        sent.append(clock.now)
        return endpoint.Response(503, error=None)

    service = WebhookService(MemoryWebhookStore(), StorageNotificationQueue(cast("QueueClient", client)),
                             EndpointPolicy(allow_loopback=True), clock=clock, send=send,
                             resolve=lambda _h, _p: [ip_address("127.0.0.1")])  # fmt: skip
    sub, _ = service.subscribe("http://127.0.0.1:9/hook", None, None)
    event = Event("evt_1", "j1", "site1", "job.succeeded", b"{}", clock())
    service.publish(event)
    assert service.deliver(event.id, sub.id) is DeliveryState.PENDING  # 503: the retry's message is sent
    due = service.store.get_delivery(event.id, sub.id).next_attempt_at
    # The message is taken as soon as it is visible, by an instance whose clock reads SKEW less.
    clock.now += timedelta(seconds=client.visible_after_s[-1]) - SKEW
    assert clock.now < due  # early by that clock
    assert service.deliver(event.id, sub.id) is DeliveryState.PENDING and len(sent) == 2  # attempted: 503 again
    # The same message again (a redelivery), minutes before the next attempt: a duplicate, nothing sent.
    assert service.store.get_delivery(event.id, sub.id).next_attempt_at - clock.now > timedelta(minutes=1)
    assert service.deliver(event.id, sub.id) is DeliveryState.PENDING and len(sent) == 2


def test_a_duplicate_taken_just_after_an_attempt_does_not_send_the_next_one_early() -> None:
    client, clock, sent = RecordingQueueClient(), Clock(datetime(2026, 12, 1, 12, 0, tzinfo=UTC)), []

    def send(_target: endpoint.Target, _body: bytes, _headers: dict[str, str]) -> endpoint.Response:
        sent.append(clock.now)
        return endpoint.Response(429, headers={"Retry-After": "4"})

    service = WebhookService(MemoryWebhookStore(), StorageNotificationQueue(cast("QueueClient", client)),
                             EndpointPolicy(allow_loopback=True), clock=clock, send=send,
                             resolve=lambda _h, _p: [ip_address("127.0.0.1")], retry_scale=0.1)  # fmt: skip
    sub, _ = service.subscribe("http://127.0.0.1:9/hook", None, None)
    event = Event("evt_1", "j1", "site1", "job.succeeded", b"{}", clock())
    service.publish(event)
    assert service.deliver(event.id, sub.id) is DeliveryState.PENDING and len(sent) == 1
    wait = service.store.get_delivery(event.id, sub.id).next_attempt_at - clock.now
    assert wait == timedelta(seconds=4)  # the receiver's Retry-After, longer than the (scaled) schedule's
    clock.now += timedelta(seconds=0.2)  # the same message again (a redelivery), at once: nothing is sent
    assert service.deliver(event.id, sub.id) is DeliveryState.PENDING and len(sent) == 1
