"""One job without the node server: the model loaded in the task's own process, for one photo.

This is what a Batch task costs without a node server (the official Batch samples' shape): import ONNX
Runtime and OpenCV, create the sessions, decode, read, write, exit. It returns the same reply a server
would, so `batch_tasks.task --in-process` keeps the task's exit codes, and the benchmarks compare like with
like.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from batch_tasks.errors import NodeError
from batch_tasks.node import jobs
from batch_tasks.node.settings import StorageSettings
from batch_tasks.node.storage import AzureResultStore
from batch_tasks.ocr import imaging, overlay
from batch_tasks.ocr.engine import OcrEngine


def run_job(request: dict[str, Any], models_dir: Path | None = None) -> dict[str, Any]:
    try:
        return _run(jobs.JobRequest.from_message(request), models_dir)
    except NodeError as exc:
        return exc.reply()


def _run(job: jobs.JobRequest, models_dir: Path | None) -> dict[str, Any]:
    folder = (models_dir or Path(os.environ.get("SITELENS_MODELS_DIR", "models"))) / job.model
    t0 = time.perf_counter()
    engine = OcrEngine.load(folder)
    t1 = time.perf_counter()
    store = AzureResultStore.from_settings(StorageSettings.from_env(os.environ))
    try:
        image = engine.decode(Path(job.path).read_bytes())
    except OSError as exc:
        raise NodeError(f"{job.path}: {exc}", code="input_missing") from exc
    except imaging.DecodeError as exc:
        code = "too_large" if exc.reason == "image_too_large" else "bad_input"
        store.post_completion(jobs.failed(job, code, f"{exc.reason}: {exc}"))  # storage's NodeError wins
        raise NodeError(str(exc), code=code) from exc
    t2 = time.perf_counter()
    result = engine.read(image, with_overlay=False)
    polygons = [image.from_original(_points(line.polygon)).tolist() for line in result.lines]
    picture = overlay.draw(image.pixels, polygons)
    t3 = time.perf_counter()
    timings = {"load": (t1 - t0) * 1000, "decode": (t2 - t1) * 1000, "infer_and_overlay": (t3 - t2) * 1000}
    document = jobs.result_document(job, result, provider=engine.providers[0], timings_ms=timings)
    path, document = store.write_results(job.job_id, document, picture)  # an earlier attempt's, if it wrote one
    store.post_completion(jobs.succeeded(job, path, document))
    return {"ok": True, "outcome": "succeeded", "result_path": path, "checksum": jobs.checksum(document),
            "lines": len(result.lines), "provider": engine.providers[0]}  # fmt: skip


def _points(polygon: Any) -> Any:
    return np.asarray(polygon, dtype=np.float32)
