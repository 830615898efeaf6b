"""The request counter on the whole local stack: the day's first photo, and every kind of request that path
must make is seen in the traffic itself (Azurite's debug log, the Batch service's request log, the Functions
host's executions). What the benchmark divides per photo rests on this. Then one more photo on the warm
path, whose requests must be the ones `sitelens cost` prices (`MEASURED_HAPPY`), so that the cost model
cannot drift from what the app does."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.ops_per_photo import Scenarios, counted_stack
from sitelens import field_photos
from sitelens.cost_command import MEASURED_HAPPY
from tests.support.receiver import Receiver

MUST = {
    "blob BlockBlob_StageBlock",  # the device's upload: Put Block ...
    "blob BlockBlob_CommitBlockList",  # ... and Put Block List
    "blob Blob_GetProperties",  # validation sizes the photo before reading it
    "blob Blob_Download",  # the photo's bytes, then result.json
    "blob BlockBlob_Upload",  # derived/input.jpg, the node's overlay and result.json
    "table Table_InsertEntity",  # name reservation, job, indexes, content claim, event, delivery
    "table Table_UpdateEntity",  # the job's moves, the delivery's attempt
    "queue Messages_Enqueue",  # the completion, the notification
    "queue MessageId_Delete",  # each taken off once handled
    "batch POST /jobs",  # the day's first photo adds the Batch job ...
    "batch POST /jobs/{job}/tasks",  # ... and its task
    "batch POST /pools/{pool}/evaluateautoscale",  # the pool is at zero: the kick
    "execution request_upload",
    "execution on_photo_uploaded",  # an Event Grid delivery in Azure
    "execution on_task_completed",
    "execution on_notification",
}
# The timers: the stack schedules them once a year, so that a count holds the photo's requests alone.
TIMERS = {"reconcile", "reconcile_webhooks", "expire_records"}


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Per-photo counts of the day's first photo (the pool at zero) and of the next one (the warm path)."""
    folder = tmp_path_factory.mktemp("ops")
    first, then = (shot.jpeg for shot in field_photos.photo_set(2, seed=31))
    with Receiver() as receiver, counted_stack(folder) as (stack, counter):
        scenarios = Scenarios(stack, counter, receiver, folder)
        return {
            "first": scenarios.run(scenarios.files("first", [first]), deadline_s=240.0),
            "warm": scenarios.run(scenarios.files("warm", [then]), deadline_s=240.0),
        }


def test_the_happy_path_is_seen_doing_every_request_it_must(measured: dict[str, dict[str, Any]]) -> None:
    result = measured["first"]
    assert not TIMERS & set(result["executions"]), f"a timer ran while the photo was counted: {result['executions']}"
    kinds = set(result["storage"]) | set(result["batch"]) | {f"execution {k}" for k in result["executions"]}
    assert kinds >= MUST, f"not seen: {sorted(MUST - kinds)}"
    assert not [k for k in kinds if "-> 5" in k or "(failed)" in k], sorted(kinds)
    # The local host's trigger machinery is counted apart, never as the photo's.
    assert not [k for k in result["storage_by_resource"] if "azure-webjobs" in k]
    assert result["totals"]["storage"] >= len([k for k in MUST if k.startswith(("blob", "table", "queue"))])


def test_the_warm_path_makes_exactly_the_requests_the_cost_model_prices(measured: dict[str, dict[str, Any]]) -> None:
    """A new table write or blob read on the happy path changes the cost per photo: re-measure with
    `python -m benchmarks.ops_per_photo` and update `MEASURED_HAPPY` (and docs/scale.md) with it."""
    warm = measured["warm"]
    assert not TIMERS & set(warm["executions"]), f"a timer ran while the photo was counted: {warm['executions']}"
    assert warm["storage"] == MEASURED_HAPPY["storage"]
    assert warm["executions"] == MEASURED_HAPPY["executions"]
    assert warm["batch"] == MEASURED_HAPPY["batch"]  # one task; the job and the kick were the first's
