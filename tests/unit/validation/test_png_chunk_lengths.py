"""A PNG chunk whose declared length runs past the end of the file is refused before any decoder sees it.

OpenCV's PNG reader reserves and zero-fills a chunk's declared length before it reads the chunk: a 6 KB file
declaring a 2 GB IDAT took 2 GB of memory to refuse. So the tests fail if `cv2.imdecode` is called at all.
"""

from __future__ import annotations

import struct

import pytest

from batch_tasks.ocr import imaging
from batch_tasks.ocr.opencv import cv2
from shared.validation import Accepted, Limits, QualityPolicy, Reason, Rejected, validate
from tests.unit.validation.images import png_with_chunks, sign

NAME = "north-yard/cam-1/2026/11/22/IMG_0001.png"


def run(data: bytes):
    return validate(NAME, len(data), lambda: data, Limits(), QualityPolicy())


@pytest.fixture
def no_imdecode(monkeypatch):
    def imdecode(*args):
        raise AssertionError("OpenCV was handed a PNG whose chunk runs past the end of the file")

    monkeypatch.setattr(cv2, "imdecode", imdecode)


def png() -> bytes:
    return png_with_chunks(sign(64, 48), [(b"tEXt", b"Comment\x00a sign")])


def declaring(data: bytes, kind: bytes, length: int) -> bytes:
    """`data` with the first `kind` chunk's length field set to `length` (its body and CRC unchanged)."""
    at = data.index(kind) - 4
    return data[:at] + struct.pack(">I", length) + data[at + 4 :]


OVERRUNS = [
    (b"IDAT", 0x7FFFFFFF),  # the largest length the format allows
    (b"IDAT", 0xFFFFFFF0),
    (b"tEXt", 0x40000000),  # an ancillary chunk before the image data
    (b"IEND", 0x10000000),
]


@pytest.mark.parametrize(("kind", "length"), OVERRUNS, ids=[f"{k.decode()}-{n:#x}" for k, n in OVERRUNS])
def test_validation_refuses_it_as_corrupt_before_decoding(no_imdecode, kind, length):
    data = declaring(png(), kind, length)
    verdict = run(data)
    assert isinstance(verdict, Rejected) and verdict.reason is Reason.CORRUPT_IMAGE
    assert f"{kind.decode()!r}" in verdict.detail and f"declares {length:,} bytes" in verdict.detail
    assert "past the end of the file" in verdict.detail


@pytest.mark.parametrize(("kind", "length"), OVERRUNS, ids=[f"{k.decode()}-{n:#x}" for k, n in OVERRUNS])
def test_the_node_decoder_refuses_it_as_corrupt_before_decoding(no_imdecode, kind, length):
    with pytest.raises(imaging.DecodeError) as caught:
        imaging.decode(declaring(png(), kind, length))
    assert caught.value.reason == "corrupt_image" and "past the end of the file" in str(caught.value)


def test_a_png_cut_short_in_its_image_data_is_refused_before_decoding(no_imdecode):
    data = png()[:-100]  # an upload cut short: OpenCV refuses any truncated PNG, so nothing is lost
    verdict = run(data)
    assert isinstance(verdict, Rejected) and verdict.reason is Reason.CORRUPT_IMAGE
    with pytest.raises(imaging.DecodeError, match="past the end of the file"):
        imaging.decode(data)


def test_a_header_alone_over_the_pixel_cap_is_still_refused_as_too_large_first(no_imdecode):
    ihdr = (60000).to_bytes(4, "big") * 2 + b"\x08\x02\x00\x00\x00"  # 60,000 x 60,000 RGB, and no CRC
    with pytest.raises(imaging.DecodeError) as caught:
        imaging.decode(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + ihdr)
    assert caught.value.reason == "image_too_large"


def test_whole_pngs_still_decode_bytes_after_their_end_included():
    for data in (png(), png() + b"\x00" * 64):  # bytes after IEND are not chunks: neither walk reads them
        assert isinstance(run(data), Accepted)
        assert imaging.decode(data).pixels.shape == (48, 64, 3)
