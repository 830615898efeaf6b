"""The second round for a photo whose blob trigger failed every try: re-ingested, settled on the last try,
and handed to an operator only when even that fails; wired to the app and host.json as they are."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulators.functions_host.blob_trigger import trigger_message
from emulators.functions_host.index import index_app, load_app
from shared.errors import TransientError
from shared.jobs import ids
from shared.jobs.erasure import JOBS, Erasure
from shared.jobs.models import JobState
from shared.jobs.poisoned_photos import (
    BLOB_FUNCTION_ID,
    OPERATOR_QUEUE,
    POISON_QUEUE,
    REASON,
    TRIES,
    Outcome,
    PoisonedPhotos,
)
from tests.unit.api.fakes import MemoryWebhookStore
from tests.unit.jobs.fakes import MemoryPhotos, NoRoutes
from tests.unit.jobs.test_pipeline import World
from tests.unit.uploads.fakes import MemoryReservations

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def world() -> World:
    return World()


def second_round(world: World) -> PoisonedPhotos:
    return PoisonedPhotos(ingestion=lambda: world.ingestion, store=lambda: world.store,
                          finisher=lambda: world.finisher, clock=world.clock)  # fmt: skip


def poisoned(name: str, etag: str = '"0x1"', function_id: str = BLOB_FUNCTION_ID, container: str = "photos") -> bytes:
    """The message the host moved to the poison queue, built by the local host's own writer."""
    return trigger_message(function_id, container, name, etag).encode()


def storage_blip(world: World) -> None:
    def photo_info(blob_name: str) -> None:
        raise TransientError("storage did not answer")

    world.photos.photo_info = photo_info  # type: ignore[assignment, method-assign]


def storage_back(world: World) -> None:
    del world.photos.photo_info  # the stand-in above goes: the fake's own answers again


class HostDied(BaseException):
    """The process running a try killed mid-ingestion: nothing after it in the try runs."""


class DyingIngestion:
    def __init__(self, photos: MemoryPhotos) -> None:
        self.photos = photos  # the photo store the round asks whether the photo is still there

    def ingest(self, blob_name: str) -> None:
        raise HostDied


def dying_round(world: World) -> PoisonedPhotos:
    dying = DyingIngestion(world.photos)
    return PoisonedPhotos(ingestion=lambda: dying, store=lambda: world.store,  # type: ignore[arg-type, return-value]
                          finisher=lambda: world.finisher, clock=world.clock)  # fmt: skip


class UnreadableRouting:
    """routing.json malformed on an instance that has read no routes: it raises, as BlobRouting does."""

    def weights(self, site: str | None = None) -> list[tuple[str, int]]:
        raise TransientError("models/routing.json is malformed; no routes to keep in force")


def test_a_try_ingests_the_photo_again(world: World) -> None:
    name = world.upload(1)
    assert second_round(world).handle(poisoned(name), dequeue_count=1) is Outcome.INGESTED
    job = world.store.get(ids.job_id_for(name))
    assert job.state is JobState.QUEUED and list(world.batch.tasks) == [job.id]


def test_a_try_before_the_last_raises_so_the_host_delivers_it_again(world: World) -> None:
    name = world.upload(1)
    storage_blip(world)
    for count in range(1, TRIES - 1):
        with pytest.raises(TransientError):
            second_round(world).handle(poisoned(name), dequeue_count=count)
    assert world.store.jobs == {}
    # the penultimate try records the job before it ingests, so no death in the last try can lose the photo
    with pytest.raises(TransientError):
        second_round(world).handle(poisoned(name, etag='"0x7"'), dequeue_count=TRIES - 1)
    job = world.store.get(ids.job_id_for(name))
    assert (job.state, job.blob_etag, world.store.open_ids()) == (JobState.RECEIVED, '"0x7"', [job.id])


