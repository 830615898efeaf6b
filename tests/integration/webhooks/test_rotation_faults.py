"""A rotation on Azurite behind the fault proxy (emulators/fault_proxy.py), through the app's own Table client and
its retries: a write whose reply is lost after storage did it is not applied twice, and the answer holds the new
secret though the subscription cannot be read after the write."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from emulators.azurite import Azurite
from emulators.fault_proxy import FaultProxy
from shared.adapters.azure_call_bounds import APP_CALLS
from shared.adapters.azure_retry_caps import CappedTableService
from shared.adapters.azure_webhook_store import TableWebhookStore
from shared.config import dev_storage_connection_string
from shared.errors import TransientError
from shared.webhooks import api as webhooks_api
from shared.webhooks import endpoint
from shared.webhooks.endpoint import EndpointPolicy
from shared.webhooks.service import WebhookService
from shared.webhooks.subscriptions import ROTATION_GRACE
from tests.integration.webhooks.conftest import Clock
from tests.unit.api.fakes import NoQueue

pytestmark = pytest.mark.integration
URL = "http://127.0.0.1:9/hook"


class SubscriptionRowFaults(FaultProxy):
    """While enabled, faults on requests for a subscription's row (its RowKey starts `sub_`) only: the reply to the
    first write is lost after storage did it (`drop_first_write`), or every read after a write is reset
    (`reset_reads_after_write`)."""

    def __init__(
        self, target_port: int, *, drop_first_write: bool = False, reset_reads_after_write: bool = False
    ) -> None:
        super().__init__(target_port)
        self.drop_first_write, self.reset_reads_after_write = drop_first_write, reset_reads_after_write
        self.writes = 0

    def _decide(self, head: bytes) -> str | None:
        line = head.split(b"\r\n", 1)[0]
        with self._lock:
            if not self.enabled.is_set() or b"RowKey='sub_" not in line:
                return None
            kind = None
            if line.startswith(b"PUT "):
                self.writes += 1
                kind = "drop" if self.drop_first_write and self.writes == 1 else None
            elif line.startswith(b"GET ") and self.reset_reads_after_write and self.writes:
                kind = "reset"
            if kind is not None:
                self.counts[kind] += 1
            return kind


def service_through(port: int, azurite: Azurite, unique: str) -> WebhookService:
    """The webhook service on Azurite's tables reached through `port`, with the app's Table client and bounds."""
    connection = dev_storage_connection_string(ports=(azurite.endpoints.blob_port, azurite.endpoints.queue_port, port))
    store = TableWebhookStore(CappedTableService.from_connection_string(connection, **APP_CALLS.options()),
                              prefix=f"t{unique}")  # fmt: skip
    return WebhookService(store, NoQueue(), EndpointPolicy(allow_loopback=True),
                          send=lambda _t, _b, _h: endpoint.Response(200), clock=Clock())  # fmt: skip


def call(service: WebhookService, action: str, params: dict[str, str], body: object = None) -> tuple[int, Any]:
    raw = json.dumps(body).encode() if body is not None else b""
    return webhooks_api.handle(service, action, params, raw).pair()


@pytest.fixture
def losing_replies(azurite: Azurite) -> Iterator[SubscriptionRowFaults]:
    proxy = SubscriptionRowFaults(azurite.endpoints.table_port, drop_first_write=True)
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture
def failing_reads(azurite: Azurite) -> Iterator[SubscriptionRowFaults]:
    proxy = SubscriptionRowFaults(azurite.endpoints.table_port, reset_reads_after_write=True)
    proxy.start()
    yield proxy
    proxy.stop()


def test_a_rotation_whose_write_reply_was_lost_keeps_the_old_secret_and_stores_the_new_one_once(
    losing_replies, azurite, unique
):
    service = service_through(losing_replies.port, azurite, unique)
    _, created = call(service, "create", {}, {"url": URL})
    losing_replies.enabled.set()
    status, rotated = call(service, "rotate", {"id": created["id"]})
    losing_replies.enabled.clear()
    assert losing_replies.counts["drop"] == 1  # storage did the write; the client retried it and was refused 412
    assert status == 200
    now = service.clock()
    sub = service.subscription(created["id"])
    assert [s.secret for s in sub.secrets] == [created["secret"], rotated["secret"]]
    assert [s.expires_at for s in sub.secrets] == [now + ROTATION_GRACE, None]
    assert [s["expires_at"] for s in rotated["secrets"]] == [(now + ROTATION_GRACE).isoformat(), None]


def test_the_rotate_answer_holds_the_new_secret_though_the_subscription_cannot_be_read_after_the_write(
    failing_reads, azurite, unique
):
    service = service_through(failing_reads.port, azurite, unique)
    _, created = call(service, "create", {}, {"url": URL})
    failing_reads.enabled.set()
    status, rotated = call(service, "rotate", {"id": created["id"]})
    with pytest.raises(TransientError):  # the fault holds: any read of the subscription now fails
        service.subscription(created["id"])
    failing_reads.enabled.clear()
    assert status == 200 and rotated["id"] == created["id"]
    now = service.clock()
    assert [s["expires_at"] for s in rotated["secrets"]] == [(now + ROTATION_GRACE).isoformat(), None]
    stored = service.subscription(created["id"])
    assert stored.signing_secrets(now) == [created["secret"], rotated["secret"]]
