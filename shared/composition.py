"""The composition root: builds each service once from Settings, with real SDK clients.

Locally the clients use the storage connection string, in Azure the managed identity; each has time bounds
(shared/adapters/azure_call_bounds.py). Refused settings are logged as one error; HTTP functions answer `unavailable()`.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.batch import BatchClient
from azure.core.credentials import AzureNamedKeyCredential
from azure.data.tables import TableServiceClient
from azure.identity import ManagedIdentityCredential
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from shared.adapters.azure_batch_submitter import BatchTaskSubmitter, TaskSpec
from shared.adapters.azure_call_bounds import APP_CALLS, HEALTH_CHECK_CALLS, CallBounds
from shared.adapters.azure_erasure import TableEventErasure
from shared.adapters.azure_job_store import JOBS, TableJobStore
from shared.adapters.azure_notification_queue import NOTIFICATIONS_QUEUE, StorageNotificationQueue
from shared.adapters.azure_photo_store import BlobPhotoStore, BlobRouting
from shared.adapters.azure_pool_status import BatchPoolStatus
from shared.adapters.azure_pool_waker import BatchPoolWaker
from shared.adapters.azure_record_index import TableRecordIndex
from shared.adapters.azure_retry_caps import CappedTableService, batch_options
from shared.adapters.azure_webhook_store import TableWebhookStore
from shared.config import ConfigError, Settings
from shared.errors import SitelensError
from shared.jobs.api import JobsApi
from shared.jobs.completion import Completion
from shared.jobs.document import ResultLinks
from shared.jobs.finisher import Finisher
from shared.jobs.ingestion import Ingestion
from shared.jobs.models import Job
from shared.jobs.outbox import WebhookOutbox
from shared.jobs.poisoned_photos import PoisonedPhotos
from shared.jobs.reconciler import Reconciler
from shared.jobs.record_expiry import RecordExpiry
from shared.jobs.summary import SummaryApi
from shared.problems import problem
from shared.uploads.azure_blob_sas import BlobUploadSigner
from shared.uploads.azure_table_reservations import TableReservationStore
from shared.uploads.service import UploadService, UploadSettings
from shared.validation import Limits, QualityPolicy
from shared.webhooks.endpoint import EndpointPolicy
from shared.webhooks.notifications import Notifications
from shared.webhooks.service import WebhookService

log = logging.getLogger(__name__)


@functools.cache
def settings() -> Settings:
    try:
        return Settings.from_env(os.environ)
    except ConfigError as exc:  # not cached: every use reports it, until the settings are fixed
        log.error("sitelens settings refused (%s): %s", exc.reason, exc)
        raise


def unavailable() -> tuple[int, dict[str, Any]] | None:
    """(503, problem document) while the app's own settings are refused, else None."""
    try:
        settings()
    except ConfigError as exc:
        return 503, problem(503, exc.reason, str(exc))
    return None


def _credential(client_id: str | None) -> ManagedIdentityCredential:
    return ManagedIdentityCredential(client_id=client_id) if client_id else ManagedIdentityCredential()


def table_service(s: Settings, bounds: CallBounds = APP_CALLS) -> TableServiceClient:
    if s.storage.connection_string:
        return CappedTableService.from_connection_string(s.storage.connection_string, **bounds.options())
    assert s.storage.table_uri
    return CappedTableService(s.storage.table_uri, credential=_credential(s.storage.client_id), **bounds.options())


def queue_client(s: Settings, name: str, bounds: CallBounds = APP_CALLS) -> QueueClient:
    options = bounds.options() | {"message_encode_policy": TextBase64EncodePolicy()}  # the trigger expects base64
    if s.storage.connection_string:
        return QueueClient.from_connection_string(s.storage.connection_string, name, **options)
    assert s.storage.queue_uri
    return QueueClient(s.storage.queue_uri, name, credential=_credential(s.storage.client_id), **options)


