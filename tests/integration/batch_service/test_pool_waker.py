"""BatchPoolWaker against the local Batch service (real azure-batch client) and Azurite's table: two pools
at zero with the deployed formula get one task each at the same moment; only one is woken. Their schedules
are the longest Azure allows (168 hours), so no scheduled evaluation can come while the test runs: the
woken pool's scale-up can only be the evaluation its kick started, and the other pool, left to its
schedule, stays at zero with its task waiting. The comparison with a real schedule is measured by
`benchmarks/scale_from_zero.py`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from azure.batch import BatchClient, models
from azure.data.tables import TableServiceClient

from emulators.azurite import free_port
from emulators.batch_service.launcher import BatchServiceProcess
from shared.adapters.azure_pool_waker import BatchPoolWaker
from tests.integration.batch_service.helpers import client_for, completed
from tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[3]
FORMULA = (REPO / "infra" / "autoscale.formula").read_text()
INTERVAL = timedelta(hours=168)  # Azure's longest: at the time scale below, the next scheduled run is 2.8 h away
TIME_SCALE = 60.0  # a 30 s sample every 0.5 s real, so the formula sees a task within a second or two


@pytest.fixture
def batch(tmp_path: Path) -> Iterator[BatchClient]:
    with BatchServiceProcess.launch(REPO, tmp_path / "data", free_port(), log_file=tmp_path / "batch.log",
                                    time_scale=TIME_SCALE, boot_delay_s=60.0) as svc:  # fmt: skip
        yield client_for(svc)


def _pool_with_a_task(batch: BatchClient, pool_id: str) -> datetime:
    """A pool at zero with the deployed formula; returns its evaluation at creation once the task is in."""
    batch.create_pool(models.BatchPoolCreateOptions(id=pool_id, vm_size="standard_nc4as_t4_v3",
                                                    enable_auto_scale=True, auto_scale_formula=FORMULA,
                                                    auto_scale_evaluation_interval=INTERVAL))  # fmt: skip
    created = wait_for(lambda: _run(batch, pool_id), 20, "the evaluation at creation")
    batch.create_job(models.BatchJobCreateOptions(id=f"job-{pool_id}", pool_info=models.BatchPoolInfo(pool_id=pool_id)))
    batch.create_task(
        f"job-{pool_id}", models.BatchTaskCreateOptions(id="photo", command_line=f"{sys.executable} -c pass")
    )
    return created[0]


def _run(batch: BatchClient, pool_id: str) -> tuple[datetime, int] | None:
    """(time, applied dedicated target) of the pool's last evaluation."""
    pool = batch.get_pool(pool_id)
    run = pool.auto_scale_run
    return (run.timestamp, pool.target_dedicated_nodes or 0) if run and run.error is None else None


def _scaled_up(batch: BatchClient, pool_id: str) -> datetime | None:
    run = _run(batch, pool_id)
    return run[0] if run and run[1] >= 1 else None


def test_a_woken_pool_evaluates_before_its_schedule_and_only_its_photo_runs(batch, storage_connection, unique):
    table = TableServiceClient.from_connection_string(storage_connection).create_table_if_not_exists(f"jobs{unique}")
    deferred: list[Callable[[], None]] = []

    def waker(pool_id: str) -> BatchPoolWaker:  # one per function instance; the background work is run by hand
        return BatchPoolWaker(batch, pool_id, table, first_poll=timedelta(seconds=0.1), poll=timedelta(seconds=0.1),
                              give_up=timedelta(seconds=30),
                              background=deferred.append)  # fmt: skip

    woken_created = _pool_with_a_task(batch, "woken")
    waiting_created = _pool_with_a_task(batch, "waiting")
    first, second = waker("woken"), waker("woken")
    first.wake()
    second.wake()  # a second instance at the same moment: the claim is taken, it does nothing more
    first.wake()  # the same instance again within 30 s: not even a look
    assert (first.looks, second.looks, len(deferred)) == (1, 1, 1)
    assert _run(batch, "woken") == (woken_created, 0)  # nothing is kicked before the formula sees the task
    deferred[0]()
    assert first.kicks == 1

    # The only evaluations the schedule allows are the ones at creation, which found no task: a later one
    # that asks for a node is the one the kick started.
    woken_at = wait_for(lambda: _scaled_up(batch, "woken"), 30, "the woken pool to scale up")
    assert woken_at > woken_created
    assert completed(batch, "job-woken", "photo", 60).execution_info.end_time is not None
    # The same pool and task, not woken: still at its evaluation at creation, its task never started.
    assert _run(batch, "waiting") == (waiting_created, 0)
    waiting = batch.get_task("job-waiting", "photo")
    assert waiting.state == models.BatchTaskState.ACTIVE and waiting.node_info is None
