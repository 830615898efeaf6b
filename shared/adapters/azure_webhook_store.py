"""WebhookStore on Azure Table storage: subscriptions, events (the outbox) and deliveries.

Tables: `webhooksubscriptions` (PK "subscription", RK id), `webhookevents` (PK event id, RK "event"),
`webhookdeliveries` (PK event id, RK subscription id). Creates are insert-if-absent; updates are
replace-if-ETag-matches, so concurrent workers cannot overwrite each other.

Subscriptions are also indexed by site (`webhooksubscriptions`, PK `site~{site}` or `site~*` for the
fleet-wide ones, RK id): publishing an event reads the index of its site and of the whole fleet, then
those subscriptions by id, instead of every subscription. One partition read whole for every photo
saturates at 2,000 / (subscriptions + 1) photos/s (docs/scale.md); the index makes the read proportional to
the subscriptions that can want the event. The index row is written before the subscription and deleted
after it, so a crash leaves at worst an index row without a subscription, which readers skip; subscriptions
from before the index are indexed once per store, on the first read, under a marker row.

A subscription's registration (url, site and event types, hashed: `Subscription.registration`) has a row
beside it (PK "subscription", RK `registration~{hash}`, naming its holder), inserted in one transaction with
the subscription's row, so two concurrent creates of one registration cannot both be added. A delete removes
the row with its holder, in one transaction; a create takes it over, on its ETag, when its holder is disabled
(or gone: a subscription deleted before deletes removed it).

Deliveries are also indexed by subscription (`webhookdeliveryindex`, PK subscription id, RK the inverted
creation time in microseconds then the event id), so a subscription's newest deliveries, and its failed ones
(the rows whose `State` is failed), are read from one partition instead of a scan of every delivery. The index
row is inserted before the delivery and upserted before each of its updates, so an update that dies or loses
its race in between leaves the index ahead of its delivery, never behind: a failed delivery is listed (only
two updates racing, the loser's index write landing last, can leave the loser's state). Its `State` is
therefore only a hint: readers take each delivery's own row, which stays the truth, and skip an index row
whose delivery does not exist (a create that died half way), whose key is not its delivery's own creation time
(an event published again inserts a row for its new time; the delivery keeps its first, and that row is
deleted once the delivery's insert says it existed), or, listing failures, whose delivery has not failed. An
update that finds its delivery gone (erased with its event meanwhile) deletes the index and due rows it just wrote.
Deliveries without a creation time (queued before it was recorded) are not indexed, so neither listing shows
them.

Pending deliveries are also indexed by their next attempt (`webhookdeliveryindex`, PK `due`), so the sweep
reads the deliveries due from one partition instead of filtering every delivery ever made; written and read
with the same discipline, and filled once for deliveries from before it: shared/adapters/azure_webhook_due.py.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.data.tables import TableClient, TableServiceClient, UpdateMode

from shared.adapters.azure_errors import call, translated
from shared.adapters.azure_webhook_due import DueIndex
from shared.adapters.azure_webhook_rows import (
    delete_if_present,
    delivery_of,
    delivery_row,
    due_row,
    index_entry,
    index_row,
    insert_if_absent,
    listing_position,
    registration_row,
    subscription_of,
    subscription_row,
)
from shared.errors import Conflict, NotFound, TransientError
from shared.webhooks.models import ALL_SITES, Delivery, DeliveryState, Event, Subscription
from shared.webhooks.ports import DeliveryPage

SUBSCRIPTIONS, EVENTS, DELIVERIES = "webhooksubscriptions", "webhookevents", "webhookdeliveries"
DELIVERY_INDEX = "webhookdeliveryindex"
INDEX_MARK = ("index", "by-site")  # present once every subscription has its index row
# The subscription rows only: their ids start `sub_`, and '`' is the character after '_', so the range leaves out
# the registration rows of the same partition.
SUBSCRIPTION_ROWS = "PartitionKey eq 'subscription' and RowKey ge 'sub_' and RowKey lt 'sub`'"
CLAIM_TRIES = 5  # a registration taken over by a concurrent create is read again, this many times at most
TransactionStep = tuple[str, dict[str, Any]] | tuple[str, dict[str, Any], dict[str, Any]]


def _unchanged(entity: Any) -> dict[str, Any]:
    """The options of a transaction step that applies only while `entity` is as it was read."""
    return {"etag": entity.metadata["etag"], "match_condition": MatchConditions.IfNotModified}


class TableWebhookStore:
    def __init__(self, service: TableServiceClient, prefix: str = "") -> None:
        # A prefix lets several stores (tests, side-by-side environments) share one account.
        self._tables: dict[str, TableClient] = {}
        for name in (SUBSCRIPTIONS, EVENTS, DELIVERIES, DELIVERY_INDEX):
            self._tables[name] = call(f"{name} table", service.create_table_if_not_exists, prefix + name)
        self._indexed = False
        self._due = DueIndex(self._tables[DELIVERY_INDEX], self._tables[DELIVERIES])

    def _query(self, what: str, table: str, query: str, **kwargs: Any) -> list[Any]:
        with translated(what):  # pages are fetched while iterating, so the whole iteration is inside
            return list(self._tables[table].query_entities(query, **kwargs))

    def _insert(self, what: str, table: str, entity: dict[str, Any]) -> bool:
        return insert_if_absent(what, self._tables[table], entity)

    def _delete(self, what: str, table: str, row: dict[str, Any]) -> None:
        delete_if_present(what, self._tables[table], row)

    def _replace(self, table: str, entity: dict[str, Any], etag: str | None, what: str) -> str:
        condition = MatchConditions.IfNotModified if etag else MatchConditions.Unconditionally
        meta = call(what, self._tables[table].update_entity, entity, mode=UpdateMode.REPLACE, etag=etag,
                          match_condition=condition)  # fmt: skip
        return str(meta["etag"])

    # subscriptions
    def add_subscription(self, subscription: Subscription) -> str | None:
        """Adds it with its registration row in one transaction, or names the active holder (see the module doc)."""
        index = index_row(subscription.site, subscription.id)
        self._insert("subscription index", SUBSCRIPTIONS, index)
        for _ in range(CLAIM_TRIES):
            claim = self._claim(subscription)
            if isinstance(claim, str):  # its index row goes: every event's read would skip it for nothing
                self._delete("subscription index", SUBSCRIPTIONS, index)
                return claim
            try:
                call("subscription", self._tables[SUBSCRIPTIONS].submit_transaction,
                     [claim, ("create", subscription_row(subscription))])  # fmt: skip
            except (Conflict, NotFound):
                if self._existing([subscription.id]):
                    raise  # its id is taken: no claim can help
                # A concurrent create claimed the registration first, or its holder's delete removed the row this
                # takeover was conditional on: read who holds it now.
                continue
            return None
        raise TransientError(f"subscription registration {subscription.registration} kept changing")

    def _claim(self, subscription: Subscription) -> str | TransactionStep:
        """The transaction step that claims the registration, or the id of the active subscription holding it."""
        held = self._registration(subscription)
        if held is None:
            return ("create", registration_row(subscription))
        try:
            if self.get_subscription(str(held["SubscriptionId"])).disabled_reason is None:
                return str(held["SubscriptionId"])
        except NotFound:
            pass  # deleted since
        return ("update", registration_row(subscription), {"mode": UpdateMode.REPLACE, **_unchanged(held)})

    def _registration(self, subscription: Subscription) -> Any | None:
        """The row of its registration, whoever holds it, or None."""
        row = registration_row(subscription)
        try:
            return call("subscription registration", self._tables[SUBSCRIPTIONS].get_entity, row["PartitionKey"],
                        row["RowKey"])  # fmt: skip
        except NotFound:
            return None

    def get_subscription(self, subscription_id: str) -> Subscription:
        entity = call("subscription", self._tables[SUBSCRIPTIONS].get_entity, "subscription", subscription_id)
        return subscription_of(entity)

    def list_subscriptions(self) -> list[Subscription]:
        return [subscription_of(e) for e in self._query("subscriptions", SUBSCRIPTIONS, SUBSCRIPTION_ROWS)]

    def update_subscription(self, subscription: Subscription) -> Subscription:
        etag = self._replace(SUBSCRIPTIONS, subscription_row(subscription), subscription.etag, "subscription")
        return Subscription(**{**subscription.__dict__, "etag": etag})

    def delete_subscription(self, subscription_id: str) -> None:
        sub = self.get_subscription(subscription_id)  # 404 for an unknown id, as the API promises
        steps: list[TransactionStep] = [("delete", {"PartitionKey": "subscription", "RowKey": subscription_id})]
        held = self._registration(sub)
        if held is not None and held.get("SubscriptionId") == subscription_id:  # on its ETag: a create taking it
            # over since keeps it. Subscriptions from before registrations were recorded hold none.
            steps.append(("delete", held, _unchanged(held)))
        try:
            call("subscription", self._tables[SUBSCRIPTIONS].submit_transaction, steps)
        except (Conflict, NotFound):  # the registration changed hands, or this was deleted meanwhile
            call("subscription", self._tables[SUBSCRIPTIONS].delete_entity, "subscription", subscription_id)
        # A subscription not indexed yet has no row to delete.
        self._delete("subscription index", SUBSCRIPTIONS, index_row(sub.site, subscription_id))

    def subscriptions_for(self, site: str) -> list[Subscription]:
        """The subscriptions of `site` and the fleet-wide ones, read through the index (see the module doc)."""
        self._ensure_index()
        ids: set[str] = set()
        for key in {site, ALL_SITES}:
            rows = self._query("subscription index", SUBSCRIPTIONS, "PartitionKey eq @pk",
                               parameters={"pk": f"site~{key}"}, select=["RowKey"])  # fmt: skip
            ids.update(str(r["RowKey"]) for r in rows)
        return self._existing(sorted(ids))

    def _existing(self, ids: Iterable[str]) -> list[Subscription]:
        found = []
        for subscription_id in ids:
            with contextlib.suppress(NotFound):  # a create that died half way, or a delete since the index read
                found.append(self.get_subscription(subscription_id))
        return found

    def _ensure_index(self) -> None:
        if self._indexed:
            return
        try:
            call("subscription index", self._tables[SUBSCRIPTIONS].get_entity, *INDEX_MARK)
        except NotFound:  # subscriptions from before the index: index them, then say so (both idempotent)
            rows = self._query("subscription index", SUBSCRIPTIONS, SUBSCRIPTION_ROWS, select=["RowKey", "Site"])
            for row in rows:
                self._insert("subscription index", SUBSCRIPTIONS, index_row(str(row["Site"]), str(row["RowKey"])))
            self._insert("subscription index", SUBSCRIPTIONS, {"PartitionKey": INDEX_MARK[0], "RowKey": INDEX_MARK[1]})
        self._indexed = True

    # events
    def add_event(self, event: Event) -> bool:
        entity = {
            "PartitionKey": event.id, "RowKey": "event", "JobId": event.job_id, "Site": event.site,
            "Type": event.type, "Body": event.body.decode("utf-8"), "CreatedAt": event.created_at.isoformat(),
        }  # fmt: skip
        return self._insert("event", EVENTS, entity)

    def get_event(self, event_id: str) -> Event:
        e = call("event", self._tables[EVENTS].get_entity, event_id, "event")
        return Event(e["PartitionKey"], e["JobId"], e["Site"], e["Type"], e["Body"].encode("utf-8"),
                     datetime.fromisoformat(e["CreatedAt"]))  # fmt: skip

    # deliveries
    def add_delivery(self, delivery: Delivery) -> bool:
        listed = index_entry(delivery)
        # First, so that a delivery is never missing from its subscription's index.
        indexed = listed is not None and self._insert("delivery index", DELIVERY_INDEX, listed)
        due = self._due.enter(delivery)
        added = self._insert("delivery", DELIVERIES, delivery_row(delivery))
        if indexed and not added and listed is not None:  # an event published again: its delivery keeps its time
            self._delete("delivery index", DELIVERY_INDEX, listed)
        if due is not None and not added:  # ... and its next attempt
            self._due.drop(due)
        return added

    def get_delivery(self, event_id: str, subscription_id: str) -> Delivery:
        return delivery_of(call("delivery", self._tables[DELIVERIES].get_entity, event_id, subscription_id))

    def update_delivery(self, delivery: Delivery, was: Delivery | None = None) -> Delivery:
        listed = index_entry(delivery)
        if listed is not None:  # first, so that a failed delivery is always listed; the same row every time
            call("delivery index", self._tables[DELIVERY_INDEX].upsert_entity, listed, mode=UpdateMode.REPLACE)
        self._due.enter(delivery, was)  # first too; the row it no longer has goes after (azure_webhook_due.py)
        try:
            etag = self._replace(DELIVERIES, delivery_row(delivery), delivery.etag, "delivery")
        except NotFound:  # erased meanwhile (with its event): nothing would ever delete the index row just written
            for row in (listed, due_row(delivery)):
                if row is not None:
                    self._delete("delivery index", DELIVERY_INDEX, row)
            raise
        self._due.leave(delivery, was)
        return Delivery(**{**delivery.__dict__, "etag": etag})

    def pending_deliveries(self, due_before: datetime) -> list[Delivery]:
        return self._due.due(due_before)

    def failed_deliveries(self, subscription_id: str, limit: int, token: str | None) -> DeliveryPage:
        """One page of the subscription's failed deliveries, newest first: one page of its index rows marked
        failed (at most `limit`), each delivery read from its own row. `token` is the index query's own
        continuation, so a page the service ends early (after 1,000 rows read or 5 s) resumes where it stopped."""
        after = listing_position(subscription_id, token)
        with translated("delivery index"):  # the page is fetched while iterating
            query: Any = self._tables[DELIVERY_INDEX].query_entities(  # Any: its token is a dict, typed as str
                "PartitionKey eq @sub and State eq @state", select=["RowKey", "EventId"], results_per_page=limit,
                parameters={"sub": subscription_id, "state": DeliveryState.FAILED.value},
            )  # fmt: skip
            pages = query.by_page(continuation_token=after)
            rows = [(str(row["RowKey"]), str(row["EventId"])) for row in next(pages, ())]
            following = pages.continuation_token
        found = [d for d in self._read_rows(subscription_id, rows) if d.state is DeliveryState.FAILED]
        if not following:
            return found, None
        return found, json.dumps([subscription_id, following["PartitionKey"], following["RowKey"]])

    def recent_deliveries(self, subscription_id: str, limit: int) -> list[Delivery]:
        """The subscription's newest `limit` deliveries, newest first, each read from its own row."""
        with translated("delivery index"):  # only the first page is fetched: the newest rows come first
            pages = self._tables[DELIVERY_INDEX].query_entities(
                "PartitionKey eq @sub", parameters={"sub": subscription_id}, select=["RowKey", "EventId"],
                results_per_page=limit,
            )  # fmt: skip
            rows = [(str(row["RowKey"]), str(row["EventId"])) for row in itertools.islice(pages, limit)]
        return self._read_rows(subscription_id, rows)

    def _read_rows(self, subscription_id: str, rows: Iterable[tuple[str, str]]) -> list[Delivery]:
        """The deliveries the index rows (RowKey, event id) point to, each from its own row, in the rows' order."""
        found = []
        for row_key, event_id in rows:
            with contextlib.suppress(NotFound):  # an index row whose delivery was never written
                delivery = self.get_delivery(event_id, subscription_id)
                listed = index_entry(delivery)
                # The delivery's own time names its one true row; another is left by a publish that died half way.
                if listed is not None and listed["RowKey"] == row_key:
                    found.append(delivery)
        return found
