"""Transparent PNGs over white, as OpenCV decodes them: alpha at 8 and 16 bits, in grey and colour, and a grey
PNG's tRNS colour at every depth (OpenCV drops it; transparency.py reads it from the file)."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from batch_tasks.ocr.opencv import cv2
from batch_tasks.ocr.transparency import may_be_transparent, over_white, transparent_grey

GREY, GREY_ALPHA, RGB_ALPHA = 0, 4, 6  # PNG colour types


def png(samples: np.ndarray, colour: int, depth: int, trns: bytes | None = None) -> bytes:
    """A PNG of `samples` (rows x columns x channels, in PNG's order: grey or RGB, then alpha), written here so
    that every colour type and depth can be made, with an optional tRNS chunk."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    height, width = samples.shape[:2]
    if depth == 16:
        rows = samples.astype(">u2").reshape(height, -1).view(np.uint8)
    elif depth == 8:
        rows = samples.astype(np.uint8).reshape(height, -1)
    else:  # 1, 2 or 4 bits: pack the samples of a row into bytes, first sample in the high bits
        per_byte = 8 // depth
        padded = np.zeros((height, -(-width // per_byte) * per_byte), np.uint8)
        padded[:, :width] = samples.reshape(height, width)
        shifts = np.arange(per_byte - 1, -1, -1, dtype=np.uint8) * depth
        rows = (padded.reshape(height, -1, per_byte) << shifts).sum(axis=2).astype(np.uint8)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)  # filter type 0 on every row
    head = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))
    extra = chunk(b"tRNS", trns) if trns is not None else b""
    return b"\x89PNG\r\n\x1a\n" + head + extra + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def read(data: bytes) -> np.ndarray:
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded is not None
    return decoded


def composite(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """ink x alpha + white x (1 - alpha), to the nearest integer (a sum of integers over 255 is never halfway)."""
    blended = np.round((colour.astype(float) * alpha + 255 * (255 - alpha.astype(float))) / 255)
    return np.broadcast_to(blended, (*blended.shape[:2], 3)).astype(np.uint8)


@pytest.mark.parametrize("depth", [8, 16])
@pytest.mark.parametrize("colour", [GREY_ALPHA, RGB_ALPHA])
def test_alpha_is_composited_over_white_at_8_and_16_bits(colour, depth):
    rng = np.random.default_rng(depth + colour)
    channels = 2 if colour == GREY_ALPHA else 4
    samples = rng.integers(0, 1 << depth, (300, 40, channels), dtype=np.uint16 if depth == 16 else np.uint8)
    samples[:10, :, -1] = 0  # fully transparent rows, and fully opaque ones
    samples[10:20, :, -1] = (1 << depth) - 1
    data = png(samples, colour, depth)
    assert may_be_transparent(data)
    decoded = read(data)
    kept = decoded.copy()
    page = over_white(decoded, data)
    high = (samples >> 8 if depth == 16 else samples).astype(np.uint8)  # the high byte, as IMREAD_COLOR keeps
    ink = high[..., :-1] if colour == GREY_ALPHA else high[..., 2::-1]  # OpenCV's channel order is BGR
    expected = composite(ink, high[..., -1:])
    assert page.dtype == np.uint8 and page.shape == (300, 40, 3)
    np.testing.assert_array_equal(page, expected)
    assert (page[:10] == 255).all()
    np.testing.assert_array_equal(decoded, kept)  # composited band by band beside the decode, never into it


@pytest.mark.parametrize(("depth", "key", "mark"), [(1, 0, 1), (2, 2, 0), (4, 9, 0), (8, 200, 0), (16, 40_000, 0)])
def test_a_grey_pngs_transparent_colour_becomes_white_at_every_depth(depth, key, mark):
    """A background of the tRNS grey `key` with a `mark` on it (black; at 1 bit, where black is the key, white)."""
    top = (1 << depth) - 1
    samples = np.full((20, 30, 1), key, np.uint16 if depth == 16 else np.uint8)
    samples[5:15, 5:25] = mark
    data = png(samples, GREY, depth, trns=struct.pack(">H", key))
    assert may_be_transparent(data)
    decoded = read(data)
    assert decoded.ndim == 2  # OpenCV drops a grey PNG's tRNS: one channel, no alpha
    as_decoded = key * 255 // top if depth < 8 else key  # libpng scales 1, 2 and 4 bits up to 8
    assert transparent_grey(data) == as_decoded
    assert (decoded[:5] == as_decoded).all()
    page = over_white(decoded, data)
    assert page.shape == (20, 30, 3)
    assert (page[:5] == 255).all() and (page[15:] == 255).all() and (page[:, :5] == 255).all()
    mark_seen = mark * 255 // top if depth < 8 else mark >> 8 if depth == 16 else mark
    assert (page[5:15, 5:25] == mark_seen).all()


def test_a_grey_png_without_trns_and_other_pngs_have_no_transparent_grey():
    samples = np.arange(64, dtype=np.uint8).reshape(8, 8, 1)
    plain = png(samples, GREY, 8)
    assert not may_be_transparent(plain) and transparent_grey(plain) is None
    page = over_white(read(plain), plain)  # nothing made white
    np.testing.assert_array_equal(page, np.repeat(samples, 3, axis=2))
    rgb = png(np.zeros((8, 8, 3), np.uint8), 2, 8, trns=struct.pack(">HHH", 0, 0, 0))
    assert may_be_transparent(rgb) and transparent_grey(rgb) is None  # OpenCV gives this one an alpha channel
    assert read(rgb).shape == (8, 8, 4)
