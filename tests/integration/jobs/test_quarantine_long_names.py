"""A refused photo whose copy-source URL is longer than Copy Blob takes (2 KiB in Azure) still ends in `quarantine/`,
copied through the app; a photo under a name the upload API issues is copied by the service, as before.

Azurite takes longer copy sources than Azure does, so every `x-ms-copy-source` the SDK sends is recorded and held
to Azure's bound here; which copy ran shows on the quarantined blob too: Copy Blob leaves its copy status there."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from azure.core.pipeline import PipelineRequest
from azure.storage.blob import BlobServiceClient, ContentSettings

from shared.adapters.azure_photo_store import MAX_COPY_SOURCE_CHARS, PHOTOS, QUARANTINE, BlobPhotoStore
from shared.errors import NotFound
from shared.jobs.models import JobState
from tests.integration.jobs.real_world import RealWorld

pytestmark = pytest.mark.integration
PHOTO = b"\xff\xd8" + bytes(range(256)) * 40  # 10 KiB; what it holds does not matter to quarantine
SETTINGS = ContentSettings(content_type="image/jpeg", cache_control="no-store")
DEVICE_METADATA = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
# A client whose single put and reads are smaller than PHOTO: the copy through the app goes in blocks.
IN_BLOCKS = {"max_single_put_size": 4096, "max_block_size": 1024, "max_single_get_size": 2048,
             "max_chunk_get_size": 1024}  # fmt: skip


class CopySources:
    """Every `x-ms-copy-source` the SDK sends (its raw request hook): a Copy Blob that Azure refuses past 2 KiB."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def __call__(self, request: PipelineRequest[Any]) -> None:
        source = request.http_request.headers.get("x-ms-copy-source")
        if source is not None:
            self.sent.append(source)


def store_on(storage_connection: str, sources: CopySources, **client: Any) -> BlobPhotoStore:
    service = BlobServiceClient.from_connection_string(storage_connection, raw_request_hook=sources, **client)
    store = BlobPhotoStore(service, account_key=service.credential.account_key, https_only=False)
    store.ensure_containers()
    return store


def put_photo(store: BlobPhotoStore, name: str) -> str:
    """The photo as a device or another tool writes it, with metadata of its own; its version."""
    blob = store.service.get_blob_client(PHOTOS, name)
    return str(blob.upload_blob(PHOTO, content_settings=SETTINGS, metadata=DEVICE_METADATA)["etag"])


def assert_quarantined(store: BlobPhotoStore, name: str, etag: str) -> Any:
    """The photo's bytes, properties and our metadata (never the device's) in `quarantine/`, none left in
    `photos/`; the quarantined blob's properties."""
    moved = store.service.get_blob_client(QUARANTINE, name)
    props = moved.get_blob_properties()
    assert moved.download_blob().readall() == PHOTO
    assert (props.content_settings.content_type, props.content_settings.cache_control) == ("image/jpeg", "no-store")
    assert props.metadata == {"reason": "invalid_name", "detail": "not a name the upload API issues",
                              "photo_etag": etag.strip('"')}  # fmt: skip
    assert not store.service.get_blob_client(PHOTOS, name).exists()
    return props


@pytest.mark.parametrize("client", [{}, IN_BLOCKS], ids=["single-put", "in-blocks"])
def test_a_photo_whose_copy_source_is_past_2_kib_is_copied_through_the_app(
    storage_connection: str, unique: str, client: dict[str, Any]
) -> None:
    sources = CopySources()
    store = store_on(storage_connection, sources, **client)
    name = f"{unique}/" + "é" * 400 + ".jpg"  # 6 characters each in a URL: not a name the upload API issues
    etag = put_photo(store, name)
    assert len(store.read_link(PHOTOS, name, timedelta(minutes=10))) > MAX_COPY_SOURCE_CHARS

    store.quarantine(name, etag, "invalid_name", "not a name the upload API issues")

    assert sources.sent == []  # no Copy Blob: Azure would refuse its source
    props = assert_quarantined(store, name, etag)
    assert props.copy.status is None  # written by the app, not by Copy Blob
    committed, _ = store.service.get_blob_client(QUARANTINE, name).get_block_list()
    assert (len(committed) > 1) == (client == IN_BLOCKS)
    with pytest.raises(NotFound):  # a redelivery: the version is gone from `photos/`, as ingestion expects
        store.quarantine(name, etag, "invalid_name", "not a name the upload API issues")


def test_a_photo_under_an_issued_name_is_copied_by_the_service(storage_connection: str, unique: str) -> None:
    sources = CopySources()
    store = store_on(storage_connection, sources)
    name = f"site1/dev1/2026/11/22/{unique}.jpg"
    etag = put_photo(store, name)

    store.quarantine(name, etag, "invalid_name", "not a name the upload API issues")

    assert len(sources.sent) == 1 and len(sources.sent[0]) <= MAX_COPY_SOURCE_CHARS
    assert assert_quarantined(store, name, etag).copy.status == "success"


def test_ingestion_quarantines_a_photo_whose_name_is_too_long_to_copy(real_world: RealWorld, unique: str) -> None:
    name = f"{real_world.site}/" + "写真" * 200 + ".jpg"  # 9 characters each in a URL
    real_world.blobs.get_blob_client(PHOTOS, name).upload_blob(PHOTO)

    job = real_world.ingestion.ingest(name)

    assert job is not None and (job.state, job.reason) == (JobState.REJECTED, "invalid_name")
    moved = real_world.blobs.get_blob_client(QUARANTINE, name)
    assert moved.download_blob().readall() == PHOTO and moved.get_blob_properties().copy.status is None
    assert not real_world.blobs.get_blob_client(PHOTOS, name).exists()
    assert real_world.ingestion.ingest(name) is None  # a redelivery: the photo is in quarantine, nothing to do
