"""Erasing a photo's rows from Azure Table storage, for shared/jobs/erasure.py (an operator's command) and record
expiry; and one event again, for a publish that finds its job erased meanwhile (shared/jobs/finisher.py).

- `erase_rows`: every row a query finds, deleted one by one (Table storage has no delete by query);
- `same_content`: the site's jobs whose photo has given bytes, by a filter over every job row. The content claims
  do not list them all (a photo whose owner had already succeeded finishes at once and is never listed as a
  follower), so only the jobs themselves tell;
- `TableEventErasure`: one webhook event, its deliveries, and each delivery's rows in `webhookdeliveryindex` (its
  subscription's, at its creation time, and the due one while it is pending). An index row left by a write that
  died half way names no delivery: readers skip it and the sweep deletes a due one (azure_webhook_store.py).

A row already gone is no error (the SDK's delete answers nothing for it), so an erasure that died half way is
finished by running it again.
"""

from __future__ import annotations

import functools

from azure.data.tables import TableClient, TableServiceClient

from shared.adapters.azure_errors import call, translated
from shared.adapters.azure_webhook_rows import delete_if_present, delivery_of, due_row, index_entry
from shared.adapters.azure_webhook_store import DELIVERIES, DELIVERY_INDEX, EVENTS


def erase_rows(table: TableClient, query: str, parameters: dict[str, str]) -> int:
    """Delete every row `query` finds; how many it found."""
    what = f"erasing from {table.table_name}"
    with translated(what):  # the pages are fetched while listing
        found = table.query_entities(query, parameters=parameters, select=["PartitionKey", "RowKey"])
        keys = [(str(row["PartitionKey"]), str(row["RowKey"])) for row in found]
    for key in keys:
        call(what, table.delete_entity, *key)
    return len(keys)


def same_content(jobs: TableClient, site: str, sha256: str) -> list[str]:
    """Ids of the jobs of `site` whose photo's SHA-256 is `sha256`. The service filters every job row of the table,
    a page at a time: minutes for a table of millions, which an erasure can afford and the pipeline could not."""
    query = "RowKey eq 'job' and site eq @site and content_sha256 eq @sha"
    with translated("jobs with the same bytes"):  # the pages are fetched while listing
        found = jobs.query_entities(query, parameters={"site": site, "sha": sha256}, select=["PartitionKey"])
        return [str(row["PartitionKey"]) for row in found]


class TableEventErasure:
    def __init__(self, service: TableServiceClient, prefix: str = "") -> None:
        # The webhook store's tables, with its prefix (SITELENS_TABLE_PREFIX), made sure of at the first erasure, not
        # here: every instance's finisher holds one and almost never erases, and three create requests on each
        # instance's first photo would be spent for nothing (docs/scale.md).
        self._service, self._prefix = service, prefix

    @functools.cached_property
    def _tables(self) -> tuple[TableClient, TableClient, TableClient]:
        """The events, deliveries and delivery index tables, created if absent (an account without webhooks yet)."""
        create = self._service.create_table_if_not_exists
        events, deliveries, index = (call(f"{name} table", create, self._prefix + name)
                                     for name in (EVENTS, DELIVERIES, DELIVERY_INDEX))  # fmt: skip
        return events, deliveries, index

    def erase_event(self, event_id: str) -> int:
        """The deliveries' index rows first, then the deliveries, then the event: a run that dies half way leaves
        what the next run finds its way from."""
        events_table, deliveries_table, index = self._tables
        with translated("deliveries"):  # the pages are fetched while listing
            deliveries = [delivery_of(row) for row in deliveries_table.query_entities(
                "PartitionKey eq @event", parameters={"event": event_id})]  # fmt: skip
        for delivery in deliveries:
            for row in (index_entry(delivery), due_row(delivery)):
                if row is not None:
                    delete_if_present("delivery index", index, row)
            delete_if_present("delivery", deliveries_table, {"PartitionKey": event_id,
                                                              "RowKey": delivery.subscription_id})  # fmt: skip
        events = erase_rows(events_table, "PartitionKey eq @event", {"event": event_id})
        return events + len(deliveries)
