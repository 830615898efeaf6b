"""Erasing one photo's image: every job of its site that holds the same bytes, and all sitelens keeps of them.

Identical bytes share one result (shared/jobs/reuse.py), so the image is held by more jobs than the one asked
about: the owner it followed (`cached_from`), every job of the site whose photo has the same SHA-256 (a job that
followed an owner already done is never listed in the claim, so the jobs themselves are read), and the retries
of the photo (`retry_of` / `retried_by`), which share its name. `plan` collects them from the job asked about,
following each link from every job found; `erase` deletes, for each one:

- the original under `photos/` with its snapshots and its copy under `quarantine/`;
- its folders in `derived/` and `results/` (task input, result, overlay);
- its webhook events, with their deliveries and index rows;
- its feedback, and the upload reservation that named its photo;
- the content claims of its bytes (owner and follower rows, every model's);
- last its own rows: the indexes, then the job. So an erasure that dies half way leaves the jobs it has not
  finished findable from the one asked about, and running it again finishes the work. Jobs go in the reverse of
  the order they were found in, the one asked about last: each stays reachable through the job it was found
  from until it is gone itself. A row or blob already gone is no error.

Refused (Conflict), with nothing deleted, while any of the jobs is not terminal with its event published: the reconciler
drives such a job on, and would write again what was just erased.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass

from shared.errors import Conflict, NotFound
from shared.jobs import ids
from shared.jobs.models import TERMINAL, Job
from shared.jobs.ports import JobStore, PhotoStore
from shared.uploads.ports import ReservationStore
from shared.webhooks.ports import EventErasure

# The kinds `erase` counts, in the order a summary lists them.
PHOTOS, JOB_BLOBS, WEBHOOK_ROWS = "photos (original and quarantine copy)", "task inputs, results, overlays", \
    "webhook events and deliveries"  # fmt: skip
FEEDBACK, RESERVATIONS, CLAIMS, JOBS = "feedback entries", "upload reservations", "content claim rows", "jobs"
KINDS = (JOBS, PHOTOS, JOB_BLOBS, WEBHOOK_ROWS, FEEDBACK, RESERVATIONS, CLAIMS)


@dataclass(frozen=True)
class Plan:
    """The jobs that hold the photo's image, in the order they were found: the one asked about first."""

    job_id: str
    jobs: tuple[Job, ...]

    @property
    def unsettled(self) -> tuple[Job, ...]:
        """Jobs the pipeline still works on: not terminal, or with their event not yet published."""
        return tuple(job for job in self.jobs if not (job.terminal and job.event_published))


def event_ids(job: Job) -> list[str]:
    """Every id an event of the job can have: one per terminal state, and the one it recorded."""
    found = [ids.event_id(job.id, state.value) for state in sorted(TERMINAL)]
    return [*found, job.event_id] if job.event_id and job.event_id not in found else found


def erase_records(job: Job, store: JobStore, events: EventErasure, reservations: ReservationStore) -> Counter[str]:
    """The rows kept about `job` beside its own and its claims': its webhook events with their deliveries, its
    feedback and the upload reservation that named its photo (record expiry deletes these too); counts by kind."""
    erased: Counter[str] = Counter()
    erased[WEBHOOK_ROWS] += sum(events.erase_event(event) for event in event_ids(job))
    erased[FEEDBACK] += store.erase_feedback(job.id)
    erased[RESERVATIONS] += int(reservations.release(job.site, job.device, job.photo_id, job.blob_name))
    return erased


class Erasure:
    def __init__(
        self, store: JobStore, photos: PhotoStore, events: EventErasure, reservations: ReservationStore
    ) -> None:
        self.store, self.photos, self.events, self.reservations = store, photos, events, reservations

    def plan(self, job_id: str) -> Plan:
        """The jobs that hold the image of `job_id`'s photo (NotFound when there is no such job)."""
        found = {job_id: self.store.get(job_id)}
        searched: set[tuple[str, str]] = set()
        waiting = [found[job_id]]
        while waiting:
            job = waiting.pop(0)  # breadth first: `found` keeps the order, each job after the one it came from
            for linked in self._linked(job, searched):
                if linked not in found:
                    with contextlib.suppress(NotFound):  # a link to a job erased before
                        found[linked] = self.store.get(linked)
                        waiting.append(found[linked])
        return Plan(job_id, tuple(found.values()))

    def _linked(self, job: Job, searched: set[tuple[str, str]]) -> list[str]:
        linked = [link for link in (job.cached_from, job.retry_of, job.retried_by) if link]
        content = (job.site, job.content_sha256 or "")
        if job.content_sha256 and content not in searched:  # one search per bytes: it reads every job row
            searched.add(content)
            linked += self.store.same_content(*content)
        return linked

    def erase(self, plan: Plan) -> Counter[str]:
        """Delete everything the plan's jobs hold (see the module's doc for the order); counts by kind."""
        if plan.unsettled:
            raise Conflict(f"job(s) {', '.join(j.id for j in plan.unsettled)} not finished with their event "
                              "published: the pipeline still works on them; erase once they are")  # fmt: skip
        erased: Counter[str] = Counter()
        for job in plan.jobs:
            erased[PHOTOS] += self.photos.erase_photo(job.blob_name)
            erased[JOB_BLOBS] += self.photos.erase_job_blobs(job.id)
            erased += erase_records(job, self.store, self.events, self.reservations)
        contents = {(job.site, job.content_sha256) for job in plan.jobs if job.content_sha256 is not None}
        for site, sha256 in sorted(contents):
            erased[CLAIMS] += self.store.erase_content(site, sha256)
        for job in reversed(plan.jobs):
            self.store.erase_job(job)
            erased[JOBS] += 1
        return erased
