"""What the shipped autoscale formula costs and how long photos wait, on each reference trace, simulated.

For every reference trace (`autoscale.traces`, seed 1, written to `.local/benchmarks/traces/`), the
simulator's table for `infra/autoscale.formula` as deployed, with and without the kick (autoscale
re-enabled when a photo finds the pool empty), against the oracle of the same run, and whether the burst
traces meet the bars: every photo finished and none failed, node-hours at most 1.3x the oracle's, p95
time to result at most the oracle's p95 + the boot + one interval. Then what the kick saves the first
photo of a burst that finds the pool at zero: its time to result over 60 evaluation phases (0, 5, ...,
295 s), kick off and on. The simulation needs no Azure and no stack; figures depend only on the model's
settings (printed), not on the machine.
JSON: `.local/benchmarks/autoscale_pool.json`.
Run: `.venv/bin/python -m benchmarks.autoscale_pool [--seed 1] [--phase 0]`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from autoscale import Formula
from autoscale.report import oracle_for, percentiles, summary, table
from autoscale.simulation import Settings, simulate
from autoscale.traces import BURSTS, REFERENCES, read_trace, write_trace

REPO = Path(__file__).resolve().parents[1]
FORMULA = REPO / "infra" / "autoscale.formula"
COST_BAR = 1.3


def meets_bars(result: dict[str, Any]) -> bool:
    # Both bars are read over the finished photos only (the p95 of none is 0): a formula that leaves photos
    # unfinished or failed would pass on the photos it never served, so it misses the bars outright.
    if result["photos_finished"] != result["photos"] or result["photos_failed"] or result["ratio"] is None:
        return False
    wait_bar = result["oracle_time_to_result_s"]["p95"] + result["boot_s"] + result["interval_s"]
    return bool(result["ratio"] <= COST_BAR and result["time_to_result_s"]["p95"] <= wait_bar)


def run_all(seed: int, phase: float, traces_dir: Path) -> list[dict[str, Any]]:
    formula = Formula.parse(FORMULA.read_text(encoding="utf-8"))
    rows = []
    for name, generate in REFERENCES.items():
        path = traces_dir / f"{name}.csv"
        write_trace(path, generate(seed))
        arrivals = read_trace(path)
        for kick in (False, True):
            settings = Settings(phase_s=phase, kick=kick)
            result = summary(arrivals, simulate(formula, arrivals, settings), oracle_for(arrivals, settings), settings)
            result.update(trace=name, kick=kick, burst=name in BURSTS, meets_bars=meets_bars(result))
            rows.append(result)
    return rows


def first_photo(kick: bool) -> list[float]:
    """Time to result of a lone photo at t=600 to an empty pool, for each evaluation phase 0, 5, ... 295 s."""
    formula = Formula.parse(FORMULA.read_text(encoding="utf-8"))
    times = []
    for phase in range(0, 300, 5):
        run = simulate(formula, [600.0], Settings(phase_s=float(phase), kick=kick, horizon_s=0))
        times += run.time_to_result
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--phase", type=float, default=0.0, help="seconds from t=0 to the first evaluation")
    parser.add_argument("--out", type=Path, default=REPO / ".local" / "benchmarks" / "autoscale_pool.json")
    args = parser.parse_args()
    rows = run_all(args.seed, args.phase, args.out.parent / "traces")
    for row in rows:
        verdict = ("meets the bars" if row["meets_bars"] else "MISSES the bars") if row["burst"] else "trade-off"
        print(f"\n== {row['trace']} ({row['photos']} photos), kick {'on' if row['kick'] else 'off'}: {verdict}")
        print(table(row))
    settings = Settings()
    print(f"\nmodel: boot {settings.boot_s:g} s, interval {settings.interval_s:g} s, {settings.slots} slots per "
          f"node, {settings.service_s:.2f} s per task, evaluation phase {args.phase:g} s")  # fmt: skip
    first = {kick: percentiles(first_photo(kick)) for kick in (False, True)}
    print("\nfirst photo of a burst from zero, over 60 evaluation phases (s):")
    for kick, figures in first.items():
        print(f"  kick {'on ' if kick else 'off'}: " + ", ".join(f"{k} {v:.0f}" for k, v in figures.items()))
    saved = {k: round(first[False][k] - first[True][k], 1) for k in first[False]}
    print("  saved: " + ", ".join(f"{k} {v:.0f}" for k, v in saved.items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"traces": rows, "first_photo": {"off": first[False], "on": first[True]}}, indent=2))


if __name__ == "__main__":
    main()
