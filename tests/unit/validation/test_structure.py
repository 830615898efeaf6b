"""The structure walk: scan bombs and other hostile structures refused before any decode; photos pass."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from batch_tasks.ocr.opencv import cv2
from shared.validation import Accepted, Limits, QualityPolicy, Reason, Rejected, image, jpeg_structure, validate
from shared.validation.formats import read_header
from shared.validation.png_structure import survey as png_survey
from shared.validation.structure import Structure
from tests.integration.ocr.photos import jpeg
from tests.unit.validation.images import (
    jpeg_scans,
    png_with_chunks,
    progressive_jpeg,
    scan_bomb,
    sign,
    synthetic_jpeg,
)

NAME = "north-yard/cam-1/2026/11/22/IMG_0001.jpg"
PNG_NAME = NAME.replace(".jpg", ".png")


def run(data: bytes, name: str = NAME, limits: Limits | None = None):
    return validate(name, len(data), lambda: data, limits or Limits(), QualityPolicy())


@pytest.fixture
def no_decode(monkeypatch):
    """Fails the test if a full decode starts: these refusals come from the structure alone."""

    def decode(data, header):
        raise AssertionError("decoded a file its structure should have refused")

    monkeypatch.setattr(image, "decode", decode)


def test_a_scan_bomb_the_decoder_accepts_is_refused_before_any_decode(monkeypatch):
    bomb = scan_bomb(256, 256, 5000)  # 5,010 scans in about 60 KB
    assert len(bomb) < 80_000 and len(jpeg_scans(bomb)) == 5010
    assert cv2.imdecode(np.frombuffer(bomb, np.uint8), cv2.IMREAD_COLOR).shape == (256, 256, 3)  # it is a JPEG
    monkeypatch.setattr(image, "decode", lambda data, header: pytest.fail("decoded a scan bomb"))
    verdict = run(bomb)
    assert isinstance(verdict, Rejected) and verdict.reason is Reason.TOO_MANY_SCANS
    assert "more than 64 scans" in verdict.detail


def test_the_scan_cap_counts_every_scan_up_to_it():
    at_cap, over = scan_bomb(64, 64, 54), scan_bomb(64, 64, 55)  # Pillow's 10 scans + the repeats
    assert isinstance(jpeg_structure.survey(at_cap, 64), Structure)
    assert jpeg_structure.survey(at_cap, 64).scans == 64
    assert jpeg_structure.survey(over, 64).reason is Reason.TOO_MANY_SCANS


@pytest.mark.parametrize(
    ("make", "scans"),
    [(jpeg, 1),
     (progressive_jpeg, 10),
     (lambda p: progressive_jpeg(p, subsampling=0), 10),
     (lambda p: progressive_jpeg(cv2.cvtColor(p, cv2.COLOR_BGR2GRAY)), 6),
     (lambda p: cv2.imencode(".jpg", p, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes(), 10)],
    ids=["baseline", "pillow-progressive", "pillow-progressive-444", "pillow-progressive-grey", "opencv-progressive"],
)  # fmt: skip
def test_ordinary_baseline_and_progressive_photos_pass(make, scans):
    data = make(sign())
    structure = jpeg_structure.survey(data, 64)
    assert isinstance(structure, Structure) and structure.scans == scans
    assert isinstance(run(data), Accepted)


def test_the_jpeg_decode_cost_is_the_samples_each_scan_visits_plus_the_output_pass():
    # 800 x 600 at 4:2:0: Y has 480,000 samples, Cb and Cr 50 x 38 blocks of 64 = 121,600 each.
    y, c = 480_000, 121_600
    scans = [y + 2 * c, y, c, c, y, y, y + 2 * c, c, c, y]  # libjpeg's progressive script
    cost = sum(scans) + y + 2 * c
    data = progressive_jpeg(sign(800, 600))
    buffered = y + 2 * c  # progressive: libjpeg keeps every sample's coefficient (test_decode_memory.py)
    assert jpeg_structure.survey(data, 64) == jpeg_structure.JpegStructure(10, cost, buffered)
    assert isinstance(run(data, limits=Limits(max_decode_cost=cost)), Accepted)
    verdict = run(data, limits=Limits(max_decode_cost=cost - 1))
    assert isinstance(verdict, Rejected) and verdict.reason is Reason.DECODE_TOO_COSTLY
    assert f"{cost:,}" in verdict.detail


def test_a_large_frame_with_few_scans_is_over_the_default_budget(no_decode):
    # 48 MP, under the pixel cap; 40 scans of all three components, under the scan cap: 41 x 144 M samples.
    verdict = run(synthetic_jpeg(8000, 6000, 3, [[1, 2, 3]] * 40))
    assert isinstance(verdict, Rejected) and verdict.reason is Reason.DECODE_TOO_COSTLY


@pytest.mark.parametrize(
    ("data", "reason", "words"),
    [(synthetic_jpeg(64, 64, 5, [[1]]), Reason.ABNORMAL_STRUCTURE, "5 colour components"),
     (synthetic_jpeg(64, 64, 1, [[1]], segments=4096), Reason.ABNORMAL_STRUCTURE, "marker segments"),
     (synthetic_jpeg(64, 64, 3, [[1, 4]]), Reason.CORRUPT_IMAGE, "component the frame does not have"),
     (synthetic_jpeg(64, 64, 1, []), Reason.CORRUPT_IMAGE, "no scan"),
     (synthetic_jpeg(64, 64, 1, [[1]]).replace(b"\xff\xda\x00\x08", b"\xff\xda\x00\x09"), Reason.CORRUPT_IMAGE,
      "malformed")],
)  # fmt: skip
def test_structures_no_encoder_writes_are_refused_with_their_reason(no_decode, data, reason, words):
    verdict = run(data)
    assert isinstance(verdict, Rejected) and verdict.reason is reason and words in verdict.detail


def test_stuffed_bytes_restarts_and_fill_bytes_do_not_end_a_scan():
    noisy = b"\x12\xff\x00" * 5000 + b"\xff\xd3\x34" + b"\xff\x00\xff\xd7" * 100 + b"\xff\xff"  # fill, then a marker
    one_scan = synthetic_jpeg(64, 64, 1, [[1]])
    two_scans = synthetic_jpeg(64, 64, 1, [[1], [1]])
    data = two_scans.replace(b"\x12\x34", noisy, 1)
    assert jpeg_structure.survey(one_scan, 64).scans == 1 and jpeg_structure.survey(data, 64).scans == 2


def test_a_segment_running_past_the_end_is_corrupt():
    data = synthetic_jpeg(64, 64, 1, [[1]], segments=1).replace(b"\xff\xfe\x00\x04", b"\xff\xfe\x7f\x00")
    assert jpeg_structure.survey(data, 64).reason is Reason.CORRUPT_IMAGE


def text_chunk(kind: bytes, inflated: int) -> tuple[bytes, bytes]:
    packed = zlib.compress(b"\x00" * inflated, 9)
    if kind == b"iTXt":
        return kind, b"XML:com.adobe.xmp\x00\x01\x00en\x00\x00" + packed
    return kind, b"Comment\x00\x00" + packed


@pytest.mark.parametrize("kind", [b"zTXt", b"iTXt", b"iCCP"])
def test_png_compressed_metadata_that_inflates_past_the_cap_is_refused(no_decode, kind):
    bomb = png_with_chunks(sign(64, 64), [text_chunk(kind, 6 * 1024 * 1024)] * 3)  # 18 MiB inflated
    assert len(bomb) < 100_000
    verdict = run(bomb, name=PNG_NAME)
    assert isinstance(verdict, Rejected) and verdict.reason is Reason.ABNORMAL_STRUCTURE and "inflate" in verdict.detail


@pytest.mark.parametrize("kind", [b"zTXt", b"iCCP"])
def test_compressed_metadata_that_turns_bad_after_inflating_still_counts_what_it_inflated(no_decode, kind):
    """libpng inflates such a stream up to the bad block, then warns and skips the chunk: the cost was paid."""
    packer = zlib.compressobj(9)
    packed = packer.compress(b"\x00" * 6 * 1024 * 1024) + packer.flush(zlib.Z_SYNC_FLUSH) + b"\x07"  # bad block
    bomb = png_with_chunks(sign(64, 64), [(kind, b"Comment\x00\x00" + packed)] * 3)  # 18 MiB inflated
    verdict = run(bomb, name=PNG_NAME)
    assert isinstance(verdict, Rejected) and verdict.reason is Reason.ABNORMAL_STRUCTURE and "inflate" in verdict.detail


def test_a_png_with_some_compressed_text_passes_and_its_cost_counts_it():
    pixels = sign(800, 600)
    plain = png_with_chunks(pixels, [])
    texted = png_with_chunks(pixels, [text_chunk(b"zTXt", 300_000), text_chunk(b"iTXt", 200_000)])
    image_cost = 600 * (1 + 800 * 3) + 800 * 600 * 3  # RGB, 8 bits, not interlaced: rows inflated + output
    header = read_header(plain)
    assert header is not None and read_header(texted) == header
    assert png_survey(plain, header) == Structure(1, image_cost)
    assert png_survey(texted, header) == Structure(1, image_cost + 500_000)
    assert isinstance(run(texted, name=PNG_NAME), Accepted)


def test_a_png_of_more_chunks_than_an_encoder_writes_is_refused(no_decode):
    padded = png_with_chunks(sign(64, 64), [(b"prVt", b"")] * 100_001)
    verdict = run(padded, name=PNG_NAME)
    assert isinstance(verdict, Rejected) and verdict.reason is Reason.ABNORMAL_STRUCTURE and "chunks" in verdict.detail


def test_stray_bytes_between_segments_are_skipped_as_the_decoder_skips_them():
    clean = synthetic_jpeg(64, 64, 1, [[1], [1]])
    padded = clean.replace(b"\xff\xda", b"\x00\x00\xff\x00junk\xff\xda", 1)  # after the frame, before a scan
    assert jpeg_structure.survey(padded, 64) == jpeg_structure.survey(clean, 64)
    assert jpeg_structure.survey(padded, 64).scans == 2


def test_scans_behind_a_stuffed_zero_where_a_marker_belongs_are_counted_as_the_decoder_reads_them():
    """`FF 00` is no marker: libjpeg discards it and finds the scan after it. Read as a segment with a length,
    it hid every scan that length covered from the count."""
    photo = progressive_jpeg(sign(64, 64))  # 10 scans
    first = photo.index(b"\xff\xda")
    fourth = first
    for _ in range(3):
        fourth = photo.index(b"\xff\xda", fourth + 2)
    cover = struct.pack(">H", fourth - first + 2)  # a "segment" whose length reaches the fourth scan
    hidden = photo[:first] + b"\xff\x00" + cover + photo[first:]
    assert cv2.imdecode(np.frombuffer(hidden, np.uint8), cv2.IMREAD_COLOR).shape == (64, 64, 3)  # it decodes
    assert jpeg_structure.survey(photo, 64).scans == jpeg_structure.survey(hidden, 64).scans == 10


def test_a_stuffed_zero_before_the_frame_header_is_skipped_as_the_decoder_skips_it():
    """libjpeg discards `FF 00`, and the bytes after it up to the next marker, with a warning; so do both walks."""
    photo = progressive_jpeg(sign(64, 64))
    frame = photo.index(b"\xff\xc2")
    padded = photo[:frame] + b"\xff\x00\x00\x02" + photo[frame:]  # what a walk taking FF 00 for a segment misreads
    assert cv2.imdecode(np.frombuffer(padded, np.uint8), cv2.IMREAD_COLOR).shape == (64, 64, 3)
    assert read_header(padded) == read_header(photo) is not None
    assert jpeg_structure.survey(padded, 64).scans == 10
