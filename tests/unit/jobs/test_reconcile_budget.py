"""A reconcile run is bounded in time; the next run, on a restarted worker too, goes on where it stopped."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from shared.jobs import ids
from shared.jobs.models import Job, JobState
from shared.jobs.ports import TaskRequest
from shared.jobs.reconciler import CURSOR_EVERY, CURSOR_EVERY_JOBS, Reconciler
from tests.unit.jobs.test_pipeline import World

MODEL = "ocr/ppocrv4"
BUDGET = timedelta(minutes=4)  # as the RUN_BUDGET the app runs with
PER_JOB_S = 60.0  # each job looked at costs a minute of the budget: a run looks at 4 jobs


class Ticks:
    """The budget's monotonic clock, moved on by the store's reads as latency would."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class WorkerKilled(BaseException):
    """What the host's function timeout does to a run: nothing after it in the run happens."""


def queued_backlog(world: World, count: int) -> list[str]:
    """`count` jobs queued in Batch, their tasks waiting (a pool that cannot grow); ids in the index's order."""
    for n in range(count):
        name = f"north-yard/cam-1/2026/11/22/p{n}.jpg"
        job_id, batch_job = ids.job_id_for(name), ids.batch_job_id(world.clock().date())
        at = world.clock()
        world.store.create(Job(job_id, "north-yard", "cam-1", f"p{n}", name, '"0x1"', at, state=JobState.QUEUED,
                               model=MODEL, batch_job_id=batch_job, queued_at=at))  # fmt: skip
        world.batch.submit(TaskRequest(job_id, batch_job, MODEL, "memory://input.jpg"))
    return world.store.open_ids()


def new_worker(world: World, ticks: Ticks) -> Reconciler:
    """A fresh Reconciler, as a restarted worker builds it: nothing in memory, only what the store keeps."""
    return Reconciler(store=world.store, photos=world.photos, submitter=world.batch, ingestion=world.ingestion,
                      completion=world.completion, finisher=world.finisher, clock=world.clock,
                      stuck_after=timedelta(minutes=15), budget=BUDGET, monotonic=ticks)  # fmt: skip


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def reads(world: World, monkeypatch: pytest.MonkeyPatch) -> tuple[Ticks, list[str]]:
    """The budget's clock, and the jobs read from the store in order; each job's reads move the clock on once."""
    ticks, seen = Ticks(), list[str]()
    real = world.store.get

    def get(job_id: str) -> Job:
        if not seen or seen[-1] != job_id:  # the finisher may read the job again: one job, one step
            seen.append(job_id)
            ticks.now += PER_JOB_S
        return real(job_id)

    monkeypatch.setattr(world.store, "get", get)
    return ticks, seen


