"""A delivery replayed hundreds of times, on Azurite with the real table store and a loopback receiver that
answers 500: every write succeeds (Table storage refuses a string property over 32K UTF-16 units), the delivery
stays failed, listed and replayable, and its count of attempts stays true. A delivery that already holds
nearly that much is trimmed by its next attempt instead of being stuck pending."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from azure.data.tables import TableServiceClient

from shared.adapters.azure_webhook_rows import delivery_row
from shared.adapters.azure_webhook_store import DELIVERIES, TableWebhookStore
from shared.webhooks.models import FIRST_ATTEMPTS_KEPT, LATEST_ATTEMPTS_KEPT, Attempt, DeliveryState
from shared.webhooks.retry import MAX_ATTEMPTS
from tests.integration.webhooks.conftest import Harness
from tests.support.receiver import Receiver, Reply

pytestmark = pytest.mark.integration

MAX_PROPERTY_UNITS = 32 * 1024 - 1  # what Azurite and Table storage take in one string property
REPLAYS = 300
REFUSED = "ConnectionRefusedError: [Errno 111] Connection refused"


def store_of(harness: Harness) -> TableWebhookStore:
    assert isinstance(harness.service.store, TableWebhookStore)
    return harness.service.store


def stored_attempts_chars(storage_connection: str, unique: str, event_id: str, sub_id: str) -> int:
    table = TableServiceClient.from_connection_string(storage_connection).get_table_client(f"t{unique}{DELIVERIES}")
    return len(table.get_entity(event_id, sub_id)["Attempts"])


def test_300_replays_of_a_failing_delivery_all_write_and_it_stays_failed_and_replayable(
    harness: Harness, storage_connection: str, unique: str
) -> None:
    store = store_of(harness)
    with Receiver([Reply(500)] * (MAX_ATTEMPTS + REPLAYS + 1)) as receiver:
        sub, _ = harness.service.subscribe(receiver.url, None, None)
        event = harness.event("job-replayed")
        harness.service.publish(event)
        assert harness.run_until_settled(event.id, sub.id) == "failed"
        largest = 0
        for _ in range(REPLAYS):
            harness.clock.advance(timedelta(hours=1))  # a script that replays failed deliveries hourly
            harness.service.replay(event.id, sub.id)
            assert harness.service.deliver(event.id, sub.id) is DeliveryState.FAILED
            largest = max(largest, stored_attempts_chars(storage_connection, unique, event.id, sub.id))
        made = MAX_ATTEMPTS + REPLAYS
        assert len(receiver.wait_for(made)) == made
        delivery = store.get_delivery(event.id, sub.id)
        kept = [*range(1, FIRST_ATTEMPTS_KEPT + 1), *range(made - LATEST_ATTEMPTS_KEPT + 1, made + 1)]
        assert [a.number for a in delivery.attempts] == kept and {a.status for a in delivery.attempts} == {500}
        assert delivery.attempt_count == made and delivery.failure_reason == "retries_exhausted"
        assert largest < MAX_PROPERTY_UNITS // 2  # bounded well inside the limit, not just under it
        # Still listed as failed, and replayable once more.
        [listed], _ = store.failed_deliveries(sub.id, 10, None)
        assert listed.event_id == event.id and listed.attempt_count == made
        harness.service.replay(event.id, sub.id)
        assert harness.service.deliver(event.id, sub.id) is DeliveryState.FAILED
        assert len(receiver.wait_for(made + 1)) == made + 1


def test_a_delivery_holding_nearly_a_full_row_is_trimmed_by_its_next_attempt(
    harness: Harness, storage_connection: str, unique: str
) -> None:
    store = store_of(harness)
    with Receiver([Reply(500)]) as receiver:
        sub, _ = harness.service.subscribe(receiver.url, None, None)
        event = harness.event("job-full-row")
        harness.service.publish(event)
        pending = store.get_delivery(event.id, sub.id)
        # Finished attempts filling the row to within 10 characters of what it takes: no entry more would fit.
        now = harness.clock()
        attempts = [Attempt(1, now, now, None, REFUSED)]
        while len(delivery_row(replace(pending, attempts=tuple(attempts)))["Attempts"]) < MAX_PROPERTY_UNITS - 400:
            attempts.append(Attempt(len(attempts) + 1, now, now, None, REFUSED))
        room = MAX_PROPERTY_UNITS - 10 - len(delivery_row(replace(pending, attempts=tuple(attempts)))["Attempts"])
        attempts[-1] = replace(attempts[-1], error=REFUSED + "." * room)
        full = replace(pending, attempts=tuple(attempts))
        assert len(delivery_row(full)["Attempts"]) == MAX_PROPERTY_UNITS - 10
        store.update_delivery(full, was=pending)
        assert harness.service.deliver(event.id, sub.id) is DeliveryState.FAILED
        receiver.wait_for(1)
    delivery = store.get_delivery(event.id, sub.id)
    assert delivery.attempt_count == len(attempts) + 1 and delivery.attempts[-1].status == 500
    assert len(delivery.attempts) == FIRST_ATTEMPTS_KEPT + LATEST_ATTEMPTS_KEPT
    assert stored_attempts_chars(storage_connection, unique, event.id, sub.id) < MAX_PROPERTY_UNITS // 2
