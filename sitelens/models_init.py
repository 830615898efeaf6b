"""`sitelens models init`: an exported ONNX graph becomes a model folder a node can serve.

The graph is inspected first (sitelens/onnx_graph.py: ONNX Runtime must load it; sitelens/model_shapes.py:
its tensors must fit the kind); the manifest takes what the graph says (input name, layout, size, output
name, detect format, class count, embedded class names, and the batch it runs, tried on blank inputs) and
flags give the rest. What cannot be served is refused before anything is written, and the manifest written
is checked by the node's own parser.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

from batch_tasks.models import vision_spec
from batch_tasks.models.manifest import ManifestError, load, parse, sha256_of
from batch_tasks.models.vision_spec import CHANNEL_ORDERS, DETECT_FORMATS, LAYOUTS, OUTPUT_TYPES, RESIZE_MODES
from sitelens import model_shapes
from sitelens.onnx_graph import GraphInfo, GraphRefused, inspect

MODEL_FILE, LABELS_FILE = "model.onnx", "labels.txt"
DEFAULT_MAX_BATCH = 8


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("init", help="make a classify or detect model folder from an exported .onnx graph")
    p.add_argument("--kind", choices=("classify", "detect"), required=True)
    p.add_argument("--onnx", type=Path, required=True, help="the exported graph (one file, no external data)")
    p.add_argument("--labels", type=Path, help="class names, UTF-8, one a line (default: names the graph embeds)")
    p.add_argument("--name", required=True, help="the model's name (the id is NAME/VERSION)")
    p.add_argument("--version", required=True)
    p.add_argument("--out", type=Path, help="the folder to write (default models/KIND/NAME/VERSION)")
    p.add_argument("--force", action="store_true", help="replace a folder that exists")
    p.add_argument("--license", default="unspecified", help="the model's licence (SPDX id)")
    p.add_argument("--attribution", default="", help="who made the model, as its licence asks")
    g = p.add_argument_group("input (defaults from the graph)")
    g.add_argument("--layout", choices=LAYOUTS, help="default: the axis of size 3")
    g.add_argument("--size", type=_size, help="HxW, when the graph leaves height and width open")
    g.add_argument("--resize", choices=RESIZE_MODES, help="default: stretch (classify), letterbox (detect)")
    g.add_argument("--channel-order", choices=CHANNEL_ORDERS, default="RGB")
    g.add_argument("--scale", type=_number, default=1 / 255, help="multiplies 0..255 pixels first (default 1/255)")
    g.add_argument("--mean", type=_triple, default=(0.0, 0.0, 0.0), help="three numbers, e.g. 0.485,0.456,0.406")
    g.add_argument("--std", type=_triple, default=(1.0, 1.0, 1.0), help="three numbers, e.g. 0.229,0.224,0.225")
    g.add_argument("--pad-value", type=int, default=114, help="letterbox padding, 0..255")
    o = p.add_argument_group("output (defaults from the graph)")
    o.add_argument("--output-name", help="the output to read, when the graph has several")
    o.add_argument("--output-type", choices=OUTPUT_TYPES, help="classify; default: probabilities after a Softmax")
    o.add_argument("--format", choices=DETECT_FORMATS, help="detect; default: the one the output's shape fits")
    o.add_argument("--top-k", type=int, help="classify: labels reported (default min(5, C))")
    o.add_argument("--score-threshold", type=float, default=0.25, help="detect: lowest score kept")
    o.add_argument("--iou-threshold", type=float, default=0.45, help="detect: NMS overlap (yolov8, yolov5)")
    o.add_argument("--max-detections", type=int, help="detect: boxes kept per photo (default 100)")
    lim = p.add_argument_group("limits")
    lim.add_argument("--max-batch", type=int, help=f"photos per run (default {DEFAULT_MAX_BATCH}; 1 if fixed at 1)")
    lim.add_argument("--memory-mb", type=int, help="ONNX Runtime arena cap for this model")
    p.set_defaults(handler=run_init)


def _size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not HxW, e.g. 640x640") from exc
    return height, width


def _number(text: str) -> float:
    try:
        return float(Fraction(text))
    except (ValueError, ZeroDivisionError) as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (1/255 and 0.0039 both work)") from exc


def _triple(text: str) -> tuple[float, float, float]:
    values = [_number(v) for v in text.split(",")]
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"{text!r} is not three comma-separated numbers")
    return values[0], values[1], values[2]


def read_labels(path: Path) -> list[str]:
    """The labels file as a node will read it (`vision_spec.label_file`), refused the same way."""
    try:
        return list(vision_spec.label_file(path))
    except ManifestError as exc:
        raise GraphRefused(f"--labels {path}: {exc}") from exc


def _labels(args: argparse.Namespace, info: GraphInfo) -> list[str] | None:
    return read_labels(args.labels) if args.labels else info.class_names()


def max_batch(args: argparse.Namespace, info: GraphInfo, shape: model_shapes.InputShape) -> tuple[int, str | None]:
    """`limits.max_batch` and, when it had to be lowered to 1, a note saying why. A batch axis the graph declares
    dynamic may still be fixed inside it (a Reshape to 1, as `x.view(1, -1)` exports), and a node batches
    photos that arrive together: so the graph is run once on two blank inputs, and again on one if that fails."""
    if shape.fixed_batch is not None:
        if (args.max_batch or 1) > shape.fixed_batch:
            raise GraphRefused(f"the graph fixes its batch at {shape.fixed_batch}; export it with a dynamic batch "
                               "axis for --max-batch above that")  # fmt: skip
        return args.max_batch or shape.fixed_batch, None  # a node pads each batch to the fixed size
    wanted = args.max_batch or DEFAULT_MAX_BATCH
    together = info.run_error(2, shape.layout, shape.size) if wanted > 1 else None
    if together is None:
        return wanted, None
    alone = info.run_error(1, shape.layout, shape.size)
    if alone is not None:
        raise GraphRefused(f"ONNX Runtime cannot run the graph on a blank {shape.layout} "
                           f"{shape.size[0]}x{shape.size[1]} input: {alone}")  # fmt: skip
    why = (f"the graph declares a dynamic batch axis but runs only one image at a time (two together: {together}); "
           "export it so that every operator keeps the batch axis (x.flatten(1), not x.view(1, -1))")  # fmt: skip
    if args.max_batch:
        raise GraphRefused(f"{why} for --max-batch above 1")
    return 1, f"{why} to let a node batch photos; max_batch is 1"


def build_manifest(args: argparse.Namespace, info: GraphInfo) -> tuple[dict[str, Any], list[str]]:
    """The manifest for this graph and these flags (files still to be added), and notes on what the graph
    lowered; GraphRefused if unservable."""
    labels = _labels(args, info)
    shape = model_shapes.graph_input(info, args.layout, args.size)
    count = len(labels) if labels is not None else None
    if args.kind == "classify":
        out, classes = model_shapes.classify_output(info, args.output_name, count)
        kind = args.output_type or ("probabilities" if out.name in info.softmax_outputs else "logits")
        output: dict[str, Any] = {"name": out.name, "type": kind, "top_k": args.top_k or min(5, classes)}
    else:
        out, fmt = model_shapes.detect_output(info, args.output_name, args.format, count)
        classes = model_shapes.detect_classes(out, fmt) or 0
        kept = args.max_detections or (out.static(1) if fmt == "nms" else None) or 100
        output = {"name": out.name, "format": fmt, "score_threshold": args.score_threshold,
                  "iou_threshold": args.iou_threshold, "max_detections": kept}  # fmt: skip
    if labels is None:
        if classes <= 0:
            raise GraphRefused("the graph does not say how many classes it has: pass --labels")
        labels = [f"class_{i}" for i in range(classes)]
    resize = args.resize or ("stretch" if args.kind == "classify" else "letterbox")
    spec: dict[str, Any] = {"name": shape.name, "layout": shape.layout, "size": list(shape.size), "resize": resize,
                            "channel_order": args.channel_order, "scale": args.scale, "mean": list(args.mean),
                            "std": list(args.std), "dtype": "float32"}  # fmt: skip
    if resize == "letterbox":
        spec["pad_value"] = args.pad_value
    batch, note = max_batch(args, info, shape)
    limits: dict[str, Any] = {"max_batch": batch}
    if args.memory_mb is not None:
        limits["memory_mb"] = args.memory_mb
    doc: dict[str, Any] = {"name": args.name, "version": args.version, "task": args.kind, "files": {},
                           "input": spec, "output": output, "limits": limits, "license": args.license,
                           "attribution": args.attribution}  # fmt: skip
    doc["labels"] = labels  # kept inline unless a labels file was given (write_folder moves it there)
    return doc, [note] if note else []


def _entry(path: Path) -> dict[str, Any]:
    return {"file": path.name, "sha256": sha256_of(path), "bytes": path.stat().st_size}


def write_folder(out: Path, graph: Path, doc: dict[str, Any], *, labels_file: bool, force: bool) -> Path:
    """Check the manifest with the node's parser, then write the folder (the manifest last) and verify it."""
    staged = dict(doc)
    fake_entry = {"file": MODEL_FILE, "sha256": "0" * 64, "bytes": 0}
    staged["files"] = {"model": fake_entry} | ({"labels": fake_entry | {"file": LABELS_FILE}} if labels_file else {})
    if labels_file:
        del staged["labels"]
    parse(staged)  # ManifestError names the key before anything is written
    # Read before anything is removed: with --force the graph may be the folder's own model.onnx (a re-init with
    # other flags); the labels were read by build_manifest.
    graph_bytes = graph.read_bytes()
    if out.exists() and any(out.iterdir()):
        if not force:
            raise GraphRefused(f"{out} exists and is not empty: pass --force to replace it")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MODEL_FILE).write_bytes(graph_bytes)
    staged["files"] = {"model": _entry(out / MODEL_FILE)}
    if labels_file:
        (out / LABELS_FILE).write_text("".join(f"{label}\n" for label in doc["labels"]), encoding="utf-8")
        staged["files"]["labels"] = _entry(out / LABELS_FILE)
    (out / "manifest.json").write_text(json.dumps(staged, indent=2) + "\n", encoding="utf-8")
    load(out)
    return out


def run_init(args: argparse.Namespace) -> int:
    out = args.out or Path("models") / args.kind / args.name / args.version
    try:
        info = inspect(args.onnx)
        doc, notes = build_manifest(args, info)
        write_folder(out, args.onnx, doc, labels_file=args.labels is not None, force=args.force)
    except (GraphRefused, ManifestError) as exc:
        print(f"models init: refused: {exc}", file=sys.stderr)
        return 1
    print(f"{out}: {args.kind} model {args.name}/{args.version}, opset {info.opset}")
    print(f"  input  {doc['input']['name']} {doc['input']['layout']} {doc['input']['size'][0]}x"
          f"{doc['input']['size'][1]}, resize {doc['input']['resize']}")  # fmt: skip
    described = doc["output"].get("format") or doc["output"]["type"]
    print(f"  output {doc['output']['name']} ({described}), {len(doc['labels'])} labels")
    for note in notes:
        print(f"  note: {note}")
    print(f"next: sitelens models test {out} PHOTO.jpg, then sitelens models publish {out}")
    return 0
