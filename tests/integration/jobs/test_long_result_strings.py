"""A result whose labels are longer than a Table string property holds ends its job, on the real parts: the result in
Azurite's `results/`, its completion message with the job's task token, the job and its webhook event in Azurite's
tables. A detect model's labels come from its manifest, which has no length of its own: the summary cuts each one
(shared/jobs/result_kinds.py), and the whole result stays behind the job's link."""

from __future__ import annotations

import hashlib
import json

import pytest

from shared.adapters.azure_photo_store import RESULTS
from shared.adapters.azure_webhook_store import TableWebhookStore
from shared.jobs import ids
from shared.jobs.models import JobState
from shared.jobs.result_kinds import MAX_SHOWN_CHARS, PREVIEW_BOXES
from tests.integration.jobs.real_world import RealWorld

pytestmark = pytest.mark.integration
LABEL_CHARS = 3200  # ten of them, as JSON, are past the 32K UTF-16 code units of one Table string property


@pytest.mark.parametrize("char", ["x", "写"], ids=["ascii", "cjk"])
def test_a_result_with_labels_past_a_table_property_succeeds_and_is_published(real_world: RealWorld, char: str) -> None:
    job = real_world.ingestion.ingest(real_world.upload(1))
    assert job is not None and job.state is JobState.QUEUED
    labels = [f"{n}-" + char * LABEL_CHARS for n in range(PREVIEW_BOXES + 2)]
    boxes = [{"label": label, "class_id": n, "score": 0.9 - n / 100, "box": [1.0, 2.0, 30.0, 40.0]}
             for n, label in enumerate(labels)]  # fmt: skip
    result = json.dumps({"schema": "sitelens.detect.result/1", "job_id": job.id,
                         "result": {"width": 640, "height": 480, "boxes": boxes}}).encode()  # fmt: skip
    real_world.blobs.get_blob_client(RESULTS, ids.result_path(job.id)).upload_blob(result, overwrite=True)
    message = {"job_id": job.id, "task_id": job.id, "outcome": "succeeded", "result_path": ids.result_path(job.id),
               "checksum": "sha256:" + hashlib.sha256(result).hexdigest(),
               "task_token": real_world.restarted_store().get(job.id).task_token}  # fmt: skip

    real_world.completion.handle(json.dumps(message).encode())

    stored = real_world.restarted_store().get(job.id)
    assert (stored.state, stored.event_published) == (JobState.SUCCEEDED, True)
    assert job.id not in real_world.restarted_store().open_ids()  # nothing left for the reconciler to publish
    shown = [label[:MAX_SHOWN_CHARS] for label in labels[:PREVIEW_BOXES]]
    assert [box["label"] for box in stored.summary["best"]] == shown and stored.summary["boxes"] == len(labels)
    event = TableWebhookStore(real_world.tables, prefix=real_world.prefix).get_event(ids.event_id(job.id, "SUCCEEDED"))
    body = json.loads(event.body)
    assert body["data"]["state"] == "SUCCEEDED"
    assert [box["label"] for box in body["data"]["result"]["summary"]["best"]] == shown
    whole = real_world.photos.read_result(ids.result_path(job.id))  # the result itself is kept whole
    assert [box["label"] for box in json.loads(whole)["result"]["boxes"]] == labels
