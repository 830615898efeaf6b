"""What a device can do with the SAS `POST /uploads` hands out, checked against Azurite with the real SDK."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.storage.blob import (
    BlobClient,
    BlobLeaseClient,
    BlobSasPermissions,
    BlobServiceClient,
    ContainerClient,
    generate_blob_sas,
)

from shared.jobs import ids
from shared.uploads import api
from shared.uploads.azure_blob_sas import BlobUploadSigner
from shared.uploads.service import MAX_TTL

pytestmark = pytest.mark.integration
BLOCK = base64.b64encode(b"00000000-0badc0de").decode()


def grant(uploads, site, photo="p1", **extra) -> tuple[int, dict[str, Any]]:
    body = {"site_id": site, "device_id": "cam1", "photo_id": photo, **extra}
    return api.handle(uploads, json.dumps(body).encode()).pair()


def device_upload(url: str, data: bytes) -> dict[str, Any]:
    blob = BlobClient.from_blob_url(url)
    blob.stage_block(BLOCK, data)
    return blob.commit_block_list([BLOCK], if_none_match="*")  # type: ignore[list-item]  # ids work too


def sibling(url: str, name: str) -> str:
    parts = urlsplit(url)
    return parts._replace(path=parts.path.rsplit("/", 1)[0] + "/" + name).geturl()


def sign(blobs: BlobServiceClient, name: str, permission: BlobSasPermissions) -> str:
    """A SAS for the one blob with other permissions than the service signs, to compare."""
    sas = generate_blob_sas(str(blobs.account_name), "photos", name, account_key=blobs.credential.account_key,
                            permission=permission, expiry=datetime.now(UTC) + MAX_TTL)  # fmt: skip
    return f"{blobs.get_blob_client('photos', name).url}?{sas}"


def admin_view(blobs: BlobServiceClient, device: BlobClient) -> Any:
    return blobs.get_blob_client("photos", device.blob_name).get_blob_properties()


def refused(fn) -> int | None:
    with pytest.raises(HttpResponseError) as err:
        fn()
    return err.value.status_code


def test_the_sas_creates_exactly_that_blob_and_nothing_else(uploads, blobs, site):
    status, doc = grant(uploads, site)
    assert status == 201
    name = doc["blob_name"].removeprefix("photos/")
    etag = device_upload(doc["upload_url"], b"\xff\xd8\xffphoto")["etag"]
    admin = blobs.get_blob_client("photos", name)
    assert admin.download_blob().readall() == b"\xff\xd8\xffphoto"
    assert admin.get_blob_properties().etag == etag

    device = BlobClient.from_blob_url(doc["upload_url"])
    container_url = doc["upload_url"].split("/photos/")[0] + "/photos?" + doc["upload_url"].split("?", 1)[1]
    assert refused(lambda: device.download_blob().readall()) == 403
    assert refused(device.get_blob_properties) == 403
    assert refused(lambda: device.get_block_list("all")) == 403  # so the service lists staged blocks for it
    assert refused(device.delete_blob) == 403
    assert refused(lambda: list(ContainerClient.from_container_url(container_url).list_blobs())) == 403
    assert refused(lambda: BlobClient.from_blob_url(sibling(doc["upload_url"], "other.jpg")).upload_blob(b"x")) == 403
    other_container = doc["upload_url"].replace("/photos/", "/results/")
    assert refused(lambda: BlobClient.from_blob_url(other_container).upload_blob(b"x")) == 403
    # The client commits with If-None-Match: *, so a retry of a finished upload cannot replace it.
    with pytest.raises(ResourceExistsError):
        device_upload(doc["upload_url"], b"replacement")
    assert admin.download_blob().readall() == b"\xff\xd8\xffphoto"


def test_once_committed_the_service_signs_no_more_and_names_the_job(uploads, blobs, site):
    doc = grant(uploads, site)[1]
    device_upload(doc["upload_url"], b"\xff\xd8\xffphoto")
    name = doc["blob_name"].removeprefix("photos/")
    status, again = grant(uploads, site)
    assert status == 200 and again["uploaded"] is True and again["upload_url"] is None
    assert again["job_hint"] == doc["job_hint"] == ids.job_id_for(name)  # named before the upload, the same after


def test_an_expired_sas_is_refused(blobs, uploads, site):
    name = grant(uploads, site)[1]["blob_name"].removeprefix("photos/")
    late = BlobUploadSigner(blobs, account_key=blobs.credential.account_key,
                            clock=lambda: uploads.clock() - MAX_TTL - timedelta(seconds=1))  # fmt: skip
    signed = late.create_only_url(name, MAX_TTL)
    assert signed.expires_at < uploads.clock()
    assert refused(lambda: BlobClient.from_blob_url(signed.url).stage_block(BLOCK, b"x")) == 403


def test_an_https_only_sas_is_refused_over_http(blobs, site, uploads):
    name = grant(uploads, site)[1]["blob_name"].removeprefix("photos/")
    azure_like = BlobUploadSigner(blobs, account_key=blobs.credential.account_key)
    azure_like.https_only = True  # what the signer chooses for any non-loopback endpoint
    url = azure_like.create_only_url(name, MAX_TTL).url
    with pytest.raises(HttpResponseError) as err:
        BlobClient.from_blob_url(url).stage_block(BLOCK, b"x")
    assert err.value.status_code == 403 and "Protocol" in str(getattr(err.value, "error_code", ""))


def test_a_sas_for_one_name_cannot_write_a_dot_segment_path(uploads, site, blobs: BlobServiceClient):
    url = grant(uploads, site)[1]["upload_url"]
    escaped = sibling(url, "..%2F..%2Fevil.jpg")
    assert refused(lambda: BlobClient.from_blob_url(escaped).upload_blob(b"x")) == 403
    assert not [b.name for b in blobs.get_container_client("photos").list_blobs(name_starts_with="evil")]


def test_no_permission_set_stages_blocks_without_also_allowing_overwrite_and_snapshot(uploads, blobs, site):
    """Why the SAS stays `cw`, and what its holder can still do to its own blob while it lives."""
    name = grant(uploads, site)[1]["blob_name"].removeprefix("photos/")
    admin = blobs.get_blob_client("photos", name)
    url_c = sign(blobs, name, BlobSasPermissions(create=True))
    assert refused(lambda: BlobClient.from_blob_url(url_c).stage_block(BLOCK, b"x")) == 403  # blocks need `w`
    admin.upload_blob(b"\xff\xd8\xffphoto")
    assert BlobClient.from_blob_url(url_c).create_snapshot()["snapshot"]  # and `c` alone still snapshots

    device = BlobClient.from_blob_url(grant(uploads, site, photo="p2")[1]["upload_url"])
    etag = device_upload(device.url, b"\xff\xd8\xffmine")["etag"]
    after_metadata = device.set_blob_metadata({"reason": "ok"})["etag"]  # metadata: a new ETag, same bytes
    assert after_metadata != etag
    assert device.upload_blob(b"theirs", overwrite=True)["etag"] != after_metadata  # an overwrite without If-None-Match
    assert device.create_snapshot()["snapshot"]
    before = admin_view(blobs, device).etag
    device.set_standard_blob_tier("Cool")  # a tier: the ETag stays
    assert admin_view(blobs, device).etag == before and admin_view(blobs, device).blob_tier == "Cool"
    lease = BlobLeaseClient(device)
    lease.acquire(lease_duration=15)
    assert admin_view(blobs, device).lease.state == "leased"
    assert refused(device.delete_blob) == 403  # but never delete or read
