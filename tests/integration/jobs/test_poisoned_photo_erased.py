"""A photo erased (`sitelens erase`) while its trigger message waited in `webjobs-blobtrigger-poison`, on the
real parts: the round's last two tries, which record the photo's job before they ingest, ask Azurite first, find
the photo gone and record nothing. The jobs table gets no row back naming the erased photo's site, device and
name, and the reconciler has no job to fail `photo_missing` nor an event to publish for it."""

from __future__ import annotations

import pytest

from emulators.functions_host.blob_trigger import trigger_message
from shared.errors import NotFound
from shared.jobs.poisoned_photos import BLOB_FUNCTION_ID, TRIES, Outcome, PoisonedPhotos
from tests.integration.jobs.real_world import RealWorld
from tests.integration.jobs.test_duplicate_bytes_takeover import succeed, upload
from tests.integration.jobs.test_erase_command import erase
from tests.unit.jobs.test_pipeline import photo

pytestmark = pytest.mark.integration


def test_the_tries_that_record_first_bring_back_no_job_for_an_erased_photo(
    real_world: RealWorld, storage_connection: str
) -> None:
    world = real_world
    # GIVEN a photo whose job ended, erased while a trigger message of it waited in the round
    job = succeed(world, upload(world, 1, photo(7)))
    body = trigger_message(BLOB_FUNCTION_ID, "photos", job.blob_name, job.blob_etag).encode()
    assert erase(world, storage_connection, job.id, "--yes") == 0
    # WHEN the round's penultimate and last tries come
    round_ = PoisonedPhotos(ingestion=lambda: world.ingestion, store=lambda: world.store,
                            finisher=lambda: world.finisher, clock=world.clock)  # fmt: skip
    assert [round_.handle(body, count) for count in (TRIES - 1, TRIES)] == [Outcome.INGESTED] * 2
    # THEN a worker started afresh finds no row of the photo, open or not, even past the give-up bound
    store = world.restarted_store()
    assert job.id not in list(store.open_ids())
    world.clock.advance(25 * 3600)
    world.new_reconciler(store).run()
    with pytest.raises(NotFound):
        store.get(job.id)
