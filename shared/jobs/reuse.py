"""Identical photos: a job whose bytes, site and model match an earlier job's reuses that job's result.

Ingestion claims the content (`JobStore.claim_content`, insert-if-absent): the first job to claim it is its
owner and runs; every later one follows it. A follower of an owner that succeeded finishes at once with the
owner's result; of one still running, it waits, listed as a follower, and the owner's completion finishes it;
of one that failed, it runs on its own and takes the claim over (below).

Results expire (`resultsRetentionDays`, counted from when a result was written), so an owner is reused only
while its result stays stored `REUSE_MARGIN` past the reuse. An owner older than that, or one that failed,
hands the claim over, on its ETag, to the job that now runs instead, so later photos with the same bytes
follow the new owner rather than each running a GPU task of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from shared.errors import NotFound
from shared.jobs.finisher import Finisher
from shared.jobs.models import Job, JobState
from shared.jobs.ports import JobStore

log = logging.getLogger(__name__)
# A job reuses another's result only if that result is still stored this long after the reuse: results/
# expires by the storage lifecycle rule, counted from when the result was written, never before its job's receipt.
REUSE_MARGIN = timedelta(days=1)


def too_old(owner: Job, results_kept: timedelta | None, now: datetime) -> bool:
    """Its result may be deleted within `REUSE_MARGIN`: `results_kept` after it was written, which came after
    the owner's receipt, so that receipt bounds its age. Never, while results are kept for good (None)."""
    return results_kept is not None and owner.received_at + results_kept <= now + REUSE_MARGIN


def unusable(owner: Job, results_kept: timedelta | None, now: datetime) -> bool:
    """An owner no later photo should follow: it ended without a result, or its result is `too_old`."""
    return (owner.terminal and owner.state is not JobState.SUCCEEDED) or too_old(owner, results_kept, now)


def follow(job: Job, owner_id: str, content: str, *, store: JobStore, finisher: Finisher,
           clock: Callable[[], datetime], results_kept: timedelta | None) -> Job | None:  # fmt: skip
    """Reuse the owner's result (same bytes, site and model); None when `job` must run: the owner failed, or is
    too old. Then `job` takes the claim over from that owner, so later photos with these bytes follow it, not
    each a GPU task of its own; a duplicate that took it over first, a moment ago, is followed instead."""
    owner = _job_or_none(store, owner_id)
    if owner is None or unusable(owner, results_kept, clock()):
        holder = store.take_over_content(job.site, content, owner_id, job.id)
        log.info("job %s runs on its own: %s (same bytes) %s; the claim is %s's", job.id, owner_id,
                 _why_not_followed(owner), holder)  # fmt: skip
        if holder == job.id:
            return None
        owner = _job_or_none(store, holder)
        if owner is None or unusable(owner, results_kept, clock()):
            return None
    if owner.state is JobState.SUCCEEDED:
        return finisher.finish(job, JobState.SUCCEEDED, **owner.cached_fields())
    store.add_follower(job.site, content, job.id)
    queued = store.update(job.advance(JobState.QUEUED, clock(), cached_from=owner.id, model=owner.model or job.model))
    owner = store.get(owner.id)  # it may have finished before we were listed as its follower
    if owner.state is JobState.SUCCEEDED:
        return finisher.finish(queued, JobState.SUCCEEDED, **owner.cached_fields())
    return queued


def _job_or_none(store: JobStore, job_id: str) -> Job | None:
    """The job, or None where its row is gone (erased) while its content claim stayed: a dangling claim is
    taken over, not a NotFound for every later photo with those bytes."""
    try:
        return store.get(job_id)
    except NotFound:
        return None


def _why_not_followed(owner: Job | None) -> str:
    if owner is None:
        return "is gone"
    if owner.terminal and owner.state is not JobState.SUCCEEDED:
        return "failed"
    return f"has a result that expires within {REUSE_MARGIN}"
