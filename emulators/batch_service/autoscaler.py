"""Autoscale on a pool, with the `autoscale/` engine: the one module that knows that engine's API.

Formulas are checked when a pool is created or autoscale enabled (400 `AutoScalingFormulaSyntaxError`,
`AutoScalingFormulaTooLong`), intervals must lie between 5 minutes and 168 hours (400
`InvalidPropertyValue`), and enable calls on one pool must be 30 seconds apart (503
`TooManyEnableAutoScaleRequests`), all in emulated time. Every 30 emulated seconds each pool's metrics
are sampled into its history (visible to formulas after the engine's lag); each autoscale pool is
evaluated when its schedule starts (pool created, autoscale enabled, or re-enabled with an interval: a
re-enable with a formula alone keeps the schedule) and then at its interval; an evaluation that succeeds sets the
pool's targets and deallocation option, which the node manager then converges on. The last run is the
pool's `autoScaleRun`. Histories live in memory: a restarted service starts them afresh, as Azure does
when autoscale is enabled.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from autoscale import SAMPLE_PERIOD, Formula, FormulaError, Metrics, PoolState
from autoscale.samples import pool_sample
from emulators.batch_service import documents
from emulators.batch_service.clock import Clock
from emulators.batch_service.nodes import NodeManager
from emulators.batch_service.store import Doc, Store
from emulators.batch_service.wire import BatchError, duration, duration_text, invalid, stamp

MIN_INTERVAL = timedelta(minutes=5)
MAX_INTERVAL = timedelta(hours=168)
DEFAULT_INTERVAL = timedelta(minutes=15)
ENABLE_SPACING = timedelta(seconds=30)


def parse(text: object) -> Formula:
    """A formula checked as the service checks it on create, enable and evaluate."""
    try:
        return Formula.parse(str(text))
    except FormulaError as exc:
        raise BatchError(exc.code, exc.message, {"Message": exc.value}) from exc


def interval(text: object) -> timedelta | None:
    value = duration(text, "autoScaleEvaluationInterval")
    if value is not None and not MIN_INTERVAL <= value <= MAX_INTERVAL:
        raise invalid("autoScaleEvaluationInterval", "must be between 5 minutes and 168 hours")
    return value


class Autoscaler:
    def __init__(self, store: Store, clock: Clock, nodes: NodeManager) -> None:
        self.store, self.clock, self.nodes = store, clock, nodes
        self.metrics: dict[str, Metrics] = {}
        self._next_sample = clock.now()

    # --- requests ---------------------------------------------------------------------------------------
    def on_create(self, pool: Doc) -> None:
        """Check a new autoscale pool's settings; its first evaluation comes at once."""
        parse(pool["autoScaleFormula"])
        pool["autoScaleEvaluationInterval"] = duration_text(
            interval(pool.get("autoScaleEvaluationInterval")) or DEFAULT_INTERVAL
        )
        pool["_nextEvaluation"] = self.clock.now().isoformat()
        pool["_lastEnable"] = self.clock.now().isoformat()

    def enable(self, pool: Doc, body: Doc) -> None:
        """Enable, or change the formula or interval of, autoscale on a pool."""
        if pool["allocationState"] != "steady" and not pool["enableAutoScale"]:
            raise BatchError("PoolBeingResized")
        formula_text, every = body.get("autoScaleFormula"), interval(body.get("autoScaleEvaluationInterval"))
        if not pool["enableAutoScale"] and not formula_text:
            raise BatchError("InvalidAutoScalingSettings", "A formula is required to enable autoscale.")
        if pool["enableAutoScale"] and not formula_text and every is None:
            raise BatchError("InvalidAutoScalingSettings", "Give a formula, an evaluation interval, or both.")
        if formula_text:
            parse(formula_text)
        now = self.clock.now()
        last = pool.get("_lastEnable")
        if last and now - datetime.fromisoformat(last) < ENABLE_SPACING:
            raise BatchError("TooManyEnableAutoScaleRequests")
        if formula_text:
            pool["autoScaleFormula"] = formula_text
        # Documented: enabling starts a schedule; on a pool that has one, a request that gives an interval
        # (whether or not it differs) stops it and starts a new one from the request's time, and one that
        # omits the interval keeps the current schedule. A new schedule evaluates at its start
        # (undocumented; as on a pool created with autoscale). docs/autoscale.md, "Scale from zero".
        if every is not None or not pool["enableAutoScale"]:
            pool["autoScaleEvaluationInterval"] = duration_text(every or DEFAULT_INTERVAL)
            pool["_nextEvaluation"] = now.isoformat()
        pool.update(enableAutoScale=True, _lastEnable=now.isoformat())
        documents.touch(pool)

    @staticmethod
    def disable(pool: Doc) -> None:
        """The pool keeps its current targets; the formula and schedule go."""
        pool["enableAutoScale"] = False
        for key in ("autoScaleFormula", "autoScaleEvaluationInterval", "_nextEvaluation", "autoScaleRun"):
            pool.pop(key, None)
        pool["resizeTimeout"] = pool.get("resizeTimeout") or "PT15M"
        documents.touch(pool)

    def evaluate(self, pool: Doc, text: object) -> dict[str, Any]:
        """The Evaluate API: run a formula against the pool without applying it."""
        if not pool["enableAutoScale"]:
            raise BatchError("OperationInvalidForCurrentState", "Autoscale is not enabled on the pool.")
        return self._run(pool, parse(text), self.clock.now())[0]

    # --- the schedule ----------------------------------------------------------------------------------
    def tick(self, now: datetime) -> bool:
        """Sample when a period has passed and evaluate the pools that are due; True if a pool changed."""
        if now >= self._next_sample:
            self._sample(now)
            # Keep the 30 s rhythm, but never try to catch up on periods the loop slept through.
            self._next_sample = max(self._next_sample + SAMPLE_PERIOD, now)
        changed = False
        for pool in self.store.pools.values():
            due = pool.get("_nextEvaluation")
            if pool.get("enableAutoScale") and pool["state"] == "active" and due and now >= datetime.fromisoformat(due):
                self._evaluate_and_apply(pool, now)
                changed = True
        return changed

    def _pool_state(self, pool: Doc) -> PoolState:
        return PoolState(
            target_dedicated=int(pool["targetDedicatedNodes"]),
            target_low_priority=int(pool["targetLowPriorityNodes"]),
            current_dedicated=int(pool["currentDedicatedNodes"]),
            current_low_priority=int(pool["currentLowPriorityNodes"]),
            task_slots_per_node=int(pool["taskSlotsPerNode"]),
        )

    def _run(self, pool: Doc, formula: Formula, now: datetime) -> tuple[dict[str, Any], Any]:
        metrics = self.metrics.setdefault(pool["id"].lower(), Metrics())
        # rand() differs from one evaluation to the next, yet one evaluation can be replayed from its time
        run = formula.evaluate(self._pool_state(pool), metrics, now=now, seed=int(now.timestamp() * 1000))
        body: dict[str, Any] = {"timestamp": stamp(now), "results": run.results}
        if run.error is not None:
            body["error"] = run.error.as_dict()
        return body, run.applied

    def _evaluate_and_apply(self, pool: Doc, now: datetime) -> None:
        body, applied = self._run(pool, Formula.parse(pool["autoScaleFormula"]), now)
        pool["autoScaleRun"] = body
        if applied is not None:  # a failed run leaves the pool as it is
            pool["targetDedicatedNodes"] = applied.dedicated
            pool["targetLowPriorityNodes"] = applied.low_priority
            pool["_deallocation"] = applied.node_deallocation_option
        every = duration(pool.get("autoScaleEvaluationInterval")) or DEFAULT_INTERVAL
        pool["_nextEvaluation"] = (now + every).isoformat()
        documents.touch(pool)

    def _sample(self, now: datetime) -> None:
        for pool in self.store.pools.values():
            metrics = self.metrics.setdefault(pool["id"].lower(), Metrics())
            # $ActiveTasks counts tasks ready to run: an active task of a job that is not active (a terminated
            # job keeps its active tasks, unscheduled) is not counted. Azure documents the metric as tasks
            # "ready to execute" and says nothing of such jobs: this reading is unverified there.
            tasks = [
                t
                for job, t in self.store.tasks_of_pool(pool["id"])
                if job["state"] == "active" or t["state"] == "completed"
            ]
            active = sum(1 for t in tasks if t["state"] == "active")
            running = sum(1 for t in tasks if t["state"] in ("running", "preparing"))
            done = [t for t in tasks if t["state"] == "completed"]
            succeeded = sum(1 for t in done if t["executionInfo"].get("result") == "success")
            # the same sample the simulator records (autoscale.samples.pool_sample)
            values = pool_sample(
                active=active,
                running=running,
                succeeded=succeeded,
                failed=len(done) - succeeded,
                slots_per_node=int(pool["taskSlotsPerNode"]),
                dedicated=int(pool["currentDedicatedNodes"]),
                low_priority=int(pool["currentLowPriorityNodes"]),
                usable=self.nodes.usable(pool),
            )
            for name, value in values.items():
                metrics.of(name).record(now, float(value))
