"""A terminal job's `notifications` messages are queued only once the job is marked published
(shared/jobs/finisher.py), on Azurite with the real webhook service: a publisher that read the job before
`sitelens erase` and publishes after it finds the job gone at its mark and queues nothing, so no dispatcher ever
sends the erased job's document; a publisher that dies between its mark and the queueing leaves its delivery
pending, and the webhook sweep sends it once it is past the lost-message grace; a publisher whose mark failed
leaves the job unpublished, and the publish that retries it queues the delivery already written at once; of two
publishers racing, only the one whose mark wrote it queues the delivery."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from shared.adapters.azure_erasure import TableEventErasure
from shared.adapters.azure_job_store import TableJobStore
from shared.adapters.azure_photo_store import BlobPhotoStore
from shared.adapters.azure_webhook_store import TableWebhookStore
from shared.errors import NotFound, TransientError
from shared.jobs import ids
from shared.jobs.erasure import Erasure
from shared.jobs.finisher import Finisher
from shared.jobs.models import Job, JobState
from shared.jobs.outbox import WebhookOutbox
from shared.uploads.azure_table_reservations import TableReservationStore
from shared.webhooks.endpoint import EndpointPolicy
from shared.webhooks.models import DeliveryState
from shared.webhooks.service import LOST_MESSAGE_GRACE, WebhookService
from tests.support.receiver import Receiver
from tests.unit.jobs.fakes import Clock

pytestmark = pytest.mark.integration


class ProcessDied(Exception):
    """The publishing process ending where it stood."""


class DispatchedAtOnce:
    """The notifications queue with a dispatcher that takes each message the moment it is queued, the earliest any
    dispatcher can: a message queued in any window, however short, is sent. `dying`: the next send is where the
    publishing process dies, before the message is queued."""

    def __init__(self) -> None:
        self.service: WebhookService | None = None
        self.queued: list[tuple[str, str]] = []
        self.dying = False

    def send(self, event_id: str, subscription_id: str, delay: timedelta) -> None:
        if self.dying:
            self.dying = False
            raise ProcessDied
        self.queued.append((event_id, subscription_id))
        assert self.service is not None
        self.service.deliver(event_id, subscription_id)


class MarkFails(TableJobStore):
    """The real job store, whose next `failing_marks` writes marking a job published time out before being made."""

    failing_marks = 0
    before_mark: Callable[[], object] | None = None  # run once, just before the next mark: another publisher's turn

    def update(self, job: Job) -> Job:
        if job.event_published and self.before_mark is not None:
            other, self.before_mark = self.before_mark, None
            other()
        if job.event_published and self.failing_marks:
            self.failing_marks -= 1
            raise TransientError(f"job {job.id}: the table update timed out")
        return super().update(job)


@dataclass
class Publishing:
    """A job store, the webhook service and `sitelens erase` on Azurite tables of their own, with the test's clock."""

    store: MarkFails
    webhooks: WebhookService
    queue: DispatchedAtOnce
    finisher: Finisher
    erasure: Erasure
    receiver: Receiver
    clock: Clock

    def terminal_job(self, n: int) -> Job:
        """A job its Batch task failed, stored terminal with its event not yet published."""
        name = f"north-yard/cam-1/2026/11/22/p{n}.jpg"
        job = self.store.create(Job(ids.job_id_for(name), "north-yard", "cam-1", f"p{n}", name, "e", self.clock()))
        assert job is not None
        failed = JobState.FAILED
        return self.store.update(job.advance(failed, self.clock(), event_id=ids.event_id(job.id, failed),
                                             reason="task_failed", detail="its task failed"))  # fmt: skip

    def sent_jobs(self) -> list[str]:
        """The job of each document the receiver was sent, in order."""
        return [json.loads(request.body)["data"]["id"] for request in self.receiver.received]


@pytest.fixture
def publishing(storage_connection: str, unique: str) -> Iterator[Publishing]:
    prefix, clock, queue = f"t{unique}", Clock(), DispatchedAtOnce()
    tables = TableServiceClient.from_connection_string(storage_connection)
    blobs = BlobServiceClient.from_connection_string(storage_connection)
    photos = BlobPhotoStore(blobs, account_key=blobs.credential.account_key, https_only=False)
    photos.ensure_containers()
    store, events = MarkFails(tables, prefix=prefix), TableEventErasure(tables, prefix=prefix)
    webhooks = WebhookService(TableWebhookStore(tables, prefix=prefix), queue, EndpointPolicy(allow_loopback=True),
                              clock=clock)  # fmt: skip
    queue.service = webhooks
    finisher = Finisher(store, WebhookOutbox(webhooks, clock), clock, events=events)
    erasure = Erasure(store, photos, events, TableReservationStore(tables, prefix=prefix))
    with Receiver() as receiver:
        webhooks.subscribe(receiver.url, None, None)
        yield Publishing(store, webhooks, queue, finisher, erasure, receiver, clock)


