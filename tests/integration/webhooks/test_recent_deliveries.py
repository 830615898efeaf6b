"""A subscription's recent deliveries on Azurite: read from its index partition, newest first and bounded,
with each outcome taken from the delivery's own row (the index only points to it)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from azure.data.tables import TableServiceClient

from shared.adapters.azure_webhook_rows import delivery_row, index_entry
from shared.adapters.azure_webhook_store import DELIVERIES, DELIVERY_INDEX, TableWebhookStore
from shared.webhooks.models import DeliveryState
from tests.integration.webhooks.conftest import Harness
from tests.support.receiver import Receiver, Reply

pytestmark = pytest.mark.integration


def index_rows(storage_connection: str, unique: str, subscription_id: str) -> list[dict[str, Any]]:
    raw = TableServiceClient.from_connection_string(storage_connection).get_table_client(f"t{unique}{DELIVERY_INDEX}")
    return list(raw.query_entities("PartitionKey eq @p", parameters={"p": subscription_id}))


def test_delivered_retrying_and_queued_deliveries_are_listed_newest_first(harness: Harness, receiver: Receiver):
    receiver.script = [Reply(200), Reply(503)]
    sub, _ = harness.service.subscribe(receiver.url, "site1", None)
    other, _ = harness.service.subscribe(receiver.url, "site2", None)
    ids = []
    for n in range(3):
        harness.clock.advance(timedelta(seconds=5))
        event = harness.event(f"job{n}")
        harness.service.publish(event)
        ids.append(event.id)
    assert harness.service.deliver(ids[0], sub.id) is DeliveryState.DELIVERED
    assert harness.service.deliver(ids[1], sub.id) is DeliveryState.PENDING  # 503: a retry is scheduled

    recent = harness.service.store.recent_deliveries(sub.id, 10)
    assert [d.event_id for d in recent] == ids[::-1]
    assert [d.state for d in recent] == [DeliveryState.PENDING, DeliveryState.PENDING, DeliveryState.DELIVERED]
    assert [[a.status for a in d.attempts] for d in recent] == [[], [503], [200]]
    assert [d.event_id for d in harness.service.store.recent_deliveries(sub.id, 2)] == ids[:0:-1]
    assert harness.service.store.recent_deliveries(other.id, 10) == []  # site2 got none of them
    # Pairs with their events through the service: what the API shows as job and type.
    assert [(e.job_id if e else None) for _, e in harness.service.recent_deliveries(sub.id, 1)] == ["job2"]


def test_each_update_upserts_the_same_index_row(harness: Harness, receiver: Receiver, storage_connection, unique):
    receiver.script = [Reply(500), Reply(500), Reply(200)]
    sub, _ = harness.service.subscribe(receiver.url, None, None)
    event = harness.event("job-retried")
    harness.service.publish(event)
    assert harness.run_until_settled(event.id, sub.id) == "delivered"
    [row] = index_rows(storage_connection, unique, sub.id)  # six writes of the delivery, one index row
    assert (row["EventId"], row["State"]) == (event.id, "delivered")
    [delivery] = harness.service.store.recent_deliveries(sub.id, 5)
    assert [a.status for a in delivery.attempts] == [500, 500, 200]


def test_an_event_published_again_is_listed_once(harness: Harness, receiver: Receiver, storage_connection, unique):
    sub, _ = harness.service.subscribe(receiver.url, None, None)
    event = harness.event("job-twice")
    assert harness.service.publish(event) == 1
    harness.clock.advance(timedelta(seconds=30))  # a completion handled twice, later: a new time, no new delivery
    assert harness.service.publish(event) == 1  # the same delivery, its first attempt not yet made: queued again
    assert [d.event_id for d in harness.service.store.recent_deliveries(sub.id, 5)] == [event.id]
    assert len(index_rows(storage_connection, unique, sub.id)) == 1  # the second publish's row is gone
    # Were that delete lost (the process died first), the row is still not read as a second delivery.
    delivery = harness.service.store.get_delivery(event.id, sub.id)
    raw = TableServiceClient.from_connection_string(storage_connection).get_table_client(f"t{unique}{DELIVERY_INDEX}")
    later = index_entry(replace(delivery, created_at=harness.clock()))
    assert later is not None
    raw.create_entity(later)
    assert len(index_rows(storage_connection, unique, sub.id)) == 2
    assert [d.event_id for d in harness.service.store.recent_deliveries(sub.id, 5)] == [event.id]


def test_the_outcome_comes_from_the_delivery_not_the_index(harness: Harness, receiver: Receiver, storage_connection,
                                                         unique):  # fmt: skip
    receiver.script = [Reply(410)]
    sub, _ = harness.service.subscribe(receiver.url, None, None)
    event = harness.event("job-gone")
    harness.service.publish(event)
    assert harness.run_until_settled(event.id, sub.id) == "failed"
    # The delivery is replayed and delivered, but its index row is not updated (a process that died in between).
    store = harness.service.store
    delivered = replace(store.get_delivery(event.id, sub.id), state=DeliveryState.DELIVERED, failure_reason=None)
    raw = TableServiceClient.from_connection_string(storage_connection).get_table_client(f"t{unique}{DELIVERIES}")
    raw.upsert_entity(delivery_row(delivered))
    [row] = index_rows(storage_connection, unique, sub.id)
    assert row["State"] == "failed"  # the stale hint
    [listed] = store.recent_deliveries(sub.id, 5)
    assert (listed.state, listed.failure_reason) == (DeliveryState.DELIVERED, None)


def test_an_index_row_whose_delivery_never_came_is_skipped_and_old_rows_are_not_read(
    harness: Harness, receiver: Receiver, storage_connection, unique
):
    sub, _ = harness.service.subscribe(receiver.url, None, None)
    events = []
    for n in range(2):
        harness.clock.advance(timedelta(seconds=1))
        events.append(harness.event(f"job-ok{n}"))
        harness.service.publish(events[-1])
    raw = TableServiceClient.from_connection_string(storage_connection).get_table_client(f"t{unique}{DELIVERY_INDEX}")
    newest = min(r["RowKey"] for r in index_rows(storage_connection, unique, sub.id))
    oldest = max(r["RowKey"] for r in index_rows(storage_connection, unique, sub.id))
    # Newer than both: an index row of a create that died before its delivery was written.
    raw.create_entity({"PartitionKey": sub.id, "RowKey": "0" + newest[1:], "EventId": "evt_never"})
    # Older than both and unreadable (no EventId): were the whole partition read, this would fail.
    raw.create_entity({"PartitionKey": sub.id, "RowKey": oldest + "~zz"})
    store = harness.service.store
    assert [d.event_id for d in store.recent_deliveries(sub.id, 3)] == [e.id for e in events[::-1]]
    assert [d.event_id for d in store.recent_deliveries(sub.id, 2)] == [events[1].id]  # the dead row took a place


def test_deliveries_stored_before_the_index_are_not_listed_and_do_not_break_it(harness: Harness,
                                                                               storage_connection, unique):  # fmt: skip
    store = harness.service.store
    assert isinstance(store, TableWebhookStore)
    with Receiver() as receiver:
        sub, _ = harness.service.subscribe(receiver.url, None, None)
        event = harness.event("job-new")
        harness.service.publish(event)
        old = replace(store.get_delivery(event.id, sub.id), event_id="evt_old", created_at=None)
        raw = TableServiceClient.from_connection_string(storage_connection).get_table_client(f"t{unique}{DELIVERIES}")
        raw.create_entity({k: v for k, v in delivery_row(old).items() if k != "CreatedAt"})  # no such column
        assert store.update_delivery(replace(store.get_delivery("evt_old", sub.id), failure_reason="x")).etag
        assert [d.event_id for d in store.recent_deliveries(sub.id, 10)] == [event.id]
