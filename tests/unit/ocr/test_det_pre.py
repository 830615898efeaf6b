"""Det input: bucket choice, normalisation and padding, and mapping det-map points back to the original."""

from __future__ import annotations

import numpy as np
import pytest

from batch_tasks.models import ppocrv4
from batch_tasks.models.manifest import parse
from batch_tasks.ocr import db_post, det_pre
from batch_tasks.ocr.imaging import DecodedImage, decode
from batch_tasks.ocr.settings import DbParams, from_manifest, rescale_buckets
from tests.unit.ocr.images import jpeg

SETTINGS = from_manifest(parse(ppocrv4.manifest())).det
BUCKETS = SETTINGS.buckets


def test_the_shipped_buckets_are_the_computed_ones():
    assert det_pre.bucket_shapes(1280) == [tuple(b) for b in ppocrv4.DET_BUCKETS]
    # another long side keeps every bucket's aspect or widens it a little (sides rounded up to 32)
    rescaled = rescale_buckets(BUCKETS, 1280, 1920)
    assert rescaled == ((1440, 1920), (1920, 1440), (1120, 1920), (1920, 1120), (1920, 1920))
    for (h, w), (old_h, old_w) in zip(rescaled, BUCKETS, strict=True):
        assert min(h, w) / max(h, w) >= min(old_h, old_w) / max(old_h, old_w)


@pytest.mark.parametrize(
    ("shape", "bucket", "resized"),
    [
        ((3024, 4032), (960, 1280), (960, 1280)),  # 4:3 phone photo fills the 4:3 bucket
        ((4032, 3024), (1280, 960), (1280, 960)),  # portrait
        ((1080, 1920), (736, 1280), (720, 1280)),  # 16:9 frame, short side padded to 736
        ((4000, 6000), (960, 1280), (853, 1280)),  # 3:2 fits the 4:3 bucket at full long side
        ((2000, 2500), (1280, 1280), (1024, 1280)),  # 5:4 would lose resolution in 4:3; square it is
        ((1000, 4000), (736, 1280), (320, 1280)),  # panorama
        ((300, 400), (736, 1280), (600, 800)),  # small: upscaled at most 2x, into the smallest bucket that fits
    ],
)
def test_bucket_choice_keeps_the_largest_scale_in_the_smallest_bucket(shape, bucket, resized):
    assert det_pre.choose_bucket(shape[0], shape[1], BUCKETS, max_upscale=2.0) == (bucket, resized)


def test_prepare_normalises_bgr_pads_with_the_mean_and_records_the_scale():
    image = np.zeros((540, 960, 3), dtype=np.uint8)
    image[..., 0] = 255  # blue, in BGR order
    prepared = det_pre.prepare(image, SETTINGS)
    assert prepared.bucket == (736, 1280) and prepared.valid == (720, 1280)
    assert prepared.scale == (0.75, 0.75)
    t = prepared.tensor
    assert t[0, 0, 0] == pytest.approx((1 - 0.485) / 0.229, rel=1e-5)  # channel 0 is blue, not red
    assert t[2, 0, 0] == pytest.approx((0 - 0.406) / 0.225, rel=1e-5)
    assert not t[:, 720:, :].any()  # padding is zero after normalisation


def test_det_coordinates_map_back_through_the_resize_and_a_reduced_decode():
    """A white rectangle drawn in a 12 MP frame is found where it was drawn, from a 4x reduced decode."""
    original = np.zeros((3024, 4032, 3), dtype=np.uint8)
    x0, y0, x1, y1 = 1000, 1500, 2600, 1700
    original[y0:y1, x0:x1] = 255
    decoded = decode(jpeg(original), min_long_side=1000)
    assert decoded.pixels.shape == (756, 1008, 3) and decoded.scale == (4.0, 4.0)
    prepared = det_pre.prepare(decoded.pixels, SETTINGS)  # upscaled into the 960 x 1280 bucket
    # a perfect "detector": probability 1 where the input is bright
    prob = (prepared.tensor[0] > 0).astype(np.float32)[: prepared.valid[0], : prepared.valid[1]]
    [box] = db_post.extract(prob, DbParams(unclip_ratio=0.0 + 1e-6))
    polygon = decoded.to_original(det_pre.to_image(box.quad, prepared))
    expected = np.array([[x0, y0], [x1 - 1, y0], [x1 - 1, y1 - 1], [x0, y1 - 1]], dtype=np.float32)
    np.testing.assert_allclose(polygon, expected, atol=6)  # within about one det pixel (3.15 px here)


def test_full_resolution_images_map_with_the_det_scale_only():
    image = DecodedImage.from_array(np.zeros((3024, 4032, 3), np.uint8))
    prepared = det_pre.prepare(image.pixels, SETTINGS)
    point = np.array([[639.5, 479.5]], np.float32)  # the det map's centre
    np.testing.assert_allclose(image.to_original(det_pre.to_image(point, prepared)), [[2015.5, 1511.5]], atol=1e-3)
