"""Ingestion asks the pool to wake after each submission, and a waker's failure never fails the photo."""

from __future__ import annotations

import pytest

from shared.adapters.azure_pool_waker import asks_for_nodes
from shared.errors import PermanentError, TransientError
from shared.jobs.ingestion import Ingestion
from shared.jobs.models import JobState
from shared.validation import Limits, QualityPolicy
from tests.unit.jobs.fakes import RecordingWaker
from tests.unit.jobs.test_pipeline import World


def _with_waker(world: World, waker: RecordingWaker) -> Ingestion:
    return Ingestion(
        store=world.store, photos=world.photos, submitter=world.batch, routes=world.ingestion.routes,
        finisher=world.finisher, clock=world.clock, limits=Limits(), policies=lambda site: QualityPolicy(),
        default_model="ocr/ppocrv4", waker=waker,
    )  # fmt: skip


def test_the_pool_is_woken_after_the_task_is_submitted_not_before():
    world = World()
    waker = RecordingWaker(world.batch)
    job = _with_waker(world, waker).ingest(world.upload(1))
    assert job is not None and job.state is JobState.QUEUED
    assert waker.tasks_at_wake == [1]  # the task was already in Batch when the pool was asked to wake


def test_a_rejected_photo_wakes_nothing():
    world = World()
    waker = RecordingWaker(world.batch)
    job = _with_waker(world, waker).ingest(world.upload(1, data=b"not a photo"))
    assert job is not None and job.state is JobState.REJECTED
    assert waker.tasks_at_wake == []


@pytest.mark.parametrize("error", [TransientError("Batch unreachable"), PermanentError("refused", reason="x")])
def test_a_waker_that_fails_leaves_the_job_queued(error):
    world = World()
    waker = RecordingWaker(world.batch, fail_with=error)
    job = _with_waker(world, waker).ingest(world.upload(1))
    assert job is not None and job.state is JobState.QUEUED and list(world.batch.tasks) == [job.id]
    assert waker.tasks_at_wake == [1]


@pytest.mark.parametrize(
    ("results", "wanted"),
    [
        ("$TargetDedicatedNodes=0;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue", False),
        ("$TargetDedicatedNodes=0.999;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue", False),
        ("$TargetDedicatedNodes=1.24975;$TargetLowPriorityNodes=0;maxNodes=4", True),
        ("$TargetDedicatedNodes=0;$TargetLowPriorityNodes=2;$NodeDeallocationOption=requeue", True),
        ("$TargetDedicatedNodes=0;wanted=3", False),  # a user variable is not a target
        ("", False),
        (None, False),
    ],
)
def test_a_run_asks_for_nodes_only_when_a_truncated_target_is_at_least_one(results, wanted):
    assert asks_for_nodes(results) is wanted
