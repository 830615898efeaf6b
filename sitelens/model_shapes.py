"""Whether a graph's input and output tensors fit a model kind, and the manifest defaults they imply.

The input must be one 4-D float tensor with 3 colour channels; its layout is read from the axis that is 3
(axis 1: NCHW, axis 3: NHWC) and its size from the static height and width. A classify output is
[N, C]; a detect output has one of the shapes of the manifest's formats:

    yolov8  [N, 4 + C, A]   cx, cy, w, h then C class scores per anchor, no NMS in the graph
    yolov5  [N, A, 5 + C]   cx, cy, w, h, objectness, then C class scores
    nms     [N, K, 6]       x1, y1, x2, y2, score, class id (NMS inside the graph)

C must equal the number of labels wherever the graph fixes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sitelens.onnx_graph import GraphInfo, GraphRefused, Tensor

FLOAT = "tensor(float)"
DETECT_SHAPES = {"yolov8": "[N, 4 + C, A]", "yolov5": "[N, A, 5 + C]", "nms": "[N, K, 6]"}


@dataclass(frozen=True)
class InputShape:
    name: str
    layout: str
    size: tuple[int, int]  # height, width
    fixed_batch: int | None  # a batch axis the graph fixes (1 for most non-dynamic exports)


def graph_input(info: GraphInfo, layout: str | None, size: tuple[int, int] | None) -> InputShape:
    """The one image input; `layout` and `size` settle what the graph leaves open."""
    if len(info.inputs) != 1:
        listed = "; ".join(t.describe() for t in info.inputs)
        raise GraphRefused(f"the graph must take one image tensor, it takes {len(info.inputs)}: {listed}")
    tensor = info.inputs[0]
    if tensor.type != FLOAT or len(tensor.shape) != 4:
        raise GraphRefused(f"the input must be a 4-D float32 tensor, it is {tensor.describe()}")
    chosen = layout or _layout(tensor)
    channels = tensor.static(1 if chosen == "NCHW" else 3)
    if channels not in (3, None):
        raise GraphRefused(f"the input must have 3 colour channels ({chosen}), it is {tensor.describe()}")
    axes = (2, 3) if chosen == "NCHW" else (1, 2)
    fixed = (tensor.static(axes[0]), tensor.static(axes[1]))
    if size is None:
        if fixed[0] is None or fixed[1] is None:
            raise GraphRefused(f"the input's height and width are not fixed ({tensor.describe()}): pass --size HxW")
        size = (fixed[0], fixed[1])
    elif any(f is not None and f != s for f, s in zip(fixed, size, strict=True)):
        raise GraphRefused(f"--size {size[0]}x{size[1]} differs from the graph's fixed input {tensor.describe()}")
    return InputShape(tensor.name, chosen, size, tensor.static(0))


def _layout(tensor: Tensor) -> str:
    first, last = tensor.static(1) == 3, tensor.static(3) == 3
    if first != last:
        return "NCHW" if first else "NHWC"
    raise GraphRefused(f"cannot tell the layout of {tensor.describe()} (no single axis of 3 channels): "
                       "pass --layout NCHW or NHWC")  # fmt: skip


def classify_output(info: GraphInfo, name: str | None, labels: int | None) -> tuple[Tensor, int]:
    """The [N, C] scores and C (from the graph, else the labels)."""
    out = info.output(name)
    if out.type != FLOAT or len(out.shape) != 2:
        raise GraphRefused(f"a classify model's output must be float32 [N, C], it is {out.describe()}")
    classes = out.static(1) or labels
    if classes is None:
        raise GraphRefused(f"the output {out.describe()} does not fix its class count: pass --labels")
    _labels_match(classes, labels, out)
    return out, classes


def detect_output(info: GraphInfo, name: str | None, fmt: str | None, labels: int | None) -> tuple[Tensor, str]:
    """The output and its format: `fmt` checked against the shape, or the one format the shape fits."""
    out = info.output(name)
    if out.type != FLOAT or len(out.shape) != 3:
        raise GraphRefused(f"a detect model's output must be a 3-D float32 tensor, it is {out.describe()}")
    fits = {f: c for f in DETECT_SHAPES if (c := _fit(out, f, labels)) is not False}
    if fmt is not None:
        if (classes := detect_classes(out, fmt)) is not None and classes > 0:
            _labels_match(classes, labels, out)
        if fmt not in fits:
            raise GraphRefused(f"the output {out.describe()} is not {fmt}'s {DETECT_SHAPES[fmt]}"
                               f"{_with_labels(labels)}")  # fmt: skip
        return out, fmt
    if len(fits) != 1:
        shapes = "; ".join(f"{f} {s}" for f, s in DETECT_SHAPES.items())
        which = f"it fits {' and '.join(fits)}" if fits else "it fits none"
        raise GraphRefused(f"the output {out.describe()}{_with_labels(labels)}: {which} of {shapes}; "
                           "pass --format (and --labels)")  # fmt: skip
    return out, next(iter(fits))


def _fit(out: Tensor, fmt: str, labels: int | None) -> bool | None:
    """False when the shape rules `fmt` out; True (or None: C unknown) when it may be `fmt`."""
    if fmt == "nms":
        return out.static(2) == 6
    axis, extra = (1, 4) if fmt == "yolov8" else (2, 5)
    size = out.static(axis)
    if size is None:
        return None if labels is None else True
    if size <= extra:
        return False
    return labels is None or size - extra == labels


def detect_classes(out: Tensor, fmt: str) -> int | None:
    """C as the graph fixes it (None for nms, whose class ids index the labels)."""
    axis, extra = {"yolov8": (1, 4), "yolov5": (2, 5)}.get(fmt, (0, 0))
    size = out.static(axis) if extra else None
    return None if size is None else size - extra


def _labels_match(classes: int, labels: int | None, out: Tensor) -> None:
    if labels is not None and labels != classes:
        raise GraphRefused(f"{labels} labels given but the output {out.describe()} scores {classes} classes")


def _with_labels(labels: int | None) -> str:
    return f" with {labels} labels" if labels is not None else ""
