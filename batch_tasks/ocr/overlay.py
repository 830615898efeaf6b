"""The overlay JPEG: the photo with each line's polygon drawn on it, for people checking results."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from batch_tasks.ocr.imaging import Image
from batch_tasks.ocr.opencv import cv2

COLOUR = (0, 200, 255)  # BGR amber: visible on most site photos
QUALITY = 85
MAX_SIDE = 2048


def draw(image: Image, polygons: Sequence[Sequence[Sequence[float]]], max_side: int = MAX_SIDE) -> bytes:
    """JPEG bytes of `image` with the polygons (in `image`'s pixels) outlined, long side at most `max_side`.

    Raises:
        ValueError: OpenCV could not encode the JPEG.
    """
    scale = min(1.0, max_side / max(image.shape[:2]))
    canvas = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image.copy()
    thickness = max(2, round(max(canvas.shape[:2]) / 600))
    for polygon in polygons:
        points = ((np.asarray(polygon, dtype=np.float32) + 0.5) * scale - 0.5).round().astype(np.int32)
        cv2.polylines(canvas, [points], isClosed=True, color=COLOUR, thickness=thickness, lineType=cv2.LINE_AA)
    ok, jpeg = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
    if not ok:
        raise ValueError("the overlay could not be encoded")
    return jpeg.tobytes()
