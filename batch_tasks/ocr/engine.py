"""The OCR engine: ONNX Runtime sessions for det and rec, created once, used for many photos.

CUDA when the GPU build and a device are present (cuDNN's heuristic algorithm choice, so a new input
shape costs no benchmark search, and an arena that grows only as requested), the CPU provider otherwise.
`providers` says which one runs, for the server's health report.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort  # type: ignore[import-untyped]

from batch_tasks.models.manifest import Manifest, load
from batch_tasks.ocr import detection, recognition

CUDA_OPTIONS = {"cudnn_conv_algo_search": "HEURISTIC", "arena_extend_strategy": "kSameAsRequested"}
MIN_CONFIDENCE = 0.5


@dataclass(frozen=True)
class Line:
    text: str
    confidence: float
    polygon: list[list[float]]  # 4 corners in the original image, clockwise from top-left


def _session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    providers: list[Any] = ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, ("CUDAExecutionProvider", CUDA_OPTIONS))
    return ort.InferenceSession(str(path), options, providers=providers)


class OcrEngine:
    def __init__(self, folder: Path, manifest: Manifest, threads: int = 0) -> None:
        self.manifest = manifest
        self.det = _session(folder / manifest.file("det").file, threads)
        self.rec = _session(folder / manifest.file("rec").file, threads)
        self.det_settings = detection.settings_from(manifest.raw.get("det", {}))
        self.widths: list[int] = sorted(manifest.raw.get("rec", {}).get("width_buckets", [320, 640, 1280]))
        # The 0°/180° classifier is optional: a model folder without a `cls` file reads lines as cropped.
        cls = next((f for f in manifest.files if f.role == "cls"), None)
        self.cls = _session(folder / cls.file, threads) if cls is not None else None
        self.cls_threshold = float(manifest.raw.get("cls", {}).get("threshold", 0.9))
        meta = self.rec.get_modelmeta().custom_metadata_map
        self.characters = meta["character"].splitlines()

    @classmethod
    def load(cls, folder: Path, threads: int = 0) -> OcrEngine:
        return cls(folder, load(folder), threads)

    @property
    def providers(self) -> list[str]:
        return list(self.det.get_providers())

    def detect(self, image: np.ndarray) -> list[tuple[np.ndarray, float]]:
        prepared = detection.prepare(image, self.det_settings)
        prob = self.det.run(None, {"x": prepared.tensor[None]})[0][0, 0]
        return detection.boxes(prob, prepared, self.det_settings)

    def recognise(self, patches: list[np.ndarray]) -> list[tuple[str, float]]:
        """Batch crops per width bucket, one rec run per bucket."""
        results: list[tuple[str, float]] = [("", 0.0)] * len(patches)
        by_width: dict[int, list[int]] = defaultdict(list)
        for i, patch in enumerate(patches):
            by_width[recognition.bucket(patch, self.widths)].append(i)
        for width, indices in by_width.items():
            batch = np.stack([recognition.prepare(patches[i], width) for i in indices])
            probs = self.rec.run(None, {"x": batch})[0]
            for i, p in zip(indices, probs, strict=True):
                results[i] = recognition.ctc_decode(p, self.characters)
        return results

    def upright(self, patches: list[np.ndarray]) -> list[np.ndarray]:
        """Turn lines the classifier finds upside down (label '180' above the threshold)."""
        if self.cls is None or not patches:
            return patches
        probs = self.cls.run(None, {"x": np.stack([recognition.prepare_cls(p) for p in patches])})[0]
        return [
            np.ascontiguousarray(np.rot90(p, 2)) if prob[1] > self.cls_threshold else p
            for p, prob in zip(patches, probs, strict=True)
        ]

    def read(self, image: np.ndarray) -> list[Line]:
        found = self.detect(image)
        texts = self.recognise(self.upright([recognition.crop(image, quad) for quad, _ in found]))
        return [
            Line(text, round(conf, 4), [[round(float(x), 1), round(float(y), 1)] for x, y in quad])
            for (quad, _), (text, conf) in zip(found, texts, strict=True)
            if conf >= MIN_CONFIDENCE and text.strip()
        ]
