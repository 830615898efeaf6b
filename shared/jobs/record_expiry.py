"""`expire_records` (timer): what the tables keep of a job goes `records_kept` after the job was received.

The storage lifecycle rules expire the blobs (the photo, its task input, result and overlay); the tables would
otherwise keep forever the job, its result summary (the first lines of text read from the photo: number plates,
names), its webhook events and deliveries (the same summary), its feedback, the upload reservation that named
its photo, and its content claim rows. Each run (every 5 minutes in Azure) finds the jobs received before the
cutoff in the site index and deletes, for each, what `sitelens erase` deletes of its rows (shared/jobs/erasure.py):
the events with their deliveries, feedback and reservation first, then its claim rows, then the job and last its
site index entry, so a run that dies half way leaves the job findable and the next run finishes it.

Left alone, and counted: a job not terminal with its event published (the reconciler still drives it; within
its give-up bound of receipt it always is, and `records_kept` is at least as long as results are kept). An entry
whose job row is gone (deleted by other means than these, which take the entry first) is dropped. A job's
claim rows are only its own: another job's claim on the same bytes stays. Its retries and duplicates expire on
their own dates.

A run is bounded by `RUN_BUDGET`, as the reconciler's is: each worker looks at it before each job it starts (a job
not started is left for the next run), so a job started just before it, ended by its first call that gets no
answer, is all a run can add. It makes passes over the sites, `PER_SITE` jobs of each at most (jobs an earlier pass
kept take no place), until a pass meets no job, so every site is reached whatever another's backlog; what a run
leaves is the oldest, and the next run starts there (expired entries are deleted as they go, so no cursor is kept).
Jobs are expired by `WORKERS` threads at a time: each is about twenty table requests, so one thread keeps pace with
a few photos a second, fewer than a busy deployment receives.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared import metrics
from shared.errors import NotFound, SitelensError
from shared.jobs.erasure import erase_records
from shared.jobs.ports import IndexEntry, JobStore, RecordIndex
from shared.uploads.ports import ReservationStore
from shared.webhooks.ports import EventErasure

log = logging.getLogger(__name__)
RUN_BUDGET = timedelta(minutes=4)  # well inside host.json's 10-minute functionTimeout, as the reconciler's
WORKERS = 8
# Jobs of one site a pass looks at: a run makes passes over every site until none has an expired job left, so a
# site with a backlog (a year's first busy day expiring) does not keep the others' from being reached.
PER_SITE = 500
EXPIRED, UNSETTLED, GONE, ERROR = "expired", "unsettled", "gone", "error"  # a job's outcome, as metrics count it


@dataclass
class Expiry:
    expired: int = 0  # jobs whose rows were deleted
    unsettled: int = 0  # jobs past the cutoff the pipeline has not finished with: kept for a later run
    gone: int = 0  # index entries whose job was already gone: dropped
    errors: int = 0  # jobs a storage error stopped: the next run tries again
    stopped_at_budget: bool = False


class RecordExpiry:
    def __init__(
        self,
        *,
        store: JobStore,
        index: RecordIndex,
        events: EventErasure,
        reservations: ReservationStore,
        clock: Callable[[], datetime],
        keep: timedelta,
        budget: timedelta = RUN_BUDGET,
        workers: int = WORKERS,
        per_site: int = PER_SITE,
        elapsed: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.index, self.events, self.reservations = store, index, events, reservations
        self.clock, self.keep, self.budget, self.workers, self.elapsed = clock, keep, budget, workers, elapsed
        self.per_site = per_site

    def run(self) -> Expiry:
        """Expire the jobs received more than `keep` ago, oldest of each site first, until none is left or the
        budget is spent."""
        cutoff = self.clock() - self.keep
        deadline = self.elapsed() + self.budget.total_seconds()
        expiry = Expiry()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="record-expiry") as pool:
            kept: set[str] = set()  # jobs this run kept (unsettled, or an error): not looked at again in its passes
            while self._pass(pool, self.index.received_before(cutoff, self.per_site, kept), deadline, expiry, kept):
                pass
        if expiry != Expiry():
            log.info("record expiry (received before %s): %s", cutoff.isoformat(), expiry)
        return expiry

    def _pass(self, pool: ThreadPoolExecutor, entries: Iterator[IndexEntry], deadline: float, expiry: Expiry,
              kept: set[str]) -> bool:  # fmt: skip
        """One pass over the sites; whether another should follow: this one met a job, and the budget is not spent.
        Each job a run meets is met once: deleted, its entry dropped, or kept (and skipped by the passes after), so
        the passes end when one meets none; or not started, when the budget was spent, and the run ends."""
        met = False
        while chunk := list(itertools.islice(entries, self.workers * 4)):
            met = True
            outcomes = list(pool.map(self._expire_in_time, chunk, itertools.repeat(deadline)))
            for entry, outcome in zip(chunk, outcomes, strict=True):
                if outcome is None:  # not started: left, uncounted, for the next run
                    continue
                setattr(expiry, _FIELD[outcome], getattr(expiry, _FIELD[outcome]) + 1)
                metrics.record_expired(outcome)
                kept |= {entry.job_id} if outcome in (UNSETTLED, ERROR) else set()
            if None in outcomes or self.elapsed() >= deadline:
                expiry.stopped_at_budget = True
                return False
        return met

    def _expire_in_time(self, entry: IndexEntry, deadline: float) -> str | None:
        """The job's outcome, or None when the budget was spent before the worker came to it: a chunk's jobs each
        wait for a worker, and each may take a call that gets no answer (shared/adapters/azure_call_bounds.py)."""
        return None if self.elapsed() >= deadline else self._expire(entry)

    def _expire(self, entry: IndexEntry) -> str:
        try:
            try:
                job = self.store.get(entry.job_id)
            except NotFound:
                self.index.drop(entry)
                return GONE
            if not (job.terminal and job.event_published):
                log.warning("job %s, received before the records cutoff, is %s with its event %s: kept for now",
                            job.id, job.state.value, "published" if job.event_published else "unpublished")  # fmt: skip
                return UNSETTLED
            erase_records(job, self.store, self.events, self.reservations)
            if job.content_sha256:
                self.index.release_content(job.site, job.content_sha256, job.id)
            self.store.erase_job(job, entry_last=True)  # the entry finds the job: it goes last
            return EXPIRED
        except SitelensError as exc:  # the next run tries again; one job's failure does not stop the others
            log.warning("job %s: its records could not be expired yet: %s", entry.job_id, exc)
            return ERROR


_FIELD = {EXPIRED: "expired", UNSETTLED: "unsettled", GONE: "gone", ERROR: "errors"}
