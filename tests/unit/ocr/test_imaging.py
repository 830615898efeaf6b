"""Bounded decoding: header sizes, the reduction choice, reduced decodes mapped back, and the pixel caps."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from batch_tasks.ocr.imaging import DecodedImage, DecodeError, Header, decode, read_header, reduction_for
from batch_tasks.ocr.opencv import MAX_PIXELS
from tests.unit.ocr.images import jpeg, jpeg_header_only, png, png_header_only, with_orientation
from tests.unit.validation.images import ink_on_transparent, sign

REPO = Path(__file__).resolve().parents[3]


def gradient(height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.dstack([x % 256, y % 256, (x + y) % 256]).astype(np.uint8)


def test_header_sizes_come_from_jpeg_and_png_headers():
    image = gradient(30, 50)
    assert read_header(jpeg(image)) == Header("jpeg", 50, 30)
    assert read_header(png(image)) == Header("png", 50, 30)
    assert read_header(jpeg_header_only(4032, 3024)) == Header("jpeg", 4032, 3024)
    assert read_header(b"GIF89a...") is None
    assert read_header(b"\xff\xd8\xff\xe0\x00") is None  # truncated inside a segment


@pytest.mark.parametrize(
    ("size", "min_long_side", "factor"),
    [
        ((4032, 3024), 1920, 2),  # 12 MP photo, det 1280 x 1.5: 2016 px is enough
        ((4032, 3024), 960, 4),
        ((4032, 3024), 4032, 1),
        ((8000, 6000), 1920, 4),
        ((1920, 1080), 1920, 1),  # a 1080p frame is never reduced for a 1280 det input
        ((16000, 9000), 100, 8),  # DCT scaling stops at 1/8
    ],
)
def test_reduction_keeps_the_long_side_the_model_needs(size, min_long_side, factor):
    assert reduction_for(Header("jpeg", *size), min_long_side) == factor


def test_only_jpeg_is_reduced():
    assert reduction_for(Header("png", 8000, 6000), 100) == 1


def test_a_reduced_decode_reports_the_original_size_and_maps_points_back():
    original = gradient(1200, 1600)
    decoded = decode(jpeg(original), min_long_side=400)
    assert decoded.pixels.shape == (300, 400, 3)  # reduced by 4
    assert (decoded.width, decoded.height) == (1600, 1200)
    assert decoded.scale == (4.0, 4.0)
    # pixel centres map to pixel centres: decoded (0, 0) covers original 0…3, centred on 1.5
    centres = decoded.to_original(np.array([[0, 0], [399, 299]], np.float32))
    np.testing.assert_allclose(centres, [[1.5, 1.5], [1597.5, 1197.5]])
    np.testing.assert_allclose(decoded.from_original(centres), [[0, 0], [399, 299]], atol=1e-4)
    assert decode(jpeg(original)).pixels.shape == (1200, 1600, 3)  # no target: full resolution


def test_exif_orientation_is_applied_and_the_upright_size_reported_in_reduced_decodes():
    turned = with_orientation(jpeg(gradient(300, 400)), 6)  # stored 400 wide, 300 high; shown turned 90°
    full = decode(turned)
    assert full.pixels.shape[:2] == (400, 300) and (full.width, full.height) == (300, 400)
    reduced = decode(turned, min_long_side=200)
    assert reduced.pixels.shape[:2] == (200, 150)
    assert (reduced.width, reduced.height) == (300, 400)


def test_images_over_the_pixel_cap_are_refused_from_the_header():
    for data in (jpeg_header_only(10_000, 10_000), png_header_only(10_000, 10_000)):
        with pytest.raises(DecodeError) as caught:
            decode(data)
        assert caught.value.reason == "image_too_large"
    with pytest.raises(DecodeError, match="over 1,000 pixels"):
        decode(jpeg(gradient(40, 40)), max_pixels=1000)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not an image", "unsupported_type"),
        (b"GIF89a\x01\x00\x01\x00", "unsupported_type"),  # OpenCV could read it; we do not
        (jpeg(gradient(64, 64))[:300], "corrupt_image"),  # truncated after the header
        (png_header_only(64, 64), "corrupt_image"),  # a header and no image
    ],
)
def test_other_formats_and_broken_files_are_refused_with_a_reason(data, reason):
    with pytest.raises(DecodeError) as caught:
        decode(data)
    assert caught.value.reason == reason


def test_opencv_itself_is_capped_before_it_is_imported():
    """In a fresh process, importing batch_tasks.ocr first makes OpenCV refuse an over-cap header."""
    code = textwrap.dedent(
        f"""
        import os, sys
        os.environ["OPENCV_IO_MAX_IMAGE_PIXELS"] = str(10**12)  # an inherited, too generous value
        import batch_tasks.ocr  # noqa: F401
        import cv2, numpy as np
        assert os.environ["OPENCV_IO_MAX_IMAGE_PIXELS"] == "{MAX_PIXELS}"
        data = np.frombuffer(sys.stdin.buffer.read(), np.uint8)
        try:
            cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
        except cv2.error:
            print("refused")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], input=png_header_only(8_000, 8_000), capture_output=True, cwd=REPO, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip() == "refused"


def test_arrays_are_wrapped_as_full_resolution_images():
    gray = DecodedImage.from_array(np.zeros((20, 30), np.uint8))
    assert gray.pixels.shape == (20, 30, 3) and gray.scale == (1.0, 1.0)
    assert DecodedImage.from_array(np.zeros((20, 30, 4), np.uint8)).pixels.shape == (20, 30, 3)
    with pytest.raises(DecodeError):
        DecodedImage.from_array(np.zeros((20, 30, 3), np.float32))


@pytest.mark.parametrize("kind", ["RGBA", "LA", "P", "RGBA16", "L+tRNS", "L16+tRNS"])
def test_a_transparent_png_is_read_as_ink_on_white_as_ingestion_reads_it(kind):
    from batch_tasks.ocr.opencv import cv2
    from shared.validation import formats, image

    data = ink_on_transparent(kind)
    ink = cv2.cvtColor(sign(), cv2.COLOR_BGR2GRAY) < 128
    page = decode(data).pixels
    assert page[~ink].mean() > 240 and page[ink].mean() < 90  # not a black page
    header = formats.read_header(data)
    assert header is not None
    np.testing.assert_array_equal(page, image.decode(data, header))  # the same pixels the pipeline derives
