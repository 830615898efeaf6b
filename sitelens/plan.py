"""Capacity planning: the pool's knobs for an expected load and a target wait, checked by the simulator.

The paper arithmetic first: a burst of `burst_size` photos over `burst_minutes` arrives at
`burst_size / (60 * burst_minutes)` photos/s, the day's photos over the working hours at their own average
rate, and a node serves `photos_per_node_s`, so the cap must be at least `ceil(rate / photos_per_node_s)`
nodes for the higher of the two. Then the simulator, on a synthetic working day of that load
(`synthetic_day`, where bursts may overlap), runs the deployed formula for each candidate (the cap from the
arithmetic up to two more, `pendingPerNode` 20/100/400, `minNodesAtWork` 0/1) and keeps the cheapest whose
p95 time to result meets the target; while none does, it tries one cap more, up to `max_cap`. Monthly
cost = simulated node-hours per working day x working days x price.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoscale import Formula
from autoscale.knobs import with_knobs
from autoscale.report import oracle_for, summary
from autoscale.simulation import Settings, simulate

FORMULA = Path(__file__).resolve().parents[1] / "infra" / "autoscale.formula"


@dataclass(frozen=True)
class VmSize:
    name: str
    gpu: str
    vcpus: int
    price_per_hour: float  # USD, East US, Linux pay-as-you-go: an example (docs/autoscale.md gives the source)


# N-series sizes for inference (docs/autoscale.md, "Capacity planning"): example prices, to be confirmed.
VM_SIZES = {
    size.name.lower(): size
    for size in (
        VmSize("Standard_NC4as_T4_v3", "1x T4 16 GB", 4, 0.526),
        VmSize("Standard_NC8as_T4_v3", "1x T4 16 GB", 8, 0.752),
        VmSize("Standard_NC16as_T4_v3", "1x T4 16 GB", 16, 1.204),
        VmSize("Standard_NC64as_T4_v3", "4x T4 16 GB", 64, 4.352),
        VmSize("Standard_NC40ads_H100_v5", "1x H100 NVL 94 GB", 40, 6.98),
    )
}
DEFAULT_VM = "standard_nc4as_t4_v3"  # what Bicep deploys: the cheapest size with a whole GPU
SLOTS_PER_NODE = 4  # the slot count the node's throughput was measured with (docs/performance.md)


@dataclass(frozen=True)
class Load:
    photos_per_day: int
    burst_size: int
    burst_minutes: float
    work_start_hour: int = 7
    work_end_hour: int = 18
    workdays_per_month: float = 22.0

    def __post_init__(self) -> None:
        if self.photos_per_day < 1 or self.burst_size < 1:  # a burst of none never fills the day
            raise ValueError("a load needs at least one photo a day and one photo a burst")


@dataclass(frozen=True)
class Plan:
    vm: VmSize
    price_per_hour: float
    slots: int
    knobs: dict[str, float]
    paper_nodes: int
    result: dict[str, Any]
    meets_target: bool
    workdays_per_month: float
    max_nodes_tried: int

    @property
    def node_hours_per_day(self) -> float:
        return float(self.result["node_hours"])

    @property
    def monthly_cost(self) -> float:
        return self.node_hours_per_day * self.workdays_per_month * self.price_per_hour


def paper_nodes(load: Load, photos_per_node_s: float) -> int:
    """Nodes that keep up with one burst at its own rate and with the day's photos over the working hours."""
    burst = load.burst_size / (60.0 * load.burst_minutes)
    day = load.photos_per_day / (3600.0 * (load.work_end_hour - load.work_start_hour))
    return max(1, math.ceil(max(burst, day) / photos_per_node_s))


def max_cap(nodes: int) -> int:
    """The widest cap the search tries when none up to two above the arithmetic meets the target."""
    return 2 * nodes + 2


def synthetic_day(load: Load, seed: int = 1) -> list[float]:
    """`photos_per_day` photos in bursts of `burst_size` over `burst_minutes`, at random in working hours."""
    rng = random.Random(seed)
    start, end = load.work_start_hour * 3600.0, load.work_end_hour * 3600.0
    length = 60.0 * load.burst_minutes
    arrivals: list[float] = []
    while len(arrivals) < load.photos_per_day:
        begin = rng.uniform(start, max(start, end - length))
        size = min(load.burst_size, load.photos_per_day - len(arrivals))
        arrivals += [begin + rng.uniform(0, length) for _ in range(size)]
    return sorted(arrivals)


def plan(load: Load, *, target_p95_s: float, vm: VmSize, price_per_hour: float, settings: Settings,
         photos_per_node_s: float) -> Plan:  # fmt: skip
    """The cheapest simulated candidate meeting the target, else the fastest one."""
    arrivals = synthetic_day(load)
    text = FORMULA.read_text(encoding="utf-8")
    nodes = paper_nodes(load, photos_per_node_s)
    best = oracle_for(arrivals, settings)
    candidates: list[tuple[dict[str, float], dict[str, Any]]] = []
    zone: dict[str, float] = {"workStartHour": load.work_start_hour, "workEndHour": load.work_end_hour}
    meeting: list[tuple[dict[str, float], dict[str, Any]]] = []
    cap = nodes - 1
    # Bursts that overlap need more than the arithmetic: widen the caps one at a time until one meets.
    while cap < nodes + 2 or (not meeting and cap < max_cap(nodes)):
        cap += 1
        for per_node, floor in itertools.product((20, 100, 400), (0, 1)):
            knobs: dict[str, float] = {"maxNodes": cap, "pendingPerNode": per_node, "minNodesAtWork": floor, **zone}
            run = simulate(Formula.parse(with_knobs(text, knobs)), arrivals, settings)
            candidates.append((knobs, summary(arrivals, run, best, settings)))
        meeting = [c for c in candidates if c[1]["time_to_result_s"]["p95"] <= target_p95_s]
    if meeting:
        knobs, result = min(meeting, key=lambda c: (c[1]["node_hours"], c[1]["time_to_result_s"]["p95"]))
    else:
        knobs, result = min(candidates, key=lambda c: (c[1]["time_to_result_s"]["p95"], c[1]["node_hours"]))
    return Plan(vm=vm, price_per_hour=price_per_hour, slots=settings.slots, knobs=knobs, paper_nodes=nodes,
                result=result, meets_target=bool(meeting), workdays_per_month=load.workdays_per_month,
                max_nodes_tried=cap)  # fmt: skip
