"""A result document's kind, and the summary the status API and webhooks show for each kind.

A node writes one result document per photo whose `schema` names the model's task:

    sitelens.ocr.result/1       result = {width, height, lines: [{text, score, polygon}]}
    sitelens.classify.result/1  result = {width, height, labels: [{label, score}]}  (best first)
    sitelens.detect.result/1    result = {width, height, boxes: [{label, class_id, score, box}]}  (best first)

A document without a schema (a node of an older release) is OCR's. The summary is what a client sees without
downloading the result: its `kind`, the image size, and a bounded preview of what was read (the first lines,
the top labels, the box count and the best boxes). A summary stored before summaries had a kind is OCR's.
"""

from __future__ import annotations

from typing import Any

OCR, CLASSIFY, DETECT = "ocr", "classify", "detect"
SCHEMAS = {
    "sitelens.ocr.result/1": OCR,
    "sitelens.classify.result/1": CLASSIFY,
    "sitelens.detect.result/1": DETECT,
}
PREVIEW_LINES = 20
PREVIEW_LABELS = 5
PREVIEW_BOXES = 10


def kind_of_result(result: dict[str, Any]) -> str:
    """The kind a result document's `schema` names; no schema is OCR; an unknown one is an error."""
    schema = result.get("schema")
    if schema is None:
        return OCR
    if schema not in SCHEMAS:
        raise ValueError(f"unknown result schema {schema!r}")
    return SCHEMAS[str(schema)]


def kind_of_summary(summary: dict[str, Any]) -> str:
    """The kind of a stored summary; one without `kind` was written for OCR before other kinds existed."""
    kind = summary.get("kind", OCR)
    return str(kind) if kind in (OCR, CLASSIFY, DETECT) else OCR


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    """The summary of a result document (raises ValueError/TypeError/AttributeError when it is malformed)."""
    kind = kind_of_result(result)
    inner = result.get("result", result)
    size = {"width": inner.get("width"), "height": inner.get("height")}
    if kind == CLASSIFY:
        labels = _list(inner, "labels")
        top = [{"label": str(item["label"]), "score": float(item["score"])} for item in labels[:PREVIEW_LABELS]]
        return {"kind": kind, **size, "labels": top}
    if kind == DETECT:
        boxes = _list(inner, "boxes")
        best = [_box(item) for item in boxes[:PREVIEW_BOXES]]
        return {"kind": kind, **size, "boxes": len(boxes), "best": best}
    lines = _list(inner, "lines")
    return {"kind": kind, "lines": len(lines), "text": [str(line.get("text", "")) for line in lines[:PREVIEW_LINES]],
            **size}  # fmt: skip


def with_kind(summary: dict[str, Any]) -> dict[str, Any]:
    """`summary` with its `kind` spelled out (a stored OCR summary may predate the member)."""
    return summary if "kind" in summary else {"kind": OCR, **summary}


def _list(inner: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = inner.get(name, [])
    if not isinstance(value, list):
        raise TypeError(f"{name!r} is not a list")
    return value


def _box(item: dict[str, Any]) -> dict[str, Any]:
    box = [float(v) for v in item["box"]]
    if len(box) != 4:
        raise ValueError(f"a box has {len(box)} coordinates, not 4")
    return {"label": str(item["label"]), "class_id": int(item["class_id"]), "score": float(item["score"]),
            "box": box}  # fmt: skip
