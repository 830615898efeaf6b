"""Tiny classify and detect models whose outputs are known, written as model folders (model.onnx + manifest.json).

Built with the `onnx` package's helpers, run by the real ONNX Runtime:

- the classify graph averages each input channel over the image and multiplies the three means by a
  3 x C matrix (identity by default, so with `scale` 1/255 a pure red RGB photo scores [1, 0, 0]);
- the detect graph outputs a constant (the rows you give, repeated for every image of the batch), so a test
  controls exactly what the decoder sees.

Every writer returns the folder; its manifest carries the files' real SHA-256 and sizes, so it verifies and
publishes like any model folder.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
COLOURS = ("red", "green", "blue")


def _model(nodes: list[onnx.NodeProto], inputs: list[Any], outputs: list[Any], inits: list[Any]) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    onnx.checker.check_model(model)
    return model


def _input(name: str, layout: str, size: tuple[int, int], batch: str | int = "N") -> Any:
    h, w = size
    shape: list[str | int | None] = [batch, 3, h, w] if layout == "NCHW" else [batch, h, w, 3]
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def classify_graph(
    classes: int,
    *,
    size: tuple[int, int] = (8, 8),
    layout: str = "NCHW",
    weights: np.ndarray | None = None,
    softmax: bool = False,
    input_name: str = "images",
    output_name: str = "scores",
    batch: str | int = "N",
    one_at_a_time: bool = False,
) -> onnx.ModelProto:
    """scores = mean(x per channel) @ weights (3 x classes), softmaxed when `softmax`; `batch` a number fixes it.
    `one_at_a_time` reshapes the means to [1, 3] first, as `x.view(1, -1)` exports: the batch axis stays
    symbolic, yet the graph runs only one image at a time."""
    w = np.eye(3, classes, dtype=np.float32) if weights is None else np.asarray(weights, np.float32)
    spatial = [2, 3] if layout == "NCHW" else [1, 2]
    raw = "raw" if softmax else output_name
    means = "flat" if one_at_a_time else "means"
    nodes = [
        helper.make_node("ReduceMean", [input_name], ["means"], axes=spatial, keepdims=0),
        *([helper.make_node("Reshape", ["means", "one_row"], ["flat"])] if one_at_a_time else []),
        helper.make_node("MatMul", [means, "weights"], [raw]),
    ]
    if softmax:
        nodes.append(helper.make_node("Softmax", [raw], [output_name], axis=-1))
    out = helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [batch, w.shape[1]])
    inits = [numpy_helper.from_array(w, "weights")]
    if one_at_a_time:
        inits.append(numpy_helper.from_array(np.asarray([1, 3], np.int64), "one_row"))
    return _model(nodes, [_input(input_name, layout, size, batch)], [out], inits)


def constant_graph(
    rows: np.ndarray,
    *,
    size: tuple[int, int] = (64, 64),
    layout: str = "NCHW",
    input_name: str = "images",
    output_name: str = "output0",
) -> onnx.ModelProto:
    """Outputs `rows` (any 2-D array) for every image: shape [N, *rows.shape]."""
    table = np.asarray(rows, np.float32)[None]
    nodes = [
        helper.make_node("ReduceMean", [input_name], ["mean"], axes=[1, 2, 3], keepdims=1),  # [N, 1, 1, 1]
        helper.make_node("Squeeze", ["mean", "last"], ["per_image"]),  # [N, 1, 1]
        helper.make_node("Mul", ["per_image", "zero"], ["zeros"]),
        helper.make_node("Add", ["zeros", "table"], [output_name]),  # broadcast to [N, *rows.shape]
    ]
    inits = [
        numpy_helper.from_array(np.asarray([3], np.int64), "last"),
        numpy_helper.from_array(np.zeros((1,), np.float32), "zero"),
        numpy_helper.from_array(table, "table"),
    ]
    out = helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["N", *table.shape[1:]])
    return _model(nodes, [_input(input_name, layout, size)], [out], inits)


def yolov8_rows(boxes: Sequence[tuple[float, float, float, float, int, float]], classes: int) -> np.ndarray:
    """[4 + classes, A] for boxes (cx, cy, w, h, class id, score) in input pixels."""
    out = np.zeros((4 + classes, len(boxes)), np.float32)
    for a, (cx, cy, w, h, cls, score) in enumerate(boxes):
        out[:4, a] = (cx, cy, w, h)
        out[4 + cls, a] = score
    return out


def yolov5_rows(boxes: Sequence[tuple[float, float, float, float, float, int, float]], classes: int) -> np.ndarray:
    """[A, 5 + classes] for boxes (cx, cy, w, h, objectness, class id, class score) in input pixels."""
    out = np.zeros((len(boxes), 5 + classes), np.float32)
    for a, (cx, cy, w, h, obj, cls, score) in enumerate(boxes):
        out[a, :5] = (cx, cy, w, h, obj)
        out[a, 5 + cls] = score
    return out


def write_folder(
    dest: Path,
    graph: onnx.ModelProto,
    manifest: dict[str, Any],
    *,
    labels_file: Sequence[str] | None = None,
) -> Path:
    """Write `dest/model.onnx` (and `labels.txt`), then the manifest with their checksums."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "model.onnx").write_bytes(graph.SerializeToString())
    files = {"model": "model.onnx"}
    if labels_file is not None:
        (dest / "labels.txt").write_text("".join(f"{label}\n" for label in labels_file), encoding="utf-8")
        files["labels"] = "labels.txt"
    manifest = dict(manifest)
    manifest["files"] = {role: _entry(dest / name) for role, name in files.items()}
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return dest


