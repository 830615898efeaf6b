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
from tests.unit.jobs.test_pipeline import World

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


def test_a_try_ingests_the_photo_again(world: World) -> None:
    name = world.upload(1)
    assert second_round(world).handle(poisoned(name), dequeue_count=1) is Outcome.INGESTED
    job = world.store.get(ids.job_id_for(name))
    assert job.state is JobState.QUEUED and list(world.batch.tasks) == [job.id]


def test_a_try_before_the_last_raises_so_the_host_delivers_it_again(world: World) -> None:
    name = world.upload(1)
    storage_blip(world)
    for count in range(1, TRIES):
        with pytest.raises(TransientError):
            second_round(world).handle(poisoned(name), dequeue_count=count)
    assert world.store.jobs == {}


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
