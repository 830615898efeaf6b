"""Through the real azure-batch client: what enabling autoscale on a pool that has it does to the schedule.

Azure's documentation: a request that gives an evaluation interval stops the pool's schedule and starts a
new one from the request's time; one that omits the interval keeps the current setting (and schedule).
Enable calls on one pool must be 30 s apart. The assertions compare `autoScaleRun.timestamp`s, which are
emulated time, so they hold whatever the machine's speed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from azure.batch import BatchClient, models
from azure.core.exceptions import HttpResponseError

from tests.integration.batch_service.helpers import client_for
from tests.support.waiting import wait_for

INTERVAL = timedelta(minutes=5)
TIME_SCALE = 20.0  # 30 s between enable calls is 1.5 s real, the 5-minute interval 15 s real


@pytest.fixture
def batch(start_service) -> BatchClient:
    return client_for(start_service(time_scale=TIME_SCALE, boot_delay_s=0))


def _autoscale_pool(batch: BatchClient, pool_id: str) -> datetime:
    """A pool at zero with a 5-minute schedule; returns the time of its first evaluation."""
    batch.create_pool(
        models.BatchPoolCreateOptions(
            id=pool_id,
            vm_size="standard_nc4as_t4_v3",
            enable_auto_scale=True,
            auto_scale_formula="$TargetDedicatedNodes = 0;",
            auto_scale_evaluation_interval=INTERVAL,
        )
    )
    return wait_for(lambda: _run_time(batch, pool_id), 20, "the evaluation at creation")


def _run_time(batch: BatchClient, pool_id: str) -> datetime | None:
    run = batch.get_pool(pool_id).auto_scale_run
    return run.timestamp if run else None


def _run_after(batch: BatchClient, pool_id: str, after: datetime) -> datetime | None:
    """The time of the pool's last evaluation once it is later than `after`."""
    time = _run_time(batch, pool_id)
    return time if time is not None and time > after else None


def _enable_when_allowed(batch: BatchClient, pool_id: str, options: models.BatchPoolEnableAutoScaleOptions) -> None:
    """Enable as soon as the 30 s between enable calls has passed (the service refuses earlier calls)."""

    def enabled() -> bool:
        try:
            batch.enable_pool_auto_scale(pool_id, options)
        except HttpResponseError as exc:
            if exc.error is not None and exc.error.code == "TooManyEnableAutoScaleRequests":
                return False
            raise
        return True

    wait_for(enabled, 20, "the 30 s between enable calls to pass")


def test_re_enabling_with_the_same_interval_evaluates_at_once_and_restarts_the_schedule(batch):
    created = _autoscale_pool(batch, "kick")
    _enable_when_allowed(batch, "kick", models.BatchPoolEnableAutoScaleOptions(auto_scale_evaluation_interval=INTERVAL))
    kicked = wait_for(lambda: _run_after(batch, "kick", created), 20, "the evaluation of the kick")
    # Brought forward: the schedule alone would have evaluated next at created + 5 min.
    assert kicked < created + INTERVAL
    following = wait_for(lambda: _run_after(batch, "kick", kicked), 40, "the next evaluation")
    # The new schedule counts from the kick, not from the pool's creation.
    assert following >= kicked + INTERVAL


def test_re_enabling_with_a_formula_alone_keeps_the_schedule(batch):
    created = _autoscale_pool(batch, "formula")
    new_formula = "$TargetDedicatedNodes = 0; changed = 1;"
    _enable_when_allowed(batch, "formula", models.BatchPoolEnableAutoScaleOptions(auto_scale_formula=new_formula))
    assert batch.get_pool("formula").auto_scale_formula == new_formula
    following = wait_for(lambda: _run_after(batch, "formula", created), 40, "the next evaluation")
    assert following >= created + INTERVAL
    assert "changed=1" in batch.get_pool("formula").auto_scale_run.results


def test_enabling_on_a_pool_without_autoscale_starts_a_schedule_at_once(batch):
    batch.create_pool(models.BatchPoolCreateOptions(id="fixed", vm_size="x", target_dedicated_nodes=0))
    batch.enable_pool_auto_scale(
        "fixed",
        models.BatchPoolEnableAutoScaleOptions(auto_scale_formula="$TargetDedicatedNodes = 0; on = 1;"),
    )
    first = wait_for(lambda: _run_time(batch, "fixed"), 20, "the evaluation when autoscale is enabled")
    assert "on=1" in batch.get_pool("fixed").auto_scale_run.results
    # No interval given: the default 15 minutes.
    assert batch.get_pool("fixed").auto_scale_evaluation_interval == timedelta(minutes=15)
    assert first is not None
