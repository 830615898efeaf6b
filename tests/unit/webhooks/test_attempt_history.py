"""A delivery's attempts stay within what its Table storage row can hold however often it is replayed, and
however long a receiver's error text: the first and latest attempts are kept, numbers keep counting every
attempt, and each error is bounded. The real service on the memory store, each write checked against the table
adapter's own row (the table store itself is tested on Azurite: tests/integration/webhooks/)."""

from __future__ import annotations

from datetime import timedelta
from ipaddress import ip_address
from pathlib import Path

from shared.adapters.azure_webhook_rows import delivery_row
from shared.webhooks import api as webhooks_api
from shared.webhooks import endpoint
from shared.webhooks.endpoint import EndpointPolicy
from shared.webhooks.models import (
    FIRST_ATTEMPTS_KEPT,
    LATEST_ATTEMPTS_KEPT,
    MAX_ERROR_CHARS,
    Delivery,
    DeliveryState,
    Event,
    bounded_error,
)
from shared.webhooks.retry import MAX_ATTEMPTS
from shared.webhooks.service import WebhookService
from tests.unit.api.fakes import MemoryWebhookStore, NoQueue
from tests.unit.uploads.fakes import Clock

REPO = Path(__file__).resolve().parents[3]
MAX_PROPERTY_UNITS = 32 * 1024  # a Table storage string property: at most 64 KiB of UTF-16
REPLAYS = 300
# What a receiver can make an attempt's error say: http.client quotes a bad status line of up to 64 KiB whole.
HOSTILE_ERROR = "BadStatusLine: " + ('"\\\x00é😀' * 14_000)


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class RowSizeCheckingStore(MemoryWebhookStore):
    """Refuses a delivery whose Attempts property Table storage would refuse (PropertyValueTooLarge)."""

    def update_delivery(self, delivery: Delivery, was: Delivery | None = None) -> Delivery:
        units = utf16_units(delivery_row(delivery)["Attempts"])
        assert units <= MAX_PROPERTY_UNITS, f"attempt {delivery.attempt_count}: Attempts is {units:,} UTF-16 units"
        return super().update_delivery(delivery, was)


def failing_service(error: str | None = None) -> tuple[WebhookService, Clock, str, str]:
    """A subscription whose receiver always fails (500, or no answer with `error`), and one delivery to it that
    ran the whole schedule and failed."""
    clock = Clock()
    service = WebhookService(
        RowSizeCheckingStore(), NoQueue(), EndpointPolicy(allow_loopback=True), clock=clock,
        resolve=lambda _h, _p: [ip_address("127.0.0.1")],
        send=lambda _t, _b, _h: endpoint.Response(None if error else 500, error=error),
    )  # fmt: skip
    sub, _ = service.subscribe("http://127.0.0.1:9/hook", None, None)
    event = Event("evt_j1_succeeded", "j1", "site1", "job.succeeded", b"{}", clock())
    assert service.publish(event) == 1
    while not service.deliver(event.id, sub.id).terminal:
        clock.now = max(clock.now, service.store.get_delivery(event.id, sub.id).next_attempt_at)
    return service, clock, sub.id, event.id


def test_a_delivery_replayed_hundreds_of_times_stays_writable_failed_and_replayable():
    service, clock, sub_id, event_id = failing_service()
    for _ in range(REPLAYS):
        clock.now += timedelta(hours=1)  # a script that replays failed deliveries hourly
        service.replay(event_id, sub_id)
        assert service.deliver(event_id, sub_id) is DeliveryState.FAILED
    made = MAX_ATTEMPTS + REPLAYS
    delivery = service.store.get_delivery(event_id, sub_id)
    kept = [*range(1, FIRST_ATTEMPTS_KEPT + 1), *range(made - LATEST_ATTEMPTS_KEPT + 1, made + 1)]
    assert [a.number for a in delivery.attempts] == kept
    assert delivery.failure_reason == "retries_exhausted" and delivery.attempt_count == made
    # What clients are shown: still listed as failed, the count of every attempt made, and replayable.
    _, recent = webhooks_api.handle(service, "recent", {"id": sub_id}, b"").pair()
    assert [(d["event_id"], d["state"], d["attempts"]) for d in recent["deliveries"]] == [(event_id, "failed", made)]
    _, failed = webhooks_api.handle(service, "failed", {"id": sub_id}, b"").pair()
    [item] = failed["items"]
    assert [a["number"] for a in item["attempts"]] == kept and item["attempts"][-1]["status"] == 500
    assert webhooks_api.handle(service, "replay", {"id": sub_id, "event_id": event_id}, b"").status == 202
    assert service.deliver(event_id, sub_id) is DeliveryState.FAILED
    assert service.store.get_delivery(event_id, sub_id).attempt_count == made + 1


def test_a_receivers_longest_error_on_every_kept_attempt_still_fits_the_row():
    service, clock, sub_id, event_id = failing_service(HOSTILE_ERROR)
    for _ in range(FIRST_ATTEMPTS_KEPT + LATEST_ATTEMPTS_KEPT):
        clock.now += timedelta(hours=1)
        service.replay(event_id, sub_id)
        assert service.deliver(event_id, sub_id) is DeliveryState.FAILED
    delivery = service.store.get_delivery(event_id, sub_id)
    assert len(delivery.attempts) == FIRST_ATTEMPTS_KEPT + LATEST_ATTEMPTS_KEPT
    for attempt in delivery.attempts:
        assert attempt.error is not None and len(attempt.error) == MAX_ERROR_CHARS
        assert attempt.error.isascii() and attempt.error.isprintable() and attempt.error.endswith("...")
        assert attempt.error.startswith('BadStatusLine: "\\\\x00\\xe9\\U0001f600"')  # escaped, still readable


def test_an_error_is_bounded_once_and_short_printable_ones_are_kept_as_they_are():
    for error in (None, "timed out", "ConnectionRefusedError: [Errno 111] Connection refused", "DNS: 'x' \\ y"):
        assert bounded_error(error) == error
    once = bounded_error(HOSTILE_ERROR)
    assert bounded_error(once) == once  # every write bounds the kept attempts again: it must not change them
    assert bounded_error("a\nb\u2028c") == "a\\nb\\u2028c"


def test_the_documented_bounds_are_the_code():
    text = (REPO / "docs" / "webhooks.md").read_text()
    assert f"its first {FIRST_ATTEMPTS_KEPT} attempts" in text and f"its latest {LATEST_ATTEMPTS_KEPT}," in text
    assert f"most {MAX_ERROR_CHARS} characters" in text
