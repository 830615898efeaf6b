"""In-memory stand-ins for the pipeline's ports, for pure unit tests of the job logic.

The adapters themselves are tested against Azurite and the local Batch service (tests/integration/jobs);
these fakes keep the same contracts (create-if-absent, ETag-conditional updates, TaskExists = submitted).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.errors import Conflict, NotFound, SitelensError, TransientError
from shared.jobs import feedback as rules
from shared.jobs.models import Job, JobState
from shared.jobs.ports import BlobInfo, TaskRequest, TaskState, TaskView


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def table_etag(version: int) -> str:
    """A row's ETag as Table storage writes it, weak, its quotes part of the value (`W/"datetime'...'"`), here
    the `version`-th write's: a plain `"1"` would hide code that copies it into a header unparsed."""
    return f"W/\"datetime'2026-11-22T08%3A00%3A00.{version:07d}Z'\""


def write_number(etag: str | None) -> int:
    """Which write of its row `table_etag` stamped."""
    return int((etag or "").split(".")[1][:7])


class MemoryJobStore:
    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.open: list[str] = []
        self.cursor: str | None = None  # the reconciler's, kept with the jobs as the Table store keeps it
        self.claims: dict[tuple[str, str], str] = {}
        self.follow: dict[tuple[str, str], list[str]] = {}
        self.feedback: list[tuple[str, dict[str, Any]]] = []
        self._versions = itertools.count(1)

    def _stamp(self, job: Job) -> Job:
        """The job with its new ETag, kept as TableJobStore keeps it: `quality` and `summary` as JSON, so what is
        read back has lists where the job written had tuples, and a comparison with it is the real one."""
        stamped = replace(job, etag=table_etag(next(self._versions)))
        as_json = {name: json.loads(json.dumps(getattr(job, name), sort_keys=True)) for name in ("quality", "summary")}
        self.jobs[job.id] = replace(stamped, **as_json)
        return stamped

    def create(self, job: Job) -> Job | None:
        """As TableJobStore.create: a duplicate re-ensures the open entry from the job stored, not the one given."""
        stored = self.jobs.get(job.id, job)
        if not (stored.terminal and stored.event_published) and job.id not in self.open:
            self.open.append(job.id)
        if job.id in self.jobs:
            return None
        self._stamp(job)
        return self.jobs[job.id]  # read back after the insert, as TableJobStore answers it

    def get(self, job_id: str) -> Job:
        if job_id not in self.jobs:
            raise NotFound(job_id)
        return self.jobs[job_id]

    def update(self, job: Job) -> Job:
        if self.get(job.id).etag != job.etag:
            raise Conflict(f"{job.id} changed")
        return self._stamp(job)

    def list_site(self, site, *, state, since, limit, token):
        found = [j for j in self.jobs.values() if j.site == site and (state is None or j.state is state)
                 and (since is None or j.received_at >= since)]  # fmt: skip
        return found[:limit], None

    def site_ids(self, site: str, *, since: datetime, until: datetime, limit: int) -> tuple[list[str], bool]:
        # The site index's order: by time received, then id.
        found = sorted(
            (j.received_at, j.id) for j in self.jobs.values() if j.site == site and since <= j.received_at < until
        )
        return [job_id for _, job_id in found[:limit]], len(found) > limit

    def open_ids(self, after: str | None = None) -> list[str]:
        return list(self.iter_open_ids(after))

    def iter_open_ids(self, after: str | None = None, *, through: str | None = None) -> Iterator[str]:
        for job_id in sorted(self.open):  # the RowKey order; a copy, so a walk may close jobs as it goes
            if (after is None or job_id > after) and (through is None or job_id <= through):
                yield job_id

    def reconcile_cursor(self) -> str | None:
        return self.cursor

    def set_reconcile_cursor(self, job_id: str | None) -> None:
        self.cursor = job_id

    def close(self, job_id: str) -> None:
        if job_id in self.open:
            self.open.remove(job_id)

    def claim_content(self, site: str, content: str, job_id: str) -> str:
        return self.claims.setdefault((site, content), job_id)

    def take_over_content(self, site: str, content: str, old_owner: str, new_owner: str) -> str:
        self.claims.setdefault((site, content), new_owner)  # a claim released meanwhile is claimed afresh
        if self.claims[(site, content)] == old_owner:
            self.claims[(site, content)] = new_owner
        return self.claims[(site, content)]

    def add_follower(self, site: str, content: str, job_id: str) -> None:
        followers = self.follow.setdefault((site, content), [])
        if job_id not in followers:
            followers.append(job_id)

    def followers(self, site: str, content: str) -> list[str]:
        return list(self.follow.get((site, content), []))

    def add_feedback(self, job_id: str, feedback: dict[str, Any], at: datetime) -> str:
        """Kept once per id, at most MAX_PER_JOB per job, as the Table store keeps it."""
        self.get(job_id)
        kept = [rules.feedback_id(members) for job, members in self.feedback if job == job_id]
        if rules.feedback_id(feedback) in kept:
            return rules.feedback_id(feedback)
        if len(kept) >= rules.MAX_PER_JOB:
            raise rules.limit_reached(job_id)
        self.feedback.append((job_id, feedback))
        return rules.feedback_id(feedback)

    def same_content(self, site: str, sha256: str) -> list[str]:
        return sorted(job.id for job in self.jobs.values() if job.site == site and job.content_sha256 == sha256)

    def erase_content(self, site: str, sha256: str) -> int:
        """The claims of every model on these bytes (a content key starts with the bytes' SHA-256)."""
        keys = [key for key in {*self.claims, *self.follow} if key[0] == site and key[1].split("~")[0] == sha256]
        rows = sum((key in self.claims) + len(self.follow.get(key, [])) for key in keys)
        for key in keys:
            self.claims.pop(key, None)
            self.follow.pop(key, None)
        return rows

    def erase_feedback(self, job_id: str) -> int:
        kept = [entry for entry in self.feedback if entry[0] != job_id]
        erased, self.feedback = len(self.feedback) - len(kept), kept
        return erased

    def erase_job(self, job: Job, *, entry_last: bool = False) -> None:
        self.close(job.id)
        self.jobs.pop(job.id, None)


