"""Scale from zero through the whole local stack: a photo committed to a pool at zero brings the pool's
autoscale evaluation forward (the app re-enables autoscale once the formula sees the task), instead of
waiting for the schedule. The stack's Batch clock runs 10x here, so that the schedule (5 emulated minutes,
30 s real) is far longer than the app's reaction; assertions compare emulated evaluation times.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from emulators.azurite import free_ports
from sitelens.field_photos import render
from sitelens.local_pool import EVALUATION_INTERVAL, POOL_ID
from sitelens.stack import Stack
from tests.e2e.conftest import REPO, SETTINGS, Pipeline
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e
TIME_SCALE = 10.0


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    blob_port, queue_port, table_port, functions_port, batch_port = free_ports(5)
    stack = Stack(
        repo=REPO,
        state_dir=tmp_path_factory.mktemp("slow-stack"),
        azurite_ports=(blob_port, queue_port, table_port),
        functions_port=functions_port,
        batch_port=batch_port,
        functions_env={**SETTINGS, "SITELENS_RECONCILE_SCHEDULE": "0 0 0 1 1 *"},  # no re-drives here
        batch_time_scale=TIME_SCALE,
    )
    stack.start()
    try:
        yield Pipeline(stack)
    finally:
        with contextlib.suppress(Exception):
            stack.stop()


def _pool(pipeline: Pipeline) -> Any:
    return pipeline.stack.pool().client().get_pool(POOL_ID)


def _evaluated_after(pipeline: Pipeline, after: datetime | None) -> datetime | None:
    run = _pool(pipeline).auto_scale_run
    return run.timestamp if run is not None and (after is None or run.timestamp > after) else None


def _scaled_up_at(pipeline: Pipeline) -> datetime | None:
    pool = _pool(pipeline)
    return pool.auto_scale_run.timestamp if pool.target_dedicated_nodes and pool.auto_scale_run else None


def test_a_photo_to_a_pool_at_zero_scales_it_before_the_scheduled_evaluation(pipeline: Pipeline):
    first = wait_for(lambda: _evaluated_after(pipeline, None), 60, "the pool's first evaluation")
    pool = _pool(pipeline)
    assert (pool.target_dedicated_nodes, pool.current_dedicated_nodes) == (0, 0), "the pool must start at zero"
    # Submit right after an evaluation: without the kick the pool would next look at +5 emulated minutes.
    scheduled = wait_for(lambda: _evaluated_after(pipeline, first), 60, "a scheduled evaluation")
    job_id = pipeline.put(f"north-yard/cam-1/2026/11/22/{uuid.uuid4().hex[:16]}.jpg", render(21).jpeg)
    wait_for(lambda: pipeline.tasks(job_id), 60, "the photo's task to be submitted")
    scaled = wait_for(lambda: _scaled_up_at(pipeline), 120, "the pool to scale up")
    assert scheduled < scaled < scheduled + EVALUATION_INTERVAL - timedelta(seconds=30)
    job = pipeline.wait_terminal(job_id)
    assert job["state"] == "SUCCEEDED", (job["reason"], job["detail"])
