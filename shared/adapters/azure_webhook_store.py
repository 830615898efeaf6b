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

Deliveries are also indexed by subscription (`webhookdeliveryindex`, PK subscription id, RK the inverted
creation time in microseconds then the event id), so a subscription's newest deliveries, and its failed ones
(the rows whose `State` is failed), are read from one partition instead of a scan of every delivery. The index
row is inserted before the delivery and upserted before each of its updates, so an update that dies or loses
its race in between leaves the index ahead of its delivery, never behind: a failed delivery is listed (only
two updates racing, the loser's index write landing last, can leave the loser's state). Its `State` is
therefore only a hint: readers take each delivery's own row, which stays the truth, and skip an index row
whose delivery does not exist (a create that died half way), whose key is not its delivery's own creation time
(an event published again inserts a row for its new time; the delivery keeps its first, and that row is
deleted once the delivery's insert says it existed), or, listing failures, whose delivery has not failed.
Deliveries without a creation time (queued before it was recorded) are not indexed, so neither listing shows
them.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.data.tables import TableClient, TableServiceClient, UpdateMode

from shared.adapters.azure_errors import call, translated
from shared.errors import Conflict, NotFound
from shared.paging import not_given
from shared.webhooks.models import ALL_SITES, Attempt, Delivery, DeliveryState, Event, SigningSecret, Subscription
from shared.webhooks.ports import DeliveryPage

SUBSCRIPTIONS, EVENTS, DELIVERIES = "webhooksubscriptions", "webhookevents", "webhookdeliveries"
DELIVERY_INDEX = "webhookdeliveryindex"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LAST_MICROSECOND = 10**17 - 1  # past the year 5000: inverted times keep 17 digits, so text order is time order
INDEX_MARK = ("index", "by-site")  # present once every subscription has its index row


def _index_row(site: str, subscription_id: str) -> dict[str, Any]:
    return {"PartitionKey": f"site~{site}", "RowKey": subscription_id}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class TableWebhookStore:
    def __init__(self, service: TableServiceClient, prefix: str = "") -> None:
        # A prefix lets several stores (tests, side-by-side environments) share one account.
        self._tables: dict[str, TableClient] = {}
        for name in (SUBSCRIPTIONS, EVENTS, DELIVERIES, DELIVERY_INDEX):
            self._tables[name] = call(f"{name} table", service.create_table_if_not_exists, prefix + name)
        self._indexed = False

    def _query(self, what: str, table: str, query: str, **kwargs: Any) -> list[Any]:
        with translated(what):  # pages are fetched while iterating, so the whole iteration is inside
            return list(self._tables[table].query_entities(query, **kwargs))

    def _insert(self, what: str, table: str, entity: dict[str, Any]) -> bool:
        """Insert if absent; False when the row already existed."""
        try:
            call(what, self._tables[table].create_entity, entity)
        except Conflict:
            return False
        return True

    def _replace(self, table: str, entity: dict[str, Any], etag: str | None, what: str) -> str:
        condition = MatchConditions.IfNotModified if etag else MatchConditions.Unconditionally
        meta = call(what, self._tables[table].update_entity, entity, mode=UpdateMode.REPLACE, etag=etag,
                          match_condition=condition)  # fmt: skip
        return str(meta["etag"])

    # subscriptions
    def add_subscription(self, subscription: Subscription) -> None:
        self._insert("subscription index", SUBSCRIPTIONS, _index_row(subscription.site, subscription.id))
        call("subscription", self._tables[SUBSCRIPTIONS].create_entity, _sub_entity(subscription))

    def get_subscription(self, subscription_id: str) -> Subscription:
        entity = call("subscription", self._tables[SUBSCRIPTIONS].get_entity, "subscription", subscription_id)
        return _sub(entity)

    def list_subscriptions(self) -> list[Subscription]:
        rows = self._query("subscriptions", SUBSCRIPTIONS, "PartitionKey eq 'subscription'")
        return [_sub(e) for e in rows]

    def update_subscription(self, subscription: Subscription) -> Subscription:
        etag = self._replace(SUBSCRIPTIONS, _sub_entity(subscription), subscription.etag, "subscription")
        return Subscription(**{**subscription.__dict__, "etag": etag})

    def delete_subscription(self, subscription_id: str) -> None:
        sub = self.get_subscription(subscription_id)  # 404 for an unknown id, as the API promises
        call("subscription", self._tables[SUBSCRIPTIONS].delete_entity, "subscription", subscription_id)
        row = _index_row(sub.site, subscription_id)
        with contextlib.suppress(NotFound):  # a subscription not indexed yet has no row to delete
            call("subscription index", self._tables[SUBSCRIPTIONS].delete_entity, row["PartitionKey"], row["RowKey"])

    def subscriptions_for(self, site: str) -> list[Subscription]:
        """The subscriptions of `site` and the fleet-wide ones, read through the index (see the module doc)."""
        self._ensure_index()
        ids: set[str] = set()
        for key in {site, ALL_SITES}:
            rows = self._query("subscription index", SUBSCRIPTIONS, "PartitionKey eq @pk",
                               parameters={"pk": f"site~{key}"}, select=["RowKey"])  # fmt: skip
            ids.update(str(r["RowKey"]) for r in rows)
        found = []
        for subscription_id in sorted(ids):
            with contextlib.suppress(NotFound):  # a create that died half way, or a delete since the index read
                found.append(self.get_subscription(subscription_id))
        return found

    def _ensure_index(self) -> None:
        if self._indexed:
            return
        try:
            call("subscription index", self._tables[SUBSCRIPTIONS].get_entity, *INDEX_MARK)
        except NotFound:  # subscriptions from before the index: index them, then say so (both idempotent)
            rows = self._query("subscription index", SUBSCRIPTIONS, "PartitionKey eq 'subscription'",
                               select=["RowKey", "Site"])  # fmt: skip
            for row in rows:
                self._insert("subscription index", SUBSCRIPTIONS, _index_row(str(row["Site"]), str(row["RowKey"])))
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
        listed = _listed(delivery)
        # First, so that a delivery is never missing from its subscription's index.
        indexed = listed is not None and self._insert("delivery index", DELIVERY_INDEX, listed)
        added = self._insert("delivery", DELIVERIES, _delivery_entity(delivery))
        if indexed and not added and listed is not None:  # an event published again: its delivery keeps its time
            with contextlib.suppress(NotFound):
                call("delivery index", self._tables[DELIVERY_INDEX].delete_entity, listed["PartitionKey"],
                     listed["RowKey"])  # fmt: skip
        return added

    def get_delivery(self, event_id: str, subscription_id: str) -> Delivery:
        return _delivery(call("delivery", self._tables[DELIVERIES].get_entity, event_id, subscription_id))

    def update_delivery(self, delivery: Delivery) -> Delivery:
        listed = _listed(delivery)
        if listed is not None:  # first, so that a failed delivery is always listed; the same row every time
            call("delivery index", self._tables[DELIVERY_INDEX].upsert_entity, listed, mode=UpdateMode.REPLACE)
        etag = self._replace(DELIVERIES, _delivery_entity(delivery), delivery.etag, "delivery")
        return Delivery(**{**delivery.__dict__, "etag": etag})

    def pending_deliveries(self, due_before: datetime) -> list[Delivery]:
        rows = self._query(
            "deliveries",
            DELIVERIES,
            "State eq @state and NextAttemptAt lt @due",
            parameters={"state": DeliveryState.PENDING.value, "due": due_before.isoformat()},
        )
        return [_delivery(e) for e in rows]

    def failed_deliveries(self, subscription_id: str, limit: int, token: str | None) -> DeliveryPage:
        """One page of the subscription's failed deliveries, newest first: one page of its index rows marked
        failed (at most `limit`), each delivery read from its own row. `token` is the index query's own
        continuation, so a page the service ends early (after 1,000 rows read or 5 s) resumes where it stopped."""
        after = _position(subscription_id, token)
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
                listed = _listed(delivery)
                # The delivery's own time names its one true row; another is left by a publish that died half way.
                if listed is not None and listed["RowKey"] == row_key:
                    found.append(delivery)
        return found


def _position(subscription_id: str, token: str | None) -> dict[str, str | None] | None:
    """The index query's continuation inside a failed listing's token; refused unless it is one this store wrote
    for this subscription (another's would read this partition from an unrelated place)."""
    if token is None:
        return None
    try:
        found = json.loads(token)
    except ValueError as exc:
        raise not_given() from exc
    keys = found[1:] if isinstance(found, list) and len(found) == 3 and found[0] == subscription_id else None
    if keys is None or not any(keys) or not all(k is None or isinstance(k, str) for k in keys):
        raise not_given()
    return {"PartitionKey": keys[0], "RowKey": keys[1]}


def _listed(d: Delivery) -> dict[str, Any] | None:
    """The delivery's row in its subscription's index (None for a delivery without a creation time)."""
    if d.created_at is None:
        return None
    inverted = LAST_MICROSECOND - (d.created_at - EPOCH) // timedelta(microseconds=1)  # exact, unlike floats
    return {"PartitionKey": d.subscription_id, "RowKey": f"{inverted:017d}~{d.event_id}", "EventId": d.event_id,
            "State": d.state.value}  # fmt: skip


def _sub_entity(s: Subscription) -> dict[str, Any]:
    secrets = [{"secret": x.secret, "expires_at": _iso(x.expires_at)} for x in s.secrets]
    return {
        "PartitionKey": "subscription", "RowKey": s.id, "Url": s.url, "Site": s.site,
        "EventTypes": ",".join(sorted(s.event_types)), "Secrets": json.dumps(secrets),
        "CreatedAt": s.created_at.isoformat(), "DisabledReason": s.disabled_reason or "",
    }  # fmt: skip


def _sub(e: Any) -> Subscription:
    secrets = tuple(SigningSecret(x["secret"], _dt(x["expires_at"])) for x in json.loads(e["Secrets"]))
    return Subscription(
        id=e["RowKey"], url=e["Url"], site=e["Site"], event_types=frozenset(e["EventTypes"].split(",")),
        secrets=secrets, created_at=datetime.fromisoformat(e["CreatedAt"]),
        disabled_reason=e.get("DisabledReason") or None, etag=e.metadata["etag"],
    )  # fmt: skip


def _delivery_entity(d: Delivery) -> dict[str, Any]:
    attempts = [
        {"n": a.number, "started": _iso(a.started_at), "finished": _iso(a.finished_at), "status": a.status,
         "error": a.error}
        for a in d.attempts
    ]  # fmt: skip
    return {
        "PartitionKey": d.event_id, "RowKey": d.subscription_id, "State": d.state.value,
        # ISO text sorts like time, so the sweep can filter on it without Edm.DateTime round-trips.
        "NextAttemptAt": d.next_attempt_at.isoformat(), "Attempts": json.dumps(attempts),
        "FailureReason": d.failure_reason or "", "CreatedAt": _iso(d.created_at) or "",
    }  # fmt: skip


def _delivery(e: Any) -> Delivery:
    attempts = tuple(
        Attempt(a["n"], datetime.fromisoformat(a["started"]), _dt(a["finished"]), a["status"], a["error"])
        for a in json.loads(e["Attempts"])
    )
    return Delivery(
        event_id=e["PartitionKey"], subscription_id=e["RowKey"], state=DeliveryState(e["State"]),
        next_attempt_at=datetime.fromisoformat(e["NextAttemptAt"]), attempts=attempts,
        failure_reason=e.get("FailureReason") or None, etag=e.metadata["etag"], created_at=_dt(e.get("CreatedAt")),
    )  # fmt: skip
