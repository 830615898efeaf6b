"""Pure pre- and post-processing: det sizing, DB boxes on synthetic maps, crops, CTC decoding."""

from __future__ import annotations

import numpy as np
import pytest

from batch_tasks.ocr import detection, recognition
from batch_tasks.ocr.imaging import DecodeError, cv2, decode

S = detection.DetSettings()


@pytest.mark.parametrize(
    ("shape", "expected"),
    # 1080p: 720 lies halfway between 704 and 736; Python's round (as PaddleOCR's) goes to the even 704
    [((3024, 4032), (960, 1280)), ((1080, 1920), (704, 1280)), ((100, 50), (96, 64)), ((10, 10), (32, 32))],
)
def test_det_size_long_side_and_multiples_of_32(shape, expected):
    assert detection.target_size(shape[0], shape[1], S) == expected


def test_prepare_normalises_bgr_with_imagenet_statistics():
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    image[..., 0] = 255  # blue
    p = detection.prepare(image, S)
    assert p.tensor.shape == (3, 64, 64) and (p.ratio_x, p.ratio_y) == (1.0, 1.0)
    assert p.tensor[0, 0, 0] == pytest.approx((1 - 0.485) / 0.229)
    assert p.tensor[2, 0, 0] == pytest.approx((0 - 0.406) / 0.225)


def synthetic_map(rects: list[tuple[int, int, int, int, float]], size: tuple[int, int] = (200, 400)) -> np.ndarray:
    prob = np.zeros(size, dtype=np.float32)
    for x, y, w, h, value in rects:
        prob[y : y + h, x : x + w] = value
    return prob


def test_db_boxes_are_scored_unclipped_ordered_and_mapped_back():
    prob = synthetic_map([(50, 120, 200, 20, 0.9), (40, 30, 100, 16, 0.95), (300, 30, 60, 10, 0.4)])
    prepared = detection.Prepared(np.zeros((3, 200, 400), np.float32), ratio_x=2.0, ratio_y=3.0)
    found = detection.boxes(prob, prepared, S)
    # the 0.4 region passes thresh (0.3) but its mean score is under box_thresh (0.6): dropped
    assert len(found) == 2
    (top, s1), (bottom, s2) = found
    assert s1 == pytest.approx(0.95, abs=0.02) and s2 == pytest.approx(0.9, abs=0.02)
    # reading order: the upper line first; corners clockwise from top-left, in original pixels
    x0, y0 = top[0]
    x2, y2 = top[2]
    assert x0 < 40 * 2 and y0 < 30 * 3  # unclip grows the box beyond the region
    assert x2 > (40 + 100) * 2 - 2 and y2 > (30 + 16) * 3 - 3
    assert bottom[0][1] > top[2][1]


def test_tiny_regions_are_dropped():
    prob = synthetic_map([(10, 10, 2, 2, 1.0)])
    assert detection.boxes(prob, detection.Prepared(np.zeros(1), 1.0, 1.0), S) == []


def test_crop_straightens_a_rotated_quad_and_turns_tall_ones():
    image = np.zeros((200, 200, 3), dtype=np.uint8)
    quad = np.array([[20, 40], [120, 20], [124, 40], [24, 60]], dtype=np.float32)
    patch = recognition.crop(image, quad)
    assert patch.shape[1] > patch.shape[0]
    tall = recognition.crop(image, np.array([[10, 10], [30, 10], [30, 110], [10, 110]], dtype=np.float32))
    assert tall.shape[1] > tall.shape[0]  # turned to read left to right


def test_rec_buckets_and_padding():
    patch = np.full((48, 100, 3), 255, dtype=np.uint8)
    assert recognition.bucket(patch, [160, 320, 640]) == 160
    assert recognition.bucket(np.zeros((48, 2000, 3), np.uint8), [160, 320, 640]) == 640
    x = recognition.prepare(patch, 160)
    assert x.shape == (3, 48, 160)
    assert x[:, :, :100].max() == pytest.approx(1.0) and not x[:, :, 100:].any()  # zero-padded on the right


def test_ctc_collapses_repeats_drops_blanks_and_maps_space():
    chars = ["a", "b"]
    # steps: a a blank a b b space  → "aab " with the space class at index len(chars)+1
    idx = [1, 1, 0, 1, 2, 2, 3]
    probs = np.full((len(idx), 4), 0.01, dtype=np.float32)
    for t, i in enumerate(idx):
        probs[t, i] = 0.9 if i else 0.97
    text, conf = recognition.ctc_decode(probs, chars)
    assert text == "aab "
    assert conf == pytest.approx(0.9)
    assert recognition.ctc_decode(np.eye(4, dtype=np.float32)[[0, 0]], chars) == ("", 0.0)


def test_decode_refuses_garbage():
    ok, png = cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))
    assert ok and decode(png.tobytes()).shape == (4, 4, 3)
    with pytest.raises(DecodeError):
        decode(b"not an image")
