"""Record expiry against Azurite, after the real pipeline (tests/integration/jobs/real_world.py) made jobs on two
sites: the jobs received before the cutoff lose every row the tables keep of them (the blobs are the lifecycle
rules' to expire), a job received after it and a job the pipeline has not finished keep all of theirs, and a claim
on the same bytes that a later job took over stays with it."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from azure.core.exceptions import ServiceRequestError

from shared.adapters.azure_erasure import TableEventErasure
from shared.adapters.azure_photo_store import PHOTOS
from shared.adapters.azure_record_index import TableRecordIndex
from shared.errors import NotFound
from shared.jobs import ids
from shared.jobs.models import Job, JobState
from shared.jobs.record_expiry import Expiry, RecordExpiry
from shared.uploads.azure_table_reservations import TableReservationStore
from shared.uploads.ports import Reservation
from tests.integration.jobs.real_world import RealWorld
from tests.integration.jobs.test_duplicate_bytes_takeover import succeed, upload
from tests.integration.jobs.test_erase_command import kept_by
from tests.unit.jobs.test_pipeline import photo

pytestmark = pytest.mark.integration
KEEP = timedelta(days=30)


def expiry(world: RealWorld, **options: object) -> RecordExpiry:
    return RecordExpiry(store=world.store, index=TableRecordIndex(world.tables, prefix=world.prefix),
                        events=TableEventErasure(world.tables, prefix=world.prefix),
                        reservations=TableReservationStore(world.tables, prefix=world.prefix), clock=world.clock,
                        keep=KEEP, **options)  # type: ignore[arg-type]  # fmt: skip


def on_site(world: RealWorld, site: str, n: int, data: bytes) -> Job:
    name = f"{site}/cam-1/2026/11/22/IMG_{n}.jpg"
    world.blobs.get_blob_client(PHOTOS, name).upload_blob(data, overwrite=True)
    job = world.ingestion.ingest(name)
    assert job is not None
    return job


def rows_only(kept: dict[str, list[str]]) -> dict[str, list[str]]:
    return {where: found for where, found in kept.items() if where != "blobs"}


def test_jobs_received_before_the_cutoff_lose_their_rows_and_nothing_else_does(real_world):
    world, data = real_world, photo(7)
    world.ingestion.results_kept = timedelta(days=20)
    world.outbox.webhooks.subscribe("https://127.0.0.1/hook", None, None)
    owner = upload(world, 1, data)
    follower = upload(world, 2, data)  # listed in the owner's claim while it runs
    owner = succeed(world, owner)
    elsewhere = succeed(world, on_site(world, f"{world.site}b", 3, photo(8)))  # the index's second site
    unsettled = upload(world, 4, photo(9))  # its task waits in Batch: the pipeline still drives it
    world.store.add_feedback(owner.id, {"text": "PUMP 1"}, world.clock())
    TableReservationStore(world.tables, prefix=world.prefix).reserve(
        Reservation(world.site, owner.device, owner.photo_id, "jpg", owner.blob_name, world.clock()))  # fmt: skip
    old = [world.store.get(job.id) for job in (owner, follower, elsewhere)]
    assert all(job.state is JobState.SUCCEEDED and job.event_published for job in old)
    before = {job.id: kept_by(world, job) for job in old}
    assert all(before[owner.id][where] for where in ("jobs", "feedback", "uploads", "events", "deliveries"))

    world.clock.advance((KEEP + timedelta(days=1)).total_seconds())
    again = succeed(world, upload(world, 5, data))  # the owner is too old to reuse: the claim is taken over
    assert again.cached_from is None
    again_before = kept_by(world, again)
    unsettled_before = kept_by(world, unsettled)

    swept = expiry(world).run()

    assert swept == Expiry(expired=3, unsettled=1)
    for job in old:
        assert rows_only(kept_by(world, job)) == {where: [] for where in rows_only(before[job.id])}
        with pytest.raises(NotFound):
            world.store.get(job.id)
        assert kept_by(world, job)["blobs"] == before[job.id]["blobs"]  # the lifecycle rules' to expire
    assert kept_by(world, again) == again_before  # the claim it took over, its events, its rows
    assert kept_by(world, unsettled) == unsettled_before
    assert again.content_sha256 and again.model
    assert world.store.claim_content(world.site, ids.content_key(again.content_sha256, again.model), "j_x") == again.id
    assert expiry(world).run() == Expiry(unsettled=1)  # nothing more to expire


def test_an_entry_whose_job_is_gone_is_dropped(real_world):
    world = real_world
    job = succeed(world, upload(world, 1, photo(7)))
    world.tables.get_table_client(world.prefix + "jobs").delete_entity(job.id, "job")  # deleted by hand
    world.clock.advance((KEEP + timedelta(days=1)).total_seconds())

    assert expiry(world).run() == Expiry(gone=1)
    assert [row for row in kept_by(world, job)["jobs"] if row.startswith("site~")] == []
    assert expiry(world).run() == Expiry()


def test_a_run_that_spends_its_budget_leaves_the_rest_to_the_next(real_world):
    """The run's clock moves a second at each look: at the start, before each job a worker starts."""
    world = real_world
    jobs = [succeed(world, upload(world, n, photo(20 + n))) for n in range(1, 6)]
    world.clock.advance((KEEP + timedelta(days=1)).total_seconds())
    ticks = itertools.count()

    first = expiry(world, workers=1, budget=timedelta(seconds=3), elapsed=lambda: float(next(ticks))).run()

    assert first == Expiry(expired=2, stopped_at_budget=True)  # the chunk's third job found the budget spent
    assert sum(kept_by(world, job)["jobs"] == [] for job in jobs) == 2
    assert expiry(world).run() == Expiry(expired=3)
    assert all(kept_by(world, job)["jobs"] == [] for job in jobs)


