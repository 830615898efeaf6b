"""Text-line crops: perspective-warped patches, and the fixed-height tensors rec and cls take.

A quad (clockwise from top-left, in the decoded image's pixels) is warped to an axis-aligned patch whose width
is the longer of its top and bottom edges and whose height the longer of its sides, with cubic interpolation
and replicated borders. A patch at least 1.5 times taller than wide is a vertical line: it is turned 90°
counter-clockwise so it reads left to right.

For rec, a patch is resized to the model's height keeping its aspect, normalised to -1…1 and zero-padded on
the right to a width bucket (a multiple of 8, so the CTC time steps stay integral). A patch wider than the
largest bucket is squeezed into it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from batch_tasks.ocr.imaging import Image, Points
from batch_tasks.ocr.opencv import cv2
from batch_tasks.ocr.settings import Triple

VERTICAL = 1.5


def crop(image: Image, quad: Points) -> Image:
    """The quadrilateral's content as an upright patch."""
    tl, tr, br, bl = np.asarray(quad, dtype=np.float32)
    width = max(1, round(max(float(np.linalg.norm(tr - tl)), float(np.linalg.norm(br - bl)))))
    height = max(1, round(max(float(np.linalg.norm(bl - tl)), float(np.linalg.norm(br - tr)))))
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(np.array([tl, tr, br, bl], dtype=np.float32), target)
    patch = cv2.warpPerspective(image, matrix, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    if height / width >= VERTICAL:
        patch = np.rot90(patch)
    return np.ascontiguousarray(patch, dtype=np.uint8)


def natural_width(patch: Image, height: int) -> int:
    """The width the patch has at `height` keeping its aspect ratio."""
    return max(1, math.ceil(height * int(patch.shape[1]) / int(patch.shape[0])))


def width_bucket(patch: Image, height: int, buckets: Sequence[int]) -> int:
    """The smallest bucket that holds the patch at `height`, else the largest."""
    natural = natural_width(patch, height)
    return next((b for b in buckets if b >= natural), buckets[-1])


def line_tensor(patch: Image, height: int, width: int, mean: Triple, std: Triple) -> npt.NDArray[np.float32]:
    """float32 [3, height, width]: resized to `height`, normalised per channel, zero-padded on the right."""
    w = min(width, natural_width(patch, height))
    resized = cv2.resize(patch, (w, height), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    normalised = (resized / np.float32(255) - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    out = np.zeros((3, height, width), dtype=np.float32)
    out[:, :, :w] = normalised.transpose(2, 0, 1)
    return out


def turn_around(patch: Image) -> Image:
    """The patch rotated by 180°."""
    return np.ascontiguousarray(np.rot90(patch, 2))
