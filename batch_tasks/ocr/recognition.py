"""Text recognition around the CTC model: crops in, strings out.

Crops are perspective-warped from the original image, resized to height 48, normalised to -1…1 and
zero-padded on the right to a fixed width bucket (fixed shapes keep GPU kernels warm). Greedy CTC
decoding collapses repeats, drops blanks (index 0) and maps indices to the dictionary shipped in the
rec model's metadata, with a space as the last class.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from batch_tasks.ocr.imaging import cv2

HEIGHT = 48


def crop(image: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """An axis-aligned patch of the quadrilateral; tall patches are turned to read left to right."""
    tl, tr, br, bl = quad.astype(np.float32)
    width = int(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl)))
    height = int(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr)))
    width, height = max(width, 1), max(height, 1)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(np.array([tl, tr, br, bl]), target)
    patch = cv2.warpPerspective(image, matrix, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    if height / width >= 1.5:
        patch = np.rot90(patch)
    return np.ascontiguousarray(patch)


def bucket(patch: np.ndarray, buckets: Sequence[int]) -> int:
    natural = math.ceil(HEIGHT * patch.shape[1] / patch.shape[0])
    return next((b for b in buckets if b >= natural), buckets[-1])


def prepare(patch: np.ndarray, width: int) -> np.ndarray:
    """float32 [3, 48, width]; longer lines are squeezed into the largest bucket."""
    w = min(width, max(1, math.ceil(HEIGHT * patch.shape[1] / patch.shape[0])))
    resized = cv2.resize(patch, (w, HEIGHT)).astype(np.float32)
    x = (resized / 255.0 - 0.5) / 0.5
    out = np.zeros((3, HEIGHT, width), dtype=np.float32)
    out[:, :, :w] = x.transpose(2, 0, 1)
    return out


def prepare_cls(patch: np.ndarray, size: tuple[int, int] = (48, 192)) -> np.ndarray:
    """float32 [3, 48, 192] for the 0°/180° line classifier, normalised like rec and zero-padded."""
    height, width = size
    w = min(width, max(1, math.ceil(height * patch.shape[1] / patch.shape[0])))
    resized = cv2.resize(patch, (w, height)).astype(np.float32)
    out = np.zeros((3, height, width), dtype=np.float32)
    out[:, :, :w] = ((resized / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)
    return out


def ctc_decode(probs: np.ndarray, characters: Sequence[str]) -> tuple[str, float]:
    """Greedy CTC over [T, classes]: class 0 is blank, 1…n the dictionary, n+1 a space."""
    best = probs.argmax(axis=1)
    scores = probs.max(axis=1)
    text: list[str] = []
    kept: list[float] = []
    previous = -1
    for index, score in zip(best.tolist(), scores.tolist(), strict=True):
        if index not in (previous, 0):
            text.append(characters[index - 1] if index - 1 < len(characters) else " ")
            kept.append(score)
        previous = index
    return "".join(text), (float(np.mean(kept)) if kept else 0.0)
