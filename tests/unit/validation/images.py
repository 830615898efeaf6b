"""Test images built with Pillow (a dev dependency): EXIF orientation, GPS, PNG bombs, polyglots."""

from __future__ import annotations

import io
import re
import struct
import zlib

import numpy as np
from PIL import Image

from batch_tasks.ocr.opencv import cv2
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


def progressive_jpeg(pixels: np.ndarray, *, subsampling: int = 2) -> bytes:
    """Pillow's progressive JPEG of `pixels` (BGR): libjpeg's script, 10 scans (6 when grey)."""
    image = Image.fromarray(pixels[:, :, ::-1].copy()) if pixels.ndim == 3 else Image.fromarray(pixels)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, progressive=True, subsampling=subsampling)
    return out.getvalue()


def jpeg_scans(data: bytes) -> list[bytes]:
    """Each scan of a JPEG (its SOS segment and entropy-coded data), found without shared/validation's walk."""
    scans, i = [], 2
    while data[i + 1] != 0xD9:
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        end = i + 2 + length
        if data[i + 1] == 0xDA:
            end = re.search(rb"\xff[^\x00\xd0-\xd7\xff]", data[end:]).start() + end
            scans.append(data[i:end])
        i = end
    return scans


def scan_bomb(width: int, height: int, repeats: int) -> bytes:
    """A progressive JPEG whose smallest scan is repeated `repeats` times before its end marker.

    libjpeg warns about the repeated progression and decodes it anyway, one pass over the component's blocks
    per copy: the shape of a 392 KB file of 20,000 scans that decodes for over a minute, here in kilobytes.
    """
    data = progressive_jpeg(np.full((height, width, 3), 128, np.uint8))
    smallest = min(jpeg_scans(data), key=len)
    return data[:-2] + smallest * repeats + data[-2:]


def synthetic_jpeg(width: int, height: int, components: int, scans: list[list[int]], *, segments: int = 0) -> bytes:
    """A JPEG's marker structure only (frame, `segments` COM segments, scan headers naming the given component
    ids, each with a few bytes of data), then 1 KiB past its end marker to pass the byte floor: what the
    structure walk reads; no decoder would accept it."""
    frame = struct.pack(">BHHB", 8, height, width, components)
    frame += b"".join(bytes([n + 1, 0x11, 0]) for n in range(components))
    body = b"\xff\xd8" + b"\xff\xfe\x00\x04ok" * segments
    body += b"\xff\xc2" + struct.pack(">H", 2 + len(frame)) + frame
    for ids in scans:
        header = bytes([len(ids)]) + b"".join(bytes([n, 0]) for n in ids) + b"\x00\x00\x00"
        body += b"\xff\xda" + struct.pack(">H", 2 + len(header)) + header + b"\x12\x34"
    return body + b"\xff\xd9" + b"\x00" * 1024


def png_with_chunks(pixels: np.ndarray, chunks: list[tuple[bytes, bytes]]) -> bytes:
    """A PNG of `pixels` (BGR) with the given (kind, body) chunks inserted right after IHDR."""
    ok, encoded = cv2.imencode(".png", pixels)
    assert ok
    data = encoded.tobytes()
    extra = b"".join(_chunk(kind, body) for kind, body in chunks)
    return data[:33] + extra + data[33:]


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def ink_on_transparent(kind: str) -> bytes:
    """A PNG of `sign()`'s ink (black) on a fully transparent black background: alpha 255 on the ink, 0 around
    it. `kind`: RGBA, LA (grey + alpha), P (a palette with a tRNS entry), RGBA16 (16 bits a sample), or L+tRNS
    and L16+tRNS: grey, at 8 or 16 bits, whose background's grey (1, all but black) is the tRNS colour."""
    ink = cv2.cvtColor(sign(), cv2.COLOR_BGR2GRAY) < 128
    alpha = np.where(ink, 255, 0).astype(np.uint8)
    if kind == "RGBA16":
        bgra = np.zeros((*ink.shape, 4), np.uint16)
        bgra[..., 3] = alpha.astype(np.uint16) * 257
        ok, data = cv2.imencode(".png", bgra)
        assert ok
        return data.tobytes()
    out = io.BytesIO()
    if kind == "P":
        image = Image.fromarray(ink.astype(np.uint8), "P")
        image.putpalette([0, 0, 0, 0, 0, 0])
        image.save(out, "PNG", transparency=0)
    elif kind in ("L+tRNS", "L16+tRNS"):
        grey = np.where(ink, 0, 1).astype(np.uint8 if kind == "L+tRNS" else np.uint16)
        Image.fromarray(grey).save(out, "PNG", transparency=1)  # mode L or I;16
    else:
        rgba = np.zeros((*ink.shape, 4), np.uint8)
        rgba[..., 3] = alpha
        Image.fromarray(rgba, "RGBA").convert(kind).save(out, "PNG")
    return out.getvalue()
