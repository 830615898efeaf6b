"""Padding between JPEG segments: fill bytes cost one step however many, and restart markers, TEM and stuffed
zeros count toward the segment cap, so a file of padding is refused or accepted in a bounded number of steps.

The steps are counted, not timed: `Reads` counts every index and slice the walks take of the file (their
searches run in C on its buffer), and a walk reads the file that way a few times a step.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

from batch_tasks.ocr.opencv import cv2
from shared.validation import Accepted, Limits, QualityPolicy, Reason, Rejected, image, jpeg_structure, validate
from shared.validation.formats import read_header
from shared.validation.jpeg_structure import MAX_SEGMENTS
from shared.validation.structure import Structure
from tests.integration.ocr.photos import jpeg
from tests.unit.validation.images import sign

NAME = "north-yard/cam-1/2026/11/22/IMG_0001.jpg"
PADDING = 1 << 20  # bytes: a step per byte would be a million steps
READS = 8 * (MAX_SEGMENTS + 64)  # a walk that counts every step toward the caps: at most 8 reads a step


class Reads(bytes):
    """Bytes that count the reads by index or slice made of them."""

    reads = 0

    def __getitem__(self, key):
        self.reads += 1
        return super().__getitem__(key)


def run(data: bytes):
    return validate(NAME, len(data), lambda: data, Limits(), QualityPolicy())


@pytest.fixture
def no_decode(monkeypatch):
    monkeypatch.setattr(image, "decode", lambda data, header: pytest.fail("decoded a file its structure refuses"))


def photo() -> bytes:
    return jpeg(sign(64, 48))


def after_frame(data: bytes, padding: bytes) -> bytes:
    """`padding` between the frame header and the segment after it."""
    frame = data.index(b"\xff\xc0")
    (length,) = struct.unpack(">H", data[frame + 2 : frame + 4])
    return data[: frame + 2 + length] + padding + data[frame + 2 + length :]


def before_frame(data: bytes, padding: bytes) -> bytes:
    return data[:2] + padding + data[2:]


@pytest.mark.parametrize("place", [before_frame, after_frame])
def test_a_megabyte_of_fill_bytes_is_one_step_and_the_photo_is_accepted(place):
    plain, padded = Reads(photo()), Reads(place(photo(), b"\xff" * PADDING))  # libjpeg skips fill bytes
    assert read_header(padded) == read_header(plain)
    assert jpeg_structure.survey(padded, 64) == jpeg_structure.survey(plain, 64)
    assert padded.reads <= plain.reads + 8  # the run is a step of each walk, as one fill byte would be
    assert isinstance(run(padded), Accepted)


@pytest.mark.parametrize("marker", [b"\xff\xd0", b"\xff\x01", b"\xff\x00"], ids=["restart", "tem", "stuffed-zero"])
def test_padding_of_markers_after_the_frame_meets_the_segment_cap(no_decode, marker):
    padded = Reads(after_frame(photo(), marker * (PADDING // 2)))
    refusal = jpeg_structure.survey(padded, 64)
    assert not isinstance(refusal, Structure) and refusal.reason is Reason.ABNORMAL_STRUCTURE
    assert padded.reads < READS
    verdict = run(padded)
    assert isinstance(verdict, Rejected) and verdict.reason is Reason.ABNORMAL_STRUCTURE
    assert f"more than {MAX_SEGMENTS:,} marker segments" in verdict.detail


@pytest.mark.parametrize("marker", [b"\xff\xd0", b"\xff\x01", b"\xff\xfe\x00\x02"], ids=["restart", "tem", "comment"])
def test_padding_before_the_frame_has_no_frame_within_the_cap(no_decode, marker):
    padded = Reads(before_frame(photo(), (b"\xff" + marker) * (PADDING // (1 + len(marker)))))  # fill, then each
    assert read_header(padded) is None
    assert padded.reads < READS
    verdict = run(padded)
    assert isinstance(verdict, Rejected) and verdict.reason is Reason.CORRUPT_IMAGE


def test_restart_markers_within_the_cap_are_accepted_as_libjpeg_accepts_them():
    padded = before_frame(after_frame(photo(), b"\xff\xd3" * 100), b"\xff\xd0" * 100)
    assert read_header(padded) == read_header(photo())
    assert isinstance(run(padded), Accepted)


def test_the_frame_after_as_many_segments_as_the_cap_is_still_read():
    own = segments_before_frame(photo())  # APP0 and the quantisation tables
    padded = before_frame(photo(), b"\xff\xfe\x00\x02" * (MAX_SEGMENTS - own))
    assert read_header(padded) == read_header(photo())
    assert read_header(before_frame(padded, b"\xff\xfe\x00\x02")) is None


def segments_before_frame(data: bytes) -> int:
    count, i = 0, 2
    while data[i + 1] != 0xC0:
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        count, i = count + 1, i + 2 + length
    return count


@pytest.mark.parametrize("progressive", [0, 1], ids=["baseline", "progressive"])
def test_restart_markers_inside_the_scans_are_not_segments(progressive):
    options = [cv2.IMWRITE_JPEG_RST_INTERVAL, 1, cv2.IMWRITE_JPEG_PROGRESSIVE, progressive]  # a restart every MCU
    data = cv2.imencode(".jpg", sign(1600, 1200), options)[1].tobytes()
    assert sum(data.count(bytes([0xFF, 0xD0 + n])) for n in range(8)) > 7000  # 100 x 75 MCUs at 4:2:0, per scan
    assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape == (1200, 1600, 3)
    assert isinstance(jpeg_structure.survey(data, 64), Structure)
    assert isinstance(run(data), Accepted)
