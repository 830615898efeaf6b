"""Each webhook attempt is measured and traced, those the URL's check refuses or DNS fails included, and one that did
not deliver carries a reason code of the documented set (the receiver's text stays in the span's status description):
the service on the in-memory store, real loopback receivers and the real sender, under the real SDK
(tests.unit.telemetry.recording)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.unit.telemetry.recording import REPO, run

ATTEMPTS = """
import json, logging, socket, threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from opentelemetry import trace
from shared.errors import Conflict
from shared.webhooks import endpoint
from shared.webhooks.models import Event
from shared.webhooks.service import WebhookService
from tests.support.receiver import Receiver, Reply
from tests.unit.api.fakes import MemoryWebhookStore, NoQueue

created = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
now = created + timedelta(seconds=30)
dns_down, rebound = threading.Event(), threading.Event()


def resolve(host, port):
    if dns_down.is_set():
        raise OSError("Name or service not known")
    return [ip_address("10.1.2.3" if rebound.is_set() else "127.0.0.1")]  # rebound: the name now points inside


class RacedStore(MemoryWebhookStore):  # another worker takes the next attempt first: this one's write loses
    taken_elsewhere = False

    def update_delivery(self, delivery, was=None):
        if self.taken_elsewhere and delivery.open_attempt is not None:
            self.taken_elsewhere = False
            raise Conflict("taken by another worker")
        return super().update_delivery(delivery, was)


class Lines(logging.Handler):  # each line the service logs: its level, its text and the span it was written in
    def __init__(self):
        super().__init__()
        self.kept = []

    def emit(self, record):
        self.kept.append([record.levelname, record.getMessage(),
                          f"{trace.get_current_span().get_span_context().span_id:016x}"])


lines = Lines()
logging.getLogger("shared.webhooks.service").addHandler(lines)
logging.getLogger("shared.webhooks.service").setLevel(logging.INFO)
store = RacedStore()
silent = socket.create_server(("127.0.0.1", 0))  # accepts (the kernel does), never answers
silent_port = silent.getsockname()[1]


def send(target, body, headers):  # the silent socket's timeout short; the receiver's long, however busy the machine
    return endpoint.post(target, body, headers, timeout=0.5 if target.port == silent_port else endpoint.TIMEOUT_S)


service = WebhookService(store, NoQueue(), endpoint.EndpointPolicy(allow_loopback=True), resolve=resolve,
                         send=send, clock=lambda: now)
closed = socket.create_server(("127.0.0.1", 0))
closed_port = closed.getsockname()[1]
closed.close()


secrets = []


def attempt(n, url, stored_url=None, broken_dns=False, private_now=False, raced=False):
    sub, secret = service.subscribe(url, None, None)
    secrets.append(secret)
    if stored_url:  # a URL stored before today's checks, refused before the attempt
        store.subscriptions[sub.id] = replace(sub, url=stored_url)
    event = Event(f"evt_{n}", f"j_{n}", "site1", "job.succeeded", b"{}", created)
    service.publish(event)
    if broken_dns:
        dns_down.set()
    if private_now:
        rebound.set()
    store.taken_elsewhere = raced
    try:
        return service.deliver(event.id, sub.id).value
    finally:
        dns_down.clear()
        rebound.clear()


with Receiver([Reply(500), Reply(404), Reply(302), Reply(200)]) as receiver:
    states = [attempt(n, f"{receiver.url}?n={n}") for n in range(4)]  # one url, one active subscription
states.append(attempt(4, f"http://127.0.0.1:{silent_port}/hook"))
states.append(attempt(5, f"http://127.0.0.1:{closed_port}/hook"))
states.append(attempt(6, "http://hooks.example/hook", broken_dns=True))
states.append(attempt(7, "http://127.0.0.1:9/hook", stored_url="http://127.0.0.1:9/ho\\tok"))
states.append(attempt(8, "http://hooks.example/hook?key=receiver-token", private_now=True))
states.append(attempt(9, "http://127.0.0.1:9/taken", raced=True))
spans = {s["attributes"]["sitelens.job_id"]: s for s in finished() if s["name"] == "webhook.deliver"}
print(json.dumps({"states": states, "lag": points("sitelens.webhook.lag"),
                  "deliveries": points("sitelens.webhook.deliveries"), "lines": lines.kept, "secrets": secrets,
                  "span_ids": {k: s["span_id"] for k, s in spans.items()},
                  "outcomes": {k: s["attributes"].get("sitelens.outcome") for k, s in spans.items()},
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
    assert got["states"] == [*["pending"] * 3, "delivered", *["pending"] * 3, "failed", "failed", "pending"]
    return got


def test_an_attempt_that_did_not_deliver_has_a_documented_reason_code_and_keeps_its_text_aside(attempts):
    spans = attempts["spans"]
    assert {job: reason for job, (_, reason, _) in spans.items()} == {
        "j_0": "http_5xx", "j_1": "http_4xx", "j_2": "http_3xx", "j_3": None, "j_4": "timeout",
        "j_5": "connection_error", "j_6": "connection_error", "j_7": "webhook_url_refused",
        "j_8": "webhook_url_refused", "j_9": None,
    }  # fmt: skip
    assert {reason for _, reason, _ in spans.values() if reason} <= documented_attempt_reasons()
    assert spans["j_0"] == ["error", "http_5xx", "HTTP 500"]  # the free text stays in the description
    assert spans["j_5"][2].startswith("ConnectionRefusedError")
    assert spans["j_3"][0] == "unset"


def test_an_attempt_refused_by_the_check_or_failed_on_dns_has_a_failed_webhook_deliver_span(attempts):
    spans, outcomes = attempts["spans"], attempts["outcomes"]
    assert spans["j_6"][:2] == ["error", "connection_error"] and spans["j_6"][2].startswith("DNS: ")
    assert spans["j_8"][:2] == ["error", "webhook_url_refused"]
    assert spans["j_8"][2].startswith("refused: webhook host resolves to 10.1.2.3")
    assert spans["j_7"][2] == "refused: webhook URL holds a tab, CR or LF"
    assert (outcomes["j_6"], outcomes["j_7"], outcomes["j_8"]) == ("retry", "refused", "refused")  # as counted


def test_a_refusal_is_logged_as_a_warning_in_its_span_naming_the_host_but_no_secret(attempts):
    warnings = [(text, span) for level, text, span in attempts["lines"] if level == "WARNING"]
    assert [span for _, span in warnings] == [attempts["span_ids"]["j_7"], attempts["span_ids"]["j_8"]]
    text = warnings[1][0]
    assert "evt_8" in text and "resolves to 10.1.2.3" in text and "host hooks.example" in text
    for secret in ("receiver-token", "key=", *attempts["secrets"]):  # the URL's query, the signing secrets
        assert all(secret not in line for _, line, _ in attempts["lines"])


def test_an_attempt_another_worker_took_first_is_traced_as_taken_not_failed(attempts):
    assert attempts["spans"]["j_9"] == ["unset", None, None]
    assert attempts["outcomes"]["j_9"] == "taken"


def test_every_attempt_has_its_lag_the_refused_and_the_unresolved_included(attempts):
    assert sum(value for _, value in attempts["deliveries"]) == 9  # not the one taken elsewhere: it made none
    assert sum(count for _, count in attempts["lag"]) == 9
    assert {attrs["outcome"] for attrs, _ in attempts["lag"]} == {"retry", "delivered", "refused"}
