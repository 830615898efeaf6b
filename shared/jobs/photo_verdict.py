"""A photo's bytes as ingestion judges them: the job's own version read, bounded; the verdict on it; and a refused
version moved off `photos/`.

Every read is pinned to the job's version (its ETag). What storage answers for good ends the job, never the
delivery: a version replaced since is `overwritten`, one deleted `photo_missing`, any other refusal
`photo_unreadable`. A transient error, or a refusal of the app's own identity (`not_authorised`: a role assignment
still propagating after a deployment), is the delivery's: the job stays RECEIVED for the next one or the reconciler.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from batch_tasks import telemetry
from shared import metrics
from shared.errors import NotFound, PermanentError, TransientError
from shared.jobs import not_kept
from shared.jobs.models import Job
from shared.jobs.ports import BlobInfo, PhotoStore
from shared.validation import Accepted, Limits, QualityPolicy, validate


class PhotoUnreadable(PermanentError):
    """The job's version of the photo cannot be read; the job ends FAILED with this reason."""


def judge(job: Job, info: BlobInfo, photos: PhotoStore, limits: Limits,
          policies: Callable[[str], QualityPolicy]) -> Any:  # fmt: skip
    """Validation's verdict on the job's version (Accepted, or a Rejected with its reason); PhotoUnreadable when
    storage will never hand it over."""
    started = time.perf_counter()
    with telemetry.job_span("validate", job.id, attributes={"sitelens.site": job.site}) as span:
        # The blob's type first, from its properties: what it refuses is never read (shared/jobs/not_kept.py).
        verdict = not_kept.refusal(info) or validate(job.blob_name, info.size, lambda: read(job, photos, limits),
                                                     limits, policies(job.site))  # fmt: skip
        outcome = "accepted" if isinstance(verdict, Accepted) else str(verdict.reason)
        span.set_attribute("sitelens.verdict", outcome)
    metrics.validation_time(job.site, time.perf_counter() - started, outcome)
    return verdict


def read(job: Job, photos: PhotoStore, limits: Limits) -> bytes:
    """The job's own version, at most `limits.max_bytes`."""
    try:
        return photos.read_photo(job.blob_name, job.blob_etag, limits.max_bytes)
    except TransientError:
        raise
    except NotFound as exc:
        raise PhotoUnreadable("the photo was deleted before validation read it", reason="photo_missing") from exc
    except PermanentError as exc:
        if exc.reason == "overwritten":
            raise PhotoUnreadable(replaced(job), reason="overwritten") from exc
        if exc.reason == "not_authorised":
            raise  # the app's identity, not the photo (the module's doc)
        raise PhotoUnreadable(f"storage refused to read the photo: {exc}", reason="photo_unreadable") from exc


def put_aside(job: Job, photos: PhotoStore) -> None:
    """The rejected version off `photos/`: to `quarantine/`, or deleted when its reason is `not_kept.NOT_KEPT`.
    By the job's reason alone, so a redelivery after a crash finishes what the verdict began."""
    if job.reason in not_kept.NOT_KEPT:
        not_kept.discard(photos, job)
        return
    with contextlib.suppress(NotFound):  # already moved, or that version is gone (a later write stays)
        photos.quarantine(job.blob_name, job.blob_etag, job.reason or "rejected", job.detail or "")


def replaced(job: Job) -> str:
    return (f"version {job.blob_etag.strip(chr(34))} of the photo was replaced before validation read it; "
            "the later version is not processed (POST /api/jobs/{id}/retry runs it as a new job)")  # fmt: skip
