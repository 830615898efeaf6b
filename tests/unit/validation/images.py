"""Test images built with Pillow (a dev dependency): EXIF orientation, GPS, PNG bombs, polyglots."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

from tests.integration.ocr.photos import jpeg, paper, write


def sign(width: int = 800, height: int = 600, text: str = "PUMP P-104") -> np.ndarray:
    image = paper(height, width, seed=5)
    write(image, text, (40, height // 2), 2.0, 5)
    return image


def sign_jpeg(width: int = 800, height: int = 600) -> bytes:
    return jpeg(sign(width, height))


def with_exif(pixels: np.ndarray, *, orientation: int = 1, gps: bool = False, fmt: str = "JPEG") -> bytes:
    """A JPEG (or PNG) of `pixels` (BGR) carrying an EXIF Orientation and, optionally, a GPS IFD."""
    image = Image.fromarray(pixels[:, :, ::-1].copy())
    exif = Image.Exif()
    exif[0x0112] = orientation
    if gps:
        exif.get_ifd(0x8825).update({1: "N", 2: (52.0, 22.0, 0.0), 3: "E", 4: (4.0, 53.0, 0.0)})
    out = io.BytesIO()
    image.save(out, fmt, exif=exif.tobytes())
    return out.getvalue()


def png_bomb(side: int) -> bytes:
    """A 1-bit PNG of side x side zero pixels: tiny on disk, huge when decoded."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def heic_header() -> bytes:
    return b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 4000