@dataclass
class MemoryPhotos:
    photos: dict[str, bytes] = field(default_factory=dict)
    etags: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)  # storage's blob type (BlockBlob, PageBlob, AppendBlob)
    derived: dict[str, bytes] = field(default_factory=dict)
    quarantined: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    discarded: list[str] = field(default_factory=list)  # deleted, no copy kept (refused for their size or type)
    results: dict[str, bytes] = field(default_factory=dict)
    reads: int = 0

    def add(self, name: str, data: bytes, etag: str = '"0x1"', blob_type: str = "BlockBlob") -> None:
        self.photos[name], self.etags[name], self.types[name] = data, etag, blob_type

    def photo_info(self, blob_name: str) -> BlobInfo:
        if blob_name not in self.photos:
            raise NotFound(blob_name)
        blob_type = self.types.get(blob_name, "BlockBlob")
        return BlobInfo(len(self.photos[blob_name]), self.etags[blob_name], blob_type=blob_type)

    def read_photo(self, blob_name: str, etag: str, max_bytes: int) -> bytes:
        self.reads += 1
        if blob_name not in self.photos:
            raise NotFound(blob_name)
        if self.etags[blob_name].strip('"') != etag.strip('"'):  # the If-Match of the real adapter
            raise Conflict(f"{blob_name} is no longer {etag}", reason="overwritten")
        return self.photos[blob_name][:max_bytes]

    def put_derived(self, job_id: str, jpeg: bytes) -> None:
        self.derived[job_id] = jpeg

    def derived_exists(self, job_id: str) -> bool:
        return job_id in self.derived

    def derived_url(self, job_id: str) -> str:
        return f"memory://derived/{job_id}/input.jpg"

    def quarantine(self, blob_name: str, etag: str, reason: str, detail: str) -> None:
        if blob_name not in self.photos or self.etags[blob_name].strip('"') != etag.strip('"'):
            raise NotFound(blob_name)
        self.quarantined[blob_name] = (self.photos.pop(blob_name), reason)

    def discard(self, blob_name: str, etag: str) -> None:
        if blob_name not in self.photos or self.etags[blob_name].strip('"') != etag.strip('"'):
            raise NotFound(blob_name)
        self.discarded.append(blob_name)
        del self.photos[blob_name]

    def read_result(self, path: str) -> bytes:
        if path not in self.results:
            raise NotFound(path)
        return self.results[path]

    def result_exists(self, path: str) -> bool:
        return path in self.results

    def read_link(self, container: str, path: str, ttl: timedelta) -> str:
        return f"memory://{container}/{path}?ttl={int(ttl.total_seconds())}"

    def erase_photo(self, blob_name: str) -> int:
        return (self.photos.pop(blob_name, None) is not None) + (self.quarantined.pop(blob_name, None) is not None)

    def erase_job_blobs(self, job_id: str) -> int:
        results = [path for path in self.results if path.startswith(f"{job_id}/")]
        for path in results:
            del self.results[path]
        return len(results) + (self.derived.pop(job_id, None) is not None)


