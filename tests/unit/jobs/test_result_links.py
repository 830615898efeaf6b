"""Result links come from one renderer (`document.ResultLinks`): the webhook of a succeeded job carries the
links the status API shows, without the finisher depending on the API."""

from __future__ import annotations

from datetime import timedelta

from shared.jobs import document
from shared.jobs.api import JobsApi
from shared.jobs.finisher import Finisher
from shared.jobs.models import JobState
from tests.unit.jobs.fakes import MemoryOutbox
from tests.unit.jobs.test_pipeline import World


def test_a_succeeded_jobs_event_carries_the_links_the_api_shows():
    world = World()
    outbox = MemoryOutbox()
    world.finisher = world.completion.finisher = Finisher(
        world.store, outbox, world.clock, links=document.ResultLinks(world.photos)
    )
    job = world.ingestion.ingest(world.upload(1))
    assert job is not None
    done = world.completion.handle(world.finish_task(job.id))
    [(_, sent)] = outbox.events.values()
    api = JobsApi(world.store, world.photos, retry=world.ingestion.retry)
    shown = api.handle("get", {"id": done.id}, {}, {}, b"").body
    assert shown is not None and sent["result"]["links"] == shown["result"]["links"]
    assert sent["result"]["links"] == {
        "result": f"memory://results/{job.id}/result.json?ttl=900",
        "overlay": f"memory://results/{job.id}/overlay.jpg?ttl=900",
    }


def test_only_a_succeeded_job_with_a_result_has_links():
    world = World()
    links = document.ResultLinks(world.photos, ttl=timedelta(minutes=1))
    job = world.ingestion.ingest(world.upload(1))
    assert job is not None and job.state is JobState.QUEUED and links(job) == {}
    failed = world.finisher.finish(job, JobState.FAILED, reason="inference_failed")
    assert links(failed) == {} and document.public(failed)["result"] is None
