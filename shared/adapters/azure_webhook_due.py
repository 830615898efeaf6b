"""The index of due deliveries: what the webhook sweep reads instead of every delivery ever made.

A delivery's row (`webhookdeliveries`) is keyed by its event, so finding the pending ones due by a time is a
filter over the whole table, which Azure answers a page per 1,000 rows or 5 s; and finished deliveries are
kept, so that read would grow with every delivery ever made. Each pending delivery therefore also has a row in
`webhookdeliveryindex` under PK `due`, RK `{next attempt, 17 digits of microseconds}~{event id}~{subscription
id}`: the sweep reads the rows before its time from that one partition, oldest first, at most
`DUE_PER_SWEEP` a run, so its cost follows the deliveries due, not the history.

Ordering, as for the subscription's index: a delivery's due row is inserted before the write that makes it
pending at a time (its creation, a retry moving its next attempt, a replay) and the row of its previous time is
deleted after the write that leaves it (delivered, failed, cancelled, or moved). A write that dies or loses its
race in between leaves a row ahead of its delivery, never a pending delivery without its row. The delivery's
own row stays the truth: the sweep takes a due row only while its delivery is pending with that very next
attempt, and deletes any other (a delivery finished or moved since, or one whose create died half way). A
writer paused between its two writes for longer than the sweep's grace can see its new row deleted so; its
queue message, sent after the write, still drives the attempt.

Deliveries queued before the index existed have no due row: the first sweep of a store that finds no marker
row indexes every pending delivery with one filtered read of the deliveries, as the sweep used to read them
every time, then writes the marker, so it happens once per deployment (again only if it failed half way).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from azure.data.tables import TableClient

from shared.adapters.azure_errors import call, translated
from shared.adapters.azure_webhook_rows import (
    DUE,
    delete_if_present,
    delivery_of,
    due_key,
    due_row,
    insert_if_absent,
)
from shared.errors import NotFound
from shared.webhooks.models import Delivery, DeliveryState

# One page of the index a run (the most Azure returns at once); a run costs at most that many point reads. More
# due at once (an outage of the queue's consumer) wait, oldest first, for the next runs, two minutes apart.
DUE_PER_SWEEP = 1000
DUE_MARK = ("index", "due")  # present once every delivery queued before the index has its due row
WHAT = "due delivery index"


class DueIndex:
    def __init__(self, index: TableClient, deliveries: TableClient) -> None:
        self._index = index
        self._deliveries = deliveries
        self._backfilled = False

    def enter(self, delivery: Delivery, was: Delivery | None = None) -> dict[str, Any] | None:
        """Before the write that leaves `delivery` as given, replacing `was` (when the caller read it): its due
        row, unless `was` had that row already. Returns the row when this inserted it."""
        row = due_row(delivery)
        if row is None or (was is not None and due_row(was) == row):
            return None
        return row if insert_if_absent(WHAT, self._index, row) else None

    def leave(self, delivery: Delivery, was: Delivery | None = None) -> None:
        """After that write: the due row the delivery no longer has. Without `was`, a finished delivery's row at
        its own next attempt, which a finishing write keeps; any other is left to the sweep."""
        previous = due_row(was if was is not None else replace(delivery, state=DeliveryState.PENDING))
        if previous is not None and previous != due_row(delivery):
            self.drop(previous)

    def drop(self, row: dict[str, Any]) -> None:
        delete_if_present(WHAT, self._index, row)

    def due(self, before: datetime) -> list[Delivery]:
        """The pending deliveries whose next attempt is before `before`, oldest first, at most DUE_PER_SWEEP;
        each read from its own row. Due rows it finds stale are deleted."""
        self._backfill()
        with translated(WHAT):  # the page is fetched while iterating
            query: Any = self._index.query_entities(
                "PartitionKey eq @due and RowKey lt @before", parameters={"due": DUE, "before": due_key(before)},
                select=["RowKey", "EventId", "SubscriptionId"], results_per_page=DUE_PER_SWEEP,
            )  # fmt: skip
            rows = list(next(query.by_page(), ()))
        found = []
        for row in rows:
            try:
                delivery: Delivery | None = delivery_of(
                    call("delivery", self._deliveries.get_entity, row["EventId"], row["SubscriptionId"])
                )
            except NotFound:
                delivery = None  # its create died between the two writes
            current = due_row(delivery) if delivery is not None else None
            if delivery is not None and current is not None and current["RowKey"] == row["RowKey"]:
                found.append(delivery)
            else:
                self.drop({"PartitionKey": DUE, "RowKey": row["RowKey"]})
        return found

    def _backfill(self) -> None:
        if self._backfilled:
            return
        try:
            call(WHAT, self._index.get_entity, *DUE_MARK)
        except NotFound:  # deliveries from before the index: index them, then say so (both idempotent)
            pending = {"state": DeliveryState.PENDING.value}
            with translated("deliveries"):  # pages are fetched while iterating
                rows = list(self._deliveries.query_entities("State eq @state", parameters=pending))
            for entity in rows:
                self.enter(delivery_of(entity))
            insert_if_absent(WHAT, self._index, {"PartitionKey": DUE_MARK[0], "RowKey": DUE_MARK[1]})
        self._backfilled = True