def test_a_run_that_fails_to_delete_the_job_row_leaves_it_to_the_next_run(real_world, monkeypatch):
    """The job row goes before the index entry that finds it: a failed (or killed) delete of the row leaves the
    entry, so the next run finds the job again instead of keeping the row, summary and all, for good."""
    world = real_world
    job = succeed(world, upload(world, 1, photo(7)))
    world.clock.advance((KEEP + timedelta(days=1)).total_seconds())
    table = world.store._jobs
    real_delete, failed = table.delete_entity, list[object]()

    def delete_entity(*key: object, **options: object) -> None:
        if key == (job.id, "job") and not failed:
            failed.append(key)
            raise ServiceRequestError("the connection dropped")
        real_delete(*key, **options)

    monkeypatch.setattr(table, "delete_entity", delete_entity)
    assert expiry(world).run() == Expiry(errors=1)
    assert expiry(world).run() == Expiry(expired=1)
    assert kept_by(world, job)["jobs"] == []


def test_a_site_with_a_backlog_does_not_keep_the_next_sites_jobs(real_world):
    """Each pass takes at most `per_site` jobs of each site: a run cut short by its budget has reached every site."""
    world = real_world
    busy = [succeed(world, upload(world, n, photo(60 + n))) for n in range(1, 7)]  # the first site in key order
    later = [succeed(world, on_site(world, f"{world.site}z", n, photo(80 + n))) for n in range(1, 3)]
    world.clock.advance((KEEP + timedelta(days=1)).total_seconds())
    ticks = itertools.count()

    # The run's clock moves a second at each look: at the start, before each of the chunk's four jobs, then after it.
    cut = expiry(world, workers=1, per_site=2, budget=timedelta(seconds=5), elapsed=lambda: float(next(ticks)))

    assert cut.run() == Expiry(expired=4, stopped_at_budget=True)  # one chunk: two of each site
    assert all(kept_by(world, job)["jobs"] == [] for job in later)
    assert sum(kept_by(world, job)["jobs"] != [] for job in busy) == 4


def test_jobs_kept_at_the_head_of_a_site_do_not_hide_the_expired_ones_behind_them(real_world):
    """The oldest of a site are still in flight (kept): a later pass reads past them, not the same ones again."""
    world = real_world
    queued = [upload(world, n, photo(100 + n)) for n in range(1, 3)]  # their tasks wait in Batch
    world.clock.advance(1)  # received after them: later in the site's index
    done = [succeed(world, upload(world, n, photo(110 + n))) for n in range(3, 5)]
    world.clock.advance((KEEP + timedelta(days=1)).total_seconds())

    assert expiry(world, per_site=2).run() == Expiry(expired=2, unsettled=2)
    assert all(kept_by(world, job)["jobs"] == [] for job in done)
    assert all(world.store.get(job.id).state is JobState.QUEUED for job in queued)
