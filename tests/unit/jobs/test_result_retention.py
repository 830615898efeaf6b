"""Results expire (the storage lifecycle rule deletes `results/` `results_kept` after they are written): a photo
with the same bytes reuses an earlier job's result only while it stays stored a margin longer, and a job whose
result is gone answers without links, its `result.expired` a 410 `result_expired` problem document."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shared.jobs import ids
from shared.jobs.api import JobsApi
from shared.jobs.ingestion import REUSE_MARGIN
from shared.jobs.models import Job, JobState
from tests.unit.jobs.test_pipeline import World, photo

KEPT = timedelta(days=14)
DAY_S = 86_400.0


@pytest.fixture
def world() -> World:
    world = World()
    # The retention the composition root passes from SITELENS_RESULTS_RETENTION_DAYS; the reconciler shares
    # this ingestion, so it re-drives with the same rule.
    world.ingestion.results_kept = KEPT
    return world


def succeeded_owner(world: World, data: bytes) -> Job:
    owner = world.ingestion.ingest(world.upload(1, data))
    assert owner is not None
    done = world.completion.handle(world.finish_task(owner.id))
    assert done.state is JobState.SUCCEEDED
    return done


def test_a_young_owners_result_is_reused(world):
    data = photo(1)
    owner = succeeded_owner(world, data)
    world.clock.advance((KEPT - REUSE_MARGIN).total_seconds() - 60)  # a minute inside the window
    late = world.ingestion.ingest(world.upload(2, data))
    assert late is not None and late.state is JobState.SUCCEEDED and late.cached_from == owner.id
    assert late.result_path == ids.result_path(owner.id) and list(world.batch.tasks) == [owner.id]


def test_an_owner_whose_result_expires_within_the_margin_is_not_reused_the_job_runs_alone(world):
    data = photo(1)
    owner = succeeded_owner(world, data)
    world.clock.advance((KEPT - REUSE_MARGIN).total_seconds() + 60)  # its result may be deleted within a day
    late = world.ingestion.ingest(world.upload(2, data))
    assert late is not None and late.state is JobState.QUEUED and late.cached_from is None
    assert list(world.batch.tasks) == [owner.id, late.id]
    done = world.completion.handle(world.finish_task(late.id))
    assert done.state is JobState.SUCCEEDED and done.result_path == ids.result_path(late.id)


def test_an_owner_received_past_the_window_is_not_waited_on_even_while_it_runs(world):
    data = photo(1)
    owner = world.ingestion.ingest(world.upload(1, data))
    assert owner is not None and owner.state is JobState.QUEUED
    world.clock.advance(KEPT.total_seconds())
    late = world.ingestion.ingest(world.upload(2, data))
    assert late is not None and late.state is JobState.QUEUED and late.cached_from is None
    assert world.store.followers(owner.site, ids.content_key(owner.content_sha256 or "", owner.model or "")) == []


def api_of(world: World) -> JobsApi:
    return JobsApi(world.store, world.photos, retry=world.ingestion.retry, results_kept=KEPT, clock=world.clock)


def result_shown(world: World, job_id: str) -> dict[str, Any]:
    body = api_of(world).handle("get", {"id": job_id}, {}, {}, b"").body
    assert body is not None
    return dict(body["result"])


def test_a_job_whose_result_expired_answers_without_links_and_says_why(world):
    owner = succeeded_owner(world, photo(1))
    world.clock.advance(KEPT.total_seconds() + DAY_S)
    del world.photos.results[owner.result_path or ""]  # what the lifecycle rule did
    reply = api_of(world).handle("get", {"id": owner.id}, {}, {}, b"")
    assert reply.status == 200 and reply.body is not None
    result = reply.body["result"]
    assert result["links"] == {} and result["summary"]["text"] == ["PUMP 1"]
    expired = result["expired"]
    assert (expired["status"], expired["reason"]) == (410, "result_expired")
    assert expired["type"].endswith("reason-codes.md#result_expired") and "14 days" in expired["detail"]
    assert reply.headers["ETag"].endswith('-expired"')
    # The ETag of the links is no longer current: a client holding it gets the expiry, not a 304.
    before = '"SUCCEEDED-' + (world.store.get(owner.id).etag or "").strip('"') + '"'
    assert api_of(world).handle("get", {"id": owner.id}, {}, {"If-None-Match": before}, b"").status == 200


def test_a_result_still_stored_past_its_days_keeps_its_links(world):
    owner = succeeded_owner(world, photo(1))
    world.clock.advance(KEPT.total_seconds() + DAY_S)  # the rule has not run yet
    result = result_shown(world, owner.id)
    assert set(result["links"]) == {"result", "overlay"} and "expired" not in result


def test_a_cached_jobs_result_is_checked_where_it_lives_its_owners(world):
    data = photo(1)
    owner = succeeded_owner(world, data)
    late = world.ingestion.ingest(world.upload(2, data))
    assert late is not None and late.cached_from == owner.id
    del world.photos.results[owner.result_path or ""]
    result = result_shown(world, late.id)
    assert result["links"] == {} and result["expired"]["reason"] == "result_expired"
