"""A job whose process died between its `open` entry and its site index entry, on the real parts
(tests/integration/jobs/real_world.py): no blob delivery may come to write the site entry again (a retry has none,
and a late one finds the job ended and writes nothing), so the reconciler writes it before it moves the job on.
Without it the job is never listed for its site, and record expiry, which finds jobs through that entry, never
deletes its rows. It does so once per job in a process, not at every sweep that re-drives the job again."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.core.pipeline.transport import RequestsTransport

from shared.adapters.azure_job_store import TableJobStore
from shared.errors import TransientError
from shared.jobs import ids
from shared.jobs.models import JobState
from shared.jobs.reconciler import GIVE_UP_AFTER
from tests.integration.jobs.real_world import STUCK_AFTER, RealWorld

pytestmark = pytest.mark.integration


def dies_before_the_site_entry(store: TableJobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's next insert of a site index entry never reaches the service, as when its process is killed."""
    real = store._jobs.create_entity

    def create_entity(entity: dict[str, Any], **kwargs: Any) -> Any:
        if str(entity["PartitionKey"]).startswith("site~"):
            raise ServiceRequestError("connection reset before the site entry was sent")
        return real(entity, **kwargs)

    monkeypatch.setattr(store._jobs, "create_entity", create_entity)


def listed(world: RealWorld) -> list[str]:
    jobs, _ = world.store.list_site(world.site, state=None, since=None, limit=100, token=None)
    return [job.id for job in jobs]


def test_a_retry_that_died_before_its_site_entry_is_listed_once_the_reconciler_drives_it(real_world, monkeypatch):
    world = real_world
    job = world.ingestion.ingest(world.upload(1))
    assert job is not None
    original = world.finisher.finish(job, JobState.FAILED, reason="task_failed", detail="its task failed")
    world.clock.advance(60)  # the retry is received after the job it retries, and listed after it
    dies_before_the_site_entry(world.store, monkeypatch)
    with pytest.raises(TransientError):  # the client is answered 503; it may never ask again
        world.ingestion.retry(original)
    monkeypatch.undo()
    retry_id = ids.job_id_for(original.blob_name, original.id)
    assert world.store.get(retry_id).state is JobState.RECEIVED and retry_id in world.store.open_ids()
    assert listed(world) == [original.id]

    world.clock.advance((STUCK_AFTER + timedelta(minutes=1)).total_seconds())
    world.reconciler.run()

    assert world.store.get(retry_id).state is JobState.QUEUED
    assert listed(world) == [original.id, retry_id]


def test_a_job_given_up_after_dying_before_its_site_entry_is_listed(real_world, monkeypatch):
    world = real_world
    name = world.upload(2)
    dies_before_the_site_entry(world.store, monkeypatch)
    with pytest.raises(TransientError):
        world.ingestion.ingest(name)
    monkeypatch.undo()
    job_id = ids.job_id_for(name)
    assert listed(world) == []

    world.clock.advance((GIVE_UP_AFTER + timedelta(hours=1)).total_seconds())  # no reconciler ran meanwhile
    world.reconciler.run()

    given_up = world.store.get(job_id)
    assert (given_up.state, given_up.reason) == (JobState.FAILED, "timed_out")
    assert listed(world) == [job_id]


def requests_by_status(monkeypatch: pytest.MonkeyPatch) -> Counter[int]:
    """Every storage request made from now on, counted by the status it was answered."""
    answered: Counter[int] = Counter()
    send = RequestsTransport.send

    def counted(transport: RequestsTransport, request: Any, **kwargs: Any) -> Any:
        response = send(transport, request, **kwargs)
        answered[response.status_code] += 1
        return response

    monkeypatch.setattr(RequestsTransport, "send", counted)
    return answered


def test_a_job_redriven_at_every_sweep_of_a_batch_outage_has_its_entries_written_again_once(real_world, monkeypatch):
    """Batch down: each RECEIVED job's re-drive fails at every sweep, and a job that errs is looked at again at the
    next. Its entries are made sure of at the first sweep only: four table requests more at each, three of them
    inserts refused 409 (failed dependency calls in Application Insights), for entries that were there."""
    world = real_world

    def batch_down(request: Any) -> None:
        raise TransientError("Batch unreachable")

    monkeypatch.setattr(world.submitter, "submit", batch_down)
    names = [world.upload(n) for n in (3, 4, 5)]
    for name in names:
        with pytest.raises(TransientError):
            world.ingestion.ingest(name)
    world.clock.advance((STUCK_AFTER + timedelta(minutes=1)).total_seconds())

    sweeps = []
    for _ in range(2):
        with monkeypatch.context() as counting:
            answered = requests_by_status(counting)
            assert world.reconciler.run().errors == len(names)
        sweeps.append(answered)

    first, second = sweeps
    assert first[409] - second[409] == 3 * len(names)
    assert first.total() - second.total() == 4 * len(names)
    assert {world.store.get(ids.job_id_for(name)).state for name in names} == {JobState.RECEIVED}
