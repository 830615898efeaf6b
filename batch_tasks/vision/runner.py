"""One ONNX Runtime session for a classify or detect model, and the batched run both kinds share.

`VisionRunner.open` reads and verifies the folder, checks that the manifest's input and output names are
the graph's, and creates the session the way the OCR engine does (`batch_tasks.ocr.sessions`: CUDA when
this build offers it and it takes the model, else CPU; `limits.memory_mb` caps the CUDA arena). A graph
whose batch dimension is a fixed number runs in chunks of that size, the last one padded.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Self, TypeVar

import numpy as np

from batch_tasks.errors import ModelOutputInvalid
from batch_tasks.models import vision_spec
from batch_tasks.models.manifest import Manifest, ManifestError, load
from batch_tasks.models.vision_spec import VisionSpec
from batch_tasks.ocr import imaging, sessions
from batch_tasks.ocr.imaging import DecodedImage
from batch_tasks.vision import preprocess
from batch_tasks.vision.preprocess import Placement, Tensor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """One photo's model output and how to map it back to the photo."""

    output: Any  # this photo's slice of the output tensor
    placement: Placement
    image: DecodedImage


class VisionRunner:
    """Owns one session; thread-safe as the session is. `run` returns each photo's raw output."""

    def __init__(
        self, *, manifest: Manifest, spec: VisionSpec, labels: tuple[str, ...], session: Any, max_batch: int
    ) -> None:
        self.manifest, self.spec, self.labels, self._session = manifest, spec, labels, session
        self.max_batch = max_batch
        first = session.get_inputs()[0].shape[0] if session.get_inputs() else None
        self.fixed_batch = first if isinstance(first, int) and first > 0 else None

    @classmethod
    def open(
        cls,
        folder: Path,
        providers: Sequence[str] | None = None,
        *,
        threads: int | None = None,
        device_id: int = 0,
        gpu_mem_limit: int | None = None,
    ) -> VisionRunner:
        """Raises: ManifestError (also for input or output names the graph lacks), ProviderError."""
        manifest = load(folder)
        spec = vision_spec.parse(manifest.raw)
        labels = vision_spec.labels(manifest, folder)
        limits = vision_spec.limits(manifest.raw)
        if gpu_mem_limit is None and limits.memory_mb is not None:
            gpu_mem_limit = limits.memory_mb << 20
        runtime = sessions.resolve(providers, threads, device_id=device_id, gpu_mem_limit=gpu_mem_limit)
        path = folder / manifest.file("model").file
        try:
            session = sessions.create(path, runtime)
        except sessions.ProviderError:
            if providers is not None or not runtime.cuda:
                raise
            log.warning("CUDA is offered but did not take %s; running on the CPU", path.name, exc_info=True)
            session = sessions.create(path, sessions.resolve([sessions.CPU], threads))
        inputs = [i.name for i in session.get_inputs()]
        outputs = [o.name for o in session.get_outputs()]
        if spec.input.name not in inputs:
            raise ManifestError(f"'input.name' {spec.input.name!r} is not an input of the graph ({inputs})")
        if spec.output.name not in outputs:
            raise ManifestError(f"'output.name' {spec.output.name!r} is not an output of the graph ({outputs})")
        return cls(manifest=manifest, spec=spec, labels=labels, session=session, max_batch=limits.max_batch)

    @property
    def providers(self) -> tuple[str, ...]:
        return tuple(self._session.get_providers())

    @property
    def on_gpu(self) -> bool:
        return self.providers[0] == sessions.CUDA

    @property
    def decode_long_side(self) -> int:
        return preprocess.decode_long_side(self.spec.input)

    def decode(self, data: bytes) -> DecodedImage:
        return imaging.decode(data, self.decode_long_side)

    def warm(self) -> int:
        """Run the largest batch first (the arena grows once), then one image; returns the runs."""
        sizes = [self.fixed_batch] if self.fixed_batch else sorted({self.max_batch, 1}, reverse=True)
        if not self.on_gpu:
            sizes = sizes[-1:]
        for n in sizes:
            self._session.run([self.spec.output.name], {self.spec.input.name: preprocess.zeros(self.spec.input, n)})
        return len(sizes)

    def run(self, images: Sequence[DecodedImage]) -> list[Prepared]:
        prepared = [preprocess.prepare(image.pixels, self.spec.input) for image in images]
        tensors = [t for t, _ in prepared]
        chunk = self.fixed_batch or max(1, len(tensors))
        outputs: list[Any] = []
        for start in range(0, len(tensors), chunk):
            outputs.extend(self._run(tensors[start : start + chunk], chunk if self.fixed_batch else 0))
        return [Prepared(out, p, image) for out, (_, p), image in zip(outputs, prepared, images, strict=True)]

    def _run(self, tensors: list[Tensor], pad_to: int) -> Any:
        x = np.stack(tensors)
        if pad_to > len(tensors):
            x = np.concatenate([x, np.zeros((pad_to - len(tensors), *x.shape[1:]), np.float32)])
        out = np.asarray(self._session.run([self.spec.output.name], {self.spec.input.name: x})[0])
        if out.ndim < 2 or out.shape[0] < len(tensors):
            raise ModelOutputInvalid(
                f"output {self.spec.output.name!r} has shape {list(out.shape)}, not one row per image of {len(tensors)}"
            )
        if not np.issubdtype(out.dtype, np.number):
            raise ModelOutputInvalid(f"output {self.spec.output.name!r} is {out.dtype}, not numbers")
        return out[: len(tensors)]


Result = TypeVar("Result")


class VisionModel(Generic[Result]):
    """What the manifest-driven kinds share: the runner's session, warm-up and decode, and a batch read as
    one result per photo; a kind says only how one photo's output becomes its result (`read`)."""

    def __init__(self, runner: VisionRunner) -> None:
        self.runner = runner
        self.manifest = runner.manifest
        self.max_batch: int | None = runner.max_batch

    @classmethod
    def load(cls, folder: Path, providers: Sequence[str] | None = None, **runtime: int | None) -> Self:
        return cls(VisionRunner.open(folder, providers, **runtime))  # type: ignore[arg-type]

    @property
    def providers(self) -> tuple[str, ...]:
        return self.runner.providers

    @property
    def on_gpu(self) -> bool:
        return self.runner.on_gpu

    @property
    def decode_long_side(self) -> int | None:
        return self.runner.decode_long_side

    def warm(self) -> int:
        return self.runner.warm()

    def decode(self, data: bytes) -> DecodedImage:
        return self.runner.decode(data)

    def run_batch(self, images: Sequence[DecodedImage]) -> list[Result]:
        """Raises: ModelOutputInvalid."""
        return [self.read(p) for p in self.runner.run(images)]

    def read(self, prepared: Prepared) -> Result:
        raise NotImplementedError
