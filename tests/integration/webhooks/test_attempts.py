"""Each delivery attempt is bounded: in time (one deadline), in number (the schedule's), and one at a time; a
name that fails to resolve when an attempt is due is a failed attempt that is retried, not a refusal. The real
service on Azurite, an injected clock, and loopback receivers."""

from __future__ import annotations

import ipaddress
import socket
import threading
from dataclasses import replace
from datetime import timedelta

import pytest

from shared.errors import Conflict
from shared.webhooks import endpoint
from shared.webhooks.address_policy import IPAddress
from shared.webhooks.endpoint import UnsafeWebhookUrl
from shared.webhooks.models import DeliveryState
from shared.webhooks.retry import MAX_ATTEMPTS
from tests.integration.webhooks.conftest import Harness
from tests.support.receiver import Receiver

pytestmark = pytest.mark.integration


class TricklingReceiver:
    """Answers a status line, then one header byte every 50 ms until stopped: no single read ever waits long,
    yet the answer never ends."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.getsockname()[1]}/hook"

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            conn.recv(65536)
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                while not self.stop.wait(0.05):
                    conn.sendall(b"X")
            except OSError:
                pass  # the sender gave up and closed the connection

    def close(self) -> None:
        self.stop.set()
        self.server.close()


def test_a_receiver_trickling_its_answer_times_out_at_the_attempts_deadline_and_is_retried(storage_connection, unique):
    harness = Harness(storage_connection, unique, send_timeout=0.5)
    trickler = TricklingReceiver()
    try:
        sub, _ = harness.service.subscribe(trickler.url, None, None)
        event = harness.event("trickle1")
        harness.service.publish(event)
        states: list[DeliveryState] = []
        worker = threading.Thread(target=lambda: states.append(harness.service.deliver(event.id, sub.id)))
        worker.start()
        worker.join(timeout=20)  # far beyond the 0.5 s deadline; without one the answer never ends
        assert not worker.is_alive(), "the attempt is still reading the trickled answer"
    finally:
        trickler.close()
    assert states == [DeliveryState.PENDING]  # an ordinary failed attempt, on the retry schedule
    [attempt] = harness.service.store.get_delivery(event.id, sub.id).attempts
    assert attempt.status is None and attempt.error == "timed out"


def test_a_second_message_while_an_attempt_is_in_flight_sends_nothing(harness, receiver):
    sub, _ = harness.service.subscribe(receiver.url, None, None)
    event = harness.event("dup1")
    harness.service.publish(event)
    duplicate, second = [event.id], []

    def send(target: endpoint.Target, body: bytes, headers: dict[str, str]) -> endpoint.Response:
        if duplicate:  # a duplicate message, handled by another worker while this attempt is open
            harness.clock.advance(timedelta(seconds=1))
            second.append(harness.service.deliver(duplicate.pop(), sub.id))
        return endpoint.post(target, body, headers, timeout=2.0)

    harness.service.send = send
    try:
        first = harness.service.deliver(event.id, sub.id)
    finally:  # checked first: a second attempt in flight would also make the first one's write lose (Conflict)
        assert second == [DeliveryState.PENDING]
    assert first is DeliveryState.DELIVERED
    assert len(receiver.wait_for(1)) == 1
    attempts = harness.service.store.get_delivery(event.id, sub.id).attempts
    assert [(a.number, a.status) for a in attempts] == [(1, 200)]


def test_interrupted_attempts_count_so_a_delivery_never_exceeds_the_schedule(harness):
    """Every attempt outlives the stale limit (the sweep closes it as interrupted and re-drives it meanwhile)."""
    harness.service.resolve = lambda _h, _p: [ipaddress.ip_address("127.0.0.1")]
    sub, _ = harness.service.subscribe("http://127.0.0.1:9/hook", None, None)
    event = harness.event("forever1")
    harness.service.publish(event)
    sends = 0

    def send(_target: endpoint.Target, _body: bytes, _headers: dict[str, str]) -> endpoint.Response:
        nonlocal sends
        sends += 1
        harness.clock.advance(timedelta(minutes=4))
        harness.service.sweep()
        return endpoint.Response(200)

    harness.service.send = send
    for _ in range(3 * MAX_ATTEMPTS):  # each re-driven message; the late outcome loses to the sweep's write
        try:
            if harness.service.deliver(event.id, sub.id).terminal:
                break
        except Conflict:
            pass
    delivery = harness.service.store.get_delivery(event.id, sub.id)
    assert len(delivery.attempts) == sends == MAX_ATTEMPTS
    assert delivery.state is DeliveryState.FAILED and delivery.failure_reason == "retries_exhausted"


@pytest.mark.parametrize("error", [socket.EAI_AGAIN, socket.EAI_FAIL, socket.EAI_NONAME])
def test_a_name_that_fails_to_resolve_at_an_attempt_is_retried_but_refused_at_registration(harness, receiver, error):
    dns_up = True

    def resolve(_host: str, _port: int) -> list[IPAddress]:
        if not dns_up:
            raise socket.gaierror(error, "resolver failure")
        return [ipaddress.ip_address("127.0.0.1")]

    harness.service.resolve = resolve
    sub, _ = harness.service.subscribe(receiver.url, None, None)
    event = harness.event(f"dns{error}")
    harness.service.publish(event)
    dns_up = False
    assert harness.service.deliver(event.id, sub.id) is DeliveryState.PENDING
    delivery = harness.service.store.get_delivery(event.id, sub.id)
    [attempt] = delivery.attempts
    assert attempt.status is None and attempt.error is not None and attempt.error.startswith("DNS: ")
    assert delivery.failure_reason is None and delivery.next_attempt_at > harness.clock()
    with pytest.raises(UnsafeWebhookUrl, match="does not resolve"):
        harness.service.subscribe(receiver.url, None, None)
    dns_up = True
    assert harness.run_until_settled(event.id, sub.id) == "delivered"
    assert len(receiver.wait_for(1)) == 1


def test_a_stored_url_with_a_line_break_is_refused_before_an_attempt(harness):
    with Receiver() as canary:
        sub, _ = harness.service.subscribe(canary.url, None, None)
        stored = harness.service.store.get_subscription(sub.id)  # as if registered before tabs were refused
        harness.service.store.update_subscription(replace(stored, url=canary.url.replace("/hook", "/ho\tok")))
        event = harness.event("crlf1")
        harness.service.publish(event)
        assert harness.service.deliver(event.id, sub.id) is DeliveryState.FAILED
        assert harness.service.store.get_delivery(event.id, sub.id).failure_reason == "webhook_url_refused"
        assert canary.connections == 0
