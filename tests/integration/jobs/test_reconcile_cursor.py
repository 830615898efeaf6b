"""The reconciler's cursor and the open index after it, on TableJobStore against Azurite with the real SDK.

The reconciler's runs here go over the table store with in-memory Batch and outbox (tests/unit/jobs/fakes.py):
what is under test is that where a run stopped survives in the table, for a new store and reconciler.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import TableServiceClient

from shared.adapters.azure_job_store import TableJobStore
from shared.jobs import ids
from shared.jobs.finisher import Finisher
from shared.jobs.models import Job, JobState
from shared.jobs.ports import TaskRequest
from shared.jobs.reconciler import Reconciler
from tests.unit.jobs.fakes import MemoryBatch
from tests.unit.jobs.test_pipeline import World

pytestmark = pytest.mark.integration
MODEL = "ocr/ppocrv4"
T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


@pytest.fixture
def table(storage_connection: str, unique: str) -> tuple[TableServiceClient, str]:
    return TableServiceClient.from_connection_string(storage_connection), f"t{unique[:8]}"


def restarted(table: tuple[TableServiceClient, str]) -> TableJobStore:
    """A store built afresh over the same table, as a restarted worker builds it."""
    return TableJobStore(*table)


def queued(store: TableJobStore, batch: MemoryBatch, count: int) -> list[str]:
    made = []
    for n in range(count):
        name = f"north-yard/cam-1/2026/11/22/p{n}.jpg"
        job_id, batch_job = ids.job_id_for(name), ids.batch_job_id(MODEL, T0.date())
        store.create(Job(job_id, "north-yard", "cam-1", f"p{n}", name, '"0x1"', T0, state=JobState.QUEUED,
                         model=MODEL, batch_job_id=batch_job, queued_at=T0))  # fmt: skip
        batch.submit(TaskRequest(job_id, batch_job, MODEL, "memory://input.jpg"))
        made.append(job_id)
    return sorted(made)


def test_the_cursor_round_trips_and_open_ids_after_it_come_in_order(table):
    store = restarted(table)
    made = queued(store, MemoryBatch(), 6)
    assert store.reconcile_cursor() is None  # never set: a run starts at the beginning
    assert store.open_ids() == made  # the open index's RowKey order; the cursor row is not in it
    store.set_reconcile_cursor(made[2])
    assert store.open_ids() == made and restarted(table).reconcile_cursor() == made[2]
    assert restarted(table).open_ids(after=made[2]) == made[3:]
    store.close(made[2])  # the job at the cursor ended: the ids after it are still the ones that follow
    store.close(made[4])
    assert store.open_ids(after=made[2]) == [made[3], made[5]] and store.open_ids(after=made[-1]) == []
    store.set_reconcile_cursor(None)
    assert restarted(table).reconcile_cursor() is None


def test_a_run_cut_by_its_budget_is_continued_by_a_restarted_worker(table, monkeypatch):
    world = World()  # its Batch, outbox and clock; its jobs are in the table
    made = queued(restarted(table), world.batch, 5)
    world.clock.now = T0 + timedelta(hours=25)  # past the 24 h bound: each job looked at is failed `timed_out`
    ticks, last = [0.0], [""]
    for expected_left in (made[2:], made[4:], []):  # the budget lets a run look at two jobs
        store = restarted(table)
        real = store.get

        def get(job_id: str, real: Callable[[str], Job] = real) -> Job:  # each job looked at spends half the budget
            if job_id != last[0]:
                last[0], ticks[0] = job_id, ticks[0] + 60.0
            return real(job_id)

        monkeypatch.setattr(store, "get", get)
        Reconciler(store=store, photos=world.photos, submitter=world.batch, ingestion=world.ingestion,
                   completion=world.completion, finisher=Finisher(store, world.outbox, world.clock),
                   clock=world.clock, stuck_after=timedelta(minutes=15), budget=timedelta(minutes=2),
                   monotonic=lambda: ticks[0]).run()  # fmt: skip
        assert store.open_ids() == expected_left
    assert all(restarted(table).get(job_id).reason == "timed_out" for job_id in made)
    assert restarted(table).reconcile_cursor() is None  # the last run went all the way round
