"""Bounded image decoding, at reduced resolution when the model needs far fewer pixels than the photo has.

The original size is read from the file header first (JPEG SOF, PNG IHDR), so an oversized image is refused
before any decoder allocates for it. A JPEG is decoded with libjpeg's DCT scaling (`IMREAD_REDUCED_COLOR_2/4/8`)
when the reduced image still has `min_long_side` pixels on its long side: entropy decoding of a 12 MP photo is
the main CPU cost of reading it, and the reduced modes roughly halve it. Text polygons are mapped back to the
original (upright) image with the exact per-axis factors, so callers never see the reduction.

OpenCV applies EXIF orientation by default, in the reduced modes too; the original size reported here is the
upright one. A PNG that may be transparent is decoded with its alpha and put over white (transparency.py), as
ingestion does, so a model test on such a PNG reads what the pipeline reads; OpenCV applies no EXIF orientation
when it keeps the alpha, so such a PNG with an `eXIf` orientation other than 1 (rare: cameras write JPEGs) is
read as stored here, where ingestion turns it upright first.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from batch_tasks.ocr.opencv import MAX_PIXELS, cv2
from batch_tasks.ocr.transparency import may_be_transparent, over_white

Image = npt.NDArray[np.uint8]  # H x W x 3, BGR
Points = npt.NDArray[np.float32]  # N x 2, (x, y)

REDUCED = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic); C4, C8 and CC are not frames.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset(range(0xD0, 0xD8)) | {0x01}
_FILL = re.compile(rb"\xff+")
# Where stray bytes end: the next 0xFF that starts a marker (not fill, a stuffed zero or a restart marker).
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
# Marker segments read before the frame header at most, as ingestion's validation counts them
# (shared/validation/formats.py): a file padded past that has no header here, not a Python step per byte.
MAX_HEADER_SEGMENTS = 4096


class DecodeError(ValueError):
    """The bytes are not an image we decode; `reason` is a stable code.

    `unsupported_type` (not JPEG or PNG), `image_too_large` (over the pixel cap), `corrupt_image` (a JPEG or PNG
    header, but the decoder failed, e.g. on a truncated file).
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Header:
    format: str  # "jpeg" or "png"
    width: int  # as stored, before EXIF orientation
    height: int


@dataclass(frozen=True, eq=False)  # holds arrays: compare their fields, not the objects
class DecodedImage:
    """Pixels to run the model on, and the size of the upright original they stand for."""

    pixels: Image
    width: int  # the original's upright width
    height: int

    @classmethod
    def from_array(cls, image: npt.NDArray[np.uint8]) -> DecodedImage:
        """An already-decoded array (BGR, gray or BGRA) at its own full resolution."""
        if image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise DecodeError("unsupported_type", f"expected an 8-bit image, got {image.shape} {image.dtype}")
        bgr = image
        if image.ndim == 2:
            bgr = np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
        elif image.shape[2] == 4:
            bgr = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGRA2BGR), dtype=np.uint8)
        if bgr.ndim != 3 or bgr.shape[2] != 3:
            raise DecodeError("unsupported_type", f"expected 1, 3 or 4 channels, got {image.shape}")
        return cls(np.ascontiguousarray(bgr), int(bgr.shape[1]), int(bgr.shape[0]))

    @property
    def scale(self) -> tuple[float, float]:
        """Original pixels per decoded pixel, per axis (1.0 when decoded at full size)."""
        return self.width / self.pixels.shape[1], self.height / self.pixels.shape[0]

    def to_original(self, points: Points) -> Points:
        """Decoded-image coordinates to original ones (pixel centres map to pixel centres)."""
        return scale_points(points, self.scale)

    def from_original(self, points: Points) -> Points:
        sx, sy = self.scale
        return scale_points(points, (1 / sx, 1 / sy))


def scale_points(points: Points, scale: tuple[float, float]) -> Points:
    """Map points between two pixel grids of one picture: `(p + 0.5) * s - 0.5`, as `cv2.resize` aligns them."""
    factors = np.asarray(scale, dtype=np.float32)
    return ((points.astype(np.float32) + 0.5) * factors - 0.5).astype(np.float32)


