"""Subscription writes racing on Azurite, requests started together from threads: identical creates register one
subscription, rotations and replays of one row all succeed instead of answering 409, and a replay to a
subscription a 410 disabled is refused with the delivery kept failed."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from azure.data.tables import TableServiceClient

from shared.adapters.azure_webhook_store import SUBSCRIPTIONS, TableWebhookStore
from shared.webhooks import api as webhooks_api
from shared.webhooks.models import DeliveryState, SigningSecret, Subscription
from shared.webhooks.signing import verify
from tests.integration.webhooks.conftest import Harness
from tests.support.receiver import Receiver, Reply

pytestmark = pytest.mark.integration
T = TypeVar("T")
RACERS = 6
URL = "http://127.0.0.1:9/hook"


def together(work: Callable[[int], T], n: int = RACERS) -> list[T]:
    """`work(i)` on n threads released at once; their results in order (an exception fails the test)."""
    start, results, errors = threading.Barrier(n), [None] * n, []

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = work(i)  # type: ignore[call-overload]
        except Exception as exc:  # noqa: BLE001 (re-raised below, on the test's thread)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results  # type: ignore[return-value]


def call(harness: Harness, action: str, params: dict[str, str], body: object = None) -> tuple[int, Any]:
    raw = json.dumps(body).encode() if body is not None else b""
    return webhooks_api.handle(harness.service, action, params, raw).pair()


def store_of(harness: Harness) -> TableWebhookStore:
    assert isinstance(harness.service.store, TableWebhookStore)
    return harness.service.store


def subscription_rows(storage_connection: str, unique: str, partition: str) -> list[Any]:
    table = TableServiceClient.from_connection_string(storage_connection).get_table_client(f"t{unique}{SUBSCRIPTIONS}")
    return list(table.query_entities("PartitionKey eq @pk", parameters={"pk": partition}))


def site_index(storage_connection: str, unique: str, site: str) -> list[str]:
    return [str(row["RowKey"]) for row in subscription_rows(storage_connection, unique, f"site~{site}")]


def registration_holders(storage_connection: str, unique: str) -> list[str]:
    rows = subscription_rows(storage_connection, unique, "subscription")
    return [str(row["SubscriptionId"]) for row in rows if str(row["RowKey"]).startswith("registration~")]


def test_identical_creates_at_once_register_one_subscription_and_name_it_to_the_others(harness, storage_connection,
                                                                                       unique):  # fmt: skip
    body = {"url": URL, "site": "site1", "event_types": ["job.failed"]}
    answers = together(lambda _: call(harness, "create", {}, body))
    created = [doc for status, doc in answers if status == 201]
    assert len(created) == 1, answers
    refused = [doc for status, doc in answers if status != 201]
    assert {(doc["reason"], doc["subscription_id"]) for doc in refused} == {("subscription_exists", created[0]["id"])}
    assert [s.id for s in harness.service.subscriptions()] == [created[0]["id"]]
    assert site_index(storage_connection, unique, "site1") == [created[0]["id"]]  # the refused left no index row


def test_the_store_adds_one_of_concurrent_subscriptions_of_one_registration(harness):
    store = store_of(harness)
    subs = [Subscription(f"sub_{uuid.uuid4().hex}", URL, "*", frozenset({"job.failed"}), (SigningSecret("s"),),
                         datetime.now(UTC)) for _ in range(RACERS)]  # fmt: skip
    holders = together(lambda i: store.add_subscription(subs[i]))
    added = [sub.id for sub, holder in zip(subs, holders, strict=True) if holder is None]
    assert len(added) == 1 and set(holders) == {None, added[0]}
    assert [s.id for s in store.list_subscriptions()] == added


def test_a_registration_whose_holder_was_disabled_or_deleted_is_taken_over_once(harness):
    store = store_of(harness)
    _, first = call(harness, "create", {}, {"url": URL})
    store.update_subscription(replace(store.get_subscription(first["id"]), disabled_reason="receiver answered 410"))
    answers = together(lambda _: call(harness, "create", {}, {"url": URL}))
    created = [doc["id"] for status, doc in answers if status == 201]
    assert len(created) == 1 and {doc.get("subscription_id") for _, doc in answers} == {None, created[0]}
    assert call(harness, "delete", {"id": created[0]})[0] == 204
    status, again = call(harness, "create", {}, {"url": URL})
    assert status == 201 and again["id"] not in (first["id"], created[0])


def test_a_delete_removes_the_registration_it_holds_and_keeps_one_taken_over(harness, storage_connection, unique):
    store = store_of(harness)
    _, first = call(harness, "create", {}, {"url": URL})
    store.update_subscription(replace(store.get_subscription(first["id"]), disabled_reason="receiver answered 410"))
    _, second = call(harness, "create", {}, {"url": URL})
    assert call(harness, "delete", {"id": first["id"]})[0] == 204  # the registration is the second's now
    assert registration_holders(storage_connection, unique) == [second["id"]]
    assert call(harness, "create", {}, {"url": URL})[0] == 409  # still held
    assert call(harness, "delete", {"id": second["id"]})[0] == 204
    assert registration_holders(storage_connection, unique) == []


def test_rotations_at_once_all_succeed_and_leave_two_secrets_that_sign(harness, receiver: Receiver):
    sub, _ = harness.service.subscribe(receiver.url, None, None)
    answers = together(lambda _: call(harness, "rotate", {"id": sub.id}))
    assert [status for status, _ in answers] == [200] * RACERS, answers
    secrets = harness.service.subscription(sub.id).signing_secrets(harness.clock())
    assert len(secrets) == 2 and secrets[-1] in {doc["secret"] for _, doc in answers}
    event = harness.event("rot1")
    harness.service.publish(event)
    harness.service.deliver(event.id, sub.id)
    [got] = receiver.wait_for(1)
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    for secret in secrets:
        verify(secret, got.headers, got.body, now=int(got.headers["webhook-timestamp"]))


def test_replays_of_one_failed_delivery_at_once_queue_one_attempt_and_none_answers_409(harness):
    sub, _ = harness.service.subscribe(URL, None, None)
    event = harness.event("rep1")
    harness.service.publish(event)
    store = store_of(harness)
    store.update_delivery(replace(store.get_delivery(event.id, sub.id), state=DeliveryState.FAILED))
    assert len(harness.messages()) == 1  # the publish's own message, out of the way
    answers = together(lambda _: call(harness, "replay", {"id": sub.id, "event_id": event.id}))
    # One replays it; the others lost the write to it (202, as it did) or read it pending again (not_failed).
    assert (202, {"replayed": event.id}) in answers
    assert {status if status == 202 else doc["reason"] for status, doc in answers} <= {202, "not_failed"}, answers
    assert harness.messages() == [{"event_id": event.id, "subscription_id": sub.id}]
    assert store.get_delivery(event.id, sub.id).state is DeliveryState.PENDING


def test_a_replay_to_a_subscription_a_410_disabled_is_refused_and_the_delivery_stays_failed(harness):
    with Receiver([Reply(410)]) as gone:
        sub, _ = harness.service.subscribe(gone.url, None, None)
        event = harness.event("gone1")
        harness.service.publish(event)
        assert harness.run_until_settled(event.id, sub.id) == "failed"
        assert harness.service.subscription(sub.id).disabled_reason is not None
        harness.messages()
        status, problem = call(harness, "replay", {"id": sub.id, "event_id": event.id})
        assert (status, problem["reason"]) == (409, "subscription_disabled")
        assert harness.messages() == []
        assert [d.event_id for d in harness.service.failed_deliveries(sub.id, 10, None)[0]] == [event.id]
        assert call(harness, "delete", {"id": sub.id})[0] == 204
        assert call(harness, "replay", {"id": sub.id, "event_id": event.id})[1]["reason"] == "not_found"
        assert store_of(harness).get_delivery(event.id, sub.id).state is DeliveryState.FAILED
        assert gone.connections == 1  # nothing was sent again


def test_a_create_racing_the_delete_of_the_disabled_holder_takes_the_registration(harness, monkeypatch):
    store = store_of(harness)
    _, first = call(harness, "create", {}, {"url": URL})
    store.update_subscription(replace(store.get_subscription(first["id"]), disabled_reason="receiver answered 410"))
    claim, deleted = store._claim, list[int]()

    def claim_then_delete(sub: Subscription) -> object:  # the delete lands between the create's read and write
        step = claim(sub)
        if not deleted:
            deleted.append(call(harness, "delete", {"id": first["id"]})[0])
        return step

    monkeypatch.setattr(store, "_claim", claim_then_delete)
    status, created = call(harness, "create", {}, {"url": URL})
    assert deleted == [204] and status == 201, created
    assert [s.id for s in store.list_subscriptions()] == [created["id"]]
