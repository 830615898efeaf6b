"""Same ids → same blob name, through the Table reservation (create-if-absent, read back on conflict)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from shared.uploads import api
from shared.uploads.ports import Reservation
from shared.uploads.service import UploadService, UploadSettings

pytestmark = pytest.mark.integration


def test_same_ids_same_name_across_days(reservations, signer, site):
    now = [datetime(2026, 11, 22, 23, 59, 30, tzinfo=UTC)]
    service = UploadService(reservations, signer, UploadSettings(), clock=lambda: now[0])
    body = json.dumps({"site_id": site, "device_id": "cam1", "photo_id": "IMG1"}).encode()
    first_status, first = api.handle(service, body).pair()
    now[0] += timedelta(minutes=1)  # past midnight: a fresh name would carry the new date
    status, again = api.handle(service, body).pair()
    assert (first_status, status) == (201, 200)
    assert first["blob_name"] == again["blob_name"] == f"photos/{site}/cam1/2026/11/22/IMG1.jpg"
    other = api.handle(service, json.dumps({"site_id": site, "device_id": "cam1", "photo_id": "IMG2"}).encode()).pair()[
        1
    ]
    assert other["blob_name"].endswith("/2026/11/23/IMG2.jpg")


def test_concurrent_first_requests_agree(reservations, site):
    def reserve(minute: int) -> tuple[Reservation, bool]:
        at = datetime(2026, 11, 22, 23, 50 + minute, tzinfo=UTC)
        name = f"{site}/cam1/{at:%Y/%m/%d}/{minute}/IMG1.jpg"  # a different name per racer
        result: tuple[Reservation, bool] = reservations.reserve(Reservation(site, "cam1", "IMG1", "jpg", name, at))
        return result

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(reserve, range(6)))
    assert sum(created for _, created in results) == 1
    assert len({r.blob_name for r, _ in results}) == 1


def test_a_reservation_is_kept_per_site_device_and_photo(reservations, site):
    at = datetime(2026, 1, 2, tzinfo=UTC)
    mine = Reservation(site, "cam1", "IMG1", "png", f"{site}/cam1/2026/01/02/IMG1.png", at)
    assert reservations.reserve(mine) == (mine, True)
    assert reservations.get(site, "cam1", "IMG1") == mine
    theirs = Reservation(f"{site}x", "cam1", "IMG1", "jpg", "x", at)
    assert reservations.reserve(theirs) == (theirs, True)
