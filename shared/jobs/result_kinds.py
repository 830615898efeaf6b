"""A result document's kind, and the summary the status API and webhooks show for each kind.

A node writes one result document per photo whose `schema` names the model's task:

    sitelens.ocr.result/1       result = {width, height, lines: [{text, score, polygon}]}
    sitelens.classify.result/1  result = {width, height, labels: [{label, score}]}  (best first)
    sitelens.detect.result/1    result = {width, height, boxes: [{label, class_id, score, box}]}  (best first)

A document without a schema (a node of an older release) is OCR's. The summary is what a client sees without
downloading the result: its `kind`, the image size, and a bounded preview of what was read (the first lines,
the top labels, the box count and the best boxes). A summary stored before summaries had a kind is OCR's.

Each string the summary shows (a line's text, a label, an unknown schema) is cut to MAX_SHOWN_CHARS: it comes from
the node, and labels from a model's manifest, with no length of their own. The job's summary and the webhook event
that carries it are each one Table string property (at most 32K UTF-16 code units); JSON writes a character outside
ASCII as `\\uXXXX`, 6 characters for each code unit, so the bound is counted in UTF-16 code units: every preview slot
full of them stays well inside the property (tests/unit/jobs/test_summary_bounds.py works the worst case out).
A summary stored by an earlier release, whose strings were not cut, is cut where it is shown (`with_kind`, which
every status document and webhook event goes through), a reused one copied from it included.

A node may be a release ahead of the app (a deploy uploads the node package first; rolling the app back leaves
the nodes as they are), so a schema this release does not list is not an error: a later version of a known
kind (`sitelens.ocr.result/2`) is read with that kind's reader, for the members this release knows; one it
cannot read that way, or a kind this release does not know, is summarised as `{"kind": "unknown", "schema"}`.
The photo was read all the same, and its whole result stays behind the job's link.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

OCR, CLASSIFY, DETECT = "ocr", "classify", "detect"
UNKNOWN = "unknown"  # a kind, or a later version of one, that this release cannot read
SCHEMAS = {
    "sitelens.ocr.result/1": OCR,
    "sitelens.classify.result/1": CLASSIFY,
    "sitelens.detect.result/1": DETECT,
}
VERSIONED = re.compile(r"sitelens\.(?P<kind>[a-z0-9_-]+)\.result/(?P<version>[0-9]{1,9})")
KNOWN_VERSION = {kind: int(schema.rsplit("/", 1)[1]) for schema, kind in SCHEMAS.items()}
PREVIEW_LINES = 20
PREVIEW_LABELS = 5
PREVIEW_BOXES = 10
MAX_SHOWN_CHARS = 200  # UTF-16 code units of each string shown; as many as a feedback label (feedback.MAX_BOX_LABEL)
# What reading a malformed document raises: a member missing or of the wrong type, a number past what a float or
# an int holds (OverflowError: a 400-digit score, a `class_id` of Infinity) or nesting past Python's recursion limit
# (RecursionError, from json.loads or str()). Each is the document's fault, never the reader's.
READ_ERRORS = (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError)


def kind_of_result(result: dict[str, Any]) -> tuple[str, bool]:
    """The kind a result document's `schema` names, and whether it is a later version than this release knows.

    No schema is OCR (an older node); a schema this release does not read is UNKNOWN; a `schema` that is not a
    string is a malformed document (TypeError)."""
    schema = result.get("schema")
    if schema is None:
        return OCR, False
    if not isinstance(schema, str):
        raise TypeError(f"'schema' is {type(schema).__name__}, not a string")
    if schema in SCHEMAS:
        return SCHEMAS[schema], False
    named = VERSIONED.fullmatch(schema)
    if named and named["kind"] in KNOWN_VERSION and int(named["version"]) > KNOWN_VERSION[named["kind"]]:
        return named["kind"], True
    return UNKNOWN, False


def kind_of_summary(summary: dict[str, Any]) -> str:
    """The kind of a stored summary; one without `kind` was written for OCR before other kinds existed."""
    kind = summary.get("kind", OCR)
    return str(kind) if kind in (OCR, CLASSIFY, DETECT) else OCR


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    """The summary of a result document (raises one of READ_ERRORS when a schema this release knows is broken, or
    when what the summary shows is NaN, Infinity or a number past a float: the status API and webhooks serve it as
    JSON, which has no such numbers). Members the summary does not show, and schemas it does not read, are not
    looked at."""
    summary = _summary(result)
    try:
        json.dumps(summary, allow_nan=False)
    except ValueError as exc:
        raise ValueError(f"the summary would hold a number JSON has not: {exc}") from exc
    return summary


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    """The summary of a result document (raises one of READ_ERRORS when a schema this release knows is broken).

    A later version of a known kind is read as the known one when it can be, its kind's list present; otherwise,
    like a kind this release does not know, it is summarised as UNKNOWN rather than refused."""
    kind, later = kind_of_result(result)
    if kind == UNKNOWN:
        return unknown(result)
    if later:
        try:
            return _read(kind, result, required=True)
        except READ_ERRORS:
            return unknown(result)
    return _read(kind, result, required=False)


def unknown(result: dict[str, Any]) -> dict[str, Any]:
    """The summary of a result this release cannot read: which schema it is, nothing of what it says."""
    return {"kind": UNKNOWN, "schema": shown(result.get("schema"))}


def shown(value: Any) -> str:
    """`value` as text, cut to its first MAX_SHOWN_CHARS UTF-16 code units (a character past U+FFFF is two, as
    JavaScript and Table storage count them), never inside a character."""
    text, units = str(value), 0
    for at, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > MAX_SHOWN_CHARS:
            return text[:at]
    return text


def _read(kind: str, result: dict[str, Any], *, required: bool) -> dict[str, Any]:
    """`kind`'s summary of `result`; `required`: its list must be there (a missing one is not read as empty)."""
    inner = result.get("result", result)
    size = {"width": inner.get("width"), "height": inner.get("height")}
    if kind == CLASSIFY:
        labels = _list(inner, "labels", required=required)
        top = [{"label": shown(item["label"]), "score": float(item["score"])} for item in labels[:PREVIEW_LABELS]]
        return {"kind": kind, **size, "labels": top}
    if kind == DETECT:
        boxes = _list(inner, "boxes", required=required)
        best = [_box(item) for item in boxes[:PREVIEW_BOXES]]
        return {"kind": kind, **size, "boxes": len(boxes), "best": best}
    lines = _list(inner, "lines", required=required)
    return {"kind": kind, "lines": len(lines), "text": [shown(line.get("text", "")) for line in lines[:PREVIEW_LINES]],
            **size}  # fmt: skip


