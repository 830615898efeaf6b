"""Model routing: `models/routing.json` splits traffic between model versions by weight.

    {"routes": [{"model": "ocr/ppocrv4", "weight": 90}, {"model": "ocr/ppocrv4-int8", "weight": 10}]}

The choice is a stable hash of the job id, so a redelivered photo always lands on the same model, and the
chosen model is recorded on the job.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence

from shared.errors import InvalidInput

MODEL_KEY = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,40}/[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$")


def parse(document: bytes) -> list[tuple[str, int]]:
    """The routes of a routing.json; raises InvalidInput (reason `bad_routing`) with what is wrong."""
    try:
        routes = json.loads(document)["routes"]
        parsed = [(str(r["model"]), int(r["weight"])) for r in routes]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"routing.json is malformed: {exc}", reason="bad_routing") from exc
    for model, weight in parsed:
        if not MODEL_KEY.match(model) or weight < 0:
            raise InvalidInput(f"routing.json: bad route {model!r} weight {weight}", reason="bad_routing")
    if parsed and sum(w for _, w in parsed) == 0:
        raise InvalidInput("routing.json: every weight is zero", reason="bad_routing")
    return parsed


def choose(job_id: str, routes: Sequence[tuple[str, int]], default: str) -> str:
    """The model for `job_id`: a point in [0, total weight) from sha256(job id), walked along the routes."""
    live = [(m, w) for m, w in routes if w > 0]
    if not live:
        return default
    total = sum(w for _, w in live)
    point = int.from_bytes(hashlib.sha256(job_id.encode()).digest()[:8], "big") % total
    for model, weight in live:
        if point < weight:
            return model
        point -= weight
    raise AssertionError("unreachable: point < total")
