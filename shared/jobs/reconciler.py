"""`reconcile` (timer): every job in the open index either finishes, is re-driven, or is left alone.

The open index holds every job from its creation until it is terminal and its event published, so a sweep
reads only live work, never the whole table. For a job stuck past the bound, Batch's view of its task
decides: completed with a failure → FAILED with Batch's failure info; completed cleanly but no message
arrived → the result is processed as if the message had; missing → resubmitted, into its day's Batch job;
running → RUNNING. That path reads no message: Batch's own view says the job's task ran, so it settles jobs
whose completions were dropped for want of the task's secret (a node of an earlier release,
`shared.jobs.completion`). A job still open after `give_up_after` (24 h) is FAILED `timed_out`, so nothing is
retried forever, and its Batch task, if it still waits or runs, is cancelled: left queued (after an outage,
say) it would keep a GPU node up through the autoscale formula's pending tasks, then run work nobody waits for.

A job found waiting (too young to be stuck, or its task queued or running) is not looked at again for
`stuck_after`, so a backlog does not make each sweep a load proportional to it; the note is this process's
memory only (a new instance looks at everything once, over several runs under a large backlog).

A run is bounded by `RUN_BUDGET` of elapsed time, so a backlog (a pool waiting on GPU quota, a Batch outage)
can never keep one run going past the host's function timeout, which kills the worker and everything on it.
Old Batch days are terminated, and older ones deleted, first, whatever the backlog. The open index is walked
as a ring in job-id order from a cursor kept in the jobs table: a run that stops at its budget records the
last job it reached, and the next run, on this worker or a new one, goes on after it, wrapping to the start;
a run that gets all the way round clears it. So with N open jobs to look at and K looked at per run, every
one is looked at least once every ceil(N / K) runs, and a job may be failed `timed_out` that many runs after
its bound. The cursor is also kept while the run goes (`CURSOR_EVERY_JOBS`, `CURSOR_EVERY`): a run killed
part-way (its worker restarted by another invocation's timeout) loses at most that much of its walk.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from batch_tasks import telemetry
from shared import metrics
from shared.errors import NotFound, SitelensError
from shared.jobs import ids
from shared.jobs.completion import Completion
from shared.jobs.finisher import Finisher
from shared.jobs.index_repair import IndexRepair
from shared.jobs.ingestion import Ingestion
from shared.jobs.models import Job, JobState
from shared.jobs.ports import JobStore, PhotoStore, TaskState, TaskSubmitter

log = logging.getLogger(__name__)
# A day's Batch job is terminated 2 days on, past the 24 h bound of its photos (so sitelens holds 3 active Batch
# jobs against the account's quota of 100+), and deleted 7 days on with its task records (environment, input URL):
# a week for an operator to look at a day's tasks. A longer bound keeps the days longer (`batch_job_days`).
BATCH_JOB_RETENTION_DAYS, BATCH_JOB_DELETE_DAYS = 2, 7


def batch_job_days(give_up_after: timedelta) -> tuple[int, int]:
    """Days after its day to terminate a Batch job and to delete it. A terminated job never schedules its queued
    tasks, so day D's ends at the first run of D + 1 + terminate days (`finish_jobs_before` ends the days before
    the one given): past the bound of a photo received just before D + 1, however long the bound."""
    terminate = max(BATCH_JOB_RETENTION_DAYS, math.ceil(give_up_after / timedelta(days=1)))
    return terminate, terminate + BATCH_JOB_DELETE_DAYS - BATCH_JOB_RETENTION_DAYS


GIVE_UP_AFTER = timedelta(hours=24)  # the stated bound: every accepted photo is terminal within it
# Elapsed time one run may spend on open jobs: inside the 5-minute schedule in Azure, so runs do not pile up,
# and host.json's 10-minute functionTimeout. A constant: a longer one would only bring the timeout back.
RUN_BUDGET = timedelta(minutes=4)
# How often a run keeps its cursor, whichever comes first: a run killed without warning repeats at most this
# much of its walk next time. A write per 200 jobs is under 1 % more requests; 30 s bounds it when calls are slow.
CURSOR_EVERY_JOBS = 200
CURSOR_EVERY = timedelta(seconds=30)


@dataclass
class Sweep:
    examined: int = 0
    waiting: int = 0  # open jobs found waiting recently, not looked at this time
    published: int = 0
    redriven: int = 0
    failed: int = 0
    errors: int = 0
    uncancelled: int = 0  # jobs given up whose Batch task could not be cancelled (logged)
    stopped_at_budget: bool = False  # open jobs were left for the next run, which goes on after the cursor


class Reconciler:
    def __init__(
        self,
        *,
        store: JobStore,
        photos: PhotoStore,
        submitter: TaskSubmitter,
        ingestion: Ingestion,
        completion: Completion,
        finisher: Finisher,
        clock: Callable[[], datetime],
        stuck_after: timedelta,
        give_up_after: timedelta = GIVE_UP_AFTER,
        budget: timedelta = RUN_BUDGET,
        monotonic: Callable[[], float] = time.monotonic,  # the budget's clock: the wall clock may jump
    ) -> None:
        self.store, self.photos, self.submitter = store, photos, submitter
        self.ingestion, self.completion, self.finisher = ingestion, completion, finisher
        self.clock, self.stuck_after, self.give_up_after = clock, stuck_after, give_up_after
        self.budget, self.monotonic = budget, monotonic
        self._quiet_until: dict[str, datetime] = {}  # job id -> when to look at it again
        self._index_repair = IndexRepair(store, keep=2 * give_up_after)  # past the give-up, and its tries again
        self._terminate_days, self._delete_days = batch_job_days(give_up_after)

    def run(self) -> Sweep:
        started, sweep = self.monotonic(), Sweep()
        # First: cheap, and no backlog of open jobs may keep old Batch days from ending, nor from going.
        today = self.clock().date()
        try:
            self.submitter.finish_jobs_before(today - timedelta(days=self._terminate_days), idle_before=today)
        except SitelensError as exc:
            log.warning("old Batch jobs not terminated this time: %s (%s)", exc, exc.reason)
        try:
            self.submitter.delete_jobs_before(today - timedelta(days=self._delete_days))
        except SitelensError as exc:
            log.warning("old Batch jobs not deleted this time: %s (%s)", exc, exc.reason)
        now = self.clock()
        self._quiet_until = {k: v for k, v in self._quiet_until.items() if v > now}  # closed jobs' notes expire too
        self._index_repair.forget_before(now)
        cursor = self.store.reconcile_cursor()
        reached = kept = cursor
        kept_at, kept_after = started, 0  # when the cursor was last kept: monotonic time, jobs examined
        for job_id in self._ring(cursor):
            if job_id in self._quiet_until:
                sweep.waiting += 1
                reached = job_id
                continue
            ticked = self.monotonic()
            if ticked - started >= self.budget.total_seconds():
                sweep.stopped_at_budget = True
                break
            if sweep.examined - kept_after >= CURSOR_EVERY_JOBS or ticked - kept_at >= CURSOR_EVERY.total_seconds():
                kept, kept_at, kept_after = self._keep_cursor(kept, reached), ticked, sweep.examined
            sweep.examined += 1
            try:
                self._one(job_id, sweep)
            except SitelensError as exc:  # one stuck job must not stop the sweep; it is tried again next time
                sweep.errors += 1
                log.warning("reconcile %s: %s (%s)", job_id, exc, exc.reason)
            except Exception:
                sweep.errors += 1
                log.exception("reconcile %s failed unexpectedly", job_id)
            reached = job_id
        self._keep_cursor(kept, reached if sweep.stopped_at_budget else None)
        if sweep.stopped_at_budget:
            log.warning("reconcile: stopped at its %s budget; the next run goes on after %s", self.budget, reached)
        log.info("reconcile: %s", sweep)
        return sweep

    def _ring(self, cursor: str | None) -> Iterator[str]:
        """Open job ids after the cursor, then from the start up to it (the cursor's own id included). Both are
        listed a page at a time as the walk reaches them, and the wrap ends at the cursor: a run reads each open
        id at most once, and one stopped at its budget only the pages it reached."""
        yield from self.store.iter_open_ids(after=cursor)
        if cursor is not None:
            yield from self.store.iter_open_ids(through=cursor)

    def _keep_cursor(self, before: str | None, after: str | None) -> str | None:
        """The cursor the store holds now: `after`, written only when it differs from `before`."""
        if after == before:
            return before
        try:
            self.store.set_reconcile_cursor(after)
        except SitelensError as exc:  # the next run repeats some of this one's work, nothing worse
            log.warning("reconcile cursor not kept: %s (%s)", exc, exc.reason)
            return before
        return after

    def _one(self, job_id: str, sweep: Sweep) -> None:
        try:
            job = self.store.get(job_id)
        except NotFound:
            self.store.close(job_id)  # an index entry without its job (written by hand, or a job deleted)
            return
        if job.terminal:
            if not job.event_published:
                sweep.published += 1
                self._acted(job, "publish")
            self.finisher.publish(job)
            return
        age = self.clock() - job.received_at
        if age > self.give_up_after:
            self._index_repair.ensure(job)
            detail = f"not finished {age} after it was received (last state {job.state})"
            with self._span(job, "timed_out") as span:
                span.set_attribute("sitelens.action", "timed_out")
                sweep.uncancelled += not self._cancel_task(job)
                sweep.failed += self.finisher.finish(job, JobState.FAILED, reason="timed_out", detail=detail).terminal
            self._acted(job, "timed_out")
            return
        if age < self.stuck_after and not self._orphaned(job):
            if not job.cached_from:  # a follower is looked at each sweep: its owner may fail any moment
                self._quiet_until[job.id] = job.received_at + self.stuck_after
            return
        before = job.state
        with self._span(job, "redrive") as span:  # the job's trace shows what the reconciler did to it
            job, resubmitted = self._redrive(job)
            # One kind per job: a task submitted again, else the state it moved to, else only looked at.
            kind = "resubmitted" if resubmitted else job.state.value.lower() if job.state is not before else "checked"
            span.set_attribute("sitelens.action", kind)
        self._acted(job, kind)
        if job.terminal:
            sweep.failed += job.state is JobState.FAILED
        if job.state is not before or job.terminal:
            sweep.redriven += 1
        elif not job.cached_from:  # waiting in Batch, or just resubmitted: nothing to do for a while
            self._quiet_until[job.id] = self.clock() + self.stuck_after

    def _span(self, job: Job, action: str) -> telemetry.SpanScope:
        attributes = {"sitelens.site": job.site, "sitelens.state": job.state.value}
        return telemetry.job_span(f"reconcile.{action}", job.id, parent=job.traceparent, attributes=attributes)

    def _acted(self, job: Job, kind: str) -> None:
        metrics.reconciler_action(kind)

    def _cancel_task(self, job: Job) -> bool:
        """Cancel a given-up job's own Batch task (a follower has none); False when Batch could not be asked.

        The job is failed either way: the bound is the promise, and Batch unreachable now is no reason to
        keep the job open past it (nor to retry the cancel at every sweep). A task left behind is never
        scheduled once its day's Batch job is terminated, `batch_job_days` after its day."""
        if not job.batch_job_id or job.cached_from:
            return True
        try:
            self.submitter.cancel(job.batch_job_id, job.id)
        except SitelensError as exc:
            log.warning("job %s: its Batch task was not cancelled: %s (%s)", job.id, exc, exc.reason)
            return False
        return True

    def _orphaned(self, job: Job) -> bool:
        """A follower whose owner ended without a result runs on its own at once, not after the bound."""
        if not job.cached_from:
            return False
        try:
            owner = self.store.get(job.cached_from)
        except NotFound:
            return True
        return owner.terminal and owner.state is not JobState.SUCCEEDED

    def _redrive(self, job: Job) -> tuple[Job, bool]:  # noqa: PLR0911 (one outcome per case of Batch's view)
        """The job after its re-drive, and whether a task was submitted again for it (its state may not show it)."""
        if job.state is JobState.RECEIVED:
            self._index_repair.ensure(job)
            try:
                info = self.photos.photo_info(job.blob_name)
            except NotFound:
                detail = "deleted before submission"
                return self.finisher.finish(job, JobState.FAILED, reason="photo_missing", detail=detail), False
            # Another version under the name (the job's own is gone) ends the job `overwritten` there.
            return self.ingestion.process(job, info), False
        if job.cached_from:
            return self._follower(job)
        assert job.batch_job_id and job.model
        view = self.submitter.view(job.batch_job_id, job.id)
        if view.state is TaskState.MISSING:
            log.warning("job %s: its task is missing from Batch; submitting it again", job.id)
            # As ingestion submits: with the secret recorded on the job, so the new task's completion is believed,
            # into the Batch job of its day (recorded on it), which is the recorded one except for a job of an
            # earlier release: its per-model Batch job is terminated once idle (`finish_jobs_before`) and would
            # refuse the task. FAILED `batch_refused` if the day's Batch job takes no more tasks.
            submitted = self.ingestion.submit(job, job.model)
            return submitted, not submitted.terminal
        if view.state is TaskState.RUNNING and job.state is JobState.QUEUED:
            return self.store.update(job.advance(JobState.RUNNING, view.started_at or self.clock())), False
        if view.state is not TaskState.COMPLETED:
            return job, False
        failed = bool(view.failure_code) or (view.exit_code or 0) != 0
        if failed and not self._stored_result(job):
            detail = f"{view.failure_code or 'exit'}: {view.failure_message or ''} (exit {view.exit_code})"
            done = self.finisher.finish(job, JobState.FAILED, reason="task_failed", detail=detail.strip(),
                                        attempt=view.retries + 1)  # fmt: skip
            return done, False
        if not failed:
            log.warning("job %s: task completed but no completion message arrived; processing its result", job.id)
        return self.completion.accept_result(job, ids.result_path(job.id), None, view.retries + 1), False

    def _stored_result(self, job: Job) -> bool:
        """Whether the node stored the job's result: a task that fails after that (every attempt to post the
        completion refused, say) has still read the photo, and the result, not the exit code, decides."""
        try:
            self.photos.read_result(ids.result_path(job.id))
        except NotFound:
            return False
        log.warning("job %s: its task failed after storing its result; processing the result", job.id)
        return True

    def _follower(self, job: Job) -> tuple[Job, bool]:
        assert job.cached_from
        owner = self.store.get(job.cached_from)
        if owner.state is JobState.SUCCEEDED:
            return self.finisher.finish(job, JobState.SUCCEEDED, **owner.cached_fields()), False
        if not owner.terminal:
            return job, False
        log.info("job %s: the photo it shared bytes with (%s) %s; running it on its own", job.id, owner.id, owner.state)
        submitted = self.ingestion.submit(job)
        return submitted, not submitted.terminal  # terminal: its Batch job took no more tasks (`batch_refused`)
