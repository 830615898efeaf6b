"""The job logic of ingestion, completion and repair, over in-memory ports and the real validator."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import numpy as np
import pytest

from batch_tasks.ocr.opencv import cv2
from shared.errors import TransientError
from shared.jobs import document, ids, routing
from shared.jobs.completion import Completion
from shared.jobs.finisher import Finisher
from shared.jobs.ingestion import Ingestion
from shared.jobs.models import JobState
from shared.jobs.ports import TaskState, TaskView
from shared.jobs.reconciler import Reconciler
from shared.validation import Limits, QualityPolicy
from tests.unit.jobs.fakes import (
    Clock,
    FixedRoutes,
    MemoryBatch,
    MemoryJobStore,
    MemoryOutbox,
    MemoryPhotos,
    NoRoutes,
    write_number,
)

NAME = "north-yard/cam-1/2026/11/22/IMG_{}.jpg"


def photo(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    cv2.putText(image, f"PUMP {seed}", (40, 240), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (255, 255, 255), 4)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return data.tobytes()


class World:
    def __init__(self) -> None:
        self.clock = Clock()
        self.store, self.photos, self.batch, self.outbox = (
            MemoryJobStore(),
            MemoryPhotos(),
            MemoryBatch(),
            MemoryOutbox(),
        )
        self.finisher = Finisher(self.store, self.outbox, self.clock)
        self.ingestion = Ingestion(
            store=self.store, photos=self.photos, submitter=self.batch, routes=NoRoutes(), finisher=self.finisher,
            clock=self.clock, limits=Limits(), policies=lambda site: QualityPolicy(), default_model="ocr/ppocrv4",
        )  # fmt: skip
        self.completion = Completion(store=self.store, photos=self.photos, finisher=self.finisher, clock=self.clock)
        self.reconciler = Reconciler(
            store=self.store, photos=self.photos, submitter=self.batch, ingestion=self.ingestion,
            completion=self.completion, finisher=self.finisher, clock=self.clock, stuck_after=timedelta(minutes=15),
        )  # fmt: skip

    def upload(self, n: int, data: bytes | None = None) -> str:
        name = NAME.format(n)
        self.photos.add(name, data if data is not None else photo(n), etag=f'"0x{n}"')
        return name

    def finish_task(self, job_id: str, attempt: int = 1, send: bool = True) -> bytes:
        result = json.dumps({"job_id": job_id, "result": {"lines": [{"text": "PUMP 1"}], "width": 640}}).encode()
        self.photos.results[ids.result_path(job_id)] = result
        checksum = "sha256:" + hashlib.sha256(result).hexdigest()
        message = {"job_id": job_id, "task_id": job_id, "attempt": attempt, "outcome": "succeeded",
                   "result_path": ids.result_path(job_id), "checksum": checksum, **self.task_token(job_id)}  # fmt: skip
        return json.dumps(message).encode()

    def task_token(self, job_id: str) -> dict[str, str]:
        """What the job's task echoes: the secret its submission put in the task's environment, if any."""
        request = self.batch.tasks.get(job_id)
        return {"task_token": request.task_token} if request and request.task_token else {}


@pytest.fixture
def world() -> World:
    return World()


def test_a_photo_becomes_one_queued_task_then_succeeds_with_one_event(world):
    job = world.ingestion.ingest(world.upload(1))
    assert job.state is JobState.QUEUED and job.model == "ocr/ppocrv4" and job.content_sha256
    assert list(world.batch.tasks) == [job.id] and job.id in world.photos.derived
    done = world.completion.handle(world.finish_task(job.id))
    assert done.state is JobState.SUCCEEDED and done.summary["text"] == ["PUMP 1"]
    assert world.outbox.states() == [JobState.SUCCEEDED] and world.store.open_ids() == []


def test_three_deliveries_of_one_blob_make_one_job_and_one_task(world):
    name = world.upload(1)
    first = world.ingestion.ingest(name)
    assert world.ingestion.ingest(name).id == world.ingestion.ingest(name).id == first.id
    assert len(world.batch.tasks) == 1 and len(world.store.jobs) == 1


def test_a_delivery_after_a_lost_submission_writes_the_job_once_not_its_recorded_quality_again(world):
    world.batch.down = True
    name = world.upload(1)
    with pytest.raises(TransientError):
        world.ingestion.ingest(name)
    received = world.store.get(ids.job_id_for(name))
    assert received.state is JobState.RECEIVED and received.quality and received.content_sha256
    world.batch.down = False
    queued = world.ingestion.ingest(name)
    assert queued.state is JobState.QUEUED and write_number(queued.etag) == write_number(received.etag) + 1


def test_a_duplicate_completion_message_changes_nothing(world):
    job = world.ingestion.ingest(world.upload(1))
    message = world.finish_task(job.id)
    world.completion.handle(message)
    again = world.completion.handle(message)
    assert again.state is JobState.SUCCEEDED and len(world.outbox.events) == 1


def test_same_bytes_for_the_same_site_reuse_the_result_without_a_second_task(world):
    data = photo(1)
    owner = world.ingestion.ingest(world.upload(1, data))
    follower = world.ingestion.ingest(world.upload(2, data))
    assert follower.state is JobState.QUEUED and follower.cached_from == owner.id
    world.completion.handle(world.finish_task(owner.id))
    cached = world.store.get(follower.id)
    assert cached.state is JobState.SUCCEEDED and cached.cached_from == owner.id
    assert cached.result_path == ids.result_path(owner.id) and list(world.batch.tasks) == [owner.id]
    late = world.ingestion.ingest(world.upload(3, data))  # the owner already succeeded: cached at once
    assert late.state is JobState.SUCCEEDED and late.cached_from == owner.id
    shown = document.public(late)
    assert shown["cached"] is True and shown["cached_from"] == owner.id
    assert document.public(world.store.get(owner.id))["cached_from"] is None


def test_same_bytes_routed_to_another_model_are_read_again_by_it(world):
    """An A/B split (or a version routed since) never hands a photo another model's reading of its bytes."""
    world.ingestion.routes = FixedRoutes([("ocr/a", 50), ("ocr/b", 50)])
    names = [world.upload(n, photo(1)) for n in range(1, 30)]  # the same bytes under 29 names
    by_model: dict[str, list[str]] = {}
    for name in names:
        by_model.setdefault(routing.choose(ids.job_id_for(name), [("ocr/a", 50), ("ocr/b", 50)], "x"), []).append(name)
    (a, *more_a), (b, *_) = by_model["ocr/a"], by_model["ocr/b"]
    first, other, same = (world.ingestion.ingest(n) for n in (a, b, more_a[0]))
    assert (first.model, other.model) == ("ocr/a", "ocr/b") and not first.cached_from and not other.cached_from
    assert sorted(world.batch.tasks) == sorted([first.id, other.id])  # each model reads the bytes once
    assert same.cached_from == first.id and same.model == "ocr/a"


