"""The three API modules on in-memory ports, for pure unit tests of their input handling."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path

from shared import paging
from shared.errors import Conflict, NotFound
from shared.jobs.api import JobsApi
from shared.jobs.models import Job, JobState
from shared.uploads.service import UploadService, UploadSettings
from shared.webhooks.endpoint import EndpointPolicy
from shared.webhooks.models import ALL_SITES, Delivery, DeliveryState, Event, Subscription
from shared.webhooks.ports import DeliveryPage
from shared.webhooks.service import WebhookService
from tests.unit.jobs.fakes import MemoryJobStore, MemoryPhotos
from tests.unit.uploads.fakes import Clock, FakeSigner, MemoryReservations

REPO = Path(__file__).resolve().parents[3]
JOB_ID = "j_" + "a" * 26
PROBLEM_MEMBERS = {"type", "title", "status", "detail", "reason"}


def documented_codes() -> set[str]:
    return set(re.findall(r"`([a-z_]+)`", (REPO / "docs" / "reason-codes.md").read_text()))


class MemoryWebhookStore:
    def __init__(self) -> None:
        self.subscriptions: dict[str, Subscription] = {}
        self.deliveries: dict[tuple[str, str], Delivery] = {}
        self.events: dict[str, Event] = {}

    def add_subscription(self, subscription: Subscription) -> str | None:
        if subscription.id in self.subscriptions:
            raise Conflict(subscription.id)
        holders = [s.id for s in self.subscriptions.values()
                   if s.disabled_reason is None and s.registration == subscription.registration]  # fmt: skip
        if holders:  # as the table store's registration row refuses a second active holder
            return holders[0]
        self.subscriptions[subscription.id] = replace(subscription, etag="1")
        return None

    def get_subscription(self, subscription_id: str) -> Subscription:
        if subscription_id not in self.subscriptions:
            raise NotFound(f"subscription {subscription_id}")
        return self.subscriptions[subscription_id]

    def list_subscriptions(self) -> list[Subscription]:
        return list(self.subscriptions.values())

    def subscriptions_for(self, site: str) -> list[Subscription]:
        return [s for s in self.subscriptions.values() if s.site in (site, ALL_SITES)]

    def update_subscription(self, subscription: Subscription) -> Subscription:
        self.subscriptions[subscription.id] = subscription
        return subscription

    def delete_subscription(self, subscription_id: str) -> None:
        self.get_subscription(subscription_id)
        del self.subscriptions[subscription_id]

    def add_event(self, event: Event) -> bool:
        return self.events.setdefault(event.id, event) is event

    def get_event(self, event_id: str) -> Event:
        if event_id not in self.events:
            raise NotFound(event_id)
        return self.events[event_id]

    def add_delivery(self, delivery: Delivery) -> bool:
        key = (delivery.event_id, delivery.subscription_id)
        return self.deliveries.setdefault(key, delivery) is delivery  # a delivery keeps its first creation time

    def get_delivery(self, event_id: str, subscription_id: str) -> Delivery:
        if (event_id, subscription_id) not in self.deliveries:
            raise NotFound(f"delivery {event_id}")
        return self.deliveries[(event_id, subscription_id)]

    def update_delivery(self, delivery: Delivery, was: Delivery | None = None) -> Delivery:
        self.deliveries[(delivery.event_id, delivery.subscription_id)] = delivery
        return delivery

    def pending_deliveries(self, due_before: datetime) -> list[Delivery]:
        return []

    def failed_deliveries(self, subscription_id: str, limit: int, token: str | None) -> DeliveryPage:
        # As the table index pages them: newest first, `limit` a page; the position is the subscription and an offset.
        failed = [d for d in self.recent_deliveries(subscription_id, len(self.deliveries))
                  if d.state is DeliveryState.FAILED]  # fmt: skip
        sub, _, offset = (token or f"{subscription_id}@0").partition("@")
        if sub != subscription_id or not offset.isdigit():
            raise paging.not_given()
        start = int(offset)
        return failed[start : start + limit], f"{sub}@{start + limit}" if start + limit < len(failed) else None

    def erase_event(self, event_id: str) -> int:
        keys = [key for key in self.deliveries if key[0] == event_id]
        for key in keys:
            del self.deliveries[key]
        return len(keys) + (self.events.pop(event_id, None) is not None)

    def recent_deliveries(self, subscription_id: str, limit: int) -> list[Delivery]:
        # As the table index orders them: newest first, ties by event id; undated deliveries are not indexed.
        dated = sorted((d for (_, sub), d in self.deliveries.items() if sub == subscription_id and d.created_at),
                       key=lambda d: d.event_id)  # fmt: skip
        return sorted(dated, key=lambda d: d.created_at or datetime.min, reverse=True)[:limit]  # stable on ties


class NoQueue:
    def send(self, event_id: str, subscription_id: str, delay: timedelta) -> None:
        pass


def webhook_service() -> WebhookService:
    # Every name resolves to loopback, which the local-development policy allows: no resolver is asked.
    return WebhookService(MemoryWebhookStore(), NoQueue(), EndpointPolicy(allow_loopback=True),
                          resolve=lambda _host, _port: [ip_address("127.0.0.1")])  # fmt: skip


def jobs_api() -> tuple[JobsApi, MemoryJobStore]:
    """The status API over a store holding one RUNNING job, `JOB_ID`, of site `north-yard`."""
    store = MemoryJobStore()
    store.create(Job(id=JOB_ID, site="north-yard", device="cam-1", photo_id="IMG_1",
                     blob_name="north-yard/cam-1/2026/11/22/IMG_1.jpg", blob_etag='"0x1"',
                     received_at=datetime(2026, 11, 22, 8, 0, tzinfo=UTC), state=JobState.RUNNING))  # fmt: skip
    return JobsApi(store, MemoryPhotos(), retry=lambda job: job), store


def upload_service() -> UploadService:
    clock = Clock()
    return UploadService(MemoryReservations(), FakeSigner(clock), UploadSettings(max_bytes=1234), clock)
