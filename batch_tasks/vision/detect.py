"""A `detect` model: a photo to boxes with class and score, as its manifest's `output.format` says.

- `yolov8`: one output [N, 4 + C, A]: cx, cy, w, h in input pixels, then C class scores; the score of an
  anchor is its best class's.
- `yolov5`: one output [N, A, 5 + C]: cx, cy, w, h, objectness, C class scores; score = objectness x class.
- `nms`: the graph ran NMS itself: [N, K, 6] rows x1, y1, x2, y2 (input pixels), score, class id; rows
  under the threshold (padding) are dropped.

The YOLO formats are thresholded, then suppressed per class with OpenCV's `NMSBoxesBatched`; every format
keeps at most `max_detections`, best first. Boxes go back through the letterbox, crop or stretch to the
decoded image, then to the original photo's pixels, clipped to it; a box left with no area is dropped.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from batch_tasks.errors import ModelOutputInvalid
from batch_tasks.models.vision_spec import OutputSpec
from batch_tasks.ocr.opencv import cv2
from batch_tasks.vision.results import Detection, DetectResult
from batch_tasks.vision.runner import Prepared, VisionModel

Floats = npt.NDArray[np.float32]
Ints = npt.NDArray[np.int64]


def _invalid(fmt: str, shape: tuple[int, ...], wanted: str) -> ModelOutputInvalid:
    return ModelOutputInvalid(f"{fmt} output per image has shape {list(shape)}, the manifest implies {wanted}")


def candidates(row: npt.NDArray[np.floating], fmt: str, classes: int) -> tuple[Floats, Floats, Ints]:
    """Boxes (x1, y1, x2, y2 in input pixels), scores and class ids of one image's output, before thresholds.

    Raises:
        ModelOutputInvalid: the shape does not fit the format and the number of labels, or values are not finite.
    """
    out = np.asarray(row, np.float32)
    if not np.all(np.isfinite(out)):
        raise ModelOutputInvalid(f"{fmt} output holds NaN or infinite values")
    if fmt == "nms":
        if out.ndim != 2 or out.shape[1] != 6:
            raise _invalid(fmt, out.shape, "[K, 6]")
        ids = np.rint(out[:, 5]).astype(np.int64)
        known = (ids >= 0) & (ids < classes)
        return out[known, :4], out[known, 4], ids[known]
    if fmt == "yolov8":
        if out.ndim != 2 or out.shape[0] != 4 + classes:
            raise _invalid(fmt, out.shape, f"[4 + {classes}, A]")
        table, class_scores = out.T, out.T[:, 4:]
    else:
        if out.ndim != 2 or out.shape[1] != 5 + classes:
            raise _invalid(fmt, out.shape, f"[A, 5 + {classes}]")
        table, class_scores = out, out[:, 5:] * out[:, 4:5]
    ids = np.argmax(class_scores, axis=1).astype(np.int64)
    scores = class_scores[np.arange(len(ids)), ids]
    cx, cy, w, h = table[:, 0], table[:, 1], table[:, 2], table[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)
    return boxes, scores.astype(np.float32), ids


def select(boxes: Floats, scores: Floats, ids: Ints, out: OutputSpec) -> list[int]:
    """Indices kept: over the score threshold, per-class NMS unless the graph did it, best first, at most max."""
    keep = np.flatnonzero(scores >= max(out.score_threshold, 1e-9))
    if out.format != "nms" and keep.size:
        rects = [(float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])) for b in boxes[keep]]
        kept = cv2.dnn.NMSBoxesBatched(
            rects, scores[keep].tolist(), ids[keep].tolist(), out.score_threshold, out.iou_threshold
        )
        keep = keep[np.asarray(kept, dtype=np.int64).reshape(-1)]
    order = keep[np.argsort(-scores[keep], kind="stable")]
    return [int(i) for i in order[: out.max_detections]]


def place(prepared: Prepared, boxes: Floats) -> Floats:
    """Input-pixel boxes to the original photo's pixels, clipped to it."""
    image = prepared.image
    decoded = prepared.placement.to_source(boxes)
    sx, sy = image.scale
    decoded[:, 0::2] = np.clip(decoded[:, 0::2] * sx, 0, image.width)
    decoded[:, 1::2] = np.clip(decoded[:, 1::2] * sy, 0, image.height)
    return decoded


class DetectModel(VisionModel[DetectResult]):
    def read(self, prepared: Prepared) -> DetectResult:
        out, labels = self.runner.spec.output, self.runner.labels
        boxes, scores, ids = candidates(prepared.output, out.format, len(labels))
        chosen = select(boxes, scores, ids, out)
        placed = place(prepared, boxes[chosen]) if chosen else np.zeros((0, 4), np.float32)
        found = [
            Detection(labels[ids[i]], int(ids[i]), round(float(scores[i]), 4),
                      (round(float(b[0]), 1), round(float(b[1]), 1), round(float(b[2]), 1), round(float(b[3]), 1)))
            for i, b in zip(chosen, placed, strict=True)
            if b[2] > b[0] and b[3] > b[1]
        ]  # fmt: skip
        return DetectResult(prepared.image.width, prepared.image.height, tuple(found))