def test_a_stale_publisher_whose_mark_finds_the_job_erased_queues_nothing(publishing: Publishing) -> None:
    world = publishing
    stale = world.terminal_job(1)  # read by two publishers (a completion and its duplicate) before either marked it
    assert world.finisher.publish(stale).event_published
    assert world.sent_jobs() == [stale.id]  # the first publisher's message, sent
    world.erasure.erase(world.erasure.plan(stale.id))

    with pytest.raises(NotFound):
        world.finisher.publish(stale)  # the second publisher goes on with what it read

    # Its message was never queued: no dispatcher, however quick, sent the erased job's document again.
    assert len(world.queue.queued) == 1
    assert world.sent_jobs() == [stale.id]


def test_a_publisher_dying_between_its_mark_and_the_queueing_leaves_the_delivery_to_the_sweep(
    publishing: Publishing,
) -> None:
    world = publishing
    job = world.terminal_job(2)
    world.queue.dying = True
    with pytest.raises(ProcessDied):
        world.finisher.publish(job)
    assert world.store.get(job.id).event_published and world.queue.queued == []
    # The reconciler's publish of the job still open finds it published: it closes it and queues nothing.
    assert world.finisher.publish(world.store.get(job.id)).event_published
    assert world.store.open_ids() == [] and world.queue.queued == []
    assert world.webhooks.sweep() == 0  # not yet past the lost-message grace

    world.clock.advance((LOST_MESSAGE_GRACE + timedelta(seconds=1)).total_seconds())

    assert world.webhooks.sweep() == 1
    assert world.sent_jobs() == [job.id]
    [(event_id, subscription_id)] = world.queue.queued
    assert event_id == ids.event_id(job.id, JobState.FAILED)
    assert world.webhooks.store.get_delivery(event_id, subscription_id).state is DeliveryState.DELIVERED


def test_a_publish_retried_after_its_mark_failed_queues_the_delivery_at_once(publishing: Publishing) -> None:
    world = publishing
    job = world.terminal_job(3)
    world.store.failing_marks = 1
    with pytest.raises(TransientError):
        world.finisher.publish(job)  # the delivery is written, the mark fails: the handler's message is retried
    stored = world.store.get(job.id)
    assert not stored.event_published and world.queue.queued == []

    # The host's retry (or the reconciler's publish of the job still open) finds the delivery written and queues it
    # once its mark returned, at once: the clock never moves, the sweep never runs.
    assert world.finisher.publish(stored).event_published

    [(event_id, subscription_id)] = world.queue.queued
    assert event_id == ids.event_id(job.id, JobState.FAILED)
    assert world.sent_jobs() == [job.id]
    assert world.webhooks.store.get_delivery(event_id, subscription_id).state is DeliveryState.DELIVERED
    assert world.store.open_ids() == []


def test_a_publish_retried_after_the_sweep_sent_the_delivery_queues_it_no_more(publishing: Publishing) -> None:
    world = publishing
    job = world.terminal_job(4)
    world.store.failing_marks = 1
    with pytest.raises(TransientError):
        world.finisher.publish(job)
    world.clock.advance((LOST_MESSAGE_GRACE + timedelta(seconds=1)).total_seconds())
    assert world.webhooks.sweep() == 1  # the retry came late: the sweep sent the delivery first
    assert world.sent_jobs() == [job.id]

    assert world.finisher.publish(world.store.get(job.id)).event_published

    assert len(world.queue.queued) == 1  # the sweep's message only: an attempted delivery is not queued again
    assert world.sent_jobs() == [job.id]


def test_of_two_racing_publishers_only_the_one_whose_mark_wrote_it_queues_the_delivery(publishing: Publishing) -> None:
    world = publishing
    job = world.terminal_job(5)  # read by both (the completion and the reconciler) before either marked it
    world.store.before_mark = lambda: world.finisher.publish(job)  # the other records, marks and queues first

    assert world.finisher.publish(job).event_published  # this one's mark lost: the job as the other stored it

    assert len(world.queue.queued) == 1  # one message for the delivery, not a second racing for its attempt
    assert world.sent_jobs() == [job.id]
    assert world.store.open_ids() == []


def test_a_publisher_whose_mark_lost_to_a_write_that_marked_nothing_marks_again_and_queues(
    publishing: Publishing,
) -> None:
    world = publishing
    job = world.terminal_job(6)

    def later_version_noted() -> None:  # ingestion notes a later version written under the photo's name
        stored = world.store.get(job.id)
        world.store.update(replace(stored, later_writes=1, later_etag='"0x2"'))

    world.store.before_mark = later_version_noted

    assert world.finisher.publish(job).event_published

    assert len(world.queue.queued) == 1  # at once: no one else would have queued it
    assert world.sent_jobs() == [job.id]
    assert world.store.get(job.id).later_writes == 1  # the other write stands
    assert world.store.open_ids() == []