def read_header(data: bytes) -> Header | None:
    """The stored size of a JPEG or PNG from its header, or None for other or malformed bytes.

    Raises:
        DecodeError: `corrupt_image`, for a PNG with a chunk that runs past the end of the file (`_png_chunks_fit`).
    """
    if data.startswith(_PNG_SIGNATURE) and len(data) >= 24 and data[12:16] == b"IHDR":
        _png_chunks_fit(data)
        width, height = struct.unpack(">II", data[16:24])
        return Header("png", width, height)
    if not data.startswith(b"\xff\xd8"):
        return None
    i, steps = 2, 0
    while i + 4 <= len(data) and steps < MAX_HEADER_SEGMENTS:
        if data[i] != 0xFF:  # stray bytes between segments: libjpeg skips them to the next marker, as ingestion does
            found = _NEXT_MARKER.search(data, i)
            if found is None:
                return None
            i = found.start()
            continue
        steps += 1
        if data[i + 1] == 0xFF:  # fill bytes, however many: one step
            i = _FILL.match(data, i + 1).end() - 1  # type: ignore[union-attr]  # it matches at least one
            continue
        marker = data[i + 1]
        if marker in _STANDALONE or marker == 0x00:  # a stuffed zero is no marker: libjpeg discards it and searches on
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _SOF and i + 9 <= len(data):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return Header("jpeg", width, height) if width and height else None
        if marker == 0xDA or length < 2:  # start of scan before any frame header, or a broken segment
            return None
        i += 2 + length
    return None


def _png_chunks_fit(data: bytes) -> None:
    """Refuse a PNG chunk (up to IEND) whose declared length runs past the end of the file: OpenCV's PNG reader
    reserves and zero-fills that length, up to 4 GiB, before it finds the file shorter. A Python step per chunk:
    an encoder writes a few hundred."""
    i = 8
    while i + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, i)
        if i + 8 + length > len(data):  # its data, not its CRC (OpenCV refuses a file cut short there anyway)
            raise DecodeError("corrupt_image", f"the PNG chunk {kind.decode('latin-1')!r} at byte {i} declares "
                              f"{length:,} bytes, past the end of the file ({len(data):,} bytes)")  # fmt: skip
        if kind == b"IEND":
            return
        i += 12 + length


def reduction_for(header: Header, min_long_side: int) -> int:
    """The largest JPEG DCT reduction (1, 2, 4, 8) that keeps at least `min_long_side` pixels on the long side."""
    if header.format != "jpeg":
        return 1  # only JPEG decodes faster when reduced; other formats would decode fully, then resize
    long_side = max(header.width, header.height)
    return max((f for f in REDUCED if -(-long_side // f) >= min_long_side), default=1)


def decode(data: bytes, min_long_side: int | None = None, max_pixels: int = MAX_PIXELS) -> DecodedImage:
    """Decode a JPEG or PNG to BGR uint8, upright, reduced as far as `min_long_side` allows (None: full size).

    Only JPEG and PNG are decoded: the pipeline's derived inputs are JPEGs, and every other format OpenCV
    could read is more attack surface for nothing.

    Raises:
        DecodeError: `unsupported_type`, `image_too_large` (from the header, or OpenCV's own cap), or
            `corrupt_image`.
    """
    header = read_header(data)
    if header is None:
        raise DecodeError("unsupported_type", "not a JPEG or PNG (or its header is damaged)")
    if header.width * header.height > max_pixels:
        raise DecodeError("image_too_large", f"{header.width}x{header.height} is over {max_pixels:,} pixels")
    factor = 1 if min_long_side is None else reduction_for(header, min_long_side)
    with_alpha = may_be_transparent(data)  # a PNG only, so never reduced; its alpha is put over white
    buffer = np.frombuffer(data, dtype=np.uint8)
    try:
        decoded = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED if with_alpha else REDUCED[factor])
    except cv2.error as exc:  # OpenCV raises for over-limit sizes and returns None for garbage
        raise DecodeError("image_too_large", f"OpenCV refused the image: {exc}") from exc
    if decoded is None:
        raise DecodeError("corrupt_image", f"the {header.format.upper()} does not decode (truncated or damaged)")
    pixels = over_white(decoded, data) if with_alpha else np.asarray(decoded, dtype=np.uint8)
    height, width = pixels.shape[:2]
    if factor > 1:
        width, height = _upright_original(header, factor, width, height)
    return DecodedImage(np.ascontiguousarray(pixels), width, height)


def _upright_original(header: Header, factor: int, width: int, height: int) -> tuple[int, int]:
    """The original's size in the decoded image's orientation (EXIF may have turned it by 90°)."""

    def reduced(n: int) -> int:
        return -(-n // factor)

    if (reduced(header.width), reduced(header.height)) == (width, height):
        return header.width, header.height
    if (reduced(header.height), reduced(header.width)) == (width, height):
        return header.height, header.width
    return width * factor, height * factor  # a decoder that rounds differently: close enough
