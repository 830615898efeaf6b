"""POST /jobs/{id}/retry over in-memory ports: asked twice at once, racing another write, and a photo gone.

The races are made certain by running the other writer inside the retry's own read of the photo, after
the API read the failed job and before the retry writes it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.errors import Conflict
from shared.jobs import ids
from shared.jobs.api import JobsApi
from shared.jobs.models import Job, JobState
from shared.jobs.ports import BlobInfo
from tests.unit.jobs.fakes import MemoryJobStore
from tests.unit.jobs.test_pipeline import World, photo


@pytest.fixture
def world() -> World:
    return World()


def failed(world: World, n: int = 1) -> Job:
    job = world.ingestion.ingest(world.upload(n))
    assert job is not None
    failure = {"job_id": job.id, "task_id": job.id, "attempt": 1, "outcome": "failed",
               "error": {"code": "bad_input", "message": "x"}, **world.task_token(job.id)}  # fmt: skip
    done = world.completion.handle(json.dumps(failure).encode())
    assert done.state is JobState.FAILED
    return done


def retry(api: JobsApi, job: Job) -> Any:
    return api.handle("retry", {"id": job.id}, {}, {}, b"")


def during_the_retrys_photo_read(world: World, monkeypatch: pytest.MonkeyPatch, other_writer: Any) -> None:
    """Run `other_writer` once, inside the next retry's read of the photo's properties."""
    real_info, pending = world.photos.photo_info, [other_writer]

    def info(blob_name: str) -> BlobInfo:
        if pending:
            pending.pop()()
        return real_info(blob_name)

    monkeypatch.setattr(world.photos, "photo_info", info)


def test_the_same_retry_asked_twice_at_once_answers_the_same_new_job_both_times(world, api, monkeypatch):
    job = failed(world)
    answers: list[Any] = []
    during_the_retrys_photo_read(world, monkeypatch, lambda: answers.append(retry(api, job)))
    answers.append(retry(api, job))  # the first caller read the job before the second wrote retried_by
    assert [a.status for a in answers] == [202, 202], [a.body for a in answers]
    again = answers[0].body["id"]
    assert answers[1].body["id"] == again and world.store.get(job.id).retried_by == again
    assert world.store.get(again).state is JobState.QUEUED and list(world.batch.tasks) == [job.id, again]


def test_a_retry_racing_another_write_to_the_failed_job_runs_and_points_forward(world, api, monkeypatch):
    job = failed(world)

    def a_later_write_is_recorded() -> None:  # the device writes the name again; its delivery counts it
        world.photos.add(job.blob_name, photo(2), etag='"0x99"')
        assert world.ingestion.ingest(job.blob_name) is not None

    during_the_retrys_photo_read(world, monkeypatch, a_later_write_is_recorded)
    reply = retry(api, job)
    assert reply.status == 202, reply.body
    original = world.store.get(job.id)
    assert original.later_writes == 1 and original.retried_by == reply.body["id"]
    assert world.store.get(reply.body["id"]).state is JobState.QUEUED and reply.body["photo_etag"] == "0x99"


def test_a_retry_whose_pointer_keeps_losing_still_runs_the_new_job(world, api, monkeypatch):
    job = failed(world)
    store: MemoryJobStore = world.store
    real_update = store.update

    def update(changed: Job) -> Job:  # every write of the failed job loses to another writer
        if changed.id == job.id:
            raise Conflict(f"{job.id} changed")
        return real_update(changed)

    monkeypatch.setattr(store, "update", update)
    reply = retry(api, job)
    assert reply.status == 202 and world.store.get(reply.body["id"]).state is JobState.QUEUED
    assert world.store.get(job.id).retried_by is None  # only the pointer is missing; the next retry writes it


def test_a_retry_whose_new_job_another_caller_keeps_writing_answers_the_job_as_it_stands(world, api, monkeypatch):
    job = failed(world)
    store: MemoryJobStore = world.store
    real_update, again = store.update, ids.job_id_for(job.blob_name, job.id)

    def update(changed: Job) -> Job:  # the other caller of the same retry writes the new job first, every time
        if changed.id == again:
            real_update(store.get(again))
        return real_update(changed)

    monkeypatch.setattr(store, "update", update)
    reply = retry(api, job)
    assert (reply.status, reply.body["id"]) == (202, again), reply.body
    assert reply.body["state"] == store.get(again).state.value and store.get(job.id).retried_by == again


def test_a_job_whose_photo_is_gone_is_refused_photo_missing_and_still_answers_get(world, api):
    job = failed(world)
    del world.photos.photos[job.blob_name]  # deleted, or expired by the lifecycle rule
    reply = retry(api, job)
    assert (reply.status, reply.body["reason"]) == (422, "photo_missing"), reply.body
    assert "no longer stored" in reply.body["detail"] and job.blob_name not in reply.body["detail"]
    assert api.handle("get", {"id": job.id}, {}, {}, b"").status == 200
    assert ids.job_id_for(job.blob_name, job.id) not in world.store.jobs and world.store.get(job.id).retried_by is None


def test_a_retry_asked_again_after_its_photo_went_answers_the_same_new_job(world, api):
    job = failed(world)
    first = retry(api, job)
    del world.photos.photos[job.blob_name]
    again = retry(api, job)
    assert (first.status, again.status) == (202, 202) and again.body["id"] == first.body["id"]
