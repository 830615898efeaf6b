"""Webhook delivery with the real store (Azurite), real HTTP to loopback receivers and an injected clock."""

from __future__ import annotations

import ipaddress
import threading
from datetime import timedelta

import pytest

from shared.errors import InvalidInput
from shared.webhooks.endpoint import EndpointPolicy, UnsafeWebhookUrl
from shared.webhooks.models import Attempt, DeliveryState
from shared.webhooks.signing import verify
from tests.support.receiver import Receiver, Reply

pytestmark = pytest.mark.integration


def test_three_500s_then_200_delivers_on_attempt_4_with_one_id_and_fresh_signatures(harness, receiver):
    receiver.script = [Reply(500), Reply(500), Reply(500), Reply(200)]
    sub, secret = harness.service.subscribe(receiver.url, "site1", ["job.succeeded"])
    event = harness.event("job1")
    assert harness.service.publish(event) == 1
    assert harness.run_until_settled(event.id, sub.id) == "delivered"
    got = receiver.wait_for(4)
    assert {r.headers["webhook-id"] for r in got} == {event.id}  # the same id across retries
    assert len({r.headers["webhook-signature"] for r in got}) == 4  # each attempt signed afresh
    for r in got:
        verify(secret, r.headers, r.body, now=int(r.headers["webhook-timestamp"]))
        assert r.body == event.body
    delivery = harness.service.store.get_delivery(event.id, sub.id)
    assert [a.status for a in delivery.attempts] == [500, 500, 500, 200]


def test_publish_is_idempotent_and_only_matching_subscriptions_get_it(harness, receiver):
    wanted, _ = harness.service.subscribe(receiver.url, "site1", ["job.failed"])
    harness.service.subscribe(receiver.url, "other-site", ["job.failed"])
    harness.service.subscribe(receiver.url, None, ["job.succeeded"])
    event = harness.event("job2", "job.failed")
    assert harness.service.publish(event) == 1
    # Published again before its first attempt: no second delivery, its first attempt queued again (a duplicate
    # message finds the attempt taken or no longer due).
    assert harness.service.publish(event) == 1
    assert [d.event_id for d in harness.service.store.recent_deliveries(wanted.id, 5)] == [event.id]
    messages = harness.messages()
    assert messages == [{"event_id": event.id, "subscription_id": wanted.id}] * 2  # the ids on_notification reads
    harness.service.deliver(event.id, wanted.id)
    assert harness.service.publish(event) == 0  # once attempted, publishing again queues nothing


def test_410_disables_the_subscription(harness, receiver):
    receiver.script = [Reply(410)]
    sub, _ = harness.service.subscribe(receiver.url, None, None)
    event = harness.event("job3")
    harness.service.publish(event)
    assert harness.run_until_settled(event.id, sub.id) == "failed"
    assert harness.service.store.get_subscription(sub.id).disabled_reason
    # a later event for the disabled subscription is not even queued
    assert harness.service.publish(harness.event("job3b")) == 0


def test_302_is_a_failure_and_is_not_followed(harness, receiver):
    with Receiver() as canary:
        receiver.script = [Reply(302, {"Location": canary.url})]
        sub, _ = harness.service.subscribe(receiver.url, None, None)
        event = harness.event("job4")
        harness.service.publish(event)
        assert harness.service.deliver(event.id, sub.id) is DeliveryState.PENDING
        assert harness.service.store.get_delivery(event.id, sub.id).attempts[0].status == 302
        assert canary.connections == 0


def test_a_slow_receiver_times_out_and_is_retried(harness, receiver):
    release = threading.Event()
    receiver.script = [Reply(200, hold=release), Reply(200)]
    sub, _ = harness.service.subscribe(receiver.url, None, None)
    event = harness.event("job5")
    harness.service.publish(event)
    try:
        assert harness.service.deliver(event.id, sub.id) is DeliveryState.PENDING  # 2 s send timeout
    finally:
        release.set()
    first = harness.service.store.get_delivery(event.id, sub.id).attempts[0]
    assert first.status is None and first.error == "timed out"
    assert harness.run_until_settled(event.id, sub.id) == "delivered"


