"""Line crops: perspective warps keep orientation, vertical lines are turned, rec tensors are padded."""

from __future__ import annotations

import numpy as np
import pytest

from batch_tasks.ocr import crops
from batch_tasks.ocr.db_post import order_quad
from batch_tasks.ocr.opencv import cv2

RED, BLUE = (0, 0, 255), (255, 0, 0)
HALF = (0.5, 0.5, 0.5)


def marked(quad: np.ndarray, size=(300, 300)) -> np.ndarray:
    """A grey image with a red dot at the quad's top-left corner and a blue one at its bottom-right."""
    image = np.full((*size, 3), 128, np.uint8)
    centre = quad.mean(axis=0)
    for corner, colour in ((quad[0], RED), (quad[2], BLUE)):
        inside = corner + (centre - corner) * 0.15
        cv2.circle(image, tuple(int(v) for v in inside.round()), 3, colour, -1)
    return image


def colour_at(patch: np.ndarray, colour) -> tuple[float, float]:
    """The (x, y) centroid of `colour` in the patch, as fractions of its size."""
    ys, xs = np.nonzero(np.abs(patch.astype(int) - colour).sum(axis=2) < 90)
    assert len(xs), "colour not found"
    return xs.mean() / patch.shape[1], ys.mean() / patch.shape[0]


def test_a_tilted_quad_is_straightened_with_its_top_left_at_the_top_left():
    quad = order_quad(cv2.boxPoints(((150, 150), (200, 40), -25)))
    patch = crops.crop(marked(quad), quad)
    assert patch.shape[:2] == pytest.approx((40, 200), abs=2)
    rx, ry = colour_at(patch, RED)
    bx, by = colour_at(patch, BLUE)
    assert rx < 0.2 and ry < 0.5 and bx > 0.8 and by > 0.5


def test_a_tall_quad_is_turned_to_read_left_to_right():
    quad = np.array([[100, 20], [140, 20], [140, 220], [100, 220]], np.float32)  # 40 wide, 200 high
    patch = crops.crop(marked(quad), quad)
    assert patch.shape[:2] == (40, 200)
    # turned counter-clockwise: the column's top (red) ends up on the left, its bottom (blue) on the right
    assert colour_at(patch, RED)[0] < 0.2 and colour_at(patch, BLUE)[0] > 0.8
    assert colour_at(patch, RED)[1] > 0.5  # the top-left corner now sits bottom-left


def test_width_buckets_hold_the_patch_at_model_height():
    assert crops.width_bucket(np.zeros((48, 100, 3), np.uint8), 48, [160, 320, 640]) == 160
    assert crops.width_bucket(np.zeros((24, 100, 3), np.uint8), 48, [160, 320, 640]) == 320  # 200 at height 48
    assert crops.width_bucket(np.zeros((48, 2000, 3), np.uint8), 48, [160, 320, 640]) == 640  # squeezed


def test_line_tensors_are_normalised_and_zero_padded_on_the_right():
    patch = np.full((24, 50, 3), 255, np.uint8)
    x = crops.line_tensor(patch, 48, 160, HALF, HALF)
    assert x.shape == (3, 48, 160) and x.dtype == np.float32
    assert x[:, :, :100].min() == pytest.approx(1.0)
    assert not x[:, :, 100:].any()
    squeezed = crops.line_tensor(np.zeros((48, 2000, 3), np.uint8), 48, 640, HALF, HALF)
    assert squeezed.shape == (3, 48, 640) and squeezed.max() == pytest.approx(-1.0)


def test_turn_around_rotates_by_half_a_turn():
    patch = np.arange(6, dtype=np.uint8).reshape(1, 2, 3)
    np.testing.assert_array_equal(crops.turn_around(patch), patch[::-1, ::-1])
