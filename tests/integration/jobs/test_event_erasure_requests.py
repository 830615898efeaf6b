"""The event erasure every instance's finisher holds (shared/jobs/finisher.py), on Azurite: building it asks the
service nothing, since the finisher almost never erases and its three create-table requests would be paid on each
instance's first photo (docs/scale.md); the first erasure makes sure of the tables, so `sitelens erase` and record
expiry work on an account whose webhook tables do not exist yet."""

from __future__ import annotations

from typing import Any

import pytest
from azure.data.tables import TableServiceClient

from shared.adapters.azure_erasure import TableEventErasure
from shared.adapters.azure_webhook_store import DELIVERIES, DELIVERY_INDEX, EVENTS

pytestmark = pytest.mark.integration


def test_the_event_erasure_creates_its_tables_at_its_first_erasure_not_when_built(storage_connection, unique):
    sent: list[str] = []

    def seen(request: Any) -> None:
        sent.append(f"{request.http_request.method} {request.http_request.url.split('?')[0]}")

    watched = TableServiceClient.from_connection_string(storage_connection, raw_request_hook=seen)
    prefix = f"t{unique}"
    erasure = TableEventErasure(watched, prefix=prefix)
    assert sent == []

    assert erasure.erase_event("evt_j_none_failed") == 0  # nothing to erase, in tables that did not exist
    created = [line for line in sent if line.endswith("/Tables")]
    assert len(created) == 3
    tables = {table.name for table in TableServiceClient.from_connection_string(storage_connection).list_tables()}
    assert {prefix + name for name in (EVENTS, DELIVERIES, DELIVERY_INDEX)} <= tables

    sent.clear()
    assert erasure.erase_event("evt_j_none_failed") == 0
    assert [line for line in sent if line.endswith("/Tables")] == []  # once per erasure object
