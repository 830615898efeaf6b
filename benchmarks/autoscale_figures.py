"""The figures of docs/autoscale.md: each reference trace under the shipped formula (with the kick), and a
sweep of the formula's knobs, node-hours against p95 time to result, one panel per trace.

Regenerate: `.venv/bin/python -m benchmarks.autoscale_figures` (about two minutes on two cores); it writes
docs/images/autoscale-<trace>.png and docs/images/autoscale-sweep.png, and prints the sweep as JSON lines.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

from autoscale import Formula
from autoscale.knobs import knobs, with_knobs
from autoscale.plot import plot_run
from autoscale.report import oracle_for, summary
from autoscale.simulation import Settings, simulate
from autoscale.traces import REFERENCES

REPO = Path(__file__).resolve().parents[1]
TEXT = (REPO / "infra" / "autoscale.formula").read_text(encoding="utf-8")
SWEEP = {"pendingPerNode": (4, 20, 100, 400), "holdMinutes": (1, 5, 15), "minNodesAtWork": (0, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    # rounded as the trace files are, so these figures are the bench's
    traces = {name: sorted(float(f"{t:.1f}") for t, _ in generate(args.seed)) for name, generate in REFERENCES.items()}
    shipped = Formula.parse(TEXT)
    for name, arrivals in traces.items():
        settings = Settings(kick=True)
        plot_run(args.out / f"autoscale-{name}.png", arrivals, simulate(shipped, arrivals, settings),
                 oracle_for(arrivals, settings), f"infra/autoscale.formula, kick on: {name}")  # fmt: skip
    points = []
    for values in itertools.product(*SWEEP.values()):
        knobs = dict(zip(SWEEP, values, strict=True))
        formula = Formula.parse(with_knobs(TEXT, knobs))
        for kick, (name, arrivals) in itertools.product((False, True), traces.items()):
            point = {"trace": name, "kick": kick, **knobs, **_figures(formula, arrivals, Settings(kick=kick))}
            print(json.dumps(point), flush=True)
            points.append(point)
    _plot_sweep(args.out / "autoscale-sweep.png", points, list(traces))


def _figures(formula: Formula, arrivals: list[float], settings: Settings) -> dict[str, float]:
    result = summary(arrivals, simulate(formula, arrivals, settings), oracle_for(arrivals, settings), settings)
    ttr = result["time_to_result_s"]
    return {"node_hours": result["node_hours"], "oracle_node_hours": result["oracle_node_hours"], "p95_s": ttr["p95"]}


def _plot_sweep(path: Path, points: list[dict[str, object]], names: list[str]) -> None:
    import matplotlib  # noqa: PLC0415 - only this script and `simulate --plot` load it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, axes = plt.subplots(2, 2, figsize=(11, 8))
    defaults = knobs(TEXT)
    for axis, name in zip(axes.flat, names, strict=False):
        mine = [p for p in points if p["trace"] == name]
        for kick, floor in itertools.product((False, True), (0, 1)):
            chosen = [p for p in mine if p["kick"] == kick and p["minNodesAtWork"] == floor]
            axis.scatter([p["p95_s"] for p in chosen], [p["node_hours"] for p in chosen], s=18,
                         marker="o" if floor == 0 else "s", color="tab:green" if kick else "tab:gray",
                         label=f"kick {'on' if kick else 'off'}, {floor} node(s) at work")  # fmt: skip
        shipped = [p for p in mine if all(p[k] == defaults[k] for k in SWEEP)]
        axis.scatter([p["p95_s"] for p in shipped], [p["node_hours"] for p in shipped], s=80, facecolors="none",
                     edgecolors="tab:red", label="shipped knobs")  # fmt: skip
        axis.axhline(float(mine[0]["oracle_node_hours"]), color="tab:red", ls="--", lw=1, label="oracle node-hours")  # type: ignore[arg-type]
        axis.set_title(name)
        axis.set_xlabel("p95 time to result (s)")
        axis.set_ylabel("node-hours")
    axes.flat[0].legend(fontsize="x-small")
    figure.suptitle("Knob sweep: pendingPerNode 4-400, holdMinutes 1-15, minNodesAtWork 0/1, kick off/on")
    figure.tight_layout()
    figure.savefig(path, dpi=70)
    plt.close(figure)


if __name__ == "__main__":
    main()