def test_a_bad_photo_is_rejected_quarantined_and_never_submitted(world):
    name = world.upload(1, b"this is not an image, just text pretending to be one" * 40)
    job = world.ingestion.ingest(name)
    assert job.state is JobState.REJECTED and job.reason == "unsupported_type"
    assert world.photos.quarantined[name][1] == "unsupported_type" and not world.batch.tasks
    assert world.outbox.states() == [JobState.REJECTED]


def test_batch_down_keeps_the_job_received_and_a_redelivery_submits_it(world):
    name = world.upload(1)
    world.batch.down = True
    with pytest.raises(TransientError):
        world.ingestion.ingest(name)
    job = world.store.get(ids.job_id_for(name))
    assert job.state is JobState.RECEIVED
    world.batch.down = False
    assert world.ingestion.ingest(name).state is JobState.QUEUED and len(world.batch.tasks) == 1


def test_a_failed_task_reported_by_batch_fails_the_job_with_its_reason(world):
    job = world.ingestion.ingest(world.upload(1))
    world.batch.views[job.id] = TaskView(TaskState.COMPLETED, exit_code=1, failure_code="FailureExitCode",
                                         failure_message="The task process exited", retries=2)  # fmt: skip
    world.clock.advance(16 * 60)
    world.reconciler.run()
    failed = world.store.get(job.id)
    assert failed.state is JobState.FAILED and failed.reason == "task_failed" and "FailureExitCode" in failed.detail
    assert failed.attempt == 3


