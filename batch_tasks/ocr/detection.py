"""Text detection around the DBNet model: resize and normalise in, boxes out (DB post-processing).

Post-processing follows the DB paper's inference steps as PaddleOCR runs them: threshold the
probability map, take contours, score each min-area rectangle by the mean probability inside it,
"unclip" it by `d = area x ratio / perimeter` (for a rectangle, growing each side by 2d around the same
centre and angle is the polygon offset up to rounding, so no clipping library is needed), and map the
corners back to the original image with separate x and y ratios.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from batch_tasks.ocr.imaging import cv2


@dataclass(frozen=True)
class DetSettings:
    long_side: int = 1280
    multiple: int = 32
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    thresh: float = 0.3
    box_thresh: float = 0.6
    unclip_ratio: float = 1.5
    min_size: int = 3
    max_candidates: int = 1000


def settings_from(doc: Mapping[str, Any]) -> DetSettings:
    """The manifest's `det` section; keys it does not name keep their defaults."""
    d = DetSettings()
    return DetSettings(
        long_side=int(doc.get("long_side", d.long_side)),
        multiple=int(doc.get("multiple", d.multiple)),
        mean=tuple(doc.get("mean", d.mean)),
        std=tuple(doc.get("std", d.std)),
        thresh=float(doc.get("thresh", d.thresh)),
        box_thresh=float(doc.get("box_thresh", d.box_thresh)),
        unclip_ratio=float(doc.get("unclip_ratio", d.unclip_ratio)),
        min_size=int(doc.get("min_size", d.min_size)),
        max_candidates=int(doc.get("max_candidates", d.max_candidates)),
    )


@dataclass(frozen=True)
class Prepared:
    tensor: np.ndarray  # float32 [3, H, W]
    ratio_x: float  # original width / resized width
    ratio_y: float


def target_size(height: int, width: int, s: DetSettings) -> tuple[int, int]:
    """The det input size: long side scaled down to `long_side`, each side rounded to `multiple`."""
    scale = min(1.0, s.long_side / max(height, width))
    h = max(s.multiple, round(height * scale / s.multiple) * s.multiple)
    w = max(s.multiple, round(width * scale / s.multiple) * s.multiple)
    return h, w


def prepare(image: np.ndarray, s: DetSettings) -> Prepared:
    height, width = image.shape[:2]
    h, w = target_size(height, width, s)
    resized = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if h < height else cv2.INTER_LINEAR)
    scaled = resized.astype(np.float32) / np.float32(255.0)
    x = (scaled - np.array(s.mean, dtype=np.float32)) / np.array(s.std, dtype=np.float32)
    return Prepared(np.ascontiguousarray(x.transpose(2, 0, 1)), width / w, height / h)


def _order(points: np.ndarray) -> np.ndarray:
    """Clockwise from top-left."""
    s = points.sum(axis=1)
    d = np.diff(points, axis=1).ravel()
    return np.array([points[np.argmin(s)], points[np.argmin(d)], points[np.argmax(s)], points[np.argmax(d)]])


def _score(prob: np.ndarray, box: np.ndarray) -> float:
    h, w = prob.shape
    x0, x1 = int(np.clip(np.floor(box[:, 0].min()), 0, w - 1)), int(np.clip(np.ceil(box[:, 0].max()), 0, w - 1))
    y0, y1 = int(np.clip(np.floor(box[:, 1].min()), 0, h - 1)), int(np.clip(np.ceil(box[:, 1].max()), 0, h - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
    cv2.fillPoly(mask, [(box - [x0, y0]).astype(np.int32)], 1)
    return float(cv2.mean(prob[y0 : y1 + 1, x0 : x1 + 1], mask)[0])


def boxes(prob: np.ndarray, prepared: Prepared, s: DetSettings) -> list[tuple[np.ndarray, float]]:
    """Quadrilaterals (4x2, original-image pixels, clockwise from top-left) and their scores, in reading order."""
    bitmap = (prob > s.thresh).astype(np.uint8)
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    found: list[tuple[np.ndarray, float]] = []
    for contour in contours[: s.max_candidates]:
        (cx, cy), (rw, rh), angle = cv2.minAreaRect(contour)
        if min(rw, rh) < s.min_size:
            continue
        rect = cv2.boxPoints(((cx, cy), (rw, rh), angle))
        score = _score(prob, rect)
        if score < s.box_thresh:
            continue
        d = rw * rh * s.unclip_ratio / (2 * (rw + rh))
        grown = ((cx, cy), (rw + 2 * d, rh + 2 * d), angle)
        if min(grown[1]) < s.min_size + 2:
            continue
        quad = _order(cv2.boxPoints(grown)) * [prepared.ratio_x, prepared.ratio_y]
        found.append((quad.astype(np.float32), score))
    found.sort(key=lambda item: (round(float(item[0][0, 1]) / 10), float(item[0][0, 0])))
    return found
