"""A job's index entries written again before the reconciler moves it on (shared/jobs/reconciler.py), once per job
in a process.

A process that died between a job's row and its index entries left them out, and no blob delivery writes them for a
retry (it has none), nor for a job that has ended (a late delivery writes nothing then): without its site entry a job
is never listed, and record expiry, which finds jobs through that entry, never deletes its rows. So the reconciler
makes sure of them before it re-drives a RECEIVED job or gives one up, by a create of the existing job, which writes
what is missing. That create costs four table requests (the job's insert, answered 409; a read; the two entries'
inserts, 409 when they exist): paid before every re-drive, a Batch outage, in which every RECEIVED job fails its
re-drive on every sweep, made each sweep's re-drives some 65% dearer and logged three failed requests for each.
Once written the entries stay until the job's rows are erased, so a job done once is not done again in the process.
What a process did is noted in its memory only: a new instance makes sure of each job once more.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.jobs.models import Job
from shared.jobs.ports import JobStore


class IndexRepair:
    def __init__(self, store: JobStore, keep: timedelta) -> None:
        """`keep`: how long after its receipt a job's note is kept; past it the job is terminal (given up at the
        latest), and the note goes, so the notes stay as few as the jobs re-driven within that time."""
        self.store, self.keep = store, keep
        self._done_until: dict[str, datetime] = {}  # job id -> when its note goes

    def ensure(self, job: Job) -> None:
        """`job`'s index entries written, unless this process wrote them already."""
        if job.id in self._done_until:
            return
        self.store.create(job)  # a create of an existing job re-ensures them
        self._done_until[job.id] = job.received_at + self.keep  # noted once written: a create that failed is redone

    def forget_before(self, now: datetime) -> None:
        """The notes whose time has come dropped, as the reconciler's own notes of waiting jobs are."""
        self._done_until = {job_id: until for job_id, until in self._done_until.items() if until > now}
