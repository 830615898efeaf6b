"""Result documents of each model kind, and finishing a job with one, for the kind-aware unit tests."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from shared.jobs import ids
from shared.jobs.models import Job
from tests.unit.jobs.test_pipeline import World

NODE = {"id": "node-1", "gpu": False}


def ocr_result(job_id: str, lines: int = 3) -> dict[str, Any]:
    rows = [{"text": f"LINE {n}", "score": 0.9, "polygon": [[0, 0], [9, 0], [9, 9], [0, 9]]} for n in range(lines)]
    return {"schema": "sitelens.ocr.result/1", "job_id": job_id, "model": {"name": "ocr", "version": "ppocrv4"},
            "result": {"width": 640, "height": 480, "lines": rows}, "node": NODE}  # fmt: skip


def classify_result(job_id: str, labels: int = 7) -> dict[str, Any]:
    scores = [0.5 / 2**n for n in range(labels)]
    rows = [{"label": f"class-{n}", "score": s} for n, s in enumerate(scores)]
    return {"schema": "sitelens.classify.result/1", "job_id": job_id,
            "model": {"name": "direction", "version": "1.0.0"},
            "result": {"width": 640, "height": 480, "labels": rows}, "node": NODE}  # fmt: skip


def detect_result(job_id: str, boxes: int = 12) -> dict[str, Any]:
    rows = [{"label": "valve" if n % 2 else "gauge", "class_id": n % 2, "score": round(0.95 - n * 0.05, 2),
             "box": [10.0 * n, 5.0, 10.0 * n + 40.5, 60.0]} for n in range(boxes)]  # fmt: skip
    return {"schema": "sitelens.detect.result/1", "job_id": job_id, "model": {"name": "parts", "version": "2.1.0"},
            "result": {"width": 640, "height": 480, "boxes": rows}, "node": NODE}  # fmt: skip


def finish_with(world: World, job: Job | None, result: dict[str, Any]) -> Job:
    """The job's node writes `result` and its completion message arrives; the job as completion left it."""
    assert job is not None, "the photo was not accepted"
    data = json.dumps(result).encode()
    world.photos.results[ids.result_path(job.id)] = data
    checksum = "sha256:" + hashlib.sha256(data).hexdigest()
    message = {"job_id": job.id, "task_id": job.id, "attempt": 1, "outcome": "succeeded",
               "result_path": ids.result_path(job.id), "checksum": checksum, **world.task_token(job.id)}  # fmt: skip
    return world.completion.handle(json.dumps(message).encode())