def test_a_run_stops_at_its_budget_and_says_so(world, reads, caplog):
    ticks, seen = reads
    backlog = queued_backlog(world, 10)
    world.clock.advance(16 * 60)  # every job past the stuck bound: each is read and Batch asked about it
    with caplog.at_level(logging.WARNING, logger="shared.jobs.reconciler"):
        sweep = new_worker(world, ticks).run()
    per_run = int(BUDGET.total_seconds() // PER_JOB_S)
    assert sweep.stopped_at_budget and sweep.examined == per_run == world.batch.asked
    assert seen == backlog[:per_run] and world.store.cursor == backlog[per_run - 1]
    assert any("stopped at its" in r.getMessage() and backlog[per_run - 1] in r.getMessage() for r in caplog.records)


def test_a_restarted_worker_goes_on_after_the_cursor_and_every_job_times_out(world, reads):
    ticks, seen = reads
    backlog = queued_backlog(world, 10)
    world.clock.advance(25 * 3600)  # past the 24 h bound: each job looked at is failed `timed_out`
    first = new_worker(world, ticks).run()
    assert first.stopped_at_budget and seen == backlog[:4]
    second = new_worker(world, ticks).run()  # the worker was restarted: no note in memory, only the cursor
    assert second.stopped_at_budget and seen == backlog[:8]  # the jobs the first run did not reach
    third = new_worker(world, ticks).run()
    assert not third.stopped_at_budget and seen == backlog and world.store.cursor is None  # round: cleared
    assert first.failed + second.failed + third.failed == 10 and world.store.open_ids() == []
    assert all(world.store.get(job_id).reason == "timed_out" for job_id in backlog)


def test_the_walk_wraps_to_the_start_and_ends_at_the_cursor(world, reads):
    ticks, seen = reads
    backlog = queued_backlog(world, 6)
    world.clock.advance(16 * 60)
    new_worker(world, ticks).run()
    assert seen == backlog[:4] and world.store.cursor == backlog[3]
    world.clock.advance(16 * 60)  # the first four are past the bound again by the next look
    sweep = new_worker(world, ticks).run()
    assert seen[4:] == [backlog[4], backlog[5], backlog[0], backlog[1]] and sweep.stopped_at_budget
    assert world.store.cursor == backlog[1]


def test_a_run_that_fits_looks_at_every_open_job_and_keeps_no_cursor(world, reads):
    ticks, seen = reads
    backlog = queued_backlog(world, 3)
    world.clock.advance(16 * 60)
    sweep = new_worker(world, ticks).run()
    assert not sweep.stopped_at_budget and seen == backlog and world.store.cursor is None


def test_old_batch_days_end_even_when_the_budget_is_spent(world, reads):
    ticks, seen = reads
    queued_backlog(world, 3)
    world.clock.advance(16 * 60)
    reconciler = new_worker(world, ticks)
    real = world.batch.finish_jobs_before

    def slow_finish(day, idle_before=None):  # terminating old days took the whole budget
        ticks.now += BUDGET.total_seconds()
        return real(day, idle_before)

    world.batch.finish_jobs_before = slow_finish
    sweep = reconciler.run()
    assert world.batch.finished_before == [world.clock().date() - timedelta(days=2)]
    assert sweep.stopped_at_budget and sweep.examined == 0 and seen == []


def test_old_batch_days_end_before_a_run_that_dies_on_its_backlog(world, monkeypatch):
    queued_backlog(world, 3)
    world.clock.advance(16 * 60)

    def killed(job_id):
        raise WorkerKilled(job_id)

    monkeypatch.setattr(world.store, "get", killed)
    with pytest.raises(WorkerKilled):
        world.reconciler.run()
    assert world.batch.finished_before == [world.clock().date() - timedelta(days=2)]


def test_a_job_seen_waiting_is_still_left_alone_whatever_the_cursor(world, reads):
    ticks, seen = reads
    backlog = queued_backlog(world, 6)
    world.clock.advance(16 * 60)
    reconciler = new_worker(world, ticks)
    reconciler.run()  # the first four: waiting in Batch, noted
    world.clock.advance(60)
    sweep = reconciler.run()  # the last two, then the noted four are passed by, not read
    assert seen[4:] == backlog[4:] and (sweep.examined, sweep.waiting) == (2, 4) and not sweep.stopped_at_budget
    assert world.store.cursor is None


def killed_after(world: World, monkeypatch: pytest.MonkeyPatch, ticks: Ticks, jobs: int, step_s: float) -> list[str]:
    """The store's reads, each job's moving the clock on `step_s`; the read of job number `jobs` + 1 kills the run."""
    seen, real = list[str](), world.store.get

    def get(job_id: str) -> Job:
        if not seen or seen[-1] != job_id:
            if len(seen) == jobs:
                raise WorkerKilled(job_id)
            seen.append(job_id)
            ticks.now += step_s
        return real(job_id)

    monkeypatch.setattr(world.store, "get", get)
    return seen


def test_a_run_killed_part_way_keeps_its_cursor_every_so_many_jobs_and_a_new_worker_resumes(world, monkeypatch):
    backlog = queued_backlog(world, CURSOR_EVERY_JOBS + 60)
    world.clock.advance(16 * 60)
    ticks = Ticks()  # never moves: only the count of jobs looked at keeps the cursor
    seen = killed_after(world, monkeypatch, ticks, CURSOR_EVERY_JOBS + 50, step_s=0.0)
    with pytest.raises(WorkerKilled):
        new_worker(world, ticks).run()
    assert world.store.cursor == backlog[CURSOR_EVERY_JOBS - 1]  # at most CURSOR_EVERY_JOBS to look at again
    monkeypatch.undo()
    resumed = killed_after(world, monkeypatch, ticks, len(backlog), step_s=0.0)
    sweep = new_worker(world, ticks).run()  # a restarted worker: nothing in memory, only the kept cursor
    assert resumed == backlog[CURSOR_EVERY_JOBS:] + backlog[:CURSOR_EVERY_JOBS] and not sweep.stopped_at_budget
    assert world.store.cursor is None and seen == backlog[: CURSOR_EVERY_JOBS + 50]


def test_a_run_whose_jobs_are_slow_keeps_its_cursor_every_so_many_seconds(world, monkeypatch):
    backlog = queued_backlog(world, 12)
    world.clock.advance(16 * 60)
    ticks, step_s = Ticks(), CURSOR_EVERY.total_seconds() / 3  # kept after every third job
    killed_after(world, monkeypatch, ticks, 7, step_s=step_s)
    with pytest.raises(WorkerKilled):
        new_worker(world, ticks).run()
    assert world.store.cursor == backlog[5]
