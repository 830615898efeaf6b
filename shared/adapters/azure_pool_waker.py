"""PoolWaker on Azure Batch: bring a pool at zero's next autoscale evaluation forward (docs/autoscale.md,
"Scale from zero").

Azure documents that enabling autoscale with an evaluation interval on a pool that has autoscale stops
its schedule and starts a new one from the request; a new schedule evaluates at its start. So after a
submission this adapter (1) looks at the pool at most once per `look_every` per instance, and goes on only
when autoscale is on and the pool's target is zero; (2) claims the kick in a row of the jobs table, one
claim per pool per `claim_hold` across instances (a conditional write: insert if absent, else replace if
the ETag still matches); (3) in the background, runs the pool's own formula through the Evaluate API at
once, then after `first_poll`, doubling up to `poll`, until it asks for a node (the task must first reach
the 30 s samples, which the formula sees 30 s later; work queued a while ago may be seen at once), for at
most `give_up`; (4) enables autoscale with the pool's current interval and no formula, so a formula
deployed meanwhile is never overwritten. `TooManyEnableAutoScaleRequests` (another caller did it within
30 s) counts as done.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from azure.batch import BatchClient, models
from azure.core import MatchConditions
from azure.data.tables import TableClient, UpdateMode

from shared.adapters.azure_errors import call, service_code
from shared.errors import Conflict, NotFound, SitelensError, TransientError

log = logging.getLogger(__name__)
PARTITION = "poolwake"  # a partition of the jobs table of its own: the store's queries never read it
_POOL_FIELDS = ["id", "enableAutoScale", "autoScaleFormula", "autoScaleEvaluationInterval",
                "targetDedicatedNodes", "targetLowPriorityNodes"]  # fmt: skip
_TARGETS = ("$TargetDedicatedNodes", "$TargetLowPriorityNodes")


def _background(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="sitelens-pool-waker", daemon=True).start()


def asks_for_nodes(results: str | None) -> bool:
    """Whether an autoscale run's results string sets a target of 1 or more (Azure truncates targets)."""
    for item in (results or "").split(";"):
        name, _, value = item.partition("=")
        if name in _TARGETS:
            try:
                if float(value) >= 1:
                    return True
            except ValueError:
                continue
    return False


class BatchPoolWaker:
    def __init__(
        self,
        client: BatchClient,
        pool_id: str,
        claims: TableClient,
        *,
        look_every: timedelta = timedelta(seconds=30),
        claim_hold: timedelta = timedelta(seconds=90),
        first_poll: timedelta = timedelta(seconds=1),
        poll: timedelta = timedelta(seconds=10),
        give_up: timedelta = timedelta(seconds=90),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        background: Callable[[Callable[[], None]], None] = _background,
    ) -> None:
        self.client, self.pool_id, self.claims = client, pool_id, claims
        self.look_every, self.claim_hold, self.give_up = look_every, claim_hold, give_up
        self.first_poll, self.poll = min(first_poll, poll), poll
        self.clock, self.sleep, self.background = clock, sleep, background
        self._last_look: datetime | None = None
        self._lock = threading.Lock()
        self.looks = self.evaluations = self.kicks = 0  # Batch calls made, for the measurements in docs/autoscale.md

    def wake(self) -> None:
        now = self.clock()
        with self._lock:
            if self._last_look is not None and now - self._last_look < self.look_every:
                return
            self._last_look = now
        self.looks += 1
        pool = call(f"pool {self.pool_id}", self.client.get_pool, self.pool_id, select=_POOL_FIELDS)
        if not pool.enable_auto_scale or (pool.target_dedicated_nodes or 0) + (pool.target_low_priority_nodes or 0):
            return
        if not self._claim(now):
            return
        log.info("pool %s is at zero with work queued: bringing its evaluation forward", self.pool_id)
        formula, interval = pool.auto_scale_formula or "", pool.auto_scale_evaluation_interval
        self.background(lambda: self._kick_when_seen(formula, interval))

    def _claim(self, now: datetime) -> bool:
        """One kick per pool per `claim_hold` across instances; False when another instance holds it."""
        what = f"pool {self.pool_id} wake claim"
        row = {"PartitionKey": PARTITION, "RowKey": self.pool_id, "ClaimedAt": now}
        try:
            held = call(what, self.claims.get_entity, PARTITION, self.pool_id)
        except NotFound:
            try:
                call(what, self.claims.create_entity, row)
            except Conflict:
                return False  # another instance inserted it first
            return True
        claimed_at = held.get("ClaimedAt")
        if isinstance(claimed_at, datetime) and now - claimed_at < self.claim_hold:
            return False
        try:
            call(what, self.claims.update_entity, row, mode=UpdateMode.REPLACE,
                 etag=held.metadata["etag"], match_condition=MatchConditions.IfNotModified)  # fmt: skip
        except Conflict:
            return False
        return True

    def _kick_when_seen(self, formula: str, interval: timedelta | None) -> None:
        """Runs in the background: never raises, a failure leaves the pool to its schedule."""
        try:
            deadline, wait = self.clock() + self.give_up, self.first_poll
            while not self._formula_wants_nodes(formula):
                if self.clock() + wait > deadline:
                    log.info("pool %s: the formula asked for no node within %s; left to its schedule",
                             self.pool_id, self.give_up)  # fmt: skip
                    return
                self.sleep(wait.total_seconds())
                wait = min(wait * 2, self.poll)
            self._enable(interval)
        except SitelensError as exc:
            log.warning("pool %s: bringing the evaluation forward failed (%s); left to its schedule",
                        self.pool_id, exc)  # fmt: skip

    def _formula_wants_nodes(self, formula: str) -> bool:
        options = models.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula=formula)
        self.evaluations += 1
        run = call(f"pool {self.pool_id} evaluate", self.client.evaluate_pool_auto_scale, self.pool_id, options)
        return run.error is None and asks_for_nodes(run.results)

    def _enable(self, interval: timedelta | None) -> None:
        every = interval or timedelta(minutes=15)  # Azure's default; a pool with autoscale always has one
        options = models.BatchPoolEnableAutoScaleOptions(auto_scale_evaluation_interval=every)
        try:
            # No retries: the one refusal worth retrying (30 s between calls) means the kick already happened.
            call(f"pool {self.pool_id} enable autoscale", self.client.enable_pool_auto_scale, self.pool_id,
                 options, retry_total=0)  # fmt: skip
        except TransientError as exc:
            if service_code(exc) != "TooManyEnableAutoScaleRequests":
                raise
            log.info("pool %s: autoscale was enabled within 30 s by another caller", self.pool_id)
            return
        self.kicks += 1
        log.info("pool %s: autoscale re-enabled, its next evaluation comes now", self.pool_id)
