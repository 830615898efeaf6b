"""A real pretrained model served as a `classify` model: PP-OCR's text-direction classifier, driven only by a
manifest, tells an upright text crop ("0") from the same crop turned around ("180")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from batch_tasks.models import trial
from batch_tasks.models.serving import load_model
from batch_tasks.vision.classify import ClassifyModel
from tests.integration.ocr import photos
from tests.support.onnx_models import write_text_direction_model


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Path:
    cls = models_dir / "ocr" / "ppocrv4" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"
    return write_text_direction_model(tmp_path_factory.mktemp("cls") / "text-direction" / "2.0", cls)


@pytest.mark.parametrize(("text", "size", "scale"), [("METER 4512", (96, 384), 1.6), ("Valve 7 open", (60, 300), 0.9)])
def test_upright_text_reads_0_and_turned_around_reads_180(
    folder: Path, tmp_path: Path, text: str, size: tuple[int, int], scale: float
) -> None:
    image = photos.paper(*size)
    photos.write(image, text, (10, int(size[0] * 0.7)), scale, 2)
    (tmp_path / "up.jpg").write_bytes(photos.jpeg(image))
    (tmp_path / "down.jpg").write_bytes(photos.jpeg(np.ascontiguousarray(image[::-1, ::-1])))

    up, down = trial.run(folder, [tmp_path / "up.jpg", tmp_path / "down.jpg"])

    assert up["schema"] == down["schema"] == "sitelens.classify.result/1"
    assert up["model"] == {"name": "text-direction", "version": "2.0"}
    assert up["result"]["labels"][0]["label"] == "0" and up["result"]["labels"][0]["score"] > 0.8
    assert down["result"]["labels"][0]["label"] == "180" and down["result"]["labels"][0]["score"] > 0.8
    assert (up["result"]["width"], up["result"]["height"]) == (size[1], size[0])


def test_the_classifier_loads_through_the_one_interface(folder: Path) -> None:
    model = load_model(folder, ["CPUExecutionProvider"])
    assert isinstance(model, ClassifyModel)
    assert model.max_batch == 8 and model.warm() == 1 and model.providers[0] == "CPUExecutionProvider"
