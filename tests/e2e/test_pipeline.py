"""The product's main job over the real local stack: photo in, exactly one terminal state out.

Real parts only: Azurite, the local Functions host running function_app.py, the local Batch service with the
autoscaled pool and the node servers its start task launches, the PP-OCRv4 model, and the azure SDKs.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import urllib.request
import uuid

import numpy as np
import pytest

from batch_tasks.ocr.opencv import cv2
from sitelens.field_photos import bad_files, render
from tests.e2e.conftest import MAX_BYTES, SETTINGS, STRICT_SITE, Pipeline, unread_request
from tests.integration.ocr.photos import canon
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e


def name(site: str = "north-yard", ext: str = "jpg") -> str:
    return f"{site}/cam-1/2026/11/22/{uuid.uuid4().hex[:16]}.{ext}"


def test_a_photo_ends_succeeded_with_its_text_and_status_never_404_once_accepted(pipeline: Pipeline):
    photo = render(11)
    job_id = pipeline.put(name(), photo.jpeg)
    accepted = pipeline.wait_accepted(job_id)
    assert accepted["state"] in ("RECEIVED", "QUEUED", "RUNNING", "SUCCEEDED")
    job = pipeline.wait_terminal(job_id)
    codes = pipeline.polled[job_id]
    assert 404 not in codes[codes.index(200) :], codes  # accepted is durable
    assert job["state"] == "SUCCEEDED", (job["reason"], job["detail"])
    found = {canon(t) for t in job["result"]["summary"]["text"]}
    expected = [canon(line.text) for line in photo.lines]
    assert sum(t in found for t in expected) >= 0.6 * len(expected), (expected, found)
    assert job["timings"]["queued_at"] and job["timings"]["finished_at"] and job["model"] == "ocr/ppocrv4"
    with urllib.request.urlopen(job["result"]["links"]["overlay"], timeout=10) as r:
        assert r.read(3) == b"\xff\xd8\xff"
    assert [t.id for t in pipeline.tasks(job_id)] == [job_id]
    feedback = json.dumps({"label": "nameplate", "text": photo.lines[0].text}).encode()
    assert pipeline.http("POST", f"/jobs/{job_id}/feedback", body=feedback).status == 201
    reply = pipeline.status(job_id)
    assert "Retry-After" not in reply.headers
    again = pipeline.http("GET", f"/jobs/{job_id}", headers={"If-None-Match": reply.headers["ETag"]})
    if again.status == 200:  # the two calls fell in two of the links' signing windows (api.md): ask once more
        again = pipeline.http("GET", f"/jobs/{job_id}", headers={"If-None-Match": again.headers["ETag"]})
    assert again.status == 304


def test_the_same_blob_delivered_three_times_is_one_job_one_task_one_result(pipeline: Pipeline):
    blob_name = name()
    job_id = pipeline.put(blob_name, render(12).jpeg)
    etag = pipeline.blobs.get_blob_client("photos", blob_name).get_blob_properties().etag
    for _ in range(3):  # on top of the scan's own delivery
        pipeline.deliver_again(blob_name, etag)
    job = pipeline.wait_terminal(job_id)
    assert job["state"] == "SUCCEEDED", job
    listed = pipeline.http("GET", "/jobs?site=north-yard&limit=100").body or {}
    assert [j["id"] for j in listed["jobs"]].count(job_id) == 1
    assert len(pipeline.tasks(job_id)) == 1
    assert pipeline.results(job_id) == [f"{job_id}/overlay.jpg", f"{job_id}/result.json"]
    assert [e["PartitionKey"] for e in pipeline.events(job_id)] == [f"evt_{job_id}_succeeded"]


def test_a_duplicate_photo_completes_from_the_cached_result_without_a_second_task(pipeline: Pipeline):
    data = render(13).jpeg
    first = pipeline.put(name(), data)
    second = pipeline.put(name(), data)
    a, b = pipeline.wait_terminal(first), pipeline.wait_terminal(second)
    assert a["state"] == b["state"] == "SUCCEEDED", (a, b)
    assert sorted([a["cached"], b["cached"]]) == [False, True]
    owner, copy = (a, b) if b["cached"] else (b, a)
    assert copy["cached_from"] == owner["id"] and owner["cached_from"] is None
    assert len(pipeline.tasks(first)) + len(pipeline.tasks(second)) == 1
    assert a["result"]["summary"] == b["result"]["summary"]


HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(4000)  # a phone's HEIC, named .jpg
MORE = {"tiny.jpg": (b"\xff\xd8\xff\xe0" + bytes(500), "too_small"), "phone.jpg": (HEIC, "unsupported_type"),
        "big.jpg": (b"\xff\xd8\xff" + bytes(MAX_BYTES), "too_large")}  # fmt: skip
BAD = [*((f, reason) for f, (_, reason) in (bad_files() | MORE).items()), ("no-shape", "invalid_name")]


@pytest.mark.parametrize(("file", "reason"), BAD)
def test_each_bad_input_is_rejected_with_its_code_and_quarantined(pipeline: Pipeline, file: str, reason: str):
    if file == "no-shape":
        data, blob_name = render(14).jpeg, f"north-yard/cam-1/{uuid.uuid4().hex}.jpg"  # not a name we issue
    else:
        data, blob_name = (bad_files() | MORE)[file][0], name(ext=file.rsplit(".", 1)[1])
    job = pipeline.wait_terminal(pipeline.put(blob_name, data), timeout=60)
    assert (job["state"], job["reason"]) == ("REJECTED", reason), job
    moved, original = (pipeline.blobs.get_blob_client(c, blob_name) for c in ("quarantine", "photos"))
    if reason == "too_large":  # deleted, never copied: it can be any size a device wrote
        wait_for(lambda: not original.exists(), 30, "the original deleted")
        assert not moved.exists() and "not kept in quarantine" in job["detail"]
    else:
        wait_for(lambda: moved.exists() and not original.exists(), 30, "the original moved")  # it follows the verdict
        assert moved.get_blob_properties().metadata["reason"] == reason
    assert not pipeline.tasks(job["id"])


def test_quality_flags_reject_only_where_the_sites_policy_says(pipeline: Pipeline):
    pixels = np.asarray(cv2.imdecode(np.frombuffer(render(17).jpeg, np.uint8), cv2.IMREAD_COLOR), np.uint8)
    ok, blurred = cv2.imencode(".jpg", cv2.GaussianBlur(pixels, (0, 0), 8))
    assert ok
    strict = pipeline.wait_terminal(pipeline.put(name(STRICT_SITE), blurred.tobytes()))
    lenient = pipeline.wait_terminal(pipeline.put(name(), blurred.tobytes()))
    assert (strict["state"], strict["reason"]) == ("REJECTED", "blurry"), strict
    assert lenient["state"] == "SUCCEEDED" and "blurry" in lenient["quality"]["flags"], lenient


def test_a_task_that_always_fails_ends_failed_after_its_retries_with_batchs_reason(pipeline: Pipeline):
    failing = f"{sys.executable} -c \"import sys; print('the model crashed', file=sys.stderr); sys.exit(9)\""
    pipeline.stack.restart_functions(env={**SETTINGS, "SITELENS_TASK_COMMAND": failing})
    try:
        job_id = pipeline.put(name(), render(15).jpeg)
        job = pipeline.wait_terminal(job_id)
    finally:
        pipeline.stack.restart_functions(env=dict(SETTINGS))
    assert (job["state"], job["reason"]) == ("FAILED", "task_failed"), job
    assert "FailureExitCode" in job["detail"] and "exit 9" in job["detail"] and job["attempts"] == 3
    [task] = pipeline.tasks(job_id)
    assert task.execution_info.retry_count == 2 and task.execution_info.exit_code == 9
    # With the real task back, a retry runs the same photo as a new job; the failed one stays FAILED.
    retry = pipeline.http("POST", f"/jobs/{job_id}/retry")
    assert retry.status == 202 and retry.body and retry.body["retry_of"] == job_id
    again = pipeline.wait_terminal(retry.body["id"])
    assert again["state"] == "SUCCEEDED", (again["reason"], again["detail"])
    failed = pipeline.status(job_id).body or {}
    assert failed["state"] == "FAILED" and failed["retried_by"] == again["id"]


def test_the_host_killed_between_submit_and_record_leaves_one_task_and_the_right_state(pipeline: Pipeline):
    stack = pipeline.stack
    # The reconciler off, so that the host's one Batch request is the submission itself.
    stack.restart_functions(env={**SETTINGS, "SITELENS_RECONCILE_SCHEDULE": "0 0 0 1 1 *"})
    try:
        assert stack.batch and stack.batch.process and stack.functions
        batch = stack.batch.process.pid
        pipeline.ensure_batch_job()  # so that the submission is one request, create_task (no JobNotFound first)
        data = render(16).jpeg
        os.kill(batch, signal.SIGSTOP)  # the submission will sit, sent and unanswered, in the service's socket
        try:
            job_id = pipeline.put(name(), data)
            wait_for(lambda: pipeline.claimed("north-yard", data), 60, "the photo validated (submission next)")
            wait_for(lambda: unread_request(stack.batch_port), 30, "create_task sent to the Batch service")
            stack.functions.stop(signal.SIGKILL)  # the host dies after submitting, before recording it
        finally:
            os.kill(batch, signal.SIGCONT)
        wait_for(lambda: pipeline.tasks(job_id), 30, "the task the dead host submitted")
        stored = pipeline.tables.get_table_client("jobs").get_entity(job_id, "job")
        assert stored["state"] == "RECEIVED" and "batch_job_id" not in stored
    finally:  # the host back with its reconciler, which re-drives the job (and the next tests need it too)
        stack.restart_functions(env=dict(SETTINGS))
    job = pipeline.wait_terminal(job_id)
    assert job["state"] == "SUCCEEDED", (job["reason"], job["detail"])
    assert len(pipeline.tasks(job_id)) == 1 and pipeline.results(job_id) == [
        f"{job_id}/overlay.jpg", f"{job_id}/result.json",
    ]  # fmt: skip


def test_batch_down_keeps_the_job_received_and_nothing_is_lost_when_it_returns(pipeline: Pipeline):
    batch = pipeline.stack.batch
    assert batch is not None
    data = render(18).jpeg
    batch.stop()  # connection refused: every submission fails as transient
    try:
        job_id = pipeline.put(name(), data)
        log = pipeline.stack.state_dir / "logs" / "functions.log"
        failed = "Executed 'Functions.on_photo_uploaded' (Failed"
        before = log.read_text(errors="replace").count(failed)
        wait_for(lambda: log.read_text(errors="replace").count(failed) > before, 60, "a submission failing")
        assert (pipeline.status(job_id).body or {})["state"] == "RECEIVED"
    finally:
        batch.start()  # the same data: pools, jobs and tasks survive; nodes boot again
    job = pipeline.wait_terminal(job_id)
    assert job["state"] == "SUCCEEDED", (job["reason"], job["detail"])
    assert len(pipeline.tasks(job_id)) == 1


def test_the_api_needs_a_key_and_health_reports_each_dependency(pipeline: Pipeline):
    missing = pipeline.http("GET", f"/jobs/j_{'a' * 26}", key=None)
    wrong = pipeline.http("GET", "/jobs?site=north-yard", key="not-a-key")
    assert (missing.status, wrong.status) == (401, 401)
    assert pipeline.http("GET", f"/jobs/j_{'a' * 26}").status == 404  # with the key: never accepted, so 404
    assert pipeline.http("GET", "/health", key=None).body == {"status": "ok"}  # anonymous: the status only
    assert pipeline.http("GET", "/health/details", key=None).status == 401
    health = pipeline.http("GET", "/health/details")
    assert health.status == 200 and health.body
    assert {k: v["ok"] for k, v in health.body["checks"].items()} == {
        "storage": True, "batch": True, "model_registry": True,
    }  # fmt: skip
    spec = pipeline.http("GET", "/openapi.json", key=None)
    assert spec.status == 200 and spec.body and "/jobs/{id}" in spec.body["paths"]
