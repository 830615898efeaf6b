"""Result links come from one renderer (`document.ResultLinks`): the webhook of a succeeded job carries the
links the status API shows, without the finisher depending on the API."""

from __future__ import annotations

from datetime import timedelta

from shared.jobs import document
from shared.jobs.api import LINK_WINDOW, JobsApi
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
    api = JobsApi(world.store, world.photos, retry=world.ingestion.retry, clock=world.clock)
    shown = api.handle("get", {"id": done.id}, {}, {}, b"").body
    assert shown is not None
    assert sent["result"]["links"] == {
        "result": f"memory://results/{job.id}/result.json?ttl=900",
        "overlay": f"memory://results/{job.id}/overlay.jpg?ttl=900",
    }
    # The same blobs; the API's links live on to the end of its ETag's window (shared/jobs/api.py).
    for name, link in shown["result"]["links"].items():
        blob, ttl = link.split("?ttl=")
        assert blob == sent["result"]["links"][name].split("?")[0]
        assert document.LINK_TTL.total_seconds() <= int(ttl) <= (document.LINK_TTL + LINK_WINDOW).total_seconds()


def test_only_a_succeeded_job_with_a_result_has_links():
    world = World()
    links = document.ResultLinks(world.photos, ttl=timedelta(minutes=1))
    job = world.ingestion.ingest(world.upload(1))
    assert job is not None and job.state is JobState.QUEUED and links(job) == {}
    failed = world.finisher.finish(job, JobState.FAILED, reason="inference_failed")
    assert links(failed) == {} and document.public(failed)["result"] is None
