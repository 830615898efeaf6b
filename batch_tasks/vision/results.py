"""What a classify or detect model makes of one photo, and what the overlay draws for any kind.

Scores are probabilities 0..1 rounded to 4 places, boxes `[x1, y1, x2, y2]` in the original upright photo's
pixels (continuous edges: 0 to width) rounded to 0.1 px, both best first: the `result` member of the
`sitelens.classify.result/1` and `sitelens.detect.result/1` documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from batch_tasks.ocr.imaging import DecodedImage


@dataclass(frozen=True)
class Marks:
    """What an overlay shows, in the original photo's pixels; small and picklable (it goes to a worker)."""

    polygons: list[list[list[float]]] = field(default_factory=list)  # OCR lines
    boxes: list[tuple[list[float], str]] = field(default_factory=list)  # detections: box and caption
    caption: str | None = None  # classify: the top label

    def to_decoded(self, image: DecodedImage) -> Marks:
        """The same marks in the decoded image's pixels (the photo may have been decoded reduced)."""
        polygons = [image.from_original(np.asarray(p, dtype=np.float32)).tolist() for p in self.polygons]
        sx, sy = image.scale
        boxes = [([b[0] / sx, b[1] / sy, b[2] / sx, b[3] / sy], text) for b, text in self.boxes]
        return Marks(polygons, boxes, self.caption)


@dataclass(frozen=True)
class Label:
    label: str
    score: float


@dataclass(frozen=True)
class ClassifyResult:
    width: int  # the original upright photo's size
    height: int
    labels: tuple[Label, ...]  # top_k, best first

    def to_dict(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "labels": [{"label": x.label, "score": x.score} for x in self.labels],
        }

    def marks(self) -> Marks:
        top = self.labels[0] if self.labels else None
        return Marks(caption=f"{top.label} {top.score:.2f}" if top else None)


@dataclass(frozen=True)
class Detection:
    label: str
    class_id: int
    score: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in the original photo's pixels


@dataclass(frozen=True)
class DetectResult:
    width: int
    height: int
    boxes: tuple[Detection, ...]  # best first

    def to_dict(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "boxes": [
                {"label": d.label, "class_id": d.class_id, "score": d.score, "box": list(d.box)} for d in self.boxes
            ],
        }

    def marks(self) -> Marks:
        return Marks(boxes=[(list(d.box), f"{d.label} {d.score:.2f}") for d in self.boxes])
