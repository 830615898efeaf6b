"""The node's own header read (`sitelens models test`, and a photo handed to the node server) skips a run of JPEG
fill bytes in one step, skips stray bytes to the next marker as libjpeg does, and reads at most as many segments
before the frame header as ingestion's validation does. Steps are counted by the reads made of the file (`Reads`),
not timed."""

from __future__ import annotations

import pytest

from batch_tasks.ocr import imaging
from shared.validation import formats
from tests.integration.ocr.photos import jpeg
from tests.unit.validation.images import sign
from tests.unit.validation.test_jpeg_padding import PADDING, Reads, before_frame


def test_a_megabyte_of_fill_bytes_is_one_step_and_the_size_is_still_read() -> None:
    data = jpeg(sign(64, 48))
    padded = Reads(before_frame(data, b"\xff" * PADDING))
    assert imaging.read_header(padded) == imaging.read_header(data) == imaging.Header("jpeg", 64, 48)
    assert padded.reads < 200  # a read per fill byte would be a million


def test_segments_past_the_cap_before_the_frame_header_give_no_header() -> None:
    comments = b"\xff\xfe\x00\x02" * (imaging.MAX_HEADER_SEGMENTS + 1)
    padded = Reads(before_frame(jpeg(sign(64, 48)), comments))
    assert imaging.read_header(padded) is None
    assert padded.reads < 8 * (imaging.MAX_HEADER_SEGMENTS + 64)


@pytest.mark.parametrize("stray", [b"\x00\x00", b"\xff\x00", b"\r\n", b"\xff\x00\x00\x02"])
def test_stray_bytes_between_segments_are_skipped_to_the_next_marker_as_ingestion_skips_them(stray: bytes) -> None:
    data = jpeg(sign(64, 48))
    frame = data.index(b"\xff\xc0")
    padded = data[:frame] + stray + data[frame:]
    assert imaging.read_header(padded) == imaging.Header("jpeg", 64, 48)
    assert imaging.decode(padded).pixels.shape == (48, 64, 3)  # libjpeg decodes it, with a warning


def test_stray_bytes_with_no_marker_after_them_give_no_header() -> None:
    data = jpeg(sign(64, 48))
    assert imaging.read_header(data[: data.index(b"\xff\xc0")] + b"\x00" * 64) is None


def test_the_node_caps_segments_as_ingestion_does() -> None:
    assert imaging.MAX_HEADER_SEGMENTS == formats.MAX_SEGMENTS
