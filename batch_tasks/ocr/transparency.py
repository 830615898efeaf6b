"""Transparent PNGs composited over white, the same way wherever a PNG is decoded.

Decoded as colour only, a PNG's transparent pixels keep whatever colour they store, usually black, so dark
ink on a transparent background would become a black page and read as nothing. Only PNGs that may be
transparent are decoded with their alpha (4 bytes a pixel at 8 bits, 8 at 16 bits), so every other image
decodes in the same memory as before. Used by ingestion (shared/validation/image.py, which writes the
derived JPEG the pipeline's nodes read) and by the engine's own decode (imaging.py: `sitelens models test`,
`--in-process`, a PNG handed to the node server directly), so both read a transparent PNG alike.

OpenCV turns the tRNS colour of an RGB or palette PNG into an alpha channel, but drops a grey PNG's: that one
is read from the file here, and its pixels are made white. The composite is made a band of rows at a time into
the one uint8 image it returns: a 50 MP RGBA PNG at 16 bits decodes to 400 MB, and a whole-image uint8 copy and
blend beside it took the decode's peak from about 550 MB to 760 MB.
"""

from __future__ import annotations

import struct

import numpy as np
import numpy.typing as npt

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_GREY, _GREY_ALPHA, _RGBA = 0, 4, 6  # PNG colour types: grey alone, and those with an alpha channel
_BLEND_ROWS = 64  # a band's temporaries: a few MB at 8,000 pixels a row


def may_be_transparent(data: bytes) -> bool:
    """A PNG whose IHDR says grey + alpha or RGBA, or with a tRNS chunk (which comes before the image data)."""
    if not data.startswith(_PNG_SIGNATURE) or len(data) < 26:
        return False
    colour = data[25]  # the IHDR is the first chunk: signature 8, length 4, type 4, size 8, depth 1
    return colour in (_GREY_ALPHA, _RGBA) or _chunk_before_data(data, b"tRNS") is not None


def transparent_grey(data: bytes) -> int | None:
    """The sample value a grey PNG's tRNS chunk makes transparent, as OpenCV decodes it (1, 2 and 4 bits are
    scaled to 8, as libpng expands them; 8 and 16 bits are kept); None for any other PNG."""
    if not data.startswith(_PNG_SIGNATURE) or len(data) < 26 or data[25] != _GREY:
        return None
    chunk = _chunk_before_data(data, b"tRNS")
    if chunk is None or len(chunk) < 2:
        return None  # libpng ignores a short one too
    depth, grey = data[24], int.from_bytes(chunk[:2], "big")
    if depth in (1, 2, 4):
        top = (1 << depth) - 1
        return (grey & top) * (255 // top)  # libpng's expansion to 8 bits: x 255, x 85, x 17
    return grey if depth in (8, 16) else None  # as decoded (past 8 bits, an 8-bit value matches no sample)


def _chunk_before_data(data: bytes, kind: bytes) -> bytes | None:
    """The body of the first chunk of `kind` before the first IDAT, if there is one. A Python step per chunk up
    to the image data, where an encoder writes a handful (a file padded with more is refused before any decode
    by ingestion's chunk count, and walked chunk by chunk by the node's header read first anyway)."""
    i = 8
    while i + 8 <= len(data):
        length, found = struct.unpack_from(">I4s", data, i)
        if found == b"IDAT":
            return None
        if found == kind:
            return data[i + 8 : i + 8 + length]
        i += 12 + length
    return None


def over_white(decoded: npt.NDArray[np.generic], png: bytes) -> npt.NDArray[np.uint8]:
    """An IMREAD_UNCHANGED decode of `png` (grey, grey + alpha, BGR or BGRA; 8 or 16 bits) as BGR uint8 over
    white; `png` is read for a grey image's tRNS colour, which OpenCV drops."""
    samples = np.asarray(decoded)
    if samples.ndim == 2:
        samples = samples[..., None]
    height, width, channels = samples.shape
    with_alpha = channels in (2, 4)
    key = transparent_grey(png) if channels == 1 else None
    pixels = np.empty((height, width, 3), dtype=np.uint8)
    for start in range(0, height, _BLEND_ROWS):  # every temporary is a band, never the whole image
        band = samples[start : start + _BLEND_ROWS]
        out = pixels[start : start + _BLEND_ROWS]
        high = np.right_shift(band, 8).astype(np.uint8) if band.dtype == np.uint16 else band  # as IMREAD_COLOR
        if with_alpha:
            alpha = high[..., -1:].astype(np.uint16)
            blend = high[..., :-1].astype(np.uint16)  # 1 (grey) or 3 (BGR) channels; broadcasts to 3
            # ink x alpha + white x (255 - alpha), rounded: at most 255 x 255 + 127, which fits 16 bits
            blend *= alpha
            blend += 255 * (255 - alpha) + 127
            blend //= 255
            out[...] = blend
        else:
            out[...] = high  # grey broadcasts to 3 channels
            if key is not None:
                out[band[..., 0] == key] = 255  # compared at the decoded depth, before the high byte is kept
    return pixels
