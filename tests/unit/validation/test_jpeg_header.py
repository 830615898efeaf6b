"""The JPEG header as the decoder reads it: bytes between segments skipped to the next marker, the first EXIF
block's orientation, coding processes the decoder never reads refused as unsupported, and phone cameras'
high-resolution modes refused from the header."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from batch_tasks.ocr.opencv import cv2
from shared.validation import Accepted, Limits, QualityPolicy, Reason, Rejected, formats, validate
from shared.validation.formats import MAX_SEGMENTS, read_header
from tests.unit.ocr.images import jpeg_header_only, with_orientation
from tests.unit.validation.images import sign, sign_jpeg, with_exif
from tests.unit.validation.test_jpeg_padding import PADDING, Reads

NAME = "north-yard/cam-1/2026/11/22/IMG_0001.jpg"


def run(data: bytes):
    return validate(NAME, len(data), lambda: data, Limits(), QualityPolicy())


def decodes(data: bytes) -> bool:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is not None


def app1(data: bytes) -> tuple[int, int]:
    """Where the EXIF APP1 segment starts and ends."""
    start = data.index(b"\xff\xe1")
    (length,) = struct.unpack(">H", data[start + 2 : start + 4])
    return start, start + 2 + length


def after_app1(padding: bytes) -> bytes:
    data = with_exif(sign(), orientation=1)
    _, end = app1(data)
    return data[:end] + padding + data[end:]


def app1_two_bytes_short() -> bytes:
    """An APP1 whose length leaves its last two bytes outside it: stray bytes before the next marker."""
    data = with_exif(sign(), orientation=1)
    start, end = app1(data)
    return data[: start + 2] + struct.pack(">H", end - start - 4) + data[start + 4 :]


@pytest.mark.parametrize(
    "data",
    [after_app1(b"\x00\x00"), after_app1(b"\xff\x00"), after_app1(b"\r\n"), app1_two_bytes_short()],
    ids=["two-zeros", "stuffed-zero", "cr-lf", "app1-two-short"],
)
def test_stray_bytes_before_the_frame_header_are_skipped_as_libjpeg_skips_them(data):
    assert decodes(data)  # libjpeg warns ("extraneous bytes before marker") and decodes
    assert read_header(data) == formats.Header("jpeg", 800, 600, 1)
    verdict = run(data)
    assert isinstance(verdict, Accepted), verdict


def test_a_header_with_stray_bytes_and_no_frame_after_them_is_still_damaged():
    data = sign_jpeg()
    frame = data.index(b"\xff\xc0")
    no_frame = data[:frame] + b"\r\n" + b"\x00" * 4000  # stray bytes to the end: no marker, no frame header
    assert read_header(no_frame) is None
    verdict = run(no_frame)
    assert isinstance(verdict, Rejected) and verdict.reason is Reason.CORRUPT_IMAGE


def test_stray_bytes_count_toward_the_segment_cap_before_the_frame_header():
    data = sign_jpeg()
    (length,) = struct.unpack(">H", data[4:6])  # the APP0 after the SOI: the file still starts FF D8 FF
    padded = Reads(data[: 4 + length] + b"\r\n\xff\xfe\x00\x02" * (PADDING // 6) + data[4 + length :])
    assert read_header(padded) is None
    assert padded.reads < 8 * (MAX_SEGMENTS + 64)  # one step of the walk per pair, the cap stops it
    verdict = run(padded)
    assert isinstance(verdict, Rejected) and verdict.reason is Reason.CORRUPT_IMAGE


@pytest.mark.parametrize(("first", "second"), [(6, 1), (1, 6)])
def test_the_first_exif_block_gives_the_orientation_as_opencv_and_pillow_read_it(first, second):
    data = with_orientation(with_orientation(sign_jpeg(320, 200), second), first)  # `first` ends up in front
    header = read_header(data)
    assert header is not None and header.orientation == first
    verdict = run(data)
    assert isinstance(verdict, Accepted) and verdict.derived.orientation == first


def frame(marker: int, precision: int) -> bytes:
    """`sign_jpeg()` with its frame header's marker and sample precision replaced."""
    data = sign_jpeg()
    at = data.index(b"\xff\xc0")
    return data[:at] + bytes([0xFF, marker]) + data[at + 2 : at + 4] + bytes([precision]) + data[at + 5 :]


@pytest.mark.parametrize(
    ("marker", "precision", "kind"),
    [(0xC0, 12, "12-bit JPEG"), (0xC2, 12, "12-bit JPEG"), (0xC1, 16, "16-bit JPEG"),
     (0xC5, 8, "hierarchical JPEG"), (0xCE, 8, "hierarchical JPEG"),
     (0xCB, 8, "arithmetic-coded lossless JPEG"), (0xC3, 16, "16-bit lossless JPEG")],
)  # fmt: skip
def test_jpegs_the_decoder_never_reads_are_an_unsupported_type(marker, precision, kind):
    data = frame(marker, precision)
    assert not decodes(data)
    assert formats.sniff(data) == kind
    verdict = run(data)
    assert isinstance(verdict, Rejected) and verdict.reason is Reason.UNSUPPORTED_TYPE and kind in verdict.detail


@pytest.mark.parametrize("marker", [0xC0, 0xC1, 0xC2, 0xC3, 0xC9, 0xCA])
def test_jpegs_of_8_bit_samples_are_left_to_the_decoder(marker):
    """Baseline, extended, progressive, arithmetic-coded, and lossless Huffman (libjpeg reads an RGB one)."""
    assert formats.sniff(frame(marker, 8)) == "jpeg"


@pytest.mark.parametrize(("width", "height"), [(12_000, 9_000), (16_320, 12_240)], ids=["108-MP", "200-MP"])
def test_phone_cameras_high_resolution_modes_are_refused_with_their_size_and_the_cap(width, height):
    verdict = run(jpeg_header_only(width, height) + b"\x00" * 2000)
    assert isinstance(verdict, Rejected) and verdict.reason is Reason.IMAGE_TOO_LARGE
    assert f"{width}x{height}" in verdict.detail and f"{Limits().max_pixels:,} pixels" in verdict.detail
