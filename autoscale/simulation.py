"""A Batch pool run by an autoscale formula, on a virtual clock: what a trace of photos costs and waits.

Discrete events, in this order at one instant: task ends, nodes ready, arrivals, the 30 s metric
sample, a kick, an evaluation. The formula runs in this project's evaluator every `interval_s` (the first
at `phase_s`) over metric histories sampled every 30 s with the evaluator's visibility lag, pre-filled
with ten minutes of an empty pool (a pool that has existed for a while). A successful evaluation sets the
target, truncated as Azure does, and the deallocation option; a failed one leaves both. Nodes are
allocated at once and ready `boot_s` later; removal takes idle and booting nodes first, then the least
busy (the local Batch service's order); `taskcompletion`/`retaineddata` keep a node until its tasks end,
`requeue` puts its tasks back at the head of the queue, `terminate` fails them. Tasks start on the
emptiest ready node with a free slot (Batch's default spread; the deployment sets
`nodeFillType` Pack, and simulated both ways the reference traces give the same node-hours and times to
result) and run `service_s`. Node time is billed from allocation to release.

The kick (docs/autoscale.md, "Scale from zero"): a photo that arrives while the pool's target is 0 claims
a kick, at most one per 90 s; at `KICK_POLLS_S` after its arrival the formula is evaluated without applying
it (the Evaluate API) until it gives a target of 1 or more; then autoscale is enabled again (refused within
30 s of the last enable), which evaluates at once, applies, and restarts the schedule from then.
The run lasts until the later of `horizon_s` and the last arrival, then on until every photo is done and the
formula has taken the pool back to zero, so that a late burst's hold and scale-down are billed like any
other's (a day more at most). Nodes a floor keeps past the end, which a pool that never empties has, are
billed until every photo was done, as the day's.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from autoscale.evaluator import Formula, PoolState
from autoscale.samples import SAMPLE_PERIOD, Metrics, pool_sample

ENABLE_SPACING_S = 30.0  # Azure refuses a second enable on a pool within 30 s (TooManyEnableAutoScaleRequests)
KICK_CLAIM_SPACING_S = 90.0  # one kick per pool per 90 s across function instances
# The waker's Evaluate calls after the claim: at once, then backing off from 1 s to 10 s, for at most 90 s.
KICK_POLLS_S = (0.0, 1.0, 3.0, 7.0, 15.0, 25.0, 35.0, 45.0, 55.0, 65.0, 75.0, 85.0)
MIN_INTERVAL_S = 300.0  # Azure's shortest evaluation interval
_END, _READY, _ARRIVAL, _SAMPLE, _KICK, _EVALUATE = range(6)
_PERIOD = SAMPLE_PERIOD.total_seconds()
_PREFILL_S = 600.0


@dataclass(frozen=True)
class Settings:
    interval_s: float = MIN_INTERVAL_S
    boot_s: float = 600.0
    slots: int = 4
    service_s: float = 4 / 2.04
    lag_s: float = 30.0
    phase_s: float = 0.0
    kick: bool = False
    start: datetime = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday, midnight UTC
    horizon_s: float = 86400.0


@dataclass
class _Node:
    allocated: float
    ready: float
    tasks: set[int] = field(default_factory=set)
    leaving: bool = False
    idle_since: float | None = None  # ready and empty since


@dataclass(frozen=True)
class Point:
    t: float
    pending: int
    target: int
    nodes: int


@dataclass
class Outcome:
    time_to_result: list[float] = field(default_factory=list)
    failed_photos: int = 0
    node_seconds: float = 0.0
    idle_node_seconds: float = 0.0
    peak_nodes: int = 0
    evaluations: int = 0
    failed_evaluations: int = 0
    kicks: int = 0
    end_s: float = 0.0
    timeline: list[Point] = field(default_factory=list)


class Simulation:
    def __init__(self, formula: Formula, arrivals: list[float], settings: Settings) -> None:
        if settings.interval_s < MIN_INTERVAL_S:
            raise ValueError(f"the evaluation interval must be at least {MIN_INTERVAL_S:g} s, as in Azure")
        self.formula, self.s = formula, settings
        self.arrivals = sorted(arrivals)
        self.out = Outcome()
        self.metrics = Metrics(lag=timedelta(seconds=settings.lag_s))
        self.nodes: list[_Node] = []
        self.queue: deque[int] = deque()  # photo indexes waiting, oldest first
        self.running: dict[int, tuple[_Node, float]] = {}  # photo → (its node, when it ends)
        self.target, self.option = 0, "requeue"
        self.succeeded, self.arrived = 0, 0
        self.last_enable, self.last_claim, self.polling, self.schedule = -1e18, -1e18, False, 0
        self._events: list[tuple[float, int, int, int]] = []
        self._seq = itertools.count()

    def _push(self, t: float, kind: int, data: int = 0) -> None:
        heapq.heappush(self._events, (t, kind, next(self._seq), data))

    def _at(self, t: float) -> datetime:
        return self.s.start + timedelta(seconds=t)

    def run(self) -> Outcome:
        for before in range(-int(_PREFILL_S), 0, int(_PERIOD)):
            self._sample(float(before), record_point=False)
        for index, arrival in enumerate(self.arrivals):
            self._push(arrival, _ARRIVAL, index)
        self._push(0.0, _SAMPLE)
        self._push(self.s.phase_s, _EVALUATE, self.schedule)
        last = self.arrivals[-1] if self.arrivals else 0.0
        horizon = max(self.s.horizon_s, last)
        settled: float | None = None  # past the horizon with every photo done: the day's work is over
        t = 0.0
        while self._events:
            t, kind, _, data = heapq.heappop(self._events)
            done = self.arrived == len(self.arrivals) and not self.queue and not self.running
            if settled is None and t >= horizon and done:
                settled = t
            if t > horizon + 86400 or (settled is not None and not self.nodes):
                break
            self._handle(t, kind, data)
        self.out.end_s = t
        for node in list(self.nodes):  # never scaled down: a floor, billed as the day's until it was over
            self._release(node, max(node.allocated, t if settled is None else settled))
        return self.out

    def _handle(self, t: float, kind: int, data: int) -> None:
        if kind == _END:
            self._end(t, data)
        elif kind == _READY:
            for node in self._staying():
                if node.ready <= t and not node.tasks and node.idle_since is None:
                    node.idle_since = node.ready
        elif kind == _ARRIVAL:
            self.queue.append(data)
            self.arrived += 1
            if self.s.kick and not self.polling and self.target == 0 and t - self.last_claim >= KICK_CLAIM_SPACING_S:
                self.polling, self.last_claim = True, t
                self._push(t, _KICK, 0)
        elif kind == _SAMPLE:
            self._sample(t, record_point=True)
            self._push(t + _PERIOD, _SAMPLE)
        elif kind == _KICK:
            self._poll(t, data)
        elif kind == _EVALUATE and data == self.schedule:
            self._evaluate(t)
        self._dispatch(t)

    def _end(self, t: float, task: int) -> None:
        if self.running.get(task, (None, -1.0))[1] != t:
            return  # a task that a scale-down put back in the queue: it ends later, elsewhere
        node = self.running.pop(task)[0]
        node.tasks.discard(task)
        self.out.time_to_result.append(t - self.arrivals[task])
        self.succeeded += 1
        if not node.tasks:
            node.idle_since = t
            if node.leaving:
                self._release(node, t)

    def _poll(self, t: float, polls: int) -> None:
        """One Evaluate call of the waker; enable autoscale once the formula sees the work."""
        run = self.formula.evaluate(self._pool_state(), self.metrics, now=self._at(t), seed=int(t * 1000))
        if run.applied is not None and run.applied.dedicated >= 1:
            self.polling = False
            if t - self.last_enable >= ENABLE_SPACING_S:  # else refused: another enable just did it
                self.last_enable = t
                self.out.kicks += 1
                self.schedule += 1  # the old schedule stops; a new one starts now
                self._evaluate(t)
        elif polls + 1 < len(KICK_POLLS_S):
            self._push(self.last_claim + KICK_POLLS_S[polls + 1], _KICK, polls + 1)
        else:
            self.polling = False  # gave up: the scheduled evaluation will see it

    def _pool_state(self) -> PoolState:
        return PoolState(target_dedicated=self.target, current_dedicated=len(self._staying()),
                         task_slots_per_node=self.s.slots)  # fmt: skip

    def _staying(self) -> list[_Node]:
        return [n for n in self.nodes if not n.leaving]

    def _sample(self, t: float, *, record_point: bool) -> None:
        staying = self._staying()
        usable = sum(1 for n in staying if n.ready <= t)
        values = pool_sample(active=len(self.queue), running=len(self.running), succeeded=self.succeeded,
                             failed=self.out.failed_photos, slots_per_node=self.s.slots, dedicated=len(staying),
                             low_priority=0, usable=usable)  # fmt: skip
        at = self._at(t)
        for name, value in values.items():
            self.metrics.of(name).record(at, value)
        if record_point:
            pending = len(self.queue) + len(self.running)
            self.out.timeline.append(Point(t, pending, self.target, len(self.nodes)))

    def _evaluate(self, t: float) -> None:
        run = self.formula.evaluate(self._pool_state(), self.metrics, now=self._at(t), seed=int(t * 1000))
        self.out.evaluations += 1
        if run.applied is None:
            self.out.failed_evaluations += 1
        else:
            self.target, self.option = run.applied.dedicated, run.applied.node_deallocation_option
        self._push(t + self.s.interval_s, _EVALUATE, self.schedule)
        self._converge(t)

    def _converge(self, t: float) -> None:
        staying = self._staying()
        for _ in range(self.target - len(staying)):
            self.nodes.append(_Node(allocated=t, ready=t + self.s.boot_s))
            self._push(t + self.s.boot_s, _READY)
        self.out.peak_nodes = max(self.out.peak_nodes, len(self.nodes))
        excess = len(staying) - self.target
        # Nodes doing nothing (booting or idle) go first, then the least busy.
        for node in sorted(staying, key=lambda n: (bool(n.tasks), len(n.tasks)))[: max(0, excess)]:
            node.leaving = True
            if self.option in ("requeue", "terminate"):
                for task in sorted(node.tasks, reverse=True):
                    del self.running[task]
                    if self.option == "requeue":
                        self.queue.appendleft(task)
                    else:
                        self.out.failed_photos += 1
                node.tasks.clear()
            if not node.tasks:
                self._release(node, t)

    def _release(self, node: _Node, t: float) -> None:
        if node.idle_since is not None:
            self.out.idle_node_seconds += max(0.0, t - node.idle_since)
        self.out.node_seconds += t - node.allocated
        self.nodes.remove(node)

    def _dispatch(self, t: float) -> None:
        while self.queue:
            free = [n for n in self._staying() if n.ready <= t and len(n.tasks) < self.s.slots]
            if not free:
                return
            node = min(free, key=lambda n: len(n.tasks))
            if node.idle_since is not None:
                self.out.idle_node_seconds += t - node.idle_since
                node.idle_since = None
            task = self.queue.popleft()
            node.tasks.add(task)
            self.running[task] = (node, t + self.s.service_s)
            self._push(t + self.s.service_s, _END, task)


def simulate(formula: Formula, arrivals: list[float], settings: Settings) -> Outcome:
    return Simulation(formula, arrivals, settings).run()
