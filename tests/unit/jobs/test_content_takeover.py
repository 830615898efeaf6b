"""A photo whose bytes match a job too old to reuse (its result expires within the reuse margin) runs on its
own and takes the content claim over, so the photos with those bytes after it follow it: one GPU task for
them all, not one each for good."""

from __future__ import annotations

import json

import pytest

from shared.jobs import ids
from shared.jobs.models import Job, JobState
from tests.unit.jobs.test_pipeline import World, photo
from tests.unit.jobs.test_result_retention import KEPT, succeeded_owner


@pytest.fixture
def world() -> World:
    world = World()
    world.ingestion.results_kept = KEPT  # as the composition root passes it
    return world


def claim_of(world: World, job: Job) -> str:
    return world.store.claims[(job.site, ids.content_key(job.content_sha256 or "", job.model or ""))]


def test_the_photo_after_an_owner_too_old_to_reuse_follows_the_job_that_ran_instead(world):
    data = photo(1)
    first = succeeded_owner(world, data)
    world.clock.advance(KEPT.total_seconds())  # its result may be gone any day now
    second = world.ingestion.ingest(world.upload(2, data))
    assert second is not None and second.state is JobState.QUEUED and second.cached_from is None
    assert claim_of(world, second) == second.id
    done = world.completion.handle(world.finish_task(second.id))
    world.clock.advance(60)
    third = world.ingestion.ingest(world.upload(3, data))
    assert third is not None and third.state is JobState.SUCCEEDED and third.cached_from == second.id
    assert third.result_path == done.result_path and list(world.batch.tasks) == [first.id, second.id]


def test_a_photo_arriving_while_the_new_owner_runs_waits_on_it(world):
    data = photo(1)
    succeeded_owner(world, data)
    world.clock.advance(KEPT.total_seconds())
    second = world.ingestion.ingest(world.upload(2, data))
    third = world.ingestion.ingest(world.upload(3, data))
    assert second is not None and third is not None
    assert third.state is JobState.QUEUED and third.cached_from == second.id
    done = world.completion.handle(world.finish_task(second.id))
    assert world.store.get(third.id).state is JobState.SUCCEEDED and done.state is JobState.SUCCEEDED
    assert len(world.batch.tasks) == 2


def test_a_duplicate_that_took_the_claim_over_first_is_followed(world, monkeypatch: pytest.MonkeyPatch):
    data = photo(1)
    first = succeeded_owner(world, data)
    world.clock.advance(KEPT.total_seconds())
    second = world.ingestion.ingest(world.upload(2, data))
    assert second is not None and claim_of(world, second) == second.id
    claim = world.store.claim_content

    def read_before_the_take_over(site: str, content: str, job_id: str) -> str:
        claim(site, content, job_id)
        return first.id  # what a concurrent delivery read just before `second` took the claim over

    monkeypatch.setattr(world.store, "claim_content", read_before_the_take_over)
    third = world.ingestion.ingest(world.upload(3, data))
    assert third is not None and third.state is JobState.QUEUED and third.cached_from == second.id
    assert claim_of(world, third) == second.id and len(world.batch.tasks) == 2


def test_the_photo_after_an_owner_that_failed_runs_and_the_photos_after_it_follow_it(world):
    data = photo(1)
    first = world.ingestion.ingest(world.upload(1, data))
    assert first is not None
    failure = {"job_id": first.id, "task_id": first.id, "attempt": 1, "outcome": "failed", "result_path": None,
               "checksum": None, "error": {"code": "inference_failed", "message": "the GPU fell over"},
               **world.task_token(first.id)}  # fmt: skip
    assert world.completion.handle(json.dumps(failure).encode()).state is JobState.FAILED
    second = world.ingestion.ingest(world.upload(2, data))
    assert second is not None and second.state is JobState.QUEUED and second.cached_from is None
    assert claim_of(world, second) == second.id
    third = world.ingestion.ingest(world.upload(3, data))
    assert third is not None and third.state is JobState.QUEUED and third.cached_from == second.id
    world.completion.handle(world.finish_task(second.id))
    assert world.store.get(third.id).state is JobState.SUCCEEDED
    assert list(world.batch.tasks) == [first.id, second.id]  # not a task for each photo after the failure


def test_a_claim_whose_owner_row_is_gone_is_taken_over_not_a_not_found_for_each_later_photo(world):
    data = photo(1)
    first = succeeded_owner(world, data)
    del world.store.jobs[first.id]  # erased by hand: the job's row went, its content claim stayed
    second = world.ingestion.ingest(world.upload(2, data))
    assert second is not None and second.state is JobState.QUEUED and second.cached_from is None
    assert claim_of(world, second) == second.id
    world.completion.handle(world.finish_task(second.id))
    third = world.ingestion.ingest(world.upload(3, data))
    assert third is not None and third.state is JobState.SUCCEEDED and third.cached_from == second.id
