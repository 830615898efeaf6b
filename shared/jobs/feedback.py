"""Feedback on a job, kept for retraining: which members a job of each kind takes, and their checks.

    ocr       label, text, note     (as before kinds existed)
    classify  label, note           label: the right class
    detect    boxes, note           boxes: [{"label": str, "box": [x1, y1, x2, y2]}] in the photo's pixels

A job without a result yet (not SUCCEEDED) has no known kind and takes what an OCR job takes. A member
that does not fit the job's kind is refused (`feedback_wrong_kind`) rather than kept where no one would
read it; a malformed one is `bad_feedback`.

Feedback is kept once: its id is a hash of its members as `read` normalised them (nulls dropped, coordinates
as numbers), so the same feedback sent again (a client's retry) answers the entry already kept. A job keeps
at most MAX_PER_JOB entries; another is refused `feedback_limit`.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from shared import request_body
from shared.errors import InvalidInput, PermanentError
from shared.jobs import result_kinds
from shared.jobs.models import Job, JobState

TEXT_FIELDS = {"label": 200, "text": 4000, "note": 2000}  # member -> most characters
BOXES = "boxes"
MAX_BOXES = 200
MAX_BOX_LABEL = 200
FIELDS_BY_KIND = {
    result_kinds.OCR: frozenset({"label", "text", "note"}),
    result_kinds.CLASSIFY: frozenset({"label", "note"}),
    result_kinds.DETECT: frozenset({BOXES, "note"}),
}
ALL_FIELDS = frozenset(TEXT_FIELDS) | {BOXES}
MAX_PER_JOB = 100  # entries kept per job: corrections for retraining, not a log to grow without end


def read(doc: dict[str, Any]) -> dict[str, Any]:
    """The feedback members of a request body, each checked by type and size (the job is not read yet)."""
    kept: dict[str, Any] = {
        key: value
        for key, cap in TEXT_FIELDS.items()
        if (value := request_body.text(doc, key, max_chars=cap, reason="bad_feedback")) is not None
    }
    if doc.get(BOXES) is not None:
        kept[BOXES] = _boxes(doc[BOXES])
    if not kept:
        raise InvalidInput(f"give at least one of {sorted(ALL_FIELDS)}", reason="bad_feedback")
    return kept


def feedback_id(kept: dict[str, Any]) -> str:
    """The id of the feedback `read` kept: the same members give the same id, whatever their order or spelling."""
    canonical = json.dumps(kept, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "fb_" + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def limit_reached(job_id: str) -> PermanentError:
    """What a store raises for feedback past MAX_PER_JOB on one job: retrying cannot help."""
    return PermanentError(f"job {job_id} already has {MAX_PER_JOB} feedback entries, the most kept per job",
                          reason="feedback_limit")  # fmt: skip


def kind_of(job: Job) -> str:
    """The job's kind from its result's summary; OCR's until it has one."""
    return result_kinds.kind_of_summary(job.summary) if job.state is JobState.SUCCEEDED else result_kinds.OCR


def check_for(job: Job, kept: dict[str, Any]) -> None:
    """Refuse members the job's kind does not take, and boxes that are empty, inside out or outside the photo.

    What openapi.json's schema can say is checked by `read`, before the job is read; what it cannot (one
    coordinate against another, or against the photo) only here, so a body the schema allows is never
    refused for an unknown job before its 404."""
    kind = kind_of(job)
    wrong = sorted(set(kept) - FIELDS_BY_KIND[kind])
    if wrong:
        allowed = ", ".join(sorted(FIELDS_BY_KIND[kind]))
        raise InvalidInput(f"a {kind} job takes {allowed}, not {', '.join(wrong)}", reason="feedback_wrong_kind")
    width, height = job.summary.get("width"), job.summary.get("height")
    for n, item in enumerate(kept.get(BOXES, [])):
        x1, y1, x2, y2 = item["box"]
        if not (x1 < x2 and y1 < y2):
            raise InvalidInput(f"boxes[{n}].box must have x1 < x2 and y1 < y2", reason="bad_feedback")
        if (isinstance(width, int) and x2 > width) or (isinstance(height, int) and y2 > height):
            raise InvalidInput(f"boxes[{n}] reaches past the {width}x{height} photo", reason="bad_feedback")


def _boxes(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise InvalidInput("'boxes' must be a list of {label, box}", reason="bad_feedback")
    if len(value) > MAX_BOXES:
        raise InvalidInput(f"'boxes' may hold at most {MAX_BOXES} boxes, not {len(value)}", reason="bad_feedback")
    return [_box(n, item) for n, item in enumerate(value)]


def _box(n: int, item: object) -> dict[str, Any]:
    """One corrected box as {label, box: [x1, y1, x2, y2]}, four numbers >= 0 (their order: `check_for`)."""
    if not isinstance(item, dict):
        raise InvalidInput(f"boxes[{n}] must be an object with 'label' and 'box'", reason="bad_feedback")
    label = request_body.text(item, "label", max_chars=MAX_BOX_LABEL, min_chars=1, reason="bad_feedback")
    if label is None:
        raise InvalidInput(f"boxes[{n}] needs a 'label'", reason="bad_feedback")
    box = item.get("box")
    if not (isinstance(box, list) and len(box) == 4 and all(_number(v) for v in box)):
        raise InvalidInput(f"boxes[{n}].box must be four numbers [x1, y1, x2, y2]", reason="bad_feedback")
    corners = [float(v) for v in box]
    if min(corners) < 0:
        raise InvalidInput(f"boxes[{n}].box has a negative coordinate", reason="bad_feedback")
    return {"label": label, "box": corners}


def _number(value: object) -> bool:
    # A bool is an int to Python but not a number to JSON; an integer past a float's range is no coordinate.
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False
