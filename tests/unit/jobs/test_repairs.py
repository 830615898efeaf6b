"""Crashes and races between two side effects, and the bounds that end every job."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from shared.errors import Conflict
from shared.jobs import ids
from shared.jobs.models import JobState
from shared.jobs.ports import TaskState, TaskView
from tests.unit.jobs.test_pipeline import World, photo


@pytest.fixture
def world() -> World:
    return World()


def _die_after_submit(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the next QUEUED write fail as if the process died right after Batch accepted the task."""
    real = world.store.update

    def update(job):
        if job.state is JobState.QUEUED:
            monkeypatch.setattr(world.store, "update", real)
            raise RuntimeError("killed between submit and record")
        return real(job)

    monkeypatch.setattr(world.store, "update", update)


def test_a_redelivery_after_midnight_finds_the_same_task_not_a_second_one(world, monkeypatch):
    world.clock.now = world.clock.now.replace(hour=23, minute=59, second=58)
    name = world.upload(1)
    _die_after_submit(world, monkeypatch)
    with pytest.raises(RuntimeError):
        world.ingestion.ingest(name)
    world.clock.advance(5)  # the next UTC day
    job = world.ingestion.ingest(name)
    assert job.state is JobState.QUEUED and job.batch_job_id.endswith("20261122")
    assert world.batch.created == {(job.batch_job_id, job.id)}


def test_a_completion_for_a_job_whose_submission_was_never_recorded_still_succeeds(world, monkeypatch):
    name = world.upload(1)
    _die_after_submit(world, monkeypatch)
    with pytest.raises(RuntimeError):
        world.ingestion.ingest(name)
    job_id = ids.job_id_for(name)
    assert world.store.get(job_id).state is JobState.RECEIVED and list(world.batch.tasks) == [job_id]
    result = {"job_id": job_id, "model": {"name": "ocr", "version": "ppocrv4"}, "result": {"lines": []}}
    message = json.loads(world.finish_task(job_id))
    world.photos.results[ids.result_path(job_id)] = json.dumps(result).encode()
    message["checksum"] = None  # the result was rewritten above; accept whatever is there
    done = world.completion.handle(json.dumps(message).encode())
    assert done.state is JobState.SUCCEEDED and done.model == "ocr/ppocrv4"
    again = world.ingestion.ingest(name)  # the blob delivery the dead process never finished
    assert again.state is JobState.SUCCEEDED and world.batch.submissions == 1
    assert world.outbox.states() == [JobState.SUCCEEDED]


def test_a_delivery_that_loses_a_write_to_a_concurrent_one_re_reads_and_goes_on(world, monkeypatch):
    name = world.upload(1)
    real = world.store.update
    raced: list[str] = []

    def update(job):
        if not raced:  # the other delivery got there first: it already queued the job
            raced.append(job.id)
            other = world.store.get(job.id)
            real(other.advance(JobState.QUEUED, world.clock(), model="ocr/ppocrv4", batch_job_id="b"))
            raise Conflict("changed")
        return real(job)

    monkeypatch.setattr(world.store, "update", update)
    job = world.ingestion.ingest(name)
    assert job.state is JobState.QUEUED and raced == [job.id] and world.batch.submissions == 0


def test_a_job_open_past_the_bound_fails_timed_out_and_nothing_retries_forever(world):
    job = world.ingestion.ingest(world.upload(1))
    world.batch.views[job.id] = TaskView(TaskState.ACTIVE)  # the pool never comes up
    world.clock.advance(25 * 3600)
    world.reconciler.run()
    failed = world.store.get(job.id)
    assert failed.state is JobState.FAILED and failed.reason == "timed_out" and world.store.open_ids() == []


def test_a_follower_of_an_owner_that_failed_runs_on_its_own_at_the_next_sweep(world):
    data = photo(7)
    owner = world.ingestion.ingest(world.upload(1, data))
    follower = world.ingestion.ingest(world.upload(2, data))
    assert follower.cached_from == owner.id
    failure = {"job_id": owner.id, "task_id": owner.id, "attempt": 1, "outcome": "failed",
               "error": {"code": "bad_input", "message": "unreadable"}, **world.task_token(owner.id)}  # fmt: skip
    world.completion.handle(json.dumps(failure).encode())
    world.clock.advance(1)  # far inside the stuck bound
    world.reconciler.run()
    alone = world.store.get(follower.id)
    assert alone.state is JobState.QUEUED and alone.cached_from is None and follower.id in world.batch.tasks


def test_a_running_task_moves_the_job_to_running_with_batchs_start_time(world):
    job = world.ingestion.ingest(world.upload(1))
    started = world.clock() + timedelta(seconds=30)
    world.batch.views[job.id] = TaskView(TaskState.RUNNING, started_at=started)
    world.clock.advance(16 * 60)
    world.reconciler.run()
    running = world.store.get(job.id)
    assert running.state is JobState.RUNNING and running.started_at == started


def test_a_job_waiting_in_batch_is_looked_at_once_per_bound_not_at_every_sweep(world):
    job = world.ingestion.ingest(world.upload(1))
    world.clock.advance(16 * 60)  # past the 15-minute bound: its task still waits in the pool's queue
    assert world.reconciler.run().examined == 1 and world.batch.asked == 1
    for _ in range(5):  # a sweep every minute: the job is known to be waiting, neither read nor asked about
        world.clock.advance(60)
        sweep = world.reconciler.run()
        assert (sweep.examined, sweep.waiting, world.batch.asked) == (0, 1, 1)
    world.batch.views[job.id] = TaskView(TaskState.RUNNING, started_at=world.clock())
    world.clock.advance(10 * 60)  # the bound has passed again since the last look
    assert world.reconciler.run().examined == 1 and world.batch.asked == 2
    assert world.store.get(job.id).state is JobState.RUNNING


def test_a_young_job_is_not_read_again_until_it_could_be_stuck(world, monkeypatch):
    job = world.ingestion.ingest(world.upload(1))
    world.clock.advance(60)
    world.reconciler.run()  # read once: received a minute ago, 14 minutes to go
    reads = []
    real = world.store.get

    def get(job_id):
        reads.append(job_id)
        return real(job_id)

    monkeypatch.setattr(world.store, "get", get)
    world.clock.advance(13 * 60)
    assert world.reconciler.run().waiting == 1 and reads == []
    world.clock.advance(2 * 60)  # now past the bound: looked at, and Batch asked
    assert world.reconciler.run().examined == 1 and reads == [job.id] and world.batch.asked == 1


def test_old_batch_jobs_are_terminated_by_the_sweep(world):
    world.reconciler.run()
    assert world.batch.finished_before == [world.clock().date() - timedelta(days=2)]
