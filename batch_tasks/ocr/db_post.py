"""DB post-processing: text boxes from the detector's probability map, in det-map pixels.

The steps of the DB paper's inference, as PaddleOCR runs them:

1. binarise the map at `thresh` (optionally dilate with a 2x2 kernel to join broken strokes);
2. for each contour (at most `max_candidates`), take its minimum-area rectangle and drop it when its short
   side is under `min_size`;
3. score it by the mean probability inside the rectangle ("fast" mode) and drop it under `box_thresh`;
4. "unclip" it: training shrank every text region by an offset, so grow the box back by the polygon offset
   `d = area x unclip_ratio / perimeter`;
5. drop boxes whose grown short side is under `min_size + 2`.

The offset in step 4 needs no clipping library: the boxes are rectangles, and the rounded-corner offset of a
w x h rectangle by d has as its own minimum-area rectangle the same centre and angle with sides w + 2d and
h + 2d, which is what PaddleOCR ends up with after its pyclipper offset and second `minAreaRect`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from batch_tasks.ocr.imaging import Points
from batch_tasks.ocr.opencv import cv2
from batch_tasks.ocr.settings import DbParams

Rect = tuple[Sequence[float], Sequence[float], float]  # as cv2.minAreaRect gives it: centre, (w, h), angle
_KERNEL = np.ones((2, 2), dtype=np.uint8)


@dataclass(frozen=True, eq=False)  # holds arrays: compare their fields, not the objects
class Box:
    quad: Points  # 4 x 2, clockwise from the top-left corner
    score: float


def unclip(rect: Rect, ratio: float) -> Rect:
    """Grow a rectangle by the DB offset `d = area x ratio / perimeter` on every side."""
    (cx, cy), (w, h), angle = rect
    d = w * h * ratio / (2 * (w + h)) if w + h > 0 else 0.0
    return (cx, cy), (w + 2 * d, h + 2 * d), angle


def order_quad(points: npt.ArrayLike) -> Points:
    """Four corners clockwise from the top-left: of the two leftmost, the upper is top-left (PaddleOCR's rule)."""
    pts = np.asarray(points, dtype=np.float32).reshape(4, 2)
    by_x = pts[np.argsort(pts[:, 0], kind="stable")]
    left, right = by_x[:2], by_x[2:]
    tl, bl = left[np.argsort(left[:, 1], kind="stable")]
    tr, br = right[np.argsort(right[:, 1], kind="stable")]
    return np.array([tl, tr, br, bl], dtype=np.float32)


def box_score(prob: npt.NDArray[np.float32], quad: Points) -> float:
    """Mean probability inside the quadrilateral (clipped to the map)."""
    h, w = prob.shape
    x0 = int(np.clip(np.floor(quad[:, 0].min()), 0, w - 1))
    x1 = int(np.clip(np.ceil(quad[:, 0].max()), 0, w - 1))
    y0 = int(np.clip(np.floor(quad[:, 1].min()), 0, h - 1))
    y1 = int(np.clip(np.ceil(quad[:, 1].max()), 0, h - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
    cv2.fillPoly(mask, [np.round(quad - [x0, y0]).astype(np.int32)], 1)
    return float(cv2.mean(prob[y0 : y1 + 1, x0 : x1 + 1], mask)[0])


def extract(prob: npt.NDArray[np.float32], p: DbParams) -> list[Box]:
    """Scored, unclipped text boxes in det-map pixels, in no particular order."""
    bitmap = (prob > p.thresh).astype(np.uint8)
    if p.dilate:
        bitmap = np.asarray(cv2.dilate(bitmap, _KERNEL), dtype=np.uint8)
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    found: list[Box] = []
    for contour in contours[: p.max_candidates]:
        rect = cv2.minAreaRect(contour)
        if min(rect[1]) < p.min_size:
            continue
        score = box_score(prob, order_quad(cv2.boxPoints(rect)))
        if score < p.box_thresh:
            continue
        grown = unclip(rect, p.unclip_ratio)
        if min(grown[1]) < p.min_size + 2:
            continue
        found.append(Box(order_quad(cv2.boxPoints(grown)), score))
    return found


def reading_order(quads: Sequence[Points]) -> list[int]:
    """Indices in reading order: rows top to bottom, left to right within a row, along the page's own tilt.

    "Down" and "right" follow the page: the direction of text is the median angle of the top edges of the
    boxes at least twice as wide as tall (a short word's min-area rectangle can lean any way). Rows are
    started in order of each box's top measured across that direction. A box joins the current row when its
    centre lies within half a line height of the row's first box's centre line (the smaller of the two boxes'
    heights, so small lines beside a big heading stay rows of their own). On a tilted photo, axis-aligned
    tops and extents would swap lines, merge neighbouring lines and put a row's words right-before-left.
    """
    if not quads:
        return []
    along = _text_direction(quads)
    across = np.array([-along[1], along[0]], dtype=np.float64)  # points down the page
    corners = [np.asarray(q, dtype=np.float64) for q in quads]
    centres = [q.mean(axis=0) for q in corners]
    heights = [float(np.linalg.norm(q[3] - q[0])) for q in corners]
    tops = [float((q @ across).min()) for q in corners]
    lefts = [float((q @ along).min()) for q in corners]
    rows: list[list[int]] = []
    for i in sorted(range(len(quads)), key=lambda i: (tops[i], lefts[i])):
        if rows:
            first = rows[-1][0]
            offset = abs(float((centres[i] - centres[first]) @ across))
            if offset <= min(heights[first], heights[i]) / 2:
                rows[-1].append(i)
                continue
        rows.append([i])
    return [i for row in rows for i in sorted(row, key=lambda j: float(centres[j] @ along))]


def _text_direction(quads: Sequence[Points]) -> npt.NDArray[np.float64]:
    """Unit vector along the text: the median top-edge angle of the clearly wide boxes, else horizontal."""
    angles = []
    for q in quads:
        top = np.asarray(q[1] - q[0], dtype=np.float64)
        width, height = float(np.linalg.norm(top)), float(np.linalg.norm(q[3] - q[0]))
        if width >= 2 * height > 0:
            angles.append(float(np.arctan2(top[1], top[0])))
    angle = float(np.median(angles)) if angles else 0.0
    return np.array([np.cos(angle), np.sin(angle)], dtype=np.float64)