@functools.cache
def webhooks() -> WebhookService:
    s = settings()
    return WebhookService(
        TableWebhookStore(table_service(s), prefix=s.table_prefix),
        StorageNotificationQueue(queue_client(s, NOTIFICATIONS_QUEUE)),
        EndpointPolicy(allowed_ports=s.webhooks_allowed_ports, allow_loopback=s.webhooks_allow_loopback),
        stale_attempt=timedelta(seconds=s.webhook_stale_attempt_s),
        lost_message=timedelta(seconds=s.webhook_lost_message_s),
        retry_scale=s.webhook_retry_scale,
        trace_of=_trace_of,
    )


def _trace_of(job_id: str) -> str | None:
    """The job's traceparent, so a webhook delivery joins its photo's trace; a missing job has none."""
    try:
        return jobs().get(job_id).traceparent
    except SitelensError:
        return None


@functools.cache
def notifications() -> Notifications:
    return Notifications(webhooks().deliver)


def _now() -> datetime:
    return datetime.now(UTC)


def blob_service(s: Settings, bounds: CallBounds = APP_CALLS) -> BlobServiceClient:
    if s.storage.connection_string:
        return BlobServiceClient.from_connection_string(s.storage.connection_string, **bounds.options())
    assert s.storage.blob_uri
    return BlobServiceClient(s.storage.blob_uri, credential=_credential(s.storage.client_id), **bounds.options())


@functools.cache
def photos() -> BlobPhotoStore:
    s = settings()
    service = blob_service(s)
    key = service.credential.account_key if s.storage.connection_string else None
    store = BlobPhotoStore(service, account_key=key, https_only=not s.storage.connection_string)
    if s.storage.connection_string:
        store.ensure_containers()  # local development; in Azure the deployment creates them
    return store


@functools.cache
def jobs() -> TableJobStore:
    s = settings()
    return TableJobStore(table_service(s), prefix=s.table_prefix)


def batch_client(s: Settings, bounds: CallBounds = APP_CALLS) -> BatchClient:
    p, options = s.pipeline, batch_options(bounds)
    if not p.batch_url:
        raise ConfigError("SITELENS_BATCH_URL is not set: photos cannot be submitted")
    if p.batch_account and p.batch_key:
        credential: object = AzureNamedKeyCredential(p.batch_account, p.batch_key)
    else:  # a token for the account's own cloud: unasked, the SDK asks for the public cloud's in every cloud
        credential, options["credential_scopes"] = _credential(s.storage.client_id), p.batch_token_scopes
    return BatchClient(p.batch_url, credential, **options)  # type: ignore[arg-type]


@functools.cache
def submitter() -> BatchTaskSubmitter:
    p, client = settings().pipeline, batch_client(settings())
    spec = TaskSpec(pool_id=p.pool_id, command=p.task_command, environment=p.task_env,
                    max_wall_clock=timedelta(seconds=p.task_max_wall_clock_s), max_retries=p.task_max_retries,
                    identity_resource_id=p.node_identity_id)  # fmt: skip
    return BatchTaskSubmitter(client, spec)


@functools.cache
def finisher() -> Finisher:
    s = settings()
    return Finisher(jobs(), WebhookOutbox(webhooks(), _now), _now, links=ResultLinks(photos()),
                    events=TableEventErasure(table_service(s), prefix=s.table_prefix))  # fmt: skip


@functools.cache
def ingestion() -> Ingestion:
    p = settings().pipeline
    return Ingestion(
        store=jobs(),
        photos=photos(),
        submitter=submitter(),
        routes=BlobRouting(blob_service(settings())),
        finisher=finisher(),
        clock=_now,
        limits=Limits(max_bytes=p.max_photo_bytes, max_pixels=p.max_photo_pixels),
        policies=lambda site: QualityPolicy(reject=p.rejecting_flags(site)),
        default_model=p.default_model,
        waker=pool_waker(),
        results_kept=settings().results_kept,
    )


