"""The per-device cap on new reservations on Azurite: the counter row beside the reservations, counted with
ETag-conditional writes, so concurrent first requests are admitted exactly up to the cap."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from shared.uploads import api
from shared.uploads.service import UploadService, UploadSettings

pytestmark = pytest.mark.integration
CAP = 4


def body(site: str, device: str, photo: str) -> bytes:
    return json.dumps({"site_id": site, "device_id": device, "photo_id": photo}).encode()


def test_concurrent_new_reservations_are_admitted_up_to_the_cap(reservations, signer, site):
    now = datetime(2026, 11, 22, 10, 59, 0, tzinfo=UTC)
    service = UploadService(reservations, signer, UploadSettings(new_per_device_hour=CAP), clock=lambda: now)
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda i: api.handle(service, body(site, "cam1", f"IMG{i}")), range(10)))
    statuses = sorted(r.status for r in replies)
    assert statuses == [201] * CAP + [429] * (10 - CAP)
    refused = [r for r in replies if r.status == 429]
    assert all(r.headers["Retry-After"] == "60" and r.body and r.body["reason"] == "too_many_reservations"
               for r in refused)  # fmt: skip
    admitted = [i for i, r in enumerate(replies) if r.status == 201]
    for i in range(10):  # only the admitted ones were stored: a repeat of a refused one is new again, refused
        repeat = api.handle(service, body(site, "cam1", f"IMG{i}"))
        assert repeat.status == (200 if i in admitted else 429)
    assert api.handle(service, body(site, "cam2", "IMG0")).status == 201  # another device, its own count


def test_the_counter_starts_again_in_the_next_hour_in_the_same_row(reservations, signer, site):
    now = [datetime(2026, 11, 22, 10, 30, tzinfo=UTC)]
    service = UploadService(reservations, signer, UploadSettings(new_per_device_hour=1), clock=lambda: now[0])
    assert api.handle(service, body(site, "cam1", "A")).status == 201
    assert api.handle(service, body(site, "cam1", "B")).status == 429
    now[0] += timedelta(minutes=30)
    assert api.handle(service, body(site, "cam1", "B")).status == 201
    assert api.handle(service, body(site, "cam1", "A")).status == 200  # a repeat, never counted
    rows = list(reservations._table.query_entities("PartitionKey eq @site", parameters={"site": site}))
    assert sorted(r["RowKey"] for r in rows) == ["cam1|A", "cam1|B", "cam1|~new"]  # one counter row
    counter = next(r for r in rows if r["RowKey"] == "cam1|~new")
    assert (counter["Window"], counter["Count"]) == ("2026-11-22T11", 1)
