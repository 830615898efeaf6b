"""The job's public status document: what the status API returns and what a webhook carries.

It names no storage paths, no GPS, no secrets; a succeeded job's result and overlay are short-lived read
URLs from `ResultLinks`, which both the status API and the finisher (for the webhook) use. The API signs
them anew on every call, each living at least `LINK_TTL` (shared/jobs/api.py lengthens them to the end of its
ETag's window); the webhook event keeps the links it was recorded with, since its body is the same bytes on
every attempt (docs/webhooks.md says so to receivers).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from shared.jobs import ids, result_kinds
from shared.jobs.models import Job, JobState

EVENT_TYPES = {JobState.SUCCEEDED: "job.succeeded", JobState.FAILED: "job.failed", JobState.REJECTED: "job.rejected"}
LINK_TTL = timedelta(minutes=15)
# A document carrying links is the caller's: revalidated each time, never kept in a shared cache.
LINKS_CACHE_CONTROL = "private, no-cache"
RESULTS = "results"  # the container the node writes results and overlays to


class LinkSigner(Protocol):
    def read_link(self, container: str, path: str, ttl: timedelta) -> str: ...


class ResultLinks:
    """`{"result", "overlay"}` read URLs of a succeeded job (a cached one's point at its owner's), else `{}`."""

    def __init__(self, signer: LinkSigner, ttl: timedelta = LINK_TTL) -> None:
        self.signer, self.ttl = signer, ttl

    def __call__(self, job: Job, ttl: timedelta | None = None) -> dict[str, str]:
        """The links, each valid for `ttl` from now (default: this renderer's)."""
        path = job.result_path if has_links(job) else None
        if not path:
            return {}
        ttl = self.ttl if ttl is None else ttl
        return {
            "result": self.signer.read_link(RESULTS, path, ttl),
            "overlay": self.signer.read_link(RESULTS, ids.overlay_beside(path), ttl),
        }


def has_links(job: Job) -> bool:
    """Whether `ResultLinks` gives the job links: a succeeded job with a result."""
    return job.state is JobState.SUCCEEDED and bool(job.result_path)


def no_links(job: Job) -> dict[str, str]:
    """For callers with no signer (tests of the state machine): documents without result links."""
    return {}


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
        # The job whose result this one reuses (same photo bytes), so a client can follow it; None otherwise.
        "cached_from": job.cached_from,
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
        # The summary names its `kind` (ocr, classify, detect); one stored before kinds existed is OCR's.
        "result": (
            {"summary": result_kinds.with_kind(job.summary), "links": links or {}}
            if job.state is JobState.SUCCEEDED
            else None
        ),
    }
    if job.retry_of:
        doc["retry_of"] = job.retry_of
    if job.retried_by:
        doc["retried_by"] = job.retried_by
    return doc


def event_type(job: Job) -> str:
    return EVENT_TYPES[job.state]
