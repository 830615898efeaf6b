"""Transparent PNGs composited over white, the same way wherever a PNG is decoded.

Decoded as colour only, a PNG's transparent pixels keep whatever colour they store, usually black, so dark
ink on a transparent background would become a black page and read as nothing. Only PNGs that may be
transparent are decoded with their alpha (4 bytes a pixel at 8 bits, 8 at 16 bits), so every other image
decodes in the same memory as before. Used by ingestion (shared/validation/image.py, which writes the
derived JPEG the pipeline's nodes read) and by the engine's own decode (imaging.py: `sitelens models test`,
`--in-process`, a PNG handed to the node server directly), so both read a transparent PNG alike.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_GREY_ALPHA, _RGBA = 4, 6  # PNG colour types with an alpha channel
_BLEND_ROWS = 256


def may_be_transparent(data: bytes) -> bool:
    """A PNG whose IHDR says grey + alpha or RGBA, or with a tRNS chunk (which comes before the image data)."""
    if not data.startswith(_PNG_SIGNATURE) or len(data) < 26:
        return False
    colour = data[25]  # the IHDR is the first chunk: signature 8, length 4, type 4, size 8, depth 1
    return colour in (_GREY_ALPHA, _RGBA) or b"tRNS" in data[: data.find(b"IDAT")]


def over_white(decoded: npt.NDArray[np.generic]) -> npt.NDArray[np.uint8]:
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
