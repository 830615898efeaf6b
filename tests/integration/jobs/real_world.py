"""The pipeline the unit tests' World builds (tests/unit/jobs/test_pipeline.py), on the real parts instead:
TableJobStore and BlobPhotoStore on Azurite, the webhook outbox on Azurite's tables and queues, the real
azure-batch client against the local Batch service. Only the clock is the test's, so a test can move time on.

Each world has a table prefix, a site, a pool and a default model of its own, so tests sharing one Azurite never
see each other's jobs or photos, and the test's own Batch service (conftest.py): a day's Batch job serves every
model, so only a service of its own keeps a test's Batch jobs its own. The pool has no nodes: a submitted
task waits in the queue, as it does through an outage. Routing stays out of it (NoRoutes): `models/routing.json`
is one blob for the whole Azurite, which another test may write.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from azure.batch import BatchClient, models
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from shared.adapters.azure_batch_submitter import BatchTaskSubmitter, TaskSpec
from shared.adapters.azure_job_store import TableJobStore
from shared.adapters.azure_notification_queue import StorageNotificationQueue
from shared.adapters.azure_photo_store import PHOTOS, BlobPhotoStore
from shared.adapters.azure_webhook_store import TableWebhookStore
from shared.jobs.completion import Completion
from shared.jobs.finisher import Finisher
from shared.jobs.ingestion import Ingestion
from shared.jobs.outbox import WebhookOutbox
from shared.jobs.ports import JobStore
from shared.jobs.reconciler import RUN_BUDGET, Reconciler
from shared.validation import Limits, QualityPolicy
from shared.webhooks.endpoint import EndpointPolicy
from shared.webhooks.service import WebhookService
from tests.unit.jobs.fakes import Clock, NoRoutes
from tests.unit.jobs.test_pipeline import photo

STUCK_AFTER = timedelta(minutes=15)  # as the unit tests' World


class RealWorld:
    def __init__(self, storage_connection: str, unique: str, batch: BatchClient) -> None:
        self.clock, self.prefix, self.site = Clock(), f"t{unique}", f"site-{unique}"
        self.tables = TableServiceClient.from_connection_string(storage_connection)
        self.blobs = BlobServiceClient.from_connection_string(storage_connection)
        self.store = self.restarted_store()
        self.photos = BlobPhotoStore(self.blobs, account_key=self.blobs.credential.account_key, https_only=False)
        self.photos.ensure_containers()
        queue = QueueClient.from_connection_string(storage_connection, f"n-{unique}",
                                                   message_encode_policy=TextBase64EncodePolicy())  # fmt: skip
        hooks = WebhookService(TableWebhookStore(self.tables, prefix=self.prefix), StorageNotificationQueue(queue),
                               EndpointPolicy(allow_loopback=True))  # fmt: skip
        self.outbox = WebhookOutbox(hooks, self.clock)
        pool = f"pool-{unique}"
        batch.create_pool(models.BatchPoolCreateOptions(id=pool, vm_size="standard_nc4as_t4_v3",
                                                        target_dedicated_nodes=0))  # fmt: skip
        self.submitter = BatchTaskSubmitter(batch, TaskSpec(pool_id=pool, command="true"))
        self.finisher = Finisher(self.store, self.outbox, self.clock)
        self.ingestion = Ingestion(
            store=self.store, photos=self.photos, submitter=self.submitter, routes=NoRoutes(), finisher=self.finisher,
            clock=self.clock, limits=Limits(), policies=lambda site: QualityPolicy(), default_model=f"ocr/{unique}",
        )  # fmt: skip
        self.completion = Completion(store=self.store, photos=self.photos, finisher=self.finisher, clock=self.clock)
        self.reconciler = self.new_reconciler(self.store)

    def restarted_store(self) -> TableJobStore:
        """A store built afresh over this world's tables, as a restarted worker builds it."""
        return TableJobStore(self.tables, prefix=self.prefix)

    def new_reconciler(
        self, store: JobStore, budget: timedelta = RUN_BUDGET, monotonic: Callable[[], float] = time.monotonic
    ) -> Reconciler:
        """A reconciler over `store` with nothing in memory, as a restarted worker builds it."""
        return Reconciler(store=store, photos=self.photos, submitter=self.submitter, ingestion=self.ingestion,
                          completion=self.completion, finisher=Finisher(store, self.outbox, self.clock),
                          clock=self.clock, stuck_after=STUCK_AFTER, budget=budget, monotonic=monotonic)  # fmt: skip

    def upload(self, n: int) -> str:
        """A photo written where a device writes it; its blob name, which ingestion is then given."""
        name = f"{self.site}/cam-1/2026/11/22/IMG_{n}.jpg"
        self.blobs.get_blob_client(PHOTOS, name).upload_blob(photo(n), overwrite=True)
        return name