@dataclass
class MemoryBatch:
    tasks: dict[str, TaskRequest] = field(default_factory=dict)
    views: dict[str, TaskView] = field(default_factory=dict)
    submissions: int = 0
    created: set[tuple[str, str]] = field(default_factory=set)  # (Batch job, task id): Batch's uniqueness
    down: bool = False
    finished_before: list[date] = field(default_factory=list)
    asked: int = 0  # views asked for
    refusal: SitelensError | None = None  # what every submission is answered with instead of a task
    attempts: int = 0  # submissions asked for, refused ones included
    cancelled: list[tuple[str, str]] = field(default_factory=list)  # (Batch job, task id) of each cancel

    def submit(self, request: TaskRequest) -> bool:
        """BatchTaskSubmitter's answers: True when the task is created, False when one under its id in the same
        Batch job stands for it (TaskExists counts as submitted). A task of an erased job (another secret) is
        replaced; the job's own task running another model is a Conflict, since one Batch job a day holds every
        model's tasks."""
        self.attempts += 1
        if self.down:
            raise TransientError("Batch unreachable")
        if self.refusal is not None:
            raise self.refusal
        existing = self.tasks.get(request.job_id)
        if existing is not None and existing.batch_job_id == request.batch_job_id:
            stale = bool(request.task_token and existing.task_token and existing.task_token != request.task_token)
            if not stale:
                if request.task_token and existing.model != request.model:
                    raise Conflict(f"task {request.job_id} in Batch job {request.batch_job_id} runs model "
                                   f"{existing.model}, not {request.model}")  # fmt: skip
                self.submissions += 1
                return False
            self.views.pop(request.job_id, None)  # the erased job's task goes, and its state with it
        self.submissions += 1
        self.created.add((request.batch_job_id, request.job_id))
        self.tasks[request.job_id] = request
        return True

    def view(self, batch_job_id: str, task_id: str) -> TaskView:
        self.asked += 1
        if task_id not in self.tasks:
            return TaskView(TaskState.MISSING)
        return self.views.get(task_id, TaskView(TaskState.ACTIVE))

    def cancel(self, batch_job_id: str, task_id: str) -> None:
        if self.down:
            raise TransientError("Batch unreachable")
        self.cancelled.append((batch_job_id, task_id))
        waiting = self.views.get(task_id, TaskView(TaskState.ACTIVE)).state is not TaskState.COMPLETED
        if task_id in self.tasks and waiting:  # ended as Batch ends a terminated task
            self.views[task_id] = TaskView(TaskState.COMPLETED, failure_code="TaskEnded")

    def finish_jobs_before(self, day: date, idle_before: date | None = None) -> int:
        self.finished_before.append(day)
        return 0

    deleted_before: list[date] = field(default_factory=list)  # a field too: the days delete_jobs_before was given

    def delete_jobs_before(self, day: date) -> int:
        self.deleted_before.append(day)
        return 0


@dataclass
class MemoryOutbox:
    """One subscription, `all`: each event recorded has one delivery, queued by `notify`; `record` returns it until
    it was queued (standing in for its first attempt, which the real one waits for)."""

    events: dict[str, tuple[Job, dict[str, Any]]] = field(default_factory=dict)
    calls: int = 0
    queued: list[tuple[str, str]] = field(default_factory=list)

    def record(self, event_id: str, job: Job, document: dict[str, Any]) -> list[tuple[str, str]]:
        self.calls += 1
        self.events.setdefault(event_id, (job, document))
        return [] if (event_id, "all") in self.queued else [(event_id, "all")]

    def notify(self, created: list[tuple[str, str]]) -> None:
        self.queued.extend(created)

    def states(self) -> list[JobState]:
        return [job.state for job, _ in self.events.values()]


class NoRoutes:
    def weights(self, site: str | None = None) -> list[tuple[str, int]]:
        return []


@dataclass
class FixedRoutes:
    """Routing: the same weighted routes for every site."""

    routes: list[tuple[str, int]]

    def weights(self, site: str | None = None) -> list[tuple[str, int]]:
        return list(self.routes)


class RecordingWaker:
    """PoolWaker: counts wakes, and remembers how many tasks were submitted when each came; may fail."""

    def __init__(self, batch: MemoryBatch, fail_with: Exception | None = None) -> None:
        self.batch, self.fail_with = batch, fail_with
        self.tasks_at_wake: list[int] = []

    def wake(self) -> None:
        self.tasks_at_wake.append(len(self.batch.tasks))
        if self.fail_with is not None:
            raise self.fail_with
