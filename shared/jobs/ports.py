"""The ports the pipeline talks through; one adapter module each under shared/adapters/.

Every method raises only the shared.errors tree: TransientError (retry the message), NotFound, Conflict
(a conditional write lost), or another PermanentError.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Set
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from shared.jobs.models import Job, JobState


class JobStore(Protocol):
    def create(self, job: Job) -> Job | None: ...  # the stored job; None when the id already existed
    def get(self, job_id: str) -> Job: ...
    def update(self, job: Job) -> Job: ...  # if the ETag still matches; returns the job with its new ETag
    def list_site(
        self, site: str, *, state: JobState | None, since: datetime | None, limit: int, token: str | None
    ) -> tuple[list[Job], str | None]: ...
    # Jobs not yet terminal-and-published, in job-id order; with `after`, only the ids that sort after it.
    def open_ids(self, after: str | None = None) -> list[str]: ...
    # The same ids, and with `through` none that sort after it, listed lazily: a walk that stops early (a reconcile
    # run at its budget) has read only as far as it went.
    def iter_open_ids(self, after: str | None = None, *, through: str | None = None) -> Iterator[str]: ...
    # Where the last reconcile run stopped at its budget (the last job id it reached); None: at the start.
    def reconcile_cursor(self) -> str | None: ...
    def set_reconcile_cursor(self, job_id: str | None) -> None: ...
    def close(self, job_id: str) -> None: ...
    # `content` is ids.content_key: the photo's bytes and the model that reads them.
    def claim_content(self, site: str, content: str, job_id: str) -> str: ...  # the owner's job id
    # The claim to `new_owner` if it still names `old_owner` (a conditional write); the owner after the attempt,
    # so a lost race answers the job that took it first.
    def take_over_content(self, site: str, content: str, old_owner: str, new_owner: str) -> str: ...
    def add_follower(self, site: str, content: str, job_id: str) -> None: ...
    def followers(self, site: str, content: str) -> list[str]: ...
    def add_feedback(self, job_id: str, feedback: dict[str, Any], at: datetime) -> str: ...
    # Erasure (shared/jobs/erasure.py). The ids of the site's jobs whose photo has these bytes (`content_sha256`).
    def same_content(self, site: str, sha256: str) -> list[str]: ...
    def erase_content(self, site: str, sha256: str) -> int: ...  # these bytes' claims, every model's; rows found
    def erase_feedback(self, job_id: str) -> int: ...  # the job's feedback entries; how many there were
    # Its index rows, then its own row (`get` answers NotFound after); with `entry_last`, its site index entry last,
    # for record expiry, which finds jobs by that entry.
    def erase_job(self, job: Job, *, entry_last: bool = False) -> None: ...


@dataclass(frozen=True)
class IndexEntry:
    """A job's entry in its site's index (received_at order), as record expiry finds it."""

    site: str
    job_id: str
    key: str  # the entry's own key: an entry whose job is gone is dropped by it


class RecordIndex(Protocol):
    """Record expiry (shared/jobs/record_expiry.py): the jobs received before a time, and the rows of a job that
    no JobStore method deletes on its own."""

    # Entries of jobs received before `before`: site by site, the oldest `per_site` of each that are not of the jobs
    # in `passed` (kept by an earlier pass: they take no place in the count); read lazily.
    def received_before(self, before: datetime, per_site: int, passed: Set[str]) -> Iterator[IndexEntry]: ...
    def drop(self, entry: IndexEntry) -> None: ...  # an entry whose job is gone; an entry already gone is no error
    # The content claim rows of these bytes that name the job (as owner or follower), every model's; rows deleted.
    def release_content(self, site: str, sha256: str, job_id: str) -> int: ...


@dataclass(frozen=True)
class BlobInfo:
    """What ingestion takes from a photo's properties. Deliberately no content type and no metadata: the
    device's SAS can set both, so nothing may decide on them (validation sniffs the bytes). The one
    exception is `traceparent`, a correlation hint only: well-formed W3C or None, and it decides nothing.
    `blob_type` is storage's own (`BlockBlob`, `PageBlob`, `AppendBlob`): ingestion takes block blobs only."""

    size: int
    etag: str
    traceparent: str | None = None
    blob_type: str = "BlockBlob"


