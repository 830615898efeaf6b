"""The overlay for every kind: OCR's bytes unchanged, boxes drawn where the result says, a classification's label."""

from __future__ import annotations

import numpy as np

from batch_tasks.ocr import overlay as ocr_overlay
from batch_tasks.ocr.imaging import DecodedImage
from batch_tasks.ocr.opencv import cv2
from batch_tasks.vision import overlay
from batch_tasks.vision.results import Marks

GREY = 128


def picture(height: int = 200, width: int = 300) -> np.ndarray:
    return np.full((height, width, 3), GREY, np.uint8)


def decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return np.asarray(image)


def test_polygons_alone_are_the_ocr_overlay_byte_for_byte():
    polygons = [[[10.0, 10.0], [100.0, 10.0], [100.0, 40.0], [10.0, 40.0]]]
    assert overlay.draw(picture(), Marks(polygons=polygons)) == ocr_overlay.draw(picture(), polygons)


def test_boxes_are_outlined_with_their_labels():
    drawn = decode(overlay.draw(picture(), Marks(boxes=[([50.0, 60.0, 250.0, 180.0], "crack 0.90")])))
    assert abs(int(drawn[120, 50, 1]) - ocr_overlay.COLOUR[1]) < 40  # on the left edge: amber
    assert abs(int(drawn[120, 150, 1]) - GREY) < 10  # inside: the photo
    assert drawn[60:75, 52:100].min() < 80  # the label's dark band at the box's corner


def test_a_classification_shows_its_top_label_in_the_corner():
    drawn = decode(overlay.draw(picture(), Marks(caption="rust 0.97")))
    assert drawn[2:20, 2:60].min() < 80 and drawn[2:20, 2:60].max() > 200  # white text on a dark band
    assert abs(int(drawn[150, 250, 0]) - GREY) < 10  # the rest is the photo


def test_marks_follow_a_reduced_decode():
    image = DecodedImage(picture(100, 150), 300, 200)  # decoded at half size
    marks = Marks(boxes=[([50.0, 60.0, 250.0, 180.0], "x")], caption="c").to_decoded(image)
    assert marks.boxes == [([25.0, 30.0, 125.0, 90.0], "x")] and marks.caption == "c"
