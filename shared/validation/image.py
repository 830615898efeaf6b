"""The bounded decode, EXIF orientation, and the re-encoded derived JPEG.

OpenCV is told to ignore EXIF orientation so that the rotation applied is exactly the one `formats` read
and recorded (and is applied once). The derived JPEG is encoded from pixels, so it carries no EXIF, no GPS,
no XMP, no thumbnail and nothing after its end marker (a JPEG+ZIP polyglot does not survive it).

A PNG with transparency is composited over white: decoded as colour only, its transparent pixels would keep
whatever colour they store, usually black, so dark ink on a transparent background would become a black
page. Only such PNGs are decoded with their alpha (4 bytes a pixel at 8 bits, 8 at 16 bits), so every other
photo decodes in the same memory as before.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from batch_tasks.ocr.opencv import cv2
from shared.validation.formats import PNG, Header

Pixels = npt.NDArray[np.uint8]  # H x W x 3, BGR
_EOI = b"\xff\xd9"
_GREY_ALPHA, _RGBA = 4, 6  # PNG colour types with an alpha channel
_BLEND_ROWS = 256


class DecodeFailed(ValueError):
    """The decoder refused the bytes (truncated, damaged, or not what the header says)."""


def decode(data: bytes, header: Header) -> Pixels:
    """Full decode to BGR uint8, as stored (no orientation), transparency over white; raises DecodeFailed."""
    with_alpha = header.format == PNG and _may_be_transparent(data)
    mode = cv2.IMREAD_UNCHANGED if with_alpha else cv2.IMREAD_COLOR
    try:
        decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), mode | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error as exc:  # over OpenCV's own limits; garbage returns None instead
        raise DecodeFailed(f"the decoder refused the image: {str(exc).strip().splitlines()[-1]}") from exc
    if decoded is None:
        raise DecodeFailed(f"the {header.format.upper()} does not decode (truncated or damaged)")
    pixels = _over_white(decoded) if with_alpha else np.asarray(decoded, dtype=np.uint8)
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.shape[:2] != (header.height, header.width):
        raise DecodeFailed(f"decoded {pixels.shape} but the header says {header.width}x{header.height}")
    return pixels


def _may_be_transparent(data: bytes) -> bool:
    """Colour type grey + alpha or RGBA in the IHDR, or a tRNS chunk (which comes before the image data)."""
    colour = data[25]  # the IHDR is the first chunk: signature 8, length 4, type 4, size 8, depth 1
    return colour in (_GREY_ALPHA, _RGBA) or b"tRNS" in data[: data.find(b"IDAT")]


def _over_white(decoded: npt.NDArray[np.generic]) -> Pixels:
    """An IMREAD_UNCHANGED PNG (grey, grey + alpha, BGR or BGRA; 8 or 16 bits) as BGR uint8 over white."""
    samples = np.asarray(decoded)
    if samples.dtype == np.uint16:  # what IMREAD_COLOR does to 16 bits: keep the high byte
        samples = np.right_shift(samples, 8, out=samples).astype(np.uint8)
    samples = np.asarray(samples, dtype=np.uint8)
    if samples.ndim == 2:
        samples = samples[..., None]
    if samples.shape[2] in (1, 3):  # OpenCV drops a grey image's tRNS: nothing left to composite
        return np.ascontiguousarray(np.broadcast_to(samples, (*samples.shape[:2], 3)))
    pixels = np.empty((*samples.shape[:2], 3), dtype=np.uint8)
    for start in range(0, samples.shape[0], _BLEND_ROWS):  # uint16 temporaries a band at a time
        band = samples[start : start + _BLEND_ROWS]
        alpha = band[..., -1:].astype(np.uint16)
        colour = band[..., :-1].astype(np.uint16)  # 1 (grey) or 3 (BGR) channels; broadcasts to 3
        # ink x alpha + white x (255 - alpha), rounded: at most 255 x 255 + 127, which fits 16 bits
        pixels[start : start + _BLEND_ROWS] = (colour * alpha + 255 * (255 - alpha) + 127) // 255
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
