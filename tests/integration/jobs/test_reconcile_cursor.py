"""The reconciler's cursor and the open index after it, on TableJobStore against Azurite with the real SDK.

The jobs are real photos ingested on the real parts (tests/integration/jobs/real_world.py): their tasks wait
in the local Batch service (a pool without nodes), their events go to the webhook outbox on Azurite. What is
under test is that where a run stopped survives in the table, for a new store and reconciler.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from azure.batch import BatchClient

from shared.adapters.azure_job_store import TableJobStore
from shared.jobs.models import Job, JobState
from tests.integration.jobs.real_world import RealWorld

pytestmark = pytest.mark.integration
BUDGET_S = 120.0  # a run's budget here: each job looked at spends half of it, so a run looks at two


def queued(world: RealWorld, count: int) -> list[str]:
    """`count` photos ingested, each job queued with its task waiting in Batch; their ids in the index's order."""
    made = []
    for n in range(count):
        job = world.ingestion.ingest(world.upload(n))
        assert job is not None and job.state is JobState.QUEUED
        made.append(job.id)
    return sorted(made)


def test_the_cursor_round_trips_and_open_ids_after_it_come_in_order(real_world):
    store = real_world.restarted_store()
    made = queued(real_world, 6)
    assert store.reconcile_cursor() is None  # never set: a run starts at the beginning
    assert store.open_ids() == made  # the open index's RowKey order; the cursor row is not in it
    store.set_reconcile_cursor(made[2])
    assert store.open_ids() == made and real_world.restarted_store().reconcile_cursor() == made[2]
    assert real_world.restarted_store().open_ids(after=made[2]) == made[3:]
    store.close(made[2])  # the job at the cursor ended: the ids after it are still the ones that follow
    store.close(made[4])
    assert store.open_ids(after=made[2]) == [made[3], made[5]] and store.open_ids(after=made[-1]) == []
    store.set_reconcile_cursor(None)
    assert real_world.restarted_store().reconcile_cursor() is None


def test_a_run_cut_by_its_budget_is_continued_by_a_restarted_worker(real_world, batch_client: BatchClient,
                                                                    monkeypatch):  # fmt: skip
    world = real_world
    made = queued(world, 5)
    world.clock.advance(25 * 3600)  # past the 24 h bound: each job looked at is failed `timed_out`
    ticks, last = [0.0], [""]
    for expected_left in (made[2:], made[4:], []):
        store: TableJobStore = world.restarted_store()
        real = store.get

        def get(job_id: str, real: Callable[[str], Job] = real) -> Job:  # each job looked at spends half the budget
            if job_id != last[0]:
                last[0], ticks[0] = job_id, ticks[0] + BUDGET_S / 2
            return real(job_id)

        monkeypatch.setattr(store, "get", get)
        world.new_reconciler(store, budget=timedelta(seconds=BUDGET_S), monotonic=lambda: ticks[0]).run()
        assert store.open_ids() == expected_left
    ended = [world.restarted_store().get(job_id) for job_id in made]
    assert all(job.reason == "timed_out" and job.event_published for job in ended)
    assert world.restarted_store().reconcile_cursor() is None  # the last run went all the way round
    batch_job = ended[0].batch_job_id
    assert batch_job and batch_client.get_job_task_counts(batch_job).task_counts.active == 0  # every task cancelled
