"""OpenCV, imported with its decode limits already in place: the one copy, for both deployables.

OpenCV reads `OPENCV_IO_MAX_IMAGE_PIXELS` (and the width and height caps) once, when the library loads;
setting them after `import cv2` has no effect. So every module that decodes takes `cv2` from here: in the
node, every module in `batch_tasks.ocr` (and the package imports this module first) for the derived inputs;
in the Functions app, `shared.validation` for the originals (the app package ships this module and its
package's `__init__`, infra/package.py). An inherited larger value is lowered to ours; a smaller one is kept.

OpenCV checks the cap against the size it decodes to, which for `IMREAD_REDUCED_*` is the reduced size;
`imaging` (node) and validation (app) check the original size from the file header before decoding, so
both are bounded and OpenCV's cap is the second line, should a header lie about the size it decodes to.
"""

from __future__ import annotations

import logging
import os
import sys

# 50 MP: above what phone cameras write by default (12 to 50 MP), far below a decompression bomb's size. Phones'
# 108 and 200 MP modes are over it: such a photo is refused (`image_too_large`), not decoded.
MAX_PIXELS = 50_000_000
MAX_SIDE = 65_535  # JPEG's own limit; OpenCV's default would let a PNG header claim more
_LIMITS = {
    "OPENCV_IO_MAX_IMAGE_PIXELS": MAX_PIXELS,
    "OPENCV_IO_MAX_IMAGE_WIDTH": MAX_SIDE,
    "OPENCV_IO_MAX_IMAGE_HEIGHT": MAX_SIDE,
}


def _capped(current: str | None, cap: int) -> str:
    try:
        inherited = int(current) if current is not None else cap
    except ValueError:
        inherited = cap
    return str(min(max(inherited, 1), cap))


# Loaded earlier with our caps already in the environment (by a wrapper of the host process, say) is as good.
_ALREADY_LOADED = "cv2" in sys.modules and any(
    os.environ.get(name) != _capped(os.environ.get(name), cap) for name, cap in _LIMITS.items()
)
for _name, _cap in _LIMITS.items():
    os.environ[_name] = _capped(os.environ.get(_name), _cap)

import cv2  # noqa: E402 - must follow the limits above

if _ALREADY_LOADED:  # pragma: no cover - depends on what the host process imported before us
    logging.getLogger(__name__).warning(
        "cv2 was imported before batch_tasks.ocr.opencv; its limits are whatever was set then (%s)",
        ", ".join(f"{name}={os.environ[name]}" for name in _LIMITS),
    )

__all__ = ["MAX_PIXELS", "MAX_SIDE", "cv2"]
