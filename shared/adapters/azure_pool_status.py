"""The Batch pool as `GET /pool` shows it: nodes wanted and present, tasks waiting, and what went wrong.

Reads only, all bounded: the pool (one call), its node counts by state (one call), and the task counts of
the active Batch jobs on the pool (one call each; sitelens keeps one Batch job a day and the reconciler
terminates past days', so three, with an earlier release's per-model days for a while after an upgrade; at
most `MAX_JOBS` are read and `jobs_truncated` says when more were active). Pending tasks are the ones the
autoscale formula's `$PendingTasks` counts: active plus running.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from azure.batch import BatchClient

from shared.adapters.azure_errors import call, translated

MAX_JOBS = 20
_FAILED_NODE_STATES = ("start_task_failed", "unusable", "offline")


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z") if at else None


class BatchPoolStatus:
    def __init__(self, client: BatchClient, pool_id: str, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.client, self.pool_id, self.clock = client, pool_id, clock

    def read(self) -> dict[str, Any]:
        at = self.clock()
        pool = call(f"pool {self.pool_id}", self.client.get_pool, self.pool_id)
        run = pool.auto_scale_run
        states = self._node_states()
        return {
            "pool": pool.id,
            "at": _iso(at),
            "allocation_state": getattr(pool.allocation_state, "value", pool.allocation_state),  # the wire's word
            "target_nodes": (pool.target_dedicated_nodes or 0) + (pool.target_low_priority_nodes or 0),
            "current_nodes": (pool.current_dedicated_nodes or 0) + (pool.current_low_priority_nodes or 0),
            "nodes_by_state": states,
            "failed_nodes": sum(states.get(s, 0) for s in _FAILED_NODE_STATES),
            **self._tasks(),
            "autoscale": {
                "enabled": bool(pool.enable_auto_scale),
                "last_run_at": _iso(run.timestamp) if run else None,
                "results": run.results if run else None,
                "error": (run.error.code if run and run.error else None),
            },
            "resize_errors": [{"code": e.code, "message": e.message} for e in (pool.resize_errors or [])],
        }

    def _node_states(self) -> dict[str, int]:
        with translated("pool node counts"):  # the pages are fetched while listing
            rows = [r for r in self.client.list_pool_node_counts(filter=f"poolId eq '{self.pool_id}'")
                    if r.pool_id == self.pool_id]  # fmt: skip
        states: dict[str, int] = {}
        for row in rows:
            for kind in (row.dedicated, row.low_priority):
                for name, value in (kind.as_dict() if kind else {}).items():
                    if name != "total" and value:
                        key = _snake(name)
                        states[key] = states.get(key, 0) + int(value)
        return states

    def _tasks(self) -> dict[str, Any]:
        with translated("Batch jobs"):
            jobs = [j for j in self.client.list_jobs(filter="state eq 'active'", select=["id", "poolInfo"])
                    if j.pool_info is not None and j.pool_info.pool_id == self.pool_id]  # fmt: skip
        active = running = failed = 0
        for job in jobs[:MAX_JOBS]:
            counts = call(f"Batch job {job.id}", self.client.get_job_task_counts, job.id).task_counts
            active, running, failed = active + counts.active, running + counts.running, failed + counts.failed
        return {"pending_tasks": active + running, "active_tasks": active, "running_tasks": running,
                "failed_tasks": failed, "jobs_truncated": len(jobs) > MAX_JOBS}  # fmt: skip


def _snake(name: str) -> str:
    """`startTaskFailed` → `start_task_failed` (as_dict gives the wire's camel case)."""
    return "".join("_" + c.lower() if c.isupper() else c for c in name)
