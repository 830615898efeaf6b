"""BatchTaskSubmitter.delete_jobs_before over a stand-in for the azure-batch client: which listed jobs it deletes,
in what order and how many a call, and which of Batch's refusals mean the job is already gone or going; and which
jobs finish_jobs_before terminates. The local Batch service deletes a job at once and never refuses, so these
answers are scripted here; the whole cycle against it is tests/integration/jobs/test_batch_day_cleanup.py."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date
from types import SimpleNamespace

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError

from shared.adapters.azure_batch_submitter import JOB_DELETES_PER_CALL, BatchTaskSubmitter, TaskSpec
from shared.errors import TransientError

DAY = date(2026, 11, 15)


def refusal(status: int, code: str) -> HttpResponseError:
    """Batch's answer as the SDK raises it: its status, and the service's code where `service_code` reads it."""
    error = HttpResponseError(message=code)
    error.status_code = status
    error.error_code = code  # type: ignore[attr-defined]  # where code_of also finds the storage SDK's codes
    return error


class StandInBatch:
    """The two client calls deletion makes: a listing of completed jobs, and a delete per job, which may refuse."""

    def __init__(self, job_ids: list[str], refusals: dict[str, Exception] | None = None) -> None:
        self.job_ids, self.refusals = job_ids, refusals or {}
        self.filters: list[str] = []
        self.asked: list[str] = []  # job ids a delete was sent for, refused ones included

    def list_jobs(self, *, filter: str, select: list[str]) -> Iterator[SimpleNamespace]:
        self.filters.append(filter)
        return iter([SimpleNamespace(id=job_id) for job_id in self.job_ids])

    def _delete_job_internal(self, job_id: str) -> None:
        self.asked.append(job_id)
        if job_id in self.refusals:
            raise self.refusals[job_id]


def submitter(batch: StandInBatch) -> BatchTaskSubmitter:
    return BatchTaskSubmitter(batch, TaskSpec(pool_id="gpu", command="true"))  # type: ignore[arg-type]


def test_only_sitelens_days_before_the_day_are_deleted_oldest_first():
    batch = StandInBatch([
        "sitelens-20261112",  # a day's job for every model
        "sitelens-ocr-ppocrv4-20261110",  # an earlier release's day of one model, still there after an upgrade
        "sitelens-ocr-ppocrv4-20261115",  # the day itself: kept
        "sitelens-20261115",
        "sitelens-cls-a-20261101",
        "sitelens-ocr-manual",  # not a day's job
        "nightly-export-20261101",  # another system's job in the same account
        "sitelens-ocr-ppocrv4-2026110",  # seven digits: no day
        "sitelens-2026110",
    ])  # fmt: skip
    assert submitter(batch).delete_jobs_before(DAY) == 3
    assert batch.asked == ["sitelens-cls-a-20261101", "sitelens-ocr-ppocrv4-20261110", "sitelens-20261112"]
    assert batch.filters == ["state eq 'completed'"]  # active or terminating days are never deleted


class StandInActiveBatch(StandInBatch):
    """The calls termination makes: a listing of active jobs, one of a job's tasks not completed, and a terminate
    per job."""

    def __init__(self, job_ids: list[str], tasks: dict[str, dict[str, int]] | None = None) -> None:
        super().__init__(job_ids)
        self.tasks = tasks or {}  # job id -> its task counts by state; none: no task
        self.counted: list[str] = []  # job ids whose task counts were asked for

    def list_tasks(self, job_id: str, *, filter: str, select: list[str], max_results: int) -> Iterator[SimpleNamespace]:
        assert (filter, select, max_results) == ("state ne 'completed'", ["id"], 1)  # exact, not the stale counts
        self.counted.append(job_id)
        counts = self.tasks.get(job_id, {})
        pending = sum(n for state, n in counts.items() if state != "completed")
        yield from [SimpleNamespace(id=f"t{i}") for i in range(pending)][:max_results]

    def _terminate_job_internal(self, job_id: str, options: object) -> None:
        self.asked.append(job_id)


def test_old_days_are_terminated_in_both_shapes_of_id_and_the_rest_left_active():
    """A day's Batch job serves every model; the per-model days an earlier release made are still in the account
    after an upgrade and must leave the quota of active jobs by the same rule."""
    batch = StandInActiveBatch([
        "sitelens-20261113", "sitelens-ocr-ppocrv4-20261113",  # before the day: terminated
        "sitelens-20261115", "sitelens-cls-a-20261115",  # the day itself: kept (the per-model one is busy)
        "sitelens-ocr-manual", "nightly-export-20261101",  # no day of sitelens'
    ], tasks={"sitelens-cls-a-20261115": {"active": 1}, "sitelens-ocr-ppocrv4-20261113": {"active": 1}})  # fmt: skip
    assert submitter(batch).finish_jobs_before(DAY) == 2
    assert sorted(batch.asked) == ["sitelens-20261113", "sitelens-ocr-ppocrv4-20261113"]
    assert batch.filters == ["state eq 'active'"]


def test_an_earlier_releases_per_model_jobs_before_today_are_terminated_once_nothing_waits_or_runs_in_them():
    """An account the per-model jobs filled to its quota of active jobs would refuse this release's day job, so
    every photo, until their day is old: an idle one of a day before today goes at once; one with a task waiting
    or running stays, since terminating it would end the running task and strand the waiting one; today's stay
    (an instance of the earlier release may still submit into them while the deployment rolls). Only those before
    today are counted: one call each, and none for this release's day jobs."""
    idle_today, done_yesterday = "sitelens-ocr-ppocrv4-20261117", "sitelens-cls-a-20261116"
    waiting, running = "sitelens-ocr-ppocrv4-20261116", "sitelens-det-v2-20261116"
    idle_yesterday = "sitelens-det-v2-20261115"
    batch = StandInActiveBatch(
        [idle_today, done_yesterday, waiting, running, idle_yesterday, "sitelens-20261116", "sitelens-20261117"],
        tasks={done_yesterday: {"completed": 40}, waiting: {"active": 1, "completed": 3}, running: {"running": 2}},
    )
    assert submitter(batch).finish_jobs_before(DAY, idle_before=date(2026, 11, 17)) == 2
    assert sorted(batch.asked) == [done_yesterday, idle_yesterday]
    assert sorted(batch.counted) == sorted([done_yesterday, waiting, running, idle_yesterday])


