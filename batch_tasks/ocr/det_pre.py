"""Detection input: fit the image into one of a few fixed size buckets, normalise, lay out as CHW.

A small fixed set of input shapes lets the GPU runtime pick (and cache) its convolution algorithms once per
shape at warm-up, and lets images of one bucket share a batch. Buckets are (height, width) pairs whose long
side is the det long side (1280 by default) in a few aspect ratios, both orientations.

The image is scaled by the largest factor that fits a bucket (at most `max_upscale`); among buckets giving the
same factor, the smallest wins. It sits at the top-left of the bucket, and the rest is zero after
normalisation (the mean colour), so the probability map is cut to the valid region before DB post-processing.
Per-axis scale factors are kept, since rounding makes them differ slightly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from batch_tasks.ocr.imaging import Image, Points, scale_points
from batch_tasks.ocr.opencv import cv2
from batch_tasks.ocr.settings import Bucket, DetSettings, Triple

# Landscape aspect ratios; each also gives its portrait twin. 4:3 holds phone photos and anything wider up
# to 16:9 without loss, 16:9 holds video frames and panoramas, 1:1 the near-square rest.
ASPECTS: tuple[tuple[int, int], ...] = ((4, 3), (16, 9), (1, 1))


@dataclass(frozen=True, eq=False)  # holds arrays: compare their fields, not the objects
class DetInput:
    tensor: npt.NDArray[np.float32]  # [3, bucket height, bucket width]
    valid: tuple[int, int]  # (height, width) of the image inside the bucket, from the top-left corner
    scale: tuple[float, float]  # image pixels per det pixel, (x, y)

    @property
    def bucket(self) -> Bucket:
        return int(self.tensor.shape[1]), int(self.tensor.shape[2])


def bucket_shapes(long_side: int, aspects: Sequence[tuple[int, int]] = ASPECTS, multiple: int = 32) -> list[Bucket]:
    """(height, width) buckets with the given long side, short sides rounded up to `multiple`."""
    shapes: list[Bucket] = []
    for a, b in aspects:
        short = max(multiple, math.ceil(long_side * min(a, b) / max(a, b) / multiple) * multiple)
        shapes += [(short, long_side), (long_side, short)]
    return list(dict.fromkeys(shapes))


def choose_bucket(height: int, width: int, buckets: Sequence[Bucket], max_upscale: float) -> tuple[Bucket, Bucket]:
    """The bucket for an image, and the (height, width) the image is resized to inside it."""

    def fit(bucket: Bucket) -> float:
        return min(bucket[0] / height, bucket[1] / width, max_upscale)

    best = max(fit(b) for b in buckets)
    bucket = min((b for b in buckets if fit(b) >= best * (1 - 1e-9)), key=lambda b: (b[0] * b[1], b))
    h = min(bucket[0], max(1, round(height * best)))
    w = min(bucket[1], max(1, round(width * best)))
    return bucket, (h, w)


def normalise(image: Image, mean: Triple, std: Triple) -> npt.NDArray[np.float32]:
    """`(x / 255 - mean) / std` per channel in the image's own (BGR) order, as [3, H, W] float32."""
    scale = (*(1 / (255 * s) for s in std), 0.0)
    params = cv2.dnn.Image2BlobParams(scalefactor=scale, mean=(*(255 * m for m in mean), 0.0), ddepth=cv2.CV_32F)
    blob = cv2.dnn.blobFromImageWithParams(image, params)  # one C++ pass: subtract, scale, HWC -> NCHW
    chw: npt.NDArray[np.float32] = np.asarray(blob, dtype=np.float32)[0]
    return chw


def prepare(image: Image, s: DetSettings) -> DetInput:
    """Resize `image` into its bucket and normalise it."""
    height, width = image.shape[:2]
    bucket, (h, w) = choose_bucket(height, width, s.buckets, s.max_upscale)
    # INTER_AREA only for strong reductions: it costs ~20x INTER_LINEAR, and after a reduced decode the
    # remaining factor is under 2, where linear interpolation does not alias.
    shrink = max(height / h, width / w)
    interpolation = cv2.INTER_AREA if shrink > 2 else cv2.INTER_LINEAR
    resized = image if (h, w) == (height, width) else cv2.resize(image, (w, h), interpolation=interpolation)
    tensor = np.zeros((3, *bucket), dtype=np.float32)
    tensor[:, :h, :w] = normalise(np.asarray(resized, dtype=np.uint8), s.mean, s.std)
    return DetInput(tensor, (h, w), (width / w, height / h))


def to_image(points: Points, det_input: DetInput) -> Points:
    """Det-map coordinates to the coordinates of the image that was prepared."""
    return scale_points(points, det_input.scale)
