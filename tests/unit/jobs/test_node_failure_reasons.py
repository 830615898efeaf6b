"""A node's `failed` completion ends the job with the node's own code as its reason, for every code the node posts
one for (`FINAL_ERRORS`); a code this release does not know (a node a release ahead) fails the job with the
catch-all reason, the node's code leading the detail, never under another code's name. Every reason a completion
can give is in the FAILED table of docs/reason-codes.md, and no row there is a code a job never carries."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from batch_tasks.errors import FINAL_ERRORS
from shared.jobs.completion import NODE_ERRORS
from shared.jobs.models import Job, JobState
from shared.jobs.ports import TaskState, TaskView
from tests.unit.jobs.test_pipeline import World

REPO = Path(__file__).resolve().parents[3]
PAST_STUCK = timedelta(minutes=16)  # the World's reconciler looks again after 15 minutes


@pytest.fixture
def world() -> World:
    return World()


def failed_by_node(world: World, code: str, message: str = "what the node said") -> tuple[Job, bytes]:
    job = world.ingestion.ingest(world.upload(1))
    assert job is not None and job.state is JobState.QUEUED
    body = json.dumps({"job_id": job.id, "task_id": job.id, "outcome": "failed", "result_path": None,
                       "checksum": None, "error": {"code": code, "message": message},
                       **world.task_token(job.id)}).encode()  # fmt: skip
    return world.completion.handle(body), body


@pytest.mark.parametrize(
    ("code", "reason"),
    [("bad_input", "bad_input"), ("too_large", "bad_input"), ("model_output_invalid", "model_output_invalid"),
     ("unknown_model", "unknown_model"), ("model_not_served", "model_not_served")],
)  # fmt: skip
def test_each_final_node_code_is_the_jobs_reason_after_one_attempt(world: World, code: str, reason: str) -> None:
    assert code in FINAL_ERRORS  # the node posts it
    done, _ = failed_by_node(world, code)
    assert (done.state, done.reason, done.detail, done.attempt) == (JobState.FAILED, reason, "what the node said", 1)


def test_a_code_this_release_does_not_know_is_the_catch_all_with_the_code_in_the_detail(world: World) -> None:
    done, _ = failed_by_node(world, "model_retired", "a code of a later release")
    assert (done.state, done.reason) == (JobState.FAILED, "inference_failed")
    assert done.detail == "model_retired: a code of a later release"


def test_batchs_retries_after_an_unknown_model_leave_the_job_as_the_node_ended_it(world: World) -> None:
    done, body = failed_by_node(world, "unknown_model", "model ghost/9.9.9 is not in the registry")
    world.completion.handle(body)  # the next attempt meets the same failure and says so again
    world.batch.views[done.id] = TaskView(TaskState.COMPLETED, exit_code=2, failure_code="FailureExitCode",
                                          failure_message="The task process exited", retries=2)  # fmt: skip
    world.clock.advance(PAST_STUCK.total_seconds())
    world.reconciler.run()  # the task failed its last attempt too: the job is already ended
    stored = world.store.get(done.id)
    assert (stored.state, stored.reason, stored.detail, stored.attempt) == (
        JobState.FAILED, "unknown_model", "model ghost/9.9.9 is not in the registry", 1)  # fmt: skip
    assert world.outbox.states() == [JobState.FAILED]


def failed_table() -> set[str]:
    text = (REPO / "docs" / "reason-codes.md").read_text()
    section = text.split("## Failures of an accepted photo (`FAILED`)")[1].split("\n## ")[0]
    table = section.split("\n\n")[1]  # the table right under the heading
    return set(re.findall(r"^\| <a id=\"[a-z_]+\"></a>`([a-z_]+)`", table, re.MULTILINE))


def test_the_failed_table_lists_every_reason_a_completion_gives_and_no_node_only_code() -> None:
    rows = failed_table()
    assert {*NODE_ERRORS.values(), "inference_failed", "task_failed"} <= rows
    assert "model_out_of_memory" not in rows  # retryable on the node: a job shows it only as task_failed, exit 6
