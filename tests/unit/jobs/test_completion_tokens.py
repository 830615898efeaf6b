"""A completion is believed only from the job's own task: the secret the submission gave the task must come back.

Any node may post to the `completions` queue and write `results/`, so without the check one node could end any
open job of any site: a `failed` message, or a made-up result with its checksum.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from batch_tasks import task
from batch_tasks.node import jobs
from shared import metrics
from shared.adapters.azure_batch_submitter import TASK_TOKEN, BatchTaskSubmitter, TaskSpec
from shared.jobs import document, ids
from shared.jobs.models import Job, JobState
from shared.jobs.ports import BlobInfo, TaskRequest, TaskState, TaskView
from tests.unit.jobs.test_pipeline import World, photo


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def refused(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(site, refusal) of each completion counted as not from its job's task."""
    counted: list[tuple[str, str]] = []
    monkeypatch.setattr(metrics, "completion_refused", lambda site, refusal: counted.append((site, refusal)))
    return counted


def forged_success(world: World, job_id: str) -> dict[str, Any]:
    """What a node holding the pool's identity can write for any job: a result of its own, and its checksum."""
    fake = json.dumps({"job_id": job_id, "result": {"lines": [{"text": "ALL CLEAR"}], "width": 640}}).encode()
    world.photos.results[ids.result_path(job_id)] = fake
    return {"job_id": job_id, "outcome": "succeeded", "result_path": ids.result_path(job_id),
            "checksum": "sha256:" + hashlib.sha256(fake).hexdigest()}  # fmt: skip


FORGED_FAILURE = {"outcome": "failed", "error": {"code": "bad_input", "message": "forged"}}


@pytest.mark.parametrize("token", [None, "not-the-jobs-token"], ids=["missing", "mismatch"])
@pytest.mark.parametrize("kind", ["failed", "succeeded"])
def test_a_completion_without_the_jobs_token_changes_nothing_and_is_counted(
    world: World, refused: list[tuple[str, str]], caplog: pytest.LogCaptureFixture, token: str | None, kind: str
) -> None:
    job = world.ingestion.ingest(world.upload(1))
    assert job is not None and job.task_token
    forged = forged_success(world, job.id) if kind == "succeeded" else {"job_id": job.id, **FORGED_FAILURE}
    if token is not None:
        forged["task_token"] = token
    with caplog.at_level(logging.WARNING):
        done = world.completion.handle(json.dumps(forged).encode())
    assert done.state is JobState.QUEUED and world.store.get(job.id) == job  # not one field written
    assert world.outbox.events == {}
    assert refused == [(job.site, "missing" if token is None else "mismatch")]
    assert "dropped" in caplog.text and job.task_token not in caplog.text


def test_the_jobs_own_token_completes_it_after_a_forgery_was_dropped(
    world: World, refused: list[tuple[str, str]]
) -> None:
    job = world.ingestion.ingest(world.upload(1))
    assert job is not None
    world.completion.handle(json.dumps({"job_id": job.id, **FORGED_FAILURE}).encode())
    done = world.completion.handle(world.finish_task(job.id))
    assert done.state is JobState.SUCCEEDED and done.summary["text"] == ["PUMP 1"] and len(refused) == 1


def test_the_task_is_given_the_token_recorded_when_the_job_was_created(world: World) -> None:
    world.batch.down = True
    name = world.upload(1)
    with pytest.raises(Exception, match="Batch unreachable"):
        world.ingestion.ingest(name)
    recorded = world.store.get(ids.job_id_for(name))
    assert recorded.state is JobState.RECEIVED and recorded.task_token  # before any task could exist
    world.batch.down = False
    queued = world.ingestion.ingest(name)
    assert queued.task_token == recorded.task_token == world.batch.tasks[queued.id].task_token


def test_a_task_missing_from_batch_is_submitted_again_with_the_same_token(world: World) -> None:
    job = world.ingestion.ingest(world.upload(1))
    assert job is not None
    del world.batch.tasks[job.id]
    world.clock.advance(16 * 60)
    world.reconciler.run()
    assert world.batch.tasks[job.id].task_token == job.task_token
    assert world.completion.handle(world.finish_task(job.id)).state is JobState.SUCCEEDED


def test_a_job_recorded_without_a_token_gets_one_before_its_task_is_submitted(world: World) -> None:
    name = world.upload(1)
    info = world.photos.photo_info(name)
    legacy = world.store.create(Job(ids.job_id_for(name), "north-yard", "cam-1", "IMG_1", name, info.etag,
                                    world.clock()))  # fmt: skip
    assert legacy is not None and legacy.task_token is None  # as an earlier release recorded it
    queued = world.ingestion.process(legacy, BlobInfo(info.size, info.etag))
    assert queued.state is JobState.QUEUED and queued.task_token
    assert world.batch.tasks[queued.id].task_token == queued.task_token


def test_a_job_submitted_by_an_earlier_release_still_takes_a_message_without_a_token(world: World) -> None:
    job = world.ingestion.ingest(world.upload(1))
    assert job is not None
    world.store.update(replace(job, task_token=None))  # queued before tasks carried one: nothing to check against
    assert world.completion.handle(world.finish_task(job.id)).state is JobState.SUCCEEDED


def test_a_node_of_an_earlier_release_is_dropped_and_the_reconciler_ends_the_job_from_batch(world: World) -> None:
    job = world.ingestion.ingest(world.upload(1))
    assert job is not None
    old_node = {k: v for k, v in json.loads(world.finish_task(job.id)).items() if k != "task_token"}
    assert world.completion.handle(json.dumps(old_node).encode()).state is JobState.QUEUED
    world.batch.views[job.id] = TaskView(TaskState.COMPLETED, exit_code=0)
    world.clock.advance(16 * 60)
    world.reconciler.run()
    assert world.store.get(job.id).state is JobState.SUCCEEDED


def test_the_token_is_in_no_public_document_and_no_repr(world: World) -> None:
    job = world.ingestion.ingest(world.upload(1, photo(1)))
    assert job is not None and job.task_token
    for shown in (json.dumps(document.public(job)), repr(job), repr(world.batch.tasks[job.id])):
        assert job.task_token not in shown


def test_the_batch_task_carries_the_token_in_its_environment_and_the_task_sends_it(monkeypatch) -> None:
    request = TaskRequest("j_x", "sitelens-20261206", "ocr/ppocrv4", "http://127.0.0.1:10000/derived/j_x",
                          task_token="secret-of-j_x")  # fmt: skip
    spec = TaskSpec(pool_id="p", command="run", environment={TASK_TOKEN: "a setting cannot replace it"},
                    max_wall_clock=timedelta(minutes=10))  # fmt: skip
    built = BatchTaskSubmitter(client=None, spec=spec)._task(request)  # type: ignore[arg-type]  # builds only
    env = {e.name: e.value for e in built.environment_settings or []}
    assert env[TASK_TOKEN] == "secret-of-j_x"
    monkeypatch.setenv(TASK_TOKEN, env[TASK_TOKEN])  # as the task on the node reads its environment
    sent = task._request(task._parse(["j_x"]))
    node_request = jobs.JobRequest.from_message(sent)
    assert jobs.succeeded(node_request, "j_x/result.json", b"{}")["task_token"] == "secret-of-j_x"
    assert jobs.failed(node_request, "bad_input", "x")["task_token"] == "secret-of-j_x"
    assert "secret-of-j_x" not in repr(node_request)
