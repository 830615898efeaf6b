"""`sitelens models init`: small graphs built with onnx's helpers, inspected by the real ONNX Runtime."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import numpy as np
import onnx
import pytest
from onnx import TensorProto, external_data_helper, helper

from batch_tasks.models.manifest import load
from batch_tasks.models.vision_spec import labels as manifest_labels
from sitelens.cli import main
from tests.support.onnx_models import classify_graph, constant_graph, yolov5_rows, yolov8_rows


def save(tmp_path: Path, model: onnx.ModelProto, name: str = "exported.onnx") -> Path:
    path = tmp_path / name
    path.write_bytes(model.SerializeToString())
    return path


def labels_file(tmp_path: Path, *labels: str) -> Path:
    path = tmp_path / "labels.txt"
    path.write_text("\n".join(labels) + "\n", encoding="utf-8")
    return path


def init(tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, graph: Path, *flags: str) -> tuple[int, str]:
    """The exit code and what was said: the folder made on stdout, or a refusal on stderr with nothing on stdout."""
    out = tmp_path / "folder"
    code = main(["models", "init", "--kind", kind, "--onnx", str(graph), "--name", "m", "--version", "1.0.0",
                 "--out", str(out), *flags])  # fmt: skip
    said = capsys.readouterr()
    if code == 0:
        return code, said.out
    assert said.out == "", said.out
    return code, said.err


def manifest(tmp_path: Path) -> dict[str, Any]:
    return cast("dict[str, Any]", json.loads((tmp_path / "folder" / "manifest.json").read_text()))


def test_a_classify_graph_becomes_a_folder_that_verifies_with_defaults_from_the_graph(tmp_path, capsys):
    graph = save(tmp_path, classify_graph(3, size=(8, 10), input_name="pixels", output_name="logits"))
    code, out = init(
        tmp_path, capsys, "classify", graph, "--labels", str(labels_file(tmp_path, "red", "green", "blue"))
    )
    assert code == 0, out
    folder = tmp_path / "folder"
    doc = manifest(tmp_path)
    assert doc["input"] | {"scale": 0} == {"name": "pixels", "layout": "NCHW", "size": [8, 10], "resize": "stretch",
                                           "channel_order": "RGB", "scale": 0, "mean": [0.0, 0.0, 0.0],
                                           "std": [1.0, 1.0, 1.0], "dtype": "float32"}  # fmt: skip
    assert doc["input"]["scale"] == pytest.approx(1 / 255)
    assert doc["output"] == {"name": "logits", "type": "logits", "top_k": 3}
    assert doc["limits"] == {"max_batch": 8}
    assert "labels" not in doc  # the labels are the file of role `labels`
    loaded = load(folder)  # the node's parser, with every checksum verified
    assert manifest_labels(loaded, folder) == ("red", "green", "blue")
    assert (folder / "model.onnx").read_bytes() == graph.read_bytes()


def test_nhwc_softmax_output_and_flags_are_taken(tmp_path, capsys):
    graph = save(tmp_path, classify_graph(4, layout="NHWC", softmax=True, size=(16, 16)))
    code, out = init(tmp_path, capsys, "classify", graph, "--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225",
                     "--channel-order", "BGR", "--resize", "center_crop", "--top-k", "2", "--max-batch", "16",
                     "--memory-mb", "512")  # fmt: skip
    assert code == 0, out
    doc = manifest(tmp_path)
    assert doc["input"]["layout"] == "NHWC" and doc["input"]["channel_order"] == "BGR"
    assert doc["input"]["mean"] == [0.485, 0.456, 0.406] and doc["input"]["resize"] == "center_crop"
    assert doc["output"] == {"name": "scores", "type": "probabilities", "top_k": 2}  # a Softmax writes it
    assert doc["labels"] == ["class_0", "class_1", "class_2", "class_3"]  # no names given: numbered
    assert doc["limits"] == {"max_batch": 16, "memory_mb": 512}
    load(tmp_path / "folder")


@pytest.mark.parametrize(
    ("rows", "fmt", "flags"),
    [
        (yolov8_rows([(32, 32, 16, 16, 1, 0.9)] * 5, 2), "yolov8", []),
        (yolov5_rows([(32, 32, 16, 16, 0.9, 1, 0.9)] * 5, 2), "yolov5", []),
        (np.zeros((7, 6), np.float32), "nms", []),
        (yolov8_rows([(32, 32, 16, 16, 1, 0.9)] * 5, 2), "yolov8", ["--format", "yolov8"]),
    ],
)
def test_a_detect_graph_of_each_format_is_recognised_from_its_output_shape(tmp_path, capsys, rows, fmt, flags):
    graph = save(tmp_path, constant_graph(rows, size=(64, 64)))
    code, out = init(tmp_path, capsys, "detect", graph, "--labels", str(labels_file(tmp_path, "crack", "rust")), *flags)
    assert code == 0, out
    doc = manifest(tmp_path)
    assert doc["output"]["format"] == fmt
    assert doc["output"]["max_detections"] == (7 if fmt == "nms" else 100)  # nms: the graph's K
    assert doc["input"]["resize"] == "letterbox" and doc["input"]["pad_value"] == 114
    load(tmp_path / "folder")


def test_class_names_an_exporter_embedded_are_the_default_labels(tmp_path, capsys):
    model = constant_graph(yolov8_rows([(32, 32, 16, 16, 0, 0.9)], 3))
    helper.set_model_props(model, {"names": "{0: 'crack', 1: 'rust', 2: 'leak'}"})  # as Ultralytics writes it
    code, out = init(tmp_path, capsys, "detect", save(tmp_path, model))
    assert code == 0, out
    assert manifest(tmp_path)["labels"] == ["crack", "rust", "leak"]


def _graph(nodes: list[onnx.NodeProto], opset: int = 17, domains: tuple[str, ...] = ()) -> onnx.ModelProto:
    """A classify-shaped graph around `nodes`, which read `x` and write `h` ([N, 3, 8, 8] float)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])
    tail = [helper.make_node("ReduceMean", ["h"], ["y"], axes=[2, 3], keepdims=0)]
    imports = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    return helper.make_model(helper.make_graph([*nodes, *tail], "g", [x], [y]), opset_imports=imports, ir_version=8)


