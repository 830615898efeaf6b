"""The subscription use cases: register an endpoint, list, rotate and remove subscriptions, and read one's
deliveries. `WebhookService` (shared/webhooks/service.py) has them, beside publishing and delivering."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from shared.errors import Conflict, InvalidInput, NotFound, TransientError
from shared.webhooks import endpoint
from shared.webhooks.models import ALL_SITES, EVENT_TYPES, Delivery, Event, SigningSecret, Subscription
from shared.webhooks.ports import DeliveryPage, WebhookStore
from shared.webhooks.signing import new_secret

ROTATION_GRACE = timedelta(hours=24)
# GET /subscriptions lists every subscription in one answer, and the dashboard reads each one's deliveries: a
# bound on them all, disabled ones included, keeps both small.
MAX_SUBSCRIPTIONS = 100
# A change whose conditional write lost to a concurrent one is read and applied again, at most this many times:
# each loss is another writer's win, so this many writers of one row at once all succeed.
WRITE_TRIES = 10


def already_registered(subscription_id: str) -> Conflict:
    """The refusal of a second active subscription with one url, site and event types."""
    return Conflict(f"subscription {subscription_id} already sends these events to this url; rotate it for a new "
                    "secret", reason="subscription_exists")  # fmt: skip


class SubscriptionCases:
    """What these use cases need; WebhookService sets each in its constructor."""

    store: WebhookStore
    policy: endpoint.EndpointPolicy
    resolve: endpoint.Resolver
    clock: Callable[[], datetime]

    def subscribe(self, url: str, site: str | None, event_types: list[str] | None) -> tuple[Subscription, str]:
        """Register an endpoint; returns the subscription and its secret, which is shown only here. Conflict
        `subscription_exists` when an active one has this url, site and event types (see `register`)."""
        registered = self.register(url, site, event_types)
        if isinstance(registered, str):
            raise already_registered(registered)
        return registered

    def register(self, url: str, site: str | None, event_types: list[str] | None) -> tuple[Subscription, str] | str:
        """The new subscription and its secret, or the id of the active subscription that already has this url,
        site and event types, and nothing is added: a client retrying a create whose answer it lost would
        otherwise have every event sent twice, one copy signed with a secret it never saw. Conflict
        `too_many_subscriptions` past MAX_SUBSCRIPTIONS."""
        try:
            endpoint.check(url, self.policy, self.resolve)
        except OSError as exc:  # strict here: a typo'd host fails at once, not after three days of retries
            raise endpoint.UnsafeWebhookUrl(f"webhook host does not resolve: {exc}") from exc
        types = frozenset(event_types or EVENT_TYPES)
        unknown = types - EVENT_TYPES
        if unknown:
            raise InvalidInput(f"unknown event types: {', '.join(sorted(unknown))}", reason="unknown_event_type")
        secret = new_secret()
        sub = Subscription(
            id=f"sub_{uuid.uuid4().hex}",
            url=url,
            site=site or ALL_SITES,
            event_types=types,
            secrets=(SigningSecret(secret),),
            created_at=self.clock(),
        )
        existing = self.store.list_subscriptions()
        # The store refuses a second holder of a registration, racing creates included; the listing also finds
        # the subscriptions created before registrations were recorded, which hold none.
        same = [s.id for s in existing if s.disabled_reason is None and s.registration == sub.registration]
        if same:
            return same[0]
        if len(existing) >= MAX_SUBSCRIPTIONS:  # checked before the write: racing creates may pass it by a few
            raise Conflict(f"at most {MAX_SUBSCRIPTIONS} subscriptions, disabled ones included: delete one first",
                           reason="too_many_subscriptions")  # fmt: skip
        holder = self.store.add_subscription(sub)
        return (sub, secret) if holder is None else holder

    def subscriptions(self) -> list[Subscription]:
        return list(self.store.list_subscriptions())

    def subscription(self, subscription_id: str) -> Subscription:
        """The subscription, or NotFound."""
        return self.store.get_subscription(subscription_id)

    def unsubscribe(self, subscription_id: str) -> None:
        """Remove a subscription (NotFound when there is none); its pending deliveries are cancelled when due."""
        self.store.delete_subscription(subscription_id)

    def failed_deliveries(self, subscription_id: str, limit: int, token: str | None) -> DeliveryPage:
        """A page of the subscription's failed deliveries with their attempts, newest first, and the store's token
        for the next; NotFound for an unknown subscription, so that a mistyped id is not read as "nothing failed"."""
        self.store.get_subscription(subscription_id)
        return self.store.failed_deliveries(subscription_id, limit, token)

    def recent_deliveries(self, subscription_id: str, limit: int) -> list[tuple[Delivery, Event | None]]:
        """The subscription's newest `limit` deliveries, any outcome, newest first, each with its event (None
        if the event is gone); NotFound for an unknown subscription."""
        self.store.get_subscription(subscription_id)
        return [(d, self._event_or_none(d.event_id)) for d in self.store.recent_deliveries(subscription_id, limit)]

    def _event_or_none(self, event_id: str) -> Event | None:
        try:
            return self.store.get_event(event_id)
        except NotFound:
            return None

    def rotate(self, subscription_id: str, grace: timedelta = ROTATION_GRACE) -> tuple[Subscription, str]:
        """Add a new secret; the current one keeps signing for `grace`, any older one stops (`Subscription.rotated`).
        Returns the subscription as written, with the new secret, which is shown only here. A concurrent change
        (another rotation, a 410 disabling it) is read again and the rotation applied to it."""
        secret = new_secret()
        for _ in range(WRITE_TRIES):
            sub = self.store.get_subscription(subscription_id)
            if sub.holds(secret):
                # This rotation's write landed but its answer was lost, and the storage client's retry of it was
                # refused (412) because of that very write. Applying it again would stop the secret it kept
                # signing for `grace`, and store the new one twice.
                return sub, secret
            try:
                return self.store.update_subscription(sub.rotated(secret, self.clock(), grace)), secret
            except Conflict:
                continue
        raise TransientError(f"subscription {subscription_id} kept changing while being rotated; try again")
