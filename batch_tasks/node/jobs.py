"""One job's artifacts and messages: the result document, its checksum, the completion message.

The result document (`results/{job_id}/result.json`) is
`{"schema": "sitelens.ocr.result/1", "job_id", "model": {"name", "version"}, "result": {"width", "height",
"lines": [{"text", "confidence", "box_score", "polygon"}]}, "timings_ms": {...}, "node": {...}}`. Its bytes
are what the completion message's checksum covers (`sha256:<hex>`); the Functions app accepts a result only
when the blob it reads has that checksum, so a stale message never completes a job with a newer result.

The completion message carries ids only: `{job_id, task_id, attempt, outcome, result_path, checksum, error,
started_at, traceparent}` (docs/architecture.md#the-app-and-the-node).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from batch_tasks.ocr.result import OcrResult

SCHEMA = "sitelens.ocr.result/1"


@dataclass(frozen=True)
class JobRequest:
    job_id: str
    task_id: str
    attempt: int
    model: str  # name/version
    path: str  # the input on this node
    started_at: str | None = None  # ISO-8601 UTC, when the task process started
    traceparent: str | None = None

    @classmethod
    def from_message(cls, doc: dict[str, Any]) -> JobRequest:
        """Raises: KeyError, TypeError, ValueError for a malformed request."""
        job_id = str(doc["job_id"])
        if not job_id or "/" in job_id or len(job_id) > 64:
            raise ValueError(f"job id {job_id!r} is not a Batch task id")
        return cls(
            job_id=job_id,
            task_id=str(doc.get("task_id") or job_id),
            attempt=int(doc.get("attempt", 1)),
            model=str(doc["model"]),
            path=str(doc["path"]),
            started_at=str(doc["started_at"]) if doc.get("started_at") else None,
            traceparent=str(doc["traceparent"]) if doc.get("traceparent") else None,
        )


def result_document(request: JobRequest, result: OcrResult, *, provider: str, timings_ms: dict[str, float]) -> bytes:
    name, _, version = request.model.partition("/")
    doc = {
        "schema": SCHEMA,
        "job_id": request.job_id,
        "model": {"name": name, "version": version},
        "result": result.to_dict(),
        "timings_ms": {k: round(v, 1) for k, v in timings_ms.items()},
        "node": {"provider": provider, "attempt": request.attempt},
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def checksum(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def succeeded(request: JobRequest, result_path: str, result_json: bytes) -> dict[str, Any]:
    return _message(request, "succeeded", result_path=result_path, checksum=checksum(result_json))


def failed(request: JobRequest, code: str, message: str) -> dict[str, Any]:
    return _message(request, "failed", error={"code": code, "message": message[:1000]})


def _message(request: JobRequest, outcome: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "job_id": request.job_id,
        "task_id": request.task_id,
        "attempt": request.attempt,
        "outcome": outcome,
        "result_path": None,
        "checksum": None,
        "error": None,
        "started_at": request.started_at,
        "traceparent": request.traceparent,
    }
    return base | fields
