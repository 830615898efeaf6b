"""The status API without HTTP: ETags and 304, Retry-After, paging, retry, feedback, problem documents."""

from __future__ import annotations

import json

import pytest

from shared.jobs.api import JobsApi
from shared.jobs.models import JobState
from tests.unit.jobs.test_pipeline import World


@pytest.fixture
def world() -> World:
    return World()


def call(api: JobsApi, action: str, job_id: str = "", *, query=None, headers=None, body: bytes = b""):
    return api.handle(action, {"id": job_id} if job_id else {}, query or {}, headers or {}, body)


def test_a_running_job_answers_with_an_etag_retry_after_and_304_when_unchanged(world, api):
    job = world.ingestion.ingest(world.upload(1))
    reply = call(api, "get", job.id)
    assert reply.status == 200 and reply.body["state"] == "QUEUED" and reply.headers["Retry-After"]
    again = call(api, "get", job.id, headers={"If-None-Match": reply.headers["ETag"]})
    assert again.status == 304 and again.body is None
    world.completion.handle(world.finish_task(job.id))
    done = call(api, "get", job.id, headers={"if-none-match": reply.headers["ETag"]})
    assert done.status == 200 and done.body["state"] == "SUCCEEDED" and "Retry-After" not in done.headers
    assert done.body["result"]["summary"]["text"] == ["PUMP 1"] and done.body["result"]["links"]["result"]
    assert done.body["timings"]["received_at"].endswith("Z") and done.body["timings"]["latency_ms"] == 0


def test_the_public_document_names_no_paths_and_no_gps(world, api):
    job = world.ingestion.ingest(world.upload(1))
    world.completion.handle(world.finish_task(job.id))
    text = json.dumps(call(api, "get", job.id).body)
    assert "north-yard/cam-1" not in text and "GPS" not in text and 'result.json"' not in text.split("links")[0]


@pytest.mark.parametrize(("job_id", "status", "reason"), [("nope", 400, "bad_job_id"),
                                                          ("j_" + "a" * 26, 404, "not_found")])  # fmt: skip
def test_unknown_and_malformed_ids_are_problem_documents(api, job_id, status, reason):
    reply = call(api, "get", job_id)
    assert reply.status == status and reply.body["reason"] == reason and reply.body["status"] == status
    assert reply.media_type == "application/problem+json"


def test_listing_pages_with_a_continuation_and_filters_by_state(world, api):
    for n in range(3):
        world.ingestion.ingest(world.upload(n))
    page = call(api, "list", query={"site": "north-yard", "state": "QUEUED", "limit": "2"})
    assert page.status == 200 and len(page.body["jobs"]) == 2
    assert call(api, "list", query={}).body["reason"] == "missing_site"
    for bad in ({"site": "s", "state": "DONE"}, {"site": "s", "since": "yesterday"}, {"site": "s", "limit": "0"},
                {"site": "s", "since": "2026-11-22T08:00:00"}):  # fmt: skip
        assert call(api, "list", query=bad).body["reason"] == "bad_query", bad


def test_only_a_failed_job_can_be_retried_and_the_retry_is_a_new_job(world, api):
    job = world.ingestion.ingest(world.upload(1))
    refused = call(api, "retry", job.id)
    assert refused.status == 400 and refused.body["reason"] == "not_failed"
    failure = {"job_id": job.id, "task_id": job.id, "attempt": 1, "outcome": "failed",
               "error": {"code": "bad_input", "message": "x"}, **world.task_token(job.id)}  # fmt: skip
    world.completion.handle(json.dumps(failure).encode())
    reply = call(api, "retry", job.id)
    assert reply.status == 202 and reply.body["retry_of"] == job.id and reply.body["state"] == "QUEUED"
    assert reply.headers["Location"] == f"/api/jobs/{reply.body['id']}"
    assert world.store.get(job.id).state is JobState.FAILED


def test_feedback_is_kept_and_checked(world, api):
    job = world.ingestion.ingest(world.upload(1))
    ok = call(api, "feedback", job.id, body=json.dumps({"label": "nameplate", "text": "PUMP P-104"}).encode())
    assert ok.status == 201 and world.store.feedback == [(job.id, {"label": "nameplate", "text": "PUMP P-104"})]
    for body, reason in ((b"{", "invalid_json"), (b"{}", "bad_feedback"), (b'{"label": 3}', "bad_feedback"),
                         (json.dumps({"text": "x" * 5000}).encode(), "bad_feedback")):  # fmt: skip
        assert call(api, "feedback", job.id, body=body).body["reason"] == reason
