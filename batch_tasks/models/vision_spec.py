"""The manifest keys of `classify` and `detect` models: input, output, labels and limits, checked when read.

A classify or detect model is driven by its manifest alone: how a photo becomes the graph's input tensor
(`input`), how the graph's output becomes labels or boxes (`output`), the class names (`labels`, inline or a
file of role `labels`), and what the node may spend on it (`limits`). Every key that is wrong raises
`ManifestError` naming the key, so `sitelens models test` and the node refuse the same manifests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batch_tasks.models.manifest import Manifest, ManifestError

VISION_TASKS = frozenset({"classify", "detect"})
LAYOUTS = ("NCHW", "NHWC")
RESIZE_MODES = ("stretch", "letterbox", "center_crop")
CHANNEL_ORDERS = ("RGB", "BGR")
OUTPUT_TYPES = ("logits", "probabilities")
DETECT_FORMATS = ("yolov8", "yolov5", "nms")
DEFAULT_MAX_BATCH = 8


@dataclass(frozen=True)
class InputSpec:
    name: str
    layout: str
    height: int
    width: int
    resize: str
    channel_order: str
    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    pad_value: int


@dataclass(frozen=True)
class OutputSpec:
    name: str
    type: str  # classify: logits | probabilities; detect: ""
    top_k: int  # classify only
    format: str  # detect: yolov8 | yolov5 | nms; classify: ""
    score_threshold: float
    iou_threshold: float
    max_detections: int


@dataclass(frozen=True)
class Limits:
    max_batch: int
    memory_mb: int | None


@dataclass(frozen=True)
class VisionSpec:
    task: str
    input: InputSpec
    output: OutputSpec
    labels_inline: tuple[str, ...] | None  # None: the labels are the `labels` file


def _section(doc: dict[str, Any], key: str, *, required: bool = True) -> dict[str, Any]:
    value = doc.get(key, None if required else {})
    if not isinstance(value, dict):
        raise ManifestError(f"'{key}' must be an object")
    return value


def _str(section: dict[str, Any], key: str, where: str, choices: tuple[str, ...] = (), default: str = "") -> str:
    value = section.get(key, default or None)
    if not isinstance(value, str) or not value or (choices and value not in choices):
        wanted = f"one of {', '.join(choices)}" if choices else "a non-empty string"
        raise ManifestError(f"'{where}.{key}' must be {wanted}")
    return value


def _int(section: dict[str, Any], key: str, where: str, bounds: tuple[int, int], default: int | None = None) -> int:
    low, high = bounds
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ManifestError(f"'{where}.{key}' must be a whole number from {low} to {high}")
    return value


def _float(section: dict[str, Any], key: str, where: str, bounds: tuple[float, float], default: float) -> float:
    low, high = bounds
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ManifestError(f"'{where}.{key}' must be a number from {low} to {high}")
    return float(value)


def _triple(section: dict[str, Any], key: str, default: float, *, nonzero: bool = False) -> tuple[float, float, float]:
    value = section.get(key, [default] * 3)
    ok = isinstance(value, list) and len(value) == 3
    ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) and (v != 0 or not nonzero) for v in value)
    if not ok:
        raise ManifestError(f"'input.{key}' must be 3 numbers{' other than 0' if nonzero else ''}")
    return float(value[0]), float(value[1]), float(value[2])


def _input(doc: dict[str, Any]) -> InputSpec:
    section = _section(doc, "input")
    size = section.get("size")
    if not (isinstance(size, list) and len(size) == 2 and all(type(v) is int and 1 <= v <= 8192 for v in size)):
        raise ManifestError("'input.size' must be [height, width], whole numbers from 1 to 8192")
    if section.get("dtype", "float32") != "float32":
        raise ManifestError("'input.dtype' must be float32")
    return InputSpec(
        name=_str(section, "name", "input"),
        layout=_str(section, "layout", "input", LAYOUTS, "NCHW"),
        height=size[0],
        width=size[1],
        resize=_str(section, "resize", "input", RESIZE_MODES, "stretch"),
        channel_order=_str(section, "channel_order", "input", CHANNEL_ORDERS, "RGB"),
        scale=_float(section, "scale", "input", (1e-9, 1e9), 1.0),
        mean=_triple(section, "mean", 0.0),
        std=_triple(section, "std", 1.0, nonzero=True),
        pad_value=_int(section, "pad_value", "input", (0, 255), 114),
    )


def _output(doc: dict[str, Any], task: str) -> OutputSpec:
    section = _section(doc, "output")
    name = _str(section, "name", "output")
    if task == "classify":
        kind = _str(section, "type", "output", OUTPUT_TYPES)
        return OutputSpec(name, kind, _int(section, "top_k", "output", (1, 1000), 5), "", 0.0, 0.0, 0)
    return OutputSpec(
        name=name,
        type="",
        top_k=0,
        format=_str(section, "format", "output", DETECT_FORMATS),
        score_threshold=_float(section, "score_threshold", "output", (0.0, 1.0), 0.25),
        iou_threshold=_float(section, "iou_threshold", "output", (0.0, 1.0), 0.45),
        max_detections=_int(section, "max_detections", "output", (1, 10000), 100),
    )


def _labels(doc: dict[str, Any]) -> tuple[str, ...] | None:
    in_files = isinstance(doc.get("files"), dict) and "labels" in doc["files"]
    if ("labels" in doc) == in_files:
        raise ManifestError("'labels' must be given exactly once: an inline list or a file of role 'labels'")
    if in_files:
        return None
    labels = doc["labels"]
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x for x in labels):
        raise ManifestError("'labels' must be a non-empty list of non-empty strings")
    return tuple(labels)


def limits(doc: dict[str, Any]) -> Limits:
    """Any kind's `limits` (optional; OCR models have none and use the node's settings)."""
    section = _section(doc, "limits", required=False)
    memory = section.get("memory_mb")
    if memory is not None:
        memory = _int(section, "memory_mb", "limits", (1, 1 << 20))
    return Limits(_int(section, "max_batch", "limits", (1, 1024), DEFAULT_MAX_BATCH), memory)


def parse(doc: dict[str, Any]) -> VisionSpec:
    """Check a classify or detect manifest's own keys.

    Raises:
        ManifestError: a key is missing or malformed; the message names it.
    """
    task = str(doc.get("task"))
    if task not in VISION_TASKS:
        raise ManifestError(f"task '{task}' is not one of {', '.join(sorted(VISION_TASKS))}")
    if "model" not in _section(doc, "files"):
        raise ManifestError("'files' must have a file of role 'model' (the .onnx graph)")
    limits(doc)
    return VisionSpec(task, _input(doc), _output(doc, task), _labels(doc))


def labels(manifest: Manifest, folder: Path) -> tuple[str, ...]:
    """The class names, inline or read from the `labels` file (UTF-8, one a line, blank lines at the end ignored).

    Raises:
        ManifestError: the file is unreadable, not UTF-8, or empty.
    """
    spec = parse(manifest.raw)
    if spec.labels_inline is not None:
        return spec.labels_inline
    return label_file(folder / manifest.file("labels").file)


def label_file(path: Path) -> tuple[str, ...]:
    """A labels file's class names: UTF-8, one a line, blank lines at the end ignored.

    Raises:
        ManifestError: the file is unreadable, not UTF-8, empty, or has a blank line among the labels.
    """
    try:
        lines = path.read_text(encoding="utf-8").rstrip("\r\n").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"'labels' file {path.name} is not readable UTF-8 text: {exc}") from exc
    if not lines or not all(line.strip() for line in lines):
        raise ManifestError(f"'labels' file {path.name} must hold one non-empty label a line")
    return tuple(line.strip() for line in lines)