def test_a_call_deletes_at_most_its_bound_the_oldest_and_leaves_the_rest_for_the_next():
    days = [f"sitelens-ocr-ppocrv4-202610{d:02d}" for d in range(31, 0, -1)]
    days += [f"sitelens-ocr-ppocrv4-202609{d:02d}" for d in range(30, 0, -1)]
    batch = StandInBatch(days)
    assert submitter(batch).delete_jobs_before(DAY) == JOB_DELETES_PER_CALL < len(days)
    assert batch.asked == sorted(days)[:JOB_DELETES_PER_CALL]


def test_a_job_already_gone_or_being_deleted_is_no_error_and_a_refusal_does_not_stop_the_rest(caplog):
    gone, going, refused, kept = (f"sitelens-ocr-ppocrv4-2026110{d}" for d in (1, 2, 3, 4))
    batch = StandInBatch([gone, going, refused, kept], {gone: refusal(404, "JobNotFound"),
                                                         going: refusal(409, "JobBeingDeleted"),
                                                         refused: refusal(409, "SomethingNew")})  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="shared.adapters.azure_batch_submitter"):
        assert submitter(batch).delete_jobs_before(DAY) == 1
    assert batch.asked == [gone, going, refused, kept]
    assert [r.getMessage() for r in caplog.records] == [f"Batch job {refused} not deleted this time: "
                                                        f"Batch job {refused}: SomethingNew"]  # fmt: skip


def test_batch_out_of_reach_is_transient_for_the_reconciler_to_log():
    class Unreachable(StandInBatch):
        def list_jobs(self, *, filter: str, select: list[str]) -> Iterator[SimpleNamespace]:
            raise ServiceRequestError("connection refused")

    with pytest.raises(TransientError):
        submitter(Unreachable([])).delete_jobs_before(DAY)
