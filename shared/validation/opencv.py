"""OpenCV, imported with its decode limits in place (they are read once, when the library loads).

The same rule as batch_tasks/ocr/opencv.py, for the Functions process: an inherited larger limit is lowered
to ours, a smaller one kept. Validation checks the header's size against its own cap first, so OpenCV's cap
is the second line, should a header lie about the size it decodes to.
"""

from __future__ import annotations

import logging
import os
import sys

MAX_PIXELS = 50_000_000
_LIMITS = {
    "OPENCV_IO_MAX_IMAGE_PIXELS": MAX_PIXELS,
    "OPENCV_IO_MAX_IMAGE_WIDTH": 65_535,
    "OPENCV_IO_MAX_IMAGE_HEIGHT": 65_535,
}


def _capped(current: str | None, cap: int) -> str:
    try:
        inherited = int(current) if current is not None else cap
    except ValueError:
        inherited = cap
    return str(min(max(inherited, 1), cap))


# Loaded earlier with our caps already in the environment (by batch_tasks' wrapper, say) is as good as now.
_ALREADY_LOADED = "cv2" in sys.modules and any(
    os.environ.get(name) != _capped(os.environ.get(name), cap) for name, cap in _LIMITS.items()
)
for _name, _cap in _LIMITS.items():
    os.environ[_name] = _capped(os.environ.get(_name), _cap)

import cv2  # noqa: E402 - must follow the limits above

if _ALREADY_LOADED:  # pragma: no cover - depends on what the process imported before us
    logging.getLogger(__name__).warning("cv2 was imported before shared.validation.opencv; its limits are as set then")

__all__ = ["MAX_PIXELS", "cv2"]
