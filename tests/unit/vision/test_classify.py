"""Classify models on a tiny real graph: logits vs probabilities, top-k, batches, output that breaks the manifest."""

from __future__ import annotations

import math

import numpy as np
import pytest

from batch_tasks.errors import ModelOutputInvalid
from batch_tasks.models.serving import load_model
from batch_tasks.ocr.imaging import DecodedImage
from batch_tasks.vision.classify import ClassifyModel
from tests.support.onnx_models import classify_graph, classify_manifest, write_classify_model, write_folder

E = math.e
SOFTMAX_100 = round(E / (E + 2), 4)  # softmax([1, 0, 0])[0]
SOFTMAX_010 = round(1 / (E + 2), 4)


def photo(bgr: tuple[int, int, int], height: int = 30, width: int = 40) -> DecodedImage:
    return DecodedImage.from_array(np.full((height, width, 3), bgr, np.uint8))


RED, GREEN, BLUE = (0, 0, 255), (0, 255, 0), (255, 0, 0)


def test_logits_become_probabilities_best_first_for_each_photo_of_a_batch(tmp_path):
    model = load_model(write_classify_model(tmp_path / "m"), ["CPUExecutionProvider"])
    assert isinstance(model, ClassifyModel) and model.max_batch == 4 and model.warm() == 1
    red, blue = model.run_batch([photo(RED), photo(BLUE, 50, 20)])
    assert red.to_dict() == {"width": 40, "height": 30, "labels": [
        {"label": "red", "score": SOFTMAX_100}, {"label": "green", "score": SOFTMAX_010},
        {"label": "blue", "score": SOFTMAX_010}]}  # fmt: skip
    assert [x.label for x in blue.labels] == ["blue", "red", "green"]  # ties keep the labels' order
    assert (blue.width, blue.height) == (20, 50)
    assert red.marks().caption == f"red {SOFTMAX_100:.2f}"


def test_probabilities_are_taken_as_they_are_and_top_k_cuts(tmp_path):
    folder = write_classify_model(tmp_path / "m", softmax=True,
                                  output={"name": "scores", "type": "probabilities", "top_k": 1})  # fmt: skip
    (result,) = load_model(folder, ["CPUExecutionProvider"]).run_batch([photo(GREEN)])
    assert result.to_dict()["labels"] == [{"label": "green", "score": SOFTMAX_100}]  # not softmaxed twice


def test_bgr_models_see_the_channels_in_their_order(tmp_path):
    folder = write_classify_model(tmp_path / "m", input={"name": "images", "size": [8, 8], "channel_order": "BGR",
                                                          "scale": 1 / 255})  # fmt: skip
    (result,) = load_model(folder, ["CPUExecutionProvider"]).run_batch([photo(RED)])
    assert result.to_dict()["labels"][0]["label"] == "blue"  # a BGR model's channel 0 is blue: label 0


def test_more_classes_than_labels_is_invalid_output(tmp_path):
    model = load_model(write_classify_model(tmp_path / "m", classes=5), ["CPUExecutionProvider"])
    with pytest.raises(ModelOutputInvalid, match="5 scores per image, the manifest 3 labels") as caught:
        model.run_batch([photo(RED)])
    assert caught.value.code == "model_output_invalid"


def test_probabilities_outside_0_to_1_are_invalid_output(tmp_path):
    folder = write_classify_model(tmp_path / "m", input={"name": "images", "size": [8, 8], "scale": 1.0},
                                  output={"name": "scores", "type": "probabilities", "top_k": 3})  # fmt: skip
    with pytest.raises(ModelOutputInvalid, match=r"outside 0\.\.1"):
        load_model(folder, ["CPUExecutionProvider"]).run_batch([photo(RED)])


def test_a_graph_with_a_fixed_batch_of_one_runs_photo_by_photo(tmp_path):
    folder = write_folder(tmp_path / "m", classify_graph(3, batch=1), classify_manifest())
    model = load_model(folder, ["CPUExecutionProvider"])
    assert model.warm() == 1
    results = model.run_batch([photo(RED), photo(GREEN), photo(BLUE)])
    assert [r.to_dict()["labels"][0]["label"] for r in results] == ["red", "green", "blue"]
