"""One simulated run against its oracle, as the JSON object and the table `sitelens autoscale simulate` prints.

Percentiles are nearest-rank: p95 is the smallest time that 95 % of the photos finished within.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from autoscale.oracle import OracleSchedule, oracle
from autoscale.simulation import Outcome, Settings

HOUR = 3600.0


def percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p95": 0.0, "max": 0.0}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[max(0, math.ceil(p * len(ordered)) - 1)]

    return {"p50": round(rank(0.50), 2), "p95": round(rank(0.95), 2), "max": round(ordered[-1], 2)}


def oracle_for(arrivals: Sequence[float], settings: Settings) -> OracleSchedule:
    return oracle(arrivals, service_s=settings.service_s, boot_s=settings.boot_s, slots=settings.slots)


def summary(arrivals: Sequence[float], run: Outcome, best: OracleSchedule, settings: Settings) -> dict[str, Any]:
    node_hours, oracle_hours = run.node_seconds / HOUR, best.node_seconds / HOUR
    return {
        "photos": len(arrivals),
        "photos_finished": len(run.time_to_result),
        "photos_failed": run.failed_photos,
        "node_hours": round(node_hours, 3),
        "oracle_node_hours": round(oracle_hours, 3),
        "ratio": round(node_hours / oracle_hours, 3) if oracle_hours > 0 else None,
        "idle_node_hours": round(run.idle_node_seconds / HOUR, 3),
        "peak_nodes": run.peak_nodes,
        "oracle_peak_nodes": best.peak_nodes,
        "evaluations": run.evaluations,
        "failed_evaluations": run.failed_evaluations,
        "kicks": run.kicks,
        "boot_s": settings.boot_s,
        "interval_s": settings.interval_s,
        "slots": settings.slots,
        "service_s": round(settings.service_s, 3),
        "time_to_result_s": percentiles(run.time_to_result),
        "oracle_time_to_result_s": percentiles([best.service_s] * len(arrivals)),
    }


def table(result: dict[str, Any]) -> str:
    ttr, best = result["time_to_result_s"], result["oracle_time_to_result_s"]
    ratio = "-" if result["ratio"] is None else f"{result['ratio']:.2f}x"
    rows = [
        ("", "formula", "oracle"),
        ("photos", f"{result['photos_finished']} of {result['photos']}", str(result["photos"])),
        ("node-hours", f"{result['node_hours']:.2f} ({ratio})", f"{result['oracle_node_hours']:.2f}"),
        ("idle node-hours", f"{result['idle_node_hours']:.2f}", ""),
        ("peak nodes", str(result["peak_nodes"]), str(result["oracle_peak_nodes"])),
        ("time to result p50", f"{ttr['p50']:.0f} s", f"{best['p50']:.0f} s"),
        ("time to result p95", f"{ttr['p95']:.0f} s", f"{best['p95']:.0f} s"),
        ("time to result max", f"{ttr['max']:.0f} s", f"{best['max']:.0f} s"),
        ("evaluations", f"{result['evaluations']} ({result['failed_evaluations']} failed)", ""),
        ("kicks", str(result["kicks"]), ""),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows)
