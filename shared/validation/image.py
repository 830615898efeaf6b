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
from shared.validation.jpeg_structure import JpegStructure
from shared.validation.structure import Structure

Pixels = npt.NDArray[np.uint8]  # H x W x 3, BGR
_EOI = b"\xff\xd9"
# Peak memory of one photo's decode, upright turn, quality measure and re-encode, as a multiple of the image
# cv2.imdecode returns. Measured (peak RSS over those steps) on 8160 x 6120 photos: a JPEG 288 MiB, an 8-bit RGB
# PNG 287 MiB and a 16-bit one 287 MiB (both decoded to 3 bytes a pixel: 143 MiB), an 8-bit RGBA PNG 383 MiB
# (4 bytes: 191 MiB), a 16-bit RGBA PNG 764 MiB (8 bytes: 381 MiB). Each is twice the decoded image, for a JPEG as
# for a PNG: cv2.imdecode alone peaks there. The steps after it hold the BGR result (3 bytes a pixel) and at
# most one other image, its upright copy or the decode it is composited from, so twice the larger bounds them.
_PEAK_PER_DECODED_BYTE = 2
_BGR_BYTES = 3
# A JPEG that libjpeg decodes through its whole-image coefficient buffer (`JpegStructure.buffered_samples`, 2 bytes
# a sample) holds that buffer and the BGR image it writes at once, and frees the buffer before imdecode returns:
# the steps after it hold no more than twice the image. Measured on 8160 x 6120 progressive JPEGs: 4:2:0 287 MiB
# (1.5 samples a pixel: 143 + 143, twice the image as for a baseline JPEG), 4:4:4 429 MiB (3 samples: 286 + 143),
# CMYK 525 MiB (4 samples: 381 + 143); grey (1 sample) stays under twice the image.
_COEFFICIENT_BYTES = 2
_GREY = 0  # PNG colour type: decoded unchanged as 1 channel (OpenCV drops a grey tRNS); the others as 4


class DecodeFailed(ValueError):
    """The decoder refused the bytes (truncated, damaged, or not what the header says)."""


def footprint(data: bytes, header: Header, structure: Structure) -> int:
    """Bytes of memory that validating this image holds at its peak, from its header and structure: what
    `decode` returns it as, for a PNG that may be transparent its channels and bit depth (IHDR) as decoded with
    alpha, and for a JPEG the coefficients its decode buffers."""
    pixels = header.width * header.height
    decoded = _BGR_BYTES
    if _with_alpha(data, header):
        channels = 1 if data[25] == _GREY else 4  # grey + alpha, RGB or palette with tRNS: BGRA
        decoded = channels * (2 if data[24] == 16 else 1)  # 1, 2 and 4 bits are expanded to 8
    peak = pixels * _PEAK_PER_DECODED_BYTE * max(decoded, _BGR_BYTES)
    if isinstance(structure, JpegStructure):
        peak = max(peak, structure.buffered_samples * _COEFFICIENT_BYTES + pixels * _BGR_BYTES)
    return peak


def decode(data: bytes, header: Header) -> Pixels:
    """Full decode to BGR uint8, as stored (no orientation), transparency over white; raises DecodeFailed."""
    with_alpha = _with_alpha(data, header)
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


def _with_alpha(data: bytes, header: Header) -> bool:
    return header.format == PNG and may_be_transparent(data)


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
