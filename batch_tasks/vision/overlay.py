"""The overlay JPEG for any kind: OCR line polygons, detection boxes with their labels, a classification's label.

Polygons alone are drawn by the OCR overlay itself (`batch_tasks.ocr.overlay`), so an OCR overlay is the same
bytes as ever. Boxes and captions use the same colour, quality and size cap, with the text on a dark band
so it reads on any photo.
"""

from __future__ import annotations

import numpy as np

from batch_tasks.ocr import overlay
from batch_tasks.ocr.imaging import Image
from batch_tasks.ocr.opencv import cv2
from batch_tasks.vision.results import Marks

FONT = cv2.FONT_HERSHEY_SIMPLEX
TEXT = (255, 255, 255)
BAND = (40, 40, 40)


def draw(image: Image, marks: Marks, max_side: int = overlay.MAX_SIDE) -> bytes:
    """JPEG bytes of `image` with `marks` (in `image`'s pixels) drawn, long side at most `max_side`.

    Raises:
        ValueError: OpenCV could not encode the JPEG.
    """
    if not marks.boxes and marks.caption is None:
        return overlay.draw(image, marks.polygons, max_side)
    scale = min(1.0, max_side / max(image.shape[:2]))
    resized = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image.copy()
    canvas: Image = np.asarray(resized, dtype=np.uint8)
    thickness = max(2, round(max(canvas.shape[:2]) / 600))
    font_scale = max(0.5, max(canvas.shape[:2]) / 1600)
    for polygon in marks.polygons:
        points = ((np.asarray(polygon, dtype=np.float32) + 0.5) * scale - 0.5).round().astype(np.int32)
        cv2.polylines(canvas, [points], isClosed=True, color=overlay.COLOUR, thickness=thickness, lineType=cv2.LINE_AA)
    for box, text in marks.boxes:
        x1, y1, x2, y2 = (round(v * scale) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), overlay.COLOUR, thickness, cv2.LINE_AA)
        _label(canvas, text, (x1, max(y1, 0)), font_scale)
    if marks.caption is not None:
        _label(canvas, marks.caption, (0, 0), font_scale * 1.5)
    ok, jpeg = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, overlay.QUALITY])
    if not ok:
        raise ValueError("the overlay could not be encoded")
    return bytes(jpeg.tobytes())


def _label(canvas: Image, text: str, corner: tuple[int, int], font_scale: float) -> None:
    """`text` on a dark band whose top-left is `corner` (moved inside the picture)."""
    (w, h), base = cv2.getTextSize(text, FONT, font_scale, 1)
    x = min(max(corner[0], 0), max(canvas.shape[1] - w - 4, 0))
    y = min(max(corner[1], 0), max(canvas.shape[0] - h - base - 4, 0))
    cv2.rectangle(canvas, (x, y), (x + w + 4, y + h + base + 4), BAND, -1)
    cv2.putText(canvas, text, (x + 2, y + h + 2), FONT, font_scale, TEXT, 1, cv2.LINE_AA)
