"""Header parsing without decoding: sizes, EXIF orientation in both byte orders, and hostile headers."""

from __future__ import annotations

import struct

import pytest

from shared.validation import formats
from tests.unit.validation.images import png_bomb, sign, sign_jpeg, with_exif


def tiff(order: str, entries: list[tuple[int, int, int, bytes]], count: int | None = None) -> bytes:
    head = (b"II*\x00" if order == "<" else b"MM\x00*") + struct.pack(order + "I", 8)
    body = struct.pack(order + "H", len(entries) if count is None else count)
    for tag, kind, n, value in entries:
        body += struct.pack(order + "HHI", tag, kind, n) + value.ljust(4, b"\x00")
    return head + body


@pytest.mark.parametrize("order", ["<", ">"])
def test_the_orientation_tag_is_read_in_either_byte_order(order):
    block = tiff(order, [(0x010F, 2, 4, b"abc\x00"), (0x0112, 3, 1, struct.pack(order + "H", 6))])
    assert formats.exif_orientation(block) == 6


@pytest.mark.parametrize(
    "block",
    [b"", b"II*\x00", tiff("<", [(0x0112, 3, 1, struct.pack("<H", 9))]),  # out of range
     tiff("<", [(0x0112, 4, 1, struct.pack("<I", 9))]),  # LONG, out of range
     tiff("<", [], count=60000),  # claims 60,000 entries that are not there
     b"MM\x00*" + struct.pack(">I", 10**9)],  # IFD offset far past the end
)  # fmt: skip
def test_malformed_exif_means_upright_never_an_error(block):
    assert formats.exif_orientation(block) == 1


@pytest.mark.parametrize("order", ["<", ">"])
def test_an_orientation_stored_as_long_is_read_as_opencv_and_pillow_read_it(order):
    # The standard says SHORT; some writers use LONG, and both decoders turn the image by it.
    assert formats.exif_orientation(tiff(order, [(0x0112, 4, 1, struct.pack(order + "I", 6))])) == 6


def test_headers_give_the_stored_size_and_orientation():
    jpeg = formats.read_header(with_exif(sign(320, 200), orientation=8))
    png = formats.read_header(with_exif(sign(320, 200), orientation=6, fmt="PNG"))
    assert jpeg == formats.Header("jpeg", 320, 200, 8) and png == formats.Header("png", 320, 200, 6)
    assert formats.read_header(png_bomb(32000)) == formats.Header("png", 32000, 32000, 1)


@pytest.mark.parametrize(
    "data",
    [b"\xff\xd8", b"\xff\xd8\xff\xda\x00\x08" + b"\x00" * 100,  # scan data before any frame header
     b"\xff\xd8\xff\xe0\x00\x01" + b"\x00" * 100,  # a segment length below 2
     b"\xff\xd8\xff\xc0\x00\x11\x08\x00\x00\x00\x00" + b"\x00" * 100,  # a frame of 0 x 0
     b"\x89PNG\r\n\x1a\n" + b"\x00" * 8],  # no IHDR
)  # fmt: skip
def test_damaged_headers_have_no_size(data):
    assert formats.read_header(data) is None


def test_a_real_jpeg_is_sniffed_as_jpeg_whatever_follows():
    assert formats.sniff(sign_jpeg() + b"PK\x03\x04") == "jpeg"
