"""The index of due deliveries on Azurite: the sweep finds a lost delivery through the `due` partition instead of
filtering every delivery ever made, a delivery keeps exactly one due row while pending (moved with its next
attempt, gone once it finished), stale rows are dropped by the sweep, and deliveries queued before the index
are indexed once (shared/adapters/azure_webhook_due.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from azure.data.tables import TableClient, TableServiceClient

from shared.adapters import azure_webhook_due
from shared.adapters.azure_webhook_due import DUE_MARK
from shared.adapters.azure_webhook_rows import DUE, delivery_row, due_row
from shared.adapters.azure_webhook_store import DELIVERIES, DELIVERY_INDEX
from shared.webhooks.models import Delivery, DeliveryState
from tests.support.receiver import Reply

pytestmark = pytest.mark.integration


@pytest.fixture
def index(storage_connection: str, unique: str, harness) -> TableClient:
    """The harness store's `webhookdeliveryindex` table, read and written directly."""
    return TableServiceClient.from_connection_string(storage_connection).get_table_client(f"t{unique}{DELIVERY_INDEX}")


@pytest.fixture
def deliveries(storage_connection: str, unique: str, harness) -> TableClient:
    return TableServiceClient.from_connection_string(storage_connection).get_table_client(f"t{unique}{DELIVERIES}")


def due_keys(index: TableClient) -> list[str]:
    return [str(row["RowKey"]) for row in index.query_entities("PartitionKey eq @due", parameters={"due": DUE})]


def stale_row(delivery: Delivery) -> dict[str, Any]:
    """The due row the delivery has, or had while it was pending."""
    row = due_row(replace(delivery, state=DeliveryState.PENDING))
    assert row is not None
    return row


def key_of(delivery: Delivery) -> str:
    return str(stale_row(delivery)["RowKey"])


def test_a_lost_delivery_is_swept_through_the_due_index_not_a_read_of_every_delivery(harness, receiver, index,
                                                                                      deliveries):  # fmt: skip
    assert harness.service.sweep() == 0  # an empty store; deliveries from before the index are looked for once
    # A pending row that cannot even be parsed: a sweep that filtered every delivery would read it and fail.
    deliveries.create_entity({"PartitionKey": "evt_garbled", "RowKey": "sub_x", "State": "pending",
                              "NextAttemptAt": "2000-01-01T00:00:00+00:00"})  # fmt: skip
    sub, _ = harness.service.subscribe(receiver.url, None, None)
    event = harness.event("job1")
    harness.service.publish(event)
    delivery = harness.service.store.get_delivery(event.id, sub.id)
    assert due_keys(index) == [key_of(delivery)]
    harness.messages()  # the message is lost
    harness.clock.advance(timedelta(minutes=5))
    assert harness.service.sweep() == 1
    assert harness.messages() == [{"event_id": event.id, "subscription_id": sub.id}]


def test_a_delivery_has_one_due_row_while_pending_moved_with_each_retry_and_none_once_finished(harness, receiver,
                                                                                               index):  # fmt: skip
    receiver.script = [Reply(503), Reply(200)]
    sub, _ = harness.service.subscribe(receiver.url, None, None)
    delivered, failed = harness.event("job2"), harness.event("job3")
    harness.service.publish(delivered)
    first = harness.service.store.get_delivery(delivered.id, sub.id)
    assert due_keys(index) == [key_of(first)]
    assert harness.service.deliver(delivered.id, sub.id) is DeliveryState.PENDING  # 503: the next attempt moves
    retry = harness.service.store.get_delivery(delivered.id, sub.id)
    assert retry.next_attempt_at > first.next_attempt_at and due_keys(index) == [key_of(retry)]
    assert harness.run_until_settled(delivered.id, sub.id) == "delivered"
    assert due_keys(index) == []
    receiver.script = [Reply(503)] * 10
    harness.service.publish(failed)
    assert harness.run_until_settled(failed.id, sub.id) == "failed"
    assert due_keys(index) == []
    harness.service.replay(failed.id, sub.id)  # pending again, due now
    assert due_keys(index) == [key_of(harness.service.store.get_delivery(failed.id, sub.id))]


def test_stale_due_rows_are_skipped_and_dropped_by_the_sweep(harness, receiver, index):
    sub, _ = harness.service.subscribe(receiver.url, None, None)
    done, moved = harness.event("job4"), harness.event("job5")
    harness.service.publish(done)
    harness.service.publish(moved)
    was_due = harness.service.store.get_delivery(done.id, sub.id)
    assert harness.service.deliver(done.id, sub.id) is DeliveryState.DELIVERED
    harness.messages()
    # What writes that died half way leave: the delivered one's row (its delete never came), a row of a time the
    # pending one no longer has, and a row whose delivery was never created.
    live = harness.service.store.get_delivery(moved.id, sub.id)
    harness.service.store.update_delivery(replace(live, next_attempt_at=live.next_attempt_at + timedelta(hours=1)))
    for stale in (was_due, live, replace(live, event_id="evt_never_created")):
        index.upsert_entity(stale_row(stale))
    harness.clock.advance(timedelta(minutes=5))
    assert harness.service.sweep() == 0
    assert harness.messages() == []
    assert due_keys(index) == [key_of(harness.service.store.get_delivery(moved.id, sub.id))]


def test_pending_deliveries_from_before_the_index_are_indexed_once_and_swept(harness, index, deliveries):
    old = Delivery("evt_old", "sub_old", DeliveryState.PENDING, harness.clock() - timedelta(minutes=10))
    deliveries.create_entity(delivery_row(old))  # as the store wrote it before: no due row
    finished = replace(old, event_id="evt_old_done", state=DeliveryState.DELIVERED)
    deliveries.create_entity(delivery_row(finished))
    assert harness.service.sweep() == 1
    assert harness.messages() == [{"event_id": "evt_old", "subscription_id": "sub_old"}]
    assert due_keys(index) == [key_of(old)]
    assert index.get_entity(*DUE_MARK)  # indexed once: the next store reads the index straight away


def test_a_sweep_reads_at_most_one_bounded_page_of_due_deliveries_oldest_first(harness, receiver, monkeypatch):
    monkeypatch.setattr(azure_webhook_due, "DUE_PER_SWEEP", 2)
    harness.service.subscribe(receiver.url, None, None)
    for n in range(3):
        harness.service.publish(harness.event(f"job_bound{n}"))
        harness.clock.advance(timedelta(seconds=1))
    harness.messages()
    harness.clock.advance(timedelta(minutes=5))
    assert harness.service.sweep() == 2
    assert sorted(m["event_id"] for m in harness.messages()) == ["evt_job_bound0", "evt_job_bound1"]
