"""`sitelens models test`: a model folder run over photos exactly as a node runs it, before it is published.

The same loader (`serving.load_model`), the same decode (the model's own, at its decode size), the same
batch run and the same result document builder as the node server; only the batching across requests and
the storage writes are left out. Each photo gives its result document as a dict, or, when it fails, a dict
with `photo` and `error` (`{"code", "message"}`, the node's reason codes).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from batch_tasks.errors import NodeError
from batch_tasks.models import serving
from batch_tasks.node import jobs
from batch_tasks.ocr import imaging


def run(folder: Path, photos: Sequence[Path], providers: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """One document per photo, in order.

    Raises:
        ManifestError, ProviderError: the model does not load (nothing can be tested).
    """
    model = serving.load_model(folder, providers)
    model.warm()
    manifest = model.manifest
    documents = []
    for i, photo in enumerate(photos, start=1):
        request = jobs.JobRequest(job_id=f"trial-{i}", task_id=f"trial-{i}", attempt=1,
                                  model=f"{manifest.name}/{manifest.version}", path=str(photo))  # fmt: skip
        try:
            documents.append(_one(model, request, photo))
        except NodeError as exc:
            documents.append({"photo": str(photo), "error": {"code": exc.code, "message": exc.message}})
    return documents


def _one(model: serving.ServedModel, request: jobs.JobRequest, photo: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        image = model.decode(photo.read_bytes())
    except OSError as exc:
        raise NodeError(f"{photo}: {exc.strerror or exc}", code="input_missing") from exc
    except imaging.DecodeError as exc:  # the codes the node's decode workers give
        raise NodeError(
            f"{exc.reason}: {exc}", code="too_large" if exc.reason == "image_too_large" else "bad_input"
        ) from exc
    t1 = time.perf_counter()
    try:
        result = model.run_batch([image])[0]
    except Exception as exc:  # reported per photo, with the code a node would give
        raise serving.failure(exc) from exc
    t2 = time.perf_counter()
    timings = {"decode": (t1 - t0) * 1000, "queue_and_infer": (t2 - t1) * 1000}
    document = jobs.result_document(request, result, provider=model.providers[0], timings_ms=timings,
                                    task=model.manifest.task)  # fmt: skip
    parsed: dict[str, Any] = json.loads(document)
    return parsed
