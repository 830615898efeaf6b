"""OpenCV, imported with its decode limits already in place.

OpenCV reads `OPENCV_IO_MAX_IMAGE_PIXELS` once, when the library loads; setting it after `import cv2` has
no effect. Every module in `batch_tasks.ocr` takes `cv2` from here (and the package imports this module
first), so no decoder in this package runs without the cap. An inherited larger value is lowered to ours;
a smaller one is kept.

OpenCV checks the cap against the size it decodes to, which for `IMREAD_REDUCED_*` is the reduced size;
`imaging` checks the original size from the file header before decoding, so both are bounded.
"""

from __future__ import annotations

import logging
import os
import sys

# 50 MP: above any phone camera in the field, far below a decompression bomb's size.
MAX_PIXELS = 50_000_000
_VARIABLE = "OPENCV_IO_MAX_IMAGE_PIXELS"


def _cap(current: str | None) -> str:
    try:
        inherited = int(current) if current is not None else MAX_PIXELS
    except ValueError:
        inherited = MAX_PIXELS
    return str(min(max(inherited, 1), MAX_PIXELS))


# Loaded earlier with our cap already in the environment (by the app's own wrapper, say) is as good as now.
_INHERITED = os.environ.get(_VARIABLE)
_ALREADY_LOADED = "cv2" in sys.modules and _cap(_INHERITED) != _INHERITED
os.environ[_VARIABLE] = _cap(_INHERITED)

import cv2  # noqa: E402 - must follow the limit above

if _ALREADY_LOADED:  # pragma: no cover - depends on what the host process imported before us
    logging.getLogger(__name__).warning(
        "cv2 was imported before batch_tasks.ocr.opencv; its pixel limit is whatever was set then (%s)",
        os.environ[_VARIABLE],
    )

__all__ = ["MAX_PIXELS", "cv2"]
