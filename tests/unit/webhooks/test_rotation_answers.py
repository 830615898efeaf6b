"""A rotation through the API module on the memory store, where storage answers badly: a write that landed though
its answer was lost is not applied twice, the answer does not hang on a read after the write, and secrets past
their expiry are not shown. The same faults on Azurite: tests/integration/webhooks/test_rotation_faults.py."""

from __future__ import annotations

from datetime import timedelta

from shared.errors import Conflict, TransientError
from shared.webhooks.models import Subscription
from shared.webhooks.subscriptions import ROTATION_GRACE
from tests.unit.api.fakes import MemoryWebhookStore
from tests.unit.uploads.fakes import Clock
from tests.unit.webhooks.test_write_rules import call, create, service_of


class LostAnswerStore(MemoryWebhookStore):
    """While `losing`: a subscription write is stored, then answered Conflict, as storage answers the retry of a
    conditional write whose first answer was lost (the ETag it was conditional on is gone: its own write)."""

    def __init__(self) -> None:
        super().__init__()
        self.losing = False
        self.writes = 0

    def update_subscription(self, subscription: Subscription) -> Subscription:
        self.writes += 1
        super().update_subscription(subscription)
        if self.losing:
            self.losing = False
            raise Conflict("the condition failed: the row changed since it was read")
        return subscription


class ReadFailsAfterWriteStore(MemoryWebhookStore):
    """Every read of a subscription after a write of one fails, as storage that stopped answering."""

    def __init__(self) -> None:
        super().__init__()
        self.written = False

    def update_subscription(self, subscription: Subscription) -> Subscription:
        self.written = True
        return super().update_subscription(subscription)

    def get_subscription(self, subscription_id: str) -> Subscription:
        if self.written:
            raise TransientError("storage did not answer")
        return super().get_subscription(subscription_id)


def test_a_rotation_stored_though_its_answer_was_lost_is_not_applied_again():
    clock = Clock()
    store = LostAnswerStore()
    service = service_of(store, clock=clock)
    _, created = create(service)
    old = created["secret"]
    store.losing = True
    status, rotated = call(service, "rotate", {"id": created["id"]})
    assert status == 200
    sub = store.subscriptions[created["id"]]
    # The old secret signs for the grace, the new one is current: not the new one twice, the old one dropped.
    assert sub.signing_secrets(clock.now) == [old, rotated["secret"]]
    assert [s.expires_at for s in sub.secrets] == [clock.now + ROTATION_GRACE, None]
    assert [s["expires_at"] for s in rotated["secrets"]] == [(clock.now + ROTATION_GRACE).isoformat(), None]
    assert store.writes == 1


def test_the_rotate_answer_holds_the_new_secret_though_the_subscription_cannot_be_read_after_the_write():
    clock = Clock()
    store = ReadFailsAfterWriteStore()
    service = service_of(store, clock=clock)
    _, created = create(service)
    status, rotated = call(service, "rotate", {"id": created["id"]})
    assert status == 200 and rotated["id"] == created["id"]
    assert [s["expires_at"] for s in rotated["secrets"]] == [(clock.now + ROTATION_GRACE).isoformat(), None]
    stored = store.subscriptions[created["id"]]
    assert stored.signing_secrets(clock.now) == [created["secret"], rotated["secret"]]


def test_a_secret_past_its_expiry_is_not_listed_and_the_next_rotation_drops_it():
    clock = Clock()
    store = MemoryWebhookStore()
    service = service_of(store, clock=clock)
    _, created = create(service)
    call(service, "rotate", {"id": created["id"]})
    [listed] = call(service, "list", {})[1]["items"]
    assert [s["expires_at"] for s in listed["secrets"]] == [(clock.now + ROTATION_GRACE).isoformat(), None]
    clock.now += ROTATION_GRACE
    [listed] = call(service, "list", {})[1]["items"]
    assert listed["secrets"] == [{"expires_at": None}]
    assert len(store.subscriptions[created["id"]].secrets) == 2  # a listing writes nothing
    clock.now += timedelta(minutes=1)
    _, rotated = call(service, "rotate", {"id": created["id"]})
    assert [s["expires_at"] for s in rotated["secrets"]] == [(clock.now + ROTATION_GRACE).isoformat(), None]
    stored = store.subscriptions[created["id"]]
    assert created["secret"] not in [s.secret for s in stored.secrets] and len(stored.secrets) == 2
