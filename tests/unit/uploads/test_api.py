"""`POST /uploads` through api.handle with in-memory ports: replies, problem documents, reason codes."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from shared.jobs.ids import job_id_for
from shared.uploads import api
from shared.uploads.ports import StagedBlock
from shared.uploads.service import MAX_TTL, UploadService, UploadSettings
from tests.unit.uploads.fakes import Clock, FakeSigner, MemoryReservations

BODY = {"site_id": "site-1", "device_id": "cam-2", "photo_id": "IMG_0001"}


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def signer(clock):
    return FakeSigner(clock)


@pytest.fixture
def reservations():
    return MemoryReservations()


@pytest.fixture
def service(reservations, signer, clock):
    return UploadService(reservations, signer, UploadSettings(max_bytes=1234), clock)


def post(service, body) -> tuple[int, dict[str, Any]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return api.handle(service, raw).pair()


def test_first_request_reserves_and_signs(service, signer):
    status, doc = post(service, BODY)
    assert status == 201
    assert doc["blob_name"] == "photos/site-1/cam-2/2026/11/22/IMG_0001.jpg"
    assert doc["upload_url"].startswith(
        "https://acct.blob.core.windows.net/photos/site-1/cam-2/2026/11/22/IMG_0001.jpg?"
    )
    assert doc["expires_at"] == "2026-11-23T00:14:00+00:00"
    assert doc["content_type"] == "image/jpeg"
    assert doc["uploaded"] is False and doc["max_bytes"] == 1234
    assert doc["job_hint"] == job_id_for("site-1/cam-2/2026/11/22/IMG_0001.jpg")  # known before the upload
    assert signer.signed == [("site-1/cam-2/2026/11/22/IMG_0001.jpg", MAX_TTL)]


def test_repeat_returns_the_same_name_even_the_next_day(service, clock):
    first = post(service, BODY)[1]
    clock.now += timedelta(days=1, minutes=3)
    status, again = post(service, BODY)
    assert status == 200
    assert again["blob_name"] == first["blob_name"]
    assert again["upload_url"] is not None and again["expires_at"] != first["expires_at"]


def test_repeat_after_commit_names_the_job_and_signs_nothing(service, signer):
    name = post(service, BODY)[1]["blob_name"].removeprefix("photos/")
    signer.committed[name] = '"0x8DE1"'
    status, doc = post(service, BODY)
    assert status == 200
    assert doc["uploaded"] is True and doc["upload_url"] is None and doc["expires_at"] is None
    assert doc["staged_blocks"] == []
    assert doc["job_hint"] == job_id_for(name)
    assert len(signer.signed) == 1


def test_a_first_request_reads_no_blob_state_and_lists_no_blocks(service, signer):
    assert post(service, BODY)[1]["staged_blocks"] == [] and signer.state_reads == 0


def test_repeat_of_an_interrupted_upload_lists_the_staged_blocks(service, signer):
    name = post(service, BODY)[1]["blob_name"].removeprefix("photos/")
    signer.staged[name] = [StagedBlock("000000-aa", 4096), StagedBlock("000001-bb", 17)]
    status, doc = post(service, BODY)
    assert status == 200 and doc["upload_url"] and doc["uploaded"] is False
    assert doc["staged_blocks"] == [{"id": "000000-aa", "size": 4096}, {"id": "000001-bb", "size": 17}]


def test_other_ids_get_other_names(service):
    names = {post(service, {**BODY, **change})[1]["blob_name"] for change in
             ({}, {"photo_id": "IMG_0002"}, {"device_id": "cam-3"}, {"site_id": "site-2"})}  # fmt: skip
    assert len(names) == 4


def test_content_type_alone_chooses_png(service):
    status, doc = post(service, {**BODY, "content_type": "image/png"})
    assert status == 201 and doc["blob_name"].endswith(".png") and doc["content_type"] == "image/png"


def test_same_photo_id_with_another_type_is_a_conflict(service):
    post(service, BODY)
    status, doc = post(service, {**BODY, "ext": "png"})
    assert status == 409
    assert doc["reason"] == "photo_id_conflict"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "invalid_json"),
        (b"", "invalid_site_id"),
        (b"x" * 5000, "invalid_json"),
        ({"device_id": "d", "photo_id": "p"}, "invalid_site_id"),
        ({**BODY, "site_id": "../etc"}, "invalid_site_id"),
        ({**BODY, "device_id": "a/b"}, "invalid_device_id"),
        ({**BODY, "device_id": 42}, "invalid_device_id"),
        ({**BODY, "photo_id": "x" * 65}, "invalid_photo_id"),
        ({**BODY, "photo_id": "a\u202eb"}, "invalid_photo_id"),
        ({**BODY, "ext": "svg"}, "unsupported_type"),
        ({**BODY, "ext": "JPG"}, "unsupported_type"),  # one spelling, openapi.json's: jpg, jpeg or png
        ({**BODY, "ext": ".png"}, "unsupported_type"),
        ({**BODY, "content_type": "text/html"}, "unsupported_type"),
        ({**BODY, "ext": "png", "content_type": "image/jpeg"}, "type_mismatch"),
    ],
)
def test_bad_requests_are_400_problem_documents(service, reservations, body, reason):
    status, doc = post(service, body)
    assert status == 400
    assert doc["status"] == 400 and doc["reason"] == reason and doc["title"] == "Bad Request"
    assert doc["type"].endswith(f"#{reason}") and doc["detail"]
    assert reservations.rows == {}


def test_storage_outage_is_503_so_the_device_retries(service, reservations):
    reservations.fail = True
    status, doc = post(service, BODY)
    assert status == 503 and doc["reason"] == "transient"


def test_service_refuses_a_longer_ttl(reservations, signer):
    with pytest.raises(ValueError, match="at most"):
        UploadService(reservations, signer, UploadSettings(ttl=timedelta(minutes=16)))
