"""The webhook store's rows: how subscriptions, deliveries and their index rows are written to Azure Table
storage and read back, and where in a subscription's index a failed listing's token resumes.
shared/adapters/azure_webhook_store.py says which rows exist and why."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.data.tables import TableClient

from shared.adapters.azure_errors import call
from shared.errors import Conflict, NotFound
from shared.paging import not_given
from shared.webhooks.models import Attempt, Delivery, DeliveryState, SigningSecret, Subscription

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LAST_MICROSECOND = 10**17 - 1  # past the year 5000: times keep 17 digits, so text order is time order
DUE = "due"  # the partition of the due deliveries' index (shared/adapters/azure_webhook_due.py)


def insert_if_absent(what: str, table: TableClient, entity: dict[str, Any]) -> bool:
    """Insert; False when the row already existed."""
    try:
        call(what, table.create_entity, entity)
    except Conflict:
        return False
    return True


def delete_if_present(what: str, table: TableClient, row: dict[str, Any]) -> None:
    with contextlib.suppress(NotFound):
        call(what, table.delete_entity, row["PartitionKey"], row["RowKey"])


def index_row(site: str, subscription_id: str) -> dict[str, Any]:
    return {"PartitionKey": f"site~{site}", "RowKey": subscription_id}


def registration_row(subscription: Subscription) -> dict[str, Any]:
    return {"PartitionKey": "subscription", "RowKey": f"registration~{subscription.registration}",
            "SubscriptionId": subscription.id}  # fmt: skip


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _microseconds(at: datetime) -> int:
    return (at - EPOCH) // timedelta(microseconds=1)  # exact, unlike floats


def due_key(at: datetime) -> str:
    """A time as the due index's row keys start: text order is time order."""
    return f"{_microseconds(at):017d}"


def due_row(d: Delivery) -> dict[str, Any] | None:
    """The delivery's row in the index of due deliveries, keyed by its next attempt (None unless pending)."""
    if d.state is not DeliveryState.PENDING:
        return None
    return {"PartitionKey": DUE, "RowKey": f"{due_key(d.next_attempt_at)}~{d.event_id}~{d.subscription_id}",
            "EventId": d.event_id, "SubscriptionId": d.subscription_id}  # fmt: skip


def index_entry(d: Delivery) -> dict[str, Any] | None:
    """The delivery's row in its subscription's index (None for a delivery without a creation time)."""
    if d.created_at is None:
        return None
    inverted = LAST_MICROSECOND - _microseconds(d.created_at)
    return {"PartitionKey": d.subscription_id, "RowKey": f"{inverted:017d}~{d.event_id}", "EventId": d.event_id,
            "State": d.state.value}  # fmt: skip


def subscription_row(s: Subscription) -> dict[str, Any]:
    secrets = [{"secret": x.secret, "expires_at": _iso(x.expires_at)} for x in s.secrets]
    return {
        "PartitionKey": "subscription", "RowKey": s.id, "Url": s.url, "Site": s.site,
        "EventTypes": ",".join(sorted(s.event_types)), "Secrets": json.dumps(secrets),
        "CreatedAt": s.created_at.isoformat(), "DisabledReason": s.disabled_reason or "",
    }  # fmt: skip


def subscription_of(e: Any) -> Subscription:
    secrets = tuple(SigningSecret(x["secret"], _dt(x["expires_at"])) for x in json.loads(e["Secrets"]))
    return Subscription(
        id=e["RowKey"], url=e["Url"], site=e["Site"], event_types=frozenset(e["EventTypes"].split(",")),
        secrets=secrets, created_at=datetime.fromisoformat(e["CreatedAt"]),
        disabled_reason=e.get("DisabledReason") or None, etag=e.metadata["etag"],
    )  # fmt: skip


def delivery_row(d: Delivery) -> dict[str, Any]:
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


def delivery_of(e: Any) -> Delivery:
    attempts = tuple(
        Attempt(a["n"], datetime.fromisoformat(a["started"]), _dt(a["finished"]), a["status"], a["error"])
        for a in json.loads(e["Attempts"])
    )
    return Delivery(
        event_id=e["PartitionKey"], subscription_id=e["RowKey"], state=DeliveryState(e["State"]),
        next_attempt_at=datetime.fromisoformat(e["NextAttemptAt"]), attempts=attempts,
        failure_reason=e.get("FailureReason") or None, etag=e.metadata["etag"], created_at=_dt(e.get("CreatedAt")),
    )  # fmt: skip


def listing_position(subscription_id: str, token: str | None) -> dict[str, str | None] | None:
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
