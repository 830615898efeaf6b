"""Batch's quota of active jobs and many model versions routed at once, on the real parts
(tests/integration/jobs/real_world.py) and a local Batch service that keeps Azure's quota, set low here.

A Batch account holds 100 to 300 active jobs by default, and sitelens' day's job stays active until the reconciler
terminates it two days on. With a Batch job per model version and day, a few dozen versions routed filled the quota:
every new model-day's job was refused (`ActiveJobAndScheduleQuotaReached`, retried as transient) and its photos sat
RECEIVED until they timed out. One Batch job a day for every model keeps three active, whatever the routing.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from azure.batch import BatchClient

from shared.errors import TransientError
from shared.jobs import ids
from shared.jobs.models import JobState
from tests.integration.jobs.real_world import RealWorld
from tests.unit.jobs.fakes import FixedRoutes

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
QUOTA, MODELS, DAYS = 5, 8, 3  # more versions than the quota, over the days a day's Batch job stays active


@pytest.fixture
def active_job_quota() -> int:
    return QUOTA  # for conftest.py's batch_service


def active_batch_jobs(batch: BatchClient) -> list[str]:
    return sorted(job.id for job in batch.list_jobs(filter="state eq 'active'"))


def test_photos_of_more_model_versions_than_the_quota_all_reach_batch_day_after_day(
    real_world: RealWorld, batch_client: BatchClient
) -> None:
    world, start = real_world, real_world.clock().date()
    queued: dict[str, str] = {}  # job id -> model, for each photo Batch took
    refused: list[str] = []
    for day in range(DAYS):
        world.reconciler.run()  # its first step terminates the days past their two, as it does every 5 minutes
        for m in range(MODELS):
            world.ingestion.routes = FixedRoutes([(f"ocr/v{m}", 100)])
            try:
                job = world.ingestion.ingest(world.upload(day * MODELS + m))
            except TransientError as exc:  # the delivery would be retried, and refused again while the quota is spent
                refused.append(str(exc))
                continue
            assert job is not None and job.state is JobState.QUEUED
            queued[job.id] = job.model or ""
        world.clock.advance(timedelta(days=1).total_seconds())
    assert refused == []
    assert sorted(set(queued.values())) == [f"ocr/v{m}" for m in range(MODELS)] and len(queued) == DAYS * MODELS
    days = [ids.batch_job_id(start + timedelta(days=d)) for d in range(DAYS)]
    assert active_batch_jobs(batch_client) == days  # one a day, every model's tasks in it
    tasks = {task.id for day in days for task in batch_client.list_tasks(day)}
    assert tasks == set(queued)
