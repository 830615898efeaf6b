"""DB post-processing on synthetic probability maps."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from batch_tasks.ocr import db_post
from batch_tasks.ocr.opencv import cv2
from batch_tasks.ocr.settings import DbParams

P = DbParams()  # thresh 0.3, box_thresh 0.6, unclip 1.5, min_size 3


def prob_map(rects, size=(200, 400)) -> np.ndarray:
    """Rectangles (x, y, w, h, probability) on an empty map."""
    prob = np.zeros(size, dtype=np.float32)
    for x, y, w, h, value in rects:
        prob[y : y + h, x : x + w] = value
    return prob


def bounds(quad: np.ndarray) -> tuple[float, float, float, float]:
    return float(quad[:, 0].min()), float(quad[:, 1].min()), float(quad[:, 0].max()), float(quad[:, 1].max())


def test_one_box_per_region_scored_by_its_mean_probability():
    boxes = db_post.extract(prob_map([(40, 30, 100, 16, 0.95), (50, 120, 200, 20, 0.8)]), P)
    assert len(boxes) == 2
    assert sorted(round(b.score, 2) for b in boxes) == [0.8, 0.95]


def test_box_coordinates_surround_the_region_grown_by_the_unclip_offset():
    [box] = db_post.extract(prob_map([(40, 30, 100, 16, 0.9)]), P)
    # the contour runs through the region's edge pixel centres: a 99 x 15 rectangle at (40, 30)
    w, h = 99, 15
    d = w * h * 1.5 / (2 * (w + h))  # area x ratio / perimeter
    x0, y0, x1, y1 = bounds(box.quad)
    assert (x0, y0, x1, y1) == pytest.approx((40 - d, 30 - d, 139 + d, 45 + d), abs=0.51)
    # corners clockwise from the top-left
    np.testing.assert_allclose(box.quad, [[x0, y0], [x1, y0], [x1, y1], [x0, y1]], atol=1e-3)


def test_regions_under_the_box_threshold_are_dropped():
    prob = prob_map([(40, 30, 100, 16, 0.95), (300, 30, 60, 10, 0.45)])  # over thresh, under box_thresh
    assert len(db_post.extract(prob, P)) == 1
    assert len(db_post.extract(prob, DbParams(box_thresh=0.4))) == 2
    assert db_post.extract(prob_map([(40, 30, 100, 16, 0.25)]), P) == []  # under thresh: never a contour


def test_tiny_regions_are_dropped():
    assert db_post.extract(prob_map([(10, 10, 3, 3, 1.0), (50, 50, 40, 2, 1.0)]), P) == []


def test_unclip_grows_every_side_by_the_offset():
    rect = ((50.0, 20.0), (100.0, 10.0), 0.0)
    (cx, cy), (w, h), angle = db_post.unclip(rect, 1.5)
    d = 100 * 10 * 1.5 / 220
    assert (cx, cy, angle) == (50.0, 20.0, 0.0)
    assert (w, h) == pytest.approx((100 + 2 * d, 10 + 2 * d))
    assert db_post.unclip(rect, 2.0)[1][0] > w  # a larger ratio grows more


def test_a_tilted_region_gives_a_tilted_box_with_its_corners_in_order():
    prob = np.zeros((300, 300), np.float32)
    corners = cv2.boxPoints(((150, 150), (160, 20), -20))  # a line rising to the right
    cv2.fillPoly(prob, [corners.round().astype(np.int32)], 1.0)
    [box] = db_post.extract(prob, P)
    tl, tr, br, bl = box.quad
    assert tr[1] < tl[1] and br[1] < bl[1]  # rises to the right
    assert tl[0] < tr[0] and bl[0] < br[0] and tl[1] < bl[1] and tr[1] < br[1]
    edge = tr - tl
    assert np.degrees(np.arctan2(-edge[1], edge[0])) == pytest.approx(20, abs=1.5)


def test_dilation_joins_strokes_one_pixel_apart():
    prob = prob_map([(20, 20, 40, 12, 0.9), (61, 20, 40, 12, 0.9)])
    assert len(db_post.extract(prob, P)) == 2
    assert len(db_post.extract(prob, DbParams(dilate=True))) == 1


def test_order_quad_starts_top_left_and_goes_clockwise():
    shuffled = np.array([[10, 5], [0, 5], [10, 0], [0, 0]], np.float32)
    np.testing.assert_array_equal(db_post.order_quad(shuffled), [[0, 0], [10, 0], [10, 5], [0, 5]])


def test_reading_order_is_rows_top_down_then_left_to_right():
    def quad(x: int, y: int, w: int = 50, h: int = 20) -> np.ndarray:
        return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)

    # row 1: a right box sitting 4 px higher than the left one; row 2 below
    quads = [quad(200, 104), quad(10, 100), quad(10, 160), quad(100, 98)]
    assert db_post.reading_order(quads) == [1, 3, 0, 2]
    assert db_post.reading_order([]) == []


def page_quads(words: Sequence[tuple[float, float, float, float]], degrees: float) -> list[np.ndarray]:
    """Word boxes (x, y, w, h) on a page turned by `degrees` about its origin (positive: clockwise on screen),
    as the detector hands them over: a rotated rectangle's corners in `order_quad`'s order."""
    turn = np.radians(degrees)
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    quads = []
    for x, y, w, h in words:
        corners = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float64)
        quads.append(db_post.order_quad(corners @ rotation.T + [1000, 1000]))
    return quads


# three lines 36 px apart, 24 px tall, of very different lengths: on a 10° tilt the long middle line's right
# end sits higher than the whole first line
PLATE = [
    (0, 0, 120, 24),  # line 1: "MODEL" "X"
    (150, 0, 30, 24),
    (0, 36, 200, 24),  # line 2: four long words
    (230, 36, 200, 24),
    (460, 36, 200, 24),
    (690, 36, 200, 24),
    (0, 72, 150, 24),  # line 3: two words
    (180, 72, 100, 24),
]


@pytest.mark.parametrize("degrees", [-10, -6, -3, 3, 6, 10])
def test_reading_order_follows_the_lines_of_a_tilted_plate(degrees):
    assert db_post.reading_order(page_quads(PLATE, degrees)) == list(range(len(PLATE)))


@pytest.mark.parametrize("degrees", [-3, 3])
def test_two_words_of_one_tilted_row_stay_one_row_left_to_right(degrees):
    # 600 px apart on a 3° tilt: one word's centre sits 31 px off the other's, more than their height of 28
    words = [(0, 0, 300, 28), (600, 0, 300, 28), (0, 60, 300, 28)]
    assert db_post.reading_order(page_quads(words, degrees)) == [0, 1, 2]


def test_small_lines_beside_a_big_heading_are_rows_of_their_own():
    heading = (0, 100, 400, 120)  # centre line at y 160
    beside = [(450, 96, 300, 24), (460, 148, 300, 24), (450, 204, 300, 24)]  # centres at 108, 160, 216
    quads = page_quads([heading, *beside], 0)
    # the middle line shares the heading's centre line and follows it; the other two are rows of their own
    # (inside the heading's extent, they used to join its row and be sorted by their left edges)
    assert db_post.reading_order(quads) == [1, 0, 2, 3]
