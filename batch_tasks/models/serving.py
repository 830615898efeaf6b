"""One interface for every kind of model the node serves: `load_model(folder)` gives a `ServedModel`.

The manifest's `task` picks the implementation: `ocr` the OCR engine (`batch_tasks.ocr.engine`), `classify`
and `detect` the manifest-driven models of `batch_tasks.vision`. The registry, the batcher, the server,
the result document and the overlay use only this interface, so a new kind is one more entry here.

`failure` turns what a model's run raised into the node's error: a `NodeError` stays itself
(`model_output_invalid`, ...), an ONNX Runtime allocation failure becomes `model_out_of_memory`, anything
else `inference_failed`. Each only fails the photos of the batch that raised it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from batch_tasks.errors import ModelOutOfMemory, NodeError
from batch_tasks.models import vision_spec
from batch_tasks.models.manifest import Manifest, ManifestError, load
from batch_tasks.ocr.engine import OcrEngine
from batch_tasks.ocr.imaging import DecodedImage
from batch_tasks.ocr.result import OcrResult
from batch_tasks.vision.classify import ClassifyModel
from batch_tasks.vision.detect import DetectModel
from batch_tasks.vision.results import Marks

KINDS = ("ocr", "classify", "detect")
# What ONNX Runtime's CPU and CUDA allocators say when an allocation fails (BFCArena, cudaMalloc, bad_alloc).
OUT_OF_MEMORY = re.compile(r"Failed to allocate memory|out of memory|bad_alloc|BFCArena.*Available memory", re.I)


class KindResult(Protocol):
    @property
    def width(self) -> int: ...

    @property
    def height(self) -> int: ...

    def to_dict(self) -> Any: ...


class ServedModel(Protocol):
    manifest: Manifest
    max_batch: int | None  # the manifest's `limits.max_batch`; None: the node's setting

    @property
    def providers(self) -> tuple[str, ...]: ...

    @property
    def on_gpu(self) -> bool: ...

    @property
    def decode_long_side(self) -> int | None: ...

    def warm(self) -> int: ...

    def decode(self, data: bytes) -> DecodedImage: ...

    def run_batch(self, images: Sequence[DecodedImage]) -> Sequence[KindResult]: ...


class OcrModel:
    """The OCR engine as a `ServedModel`: overlays are drawn by the node's workers, not in the batch."""

    def __init__(self, engine: OcrEngine) -> None:
        self.engine = engine
        self.manifest = engine.manifest
        # An OCR manifest's `limits` are optional: without them the node's own max batch applies.
        self.max_batch: int | None = None
        if "limits" in engine.manifest.raw:
            self.max_batch = vision_spec.limits(engine.manifest.raw).max_batch

    @property
    def providers(self) -> tuple[str, ...]:
        return self.engine.providers

    @property
    def on_gpu(self) -> bool:
        return self.engine.on_gpu

    @property
    def decode_long_side(self) -> int | None:
        return self.engine.settings.det.decode_long_side

    def warm(self) -> int:
        return self.engine.warm()

    def decode(self, data: bytes) -> DecodedImage:
        return self.engine.decode(data)

    def run_batch(self, images: Sequence[DecodedImage]) -> list[OcrResult]:
        return self.engine.run_batch(list(images), with_overlay=False)


def load_model(folder: Path, providers: Sequence[str] | None = None, **runtime: Any) -> ServedModel:
    """Load the model in `folder` by its manifest's task; `runtime`: threads, device_id, gpu_mem_limit.

    Raises:
        ManifestError: the folder or manifest is invalid, or the task is one the node does not serve.
        ProviderError: a requested provider is missing or did not take the model.
    """
    task = load(folder, verify=False).task  # each kind's loader verifies the files
    if task == "ocr":
        return OcrModel(OcrEngine.load(folder, providers, **runtime))
    if task == "classify":
        return ClassifyModel.load(folder, providers, **runtime)
    if task == "detect":
        return DetectModel.load(folder, providers, **runtime)
    raise ManifestError(f"task '{task}' is not served by the node (it serves {', '.join(KINDS)})")


def marks(result: KindResult) -> Marks:
    """What the overlay draws for `result`, in the original photo's pixels."""
    if isinstance(result, OcrResult):
        return Marks(polygons=[[list(p) for p in line.polygon] for line in result.lines])
    drawn: Marks = result.marks()  # type: ignore[attr-defined]
    return drawn


def count(result: KindResult) -> int:
    """How many things the model found (lines, boxes or labels), for the job reply and the task's log."""
    doc = result.to_dict()
    return len(doc.get("lines", doc.get("boxes", doc.get("labels", []))))


def failure(exc: BaseException) -> NodeError:
    if isinstance(exc, NodeError):
        return exc
    message = f"{type(exc).__name__}: {exc}"
    if OUT_OF_MEMORY.search(str(exc)):
        return ModelOutOfMemory(message)
    return NodeError(message, code="inference_failed")
