"""The reconciler's first step ends old Batch days and deletes older, completed ones, with every task record they
hold: on every run, before its open jobs, and a failure of either is logged and stops nothing."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from shared.errors import TransientError
from shared.jobs.models import JobState
from shared.jobs.reconciler import Reconciler
from tests.unit.jobs.test_pipeline import World


class WorkerKilled(BaseException):
    """What the host's function timeout does to a run: nothing after it in the run happens."""


@pytest.fixture
def world() -> World:
    return World()


def stalled_job(world: World) -> str:
    """An open job past the reconciler's bound whose task Batch lost: a run that reaches it submits it again."""
    job = world.ingestion.ingest(world.upload(1))
    world.batch.tasks.clear()
    world.clock.advance(16 * 60)
    return job.id


def test_each_run_deletes_completed_days_a_week_old_and_terminates_those_two_days_old(world):
    today = world.clock().date()
    world.reconciler.run()
    world.clock.advance(5 * 60)
    world.reconciler.run()
    assert world.batch.deleted_before == [today - timedelta(days=7)] * 2
    assert world.batch.finished_before == [today - timedelta(days=2)] * 2


def test_old_days_are_deleted_before_a_run_that_dies_on_its_backlog(world, monkeypatch):
    stalled_job(world)

    def killed(job_id):
        raise WorkerKilled(job_id)

    monkeypatch.setattr(world.store, "get", killed)
    with pytest.raises(WorkerKilled):
        world.reconciler.run()
    assert world.batch.deleted_before == [world.clock().date() - timedelta(days=7)]


def test_a_failed_delete_is_logged_and_the_run_goes_on_to_its_open_jobs(world, monkeypatch, caplog):
    job_id = stalled_job(world)

    def unreachable(day):
        raise TransientError("Batch jobs: service unreachable")

    monkeypatch.setattr(world.batch, "delete_jobs_before", unreachable)
    with caplog.at_level(logging.WARNING, logger="shared.jobs.reconciler"):
        sweep = world.reconciler.run()
    assert "old Batch jobs not deleted this time" in caplog.text
    assert sweep.examined == 1 and sweep.errors == 0 and job_id in world.batch.tasks  # submitted again
    assert world.store.get(job_id).state is JobState.QUEUED


def test_a_failed_termination_does_not_keep_old_days_from_being_deleted(world, monkeypatch, caplog):
    def unreachable(day, idle_before=None):
        raise TransientError("Batch jobs: service unreachable")

    monkeypatch.setattr(world.batch, "finish_jobs_before", unreachable)
    with caplog.at_level(logging.WARNING, logger="shared.jobs.reconciler"):
        world.reconciler.run()
    assert "old Batch jobs not terminated this time" in caplog.text
    assert world.batch.deleted_before == [world.clock().date() - timedelta(days=7)]


def reconciler_with(world: World, give_up_after: timedelta) -> Reconciler:
    return Reconciler(store=world.store, photos=world.photos, submitter=world.batch, ingestion=world.ingestion,
                      completion=world.completion, finisher=world.finisher, clock=world.clock,
                      stuck_after=timedelta(minutes=15), give_up_after=give_up_after)  # fmt: skip


@pytest.mark.parametrize("give_up_hours", [1, 24, 25, 96, 720])
def test_a_photos_day_stays_active_until_its_bound_has_passed_however_long_the_bound(world, give_up_hours):
    """A terminated Batch job never schedules its queued tasks: a photo waiting out an outage under a longer bound
    keeps its day's job active as long as it waits; the day ends once the bound has passed, and goes days later."""
    give_up_after = timedelta(hours=give_up_hours)
    reconciler = reconciler_with(world, give_up_after)
    world.clock.now = world.clock.now.replace(hour=23, minute=54)  # the day's last photo, just before midnight
    received = world.clock()
    world.ingestion.ingest(world.upload(1))
    while world.clock() < received + give_up_after:
        reconciler.run()
        world.clock.advance(3600)
    assert all(day <= received.date() for day in world.batch.finished_before)  # `finish_jobs_before`: days before
    world.clock.advance(48 * 3600)
    reconciler.run()
    assert world.batch.finished_before[-1] > received.date()  # ended at a midnight within two days of the bound
    assert world.batch.deleted_before[-1] == world.batch.finished_before[-1] - timedelta(days=5)