def test_an_operator_without_an_onnx_runtime_kernel_is_refused_naming_it(tmp_path, capsys):
    half_relu = [  # Relu exists, but the CPU provider has no bfloat16 Relu: NOT_IMPLEMENTED
        helper.make_node("Cast", ["x"], ["x16"], to=TensorProto.BFLOAT16),
        helper.make_node("Relu", ["x16"], ["r16"]),
        helper.make_node("Cast", ["r16"], ["h"], to=TensorProto.FLOAT),
    ]
    code, out = init(tmp_path, capsys, "classify", save(tmp_path, _graph(half_relu)))
    assert code == 1
    assert "refused" in out and "no kernel" in out and "NOT_IMPLEMENTED" in out and "Relu" in out
    assert not (tmp_path / "folder").exists()  # nothing written


@pytest.mark.parametrize(
    ("node", "domains", "named"),
    [
        (helper.make_node("Frobnicate", ["x"], ["h"]), (), "unknown to ONNX at the graph's opset: Frobnicate@17"),
        (helper.make_node("Warp", ["x"], ["h"], domain="com.example"), ("com.example",), "com.example:Warp"),
    ],
)
def test_operators_onnx_does_not_define_are_listed_by_name(tmp_path, capsys, node, domains, named):
    code, out = init(tmp_path, capsys, "classify", save(tmp_path, _graph([node], domains=domains)))
    assert code == 1
    assert named in out


@pytest.mark.parametrize(
    ("kind", "model", "said"),
    [
        ("classify", constant_graph(np.zeros((5, 6), np.float32)), "must be float32 [N, C]"),
        ("detect", classify_graph(3), "must be a 3-D float32 tensor"),
        ("detect", constant_graph(np.zeros((5, 4), np.float32)), "fits none"),
    ],
)
def test_an_output_shape_that_does_not_fit_the_kind_is_refused(tmp_path, capsys, kind, model, said):
    code, out = init(tmp_path, capsys, kind, save(tmp_path, model), "--labels", str(labels_file(tmp_path, "a", "b")))
    assert code == 1
    assert said in out
    assert not (tmp_path / "folder").exists()


