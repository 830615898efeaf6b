"""A job's model is recorded before its task exists, so every later pass submits the same model.

A day's Batch job (`sitelens-{day}`) holds every model's tasks and the task id is the job id, so a pass that
routed the job to another model would meet the job's task running the first one, which the Batch submitter
answers with a Conflict rather than count it as the other model's. These tests
kill the write that records a submission (the process gone right after Batch took the task), change routing
(an edit, or another instance whose cached copy of routing.json differs), and check the (Batch job, task id)
pairs Batch was given, the model of the task, and the model recorded on the job.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.errors import TransientError
from shared.jobs import document, ids, routing
from shared.jobs.models import Job, JobState
from shared.jobs.ports import JobStore
from tests.unit.jobs.fakes import FixedRoutes, table_etag
from tests.unit.jobs.test_document_kinds import JOB
from tests.unit.jobs.test_pipeline import World, photo

FIRST, LATER = "pipe-defects/1.0.0", "pipe-defects/1.1.0"


@pytest.fixture
def world() -> World:
    return World()


def dies_recording_the_submission(store: JobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The next write that records a Batch job on the job fails, once: Batch holds the task, the job does not
    say so, as when the instance is scaled in (or times out) right after the submission returned."""
    real = store.update

    def update(job: Job) -> Job:
        if job.batch_job_id is not None and store.get(job.id).batch_job_id != job.batch_job_id:
            monkeypatch.setattr(store, "update", real)
            raise TransientError("the instance is gone before the submission was recorded")
        return real(job)

    monkeypatch.setattr(store, "update", update)


def submitted_to_first_then_died(world: World, monkeypatch: pytest.MonkeyPatch) -> str:
    """A photo routed to FIRST whose first pass submits its task and dies before recording it; its name."""
    world.ingestion.routes = FixedRoutes([(FIRST, 100)])
    name = world.upload(1)
    dies_recording_the_submission(world.store, monkeypatch)
    with pytest.raises(TransientError):
        world.ingestion.ingest(name)
    return name


def tasks_of(world: World, job_id: str) -> set[tuple[str, str]]:
    return {created for created in world.batch.created if created[1] == job_id}


def submitted_once_to(world: World, job_id: str, model: str) -> bool:
    """One task for the job, in the Batch job of its day of receipt, running `model`."""
    day = world.store.get(job_id).received_at.date()
    return tasks_of(world, job_id) == {(ids.batch_job_id(day), job_id)} and world.batch.tasks[job_id].model == model


def test_a_redelivery_after_routing_changed_submits_to_the_model_recorded_before_the_task(world, monkeypatch):
    name = submitted_to_first_then_died(world, monkeypatch)
    received = world.store.get(ids.job_id_for(name))
    world.ingestion.routes = FixedRoutes([(LATER, 100)])
    queued = world.ingestion.ingest(name)
    assert submitted_once_to(world, queued.id, FIRST)
    assert queued.state is JobState.QUEUED and queued.model == FIRST
    assert queued.batch_job_id == world.batch.tasks[queued.id].batch_job_id
    assert received.state is JobState.RECEIVED and received.model == FIRST
    assert JOB.is_valid(document.public(received))  # the contract allows a model before the job is queued


def test_the_reconcilers_redrive_after_routing_changed_submits_to_the_recorded_model(world, monkeypatch):
    name = submitted_to_first_then_died(world, monkeypatch)
    world.ingestion.routes = FixedRoutes([(LATER, 100)])
    world.clock.advance(world.reconciler.stuck_after.total_seconds() + 1)
    world.reconciler.run()
    job = world.store.get(ids.job_id_for(name))
    assert submitted_once_to(world, job.id, FIRST)
    assert job.state is JobState.QUEUED and job.model == FIRST


def test_a_follower_run_alone_keeps_its_model_over_redrives_whatever_routing_says(world, monkeypatch):
    world.ingestion.routes = FixedRoutes([(FIRST, 100)])
    data = photo(1)
    owner = world.ingestion.ingest(world.upload(1, data))
    follower = world.ingestion.ingest(world.upload(2, data))
    assert follower.cached_from == owner.id and follower.model == FIRST
    world.finisher.finish(world.store.get(owner.id), JobState.FAILED, reason="inference_failed")
    dies_recording_the_submission(world.store, monkeypatch)
    assert world.reconciler.run().errors == 1  # submitted on its own; the record of it lost
    world.ingestion.routes = FixedRoutes([(LATER, 100)])
    world.reconciler.run()
    alone = world.store.get(follower.id)
    assert submitted_once_to(world, follower.id, FIRST)
    assert alone.state is JobState.QUEUED and alone.cached_from is None and alone.model == FIRST


def test_a_job_an_earlier_release_recorded_without_a_model_is_routed_as_before_then_keeps_it(world, monkeypatch):
    world.batch.down = True
    name = world.upload(1)
    with pytest.raises(TransientError):
        world.ingestion.ingest(name)
    job_id = ids.job_id_for(name)
    # As an earlier release left it: the bytes and quality recorded, the model not (it came with QUEUED).
    world.store.jobs[job_id] = replace(world.store.get(job_id), model=None)
    world.batch.down = False
    split = [("ocr/a", 50), ("ocr/b", 50)]
    routed = routing.choose(job_id, split, world.ingestion.default_model)
    world.ingestion.routes = FixedRoutes(split)
    dies_recording_the_submission(world.store, monkeypatch)
    with pytest.raises(TransientError):
        world.ingestion.ingest(name)
    recorded = world.store.get(job_id).model
    world.ingestion.routes = FixedRoutes([("ocr/c", 100)])
    queued = world.ingestion.ingest(name)
    assert submitted_once_to(world, job_id, routed)
    assert recorded == queued.model == routed


def test_the_model_is_recorded_in_the_write_that_records_the_bytes_not_one_of_its_own(world: World) -> None:
    name = world.upload(1)
    world.batch.down = True
    with pytest.raises(TransientError):
        world.ingestion.ingest(name)
    received = world.store.get(ids.job_id_for(name))
    # Created (etag 1), then one write with the bytes, quality and model: no request of its own for the model.
    assert received.etag == table_etag(2)
    assert received.content_sha256 and received.model == world.ingestion.default_model
