"""`sitelens trace JOB [--json]` over a telemetry folder: the job's spans, its exit status, the stack's folder."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

from sitelens import trace

T1, T2 = "a" * 32, "b" * 32


def _span(name: str, trace_id: str, span_id: str, parent: str | None, start: int, **extra: object) -> dict[str, object]:
    return {
        "name": name,
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent,
        "service": "svc",
        "start": start,
        "end": start + 1_000_000,
        "status": "unset",
        "attributes": {},
        "links": [],
        **extra,
    }


def _folder(tmp_path: Path) -> Path:
    spans = [
        _span("ingest", T1, "1" * 16, None, 10, attributes={"sitelens.job_id": "j_a"}),
        _span("submit", T1, "2" * 16, "1" * 16, 20),
        _span("node.batch", T2, "3" * 16, None, 30, links=[{"trace_id": T1, "span_id": "2" * 16}]),
        _span("ingest", "c" * 32, "4" * 16, None, 5, attributes={"sitelens.job_id": "j_other"}),
    ]
    folder = tmp_path / "telemetry"
    folder.mkdir()
    (folder / "svc-1.spans.jsonl").write_text("".join(json.dumps(s) + "\n" for s in spans) + '{"partial')
    return folder


def _run(folder: Path, job: str, *, as_json: bool) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    args = argparse.Namespace(job_id=job, json=as_json, state_dir=folder.parent, dir=None)
    return trace.run(args, out, err), out.getvalue(), err.getvalue()


def test_the_json_lists_the_jobs_trace_and_the_batch_linked_to_it(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (tmp_path / "stack.json").write_text(json.dumps({"telemetry_dir": str(folder)}))
    code, out, _ = _run(folder, "j_a", as_json=True)
    assert code == 0
    assert [s["name"] for s in json.loads(out)] == ["ingest", "submit", "node.batch"]  # a half-written line waits


def test_the_waterfall_indents_children_and_an_unknown_job_exits_1(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    code, out, _ = _run(folder, "j_a", as_json=False)
    rows = out.splitlines()
    assert code == 0 and T1 in rows[0]
    assert [row[17:51].rstrip() for row in rows[1:]] == [" ingest", "   submit", "~node.batch"]
    code, out, err = _run(folder, "j_missing", as_json=False)
    assert (code, out) == (1, "") and "no spans name job j_missing" in err