def test_a_task_that_failed_after_storing_its_result_succeeds_with_it(world):
    job = world.ingestion.ingest(world.upload(1))
    world.finish_task(job.id)  # the result is stored; every attempt to post the completion was refused
    world.batch.views[job.id] = TaskView(TaskState.COMPLETED, exit_code=5, failure_code="FailureExitCode", retries=2)
    world.clock.advance(16 * 60)
    world.reconciler.run()
    done = world.store.get(job.id)
    assert done.state is JobState.SUCCEEDED and done.result_path == ids.result_path(job.id) and done.attempt == 3
    assert world.outbox.states() == [JobState.SUCCEEDED]


def test_a_lost_completion_message_is_recovered_from_the_result(world):
    job = world.ingestion.ingest(world.upload(1))
    world.finish_task(job.id)  # the task wrote its result, but its message is lost
    world.batch.views[job.id] = TaskView(TaskState.COMPLETED, exit_code=0)
    world.clock.advance(16 * 60)
    world.reconciler.run()
    assert world.store.get(job.id).state is JobState.SUCCEEDED


def test_a_task_missing_from_batch_is_submitted_again(world):
    job = world.ingestion.ingest(world.upload(1))
    world.batch.tasks.clear()
    world.clock.advance(16 * 60)
    world.reconciler.run()
    assert list(world.batch.tasks) == [job.id] and world.store.get(job.id).state is JobState.QUEUED


def test_a_crash_between_the_terminal_write_and_the_event_is_repaired(world):
    job = world.ingestion.ingest(world.upload(1))
    world.outbox.record = _crash  # the process dies right after writing SUCCEEDED
    with pytest.raises(RuntimeError):
        world.completion.handle(world.finish_task(job.id))
    stored = world.store.get(job.id)
    assert stored.state is JobState.SUCCEEDED and not stored.event_published and job.id in world.store.open_ids()
    del world.outbox.record
    world.reconciler.run()
    assert world.outbox.states() == [JobState.SUCCEEDED] and world.store.open_ids() == []


def test_a_checksum_mismatch_waits_for_the_matching_attempt(world):
    job = world.ingestion.ingest(world.upload(1))
    stale = json.loads(world.finish_task(job.id, attempt=1))
    stale["checksum"] = "sha256:" + "0" * 64
    assert world.completion.handle(json.dumps(stale).encode()).state is JobState.QUEUED
    assert world.completion.handle(world.finish_task(job.id, attempt=2)).state is JobState.SUCCEEDED


def test_a_failed_job_is_retried_as_a_new_job_pointing_back(world):
    job = world.ingestion.ingest(world.upload(1))
    failure = {"job_id": job.id, "task_id": job.id, "attempt": 1, "outcome": "failed", "result_path": None,
               "checksum": None, "error": {"code": "bad_input", "message": "could not decode"},
               **world.task_token(job.id)}  # fmt: skip
    failed = world.completion.handle(json.dumps(failure).encode())
    assert failed.state is JobState.FAILED and failed.reason == "bad_input"
    again = world.ingestion.retry(failed)
    assert again.id != job.id and again.retry_of == job.id and again.state is JobState.QUEUED
    assert world.store.get(job.id).retried_by == again.id and world.store.get(job.id).state is JobState.FAILED
    assert world.ingestion.retry(world.store.get(job.id)).id == again.id  # repeating the call: the same job


def _crash(*_args, **_kwargs):
    raise RuntimeError("process killed")


def test_a_message_naming_another_jobs_result_is_not_believed(world):
    mine = world.ingestion.ingest(world.upload(1))
    other = world.ingestion.ingest(world.upload(2))
    forged = json.loads(world.finish_task(other.id))
    forged |= {"job_id": mine.id, **world.task_token(mine.id)}  # the checksum and path are the other job's
    done = world.completion.handle(json.dumps(forged).encode())
    assert done.state is JobState.FAILED and done.reason == "result_missing"
    assert world.store.get(other.id).state is JobState.QUEUED
