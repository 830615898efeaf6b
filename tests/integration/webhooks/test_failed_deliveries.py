"""A subscription's failed deliveries on Azurite: read a page at a time from its index partition, newest first,
each outcome taken from the delivery's own row; a failed delivery is listed even when a write died half way."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from azure.core.exceptions import ServiceResponseError
from azure.data.tables import TableServiceClient

from shared.adapters.azure_webhook_rows import delivery_row
from shared.adapters.azure_webhook_store import DELIVERIES, DELIVERY_INDEX, TableWebhookStore
from shared.errors import InvalidInput, TransientError
from shared.webhooks.models import DeliveryState
from tests.integration.webhooks.conftest import Harness
from tests.support.receiver import Receiver, Reply

pytestmark = pytest.mark.integration


def listed(store: TableWebhookStore, subscription_id: str, limit: int) -> list[list[str]]:
    """Every page's event ids, following the continuation to the end."""
    pages, token = [], None
    while True:
        found, token = store.failed_deliveries(subscription_id, limit, token)
        assert len(found) <= limit
        pages.append([d.event_id for d in found])
        if token is None:
            return pages
        assert len(pages) < 20, "the listing never ends"


def every(store: TableWebhookStore, subscription_id: str, limit: int) -> list[str]:
    return [event_id for page in listed(store, subscription_id, limit) for event_id in page]


def store_of(harness: Harness) -> TableWebhookStore:
    assert isinstance(harness.service.store, TableWebhookStore)
    return harness.service.store


def test_failed_deliveries_are_paged_newest_first_and_only_this_subscriptions(harness: Harness,
                                                                              storage_connection, unique):  # fmt: skip
    store = store_of(harness)
    sub, _ = harness.service.subscribe("http://127.0.0.1:9/a", None, None)
    other, _ = harness.service.subscribe("http://127.0.0.1:9/b", None, None)
    ids = []
    for n in range(6):
        harness.clock.advance(timedelta(seconds=5))
        event = harness.event(f"job-f{n}")
        assert harness.service.publish(event) == 2
        ids.append(event.id)
    for event_id in ids[:5]:  # the sixth stays pending
        for subscription_id in (sub.id, other.id):
            delivery = store.get_delivery(event_id, subscription_id)
            state = DeliveryState.DELIVERED if event_id == ids[2] else DeliveryState.FAILED
            store.update_delivery(replace(delivery, state=state, failure_reason="retries_exhausted"))
    # A failed delivery replayed and delivered whose index row was left saying failed: the delivery is the truth.
    raw = TableServiceClient.from_connection_string(storage_connection).get_table_client(f"t{unique}{DELIVERIES}")
    raw.upsert_entity(delivery_row(replace(store.get_delivery(ids[4], sub.id), state=DeliveryState.DELIVERED)))

    assert every(store, sub.id, 2) == [ids[3], ids[1], ids[0]]
    assert listed(store, sub.id, 50) == [[ids[3], ids[1], ids[0]]]
    assert every(store, other.id, 1) == [ids[4], ids[3], ids[1], ids[0]]
    first = store.failed_deliveries(sub.id, 50, None)[0][0]
    assert (first.state, first.failure_reason) == (DeliveryState.FAILED, "retries_exhausted")


def test_a_continuation_is_read_only_for_the_subscription_it_was_given_for(harness: Harness):
    store = store_of(harness)
    sub, _ = harness.service.subscribe("http://127.0.0.1:9/a", None, None)
    other, _ = harness.service.subscribe("http://127.0.0.1:9/b", None, None)
    for n in range(2):
        harness.clock.advance(timedelta(seconds=5))
        event = harness.event(f"job-t{n}")
        harness.service.publish(event)
        store.update_delivery(replace(store.get_delivery(event.id, sub.id), state=DeliveryState.FAILED))
    _, token = store.failed_deliveries(sub.id, 1, None)
    assert token is not None and store.failed_deliveries(sub.id, 1, token)[1] is None
    for subscription_id, bad in [(other.id, token), (sub.id, "not json"), (sub.id, "[]"),
                                 (sub.id, "[1]"), (sub.id, "5"), (sub.id, f'["{sub.id}", null, null]'),
                                 (sub.id, f'["{sub.id}", 1, 2]'), (sub.id, '{"a": 1}')]:  # fmt: skip
        with pytest.raises(InvalidInput) as caught:
            store.failed_deliveries(subscription_id, 1, bad)
        assert caught.value.reason == "bad_query"


def test_a_delivery_that_failed_is_listed_even_when_its_index_write_failed(harness: Harness, receiver: Receiver,
                                                                            monkeypatch):  # fmt: skip
    store = store_of(harness)
    receiver.script = [Reply(410), Reply(410)]
    sub, _ = harness.service.subscribe(receiver.url, None, None)
    event = harness.event("job-flaky")
    harness.service.publish(event)
    index = store._tables[DELIVERY_INDEX]
    upsert = index.upsert_entity

    def flaky(entity, **kwargs):  # storage unreachable for the write that records the failure
        if entity["State"] == DeliveryState.FAILED.value:
            raise ServiceResponseError("connection reset")
        return upsert(entity, **kwargs)

    monkeypatch.setattr(index, "upsert_entity", flaky)
    with pytest.raises(TransientError):
        harness.service.deliver(event.id, sub.id)  # the 410 arrived; recording it failed half way
    monkeypatch.undo()

    def truth() -> list[str]:
        return [event.id] if store.get_delivery(event.id, sub.id).state is DeliveryState.FAILED else []

    assert every(store, sub.id, 10) == truth()  # whatever the write left, a failed delivery is listed
    # The sweep closes the attempt the failed write left open and re-drives it; the next attempt fails for good.
    harness.clock.advance(timedelta(minutes=5))
    assert harness.service.sweep() == 1
    assert harness.service.deliver(event.id, sub.id) is DeliveryState.FAILED
    assert truth() == [event.id] and listed(store, sub.id, 10) == [[event.id]]
