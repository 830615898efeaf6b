"""Synthetic photos with known text drawn where we can check it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from batch_tasks.ocr.opencv import cv2

FONT = cv2.FONT_HERSHEY_SIMPLEX
INK = (30, 30, 30)


@dataclass(frozen=True)
class Drawn:
    text: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 of the ink (inclusive pixel indices)


def paper(height: int, width: int, seed: int = 7) -> np.ndarray:
    """An off-white, slightly noisy background (JPEG-compresses like a photo, not like a flat fill)."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 6, (height, width, 1))
    shade = np.linspace(215, 240, width)[None, :, None]
    return np.clip(shade + noise, 0, 255).astype(np.uint8).repeat(3, axis=2)


def write(image: np.ndarray, text: str, origin: tuple[int, int], scale: float, thickness: int) -> Drawn:
    """Draw `text` with its baseline starting at `origin`; returns where its ink is."""
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.putText(mask, text, origin, FONT, scale, 255, thickness, cv2.LINE_AA)
    cv2.putText(image, text, origin, FONT, scale, INK, thickness, cv2.LINE_AA)
    ys, xs = np.nonzero(mask > 127)
    return Drawn(text, (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())))


def jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()


def canon(text: str) -> str:
    """PP-OCRv4 is trained mostly on Chinese text: in Latin text it may drop a space or read O as 0."""
    return text.replace(" ", "").replace("O", "0")


def polygon_box(polygon) -> tuple[float, float, float, float]:
    xs = [p[0] for p in polygon]
    ys = [p[1] for p in polygon]
    return min(xs), min(ys), max(xs), max(ys)


def margins(polygon, drawn: Drawn) -> tuple[float, float, float, float]:
    """How far the polygon's bounding box reaches beyond the ink on each side (left, top, right, bottom)."""
    px0, py0, px1, py1 = polygon_box(polygon)
    x0, y0, x1, y1 = drawn.box
    return x0 - px0, y0 - py0, px1 - x1, py1 - y1


def lands_on(polygon, drawn: Drawn) -> bool:
    """The polygon covers the ink, give or take 15 % of the line's height, and reaches at most half a line
    height beyond it; 60 % below it, since DB boxes include room for descenders even where there are none."""
    height = drawn.box[3] - drawn.box[1]
    left, top, right, bottom = margins(polygon, drawn)
    return (
        all(-0.15 * height <= m <= 0.5 * height for m in (left, top, right))
        and -0.15 * height <= bottom <= 0.6 * height
    )