@functools.cache
def pool_waker() -> BatchPoolWaker:
    """Kicks claimed in the jobs table (built first by jobs()), through the submitter's Batch client."""
    s = settings()
    jobs()
    claims = table_service(s).get_table_client(s.table_prefix + JOBS)
    return BatchPoolWaker(submitter().client, s.pipeline.pool_id, claims)


@functools.cache
def completion() -> Completion:
    return Completion(store=jobs(), photos=photos(), finisher=finisher(), clock=_now)


@functools.cache
def reconciler() -> Reconciler:
    return Reconciler(
        store=jobs(),
        photos=photos(),
        submitter=submitter(),
        ingestion=ingestion(),
        completion=completion(),
        finisher=finisher(),
        clock=_now,
        stuck_after=timedelta(seconds=settings().pipeline.stuck_after_s),
        give_up_after=timedelta(seconds=settings().pipeline.give_up_after_s),
    )


@functools.cache
def record_expiry() -> RecordExpiry:
    s = settings()
    return RecordExpiry(
        store=jobs(),  # built first: it creates the jobs table the index reads
        index=TableRecordIndex(table_service(s), prefix=s.table_prefix),
        events=TableEventErasure(table_service(s), prefix=s.table_prefix),
        reservations=TableReservationStore(table_service(s), prefix=s.table_prefix),
        clock=_now,
        keep=s.records_kept,
    )


@functools.cache
def poisoned_photos() -> PoisonedPhotos:
    return PoisonedPhotos(ingestion=ingestion, store=jobs, finisher=finisher, clock=_now)  # built when used


def _retry(job: Job) -> Job:
    """Retries need the Batch settings that read paths do not, so ingestion is built on the first retry."""
    return ingestion().retry(job)


@functools.cache
def jobs_api() -> JobsApi:
    return JobsApi(jobs(), photos(), retry=_retry, results_kept=settings().results_kept, clock=_now)


@functools.cache
def summary_api() -> SummaryApi:
    return SummaryApi(jobs(), ResultLinks(photos()), _now)


@functools.cache
def pool_status() -> BatchPoolStatus:
    return BatchPoolStatus(submitter().client, settings().pipeline.pool_id)


def health_checks() -> dict[str, Callable[[], object]]:
    """Storage (the jobs table), Batch (the pool), the model registry (the default model's manifest), each through
    clients of its own that try once, briefly (`HEALTH_CHECK_CALLS`): a stalled one is `degraded` in seconds."""
    s = settings()
    return {"storage": lambda: _checked_jobs().ping(), "batch": lambda: _checked_pool().pool_state(),
            "model_registry": lambda: _checked_models().model_registered(s.pipeline.default_model)}  # fmt: skip


@functools.cache
def _checked_jobs() -> TableJobStore:
    return TableJobStore(table_service(settings(), HEALTH_CHECK_CALLS), prefix=settings().table_prefix)


@functools.cache
def _checked_pool() -> BatchTaskSubmitter:
    return BatchTaskSubmitter(batch_client(settings(), HEALTH_CHECK_CALLS), submitter().spec)


@functools.cache
def _checked_models() -> BlobPhotoStore:
    return BlobPhotoStore(blob_service(settings(), HEALTH_CHECK_CALLS), account_key=None, https_only=True)


@functools.cache
def uploads() -> UploadService:
    """`POST /uploads`: locally the SAS is signed with Azurite's account key, in Azure with a user delegation
    key from the managed identity (the connection string is the only place an account key can come from)."""
    s = settings()
    service = blob_service(s)
    key = service.credential.account_key if s.storage.connection_string else None
    signer = BlobUploadSigner(service, account_key=key)
    if s.storage.connection_string:
        signer.ensure_container()  # local development; in Azure the deployment creates it
    return UploadService(
        TableReservationStore(table_service(s), prefix=s.table_prefix),
        signer,
        UploadSettings(ttl=timedelta(seconds=s.upload_sas_ttl_s), max_bytes=s.pipeline.max_photo_bytes),
    )
