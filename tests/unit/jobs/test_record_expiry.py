"""Record expiry (shared/jobs/record_expiry.py) over the in-memory ports: one job's storage error is counted and
leaves the others to expire, a job not finished with its event published is kept, a run whose calls stall starts no
job once its budget is spent, and the setting that says how long records are kept is refused when it would not
outlive the results."""

from __future__ import annotations

from collections.abc import Iterator, Set
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from shared.config import ConfigError, Settings
from shared.errors import NotFound, TransientError
from shared.jobs.models import Job, JobState
from shared.jobs.ports import IndexEntry
from shared.jobs.record_expiry import RUN_BUDGET, Expiry, RecordExpiry
from tests.unit.jobs.fakes import MemoryJobStore
from tests.unit.jobs.test_erasure import T0, Parts

KEEP = timedelta(days=30)


class ListedIndex:
    """The site index as a list of the jobs' entries, each gone once its job was erased or it was dropped; what
    was dropped and released."""

    def __init__(self, jobs: list[Job], store: MemoryJobStore) -> None:
        self.entries = [IndexEntry(job.site, job.id, f"{job.received_at.isoformat()}~{job.id}") for job in jobs]
        self.store, self.erased = store, set(store.jobs)  # a job missing from the start: its entry stays
        self.dropped: list[str] = []
        self.released: list[tuple[str, str, str]] = []

    def received_before(self, before: datetime, per_site: int, passed: Set[str]) -> Iterator[IndexEntry]:
        kept = [e for e in self.entries if e.job_id not in self.dropped and e.job_id not in passed and
                (e.job_id in self.store.jobs or e.job_id not in self.erased)]  # fmt: skip
        by_site: dict[str, list[IndexEntry]] = {}
        for entry in kept:
            by_site.setdefault(entry.site, []).append(entry)
        return iter([entry for entries in by_site.values() for entry in entries[:per_site]])

    def drop(self, entry: IndexEntry) -> None:
        self.dropped.append(entry.job_id)

    def release_content(self, site: str, sha256: str, job_id: str) -> int:
        self.released.append((site, sha256, job_id))
        return 1


def feedback_of(parts: Parts, job_id: str) -> list[str]:
    return [job for job, _ in parts.store.feedback if job == job_id]


def expiry(parts: Parts, index: ListedIndex, **options: object) -> RecordExpiry:
    return RecordExpiry(store=parts.store, index=index, events=parts.hooks, reservations=parts.reservations,
                        clock=lambda: T0 + KEEP + timedelta(days=1), keep=KEEP, **options)  # type: ignore[arg-type]  # fmt: skip


def test_a_storage_error_on_one_job_is_counted_and_the_others_still_expire(monkeypatch):
    parts = Parts()
    jobs = [parts.job(f"IMG_{n}") for n in range(3)]
    real_get = parts.store.get

    def get(job_id: str) -> Job:
        if job_id == jobs[1].id:
            raise TransientError("the table did not answer")
        return real_get(job_id)

    monkeypatch.setattr(parts.store, "get", get)
    index = ListedIndex(jobs, parts.store)

    assert expiry(parts, index).run() == Expiry(expired=2, errors=1)
    assert jobs[1].id in parts.store.jobs and feedback_of(parts, jobs[1].id)
    for job in (jobs[0], jobs[2]):
        assert job.id not in parts.store.jobs and not feedback_of(parts, job.id)
    assert [released[2] for released in index.released] == [jobs[0].id, jobs[2].id]


def test_a_run_whose_calls_stall_starts_no_job_once_its_budget_is_spent(monkeypatch):
    """Each job's first read takes 100 s of the run's clock (a call that waited out its bounds): one worker starts
    the chunk's first three jobs inside the 4-minute budget, and the fourth, in the same chunk, not at all."""
    parts = Parts()
    jobs = [parts.job(f"IMG_{n}") for n in range(6)]
    index = ListedIndex(jobs, parts.store)
    now = [0.0]
    real_get = parts.store.get

    def slow_get(job_id: str) -> Job:
        now[0] += 100.0
        return real_get(job_id)

    monkeypatch.setattr(parts.store, "get", slow_get)
    assert expiry(parts, index, workers=1, elapsed=lambda: now[0]).run() == Expiry(expired=3, stopped_at_budget=True)
    assert now[0] == 300.0 and RUN_BUDGET.total_seconds() < now[0]  # the last job started at 200 s
    assert [job.id in parts.store.jobs for job in jobs] == [False] * 3 + [True] * 3
    assert all(feedback_of(parts, job.id) for job in jobs[3:])  # not started: every row left for the next run

    assert expiry(parts, index).run() == Expiry(expired=3)  # the next run, on the real clock
    assert not any(job.id in parts.store.jobs for job in jobs)