@pytest.mark.parametrize("penultimate_ran", [True, False], ids=["penultimate-failed", "penultimate-lost-too"])
@pytest.mark.parametrize("recovers", [True, False], ids=["storage-back", "storage-never-back"])
def test_a_host_that_dies_in_the_last_try_leaves_a_job_the_reconciler_ends(
    world: World, penultimate_ran: bool, recovers: bool
) -> None:
    # GIVEN a photo whose penultimate try failed (or died before it did anything) and whose last try died
    # mid-ingestion: past the count the host never runs the message again
    name = world.upload(1)
    storage_blip(world)
    if penultimate_ran:
        with pytest.raises(TransientError):
            second_round(world).handle(poisoned(name), dequeue_count=TRIES - 1)
    with pytest.raises(HostDied):
        dying_round(world).handle(poisoned(name), dequeue_count=TRIES)
    # THEN the photo has its job, open, and the reconciler ends it: submitted once storage is back, else
    # failed at the 24 h bound
    job_id = ids.job_id_for(name)
    assert world.store.get(job_id).state is JobState.RECEIVED and world.store.open_ids() == [job_id]
    if recovers:
        storage_back(world)
        world.clock.advance(20 * 60)
        world.reconciler.run()
        job = world.store.get(job_id)
        assert job.state is JobState.QUEUED and world.batch.tasks[job_id].task_token == job.task_token
    else:
        world.clock.advance(25 * 3600)
        world.reconciler.run()
        job = world.store.get(job_id)
        assert (job.state, job.reason) == (JobState.FAILED, "timed_out")
        assert world.outbox.states() == [JobState.FAILED] and world.store.open_ids() == []


def test_a_host_that_dies_after_finding_the_photo_stored_leaves_its_job_recorded(world: World) -> None:
    name = world.upload(1)
    with pytest.raises(HostDied):
        dying_round(world).handle(poisoned(name), dequeue_count=TRIES)
    job_id = ids.job_id_for(name)
    assert world.store.get(job_id).state is JobState.RECEIVED and world.store.open_ids() == [job_id]


@pytest.mark.parametrize("count", [TRIES - 1, TRIES], ids=["penultimate", "last"])
def test_a_photo_deleted_while_its_message_waited_gets_no_job(world: World, count: int) -> None:
    # GIVEN a photo the first round recorded no job for, deleted before the tries that record one first
    name = world.upload(1)
    del world.photos.photos[name]
    # THEN they answer as ingestion does (nothing to do) and record nothing for the reconciler to fail
    assert second_round(world).handle(poisoned(name), dequeue_count=count) is Outcome.INGESTED
    world.clock.advance(25 * 3600)
    world.reconciler.run()
    assert world.store.jobs == {} and world.outbox.states() == []


