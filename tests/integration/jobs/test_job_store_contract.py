"""The open index, create, close and the reconcile cursor: one set of expectations, run against TableJobStore
on Azurite and against the in-memory MemoryJobStore that the unit tests use, so the fake cannot drift from
the store it stands in for."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from shared.jobs import ids
from shared.jobs.models import Job, JobState
from shared.jobs.ports import JobStore

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


@pytest.fixture
def store(either_store: JobStore) -> JobStore:
    return either_store


def received(n: int) -> Job:
    name = f"north-yard/cam-1/2026/11/22/p{n}.jpg"
    return Job(ids.job_id_for(name), "north-yard", "cam-1", f"p{n}", name, '"0x1"', T0)


def ended(store: JobStore, job: Job, *, published: bool) -> Job:
    """The job FAILED in the store, its event published or not, as the finisher leaves it before closing."""
    failed = store.update(job.advance(JobState.FAILED, T0, reason="task_failed"))
    return store.update(replace(failed, event_published=True)) if published else failed


def test_create_indexes_a_job_once_and_open_ids_list_in_id_order_after_a_cursor(store):
    jobs = [received(n) for n in range(4)]
    made = [store.create(job) for job in jobs]
    assert all(job is not None and job.etag for job in made)
    assert store.create(jobs[0]) is None  # a redelivery: not created again, not indexed twice
    in_order = sorted(job.id for job in jobs)
    assert store.open_ids() == in_order
    assert store.open_ids(after=in_order[1]) == in_order[2:] and store.open_ids(after=in_order[-1]) == []


def test_the_cursor_is_none_until_set_and_is_cleared_by_none(store):
    assert store.reconcile_cursor() is None
    store.set_reconcile_cursor("j_0000000000000000000000000a")
    assert store.reconcile_cursor() == "j_0000000000000000000000000a"
    store.set_reconcile_cursor(None)
    assert store.reconcile_cursor() is None and store.open_ids() == []  # the cursor is not an open job


def test_a_job_ended_and_published_is_not_reopened_by_a_redelivery(store):
    done, unpublished = store.create(received(1)), store.create(received(2))
    assert done is not None and unpublished is not None
    ended(store, done, published=True)
    ended(store, unpublished, published=False)
    store.close(done.id)
    store.close(unpublished.id)
    store.close(done.id)  # closing again changes nothing
    assert store.open_ids() == []
    assert store.create(received(1)) is None and store.create(received(2)) is None  # the blob's event again
    assert store.open_ids() == [unpublished.id]  # only the job whose event is still to publish comes back
