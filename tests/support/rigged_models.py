"""A served model whose runs a test rigs, and which says it runs on the GPU (unless told otherwise): tests run on
the CPU, and the node's watchdog counts a device fault only on the GPU, so a fault a test injects must come from a
model on the GPU to be taken for the device's. Everything else (loading, warm-up, decoding, the real run) is the
wrapped model's."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from batch_tasks.models.manifest import Manifest
from batch_tasks.models.serving import KindResult, ServedModel
from batch_tasks.ocr.imaging import DecodedImage

RunBatch = Callable[[Sequence[DecodedImage]], Sequence[KindResult]]
Rig = Callable[[Sequence[DecodedImage], RunBatch], Sequence[KindResult]]  # a batch and the real run -> results


class RiggedModel:
    """`model`, its runs going through `rig`, on the GPU as far as the node can tell unless `on_gpu` is False."""

    def __init__(self, model: ServedModel, rig: Rig, *, on_gpu: bool = True) -> None:
        self._model, self._rig, self._on_gpu = model, rig, on_gpu
        self.manifest: Manifest = model.manifest
        self.max_batch: int | None = model.max_batch

    @property
    def providers(self) -> tuple[str, ...]:
        return self._model.providers  # what really ran: health and results stay truthful

    @property
    def on_gpu(self) -> bool:
        return self._on_gpu

    @property
    def decode_long_side(self) -> int | None:
        return self._model.decode_long_side

    def warm(self) -> int:
        return self._model.warm()

    def decode(self, data: bytes) -> DecodedImage:
        return self._model.decode(data)

    def run_batch(self, images: Sequence[DecodedImage]) -> Sequence[KindResult]:
        return self._rig(images, self._model.run_batch)
