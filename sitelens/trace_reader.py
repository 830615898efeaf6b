"""Reading back what the local stack's processes exported (`batch_tasks.telemetry_files`): spans and metrics.

One reader for `sitelens trace`, the demo and the tests. A job's trace is every span of a trace that holds a
span naming the job (`sitelens.job_id`), plus the node's batch spans that link to one of them and the spans
under those (the batch's `det`, `cls`, `rec`): a batch serves many photos, so it lives in its own trace and
points at each photo's span instead. A line a process was still writing, or left torn when it died, is
skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

JOB_ATTRIBUTE = "sitelens.job_id"


def _lines(folder: Path, suffix: str) -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(folder.glob(f"*{suffix}")):
        with path.open(encoding="utf-8") as f:
            for line in f:
                if not line.endswith("\n"):  # a line still being written is read next time
                    continue
                try:
                    doc = json.loads(line)
                except json.JSONDecodeError:  # torn by a process that died mid-line, then ended by one with its pid
                    continue
                yield path, doc


def spans(folder: Path) -> list[dict[str, Any]]:
    return [doc for _, doc in _lines(folder, ".spans.jsonl")]


def job_spans(folder: Path, job_id: str) -> list[dict[str, Any]]:
    """The job's trace(s) in start order, with the linked batch spans; empty when nothing names the job."""
    every = spans(folder)
    traces = {s["trace_id"] for s in every if s.get("attributes", {}).get(JOB_ATTRIBUTE) == job_id}
    ids = {s["span_id"] for s in every if s["trace_id"] in traces}
    children: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
    for s in every:
        children.setdefault((s["trace_id"], s.get("parent_span_id")), []).append(s)
    chosen = [s for s in every if s["trace_id"] in traces]
    todo = [s for s in every if s["trace_id"] not in traces and any(x["span_id"] in ids for x in s.get("links", []))]
    seen: set[tuple[str, str]] = set()
    while todo:  # each linked batch span and every span under it
        span = todo.pop()
        if (span["trace_id"], span["span_id"]) not in seen:
            seen.add((span["trace_id"], span["span_id"]))
            chosen.append(span)
            todo.extend(children.get((span["trace_id"], span["span_id"]), []))
    return sorted(chosen, key=lambda s: (s["start"], s["end"]))


def counters(folder: Path) -> dict[tuple[str, tuple[tuple[str, Any], ...]], float]:
    """Every counter's total by (name, attributes) across processes: the last cumulative point of each."""
    last: dict[tuple[str, str, tuple[tuple[str, Any], ...]], float] = {}
    for path, doc in _lines(folder, ".metrics.jsonl"):
        if "value" in doc:
            key = (path.name, doc["metric"], tuple(sorted(doc["attributes"].items())))
            last[key] = doc["value"]
    totals: dict[tuple[str, tuple[tuple[str, Any], ...]], float] = {}
    for (_, name, attributes), value in last.items():
        totals[(name, attributes)] = totals.get((name, attributes), 0) + value
    return totals


def total(folder: Path, name: str, **match: Any) -> float:
    """The sum of counter `name` over every attribute set that includes `match`."""
    return sum(v for (n, attrs), v in counters(folder).items() if n == name and match.items() <= dict(attrs).items())
