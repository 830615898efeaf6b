"""A webhook attempt in flight while its event is erased (`sitelens erase`, or the job's records expiring), on
Azurite: the attempt's outcome write upserts the delivery's row in its subscription's index (and a due row, for a
retry) before it finds the delivery gone. Nothing finds those rows afterwards (erasure goes from the event's
deliveries), so the write deletes them again before it raises."""

from __future__ import annotations

import pytest
from azure.data.tables import TableServiceClient

from shared.adapters.azure_erasure import TableEventErasure
from shared.adapters.azure_webhook_rows import DUE
from shared.adapters.azure_webhook_store import DELIVERY_INDEX
from shared.errors import NotFound
from shared.webhooks import endpoint
from tests.integration.webhooks.conftest import Harness
from tests.support.receiver import Receiver, Reply

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("status", [200, 503], ids=["delivered", "retried"])
def test_an_attempt_whose_event_is_erased_meanwhile_leaves_no_index_row(
    harness: Harness, receiver: Receiver, storage_connection, unique, status
):
    tables = TableServiceClient.from_connection_string(storage_connection)
    erasure = TableEventErasure(tables, prefix=f"t{unique}")
    receiver.script = [Reply(status)]
    subscription, _ = harness.service.subscribe(receiver.url, None, None)
    event = harness.event("job1")
    harness.service.publish(event)
    sent = harness.service.send

    def erased_while_sending(target: endpoint.Target, body: bytes, headers: dict[str, str]) -> endpoint.Response:
        assert erasure.erase_event(event.id) == 2  # the event and its one delivery
        return sent(target, body, headers)

    harness.service.send = erased_while_sending
    with pytest.raises(NotFound):
        harness.service.deliver(event.id, subscription.id)

    assert len(receiver.received) == 1
    index = tables.get_table_client(f"t{unique}{DELIVERY_INDEX}")
    rows = index.query_entities("PartitionKey eq @sub or PartitionKey eq @due",
                                parameters={"sub": subscription.id, "due": DUE})  # fmt: skip
    assert [f"{row['PartitionKey']}|{row['RowKey']}" for row in rows] == []
    assert harness.service.recent_deliveries(subscription.id, 10) == []