def test_an_input_that_is_not_an_image_is_refused(tmp_path, capsys):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 5, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])
    node = helper.make_node("ReduceMean", ["x"], ["y"], axes=[2, 3], keepdims=0)
    graph = helper.make_graph([node], "g", [x], [y])
    five = save(tmp_path, helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8))
    code, out = init(tmp_path, capsys, "classify", five)
    assert code == 1 and "cannot tell the layout" in out
    code, out = init(tmp_path, capsys, "classify", five, "--layout", "NCHW")
    assert code == 1 and "must have 3 colour channels" in out


@pytest.mark.parametrize(
    ("kind", "model", "flags"),
    [
        ("classify", classify_graph(3), []),
        ("detect", constant_graph(yolov8_rows([(1, 1, 1, 1, 0, 0.9)], 3)), []),
        ("detect", constant_graph(yolov8_rows([(1, 1, 1, 1, 0, 0.9)], 3)), ["--format", "yolov8"]),
        ("detect", constant_graph(yolov5_rows([(1, 1, 1, 1, 1, 0, 0.9)], 3)), ["--format", "yolov5"]),
    ],
)
def test_a_label_count_other_than_the_graphs_class_count_is_refused(tmp_path, capsys, kind, model, flags):
    two = labels_file(tmp_path, "crack", "rust")
    code, out = init(tmp_path, capsys, kind, save(tmp_path, model), "--labels", str(two), *flags)
    assert code == 1
    assert "2 labels" in out


def test_a_fixed_batch_of_one_caps_max_batch_and_a_larger_one_is_refused(tmp_path, capsys):
    model = classify_graph(3)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1  # exported without a dynamic batch axis
    model.graph.output[0].type.tensor_type.shape.dim[0].dim_value = 1
    graph = save(tmp_path, model)
    code, out = init(tmp_path, capsys, "classify", graph)
    assert code == 0, out
    assert manifest(tmp_path)["limits"]["max_batch"] == 1
    code, out = init(tmp_path, capsys, "classify", graph, "--max-batch", "4", "--force")
    assert code == 1 and "dynamic batch axis" in out


def test_open_height_and_width_need_size_and_an_existing_folder_needs_force(tmp_path, capsys):
    model = classify_graph(3)
    for axis in (2, 3):
        model.graph.input[0].type.tensor_type.shape.dim[axis].dim_param = "side"
    graph = save(tmp_path, model)
    code, out = init(tmp_path, capsys, "classify", graph)
    assert code == 1 and "--size" in out
    assert init(tmp_path, capsys, "classify", graph, "--size", "224x224")[0] == 0
    assert manifest(tmp_path)["input"]["size"] == [224, 224]
    code, out = init(tmp_path, capsys, "classify", graph, "--size", "224x224")
    assert code == 1 and "--force" in out


def test_force_with_the_folders_own_graph_and_labels_keeps_them(tmp_path, capsys):
    """`--force` removed the folder before copying the graph: a re-init with other flags from the folder's own
    model.onnx (and labels.txt) deleted the user's graph and crashed."""
    graph = save(tmp_path, classify_graph(3))
    colours = labels_file(tmp_path, "red", "green", "blue")
    code, out = init(tmp_path, capsys, "classify", graph, "--labels", str(colours))
    assert code == 0, out
    folder = tmp_path / "folder"
    code, out = init(tmp_path, capsys, "classify", folder / "model.onnx", "--labels", str(folder / "labels.txt"),
                     "--top-k", "2", "--force")  # fmt: skip
    assert code == 0, out
    assert (folder / "model.onnx").read_bytes() == graph.read_bytes()
    assert (folder / "labels.txt").read_text(encoding="utf-8") == "red\ngreen\nblue\n"
    assert manifest(tmp_path)["output"]["top_k"] == 2
    load(folder)  # every file matches its SHA-256


