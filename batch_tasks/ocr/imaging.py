"""Bounded image decoding. OpenCV's pixel limit is set before OpenCV is first imported.

Importing this module is the only way batch_tasks imports cv2, so no decoder ever runs without the cap.
"""

from __future__ import annotations

import os

# 50 MP: above any phone camera in the field, far below a decompression bomb's size.
MAX_PIXELS = 50_000_000
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))

import cv2  # noqa: E402 - must follow the limit above
import numpy as np  # noqa: E402

__all__ = ["MAX_PIXELS", "cv2", "decode"]


class DecodeError(ValueError):
    """The bytes are not an image OpenCV can decode within the limits."""


def decode(data: bytes) -> np.ndarray:
    """Decode to a BGR uint8 array (EXIF orientation applied, as OpenCV does by default)."""
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise DecodeError("not a decodable image, or larger than the pixel limit")
    return image
