"""The subscriptions index by site on Azurite: an event's subscriptions are read from its site's index and
the fleet-wide one, so a photo's read no longer grows with every subscription of the fleet (docs/scale.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from azure.data.tables import TableServiceClient

from shared.adapters.azure_webhook_rows import subscription_row
from shared.adapters.azure_webhook_store import INDEX_MARK, SUBSCRIPTIONS, TableWebhookStore
from shared.webhooks.models import SigningSecret, Subscription

pytestmark = pytest.mark.integration


def subscription(n: int, site: str) -> Subscription:
    return Subscription(f"sub_{n:032d}", f"http://127.0.0.1:9/hook{n}", site, frozenset({"job.succeeded"}),
                        (SigningSecret("s"),), datetime.now(UTC))  # fmt: skip


@pytest.fixture
def tables(storage_connection: str) -> TableServiceClient:
    return TableServiceClient.from_connection_string(storage_connection)


def test_an_event_reads_its_sites_and_the_fleet_wide_subscriptions_only(tables, unique):
    store = TableWebhookStore(tables, prefix=f"t{unique}")
    for n, site in enumerate(["site-a", "site-a", "*", "site-b", "site-c"]):
        store.add_subscription(subscription(n, site))
    # A row of another site that cannot even be parsed: were the whole partition read, this would fail.
    raw = tables.get_table_client(f"t{unique}{SUBSCRIPTIONS}")
    raw.create_entity({"PartitionKey": "subscription", "RowKey": "sub_garbled", "Site": "site-b"})
    assert [s.id for s in store.subscriptions_for("site-a")] == [subscription(n, "").id for n in (0, 1, 2)]
    assert [s.site for s in store.subscriptions_for("site-d")] == ["*"]
    store.delete_subscription(subscription(0, "").id)
    assert [s.id for s in store.subscriptions_for("site-a")] == [subscription(n, "").id for n in (1, 2)]


def test_an_index_row_whose_subscription_never_came_is_skipped(tables, unique):
    store = TableWebhookStore(tables, prefix=f"t{unique}")
    store.add_subscription(subscription(1, "site-a"))
    raw = tables.get_table_client(f"t{unique}{SUBSCRIPTIONS}")
    raw.create_entity({"PartitionKey": "site~site-a", "RowKey": subscription(2, "").id})  # a create that died
    assert [s.id for s in store.subscriptions_for("site-a")] == [subscription(1, "").id]


def test_subscriptions_from_before_the_index_are_indexed_on_the_first_read(tables, unique):
    prefix = f"t{unique}"
    TableWebhookStore(tables, prefix=prefix)  # creates the tables
    raw = tables.get_table_client(f"{prefix}{SUBSCRIPTIONS}")
    for n, site in ((1, "site-a"), (2, "*"), (3, "site-b")):  # as the store wrote them before: no index rows
        raw.create_entity(subscription_row(subscription(n, site)))
    store = TableWebhookStore(tables, prefix=prefix)
    assert [s.id for s in store.subscriptions_for("site-a")] == [subscription(n, "").id for n in (1, 2)]
    assert raw.get_entity(*INDEX_MARK)  # indexed once: the next store reads the index straight away
    assert [s.id for s in TableWebhookStore(tables, prefix=prefix).subscriptions_for("site-b")] == [
        subscription(n, "").id for n in (2, 3)
    ]
