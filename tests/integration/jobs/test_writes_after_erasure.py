"""Writers that read a job before `sitelens erase` or record expiry deleted it and write after, on Azurite: what
they write would be found by nothing (erasure and expiry find a job's rows through the job) and kept for good, so
each finds the job gone and takes its write back. A publisher that read the job terminal but unpublished, and
publishes after another marked it and the job was erased, erases its event again (shared/jobs/finisher.py);
feedback posted while the job goes is deleted again (shared/adapters/azure_feedback_store.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.data.tables import TableServiceClient

from shared.adapters.azure_erasure import TableEventErasure
from shared.adapters.azure_job_store import TableJobStore
from shared.adapters.azure_record_index import TableRecordIndex
from shared.errors import NotFound
from shared.jobs import ids
from shared.jobs.erasure import Erasure
from shared.jobs.finisher import Finisher
from shared.jobs.models import Job, JobState
from shared.jobs.record_expiry import Expiry, RecordExpiry
from shared.uploads.azure_table_reservations import TableReservationStore
from shared.webhooks.models import DeliveryState
from tests.integration.jobs.real_world import RealWorld
from tests.integration.jobs.test_erase_command import kept_by
from tests.unit.jobs.fakes import Clock

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
KEEP = timedelta(days=30)


def webhook_rows(world: RealWorld, job: Job) -> list[str]:
    kept = kept_by(world, job)
    return [row for where in ("events", "deliveries", "delivery index") for row in kept[where]]


def test_a_stale_publish_after_the_erasure_takes_its_event_back(real_world):
    world = real_world
    events = TableEventErasure(world.tables, prefix=world.prefix)
    finisher = Finisher(world.store, world.outbox, world.clock, events=events)
    subscription, _ = world.outbox.webhooks.subscribe("https://127.0.0.1/hook", None, None)
    job = world.ingestion.ingest(world.upload(1))
    assert job is not None
    # Its terminal write, read by two publishers (a completion and its duplicate) before either marked it.
    failed = JobState.FAILED
    stale = world.store.update(job.advance(failed, world.clock(), event_id=ids.event_id(job.id, failed),
                                           reason="task_failed", detail="its task failed"))  # fmt: skip
    assert finisher.publish(stale).event_published
    erasure = Erasure(world.store, world.photos, events, TableReservationStore(world.tables, prefix=world.prefix))
    erasure.erase(erasure.plan(job.id))
    assert webhook_rows(world, stale) == []

    with pytest.raises(NotFound):
        finisher.publish(stale)  # the second publisher goes on with what it read

    assert webhook_rows(world, stale) == []
    # It queued nothing (tests/integration/jobs/test_messages_after_the_mark.py); a message for the event taken
    # now, the first publisher's taken late, finds no delivery: dropped, nothing is sent.
    event_id = ids.event_id(job.id, failed)
    assert world.outbox.webhooks.deliver(event_id, subscription.id) is DeliveryState.CANCELLED


class Tables:
    """A job store on Azurite whose requests a test can act between, and what record expiry runs with."""

    def __init__(self, connection: str, unique: str) -> None:
        self.prefix, self.clock = f"t{unique}", Clock()
        self.before_request: Callable[[Any], None] = lambda request: None
        self.clock.now = T0
        hooked = TableServiceClient.from_connection_string(connection, raw_request_hook=self._hook)
        self.store = TableJobStore(hooked, prefix=self.prefix)  # the writer's
        self.tables = TableServiceClient.from_connection_string(connection)  # the eraser's, never hooked

    def _hook(self, request: Any) -> None:
        self.before_request(request.http_request)

    def expiry(self) -> RecordExpiry:
        return RecordExpiry(store=TableJobStore(self.tables, prefix=self.prefix),
                            index=TableRecordIndex(self.tables, prefix=self.prefix),
                            events=TableEventErasure(self.tables, prefix=self.prefix),
                            reservations=TableReservationStore(self.tables, prefix=self.prefix), clock=self.clock,
                            keep=KEEP)  # fmt: skip

    def settled_job(self, n: int) -> Job:
        """A job finished with its event published, as expiry and erasure take them."""
        name = f"north-yard/cam-1/2026/11/22/p{n}.jpg"
        job = self.store.create(Job(ids.job_id_for(name), "north-yard", "cam-1", f"p{n}", name, "e", T0))
        assert job is not None
        done = job.advance(JobState.FAILED, T0, event_id=ids.event_id(job.id, JobState.FAILED), reason="task_failed")
        return self.store.update(replace(done, event_published=True))

    def feedback(self, job: Job) -> list[Any]:
        client = self.tables.get_table_client(f"{self.prefix}jobfeedback")
        return list(client.query_entities("PartitionKey eq @job", parameters={"job": job.id}))


def test_feedback_posted_while_the_jobs_records_expire_is_not_kept(storage_connection, unique):
    world = Tables(storage_connection, unique)
    job = world.settled_job(1)
    world.clock.advance((KEEP + timedelta(days=1)).total_seconds())
    expired: list[Expiry] = []

    def expire_while_feedback_is_listed(request: Any) -> None:
        # The writer has read the job and now lists its feedback, for the entry's place: expiry runs meanwhile.
        if not expired and request.method == "GET" and f"{world.prefix}jobfeedback()" in request.url:
            expired.append(world.expiry().run())

    world.before_request = expire_while_feedback_is_listed
    with pytest.raises(NotFound):
        world.store.add_feedback(job.id, {"text": "plate AB12 CDE, driver J. Smith"}, world.clock())

    assert expired == [Expiry(expired=1)]
    assert world.feedback(job) == []


def test_feedback_written_between_the_erasures_feedback_and_its_job_is_erased_with_the_job(storage_connection,
                                                                                          unique):  # fmt: skip
    world = Tables(storage_connection, unique)
    job = world.settled_job(2)
    eraser = TableJobStore(world.tables, prefix=world.prefix)
    assert eraser.erase_feedback(job.id) == 0  # the erasure's first step for the job...
    # ...then the entry, whose writer reads the job before and after it: still there both times.
    world.store.add_feedback(job.id, {"text": "plate AB12 CDE"}, world.clock())
    assert len(world.feedback(job)) == 1

    eraser.erase_job(job)  # ...and last the job's own rows

    assert world.feedback(job) == []


def test_the_app_s_finisher_erases_the_events_of_a_job_found_gone(
    storage_connection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wiring: without an event erasure the finisher only logs, and the stale publish keeps its event."""
    from shared import composition

    monkeypatch.setenv("AzureWebJobsStorage", storage_connection)
    monkeypatch.setenv("SITELENS_TABLE_PREFIX", "wiring")
    for built in (composition.settings, composition.jobs, composition.webhooks, composition.photos,
                  composition.finisher):  # fmt: skip
        built.cache_clear()
    try:
        assert isinstance(composition.finisher().events, TableEventErasure)
    finally:
        for built in (composition.settings, composition.jobs, composition.webhooks, composition.photos,
                      composition.finisher):  # fmt: skip
            built.cache_clear()