def test_a_photo_erased_while_its_message_waited_stays_erased(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a photo validation rejected whose move to quarantine failed every try of both rounds but the last two
    name = world.upload(1, data=b"not a jpeg at all")

    def quarantine(*args: object, **kwargs: object) -> None:
        raise TransientError("quarantine write refused")

    monkeypatch.setattr(world.photos, "quarantine", quarantine)
    for _ in range(TRIES):
        with pytest.raises(TransientError):
            world.ingestion.ingest(name)
    for count in range(1, TRIES - 1):
        with pytest.raises(TransientError):
            second_round(world).handle(poisoned(name), dequeue_count=count)
    monkeypatch.undo()
    # AND the photo erased meanwhile (its job is REJECTED, its event published)
    job = world.store.get(ids.job_id_for(name))
    assert job.state is JobState.REJECTED and job.event_published
    erasure = Erasure(world.store, world.photos, MemoryWebhookStore(), MemoryReservations())
    assert erasure.erase(erasure.plan(job.id))[JOBS] == 1
    # THEN the last two tries bring back no row naming it, and no event follows
    for count in (TRIES - 1, TRIES):
        assert second_round(world).handle(poisoned(name), dequeue_count=count) is Outcome.INGESTED
    world.clock.advance(25 * 3600)
    world.reconciler.run()
    assert world.store.jobs == {} and world.outbox.states() == [JobState.REJECTED]


@pytest.mark.parametrize("routing_fixed", [True, False], ids=["routing-fixed", "routing-never-fixed"])
@pytest.mark.parametrize("recorded_by", ["ingestion", "the-round"])
def test_a_photo_routing_cannot_place_ends_alike_whoever_recorded_its_job(
    world: World, recorded_by: str, routing_fixed: bool
) -> None:
    # GIVEN routing that cannot answer all through the round (docs/models.md), and the photo's job recorded by
    # the first round's ingestion or by the round's penultimate try
    name = world.upload(1)
    world.ingestion.routes = UnreadableRouting()
    if recorded_by == "ingestion":
        with pytest.raises(TransientError):
            world.ingestion.ingest(name)
    with pytest.raises(TransientError):
        second_round(world).handle(poisoned(name), dequeue_count=TRIES - 1)
    # THEN the last try leaves it to the reconciler, RECEIVED with the bytes validation accepted and no model
    assert second_round(world).handle(poisoned(name), dequeue_count=TRIES) is Outcome.JOB_EXISTS
    job = world.store.get(ids.job_id_for(name))
    assert (job.state, job.model, world.store.open_ids()) == (JobState.RECEIVED, None, [job.id])
    assert job.content_sha256 and job.quality is not None
    # AND it is routed once the document reads again, or fails `timed_out` at the give-up bound
    if routing_fixed:
        world.ingestion.routes = NoRoutes()
        world.clock.advance(20 * 60)
        world.reconciler.run()
        job = world.store.get(job.id)
        assert (job.state, job.model) == (JobState.QUEUED, world.ingestion.default_model)
        assert world.batch.tasks[job.id].task_token == job.task_token
    else:
        world.clock.advance(25 * 3600)
        world.reconciler.run()
        job = world.store.get(job.id)
        assert (job.state, job.reason) == (JobState.FAILED, "timed_out")


def test_ingestion_carries_on_the_job_the_round_recorded_first(world: World) -> None:
    name = world.upload(1)
    assert second_round(world).handle(poisoned(name, etag='"0x1"'), dequeue_count=TRIES - 1) is Outcome.INGESTED
    job = world.store.get(ids.job_id_for(name))
    assert job.state is JobState.QUEUED and job.content_sha256 and job.task_token
    assert list(world.batch.tasks) == [job.id] and world.batch.tasks[job.id].task_token == job.task_token


def test_the_last_try_fails_the_job_the_penultimate_recorded(world: World) -> None:
    name = world.upload(1)
    storage_blip(world)
    with pytest.raises(TransientError):
        second_round(world).handle(poisoned(name), dequeue_count=TRIES - 1)
    assert second_round(world).handle(poisoned(name), dequeue_count=TRIES) is Outcome.FAILED
    job = world.store.get(ids.job_id_for(name))
    assert (job.state, job.reason, len(world.store.jobs)) == (JobState.FAILED, REASON, 1)
    assert world.outbox.states() == [JobState.FAILED] and world.store.open_ids() == []


def test_a_job_ingestion_recorded_stays_with_the_reconciler_even_unvalidated(world: World) -> None:
    # GIVEN a job ingestion recorded before this round (it carries a task token) whose photo it cannot read
    name = world.upload(1)

    def read_photo(blob_name: str, etag: str, max_bytes: int) -> bytes:
        raise TransientError("storage did not answer")

    world.photos.read_photo = read_photo  # type: ignore[method-assign]
    with pytest.raises(TransientError):
        world.ingestion.ingest(name)
    # THEN the last try leaves it to the reconciler, as a job of the first round always was
    assert second_round(world).handle(poisoned(name), dequeue_count=TRIES) is Outcome.JOB_EXISTS
    job = world.store.get(ids.job_id_for(name))
    assert (job.state, job.content_sha256) == (JobState.RECEIVED, None) and job.task_token


def test_a_recorded_job_that_ingestion_took_further_stays_with_the_reconciler(world: World) -> None:
    # GIVEN the job the penultimate try recorded, validated by the last try, whose submission Batch refuses
    name = world.upload(1)
    storage_blip(world)
    with pytest.raises(TransientError):
        second_round(world).handle(poisoned(name, etag='"0x1"'), dequeue_count=TRIES - 1)
    storage_back(world)
    world.batch.down = True
    assert second_round(world).handle(poisoned(name, etag='"0x1"'), dequeue_count=TRIES) is Outcome.JOB_EXISTS
    # THEN it is not failed: it goes through once Batch is back
    job = world.store.get(ids.job_id_for(name))
    assert job.state is JobState.RECEIVED and job.content_sha256 and world.store.open_ids() == [job.id]
    world.batch.down = False
    world.clock.advance(20 * 60)
    world.reconciler.run()
    assert world.store.get(job.id).state is JobState.QUEUED


def test_the_last_try_records_a_photo_without_a_job_failed(world: World) -> None:
    name = world.upload(1)
    storage_blip(world)
    assert second_round(world).handle(poisoned(name, etag='"0x7"'), dequeue_count=TRIES) is Outcome.FAILED
    job = world.store.get(ids.job_id_for(name))
    assert (job.state, job.reason, job.blob_etag) == (JobState.FAILED, REASON, '"0x7"')
    assert (job.site, job.device, job.photo_id) == ("north-yard", "cam-1", "IMG_1")
    assert job.detail is not None and "TransientError: storage did not answer" in job.detail
    assert world.outbox.states() == [JobState.FAILED] and world.store.open_ids() == []  # published, closed


def test_the_last_try_leaves_an_existing_job_to_the_reconciler(world: World) -> None:
    name = world.upload(1)
    world.batch.down = True
    with pytest.raises(TransientError):
        second_round(world).handle(poisoned(name), dequeue_count=1)  # the job is recorded, its task is not
    world.store.open.clear()  # as if its open-index entry had been lost
    assert second_round(world).handle(poisoned(name), dequeue_count=TRIES) is Outcome.JOB_EXISTS
    job = world.store.get(ids.job_id_for(name))
    assert job.state is JobState.RECEIVED and world.store.open_ids() == [job.id]
    world.batch.down = False
    world.clock.advance(20 * 60)
    world.reconciler.run()
    assert world.store.get(job.id).state is JobState.QUEUED


def test_the_last_try_hands_the_message_to_an_operator_when_no_job_can_be_recorded(world: World) -> None:
    name = world.upload(1)
    storage_blip(world)

    def tables_down() -> None:
        raise TransientError("tables did not answer")

    round_ = PoisonedPhotos(ingestion=lambda: world.ingestion, store=tables_down,  # type: ignore[arg-type]
                            finisher=lambda: world.finisher, clock=world.clock)  # fmt: skip
    assert round_.handle(poisoned(name), dequeue_count=TRIES) is Outcome.FOR_AN_OPERATOR
    assert Outcome.FOR_AN_OPERATOR.for_an_operator and not Outcome.FAILED.for_an_operator


def test_ingestion_that_cannot_even_be_built_is_settled_on_the_last_try(world: World) -> None:
    name = world.upload(1)

    def misconfigured() -> None:
        raise TransientError("SITELENS_BATCH_URL is not set")

    round_ = PoisonedPhotos(ingestion=misconfigured, store=lambda: world.store,  # type: ignore[arg-type]
                            finisher=lambda: world.finisher, clock=world.clock)  # fmt: skip
    with pytest.raises(TransientError):
        round_.handle(poisoned(name), dequeue_count=1)
    assert round_.handle(poisoned(name), dequeue_count=TRIES) is Outcome.FAILED


@pytest.mark.parametrize(
    "body",
    [
        poisoned("north-yard/cam-1/2026/11/22/IMG_1.jpg", function_id="Host.Functions.on_other_blob"),
        poisoned("north-yard/cam-1/2026/11/22/IMG_1.jpg", container="quarantine"),
        b"not json",
        json.dumps({"FunctionId": BLOB_FUNCTION_ID, "ContainerName": "photos"}).encode(),
    ],
)
def test_a_message_that_is_not_a_photos_trigger_goes_to_an_operator_untouched(world: World, body: bytes) -> None:
    world.upload(1)
    assert second_round(world).handle(body, dequeue_count=1) is Outcome.FOR_AN_OPERATOR
    assert world.store.jobs == {} and world.photos.reads == 0


def test_the_constants_are_the_apps_and_host_jsons() -> None:
    host = json.loads((REPO / "host.json").read_text())
    assert host["extensions"]["queues"]["maxDequeueCount"] == TRIES
    specs = {s.name: s for s in index_app(load_app(REPO))}
    uploaded = specs["on_photo_uploaded"]
    assert uploaded.function_id == BLOB_FUNCTION_ID and str(uploaded.trigger.get("path")).startswith("photos/")
    second = specs["on_photo_poisoned"]
    assert second.trigger.type == "queueTrigger" and second.trigger.get("queueName") == POISON_QUEUE
    assert [b.get("queueName") for b in second.outputs()] == [OPERATOR_QUEUE]
