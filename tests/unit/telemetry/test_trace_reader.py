"""`sitelens.trace_reader` over span files as the local export writes them: a job's trace takes the batch that
served its photo with the batch's stages, and a line a process was writing or left torn is skipped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sitelens.trace_reader import job_spans, spans


def span(name: str, trace: str, span_id: str, parent: str | None = None, **more: Any) -> dict[str, Any]:
    start = int(span_id, 16)
    return {"name": name, "trace_id": trace * 16, "span_id": span_id * 8, "service": "sitelens-node",
            "parent_span_id": parent * 8 if parent else None, "kind": "internal", "start": start, "end": start + 10,
            "status": "unset", "attributes": more.pop("attributes", {}), "links": more.pop("links", [])}  # fmt: skip


def write(path: Path, docs: list[dict[str, Any]], tail: str = "") -> None:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs) + tail)


def test_a_jobs_trace_has_the_linked_batch_and_every_span_under_it_and_nothing_of_other_batches(tmp_path: Path):
    write(tmp_path / "sitelens-node-7.spans.jsonl", [
        span("node.job", "aa", "01", attributes={"sitelens.job_id": "j_x"}),
        span("infer", "aa", "02", "01"),
        span("node.batch", "bb", "03", links=[{"trace_id": "aa" * 16, "span_id": "02" * 8}]),
        span("det", "bb", "04", "03"), span("cls", "bb", "05", "03"), span("rec", "bb", "06", "03"),
        span("node.job", "cc", "07", attributes={"sitelens.job_id": "j_other"}),
        span("infer", "cc", "08", "07"),
        span("node.batch", "dd", "09", links=[{"trace_id": "cc" * 16, "span_id": "08" * 8}]),
        span("det", "dd", "0a", "09"),
    ])  # fmt: skip
    assert [s["name"] for s in job_spans(tmp_path, "j_x")] == ["node.job", "infer", "node.batch", "det", "cls", "rec"]
    assert [s["span_id"][:2] for s in job_spans(tmp_path, "j_other")] == ["07", "08", "09", "0a"]


def test_a_torn_line_and_a_line_still_being_written_are_skipped(tmp_path: Path):
    good = span("node.job", "aa", "01", attributes={"sitelens.job_id": "j_x"})
    torn = json.dumps(span("infer", "aa", "02", "01"))[:40]  # a process died here; its pid's next one appended
    path = tmp_path / "sitelens-node-1.spans.jsonl"
    path.write_text(json.dumps(good) + "\n" + torn + json.dumps(span("decode", "aa", "03", "01")) + "\n" + torn)
    assert [s["name"] for s in spans(tmp_path)] == ["node.job"]
    assert [s["name"] for s in job_spans(tmp_path, "j_x")] == ["node.job"]
