"""One job's artifacts and messages: the result document, its checksum, the completion message.

The result document (`results/{job_id}/result.json`) is
`{"schema", "job_id", "model": {"name", "version"}, "result", "timings_ms": {...}, "node": {...}}`, its schema
and `result` per kind of model (`SCHEMAS`):

- `sitelens.ocr.result/1`: `{"width", "height", "lines": [{"text", "confidence", "box_score", "polygon"}]}`;
- `sitelens.classify.result/1`: `{"width", "height", "labels": [{"label", "score"}]}`, top-k, best first;
- `sitelens.detect.result/1`: `{"width", "height", "boxes": [{"label", "class_id", "score", "box"}]}`, boxes
  `[x1, y1, x2, y2]` in the original photo's pixels, best first.

Its bytes
are what the completion message's checksum covers (`sha256:<hex>`); the Functions app accepts a result only
when the blob it reads has that checksum, so a stale message never completes a job with a newer result.

The completion message carries ids only: `{job_id, task_id, attempt, outcome, result_path, checksum, error,
started_at, traceparent, task_token}` (docs/architecture.md#the-app-and-the-node). `task_token` echoes the
secret the app gave the job's task, present when the request carried one, and is never written to the result.
`attempt`, there and in the result's `node`, is present only when the request gave one: a Batch task cannot
know which run it is, so its requests give none (docs/node.md#the-task), and a number the node made up would be
taken for Batch's.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the document needs only `to_dict`; the model stack stays out of this module's imports
    from batch_tasks.models.serving import KindResult

SCHEMAS = {
    "ocr": "sitelens.ocr.result/1",
    "classify": "sitelens.classify.result/1",
    "detect": "sitelens.detect.result/1",
}
SCHEMA = SCHEMAS["ocr"]


@dataclass(frozen=True)
class JobRequest:
    job_id: str
    task_id: str
    attempt: int | None  # None: not known (a Batch task's own request never knows it)
    model: str  # name/version
    path: str  # the input on this node
    started_at: str | None = None  # ISO-8601 UTC, when the task process started
    traceparent: str | None = None
    task_token: str | None = field(default=None, repr=False)  # the app's secret for the job, echoed, never logged

    @classmethod
    def from_message(cls, doc: dict[str, Any]) -> JobRequest:
        """Raises: KeyError, TypeError, ValueError for a malformed request."""
        job_id = str(doc["job_id"])
        if not job_id or "/" in job_id or len(job_id) > 64:
            raise ValueError(f"job id {job_id!r} is not a Batch task id")
        return cls(
            job_id=job_id,
            task_id=str(doc.get("task_id") or job_id),
            attempt=None if doc.get("attempt") is None else int(doc["attempt"]),
            model=str(doc["model"]),
            path=str(doc["path"]),
            started_at=str(doc["started_at"]) if doc.get("started_at") else None,
            traceparent=str(doc["traceparent"]) if doc.get("traceparent") else None,
            task_token=str(doc["task_token"]) if doc.get("task_token") else None,
        )


def result_document(
    request: JobRequest, result: KindResult, *, provider: str, timings_ms: dict[str, float], task: str = "ocr"
) -> bytes:
    """The result document's bytes, under the schema of the model's `task`."""
    name, _, version = request.model.partition("/")
    doc = {
        "schema": SCHEMAS[task],
        "job_id": request.job_id,
        "model": {"name": name, "version": version},
        "result": result.to_dict(),
        "timings_ms": {k: round(v, 1) for k, v in timings_ms.items()},
        "node": {"provider": provider, **_attempt(request)},
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def _attempt(request: JobRequest) -> dict[str, int]:
    """`{"attempt": n}` when the request knew it, else nothing: an absent key, which every release of the app
    reads as unknown or as its old default, where a null would fail the older app's parsing."""
    return {} if request.attempt is None else {"attempt": request.attempt}


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
        **_attempt(request),
        "outcome": outcome,
        "result_path": None,
        "checksum": None,
        "error": None,
        "started_at": request.started_at,
        "traceparent": request.traceparent,
        # Only when the task gave one, as `attempt`: the app believes a message only with its job's secret.
        **({"task_token": request.task_token} if request.task_token else {}),
    }
    return base | fields
