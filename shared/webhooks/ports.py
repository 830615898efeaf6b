"""The storage and queue seams the webhook service needs; adapters implement them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from shared.webhooks.models import Delivery, Event, Subscription

DeliveryPage = tuple[list[Delivery], str | None]  # a page and the store's position of the next


class WebhookStore(Protocol):
    """Raises shared.errors.Conflict when a conditional write loses, NotFound for a missing row."""

    # Adds it, unless an active subscription (not disabled) holds its `registration`: then nothing is added and
    # that one's id is returned. Two concurrent adds of one registration: one is added, the other names it.
    def add_subscription(self, subscription: Subscription) -> str | None: ...
    def get_subscription(self, subscription_id: str) -> Subscription: ...
    def list_subscriptions(self) -> list[Subscription]: ...
    def subscriptions_for(self, site: str) -> list[Subscription]: ...  # the site's and the fleet-wide ones
    def update_subscription(self, subscription: Subscription) -> Subscription: ...  # if-match etag
    def delete_subscription(self, subscription_id: str) -> None: ...

    def add_event(self, event: Event) -> bool: ...  # False when it already existed
    def get_event(self, event_id: str) -> Event: ...

    def add_delivery(self, delivery: Delivery) -> bool: ...  # False when it already existed
    def get_delivery(self, event_id: str, subscription_id: str) -> Delivery: ...
    # If-match etag; returns the new etag. `was`: the version it replaces, as read, which tells the store what
    # the delivery's due entry was (without it the store keeps the index ahead and leaves the stale entry to
    # the sweep).
    def update_delivery(self, delivery: Delivery, was: Delivery | None = None) -> Delivery: ...
    def pending_deliveries(self, due_before: datetime) -> list[Delivery]: ...  # at most a run's, oldest first
    # One page, newest first, and the position of the next (None on the last); a `token` it did not give is
    # shared.errors.InvalidInput (paging.not_given()).
    def failed_deliveries(self, subscription_id: str, limit: int, token: str | None) -> DeliveryPage: ...
    def recent_deliveries(self, subscription_id: str, limit: int) -> list[Delivery]: ...  # newest first, any state


class EventErasure(Protocol):
    """Erasing one event (shared/jobs/erasure.py): an operator's concern, apart from the store the app runs on."""

    # The event's row, its deliveries' rows and their index rows; how many event and delivery rows there were.
    def erase_event(self, event_id: str) -> int: ...


class NotificationQueue(Protocol):
    """Asks for one delivery attempt after `delay` (`shared.webhooks.notifications` is the message)."""

    def send(self, event_id: str, subscription_id: str, delay: timedelta) -> None: ...
