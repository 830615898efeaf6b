"""A photo's trace context through ingestion, submission and completion (no exporter: the context still
travels, as W3C traceparents, even where nothing is recorded)."""

from __future__ import annotations

import json
from dataclasses import replace

from shared.jobs import ids
from shared.jobs.completion import CompletionMessage
from shared.jobs.ports import BlobInfo
from tests.unit.jobs.test_pipeline import World

DEVICE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _with_hint(world: World, hint: str | None) -> None:
    plain = world.photos.photo_info

    def photo_info(blob_name: str) -> BlobInfo:
        return replace(plain(blob_name), traceparent=hint)

    world.photos.photo_info = photo_info  # type: ignore[method-assign]


def test_the_devices_trace_reaches_the_job_and_the_batch_task() -> None:
    world = World()
    _with_hint(world, DEVICE)
    job = world.ingestion.ingest(world.upload(1))
    assert job.traceparent is not None and job.traceparent.split("-")[1] == DEVICE.split("-")[1]
    assert world.batch.tasks[job.id].traceparent == job.traceparent  # handed to the task as TRACEPARENT


def test_a_photo_without_a_hint_gets_no_borrowed_trace() -> None:
    world = World()
    _with_hint(world, None)
    job = world.ingestion.ingest(world.upload(2))
    assert job.traceparent is None or job.traceparent.split("-")[1] != DEVICE.split("-")[1]


def test_a_completion_messages_traceparent_is_kept_only_when_well_formed() -> None:
    base = {"job_id": ids.job_id_for("north-yard/cam-1/2026/11/22/p.jpg"), "outcome": "succeeded", "attempt": 1}
    good = CompletionMessage.parse(json.dumps(base | {"traceparent": DEVICE}).encode())
    bad = CompletionMessage.parse(json.dumps(base | {"traceparent": DEVICE.upper() + ";drop"}).encode())
    assert (good.traceparent, bad.traceparent) == (DEVICE, None)
