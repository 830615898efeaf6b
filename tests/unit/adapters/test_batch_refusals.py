"""BatchTaskSubmitter reads Batch's 409s by their code, through the real azure-batch client: a scripted
loopback service answers what the real one answers (codes from Batch's error table), so the SDK's own
exceptions reach the adapter."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from azure.batch import BatchClient
from azure.core.credentials import AzureNamedKeyCredential

from shared.adapters.azure_batch_submitter import BatchTaskSubmitter, TaskSpec
from shared.adapters.azure_errors import service_code
from shared.errors import Conflict, PermanentError, TransientError
from shared.jobs.ports import TaskRequest
from tests.support.scripted_http import Answer, ScriptedServer

BATCH_JOB = "sitelens-20261122"
TASKS = f"/jobs/{BATCH_JOB}/tasks"
TERMINATE = f"/jobs/{BATCH_JOB}/tasks/j_a/terminate"
REQUEST = TaskRequest("j_a", BATCH_JOB, "ocr/ppocrv4", "http://127.0.0.1:1/derived/j_a/input.jpg")


def refusal(status: int, code: str) -> Answer:
    body = {"code": code, "message": {"lang": "en-US", "value": f"{code}.\nRequestId:r\nTime:2026-11-22T08:00:00Z"}}
    data = json.dumps(body).encode()
    return status, {}, data, len(data)  # a declared length closes the connection: the server reads no body


DONE: Answer = (201, {}, b"", 0)


@pytest.fixture
def batch() -> Iterator[ScriptedServer]:
    server = ScriptedServer(DONE, route=lambda path: path.split("?", 1)[0])
    yield server
    server.close()


@pytest.fixture
def submitter(batch: ScriptedServer) -> BatchTaskSubmitter:
    client = BatchClient(batch.origin, AzureNamedKeyCredential("acct", "a2V5"), retry_total=0)
    return BatchTaskSubmitter(client, TaskSpec(pool_id="gpu", command="true"))


@pytest.mark.parametrize("code", ["JobCompleted", "JobBeingTerminated", "JobNotActive"])
def test_a_batch_job_that_takes_no_more_tasks_refuses_for_good(batch, submitter, code):
    batch.script[TASKS] = [refusal(409, code)]
    with pytest.raises(PermanentError) as caught:
        submitter.submit(REQUEST)
    assert not isinstance(caught.value, Conflict)  # no lost race: ingestion must not re-read and try again
    assert caught.value.reason == "batch_refused" and service_code(caught.value) == code
    assert code in str(caught.value) and BATCH_JOB in str(caught.value)  # the job's detail names both


def test_a_spent_quota_of_active_jobs_when_the_day_s_job_is_created_is_transient(batch, submitter):
    batch.script[TASKS] = [refusal(404, "JobNotFound")]
    batch.script["/jobs"] = [refusal(409, "ActiveJobAndScheduleQuotaReached")]
    with pytest.raises(TransientError) as caught:
        submitter.submit(REQUEST)
    assert service_code(caught.value) == "ActiveJobAndScheduleQuotaReached"
    assert [(method, path.split("?")[0]) for method, path, _ in batch.seen] == [("POST", TASKS), ("POST", "/jobs")]


def test_a_batch_job_being_deleted_is_transient_since_the_next_try_creates_it_again(batch, submitter):
    batch.script[TASKS] = [refusal(409, "JobBeingDeleted")]
    with pytest.raises(TransientError):
        submitter.submit(REQUEST)


def test_the_two_races_still_count_as_done_and_an_unknown_409_stays_a_conflict(batch, submitter):
    batch.script[TASKS] = [refusal(404, "JobNotFound"), refusal(409, "TaskExists")]
    batch.script["/jobs"] = [refusal(409, "JobExists")]
    submitter.submit(REQUEST)  # another instance created the day's job, and the task, first
    batch.script[TASKS] = [refusal(409, "SomethingNew")]
    with pytest.raises(Conflict):
        submitter.submit(REQUEST)


@pytest.mark.parametrize("code", ["", "TaskCompleted", "TaskNotFound", "JobNotFound", "JobCompleted"])
def test_cancel_terminates_the_task_and_finds_an_ended_or_missing_one_done(batch, submitter, code):
    terminated: Answer = (204, {}, b"", 0)
    batch.script[TERMINATE] = [refusal(404 if "NotFound" in code else 409, code) if code else terminated]
    submitter.cancel(BATCH_JOB, "j_a")
    assert [(method, path.split("?")[0]) for method, path, _ in batch.seen] == [("POST", TERMINATE)]


def test_cancel_raises_what_batch_could_not_do(batch, submitter):
    batch.script[TERMINATE] = [refusal(503, "ServerBusy")]
    with pytest.raises(TransientError):
        submitter.cancel(BATCH_JOB, "j_a")
    batch.script[TERMINATE] = [refusal(409, "OperationInvalidForCurrentState")]
    with pytest.raises(Conflict):
        submitter.cancel(BATCH_JOB, "j_a")