def test_a_job_not_finished_with_its_event_published_keeps_everything():
    parts = Parts()
    running = parts.job("IMG_1", state=JobState.QUEUED)
    unpublished = parts.store._stamp(replace(parts.job("IMG_2"), event_published=False))
    gone = parts.job("IMG_3")
    del parts.store.jobs[gone.id]
    index = ListedIndex([running, unpublished, gone], parts.store)

    assert expiry(parts, index).run() == Expiry(unsettled=2, gone=1)
    assert parts.store.get(running.id).state is JobState.QUEUED and parts.store.get(unpublished.id)
    assert index.dropped == [gone.id] and index.released == []
    with pytest.raises(NotFound):
        parts.store.get(gone.id)


@pytest.mark.parametrize(("records", "results"), [("89", "90"), ("30", "90"), ("14", None)])
def test_records_kept_less_long_than_results_are_refused(records: str, results: str | None):
    env = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "SITELENS_RECORDS_RETENTION_DAYS": records}
    env |= {"SITELENS_RESULTS_RETENTION_DAYS": results} if results else {}  # absent: results are kept 90 days
    with pytest.raises(ConfigError, match=r"SITELENS_RECORDS_RETENTION_DAYS .* must be at least"):
        Settings.from_env(env)


def test_records_are_kept_a_year_by_default_or_as_long_as_results_and_as_set():
    base = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    assert Settings.from_env(base).records_kept == timedelta(days=365)
    assert Settings.from_env(base | {"SITELENS_RECORDS_RETENTION_DAYS": "90"}).records_kept == timedelta(days=90)
    # A deployment that keeps results longer than a year and never set records is not refused by the upgrade.
    longer = base | {"SITELENS_RESULTS_RETENTION_DAYS": "400"}
    assert Settings.from_env(longer).records_kept == timedelta(days=400)
    with pytest.raises(ConfigError, match="SITELENS_RECORDS_RETENTION_DAYS must be a whole number") as refused:
        Settings.from_env(base | {"SITELENS_RECORDS_RETENTION_DAYS": "a year"})
    assert "must be at least" not in str(refused.value)  # one problem named, not a second one about the default


@pytest.mark.parametrize(
    ("extra", "allowed"),
    [({"SITELENS_RECORDS_RETENTION_DAYS": "4", "SITELENS_RESULTS_RETENTION_DAYS": "1"}, False),  # 1 d + 75 h of retries
     ({"SITELENS_RECORDS_RETENTION_DAYS": "5", "SITELENS_RESULTS_RETENTION_DAYS": "1"}, True),
     ({"SITELENS_RECORDS_RETENTION_DAYS": "30", "SITELENS_RESULTS_RETENTION_DAYS": "14",
       "SITELENS_WEBHOOK_RETRY_SCALE": "10"}, False),  # retries over 31 days
     ({"SITELENS_RECORDS_RETENTION_DAYS": "10", "SITELENS_RESULTS_RETENTION_DAYS": "1",
       "SITELENS_GIVE_UP_AFTER_S": str(7 * 86_400)}, False)],
)  # fmt: skip
def test_records_must_outlive_the_work_a_job_can_still_have(extra: dict[str, str], allowed: bool):
    """Expiry deletes a job's deliveries with it: never while the job may be open or its webhooks still retried."""
    env = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", **extra}
    if allowed:
        assert Settings.from_env(env).records_kept == timedelta(days=int(extra["SITELENS_RECORDS_RETENTION_DAYS"]))
    else:
        with pytest.raises(ConfigError, match="must be more than a job can still be worked on"):
            Settings.from_env(env)