class PhotoStore(Protocol):
    def photo_info(self, blob_name: str) -> BlobInfo: ...
    # At most max_bytes of exactly version `etag`: Conflict with reason `overwritten` once it is replaced.
    def read_photo(self, blob_name: str, etag: str, max_bytes: int) -> bytes: ...
    def put_derived(self, job_id: str, jpeg: bytes) -> None: ...
    def derived_exists(self, job_id: str) -> bool: ...  # from its properties: nothing is downloaded
    def derived_url(self, job_id: str) -> str: ...  # what the task's resource file downloads
    # Version `etag` to `quarantine/`, then off `photos/` with its snapshots; NotFound once that version is gone.
    def quarantine(self, blob_name: str, etag: str, reason: str, detail: str) -> None: ...
    # Version `etag` off `photos/` with its snapshots, no copy kept (refused for its size or blob type); NotFound
    # once it is gone.
    def discard(self, blob_name: str, etag: str) -> None: ...
    def read_result(self, path: str) -> bytes: ...  # NotFound when absent
    def result_exists(self, path: str) -> bool: ...  # from its properties: nothing is downloaded
    def read_link(self, container: str, path: str, ttl: timedelta) -> str: ...
    # Erasure: `photos/{name}` whatever its version, with its snapshots, and its `quarantine/` copy; blobs found.
    def erase_photo(self, blob_name: str) -> int: ...
    def erase_job_blobs(self, job_id: str) -> int: ...  # every blob of the job's folder in `derived` and `results`


class TaskState(enum.StrEnum):
    ACTIVE = "active"
    RUNNING = "running"
    COMPLETED = "completed"
    MISSING = "missing"


@dataclass(frozen=True)
class TaskView:
    state: TaskState
    exit_code: int | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    retries: int = 0
    started_at: datetime | None = None


@dataclass(frozen=True)
class TaskRequest:
    job_id: str
    batch_job_id: str
    model: str
    input_url: str
    traceparent: str | None = None  # the submission's span, handed to the task as TRACEPARENT
    # The job's `task_token`, handed to the task in its environment; None for a job recorded without one.
    task_token: str | None = field(default=None, repr=False)


class TaskSubmitter(Protocol):
    # An existing task with this id counts as submitted; True only when this call created the task. A Batch job that
    # takes no more tasks (completed or being terminated) raises PermanentError `batch_refused`: no retry of the
    # submission can succeed.
    def submit(self, request: TaskRequest) -> bool: ...
    def view(self, batch_job_id: str, task_id: str) -> TaskView: ...
    # Ends the task if it still waits or runs, so it no longer counts as pending work or runs for a job that
    # has ended; a task already ended or gone is nothing to do.
    def cancel(self, batch_job_id: str, task_id: str) -> None: ...
    # Terminates Batch jobs of days before `day`, and an earlier release's idle per-model jobs of days before
    # `idle_before`; returns how many.
    def finish_jobs_before(self, day: date, idle_before: date | None = None) -> int: ...
    # Deletes completed Batch jobs of days before `day`, with every task record they hold; returns how many.
    # Not waited for; one already gone or being deleted is nothing to do. May leave some for the next call.
    def delete_jobs_before(self, day: date) -> int: ...


class PoolWaker(Protocol):
    # A task was just queued: if the pool has no nodes and none coming, bring its next autoscale evaluation
    # forward. Best effort, debounced across instances; the pool's schedule remains the fallback.
    def wake(self) -> None: ...


class Routing(Protocol):
    # (model "name/version", weight) for the site (its own routes, else those for every site); empty = default
    def weights(self, site: str | None = None) -> list[tuple[str, int]]: ...


class Outbox(Protocol):
    # Records a terminal job's event and its deliveries, idempotent per event id, and queues nothing; returns the
    # (event id, subscription id) of each delivery whose first attempt is still to be made (this call's, and an
    # earlier call's never attempted), for `notify` to queue once the job is known to stand (shared/jobs/finisher.py
    # says why).
    def record(self, event_id: str, job: Job, document: dict[str, Any]) -> list[tuple[str, str]]: ...
    def notify(self, unsent: list[tuple[str, str]]) -> None: ...
