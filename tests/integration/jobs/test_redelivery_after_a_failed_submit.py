"""A delivery after a failed submit, on the real parts (tests/integration/jobs/real_world.py). When Batch
throttles, the host runs the photo's trigger again at once; the job is still RECEIVED but an earlier pass
recorded its bytes, quality and model and stored the derived input. That delivery downloads the photo no more
(one properties request on the derived input instead) and goes straight to the content claim and the submit
with the recorded model. A derived input that is gone (a crash before its upload, the lifecycle rule) takes the
full path: the photo is read and validated again, and the derived input stored again."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import pytest
from azure.batch import BatchClient
from azure.core.credentials import AzureNamedKeyCredential
from azure.storage.blob import BlobServiceClient

from emulators.azurite import free_port
from shared.adapters.azure_batch_submitter import BatchTaskSubmitter
from shared.adapters.azure_photo_store import DERIVED, PHOTOS, BlobPhotoStore
from shared.errors import TransientError
from shared.jobs import ids
from shared.jobs.models import Job, JobState
from tests.integration.jobs.real_world import RealWorld
from tests.integration.jobs.test_model_fixed_before_submit import tasks_in

pytestmark = pytest.mark.integration


def fails_to_submit(world: RealWorld, name: str) -> Job:
    """A delivery whose submit fails transiently (Batch out of reach): the job it leaves RECEIVED."""
    dead = BatchClient(f"http://127.0.0.1:{free_port()}", AzureNamedKeyCredential("a", "a2V5"), retry_total=0)
    world.ingestion.submitter = BatchTaskSubmitter(dead, world.submitter.spec)
    with pytest.raises(TransientError):
        world.ingestion.ingest(name)
    world.ingestion.submitter = world.submitter  # Batch takes tasks again; the host redelivers the blob
    received = world.store.get(ids.job_id_for(name))
    assert received.state is JobState.RECEIVED and received.content_sha256 and received.quality and received.model
    return received


def watch_photo_downloads(world: RealWorld, storage_connection: str) -> list[str]:
    """The photo downloads (GETs on `photos/`) ingestion makes from now on, through a store whose requests it sees."""
    downloads: list[str] = []

    def seen(request: Any) -> None:
        http = request.http_request
        if http.method == "GET" and urlparse(http.url).path.split("/")[2:3] == [PHOTOS]:
            downloads.append(http.url)

    blobs = BlobServiceClient.from_connection_string(storage_connection, raw_request_hook=seen)
    world.ingestion.photos = BlobPhotoStore(blobs, account_key=blobs.credential.account_key, https_only=False)
    return downloads


def assert_queued_as_recorded(world: RealWorld, batch_client: BatchClient, queued: Job | None, received: Job) -> None:
    assert queued is not None and queued.state is JobState.QUEUED and queued.cached_from is None
    assert (queued.model, queued.content_sha256) == (received.model, received.content_sha256)
    assert received.content_sha256 and received.model
    content = ids.content_key(received.content_sha256, received.model)
    assert world.store.claim_content(world.site, content, "j_someone_else") == queued.id  # the job owns the bytes
    assert tasks_in(batch_client, ids.batch_job_id(queued.received_at.date())) == [(queued.id, received.model)]


def test_a_delivery_after_a_failed_submit_does_not_download_the_photo_again(
    real_world, storage_connection, batch_client
):
    world = real_world
    name = world.upload(1)
    received = fails_to_submit(world, name)
    downloads = watch_photo_downloads(world, storage_connection)
    queued = world.ingestion.ingest(name)
    assert downloads == []
    assert_queued_as_recorded(world, batch_client, queued, received)


def test_a_delivery_whose_derived_input_is_gone_takes_the_full_path(real_world, storage_connection, batch_client):
    world = real_world
    name = world.upload(2)
    received = fails_to_submit(world, name)
    derived = world.blobs.get_blob_client(DERIVED, ids.derived_path(received.id))
    derived.delete_blob()  # a crash between recording the bytes and uploading the derived input, or the lifecycle
    downloads = watch_photo_downloads(world, storage_connection)
    queued = world.ingestion.ingest(name)
    assert len(downloads) == 1  # read and validated again
    assert derived.exists()  # the task's input is there again
    assert_queued_as_recorded(world, batch_client, queued, received)
