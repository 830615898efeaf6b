"""Each webhook attempt is measured and, when it did not deliver, traced with a reason code of the documented set
(the receiver's text stays in the span's status description): the service on the in-memory store, real loopback
receivers and the real sender, under the real SDK (tests.unit.telemetry.recording)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.unit.telemetry.recording import REPO, run

ATTEMPTS = """
import json, socket, threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from shared.webhooks import endpoint
from shared.webhooks.models import Event
from shared.webhooks.service import WebhookService
from tests.support.receiver import Receiver, Reply
from tests.unit.api.fakes import MemoryWebhookStore, NoQueue

created = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
now = created + timedelta(seconds=30)
dns_down = threading.Event()


def resolve(host, port):
    if dns_down.is_set():
        raise OSError("Name or service not known")
    return [ip_address("127.0.0.1")]


store = MemoryWebhookStore()
service = WebhookService(store, NoQueue(), endpoint.EndpointPolicy(allow_loopback=True), resolve=resolve,
                         send=lambda t, b, h: endpoint.post(t, b, h, timeout=0.5), clock=lambda: now)
silent = socket.create_server(("127.0.0.1", 0))  # accepts (the kernel does), never answers
closed = socket.create_server(("127.0.0.1", 0))
closed_port = closed.getsockname()[1]
closed.close()


def attempt(n, url, stored_url=None, broken_dns=False):
    sub, _ = service.subscribe(url, None, None)
    if stored_url:  # a URL stored before today's checks, refused before the attempt
        store.subscriptions[sub.id] = replace(sub, url=stored_url)
    event = Event(f"evt_{n}", f"j_{n}", "site1", "job.succeeded", b"{}", created)
    service.publish(event)
    if broken_dns:
        dns_down.set()
    try:
        return service.deliver(event.id, sub.id).value
    finally:
        dns_down.clear()


with Receiver([Reply(500), Reply(404), Reply(302), Reply(200)]) as receiver:
    states = [attempt(n, f"{receiver.url}?n={n}") for n in range(4)]  # one url, one active subscription
states.append(attempt(4, f"http://127.0.0.1:{silent.getsockname()[1]}/hook"))
states.append(attempt(5, f"http://127.0.0.1:{closed_port}/hook"))
states.append(attempt(6, "http://hooks.example/hook", broken_dns=True))
states.append(attempt(7, "http://127.0.0.1:9/hook", stored_url="http://127.0.0.1:9/ho\\tok"))
spans = {s["attributes"]["sitelens.job_id"]: s for s in finished() if s["name"] == "webhook.deliver"}
print(json.dumps({"states": states, "lag": points("sitelens.webhook.lag"),
                  "deliveries": points("sitelens.webhook.deliveries"),
                  "spans": {k: [s["status"], s["attributes"].get("sitelens.reason"), s["description"]]
                            for k, s in spans.items()}}))
"""


def documented_attempt_reasons() -> set[str]:
    row = next(line for line in (REPO / "docs" / "telemetry.md").read_text().splitlines()
               if line.startswith("| `webhook.deliver`"))  # fmt: skip
    return set(re.findall(r"`([a-z_0-9]+)`", row.split("sitelens.reason")[-1]))


@pytest.fixture(scope="module")
def attempts() -> dict[str, Any]:
    got: dict[str, Any] = run(ATTEMPTS)
    assert got["states"] == ["pending", "pending", "pending", "delivered", "pending", "pending", "pending", "failed"]
    return got


def test_an_attempt_that_did_not_deliver_has_a_documented_reason_code_and_keeps_its_text_aside(attempts):
    spans = attempts["spans"]
    assert {job: reason for job, (_, reason, _) in spans.items()} == {
        "j_0": "http_5xx", "j_1": "http_4xx", "j_2": "http_3xx", "j_3": None, "j_4": "timeout",
        "j_5": "connection_error",
    }  # fmt: skip
    assert {reason for _, reason, _ in spans.values() if reason} <= documented_attempt_reasons()
    assert spans["j_0"] == ["error", "http_5xx", "HTTP 500"]  # the free text stays in the description
    assert spans["j_5"][2].startswith("ConnectionRefusedError")
    assert spans["j_3"][0] == "unset"


def test_every_attempt_has_its_lag_the_refused_and_the_unresolved_included(attempts):
    assert sum(value for _, value in attempts["deliveries"]) == 8
    assert sum(count for _, count in attempts["lag"]) == 8
    assert {attrs["outcome"] for attrs, _ in attempts["lag"]} == {"retry", "delivered", "refused"}
