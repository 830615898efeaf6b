"""The clairvoyant pool: the least node-time in which any pool can serve every photo without queueing.

It knows every arrival, and pays the same boot time `B` and service time `S` as the simulated pool, with
`k` task slots per node. Serving a photo without queueing means it starts on arrival and ends `S` later,
so at time `t` the photos in service number `c(t)` (arrivals in `(t - S, t]`), and at least
`n(t) = ceil(c(t) / k)` nodes must be ready. Level `j` is the set of times where `n(t) >= j`.

Why this is the least: any node ready at `t` was allocated at least `B` before `t` and is still billed at
`t`, so wherever level `j` is demanded, at least `j` nodes are billed over the `B` seconds before too. The
billed count is therefore at least `j` on level `j`'s intervals each widened `B` backwards; where two of
those widened intervals overlap (a gap of at most `B` between demands) the node is kept through the gap,
otherwise it is released and a new one boots. Summing the measure of that set over the levels is this
bound, and the schedule that allocates level `j`'s node `B` before each of its (merged) intervals and
releases it at their end meets it exactly with one slot per node. With `k > 1` slots the count treats the
ready nodes' slots as one pool (as if a photo could move to another node's free slot), so a real pool,
which keeps each task on its node, may need a little more: the bound stays a bound. Either way no pool that
serves every photo as fast can use fewer node-seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class OracleSchedule:
    node_seconds: float
    # Per level j (index j-1): the billed intervals (allocation, release) of the node that serves it.
    billed: tuple[tuple[tuple[float, float], ...], ...]
    service_s: float

    @property
    def peak_nodes(self) -> int:
        return len(self.billed)

    def nodes_at(self, t: float) -> int:
        """Nodes billed at `t` (allocated at or before, released after)."""
        return sum(1 for level in self.billed if any(a <= t < r for a, r in level))


def demand_levels(arrivals: Sequence[float], service_s: float, slots: int) -> list[list[tuple[float, float]]]:
    """Per level j, the maximal intervals where ceil(c(t) / slots) >= j; a photo occupies [a, a + S)."""
    # At one instant a photo that ends frees its slot before one that arrives takes it.
    events = sorted([(a + service_s, -1) for a in arrivals] + [(a, 1) for a in arrivals])
    levels: list[list[tuple[float, float]]] = []
    opened: list[float] = []  # opened[j-1]: when level j's current interval began
    busy = 0
    index = 0
    while index < len(events):
        t = events[index][0]
        while index < len(events) and events[index][0] == t:
            busy += events[index][1]
            index += 1
        needed = math.ceil(busy / slots)
        while len(opened) < needed:
            opened.append(t)
        while len(opened) > needed:
            start = opened.pop()
            level = len(opened)
            while len(levels) <= level:
                levels.append([])
            levels[level].append((start, t))
    return levels


def billed_intervals(demand: Sequence[tuple[float, float]], boot_s: float) -> list[tuple[float, float]]:
    """One level's node: allocated `boot_s` before each demand, kept through a gap of at most `boot_s`."""
    billed: list[tuple[float, float]] = []
    for start, end in demand:
        allocated = start - boot_s
        if billed and allocated <= billed[-1][1]:  # keeping the node costs no more than booting another
            billed[-1] = (billed[-1][0], end)
        else:
            billed.append((allocated, end))
    return billed


def oracle(arrivals: Sequence[float], *, service_s: float, boot_s: float, slots: int) -> OracleSchedule:
    if service_s <= 0 or boot_s < 0 or slots < 1:
        raise ValueError("service time must be positive, boot time not negative, slots at least 1")
    levels = [tuple(billed_intervals(d, boot_s)) for d in demand_levels(arrivals, service_s, slots)]
    seconds = sum(r - a for level in levels for a, r in level)
    return OracleSchedule(node_seconds=seconds, billed=tuple(levels), service_s=service_s)
