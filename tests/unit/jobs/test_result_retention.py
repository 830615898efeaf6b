"""Results expire (the storage lifecycle rule deletes `results/` `results_kept` after they are written): a photo
with the same bytes reuses an earlier job's result only while it stays stored a margin longer, and a job whose
result is gone answers without links, its `result.expired` a 410 `result_expired` problem document."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from shared.errors import TransientError
from shared.jobs import ids
from shared.jobs.api import JobsApi
from shared.jobs.models import Job, JobState
from shared.jobs.reuse import REUSE_MARGIN
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
    linked = api_of(world).handle("get", {"id": owner.id}, {}, {}, b"")  # before the rule runs
    del world.photos.results[owner.result_path or ""]  # what the lifecycle rule did
    reply = api_of(world).handle("get", {"id": owner.id}, {}, {}, b"")
    assert reply.status == 200 and reply.body is not None
    result = reply.body["result"]
    assert result["links"] == {} and result["summary"]["text"] == ["PUMP 1"]
    expired = result["expired"]
    assert (expired["status"], expired["reason"]) == (410, "result_expired")
    assert expired["type"].endswith("reason-codes.md#result_expired") and "14 days" in expired["detail"]
    # The ETag of the links is no longer current, at the same moment: a client holding it gets the expiry, not
    # a 304; the expiry's own ETag is current until the job changes.
    assert reply.headers["ETag"] != linked.headers["ETag"]
    for etag, status in ((linked.headers["ETag"], 200), (reply.headers["ETag"], 304)):
        assert api_of(world).handle("get", {"id": owner.id}, {}, {"If-None-Match": etag}, b"").status == status


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
    world.clock.advance(REUSE_MARGIN.total_seconds() + 60)  # reused only while it stays this long: asked after
    del world.photos.results[owner.result_path or ""]
    result = result_shown(world, late.id)
    assert result["links"] == {} and result["expired"]["reason"] == "result_expired"


def test_a_result_written_hours_before_its_job_finished_is_asked_for_from_the_jobs_receipt(world):
    job = world.ingestion.ingest(world.upload(1, photo(1)))
    assert job is not None
    message = world.finish_task(job.id)  # the node writes the result now
    world.clock.advance(3 * 3600)  # and its completion is processed three hours later (a backlog)
    done = world.completion.handle(message)
    assert done.finished_at is not None and done.finished_at - job.received_at >= timedelta(hours=3)
    world.clock.advance(KEPT.total_seconds() - 3600)  # written + kept + 2 h, still before finished + kept
    del world.photos.results[done.result_path or ""]  # what the lifecycle rule may do from written + kept on
    result = result_shown(world, done.id)
    assert result["links"] == {} and result["expired"]["reason"] == "result_expired"


@dataclass
class Checks:
    """The status API's asks whether a result is stored; while `down`, storage fails them (a 503, a broken link)."""

    asked: list[str] = field(default_factory=list)
    down: bool = False


@pytest.fixture
def checks(world: World, monkeypatch: pytest.MonkeyPatch) -> Checks:
    seen, stored = Checks(), world.photos.result_exists

    def result_exists(path: str) -> bool:
        seen.asked.append(path)
        if seen.down:
            raise TransientError(f"result {path}: 503 Server Busy")
        return stored(path)

    monkeypatch.setattr(world.photos, "result_exists", result_exists)
    return seen


def shown_without_downloads(world: World, job_id: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The result as GET shows it; a download of the result by the API fails the test (a HEAD tells enough)."""
    with monkeypatch.context() as patch:
        patch.setattr(world.photos, "read_result", lambda path: pytest.fail(f"the status API downloaded {path}"))
        return result_shown(world, job_id)


def test_the_status_api_asks_for_a_results_properties_and_downloads_nothing(world, checks, monkeypatch):
    owner = succeeded_owner(world, photo(1))
    world.clock.advance(KEPT.total_seconds() + DAY_S)
    assert set(shown_without_downloads(world, owner.id, monkeypatch)["links"]) == {"result", "overlay"}
    del world.photos.results[owner.result_path or ""]
    assert shown_without_downloads(world, owner.id, monkeypatch)["expired"]["reason"] == "result_expired"
    assert checks.asked == [owner.result_path] * 2


def test_storage_is_not_asked_while_no_result_can_have_expired_yet(world, checks, monkeypatch):
    data = photo(1)
    owner = succeeded_owner(world, data)
    world.clock.advance(REUSE_MARGIN.total_seconds() - 60)
    late = world.ingestion.ingest(world.upload(2, data))
    assert late is not None and late.cached_from == owner.id
    for job in (owner, late):  # the owner's within `kept` of its receipt; the cached job's within the margin
        assert set(shown_without_downloads(world, job.id, monkeypatch)["links"]) == {"result", "overlay"}
    assert checks.asked == []


def test_a_result_check_storage_fails_answers_the_links_and_the_next_get_finds_the_expiry(world, checks):
    owner = succeeded_owner(world, photo(1))
    world.clock.advance(KEPT.total_seconds() + DAY_S)
    del world.photos.results[owner.result_path or ""]
    checks.down = True
    reply = api_of(world).handle("get", {"id": owner.id}, {}, {}, b"")
    assert reply.status == 200 and reply.body is not None and "expired" not in reply.body["result"]
    assert set(reply.body["result"]["links"]) == {"result", "overlay"} and checks.asked == [owner.result_path]
    checks.down = False  # storage answers again: the expiry is found, under an ETag the client does not hold
    again = api_of(world).handle("get", {"id": owner.id}, {}, {"If-None-Match": reply.headers["ETag"]}, b"")
    assert again.status == 200 and again.body is not None and again.body["result"]["expired"]["status"] == 410
