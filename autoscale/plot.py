"""A picture of one simulated run: arrivals, pending tasks, target and current nodes, the oracle's nodes.

matplotlib is imported here only, with the Agg backend, so the other `sitelens autoscale` commands never
load it.
"""

from __future__ import annotations

from pathlib import Path

from autoscale.oracle import OracleSchedule
from autoscale.simulation import Outcome

HOUR = 3600.0


def plot_run(path: Path, arrivals: list[float], outcome: Outcome, oracle: OracleSchedule, title: str) -> None:
    import matplotlib  # noqa: PLC0415 - lazily: only this command pays for it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    times = [p.t / HOUR for p in outcome.timeline]
    figure, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(10, 6), height_ratios=(1, 2))
    end = max(times[-1] if times else 0.0, 1 / 60)
    top.hist([a / HOUR for a in arrivals], bins=max(1, int(end * 12)), range=(0, end), color="tab:gray")
    top.set_ylabel("photos / 5 min")
    top.set_title(title)
    bottom.plot(times, [p.pending for p in outcome.timeline], color="tab:orange", label="pending tasks", lw=1)
    bottom.set_ylabel("pending tasks")
    nodes_axis = bottom.twinx()
    nodes_axis.step(times, [p.target for p in outcome.timeline], where="post", color="tab:blue", label="target nodes")
    nodes_axis.step(times, [p.nodes for p in outcome.timeline], where="post", color="tab:green", label="nodes")
    oracle_nodes = [oracle.nodes_at(p.t) for p in outcome.timeline]
    nodes_axis.step(times, oracle_nodes, where="post", color="tab:red", ls="--", label="oracle's nodes")
    nodes_axis.set_ylabel("nodes")
    bottom.set_xlabel("hours from the trace's start")
    handles = bottom.get_legend_handles_labels()[0] + nodes_axis.get_legend_handles_labels()[0]
    bottom.legend(handles=handles, loc="upper right", fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    plt.close(figure)
