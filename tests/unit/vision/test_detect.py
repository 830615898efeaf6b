"""Detect models on tiny real graphs whose output is a constant: each format, thresholds, NMS, boxes mapped back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from batch_tasks.errors import ModelOutputInvalid
from batch_tasks.models.serving import ServedModel, load_model
from batch_tasks.ocr.imaging import DecodedImage
from tests.support.onnx_models import input_section, write_detect_model, yolov5_rows, yolov8_rows

CPU = ["CPUExecutionProvider"]


def photo(height: int = 64, width: int = 64) -> DecodedImage:
    return DecodedImage.from_array(np.full((height, width, 3), 128, np.uint8))


def model(tmp_path: Path, rows: np.ndarray, **keys: Any) -> ServedModel:
    return load_model(write_detect_model(tmp_path / "m", rows, **keys), CPU)


def boxes(m: ServedModel, image: DecodedImage) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = m.run_batch([image])[0].to_dict()["boxes"]
    return result


def test_yolov8_thresholds_then_suppresses_overlaps_per_class(tmp_path):
    rows = yolov8_rows([
        (20, 20, 20, 20, 0, 0.9),  # kept
        (21, 21, 20, 20, 0, 0.8),  # same class, IoU ~0.9 with the first: suppressed
        (21, 21, 20, 20, 1, 0.7),  # other class at the same place: kept
        (50, 50, 10, 10, 0, 0.2),  # under the 0.25 threshold
    ], classes=2)  # fmt: skip
    found = boxes(model(tmp_path, rows), photo())
    assert found == [
        {"label": "crack", "class_id": 0, "score": 0.9, "box": [10.0, 10.0, 30.0, 30.0]},
        {"label": "rust", "class_id": 1, "score": 0.7, "box": [11.0, 11.0, 31.0, 31.0]},
    ]


def test_yolov5_scores_are_objectness_times_class_score(tmp_path):
    rows = yolov5_rows([
        (20, 20, 20, 20, 0.9, 0, 1.0),  # 0.9
        (22, 22, 20, 20, 0.95, 0, 0.9),  # 0.855, overlaps the first: suppressed
        (50, 50, 10, 10, 0.5, 1, 0.4),  # 0.2: under the threshold
        (50, 50, 8, 8, 0.6, 1, 0.5),  # 0.3
    ], classes=2)  # fmt: skip
    output = {"name": "output0", "format": "yolov5", "score_threshold": 0.25, "iou_threshold": 0.45,
              "max_detections": 10}  # fmt: skip
    found = boxes(model(tmp_path, rows, output=output), photo())
    assert [(b["label"], b["score"], b["box"]) for b in found] == [
        ("crack", 0.9, [10.0, 10.0, 30.0, 30.0]), ("rust", 0.3, [46.0, 46.0, 54.0, 54.0])]  # fmt: skip


def test_nms_format_passes_the_graphs_boxes_through(tmp_path):
    rows = np.array([
        [10, 10, 30, 30, 0.6, 1],
        [11, 11, 31, 31, 0.8, 1],  # overlapping: the graph already ran NMS, so both stay
        [0, 0, 5, 5, 0.9, 7],  # no such class
        [0, 0, 0, 0, 0.0, 0],  # padding
    ], np.float32)  # fmt: skip
    output = {"name": "output0", "format": "nms", "score_threshold": 0.5, "max_detections": 10}
    found = boxes(model(tmp_path, rows, output=output), photo())
    assert [(b["score"], b["box"]) for b in found] == [(0.8, [11.0, 11.0, 31.0, 31.0]), (0.6, [10.0, 10.0, 30.0, 30.0])]


def test_max_detections_keeps_the_best(tmp_path):
    rows = yolov8_rows([(8 + 12 * i, 32, 8, 8, 0, 0.3 + 0.1 * i) for i in range(5)], classes=2)
    output = {"name": "output0", "format": "yolov8", "max_detections": 2}
    assert [b["score"] for b in boxes(model(tmp_path, rows, output=output), photo())] == [0.7, 0.6]


def test_boxes_come_back_through_the_letterbox_to_the_original_pixels(tmp_path):
    rows = yolov8_rows([(32, 32, 32, 32, 0, 0.9), (32, 4, 64, 8, 1, 0.8)], classes=2)  # the second is in the padding
    found = boxes(model(tmp_path, rows), photo(300, 400))  # 400 x 300 -> 64 x 48, 8 rows of padding on top
    assert found == [{"label": "crack", "class_id": 0, "score": 0.9, "box": [100.0, 50.0, 300.0, 250.0]}]


def test_boxes_come_back_through_a_center_crop_and_a_reduced_decode(tmp_path):
    rows = yolov8_rows([(32, 32, 64, 64, 0, 0.9)], classes=2)
    m = model(tmp_path, rows, input=input_section((64, 64), resize="center_crop"))
    # 200 x 100 -> 128 x 64, 32 columns cut each side: the input's full square is the photo's middle half.
    assert boxes(m, photo(100, 200))[0]["box"] == [50.0, 0.0, 150.0, 100.0]
    reduced = DecodedImage(np.full((100, 200, 3), 128, np.uint8), 800, 400)  # decoded at a quarter
    assert boxes(m, reduced)[0]["box"] == [200.0, 0.0, 600.0, 400.0]


def test_a_box_reaching_past_the_photo_is_clipped_to_it(tmp_path):
    rows = yolov8_rows([(60, 60, 20, 20, 0, 0.9)], classes=2)
    assert boxes(model(tmp_path, rows, input=input_section((64, 64))), photo())[0]["box"] == [50.0, 50.0, 64.0, 64.0]


@pytest.mark.parametrize(
    ("fmt", "rows", "message"),
    [
        ("yolov8", np.zeros((7, 3), np.float32), r"\[4 \+ 2, A\]"),  # 3 classes in the graph, 2 labels
        ("yolov5", np.zeros((3, 6), np.float32), r"\[A, 5 \+ 2\]"),
        ("nms", np.zeros((3, 5), np.float32), r"\[K, 6\]"),
        ("yolov8", np.full((6, 2), np.nan, np.float32), "NaN"),
    ],
)
def test_output_that_does_not_fit_the_format_is_invalid(tmp_path, fmt: str, rows: np.ndarray, message: str):
    m = model(tmp_path, rows, output={"name": "output0", "format": fmt})
    with pytest.raises(ModelOutputInvalid, match=message):
        m.run_batch([photo()])
