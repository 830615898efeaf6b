"""Photo to input tensor by the manifest's `input`: resize modes, colour order, scale, mean/std, layout, and back."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from batch_tasks.models.vision_spec import InputSpec
from batch_tasks.vision.preprocess import Placement, decode_long_side, prepare, zeros

SPEC = InputSpec(name="x", layout="NCHW", height=64, width=64, resize="stretch", channel_order="BGR", scale=1.0,
                 mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), pad_value=114)  # fmt: skip


def solid(height: int, width: int, bgr: tuple[int, int, int]) -> np.ndarray:
    return np.full((height, width, 3), bgr, np.uint8)


def test_colour_order_scale_mean_std_per_channel_in_the_models_order():
    spec = replace(SPEC, height=4, width=4, channel_order="RGB", scale=1 / 255, mean=(0.5, 0.0, 0.25),
                   std=(0.5, 2.0, 0.25))  # fmt: skip
    tensor, _ = prepare(solid(4, 4, (51, 102, 255)), spec)  # B=51, G=102, R=255
    assert tensor.shape == (3, 4, 4) and tensor.dtype == np.float32
    expected = [(1.0 - 0.5) / 0.5, (0.4 - 0.0) / 2.0, (0.2 - 0.25) / 0.25]  # R, G, B
    np.testing.assert_allclose(tensor[:, 0, 0], expected, atol=1e-6)
    bgr, _ = prepare(solid(4, 4, (51, 102, 255)), replace(spec, channel_order="BGR", mean=(0, 0, 0), std=(1, 1, 1)))
    np.testing.assert_allclose(bgr[:, 0, 0], [0.2, 0.4, 1.0], atol=1e-6)


def test_nhwc_puts_channels_last():
    tensor, _ = prepare(solid(10, 20, (1, 2, 3)), replace(SPEC, layout="NHWC", height=5, width=6))
    assert tensor.shape == (5, 6, 3)
    np.testing.assert_array_equal(tensor[2, 3], [1, 2, 3])
    assert zeros(replace(SPEC, layout="NHWC"), 2).shape == (2, 64, 64, 3)


def test_stretch_scales_each_axis_on_its_own():
    image = solid(100, 200, (0, 0, 0))
    image[:, 100:] = 200  # right half bright
    tensor, placement = prepare(image, replace(SPEC, resize="stretch", height=10, width=10))
    assert placement == Placement(10 / 200, 10 / 100, 0.0, 0.0)
    assert tensor[0, 5, 0] == 0 and tensor[0, 5, 9] == 200
    np.testing.assert_allclose(placement.to_source(np.array([[5, 5, 10, 10]], np.float32)), [[100, 50, 200, 100]])


def test_letterbox_fits_centred_on_the_pad_value_and_maps_boxes_back():
    image = solid(100, 200, (10, 20, 30))  # wide: fills the width, padded above and below
    tensor, placement = prepare(image, replace(SPEC, resize="letterbox", pad_value=114))
    assert placement == Placement(0.32, 0.32, 0.0, 16.0)  # 200 x 100 -> 64 x 32, 16 rows of padding on top
    assert (tensor[:, :16] == 114).all() and (tensor[:, 48:] == 114).all()
    np.testing.assert_array_equal(tensor[:, 16:48, :].reshape(3, -1).T[0], [10, 20, 30])
    box = placement.to_source(np.array([[0, 16, 32, 48]], np.float32))
    np.testing.assert_allclose(box, [[0, 0, 100, 100]], atol=1e-4)


def test_center_crop_covers_the_input_and_cuts_the_overhang_evenly():
    image = solid(100, 200, (0, 0, 0))
    image[:, :50] = 255  # the left quarter falls outside the crop
    tensor, placement = prepare(image, replace(SPEC, resize="center_crop", height=50, width=50))
    assert placement == Placement(0.5, 0.5, -25.0, 0.0)  # 200 x 100 -> 100 x 50, 25 columns cut each side
    assert tensor.shape == (3, 50, 50) and tensor.max() == 0
    box = placement.to_source(np.array([[0, 0, 50, 50]], np.float32))
    np.testing.assert_allclose(box, [[50, 0, 150, 100]])


@pytest.mark.parametrize(("height", "width", "side"), [(64, 64, 128), (224, 320, 640)])
def test_photos_decode_to_twice_the_inputs_long_side(height: int, width: int, side: int):
    assert decode_long_side(replace(SPEC, height=height, width=width)) == side
