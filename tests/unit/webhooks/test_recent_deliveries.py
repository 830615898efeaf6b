"""`GET /subscriptions/{id}/deliveries`: a subscription's newest deliveries, any outcome, newest first, bounded;
a bad `limit` is `bad_query` and an unknown subscription 404, never an empty list. The real service on the
memory store, with a scripted receiver and an injected clock (delivery itself is tested on Azurite)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from ipaddress import ip_address
from typing import Any

import pytest

from shared.webhooks import api as webhooks_api
from shared.webhooks import endpoint
from shared.webhooks.endpoint import EndpointPolicy
from shared.webhooks.models import Event
from shared.webhooks.service import WebhookService
from tests.unit.api.fakes import PROBLEM_MEMBERS, MemoryWebhookStore, NoQueue, documented_codes
from tests.unit.uploads.fakes import Clock

JOB = "j_" + "b" * 25


class Receiver:
    """Answers each POST with the next status of its script (200 once the script is used up)."""

    def __init__(self, statuses: list[int | None]) -> None:
        self.statuses = statuses

    def __call__(self, _target: endpoint.Target, _body: bytes, _headers: dict[str, str]) -> endpoint.Response:
        status = self.statuses.pop(0) if self.statuses else 200
        return endpoint.Response(status, error=None if status else "connection refused")


def service_with(statuses: list[int | None]) -> tuple[WebhookService, Clock, str]:
    clock = Clock()
    service = WebhookService(MemoryWebhookStore(), NoQueue(), EndpointPolicy(allow_loopback=True),
                             resolve=lambda _h, _p: [ip_address("127.0.0.1")], send=Receiver(statuses),
                             clock=clock)  # fmt: skip
    sub, _ = service.subscribe("http://127.0.0.1:9/hook", None, None)
    return service, clock, sub.id


def publish(service: WebhookService, clock: Clock, n: int, type_: str = "job.succeeded") -> str:
    clock.now += timedelta(seconds=10)
    event = Event(f"evt_{JOB}{n}_x", f"{JOB}{n}", "site1", type_, b"{}", clock.now)
    assert service.publish(event) == 1
    return event.id


def recent(service: WebhookService, sub_id: str, query: Mapping[str, str] = {}) -> tuple[int, Any]:
    return webhooks_api.handle(service, "recent", {"id": sub_id}, b"", query).pair()


def test_every_outcome_is_listed_newest_first_with_its_job_type_attempts_and_last_status():
    service, clock, sub_id = service_with([500, 200, 503])  # 1st: 500 then 200; 2nd: 503, pending
    delivered = publish(service, clock, 1)
    service.deliver(delivered, sub_id)
    clock.now += timedelta(seconds=30)
    service.deliver(delivered, sub_id)
    retrying = publish(service, clock, 2, "job.failed")
    service.deliver(retrying, sub_id)
    queued = publish(service, clock, 3, "job.rejected")

    status, doc = recent(service, sub_id)
    assert status == 200
    rows = doc["deliveries"]
    assert [r["event_id"] for r in rows] == [queued, retrying, delivered]
    assert [(r["state"], r["attempts"], r["last_status"]) for r in rows] == [
        ("pending", 0, None), ("pending", 1, 503), ("delivered", 2, 200)
    ]  # fmt: skip
    assert [(r["job_id"], r["type"]) for r in rows] == [
        (f"{JOB}3", "job.rejected"), (f"{JOB}2", "job.failed"), (f"{JOB}1", "job.succeeded")
    ]  # fmt: skip
    assert rows[2]["finished_at"] is not None and rows[2]["next_attempt_at"] is None
    assert rows[1]["finished_at"] is None and rows[1]["next_attempt_at"] > rows[1]["created_at"]
    assert rows[0]["created_at"] > rows[1]["created_at"] > rows[2]["created_at"]
    json.dumps(doc)  # what the HTTP layer sends


def test_a_failed_delivery_shows_its_reason_and_last_error():
    service, clock, sub_id = service_with([410])
    gone = publish(service, clock, 1)
    service.deliver(gone, sub_id)
    [row] = recent(service, sub_id)[1]["deliveries"]
    assert (row["state"], row["failure_reason"], row["last_status"]) == ("failed", "receiver_gone", 410)
    assert row["finished_at"] is not None


def test_limit_keeps_only_the_newest():
    service, clock, sub_id = service_with([])
    published = [publish(service, clock, n) for n in range(12)]
    status, doc = recent(service, sub_id, {"limit": "2"})
    assert status == 200 and [r["event_id"] for r in doc["deliveries"]] == published[:-3:-1]
    assert [r["event_id"] for r in recent(service, sub_id)[1]["deliveries"]] == published[:1:-1]  # default 10
    assert len(recent(service, sub_id, {"limit": "100"})[1]["deliveries"]) == 12


def test_a_new_subscription_has_no_deliveries_and_another_subscriptions_are_not_shown():
    service, clock, sub_id = service_with([])
    publish(service, clock, 1)
    other, _ = service.subscribe("http://127.0.0.1:9/other", "elsewhere", None)
    assert recent(service, other.id) == (200, {"deliveries": []})
    assert len(recent(service, sub_id)[1]["deliveries"]) == 1


@pytest.mark.parametrize("limit", ["0", "101", "-1", "1e2", "ten", "", " 5", "٣", "0" * 4 + "5"])
def test_a_bad_limit_is_bad_query(limit: str):
    service, _, sub_id = service_with([])
    status, doc = recent(service, sub_id, {"limit": limit})
    assert status == 400 and set(doc) == PROBLEM_MEMBERS and doc["reason"] == "bad_query"
    assert "limit" in doc["detail"] and "bad_query" in documented_codes()


def test_an_unknown_subscription_is_404_and_a_malformed_id_400():
    service, _, _ = service_with([])
    status, doc = recent(service, "sub_" + "0" * 32)
    assert (status, doc["reason"]) == (404, "not_found")
    status, doc = recent(service, "sub_x'")
    assert (status, doc["reason"]) == (400, "bad_subscription_id")


def test_a_path_id_wins_over_a_query_parameter_of_the_same_name():
    service, _, sub_id = service_with([])
    assert recent(service, sub_id, {"id": "sub_" + "0" * 32})[0] == 200


def test_an_event_published_again_is_listed_once_at_its_first_time():
    service, clock, sub_id = service_with([])
    first = publish(service, clock, 1)
    clock.now += timedelta(seconds=10)
    second = publish(service, clock, 2)
    event = Event(first, f"{JOB}1", "site1", "job.succeeded", b"{}", clock.now)
    clock.now += timedelta(seconds=10)
    assert service.publish(event) == 1  # the same delivery, its first attempt not yet made: queued again
    assert [r["event_id"] for r in recent(service, sub_id)[1]["deliveries"]] == [second, first]


def test_the_memory_store_orders_like_the_table_index():
    """Newest first; deliveries at the same instant by event id, as the index's RowKey sorts them."""
    service, clock, sub_id = service_with([])
    store = service.store
    assert isinstance(store, MemoryWebhookStore)
    for n in (2, 1, 3):
        service.publish(Event(f"evt_{n}", f"{JOB}{n}", "site1", "job.succeeded", b"{}", clock.now))
    assert [d.event_id for d in store.recent_deliveries(sub_id, 10)] == ["evt_1", "evt_2", "evt_3"]
    assert [d.event_id for d in store.recent_deliveries(sub_id, 1)] == ["evt_1"]
