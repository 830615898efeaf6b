"""What a device's upload SAS can do to its own photo, against real ingestion: Azurite, the local Batch service.

Each test plays the device with the URL `POST /uploads` signs (real SAS, real SDK), holds ingestion back
by calling it directly, and checks the job the device was told about (`job_hint`): it answers, is the only
job under the name, and ends in one terminal state or is queued once; nothing raises (on the host a
raising delivery is retried and, after five, poisoned).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from azure.batch import BatchClient, models
from azure.core.credentials import AzureNamedKeyCredential
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobClient, BlobLeaseClient, BlobServiceClient
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from batch_tasks.ocr.opencv import cv2
from emulators.azurite import free_port
from emulators.batch_service.launcher import BatchServiceProcess
from shared.adapters.azure_batch_submitter import BatchTaskSubmitter, TaskSpec
from shared.adapters.azure_job_store import TableJobStore
from shared.adapters.azure_notification_queue import StorageNotificationQueue
from shared.adapters.azure_photo_store import BlobPhotoStore, BlobRouting
from shared.adapters.azure_webhook_store import TableWebhookStore
from shared.jobs import document
from shared.jobs.finisher import Finisher
from shared.jobs.ingestion import Ingestion
from shared.jobs.models import Job, JobState
from shared.jobs.outbox import WebhookOutbox
from shared.uploads.azure_blob_sas import BlobUploadSigner
from shared.uploads.azure_table_reservations import TableReservationStore
from shared.uploads.service import UploadRequest, UploadService
from shared.validation import Limits, QualityPolicy
from shared.webhooks.endpoint import EndpointPolicy
from shared.webhooks.service import WebhookService

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
JUNK = b"<html><script>not a photo</script></html>" * 40


def photo(seed: int) -> bytes:
    image = np.random.default_rng(seed).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return bytes(data.tobytes())


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BatchServiceProcess]:
    folder = tmp_path_factory.mktemp("batch")
    with BatchServiceProcess.launch(REPO, folder / "data", free_port(), log_file=folder / "batch.log") as svc:
        yield svc


@dataclass
class Rig:
    site: str
    blobs: BlobServiceClient
    store: TableJobStore
    ingestion: Ingestion
    uploads: UploadService
    batch: BatchClient

    def grant(self, photo_id: str = "IMG1") -> tuple[str, str, str]:
        """(blob name, upload URL, job hint) as `POST /uploads` hands them to the device."""
        grant = self.uploads.request(UploadRequest(self.site, "cam1", photo_id))
        assert grant.upload is not None
        return grant.blob_name, grant.upload.url, grant.job_hint

    def jobs_under_site(self) -> list[Job]:
        return self.store.list_site(self.site, state=None, since=None, limit=100, token=None)[0]

    def tasks(self, job: Job) -> list[str]:
        assert job.batch_job_id
        return [t.id for t in self.batch.list_tasks(job.batch_job_id)]

    def photos_left(self, name: str) -> list[tuple[str, str | None]]:
        container = self.blobs.get_container_client("photos")
        return [(b.name, b.snapshot) for b in container.list_blobs(name_starts_with=name, include=["snapshots"])]


@pytest.fixture
def rig(storage_connection: str, unique: str, batch: BatchServiceProcess) -> Rig:
    blobs = BlobServiceClient.from_connection_string(storage_connection)
    tables = TableServiceClient.from_connection_string(storage_connection)
    photos = BlobPhotoStore(blobs, account_key=blobs.credential.account_key, https_only=False)
    photos.ensure_containers()
    store = TableJobStore(tables, prefix=f"t{unique}")
    queue = QueueClient.from_connection_string(storage_connection, f"n-{unique}",
                                               message_encode_policy=TextBase64EncodePolicy())  # fmt: skip
    hooks = WebhookService(TableWebhookStore(tables, prefix=f"t{unique}"), StorageNotificationQueue(queue),
                           EndpointPolicy(allow_loopback=True))  # fmt: skip
    client = BatchClient(batch.endpoint, AzureNamedKeyCredential(batch.account_name, batch.account_key))
    pool = f"pool-{unique}"  # no nodes: a submitted task waits, which is all these tests look at
    client.create_pool(models.BatchPoolCreateOptions(id=pool, vm_size="standard_nc4as_t4_v3", target_dedicated_nodes=0))
    ingestion = Ingestion(
        store=store, photos=photos, submitter=BatchTaskSubmitter(client, TaskSpec(pool_id=pool, command="true")),
        routes=BlobRouting(blobs), finisher=Finisher(store, WebhookOutbox(hooks, _now), _now), clock=_now,
        limits=Limits(), policies=lambda site: QualityPolicy(), default_model="ocr/ppocrv4",
    )  # fmt: skip
    signer = BlobUploadSigner(blobs, account_key=blobs.credential.account_key)
    uploads = UploadService(TableReservationStore(tables, prefix=f"t{unique}"), signer)
    return Rig(f"site-{unique}", blobs, store, ingestion, uploads, client)


def commit(url: str, data: bytes) -> str:
    """The device's upload: Put Block, Put Block List with If-None-Match: *; returns the commit's ETag."""
    device = BlobClient.from_blob_url(url)
    block = base64.b64encode(b"000000-block").decode()
    device.stage_block(block, data)
    return str(device.commit_block_list([block], if_none_match="*")["etag"])  # type: ignore[list-item]


def overwrite(url: str, data: bytes) -> str:
    """What the same SAS still allows while it lives: replace the committed blob (no If-None-Match)."""
    return str(BlobClient.from_blob_url(url).upload_blob(data, overwrite=True)["etag"])


def test_an_overwrite_before_ingestion_is_one_job_under_the_devices_id_showing_the_version_it_took(rig):
    name, url, hint = rig.grant()
    mine = commit(url, photo(1))
    theirs = overwrite(url, photo(2))  # moments later, before the trigger ran
    first, second = rig.ingestion.ingest(name), rig.ingestion.ingest(name)  # the two commits' events
    assert first is not None and second is not None and first.id == second.id == hint
    assert first.state is JobState.QUEUED and rig.tasks(first) == [hint]
    assert [j.id for j in rig.jobs_under_site()] == [hint]
    doc = document.public(rig.store.get(hint))
    assert doc["photo_etag"] == theirs.strip('"') != mine.strip('"')  # the device can tell it was not its own

    overwrite(url, photo(3))  # and again, after ingestion took its version
    later = rig.ingestion.ingest(name)
    assert later is not None and later.id == hint and later.later_writes == 1 and rig.tasks(later) == [hint]
    assert [j.id for j in rig.jobs_under_site()] == [hint]


def test_junk_written_over_the_devices_photo_ends_its_job_rejected_once(rig):
    name, url, hint = rig.grant()
    commit(url, photo(1))
    overwrite(url, JUNK)
    job = rig.ingestion.ingest(name)
    assert job is not None and job.id == hint and job.state is JobState.REJECTED and job.reason == "unsupported_type"
    assert rig.photos_left(name) == [] and rig.blobs.get_blob_client("quarantine", name).exists()
    assert rig.ingestion.ingest(name) is None  # a redelivery: the photo is in quarantine, nothing to do
    assert [j.id for j in rig.jobs_under_site()] == [hint] and rig.store.get(hint).event_published


def test_a_version_replaced_between_its_properties_and_its_read_ends_failed_overwritten(rig, monkeypatch):
    name, url, hint = rig.grant()
    commit(url, photo(1))
    photos = rig.ingestion.photos
    real_info = photos.photo_info

    def info_then_overwrite(blob_name: str):  # the race window, made certain: the SAS writes right after
        info = real_info(blob_name)
        overwrite(url, photo(2))
        return info

    monkeypatch.setattr(photos, "photo_info", info_then_overwrite)
    job = rig.ingestion.ingest(name)
    monkeypatch.setattr(photos, "photo_info", real_info)
    assert job is not None and job.id == hint and job.state is JobState.FAILED and job.reason == "overwritten"
    again = rig.ingestion.ingest(name)  # the later version's event: recorded, not processed
    assert again is not None and again.state is JobState.FAILED and again.later_writes == 1
    assert [j.id for j in rig.jobs_under_site()] == [hint] and rig.store.get(hint).event_published


def test_a_snapshot_taken_through_the_sas_does_not_block_quarantine(rig):
    name, url, hint = rig.grant()
    commit(url, JUNK)
    device = BlobClient.from_blob_url(url)
    device.create_snapshot()  # the SAS allows it (`c` and `w` both do)
    device.set_blob_metadata({"reason": "ok", "detail": "trust me"})  # and this: a new ETag, before ingestion
    assert len(rig.photos_left(name)) == 2
    job = rig.ingestion.ingest(name)  # raised SnapshotsPresent before: five times, then poison
    assert job is not None and job.id == hint and job.state is JobState.REJECTED
    assert rig.photos_left(name) == []  # neither the blob nor its snapshot
    moved = rig.blobs.get_blob_client("quarantine", name)
    assert moved.download_blob().readall() == JUNK
    assert moved.get_blob_properties().metadata["reason"] == "unsupported_type"  # ours, never the device's
    assert rig.ingestion.ingest(name) is None  # a redelivery finds nothing left to do


def test_a_lease_taken_through_the_sas_does_not_block_quarantine(rig):
    name, url, hint = rig.grant()
    commit(url, JUNK)
    BlobLeaseClient(BlobClient.from_blob_url(url)).acquire(lease_duration=-1)  # an infinite lease: `w` allows it
    job = rig.ingestion.ingest(name)
    assert job is not None and job.id == hint and job.state is JobState.REJECTED and rig.photos_left(name) == []


def test_a_photo_moved_to_the_archive_tier_through_the_sas_fails_its_job_instead_of_the_delivery(rig):
    name, url, hint = rig.grant()
    commit(url, photo(1))
    BlobClient.from_blob_url(url).set_standard_blob_tier("Archive")  # no new ETag, but the bytes are unreadable
    job = rig.ingestion.ingest(name)
    assert job is not None and job.id == hint and job.state is JobState.FAILED and job.reason == "photo_unreadable"
    assert "BlobArchived" in (job.detail or "")


def test_a_delivery_that_died_between_the_job_and_its_indexes_is_mended_by_the_next(rig, monkeypatch):
    """Only the `open` index leads the reconciler to a job: one missing would leave it queued for ever."""
    name, url, hint = rig.grant()
    commit(url, photo(1))

    def died(job: Job) -> None:
        raise ConnectionResetError("the host died after the job's row")

    monkeypatch.setattr(rig.store, "_index", died)
    with pytest.raises(ConnectionResetError):
        rig.ingestion.ingest(name)
    monkeypatch.undo()
    assert rig.store.get(hint).state is JobState.RECEIVED and hint not in rig.store.open_ids()

    job = rig.ingestion.ingest(name)  # the blob event again: the first delivery never completed
    assert job is not None and job.id == hint and job.state is JobState.QUEUED and hint in rig.tasks(job)
    assert hint in rig.store.open_ids() and [j.id for j in rig.jobs_under_site()] == [hint]
