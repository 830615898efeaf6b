"""New reservations are capped per device and UTC hour: 429 `too_many_reservations` with `Retry-After`, nothing
stored; repeats of a reservation are never counted, other devices are not affected, the next hour starts again."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.errors import PermanentError
from shared.http_reply import Reply
from shared.uploads import api
from shared.uploads.service import NEW_PER_DEVICE_HOUR, UploadRequest, UploadService, UploadSettings, retry_after
from tests.unit.uploads.fakes import Clock, FakeSigner, MemoryReservations

CAP = 3


@pytest.fixture
def clock() -> Clock:
    return Clock(Clock().now.replace(hour=10, minute=59, second=30))  # 30 s before the next hour


@pytest.fixture
def reservations() -> MemoryReservations:
    return MemoryReservations()


@pytest.fixture
def service(reservations: MemoryReservations, clock: Clock) -> UploadService:
    return UploadService(reservations, FakeSigner(clock), UploadSettings(new_per_device_hour=CAP), clock)


def post(service: UploadService, device: str, photo: str) -> Reply:
    body = f'{{"site_id": "site-1", "device_id": "{device}", "photo_id": "{photo}"}}'.encode()
    return api.handle(service, body)


def test_a_device_over_its_cap_gets_429_with_retry_after_and_nothing_is_stored(service, reservations):
    assert [post(service, "cam-1", f"IMG_{i}").status for i in range(CAP)] == [201] * CAP
    refused = post(service, "cam-1", "IMG_over")
    assert refused.status == 429
    assert refused.body is not None and refused.body["reason"] == "too_many_reservations"
    assert refused.body["type"].endswith("#too_many_reservations")
    assert refused.headers["Retry-After"] == "30"  # the next UTC hour
    assert ("site-1", "cam-1", "IMG_over") not in reservations.rows
    assert len(reservations.rows) == CAP


def test_repeats_are_never_counted_and_still_get_their_links(service):
    for i in range(CAP):
        post(service, "cam-1", f"IMG_{i}")
    for _ in range(5):  # a device resuming its reserved photos after the cap
        again = post(service, "cam-1", "IMG_0")
        assert again.status == 200 and again.body is not None and again.body["upload_url"]


def test_other_devices_keep_their_own_count(service):
    for i in range(CAP):
        post(service, "cam-1", f"IMG_{i}")
    assert post(service, "cam-2", "IMG_0").status == 201
    assert post(service, "cam-1", "IMG_x").status == 429


def test_the_next_hour_starts_again(service, clock):
    for i in range(CAP):
        post(service, "cam-1", f"IMG_{i}")
    clock.now += timedelta(seconds=30)
    assert post(service, "cam-1", "IMG_next_hour").status == 201


def test_the_default_cap_is_above_a_days_backlog_drained_in_an_hour():
    # a photo every 30 s for 24 h, uploaded one after another in the hour the link comes back
    assert UploadSettings().new_per_device_hour == NEW_PER_DEVICE_HOUR >= 24 * 3600 // 30


def test_a_cap_below_one_is_refused(reservations, clock):
    with pytest.raises(ValueError, match="at least one"):
        UploadService(reservations, FakeSigner(clock), UploadSettings(new_per_device_hour=0), clock)


def test_the_service_refuses_with_the_reason_the_api_answers_429(service):
    for i in range(CAP):
        service.request(UploadRequest("site-1", "cam-1", f"IMG_{i}"))
    with pytest.raises(PermanentError) as refused:
        service.request(UploadRequest("site-1", "cam-1", "IMG_over"))
    assert refused.value.reason == "too_many_reservations"
    assert retry_after(service.clock()) == timedelta(seconds=30)
