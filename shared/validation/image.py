"""The bounded decode, EXIF orientation, and the re-encoded derived JPEG.

OpenCV is told to ignore EXIF orientation so that the rotation applied is exactly the one `formats` read
and recorded (and is applied once). The derived JPEG is encoded from pixels, so it carries no EXIF, no GPS,
no XMP, no thumbnail and nothing after its end marker (a JPEG+ZIP polyglot does not survive it).

A PNG with transparency is composited over white (batch_tasks/ocr/transparency.py, shared with the engine's
own decode).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from batch_tasks.ocr.opencv import cv2
from batch_tasks.ocr.transparency import may_be_transparent, over_white
from shared.validation.formats import PNG, Header

Pixels = npt.NDArray[np.uint8]  # H x W x 3, BGR
_EOI = b"\xff\xd9"


class DecodeFailed(ValueError):
    """The decoder refused the bytes (truncated, damaged, or not what the header says)."""


def decode(data: bytes, header: Header) -> Pixels:
    """Full decode to BGR uint8, as stored (no orientation), transparency over white; raises DecodeFailed."""
    with_alpha = header.format == PNG and may_be_transparent(data)
    mode = cv2.IMREAD_UNCHANGED if with_alpha else cv2.IMREAD_COLOR
    try:
        decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), mode | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error as exc:  # over OpenCV's own limits; garbage returns None instead
        raise DecodeFailed(f"the decoder refused the image: {str(exc).strip().splitlines()[-1]}") from exc
    if decoded is None:
        raise DecodeFailed(f"the {header.format.upper()} does not decode (truncated or damaged)")
    pixels = over_white(decoded, data) if with_alpha else np.asarray(decoded, dtype=np.uint8)
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.shape[:2] != (header.height, header.width):
        raise DecodeFailed(f"decoded {pixels.shape} but the header says {header.width}x{header.height}")
    return pixels


def upright(pixels: Pixels, orientation: int) -> Pixels:
    """Apply an EXIF orientation (1-8) so that row 0 is the top of the scene."""
    turned: Pixels
    if orientation == 2:
        turned = pixels[:, ::-1]
    elif orientation == 3:
        turned = pixels[::-1, ::-1]
    elif orientation == 4:
        turned = pixels[::-1]
    elif orientation == 5:
        turned = pixels.transpose(1, 0, 2)
    elif orientation == 6:
        turned = pixels.transpose(1, 0, 2)[:, ::-1]  # 90° clockwise
    elif orientation == 7:
        turned = pixels.transpose(1, 0, 2)[::-1, ::-1]
    elif orientation == 8:
        turned = pixels.transpose(1, 0, 2)[::-1]  # 90° counter-clockwise
    else:
        turned = pixels
    return np.ascontiguousarray(turned)


def encode_jpeg(pixels: Pixels, quality: int) -> bytes:
    ok, buffer = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise DecodeFailed("the derived JPEG could not be encoded")
    data = buffer.tobytes()
    if not data.endswith(_EOI):  # what we hand the GPU ends at its end marker, always
        raise DecodeFailed("the derived JPEG does not end with its end-of-image marker")
    return data
