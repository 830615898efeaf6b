"""`sitelens trace JOB_ID [--json]`: one job's trace from the local stack's telemetry, as a waterfall.

Every process of the local stack writes its spans under the stack's telemetry folder (`.local/telemetry/`
for `sitelens dev` and `make demo`, named in `.local/stack.json`). The waterfall has one row per span:
service, span (indented under its parent), start offset from the first span, duration, status, and a bar.
`--json` prints the spans as a JSON list (`name, trace_id, span_id, parent_span_id, service, start, end,
status, attributes, links`; times in nanoseconds since the epoch). Exit status: 0, 1 no span names the
job, 2 usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from sitelens.trace_reader import job_spans

REPO = Path(__file__).resolve().parents[1]
BAR = 32


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("trace", help="print a job's trace from the local stack as a waterfall")
    p.add_argument("job_id")
    p.add_argument("--json", action="store_true", help="the spans as a JSON list")
    p.add_argument("--state-dir", type=Path, default=REPO / ".local", help="where the local stack's stack.json is")
    p.add_argument("--dir", type=Path, help="the telemetry folder (default: the stack's)")
    p.set_defaults(handler=run)


def telemetry_dir(state_dir: Path, explicit: Path | None = None) -> Path:
    if explicit is not None:
        return explicit
    try:
        return Path(json.loads((state_dir / "stack.json").read_text())["telemetry_dir"])
    except (OSError, ValueError, KeyError, TypeError):
        return state_dir / "telemetry"


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    folder = telemetry_dir(args.state_dir, args.dir)
    found = job_spans(folder, args.job_id) if folder.is_dir() else []
    if args.json:
        out.write(json.dumps(found, indent=2) + "\n")
    elif found:
        out.write(waterfall(found))
    if not found:
        err.write(f"no spans name job {args.job_id} under {folder}\n")
        return 1
    return 0


def _depths(spans: list[dict[str, Any]]) -> dict[str, int]:
    parents = {s["span_id"]: s.get("parent_span_id") for s in spans}
    depths: dict[str, int] = {}
    for span_id, parent in parents.items():
        depth, seen, current = 0, {span_id}, parent
        while current in parents and current not in seen:
            depth, current = depth + 1, parents[current]
            seen.add(current)
        depths[span_id] = depth
    return depths


def waterfall(spans: list[dict[str, Any]]) -> str:
    """The rows, in start order; a linked span (the node's batch) is marked with `~`."""
    first = min(s["start"] for s in spans)
    last = max(s["end"] for s in spans)
    scale = BAR / max(last - first, 1)
    depths = _depths(spans)
    traces = {s["trace_id"] for s in spans if s.get("attributes", {}).get("sitelens.job_id")}
    rows = [f"{'service':<16} {'span':<34} {'start ms':>9} {'dur ms':>9}  {'status':<6} trace {sorted(traces)[0]}"]
    for s in spans:
        linked = "~" if s["trace_id"] not in traces else " "
        name = ("  " * depths[s["span_id"]] + linked + s["name"])[:34]
        begin, length = int((s["start"] - first) * scale), max(1, int((s["end"] - s["start"]) * scale))
        bar = " " * begin + "█" * min(length, BAR - begin)
        rows.append(f"{s['service']:<16} {name:<34} {(s['start'] - first) / 1e6:>9.1f} "
                    f"{(s['end'] - s['start']) / 1e6:>9.1f}  {s['status']:<6} |{bar:<{BAR}}|")  # fmt: skip
    return "\n".join(rows) + "\n"
