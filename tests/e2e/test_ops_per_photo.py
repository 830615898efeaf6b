"""The request counter on the whole local stack: one photo on the happy path, and every kind of request that
path must make is seen in the traffic itself (Azurite's debug log, the Batch service's request log, the
Functions host's executions). What the benchmark divides per photo rests on this."""

from __future__ import annotations

from pathlib import Path

from benchmarks.ops_per_photo import Scenarios, counted_stack
from sitelens import field_photos
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


def test_the_happy_path_is_seen_doing_every_request_it_must(tmp_path: Path) -> None:
    photo = field_photos.photo_set(1, seed=31)[0].jpeg
    with Receiver() as receiver, counted_stack(tmp_path) as (stack, counter):
        scenarios = Scenarios(stack, counter, receiver, tmp_path)
        result = scenarios.run(scenarios.files("one", [photo]), deadline_s=240.0)
    kinds = set(result["storage"]) | set(result["batch"]) | {f"execution {k}" for k in result["executions"]}
    assert kinds >= MUST, f"not seen: {sorted(MUST - kinds)}"
    assert not [k for k in kinds if "-> 5" in k or "(failed)" in k], sorted(kinds)
    # The local host's trigger machinery is counted apart, never as the photo's.
    assert not [k for k in result["storage_by_resource"] if "azure-webjobs" in k]
    assert result["totals"]["storage"] >= len([k for k in MUST if k.startswith(("blob", "table", "queue"))])
