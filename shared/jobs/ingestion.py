"""`on_photo_uploaded`: a committed photo becomes a job, validated, deduplicated, routed and submitted.

One photo name, one job. The job id comes from the blob's name alone (the upload service mints each name
once), and the job is bound to the version ingestion first reads: its ETag is recorded (`blob_etag`) and
every later read of the photo is pinned to it (If-Match), so the bytes validated, quarantined and
processed are that version's. The trigger hands over only the name, and the upload SAS may write the name
again while it lives (docs/uploads.md), so a delivery can find another version: that later write is
recorded on the job (`later_writes`, a warning in the log) and never processed. If the bound version is
gone before validation has read it, the job ends FAILED `overwritten` (deleted: `photo_missing`).

Every step is safe to repeat: the record is created only if absent, the derived input and the Batch task
have deterministic names (the Batch job from the job's own receipt day alone, whatever the model, so a
redelivery after midnight finds the same task; the model goes in the task's environment, and is recorded on
the job with its bytes before the content claim and the task, so a pass on an instance whose routing differs,
or after routing changed, submits the same one), and `TaskExists` counts as success. A transient failure
(storage, Batch) raises, so the host retries the delivery; the job stays RECEIVED until submission succeeds,
and the reconciler re-drives it if every delivery is lost. Such a pass that finds the bytes recorded and the
derived input stored downloads and validates nothing again: it claims and submits as recorded. A Batch job that
takes no more tasks (its day closed while the photo waited) fails the job `batch_refused` at once: no delivery
could change that.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from typing import Any

from opentelemetry.trace import SpanKind

from batch_tasks import telemetry
from shared import metrics
from shared.errors import Conflict, NotFound, PermanentError, SitelensError
from shared.jobs import ids, not_kept, photo_verdict, reuse, routing
from shared.jobs.finisher import Finisher
from shared.jobs.models import Job, JobState, new_task_token
from shared.jobs.photo_verdict import PhotoUnreadable
from shared.jobs.ports import BlobInfo, JobStore, PhotoStore, PoolWaker, Routing, TaskRequest, TaskSubmitter
from shared.validation import Accepted, Limits, QualityPolicy, Reason, parse_name

log = logging.getLogger(__name__)
# The site and device of a job whose blob name the upload API never issued (a blob written with the account key):
# it ends REJECTED `invalid_name`. An id starts with a letter or digit (shared/uploads/naming.py), so no real
# site can be `_unknown` and receive these jobs in its listing, summary or site webhooks; `unknown` could be.
# The status API lists it by this exact value (shared/jobs/api.py).
UNKNOWN = "_unknown"
MAX_RACES = 3  # concurrent deliveries of one blob: the loser re-reads the job and carries on from there
NOT_KEPT_NOTE = not_kept.NOTES[Reason.TOO_LARGE.value]  # how a `too_large` job's detail ends


class Ingestion:
    def __init__(
        self,
        *,
        store: JobStore,
        photos: PhotoStore,
        submitter: TaskSubmitter,
        routes: Routing,
        finisher: Finisher,
        clock: Callable[[], datetime],
        limits: Limits,
        policies: Callable[[str], QualityPolicy],
        default_model: str,
        waker: PoolWaker | None = None,
        results_kept: timedelta | None = None,
    ) -> None:
        self.store, self.photos, self.submitter, self.routes = store, photos, submitter, routes
        self.finisher, self.clock, self.limits, self.policies = finisher, clock, limits, policies
        self.default_model, self.waker = default_model, waker
        self.results_kept = results_kept  # None: results are never deleted (no lifecycle rule)

    def ingest(self, blob_name: str) -> Job | None:
        """Process one blob-created delivery; returns the job, or None when the blob is already gone."""
        try:
            info = self.photos.photo_info(blob_name)
        except NotFound:
            log.info("photo %s is gone before ingestion (moved or deleted); nothing to do", blob_name)
            return None
        # The photo's trace: the upload client's span when the blob carries a valid traceparent, else a new one.
        with telemetry.job_span("ingest", ids.job_id_for(blob_name), parent=info.traceparent,
                                kind=SpanKind.CONSUMER, attributes={"sitelens.blob": blob_name}) as span:  # fmt: skip
            job = self.process(self._bind(blob_name, info), info)
            span.set_attributes({"sitelens.site": job.site, "sitelens.device": job.device,
                                 "sitelens.state": job.state.value})  # fmt: skip
            return job

    def _bind(self, blob_name: str, info: BlobInfo, retry_of: Job | None = None) -> Job:
        """The name's job (or this retry's), bound to the version read now if it is new; else a later write."""
        job = self._record(blob_name, info, retry_of)
        if not ids.same_version(job.blob_etag, info.etag):
            job = self._note_later_write(job, info.etag)
            if not_kept.refusal(info) is not None:  # a later write no lifecycle rule would ever delete
                not_kept.sweep(self.photos, blob_name)
        return job

    def _record(self, blob_name: str, info: BlobInfo, retry_of: Job | None = None) -> Job:
        """The job for this name (or this retry), created if absent: from here the photo is accepted."""
        job_id = ids.job_id_for(blob_name, retry_of.id if retry_of else None)
        with contextlib.suppress(NotFound):
            job = self.store.get(job_id)
            if not job.terminal:
                # An earlier delivery may have died between the job's row and its index entries, and only a
                # delivery can mend that: the reconciler finds jobs through the `open` index. A create of an
                # existing job re-ensures them.
                self.store.create(job)
            return job
        name = parse_name(blob_name)
        site, device, photo = (name.site, name.device, name.photo_id) if name else (UNKNOWN, UNKNOWN, blob_name[-64:])
        job = Job(job_id, site, device, photo, blob_name, info.etag, self.clock(), task_token=new_task_token(),
                  retry_of=retry_of.id if retry_of else None, traceparent=telemetry.current_traceparent())  # fmt: skip
        created = self.store.create(job)
        if created is None:
            return self.store.get(job_id)
        metrics.photo_received(site)
        return created

    def _note_later_write(self, job: Job, etag: str) -> Job:
        """Record a version written under the name after the job's own: counted once, never processed."""
        for _ in range(MAX_RACES):
            if ids.same_version(job.later_etag, etag):
                return job  # an earlier delivery recorded this version
            log.warning("photo %s was written again (version %s) after job %s took version %s; the later "
                        "version is recorded, not processed", job.blob_name, etag, job.id, job.blob_etag)  # fmt: skip
            try:
                return self.store.update(replace(job, later_writes=job.later_writes + 1, later_etag=etag))
            except Conflict:
                job = self.store.get(job.id)
        return job  # bookkeeping only: the next delivery of this version records it

    def retry(self, original: Job) -> Job:
        """A FAILED job again, as a new job that points back at it (terminal states never change).

        The retry is bound to the version under the name now, which may be a later write: retrying is the
        explicit way to have a rewritten photo processed. Its id comes from the name and the failed job's, so
        asking again, even at the same moment, answers the same new job. A photo no longer stored (deleted,
        or expired by the lifecycle rule) cannot run again: refused `photo_missing`, or its earlier retry."""
        try:
            info = self.photos.photo_info(original.blob_name)
        except NotFound:
            with contextlib.suppress(NotFound):
                return self.store.get(ids.job_id_for(original.blob_name, original.id))
            raise PhotoUnreadable("the photo is no longer stored (deleted, or expired by the storage lifecycle "
                                  "rule), so this job cannot run again", reason="photo_missing") from None  # fmt: skip
        job = self._bind(original.blob_name, info, retry_of=original)
        self._point_forward(original, job.id)
        try:  # whether or not the pointer was written: the new job is what was asked for
            return self._process(job, info)
        except Conflict:  # another caller of this retry (no delivery names it) wrote the job: it carries it on,
            return self.store.get(job.id)  # and this one answers the job as it stands

    def _point_forward(self, original: Job, retry_id: str) -> None:
        """`retried_by` on the failed job. Only bookkeeping, so a write lost to a concurrent one (its event's
        publication, a later write counted, the same retry asked twice) re-reads and writes again."""
        for _ in range(MAX_RACES):
            if original.retried_by is not None:
                return  # a concurrent retry wrote it: the same id, derived as ours was
            try:
                self.store.update(replace(original, retried_by=retry_id))
                return
            except Conflict:
                original = self.store.get(original.id)
        log.warning("job %s was retried as %s but lost every write of retried_by; the next retry writes it",
                    original.id, retry_id)  # fmt: skip

    def process(self, job: Job, info: BlobInfo) -> Job:
        """Carry `job` as far as it goes now; a write lost to a concurrent delivery re-reads and goes on."""
        for _ in range(MAX_RACES):
            try:
                return self._process(job, info)
            except Conflict:
                log.info("job %s changed under this delivery; re-reading it", job.id)
                job = self.store.get(job.id)
        return self._process(job, info)

    def _process(self, job: Job, info: BlobInfo) -> Job:
        if job.terminal:
            if job.state is JobState.REJECTED:
                photo_verdict.put_aside(job, self.photos)  # a crash may have come between the verdict and the move
            return self.finisher.publish(job)
        if job.state is not JobState.RECEIVED:
            return job  # already submitted: a duplicate delivery
        try:
            if not ids.same_version(info.etag, job.blob_etag):
                raise PhotoUnreadable(photo_verdict.replaced(job), reason="overwritten")
            if (accepted := self._accepted_before(job)) is not None:
                return self._claim_and_submit(job, *accepted)
            verdict = photo_verdict.judge(job, info, self.photos, self.limits, self.policies)
        except PhotoUnreadable as exc:
            log.warning("job %s: %s (%s)", job.id, exc, exc.reason)
            return self.finisher.finish(job, JobState.FAILED, reason=exc.reason, detail=str(exc))
        if not isinstance(verdict, Accepted):
            with telemetry.job_span("reject", job.id, attributes={"sitelens.site": job.site}) as span:
                reason = str(verdict.reason)  # validation's Reason, or not_kept's code for the blob's type
                telemetry.fail(span, reason)
                note = not_kept.NOTES.get(reason, "")  # on the job before the delete: a crash between leaves it true
                job = self.finisher.finish(job, JobState.REJECTED, reason=reason, detail=verdict.detail + note)
                photo_verdict.put_aside(job, self.photos)
            return job
        derived, model = verdict.derived, None
        try:
            model = self.model_for(job)
        finally:  # the bytes with the model fixed with them (module docstring), or without it where routing cannot
            # answer now: they still say validation accepted the photo (shared/jobs/poisoned_photos.py asks). As the
            # store reads them back (JSON: flags a list): a delivery that lost a race re-reads them, and writes none.
            recorded = (derived.sha256_of_original, json.loads(json.dumps(asdict(derived.quality))), model)
            if (job.content_sha256, job.quality, job.model) != recorded:
                job = self.store.update(replace(job, content_sha256=recorded[0], quality=recorded[1], model=model))
        self.photos.put_derived(job.id, derived.jpeg)  # before the dedupe: a follower may yet have to run alone
        return self._claim_and_submit(job, derived.sha256_of_original, model)

    def _accepted_before(self, job: Job) -> tuple[str, str] | None:
        """The recorded (sha, model) once an earlier pass recorded this version's bytes (validation accepted them)
        and stored the derived input: a delivery after a failed submit (Batch or a partition throttling) downloads
        and validates nothing again, which only adds load. No derived input (a crash before its upload, the
        lifecycle rule): None, the full path."""
        if job.content_sha256 and job.quality and job.model and self.photos.derived_exists(job.id):
            return job.content_sha256, job.model
        return None

    def _claim_and_submit(self, job: Job, sha256: str, model: str) -> Job:
        content = ids.content_key(sha256, model)
        owner = self.store.claim_content(job.site, content, job.id)
        if owner != job.id and (cached := self.follow(job, owner, content)) is not None:
            return cached
        return self.submit(job, model)

    def model_for(self, job: Job) -> str:
        """The recorded model (a follower's is its owner's: the claim is per model); else (new, routing could not
        answer for it, or an earlier release recorded it) routing's stable choice for its id among its site's routes."""
        return job.model or routing.choose(job.id, self.routes.weights(job.site), self.default_model)

    def submit(self, job: Job, model: str | None = None) -> Job:
        """Submit the Batch task (an existing task counts), and record QUEUED with where it went; or FAILED
        `batch_refused` when the job's Batch job takes no more tasks, which no later delivery could change."""
        model = model or self.model_for(job)
        batch_job = ids.batch_job_id(job.received_at.date())
        if job.task_token is None:  # recorded without one (an earlier release): on the job before any task has it
            job = self.store.update(replace(job, task_token=new_task_token()))
        # Inside a job's span (ingest, the reconciler's re-drive) under it; else in the photo's trace.
        parent = telemetry.CURRENT if telemetry.in_job_span() else job.traceparent
        try:
            with telemetry.job_span("submit", job.id, parent=parent, kind=SpanKind.PRODUCER,
                                    attributes={"sitelens.model": model, "sitelens.batch_job": batch_job}):  # fmt: skip
                request = TaskRequest(job.id, batch_job, model, self.photos.derived_url(job.id),
                                      telemetry.current_traceparent(), job.task_token)  # fmt: skip
                self.send(request)
        except PermanentError as exc:
            if exc.reason != "batch_refused":
                raise
            log.warning("job %s: %s (%s)", job.id, exc, exc.reason)
            return self.finisher.finish(job, JobState.FAILED, reason=exc.reason, detail=str(exc))
        self._wake_pool()
        fields: dict[str, Any] = {"model": model, "batch_job_id": batch_job, "cached_from": None}
        if job.state is JobState.RECEIVED:
            return self.store.update(job.advance(JobState.QUEUED, self.clock(), **fields))
        return self.store.update(replace(job, **fields))

    def send(self, request: TaskRequest) -> None:
        """Every task goes to Batch here, the reconciler's too: one Batch created is counted, one already there not."""
        if self.submitter.submit(request):
            metrics.task_submitted(request.model)

    def follow(self, job: Job, owner_id: str, content: str) -> Job | None:
        """Reuse the owner's result (same bytes, site and model), or None when this job must run (`reuse`)."""
        return reuse.follow(job, owner_id, content, store=self.store, finisher=self.finisher, clock=self.clock,
                            results_kept=self.results_kept)  # fmt: skip

    def _wake_pool(self) -> None:
        """The task is in: a pool at zero is asked to come now. Only an optimisation, so it never fails the job."""
        try:
            if self.waker is not None:
                self.waker.wake()
        except SitelensError as exc:
            log.warning("could not bring the pool's evaluation forward (%s); its schedule will scale it", exc)