def with_kind(summary: dict[str, Any]) -> dict[str, Any]:
    """A stored summary as the status document and a webhook event show it: its `kind` spelled out (a stored OCR
    summary may predate the member), and each string it shows cut as `summarise` cuts it. A summary stored by a
    release before the cut may hold longer ones, and is served (a job reusing its result copies it) for as long as
    results are kept. Cutting again changes nothing; a member missing or of another type is left as it is."""
    shown_summary = dict(summary) if "kind" in summary else {"kind": OCR, **summary}
    kind = shown_summary["kind"]
    member, cut = _SHOWN_MEMBER.get(kind, ("", None)) if isinstance(kind, str) else ("", None)
    if cut is not None and member in shown_summary:
        shown_summary[member] = cut(shown_summary[member])
    return shown_summary


def _cut_text(value: Any) -> Any:
    """A stored string cut; anything else as it is."""
    return shown(value) if isinstance(value, str) else value


def _cut_texts(values: Any) -> Any:
    """Each string of a stored list cut; anything else as it is."""
    return [_cut_text(value) for value in values] if isinstance(values, list) else values


def _cut_labels(items: Any) -> Any:
    """Each `label` of a stored list of labelled items cut; anything else as it is."""
    if not isinstance(items, list):
        return items
    return [{**item, "label": _cut_text(item["label"])} if isinstance(item, dict) and "label" in item else item
            for item in items]  # fmt: skip


# The member of each kind's summary that holds the strings it shows, and how each is cut.
_SHOWN_MEMBER: dict[str, tuple[str, Callable[[Any], Any]]] = {
    OCR: ("text", _cut_texts),
    CLASSIFY: ("labels", _cut_labels),
    DETECT: ("best", _cut_labels),
    UNKNOWN: ("schema", _cut_text),
}


def _list(inner: dict[str, Any], name: str, *, required: bool) -> list[dict[str, Any]]:
    if required and name not in inner:
        raise KeyError(name)
    value = inner.get(name, [])
    if not isinstance(value, list):
        raise TypeError(f"{name!r} is not a list")
    return value


def _box(item: dict[str, Any]) -> dict[str, Any]:
    box = [float(v) for v in item["box"]]
    if len(box) != 4:
        raise ValueError(f"a box has {len(box)} coordinates, not 4")
    return {"label": shown(item["label"]), "class_id": int(item["class_id"]), "score": float(item["score"]),
            "box": box}  # fmt: skip
