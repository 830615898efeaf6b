"""The OCR engine: ONNX Runtime sessions for det, rec and the optional line classifier, created once.

`OcrEngine.load` reads and verifies a model folder, creates the sessions (CUDA when this build offers it and
it takes the model, else CPU; an explicit `providers` list is a requirement, not a wish), and reads the
character dictionary from the rec model's metadata. `warm` runs every input shape once so the first photos
pay no per-shape set-up. `run_batch` reads many photos at once: det batched per size bucket, the line
classifier over all crops, rec batched per width bucket across photos.

On CUDA, batches are padded to the manifest's batch sizes so only warmed shapes ever run; on CPU, where a
shape costs nothing to set up and padding costs real work, they are not.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from batch_tasks import telemetry
from batch_tasks.models.manifest import Manifest, load
from batch_tasks.ocr import crops, ctc, db_post, det_pre, imaging, overlay, sessions
from batch_tasks.ocr.imaging import DecodedImage, Image, Points
from batch_tasks.ocr.result import Line, OcrResult
from batch_tasks.ocr.settings import OcrSettings, from_manifest

log = logging.getLogger(__name__)
MIN_EDGE = 3.0  # px in the original image: thinner boxes are noise (PaddleOCR's rule)


@dataclass(frozen=True, eq=False)  # holds arrays: compare their fields, not the objects
class _Found:
    quad: Points  # in the decoded image's pixels
    polygon: Points  # in the original image's pixels
    score: float


class OcrEngine:
    """Owns the sessions; thread-safe (ONNX Runtime sessions are, and the engine keeps no other state)."""

    def __init__(
        self,
        *,
        manifest: Manifest,
        settings: OcrSettings,
        runtime: sessions.RuntimeOptions,
        det: Any,
        rec: Any,
        cls: Any | None,
        table: tuple[str, ...],
    ) -> None:
        self.manifest = manifest
        self.settings = settings
        self.runtime = runtime
        self._det, self._rec, self._cls = det, rec, cls
        self._table = table

    @classmethod
    def load(
        cls,
        model_dir: Path,
        providers: Sequence[str] | None = None,
        *,
        threads: int | None = None,
        long_side: int | None = None,
        use_cls: bool = True,
        device_id: int = 0,
        gpu_mem_limit: int | None = None,
    ) -> OcrEngine:
        """Load a verified OCR model folder.

        `providers`: None picks CUDA when available (falling back to CPU, with a warning, when CUDA does not
        take the model); a list is required exactly. `long_side` overrides the manifest's det long side.

        Raises:
            ManifestError: the folder, its manifest or its OCR settings are invalid (`SettingsError`).
            ProviderError: a requested provider is missing or did not take the model.
            DictionaryError: the rec model has no usable dictionary.
        """
        manifest = load(model_dir)
        settings = from_manifest(manifest, long_side=long_side)
        runtime = sessions.resolve(providers, threads, device_id=device_id, gpu_mem_limit=gpu_mem_limit)
        det_path = model_dir / manifest.file("det").file
        try:
            det = sessions.create(det_path, runtime)
        except sessions.ProviderError:
            if providers is not None or not runtime.cuda:
                raise
            log.warning("CUDA is offered but did not take the model; running on the CPU", exc_info=True)
            runtime = sessions.resolve([sessions.CPU], threads)
            det = sessions.create(det_path, runtime)
        rec = sessions.create(model_dir / manifest.file("rec").file, runtime)
        classifier = None
        if use_cls and settings.cls is not None:
            classifier = sessions.create(model_dir / manifest.file("cls").file, runtime)
        classes = rec.get_outputs()[0].shape[-1]
        table = ctc.dictionary(
            rec.get_modelmeta().custom_metadata_map,
            settings.rec.dictionary_key,
            classes if isinstance(classes, int) else None,
        )
        log.info("loaded %s/%s on %s", manifest.name, manifest.version, runtime.providers[0])
        return cls(manifest=manifest, settings=settings, runtime=runtime, det=det, rec=rec, cls=classifier, table=table)

    @property
    def providers(self) -> tuple[str, ...]:
        """The providers the sessions run on, best first (for health reports)."""
        return tuple(self._det.get_providers())

    @property
    def on_gpu(self) -> bool:
        return self.providers[0] == sessions.CUDA

    def decode(self, data: bytes) -> DecodedImage:
        """Decode for this engine: reduced as far as the det long side allows (see `imaging.decode`)."""
        return imaging.decode(data, self.settings.det.decode_long_side)

    def read(self, photo: bytes | DecodedImage, *, with_overlay: bool = True) -> OcrResult:
        return self.run_batch([photo], with_overlay=with_overlay)[0]

    def run_batch(self, photos: Sequence[bytes | DecodedImage], *, with_overlay: bool = True) -> list[OcrResult]:
        """Read every photo; results in the same order.

        Raises:
            DecodeError: a photo given as bytes does not decode (decode first to handle that per photo).
        """
        images = [p if isinstance(p, DecodedImage) else self.decode(p) for p in photos]
        with telemetry.stage("det"):
            found = self._detect(images)
        patches = [crops.crop(image.pixels, f.quad) for image, per in zip(images, found, strict=True) for f in per]
        with telemetry.stage("cls"):
            upright = self._upright(patches)
        with telemetry.stage("rec"):
            texts = self._recognise(upright)
        results: list[OcrResult] = []
        start = 0
        for image, per in zip(images, found, strict=True):
            mine, start = texts[start : start + len(per)], start + len(per)
            kept = [
                (f, text, conf)
                for f, (text, conf) in zip(per, mine, strict=True)
                if conf >= self.settings.rec.min_confidence and text.strip()
            ]
            lines = tuple(Line(text, round(conf, 4), round(f.score, 4), _polygon(f.polygon)) for f, text, conf in kept)
            picture = overlay.draw(image.pixels, [f.quad.tolist() for f, _, _ in kept]) if with_overlay else None
            results.append(OcrResult(image.width, image.height, lines, picture))
        return results

    def warm(self) -> int:
        """Run each session before the first photo; returns the runs.

        On CUDA every det bucket, rec width and cls shape at every batch size: a new shape there pays its
        convolution algorithm search and its memory. On the CPU one run per session at its largest shape: the
        arena grows once, and a later new shape's first run costs within 10 % of its second (measured: 0.21 s
        against 0.19 s for a det bucket), so warming each shape only cost CPU at every restart."""
        s = self.settings
        det_shapes = sorted(s.det.buckets, key=lambda b: -b[0] * b[1])  # largest first: the arena grows once
        rec_widths = sorted(s.rec.width_buckets, reverse=True)
        if not self.on_gpu:
            det_shapes, rec_widths = det_shapes[:1], rec_widths[:1]
        runs = 0
        for h, w in det_shapes:
            for n in self._warm_sizes(s.det.batch_sizes):
                self._det.run([s.det.output], {s.det.input: np.zeros((n, 3, h, w), np.float32)})
                runs += 1
        for w in rec_widths:
            for n in self._warm_sizes(s.rec.batch_sizes):
                self._rec.run([s.rec.output], {s.rec.input: np.zeros((n, 3, s.rec.height, w), np.float32)})
                runs += 1
        if self._cls is not None and s.cls is not None:
            for n in self._warm_sizes(s.cls.batch_sizes):
                self._cls.run([s.cls.output], {s.cls.input: np.zeros((n, 3, s.cls.height, s.cls.width), np.float32)})
                runs += 1
        return runs

    def _warm_sizes(self, sizes: tuple[int, ...]) -> list[int]:
        return sorted(sizes, reverse=True) if self.on_gpu else [1]

    def _run(
        self, session: Any, names: tuple[str, str], batch: list[npt.NDArray[np.float32]], sizes: tuple[int, ...]
    ) -> Any:
        """One session run over `batch` (at most max(sizes) items), padded to a batch size on the GPU."""
        x = np.stack(batch)
        if self.on_gpu:
            n = next(size for size in sizes if size >= len(batch))
            if n > len(batch):
                x = np.concatenate([x, np.zeros((n - len(batch), *x.shape[1:]), np.float32)])
        return session.run([names[1]], {names[0]: x})[0][: len(batch)]

    def _detect(self, images: Sequence[DecodedImage]) -> list[list[_Found]]:
        s = self.settings.det
        inputs = [det_pre.prepare(image.pixels, s) for image in images]
        by_bucket: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i, inp in enumerate(inputs):
            by_bucket[inp.bucket].append(i)
        found: list[list[_Found]] = [[] for _ in images]
        for indices in by_bucket.values():
            for chunk in _chunks(indices, max(s.batch_sizes)):
                probs = self._run(self._det, (s.input, s.output), [inputs[i].tensor for i in chunk], s.batch_sizes)
                for i, prob in zip(chunk, probs, strict=True):
                    h, w = inputs[i].valid
                    boxes = db_post.extract(np.ascontiguousarray(prob[0, :h, :w]), s.db)
                    found[i] = _place(boxes, inputs[i], images[i])
        return found

    def _upright(self, patches: list[Image]) -> list[Image]:
        """Turn lines the classifier finds upside down (label '180' above its threshold)."""
        c = self.settings.cls
        if self._cls is None or c is None or not patches:
            return patches
        tensors = [crops.line_tensor(p, c.height, c.width, c.mean, c.std) for p in patches]
        out = list(patches)
        for chunk in _chunks(list(range(len(patches))), max(c.batch_sizes)):
            probs = self._run(self._cls, (c.input, c.output), [tensors[i] for i in chunk], c.batch_sizes)
            for i, p in zip(chunk, probs, strict=True):
                if p[c.flip_label] > c.threshold:
                    out[i] = crops.turn_around(patches[i])
        return out

    def _recognise(self, patches: list[Image]) -> list[tuple[str, float]]:
        r = self.settings.rec
        results: list[tuple[str, float]] = [("", 0.0)] * len(patches)
        by_width: dict[int, list[int]] = defaultdict(list)
        for i, patch in enumerate(patches):
            by_width[crops.width_bucket(patch, r.height, r.width_buckets)].append(i)
        for width, indices in by_width.items():
            for chunk in _chunks(indices, max(r.batch_sizes)):
                batch = [crops.line_tensor(patches[i], r.height, width, r.mean, r.std) for i in chunk]
                probs = self._run(self._rec, (r.input, r.output), batch, r.batch_sizes)
                for i, decoded in zip(chunk, ctc.greedy(probs, self._table, r.space_threshold), strict=True):
                    results[i] = decoded
        return results


def _chunks(indices: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(indices), size):
        yield indices[start : start + size]


def _place(boxes: list[db_post.Box], det_input: det_pre.DetInput, image: DecodedImage) -> list[_Found]:
    """Det-map boxes to decoded-image quads and original-image polygons, clipped, thin ones dropped, in order."""
    dh, dw = image.pixels.shape[:2]
    placed: list[_Found] = []
    for box in boxes:
        quad = det_pre.to_image(box.quad, det_input)
        polygon = np.clip(image.to_original(quad), 0, [image.width - 1, image.height - 1]).astype(np.float32)
        top, right = np.linalg.norm(polygon[1] - polygon[0]), np.linalg.norm(polygon[2] - polygon[1])
        if min(top, right) <= MIN_EDGE:
            continue
        placed.append(_Found(np.clip(quad, 0, [dw - 1, dh - 1]).astype(np.float32), polygon, box.score))
    return [placed[i] for i in db_post.reading_order([f.polygon for f in placed])]


def _polygon(points: Points) -> tuple[tuple[float, float], ...]:
    return tuple((round(float(x), 1), round(float(y), 1)) for x, y in points)
