"""The rules behind the subscription writes, through the API module on the memory store: one active subscription
per url, site and event types (`subscription_exists`, naming it), at most MAX_SUBSCRIPTIONS, at most two signing
secrets, no replay to a disabled or removed subscription, and a lost ETag race read again instead of answered 409.
The table store's own race safety is tested on Azurite (tests/integration/webhooks/test_concurrent_writes.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest

from shared.errors import Conflict
from shared.webhooks import api as webhooks_api
from shared.webhooks import endpoint
from shared.webhooks.endpoint import EndpointPolicy
from shared.webhooks.models import Delivery, DeliveryState, Event, Subscription
from shared.webhooks.service import WebhookService
from shared.webhooks.signing import WebhookVerificationError, sign_headers, verify
from shared.webhooks.subscriptions import MAX_SUBSCRIPTIONS, ROTATION_GRACE, WRITE_TRIES
from tests.unit.api.fakes import PROBLEM_MEMBERS, MemoryWebhookStore, documented_codes
from tests.unit.uploads.fakes import Clock

REPO = Path(__file__).resolve().parents[3]
URL = "http://127.0.0.1:9/hook"


class RacingStore(MemoryWebhookStore):
    """Its next conditional writes lose, as to a concurrent writer that changed the row first (`then` runs it)."""

    def __init__(self) -> None:
        super().__init__()
        self.lose: list[Any] = []  # one entry a lost write: a function applying the other writer's change, or None

    def _race(self) -> None:
        if self.lose:
            change = self.lose.pop(0)
            if change is not None:
                change()
            raise Conflict("changed since read")

    def update_subscription(self, subscription: Subscription) -> Subscription:
        self._race()
        return super().update_subscription(subscription)

    def update_delivery(self, delivery: Delivery, was: Delivery | None = None) -> Delivery:
        self._race()
        return super().update_delivery(delivery, was)


class Queue:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, event_id: str, subscription_id: str, delay: timedelta) -> None:
        self.sent.append((event_id, subscription_id))


def service_of(store: MemoryWebhookStore, queue: Queue | None = None, clock: Clock | None = None) -> WebhookService:
    return WebhookService(store, queue or Queue(), EndpointPolicy(allow_loopback=True), clock=clock or Clock(),
                          resolve=lambda _h, _p: [ip_address("127.0.0.1")],
                          send=lambda _t, _b, _h: endpoint.Response(500, error=None))  # fmt: skip


def call(service: WebhookService, action: str, params: dict[str, str], body: object = None) -> tuple[int, Any]:
    raw = json.dumps(body).encode() if body is not None else b""
    return webhooks_api.handle(service, action, params, raw).pair()


def create(service: WebhookService, url: str = URL, **members: object) -> tuple[int, Any]:
    return call(service, "create", {}, {"url": url, **members})


def failed_delivery(service: WebhookService, subscription_id: str) -> str:
    """A delivery that gave up (retries exhausted), as replay finds it."""
    event = Event("evt_j1_failed", "j1", "site1", "job.failed", b"{}", service.clock())
    service.publish(event)
    delivery = service.store.get_delivery(event.id, subscription_id)
    service.store.update_delivery(replace(delivery, state=DeliveryState.FAILED, failure_reason="retries_exhausted"))
    return event.id


def test_a_create_repeated_after_a_lost_answer_is_409_naming_the_subscription_that_exists():
    service = service_of(MemoryWebhookStore())
    status, first = create(service, site="site1", event_types=["job.failed"])
    assert status == 201
    status, again = create(service, site="site1", event_types=["job.failed"])
    assert status == 409 and again["reason"] == "subscription_exists" and again["subscription_id"] == first["id"]
    assert set(again) == PROBLEM_MEMBERS | {"subscription_id"} and first["id"] in again["detail"]
    assert [s.id for s in service.subscriptions()] == [first["id"]]
    # Another site, other event types or another url are other registrations.
    assert create(service, site="site2", event_types=["job.failed"])[0] == 201
    assert create(service, site="site1")[0] == 201
    assert create(service, f"{URL}2", site="site1", event_types=["job.failed"])[0] == 201
    # Event types are a set: the same ones in another order, or named twice, are the same registration.
    assert create(service, site="site1", event_types=["job.failed", "job.failed"])[0] == 409


def test_a_subscription_a_410_disabled_or_that_was_deleted_does_not_block_a_new_one():
    store = MemoryWebhookStore()
    service = service_of(store)
    _, first = create(service)
    store.subscriptions[first["id"]] = replace(store.subscriptions[first["id"]], disabled_reason="410")
    status, second = create(service)
    assert status == 201 and second["id"] != first["id"]
    assert call(service, "delete", {"id": second["id"]})[0] == 204
    assert create(service)[0] == 201


def test_at_most_max_subscriptions_disabled_ones_included_then_409_until_one_is_deleted():
    store = MemoryWebhookStore()
    service = service_of(store)
    ids = [create(service, f"{URL}/{n}")[1]["id"] for n in range(MAX_SUBSCRIPTIONS)]
    store.subscriptions[ids[0]] = replace(store.subscriptions[ids[0]], disabled_reason="410")
    status, refused = create(service, f"{URL}/new")
    assert status == 409 and refused["reason"] == "too_many_subscriptions" and set(refused) == PROBLEM_MEMBERS
    assert create(service, f"{URL}/1")[1]["reason"] == "subscription_exists"  # a retry still names its own
    call(service, "delete", {"id": ids[0]})
    assert create(service, f"{URL}/new")[0] == 201


def test_rotations_keep_two_secrets_the_previous_one_for_the_grace_and_drop_older_ones():
    clock = Clock()
    service = service_of(MemoryWebhookStore(), clock=clock)
    _, created = create(service)
    secrets = [created["secret"]]
    for _ in range(3):
        clock.now += timedelta(minutes=5)
        status, rotated = call(service, "rotate", {"id": created["id"]})
        assert status == 200
        secrets.append(rotated["secret"])
    expiries = [s["expires_at"] for s in rotated["secrets"]]
    assert expiries == [(clock.now + ROTATION_GRACE).isoformat(), None]  # the previous one, then the current
    sub = service.subscription(created["id"])
    headers = sign_headers(sub.signing_secrets(clock.now), "evt_1", int(clock.now.timestamp()), b"{}")
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in secrets[2:]:
        verify(secret, headers, b"{}", now=int(clock.now.timestamp()))
    for secret in secrets[:2]:
        with pytest.raises(WebhookVerificationError):
            verify(secret, headers, b"{}", now=int(clock.now.timestamp()))
    clock.now += ROTATION_GRACE
    assert service.subscription(created["id"]).signing_secrets(clock.now) == [secrets[-1]]


def test_a_rotation_that_loses_an_etag_race_is_applied_again_to_what_won():
    store = RacingStore()
    service = service_of(store)
    _, created = create(service)
    sub_id = created["id"]
    _, other = service.rotate(sub_id)  # what the concurrent rotation wrote first
    store.lose = [None]
    status, rotated = call(service, "rotate", {"id": sub_id})
    assert status == 200
    assert service.subscription(sub_id).signing_secrets(Clock()()) == [other, rotated["secret"]]
    store.lose = [None] * WRITE_TRIES  # a row that never stops changing: transient, try again
    status, problem = call(service, "rotate", {"id": sub_id})
    assert (status, problem["reason"]) == (503, "transient")


def with_a_failed_delivery(store: MemoryWebhookStore) -> tuple[WebhookService, Queue, str, str]:
    """A service over `store` with one subscription and one FAILED delivery to it; nothing queued yet."""
    queue = Queue()
    service = service_of(store, queue)
    _, created = create(service)
    sub_id = created["id"]
    event_id = failed_delivery(service, sub_id)
    queue.sent.clear()
    return service, queue, sub_id, event_id


@pytest.mark.parametrize("how", ["disabled", "deleted"])
def test_a_replay_to_a_disabled_or_deleted_subscription_is_refused_and_the_delivery_stays_failed(how):
    store = MemoryWebhookStore()
    service, queue, sub_id, event_id = with_a_failed_delivery(store)
    if how == "disabled":
        store.subscriptions[sub_id] = replace(store.subscriptions[sub_id], disabled_reason="receiver answered 410")
        expected = (409, "subscription_disabled")
    else:
        del store.subscriptions[sub_id]
        expected = (404, "not_found")
    status, problem = call(service, "replay", {"id": sub_id, "event_id": event_id})
    assert (status, problem["reason"]) == expected and set(problem) == PROBLEM_MEMBERS
    assert store.get_delivery(event_id, sub_id).state is DeliveryState.FAILED
    assert queue.sent == []
    if how == "disabled":  # still listed, still refused: nothing was thrown away
        assert [d.event_id for d in service.failed_deliveries(sub_id, 10, None)[0]] == [event_id]
        assert call(service, "replay", {"id": sub_id, "event_id": event_id})[0] == 409


def test_a_replay_that_loses_to_a_concurrent_replay_answers_202_and_queues_nothing_more():
    store = RacingStore()
    service, queue, sub_id, event_id = with_a_failed_delivery(store)
    store.lose = [lambda: service.replay(event_id, sub_id)]  # the other replay writes (and queues) first
    assert call(service, "replay", {"id": sub_id, "event_id": event_id}) == (202, {"replayed": event_id})
    assert queue.sent == [(event_id, sub_id)]
    assert store.get_delivery(event_id, sub_id).state is DeliveryState.PENDING
    # Once it is pending, a replay asked for later is refused as before.
    assert call(service, "replay", {"id": sub_id, "event_id": event_id})[1]["reason"] == "not_failed"


def test_a_replay_whose_write_lost_to_another_change_of_a_still_failed_delivery_is_applied_again():
    store, queue = RacingStore(), Queue()
    service = service_of(store, queue)
    _, created = create(service)
    event_id = failed_delivery(service, created["id"])
    queue.sent.clear()
    store.lose = [None]
    assert call(service, "replay", {"id": created["id"], "event_id": event_id})[0] == 202
    assert queue.sent == [(event_id, created["id"])]


def test_the_new_refusals_are_documented_and_listed_for_their_operations():
    assert {"subscription_exists", "too_many_subscriptions", "subscription_disabled"} <= documented_codes()
    paths = json.loads((REPO / "openapi.json").read_text())["paths"]
    create_409 = paths["/subscriptions"]["post"]["responses"]["409"]["description"]
    replay = paths["/subscriptions/{id}/deliveries/{event_id}/replay"]["post"]["responses"]
    assert "subscription_exists" in create_409 and "too_many_subscriptions" in create_409
    assert "subscription_disabled" in replay["409"]["description"]