def test_429_retry_after_is_honoured_on_the_clock(harness, receiver):
    receiver.script = [Reply(429, {"Retry-After": "600"}), Reply(200)]
    sub, _ = harness.service.subscribe(receiver.url, None, None)
    event = harness.event("job6")
    harness.service.publish(event)
    start = harness.clock()
    harness.service.deliver(event.id, sub.id)
    delivery = harness.service.store.get_delivery(event.id, sub.id)
    assert delivery.next_attempt_at - start >= timedelta(seconds=600)
    harness.clock.advance(timedelta(seconds=590))
    assert harness.service.deliver(event.id, sub.id) is DeliveryState.PENDING  # too early: nothing sent
    assert len(receiver.received) == 1
    harness.clock.advance(timedelta(seconds=10))
    assert harness.service.deliver(event.id, sub.id) is DeliveryState.DELIVERED


def test_exhausted_delivery_is_kept_and_can_be_replayed(harness, receiver):
    receiver.script = [Reply(503)] * 10
    sub, _ = harness.service.subscribe(receiver.url, None, None)
    event = harness.event("job7")
    harness.service.publish(event)
    assert harness.run_until_settled(event.id, sub.id) == "failed"
    [failed], _ = harness.service.store.failed_deliveries(sub.id, 10, None)
    assert failed.failure_reason == "retries_exhausted" and len(failed.attempts) == 10
    harness.service.replay(event.id, sub.id)
    assert harness.service.deliver(event.id, sub.id) is DeliveryState.DELIVERED
    assert len(receiver.wait_for(11)) == 11
    with pytest.raises(InvalidInput):
        harness.service.replay(event.id, sub.id)  # only failed deliveries replay


def test_rotation_signs_with_both_secrets_during_the_grace_period(harness, receiver):
    sub, old = harness.service.subscribe(receiver.url, None, None)
    _, new = harness.service.rotate(sub.id)
    event = harness.event("job8")
    harness.service.publish(event)
    harness.service.deliver(event.id, sub.id)
    [r] = receiver.wait_for(1)
    assert len(r.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        verify(secret, r.headers, r.body, now=int(r.headers["webhook-timestamp"]))


def test_interrupted_attempt_is_swept_and_redelivered_with_the_same_id(harness, receiver):
    sub, _ = harness.service.subscribe(receiver.url, None, None)
    event = harness.event("job9")
    harness.service.publish(event)
    harness.messages()  # the queued message is lost with the process below
    # an attempt that started and never finished: the process died mid-POST
    delivery = harness.service.store.get_delivery(event.id, sub.id)
    harness.service.store.update_delivery(delivery.with_attempt(Attempt(1, harness.clock())))
    assert harness.service.sweep() == 0  # still possibly in flight
    harness.clock.advance(timedelta(minutes=5))
    assert harness.service.sweep() == 1
    [message] = harness.messages()
    assert harness.service.deliver(message["event_id"], message["subscription_id"]) is DeliveryState.DELIVERED
    [r] = receiver.wait_for(1)
    assert r.headers["webhook-id"] == event.id
    attempts = harness.service.store.get_delivery(event.id, sub.id).attempts
    assert [a.error for a in attempts] == ["interrupted", None]


def test_rebinding_name_cannot_reach_loopback(harness):
    """The resolver answers a public address at the check and loopback afterwards; only the first is used."""
    with Receiver() as canary:
        answers = [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("127.0.0.1")]
        calls = {"n": 0}

        def flipping(_host: str, _port: int):
            calls["n"] += 1
            return [answers[0] if calls["n"] % 2 else answers[1]]

        harness.service.resolve = flipping
        harness.service.policy = EndpointPolicy(allowed_ports=frozenset({canary.server.server_address[1]}))
        url = f"https://rebind.example:{canary.server.server_address[1]}/hook"
        sub, _ = harness.service.subscribe(url, None, None)  # check 1: public
        event = harness.event("job10")
        harness.service.publish(event)
        # check 2 (at send time) now sees loopback and refuses; nothing connects to the canary
        assert harness.service.deliver(event.id, sub.id) is DeliveryState.FAILED
        delivery = harness.service.store.get_delivery(event.id, sub.id)
        assert delivery.failure_reason == "webhook_url_refused"
        assert canary.connections == 0


def test_registration_refuses_forbidden_urls(harness):
    harness.service.policy = EndpointPolicy()
    for url in ("https://169.254.169.254/latest", "http://127.0.0.1:9/x", "https://[::ffff:10.0.0.1]/x"):
        with pytest.raises(UnsafeWebhookUrl):
            harness.service.subscribe(url, None, None)
