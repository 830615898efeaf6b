"""`GET /subscriptions/{id}/failed`: a subscription's failed deliveries a page at a time, newest first, each with
every attempt; `limit` and `continuation` as GET /jobs reads them (a bad one is `bad_query`, never the first
page). The real service on the memory store with a scripted receiver (the table store is tested on Azurite)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from ipaddress import ip_address
from typing import Any

import pytest

from shared import paging
from shared.webhooks import api as webhooks_api
from shared.webhooks import endpoint
from shared.webhooks.endpoint import EndpointPolicy
from shared.webhooks.models import DeliveryState, Event
from shared.webhooks.retry import MAX_ATTEMPTS
from shared.webhooks.service import WebhookService
from tests.unit.api.fakes import PROBLEM_MEMBERS, MemoryWebhookStore, NoQueue
from tests.unit.uploads.fakes import Clock

JOB = "j_" + "c" * 25


def service_with(statuses: list[int]) -> tuple[WebhookService, Clock, str]:
    clock = Clock()
    script = list(statuses)
    service = WebhookService(
        MemoryWebhookStore(), NoQueue(), EndpointPolicy(allow_loopback=True),
        resolve=lambda _h, _p: [ip_address("127.0.0.1")], clock=clock,
        send=lambda _t, _b, _h: endpoint.Response(script.pop(0) if script else 200, error=None),
    )  # fmt: skip
    sub, _ = service.subscribe("http://127.0.0.1:9/hook", None, None)
    return service, clock, sub.id


def settle(service: WebhookService, clock: Clock, sub_id: str, n: int) -> str:
    """Publish event n and play its attempts until it ends; returns the event id."""
    clock.now += timedelta(seconds=10)
    event = Event(f"evt_{JOB}{n}_x", f"{JOB}{n}", "site1", "job.succeeded", b"{}", clock.now)
    assert service.publish(event) == 1
    while not service.deliver(event.id, sub_id).terminal:
        clock.now = max(clock.now, service.store.get_delivery(event.id, sub_id).next_attempt_at)
    return event.id


def failed(service: WebhookService, sub_id: str, query: Mapping[str, str] = {}) -> tuple[int, Any]:
    return webhooks_api.handle(service, "failed", {"id": sub_id}, b"", query).pair()


def test_failed_deliveries_come_a_page_at_a_time_newest_first_with_every_attempt():
    # Three deliveries exhaust their attempts, one between them is delivered.
    service, clock, sub_id = service_with([503] * MAX_ATTEMPTS * 2 + [200] + [503] * MAX_ATTEMPTS)
    gave_up = [settle(service, clock, sub_id, n) for n in range(2)]
    settle(service, clock, sub_id, 2)
    gave_up.append(settle(service, clock, sub_id, 3))
    assert service.store.get_delivery(gave_up[2], sub_id).state is DeliveryState.FAILED

    pages, continuation = [], None
    while True:
        status, doc = failed(service, sub_id, {"limit": "2"} | ({"continuation": continuation} if continuation else {}))
        assert status == 200 and set(doc) == {"items", "continuation"}
        pages.append([item["event_id"] for item in doc["items"]])
        continuation = doc["continuation"]
        if continuation is None:
            break
        assert len(pages) < 5, "the listing never ends"
    assert pages == [gave_up[:0:-1], gave_up[:1]]
    item = doc["items"][0]
    assert item["failure_reason"] == "retries_exhausted" and len(item["attempts"]) == MAX_ATTEMPTS
    assert [a["status"] for a in item["attempts"]] == [503] * MAX_ATTEMPTS
    # The default page (50) holds them all, and says it is the last.
    status, doc = failed(service, sub_id)
    assert [i["event_id"] for i in doc["items"]] == gave_up[::-1] and doc["continuation"] is None
    json.dumps(doc)  # what the HTTP layer sends


@pytest.mark.parametrize("limit", ["0", "101", "-1", "1e2", "ten", "", " 5", "0" * 4 + "5"])
def test_a_bad_limit_is_bad_query(limit: str):
    service, _, sub_id = service_with([])
    status, doc = failed(service, sub_id, {"limit": limit})
    assert status == 400 and set(doc) == PROBLEM_MEMBERS and doc["reason"] == "bad_query"
    assert "limit" in doc["detail"]


def test_a_continuation_this_api_did_not_give_is_bad_query_never_the_first_page():
    service, clock, sub_id = service_with([503] * MAX_ATTEMPTS * 2)
    for n in range(2):
        settle(service, clock, sub_id, n)
    given = failed(service, sub_id, {"limit": "1"})[1]["continuation"]
    assert given is not None and failed(service, sub_id, {"limit": "1", "continuation": given})[0] == 200
    other, _ = service.subscribe("http://127.0.0.1:9/other", None, None)
    for bad in ("", "!", given + "=", given[:-1], "a" * (paging.MAX_TOKEN_CHARS + 1), paging.token("garbage") or ""):
        status, doc = failed(service, sub_id, {"continuation": bad})
        assert (status, doc["reason"]) == (400, "bad_query"), bad
    # A token from another subscription's listing is not one for this one.
    status, doc = failed(service, other.id, {"continuation": given})
    assert (status, doc["reason"]) == (400, "bad_query")


def test_an_unknown_subscription_is_404_never_an_empty_page():
    service, _, _ = service_with([])
    status, doc = failed(service, "sub_" + "0" * 32, {"limit": "5"})
    assert (status, doc["reason"]) == (404, "not_found")
