"""Quality flags: blur, exposure and resolution, measured on a small grey working copy of the upright image.

The figures are recorded on every job; whether a flag rejects the photo is the site's policy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from batch_tasks.ocr.opencv import cv2
from shared.validation.image import Pixels
from shared.validation.limits import QualityPolicy

FLAGS = ("blurry", "under_exposed", "over_exposed", "low_resolution")
WORKING_LONG_SIDE = 1024  # blur is judged at a fixed scale, so a 12 MP and a 1080p photo compare alike
DARK, BRIGHT = 8, 247  # luminance at or past these counts as clipped


@dataclass(frozen=True)
class Quality:
    width: int  # upright
    height: int
    sharpness: float  # variance of the Laplacian of the contrast-stretched working copy
    brightness: float  # mean luminance, 0-255
    dark_fraction: float
    bright_fraction: float
    flags: tuple[str, ...]


def measure(pixels: Pixels, policy: QualityPolicy) -> Quality:
    height, width = pixels.shape[:2]
    grey = np.asarray(cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    scale = WORKING_LONG_SIDE / max(width, height)
    if scale < 1:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        grey = np.asarray(cv2.resize(grey, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    brightness = float(grey.mean())
    sharpness = float(cv2.Laplacian(_stretched(grey), cv2.CV_32F).var())
    dark = float(np.count_nonzero(grey <= DARK)) / grey.size
    bright = float(np.count_nonzero(grey >= BRIGHT)) / grey.size
    flags: list[str] = []
    if sharpness < policy.min_sharpness:
        flags.append("blurry")
    if brightness < policy.dark_mean or dark > policy.clipped_fraction:
        flags.append("under_exposed")
    if brightness > policy.bright_mean or bright > policy.clipped_fraction:
        flags.append("over_exposed")
    if min(width, height) < policy.min_short_side:
        flags.append("low_resolution")
    return Quality(width, height, round(sharpness, 2), round(brightness, 2), round(dark, 4), round(bright, 4),
                   tuple(flags))  # fmt: skip


def _stretched(grey: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """The 1st-99th percentile range stretched to 0-255, so a dark but sharp photo is not judged blurry."""
    low, high = np.percentile(grey, (1, 99))
    span = max(float(high - low), 16.0)  # a flat image stays flat instead of amplifying its noise
    return np.asarray((grey.astype(np.float32) - float(low)) * (255.0 / span), dtype=np.float32)
