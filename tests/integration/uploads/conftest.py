"""The upload service on Azurite (tables and blobs, real SDKs), and an admin view of the `photos` container."""

from __future__ import annotations

import contextlib

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from shared.uploads.azure_blob_sas import BlobUploadSigner
from shared.uploads.azure_table_reservations import TableReservationStore
from shared.uploads.service import UploadService, UploadSettings

MAX_BYTES = 8 * 1024 * 1024


@pytest.fixture
def blobs(storage_connection) -> BlobServiceClient:
    """The app's own (account key) client: what the tests use to look at what devices did."""
    service = BlobServiceClient.from_connection_string(storage_connection)
    with contextlib.suppress(ResourceExistsError):
        service.create_container("photos")
    return service


@pytest.fixture
def signer(blobs) -> BlobUploadSigner:
    return BlobUploadSigner(blobs, account_key=blobs.credential.account_key)


@pytest.fixture
def reservations(storage_connection, unique) -> TableReservationStore:
    return TableReservationStore(TableServiceClient.from_connection_string(storage_connection), prefix=f"t{unique}")


@pytest.fixture
def uploads(reservations, signer) -> UploadService:
    return UploadService(reservations, signer, UploadSettings(max_bytes=MAX_BYTES))


@pytest.fixture
def site(unique) -> str:
    return f"site-{unique}"  # tests share the `photos` container; a site of their own keeps them apart
