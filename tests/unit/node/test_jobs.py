"""Result documents and completion messages (pure)."""

from __future__ import annotations

import hashlib
import json

import pytest

from batch_tasks.node import jobs
from batch_tasks.ocr.result import Line, OcrResult

REQUEST = {"job_id": "j_abc", "attempt": 2, "model": "ocr/ppocrv4", "path": "/wd/input.jpg",
           "started_at": "2026-12-03T08:00:00.000+00:00"}  # fmt: skip


def test_the_completion_checksum_covers_the_result_document_bytes() -> None:
    req = jobs.JobRequest.from_message(REQUEST)
    result = OcrResult(100, 50, (Line("PUMP", 0.9, 0.8, ((1.0, 2.0), (3.0, 2.0), (3.0, 4.0), (1.0, 4.0))),))
    doc = jobs.result_document(req, result, provider="CPUExecutionProvider", timings_ms={"decode": 1.234})
    parsed = json.loads(doc)
    assert parsed["schema"] == jobs.SCHEMA
    assert parsed["model"] == {"name": "ocr", "version": "ppocrv4"}
    assert parsed["result"]["lines"][0]["text"] == "PUMP"
    assert parsed["timings_ms"] == {"decode": 1.2}
    message = jobs.succeeded(req, "j_abc/result.json", doc)
    assert message["checksum"] == "sha256:" + hashlib.sha256(doc).hexdigest()
    assert message["task_id"] == "j_abc" and message["attempt"] == 2 and message["outcome"] == "succeeded"
    assert set(message) == {"job_id", "task_id", "attempt", "outcome", "result_path", "checksum", "error",
                            "started_at", "traceparent"}  # fmt: skip


def test_a_failed_message_names_the_reason_and_has_no_result() -> None:
    message = jobs.failed(jobs.JobRequest.from_message(REQUEST), "bad_input", "corrupt_image: x" * 500)
    assert message["outcome"] == "failed"
    assert message["error"]["code"] == "bad_input"
    assert len(message["error"]["message"]) == 1000
    assert message["result_path"] is None and message["checksum"] is None


@pytest.mark.parametrize("change", [{"job_id": "a/b"}, {"job_id": ""}, {"model": None}, {"attempt": "x"}])
def test_malformed_requests_are_refused(change: dict[str, object]) -> None:
    doc = {**REQUEST, **change}
    if change.get("model", 1) is None:
        del doc["model"]
    with pytest.raises((KeyError, ValueError, TypeError)):
        jobs.JobRequest.from_message(doc)
