"""Classify and detect manifests: every key of the contract is checked, and a bad one is named."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from batch_tasks.models.manifest import ManifestError, load, parse
from batch_tasks.models.vision_spec import labels, limits
from batch_tasks.models.vision_spec import parse as parse_spec
from tests.support.onnx_models import (
    classify_graph,
    classify_manifest,
    detect_manifest,
    write_classify_model,
    write_folder,
)

ENTRY = {"file": "model.onnx", "sha256": "0" * 64, "bytes": 1}


def classify_doc() -> dict[str, Any]:
    return classify_manifest(files={"model": dict(ENTRY)})


def detect_doc() -> dict[str, Any]:
    return detect_manifest(files={"model": dict(ENTRY)})


def test_good_manifests_parse_with_their_keys_and_defaults():
    spec = parse_spec(classify_doc())
    assert (spec.task, spec.input.name, spec.input.height, spec.input.width) == ("classify", "images", 8, 8)
    assert (spec.output.type, spec.output.top_k, spec.labels_inline) == ("logits", 3, ("red", "green", "blue"))
    doc = detect_doc()
    doc["input"] = {"name": "x", "size": [32, 48]}  # everything else defaulted
    doc["output"] = {"name": "y", "format": "yolov5"}
    del doc["limits"]
    spec = parse_spec(doc)
    assert (spec.input.layout, spec.input.resize, spec.input.channel_order, spec.input.pad_value) == (
        "NCHW", "stretch", "RGB", 114)  # fmt: skip
    assert (spec.input.scale, spec.input.mean, spec.input.std) == (1.0, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    assert (spec.output.score_threshold, spec.output.iou_threshold, spec.output.max_detections) == (0.25, 0.45, 100)
    assert limits(doc).max_batch == 8 and limits(doc).memory_mb is None
    assert limits(classify_doc() | {"limits": {"max_batch": 2, "memory_mb": 512}}).memory_mb == 512


def set_path(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    *parents, leaf = path.split(".")
    target = doc
    for key in parents:
        target = target[key]
    if value is KeyError:
        del target[leaf]
    else:
        target[leaf] = value
    return doc


BAD = [
    ("input", KeyError, "'input' must be an object"),
    ("input.name", "", "'input.name'"),
    ("input.layout", "CHW", "'input.layout' must be one of NCHW, NHWC"),
    ("input.size", [8], "'input.size'"),
    ("input.size", [8, 0], "'input.size'"),
    ("input.size", [8, True], "'input.size'"),
    ("input.resize", "pad", "'input.resize'"),
    ("input.channel_order", "GRB", "'input.channel_order'"),
    ("input.scale", 0, "'input.scale'"),
    ("input.scale", "1/255", "'input.scale'"),
    ("input.mean", [0.5, 0.5], "'input.mean'"),
    ("input.std", [0.5, 0.0, 0.5], "'input.std' must be 3 numbers other than 0"),
    ("input.pad_value", 300, "'input.pad_value'"),
    ("input.dtype", "uint8", "'input.dtype'"),
    ("output", KeyError, "'output' must be an object"),
    ("output.name", KeyError, "'output.name'"),
    ("output.type", "softmax", "'output.type' must be one of logits, probabilities"),
    ("output.top_k", 0, "'output.top_k'"),
    ("labels", [], "'labels' must be a non-empty list"),
    ("labels", ["a", ""], "'labels' must be a non-empty list"),
    ("labels", KeyError, "'labels' must be given exactly once"),
    ("limits", {"max_batch": 0}, "'limits.max_batch'"),
    ("limits", {"memory_mb": -1}, "'limits.memory_mb'"),
    ("limits", [], "'limits' must be an object"),
    ("files", {"weights": dict(ENTRY)}, "role 'model'"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD)
def test_a_bad_classify_key_is_named(path: str, value: Any, message: str):
    with pytest.raises(ManifestError, match=re.escape(message)):
        parse(set_path(classify_doc(), path, value))


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("output.format", "yolov3", "'output.format' must be one of yolov8, yolov5, nms"),
        ("output.score_threshold", 1.5, "'output.score_threshold'"),
        ("output.iou_threshold", -0.1, "'output.iou_threshold'"),
        ("output.max_detections", 0, "'output.max_detections'"),
    ],
)
def test_a_bad_detect_key_is_named(path: str, value: Any, message: str):
    with pytest.raises(ManifestError, match=re.escape(message)):
        parse(set_path(detect_doc(), path, value))


def test_labels_inline_and_as_a_file_are_exclusive(tmp_path):
    doc = classify_doc()
    doc["files"]["labels"] = {"file": "labels.txt", "sha256": "0" * 64, "bytes": 1}
    with pytest.raises(ManifestError, match="exactly once"):
        parse(doc)


def test_labels_from_a_file_beside_the_manifest(tmp_path):
    doc = classify_manifest(labels=("x",))
    del doc["labels"]
    folder = write_folder(tmp_path / "m", classify_graph(2), doc, labels_file=["cat", "dog"])
    manifest = load(folder)
    assert labels(manifest, folder) == ("cat", "dog")
    (folder / "labels.txt").write_bytes(b"\xff\xfe")
    with pytest.raises(ManifestError, match="labels"):
        labels(load(folder, verify=False), folder)


def test_a_written_model_folder_verifies(tmp_path):
    assert load(write_classify_model(tmp_path / "c")).task == "classify"


def test_ocr_manifests_may_carry_limits_and_they_are_checked():
    doc = {"name": "ocr", "version": "v", "task": "ocr", "files": {"det": dict(ENTRY)}, "license": "x",
           "attribution": "y", "limits": {"max_batch": 0}}  # fmt: skip
    with pytest.raises(ManifestError, match=re.escape("'limits.max_batch'")):
        parse(doc)