def test_a_file_that_is_not_onnx_or_too_new_for_the_runtime_is_refused(tmp_path, capsys):
    too_new = classify_graph(3)
    too_new.ir_version = 99
    code, out = init(tmp_path, capsys, "classify", save(tmp_path, too_new))
    assert code == 1 and "cannot load the graph" in out and "IR version" in out
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"\x00not a protobuf\xff" * 10)
    code, out = init(tmp_path, capsys, "classify", bogus)
    assert code == 1 and "refused" in out


def test_a_softmax_behind_an_identity_still_means_probabilities(tmp_path, capsys):
    model = classify_graph(3, softmax=True)  # writes `scores`
    model.graph.node.append(helper.make_node("Identity", ["scores"], ["saved"]))  # as Paddle's export adds
    model.graph.output[0].name = "saved"
    code, out = init(tmp_path, capsys, "classify", save(tmp_path, model))
    assert code == 0, out
    assert manifest(tmp_path)["output"] == {"name": "saved", "type": "probabilities", "top_k": 3}


def test_a_graph_that_runs_one_image_at_a_time_gets_max_batch_1_and_a_larger_one_is_refused(tmp_path, capsys):
    """A graph whose batch axis is symbolic but that reshapes to one row inside (`x.view(1, -1)`) got max_batch 8:
    every batch of photos that arrived together then failed on the node, while one photo alone read fine."""
    graph = save(tmp_path, classify_graph(3, one_at_a_time=True))
    code, out = init(tmp_path, capsys, "classify", graph)
    assert code == 0, out
    assert manifest(tmp_path)["limits"]["max_batch"] == 1
    assert "runs only one image at a time" in out and "Reshape" in out
    code, out = init(tmp_path, capsys, "classify", graph, "--max-batch", "4", "--force")
    assert code == 1 and "runs only one image at a time" in out and "--max-batch above 1" in out
    assert manifest(tmp_path)["limits"]["max_batch"] == 1  # nothing written


def weights_in_an_if(model: onnx.ModelProto) -> onnx.ModelProto:
    """The classify graph with its weights coming out of an If whose branches hold them (control flow exported)."""
    [weights] = [t for t in model.graph.initializer if t.name == "weights"]
    model.graph.initializer.remove(weights)

    def branch(name: str) -> onnx.GraphProto:
        tensor = onnx.TensorProto()
        tensor.CopyFrom(weights)
        tensor.name = f"{name}_weights"
        out = helper.make_tensor_value_info(f"{name}_out", TensorProto.FLOAT, list(weights.dims))
        return helper.make_graph([helper.make_node("Identity", [tensor.name], [out.name])], name, [], [out], [tensor])

    model.graph.initializer.append(helper.make_tensor("always", TensorProto.BOOL, [], [True]))
    model.graph.node.insert(
        0, helper.make_node("If", ["always"], ["weights"], then_branch=branch("then"), else_branch=branch("other"))
    )
    onnx.checker.check_model(model)
    return model


@pytest.mark.parametrize("where", ["graph", "if_branch"])
def test_a_graph_keeping_tensors_in_an_external_file_is_refused_subgraphs_included(tmp_path, capsys, where):
    """Only the graph's own initializers were checked: weights kept in an external file by an If branch passed,
    and the folder written held model.onnx without them."""
    model = classify_graph(3) if where == "graph" else weights_in_an_if(classify_graph(3))
    graph = model.graph if where == "graph" else model.graph.node[0].attribute[0].g
    [tensor] = [t for t in graph.initializer if t.name.endswith("weights")]
    external_data_helper.set_external_data(tensor, "weights.bin")
    onnx.save(model, str(tmp_path / "exported.onnx"))  # writes weights.bin beside it
    assert (tmp_path / "weights.bin").is_file()
    code, out = init(tmp_path, capsys, "classify", tmp_path / "exported.onnx")
    assert code == 1 and "external data files (weights.bin)" in out, out
    assert not (tmp_path / "folder").exists()