def _entry(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    return {"file": path.name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def input_section(size: tuple[int, int], **overrides: Any) -> dict[str, Any]:
    section = {"name": "images", "layout": "NCHW", "size": list(size), "resize": "stretch", "channel_order": "RGB",
               "scale": 1 / 255, "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0], "dtype": "float32"}  # fmt: skip
    return section | overrides


def classify_manifest(
    name: str = "colours", version: str = "1.0.0", *, labels: Sequence[str] = COLOURS, **keys: Any
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": name, "version": version, "task": "classify", "files": {}, "labels": list(labels),
        "input": input_section((8, 8)), "output": {"name": "scores", "type": "logits", "top_k": 3},
        "limits": {"max_batch": 4}, "license": "MIT", "attribution": "a test model built from ONNX operators",
    }  # fmt: skip
    return doc | keys


def detect_manifest(
    name: str = "defects", version: str = "1.0.0", *, labels: Sequence[str] = ("crack", "rust"), **keys: Any
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": name, "version": version, "task": "detect", "files": {}, "labels": list(labels),
        "input": input_section((64, 64), resize="letterbox", pad_value=114),
        "output": {"name": "output0", "format": "yolov8", "score_threshold": 0.25, "iou_threshold": 0.45,
                   "max_detections": 100},
        "limits": {"max_batch": 4}, "license": "MIT", "attribution": "a test model built from ONNX operators",
    }  # fmt: skip
    return doc | keys


def write_classify_model(dest: Path, *, classes: int | None = None, softmax: bool = False, **keys: Any) -> Path:
    """A colour classifier (red, green, blue by default); `classes` other than the labels' count breaks it."""
    manifest = classify_manifest(**keys)
    spec = manifest["input"]
    graph = classify_graph(classes or len(manifest["labels"]), size=tuple(spec["size"]),
                           layout=spec.get("layout", "NCHW"), softmax=softmax, input_name=spec["name"],
                           output_name=manifest["output"]["name"])  # fmt: skip
    return write_folder(dest, graph, manifest)


def write_detect_model(dest: Path, rows: np.ndarray | None = None, **keys: Any) -> Path:
    """A detector that always finds what `rows` says (default: one 'crack', score 0.9, centred, half the input)."""
    manifest = detect_manifest(**keys)
    spec = manifest["input"]
    h, w = spec["size"]
    if rows is None:
        rows = yolov8_rows([(w / 2, h / 2, w / 2, h / 2, 0, 0.9)], len(manifest["labels"]))
    graph = constant_graph(rows, size=(h, w), layout=spec.get("layout", "NCHW"), input_name=spec["name"],
                           output_name=manifest["output"]["name"])  # fmt: skip
    return write_folder(dest, graph, manifest)


def write_text_direction_model(dest: Path, cls_onnx: Path) -> Path:
    """PP-OCR's text-direction classifier (input x [N, 3, 48, 192], probabilities of "0" and "180") as a
    `classify` model, normalised as the OCR manifest's `cls` section says (BGR, x / 255, mean 0.5, std 0.5)."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "model.onnx").write_bytes(cls_onnx.read_bytes())
    manifest = {
        "name": "text-direction", "version": "2.0", "task": "classify", "labels": ["0", "180"],
        "input": {"name": "x", "layout": "NCHW", "size": [48, 192], "resize": "letterbox", "channel_order": "BGR",
                  "scale": 1 / 255, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "pad_value": 128},
        "output": {"name": "save_infer_model/scale_0.tmp_1", "type": "probabilities", "top_k": 2},
        "files": {"model": _entry(dest / "model.onnx")}, "limits": {"max_batch": 8}, "license": "Apache-2.0",
        "attribution": "PP-OCR mobile v2.0 text direction classifier by PaddlePaddle/PaddleOCR (Apache-2.0)",
    }  # fmt: skip
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return dest


def write_memory_hungry_model(dest: Path, **keys: Any) -> Path:
    """A colour classifier that also asks ONNX Runtime for (mean input value x 256 GiB) of scratch memory: a black
    photo (and the warm-up's zeros) runs, a bright one fails with ONNX Runtime's own allocation error."""
    manifest = classify_manifest(name="hungry", **keys)
    h, w = manifest["input"]["size"]
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["means"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["means", "weights"], ["plain"]),
        helper.make_node("ReduceMean", ["images"], ["level"], axes=[0, 1, 2, 3], keepdims=0),  # a scalar, 0..1
        helper.make_node("Mul", ["level", "elements"], ["wanted"]),
        helper.make_node("Cast", ["wanted"], ["count"], to=TensorProto.INT64),
        helper.make_node("Reshape", ["count", "one"], ["count1"]),
        helper.make_node("Concat", ["one", "count1"], ["shape"], axis=0),
        helper.make_node("Expand", ["level", "shape"], ["scratch"]),  # [1, count] floats
        helper.make_node("ReduceSum", ["scratch", "both"], ["total"], keepdims=0),
        helper.make_node("Mul", ["total", "zero"], ["nothing"]),
        helper.make_node("Add", ["plain", "nothing"], ["scores"]),
    ]
    inits = [
        numpy_helper.from_array(np.eye(3, dtype=np.float32), "weights"),
        numpy_helper.from_array(np.asarray(float(1 << 36), np.float32), "elements"),
        numpy_helper.from_array(np.asarray([1], np.int64), "one"),
        numpy_helper.from_array(np.asarray([0, 1], np.int64), "both"),
        numpy_helper.from_array(np.asarray(0.0, np.float32), "zero"),
    ]
    out = helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 3])
    return write_folder(dest, _model(nodes, [_input("images", "NCHW", (h, w))], [out], inits), manifest)


def write_overflowing_model(dest: Path, **keys: Any) -> Path:
    """A colour classifier whose logits are each image's channel means over (1 - its mean level): a white photo
    overflows to infinity (the model's output is not finite for that one input), any darker one scores."""
    manifest = classify_manifest(name="overflowing", **keys)
    h, w = manifest["input"]["size"]
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["means"], axes=[2, 3], keepdims=0),  # [N, 3]
        helper.make_node("ReduceMean", ["images"], ["level"], axes=[1, 2, 3], keepdims=0),  # [N], 0..1
        helper.make_node("Unsqueeze", ["level", "axis1"], ["level1"]),  # [N, 1]
        helper.make_node("Sub", ["one", "level1"], ["headroom"]),
        helper.make_node("Div", ["means", "headroom"], ["scores"]),
    ]
    inits = [
        numpy_helper.from_array(np.asarray(1.0, np.float32), "one"),
        numpy_helper.from_array(np.asarray([1], np.int64), "axis1"),
    ]
    out = helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 3])
    return write_folder(dest, _model(nodes, [_input("images", "NCHW", (h, w))], [out], inits), manifest)
