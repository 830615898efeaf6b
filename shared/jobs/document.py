"""The job's public status document: what the status API returns and what a webhook carries.

It names no storage paths, no GPS, no secrets; result links are short-lived read URLs added by the caller.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.jobs.models import Job, JobState

EVENT_TYPES = {JobState.SUCCEEDED: "job.succeeded", JobState.FAILED: "job.failed", JobState.REJECTED: "job.rejected"}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def public(job: Job, links: dict[str, str] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": job.id,
        "site": job.site,
        "device": job.device,
        "photo_id": job.photo_id,
        "state": job.state.value,
        "reason": job.reason,
        "detail": job.detail,
        "model": job.model,
        "cached": job.cached_from is not None,
        "attempts": job.attempt,
        # The photo version this job is bound to, to compare with the ETag of the device's own commit.
        "photo_etag": job.blob_etag.strip('"'),
        "later_writes": job.later_writes,
        "timings": {
            "received_at": _iso(job.received_at),
            "queued_at": _iso(job.queued_at),
            "started_at": _iso(job.started_at),
            "finished_at": _iso(job.finished_at),
            "latency_ms": job.latency_ms,
        },
        "quality": job.quality or None,
        "result": ({"summary": job.summary, "links": links or {}} if job.state is JobState.SUCCEEDED else None),
    }
    if job.retry_of:
        doc["retry_of"] = job.retry_of
    if job.retried_by:
        doc["retried_by"] = job.retried_by
    return doc


def event_type(job: Job) -> str:
    return EVENT_TYPES[job.state]
