"""A Batch task cannot know which run it is, so the node's messages carry no attempt: the app then records at
least 1 (one attempt ran), keeping a count it has, and takes an exact one from a message that has it or from
Batch's own retry count."""

from __future__ import annotations

import json

import pytest

from batch_tasks.node import jobs
from batch_tasks.ocr.result import OcrResult
from shared.jobs import document, ids
from shared.jobs.models import JobState
from shared.jobs.ports import TaskState, TaskView
from tests.unit.jobs.test_pipeline import World


@pytest.fixture
def world() -> World:
    return World()


def node_request(job_id: str, **extra: object) -> jobs.JobRequest:
    """The job request `batch_tasks.task` sends (no attempt), with `extra` fields."""
    return jobs.JobRequest.from_message({"job_id": job_id, "model": "ocr/ppocrv4", "path": "/wd/input.jpg", **extra})


def test_the_nodes_messages_and_result_leave_out_an_attempt_they_do_not_know() -> None:
    request = node_request("j_abc")
    assert request.attempt is None
    result = b'{"job_id":"j_abc"}'
    assert "attempt" not in jobs.succeeded(request, "j_abc/result.json", result)
    assert "attempt" not in jobs.failed(request, "bad_input", "not a photo")
    doc = jobs.result_document(request, OcrResult(100, 50, ()), provider="CPUExecutionProvider", timings_ms={})
    assert json.loads(doc)["node"] == {"provider": "CPUExecutionProvider"}
    assert jobs.succeeded(node_request("j_abc", attempt=2), "j_abc/result.json", result)["attempt"] == 2


def test_a_success_without_an_attempt_records_at_least_one(world):
    job = world.ingestion.ingest(world.upload(1))
    stored = json.loads(world.finish_task(job.id))  # stores the result; its message is replaced by the node's
    result = world.photos.results[ids.result_path(job.id)]
    message = jobs.succeeded(node_request(job.id), stored["result_path"], result) | world.task_token(job.id)
    done = world.completion.handle(json.dumps(message).encode())
    assert done.state is JobState.SUCCEEDED and done.attempt == 1
    assert document.public(done)["attempts"] == 1  # one ran, whichever it was: not 0, as for a job not yet run


@pytest.mark.parametrize("attempt", [{}, {"attempt": None}])
def test_a_failure_without_an_attempt_records_at_least_one(world, attempt):
    job = world.ingestion.ingest(world.upload(1))
    message = {**jobs.failed(node_request(job.id), "bad_input", "not a photo"), **attempt, **world.task_token(job.id)}
    done = world.completion.handle(json.dumps(message).encode())
    assert (done.state, done.reason, done.attempt) == (JobState.FAILED, "bad_input", 1)


def test_an_attempt_a_message_does_carry_is_recorded(world):
    job = world.ingestion.ingest(world.upload(1))
    assert world.completion.handle(world.finish_task(job.id, attempt=2)).attempt == 2


def test_the_reconciler_records_batchs_own_count_when_it_ends_the_job(world):
    job = world.ingestion.ingest(world.upload(1))
    world.finish_task(job.id)  # the result is stored, the message lost
    world.batch.views[job.id] = TaskView(TaskState.COMPLETED, exit_code=0, retries=1)
    world.clock.advance(16 * 60)
    world.reconciler.run()
    done = world.store.get(job.id)
    assert (done.state, done.attempt) == (JobState.SUCCEEDED, 2)
