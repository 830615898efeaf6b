"""The engine: virtual nodes, scheduling, task completion, and autoscale on the emulated clock.

One asyncio loop ticks a few times a second: it boots and removes nodes toward each pool's targets,
assigns active tasks to free slots (honouring `requiredSlots`), records autoscale samples every 30
emulated seconds and evaluates each pool's formula at its interval. Running attempts are tasks of
their own; when one ends, `finish()` applies Batch's retry rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from autoscale import Formula, Metrics, PoolState
from autoscale.samples import SAMPLE_PERIOD
from emulators.batch_service import documents, execution
from emulators.batch_service.clock import Clock
from emulators.batch_service.nodes import NodeManager
from emulators.batch_service.store import Doc, Store
from emulators.batch_service.wire import BatchError, duration, stamp

log = logging.getLogger(__name__)
MIN_INTERVAL = timedelta(minutes=5)
TICK_S = 0.05


class Engine:
    def __init__(self, store: Store, data_dir: Path, account: str, clock: Clock, boot_delay: timedelta) -> None:
        self.store, self.account, self.clock = store, account, clock
        self.nodes = NodeManager(store, data_dir / "nodes", clock, boot_delay)
        self.metrics: dict[str, Metrics] = {}
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self.running: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._next_sample: datetime = clock.now()

    def wake(self) -> None:
        self._wake.set()

    # --- recovery: what a restart finds ------------------------------------------------------------
    def recover(self) -> None:
        """Tasks that were running when the service died are requeued, as after a node failure."""
        for job_id, tasks in self.store.tasks.items():
            for task in tasks.values():
                if task["state"] in ("running", "preparing"):
                    info = task["executionInfo"]
                    info["requeueCount"] = info.get("requeueCount", 0) + 1
                    info["lastRequeueTime"] = stamp()
                    documents.set_state(task, "active")
                    log.info("requeued %s/%s after a restart", job_id, task["id"])
        self.nodes.recover()
        self.store.save()

    # --- the loop --------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                changed = self.tick()
            except Exception:  # the service must outlive one bad tick; the traceback is logged
                log.exception("engine tick failed")
                changed = False
            if changed:
                self.store.save()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TICK_S)
        for process in list(self.processes.values()):
            with contextlib.suppress(ProcessLookupError):
                process.kill()

    def tick(self) -> bool:
        now = self.clock.now()
        changed = False
        for pool in list(self.store.pools.values()):
            changed |= self.nodes.converge(pool, now, self._requeue, self._terminate_on_removal)
            if pool.get("_deleted") and not self.store.nodes.get(pool["id"].lower()):
                del self.store.pools[pool["id"].lower()]
                changed = True
                continue
            changed |= self._schedule(pool)
            if pool.get("enableAutoScale") and now >= datetime.fromisoformat(
                pool.get("_nextEvaluation", now.isoformat())
            ):
                self._evaluate_and_apply(pool, now)
                changed = True
        if now >= self._next_sample:
            self._sample(now)
            self._next_sample = now + SAMPLE_PERIOD
        return changed

    # --- scheduling ------------------------------------------------------------------------------
    def _schedule(self, pool: Doc) -> bool:
        started = False
        pending = sorted(
            ((job, task) for job, task in self.store.tasks_of_pool(pool["id"])
             if task["state"] == "active" and job["state"] == "active"),
            key=lambda pair: (-int(pair[0].get("priority", 0)), pair[1]["creationTime"]),
        )  # fmt: skip
        for job, task in pending:
            node = self.nodes.free_node(pool, task["requiredSlots"])
            if node is None:
                continue
            self._start(pool, node, job, task)
            started = True
        return started

    def _start(self, pool: Doc, node: Doc, job: Doc, task: Doc) -> None:
        info = task["executionInfo"]
        info["startTime"] = stamp()
        info.pop("endTime", None)
        task["nodeInfo"] = {
            "poolId": pool["id"],
            "nodeId": node["id"],
            "affinityId": node["affinityId"],
            "nodeUrl": node["url"],
            "taskRootDirectory": f"workitems/{job['id']}/job-1/{task['id']}",
        }
        documents.set_state(task, "running")
        self.nodes.occupy(node, task)
        # Each attempt has a token: an attempt that was requeued or ended meanwhile neither starts its
        # process nor reports, so a stale outcome can never land on the task's next attempt.
        token = uuid.uuid4().hex
        task["_attempt"] = token

        async def attempt() -> None:
            outcome = await execution.attempt(
                self.account,
                pool,
                node,
                node_root=self.nodes.root(pool, node),
                job=job,
                task=task,
                processes=self.processes,
                token=token,
                current=lambda: task.get("_attempt") == token,
            )
            self.finish(job, task, node, outcome, token)

        self.running[token] = asyncio.create_task(attempt())

    def finish(self, job: Doc, task: Doc, node: Doc, outcome: execution.Outcome, token: str) -> None:
        self.running.pop(token, None)
        self.nodes.release(node, task)
        if task["state"] != "running" or task.get("_attempt") != token:
            return  # terminated or requeued meanwhile: this attempt no longer speaks for the task
        info = task["executionInfo"]
        retries = int(task["constraints"].get("maxTaskRetryCount", 0))
        failed = outcome.exit_code != 0
        # Only nonzero exits are retried: not wall-clock kills, not pre-processing errors.
        retryable = failed and not outcome.wall_clock_expired and outcome.preparation_error is None
        if retryable and (retries == -1 or info.get("retryCount", 0) < retries):
            info["retryCount"] = info.get("retryCount", 0) + 1
            info["lastRetryTime"] = stamp()
            info["exitCode"] = outcome.exit_code
            documents.set_state(task, "active")
            self._save_and_wake()
            return
        failure = None
        if outcome.preparation_error is not None:
            failure = ("usererror", "ResourceFileDownloadFailed", outcome.preparation_error)
        elif outcome.wall_clock_expired:
            failure = ("usererror", "MaxWallClockTimeExpiry", "The task exceeded its maximum wall clock time")
        elif failed:
            failure = ("usererror", "FailureExitCode", "The task process exited with an unexpected exit code")
        self.complete(task, outcome.exit_code if outcome.preparation_error is None else None, failure)
        self._finish_job_if_done(job)
        self._save_and_wake()

    def complete(self, task: Doc, exit_code: int | None, failure: tuple[str, str, str] | None) -> None:
        self.kill(task)
        info = task["executionInfo"]
        info["endTime"] = stamp()
        info.setdefault("startTime", info["endTime"])
        if exit_code is not None:
            info["exitCode"] = exit_code
        info["result"] = "failure" if failure else "success"
        if failure:
            category, code, message = failure
            info["failureInfo"] = {"category": category, "code": code, "message": message}
        else:
            info.pop("failureInfo", None)
        documents.set_state(task, "completed")

    def kill(self, task: Doc) -> None:
        """Stop the task's current attempt, started or not."""
        token = task.pop("_attempt", None)
        process = self.processes.get(token) if token else None
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    def _requeue(self, task: Doc) -> None:
        """A node went away under the task (requeue deallocation): back to active, counted as a requeue."""
        self.kill(task)
        info = task["executionInfo"]
        info["requeueCount"] = info.get("requeueCount", 0) + 1
        info["lastRequeueTime"] = stamp()
        documents.set_state(task, "active")

    def _terminate_on_removal(self, task: Doc) -> None:
        """A node went away under the task (terminate deallocation): it ends, failed."""
        self.complete(task, None, ("usererror", "TaskEnded", "The node running the task was removed"))

    def terminate_job(self, job: Doc, reason: str) -> None:
        for task in self.store.job_tasks(job["id"]).values():
            if task["state"] != "completed":
                self.complete(task, None, ("usererror", "TaskEnded", "The job was terminated"))
        job.setdefault("executionInfo", {})["terminateReason"] = reason
        job["executionInfo"]["endTime"] = stamp()
        documents.set_state(job, "completed")

    def _finish_job_if_done(self, job: Doc) -> None:
        tasks = self.store.job_tasks(job["id"]).values()
        if job.get("onAllTasksComplete") == "terminatejob" and all(t["state"] == "completed" for t in tasks):
            self.terminate_job(job, "AllTasksComplete")

    def _save_and_wake(self) -> None:
        self.store.save()
        self.wake()

    # --- autoscale -------------------------------------------------------------------------------
    def enable(self, pool: Doc, formula: str, interval: timedelta | None) -> None:
        now = self.clock.now()
        last = pool.get("_lastEnable")
        if last and now - datetime.fromisoformat(last) < timedelta(seconds=30):
            raise BatchError("TooManyEnableAutoScaleRequests", "Enable autoscale requests must be 30 seconds apart.")
        if interval is not None and interval < MIN_INTERVAL:
            raise BatchError("InvalidPropertyValue", "The autoscale evaluation interval must be at least 5 minutes.",
                             {"PropertyName": "autoScaleEvaluationInterval"})  # fmt: skip
        pool.update(enableAutoScale=True, autoScaleFormula=formula, _lastEnable=now.isoformat())
        if interval is not None or "autoScaleEvaluationInterval" not in pool:
            pool["autoScaleEvaluationInterval"] = _iso(interval or timedelta(minutes=15))
        pool["_nextEvaluation"] = now.isoformat()  # evaluate at once, then at every interval
        documents.touch(pool)
        self.wake()

    def _pool_state(self, pool: Doc) -> PoolState:
        return PoolState(
            target_dedicated=int(pool["targetDedicatedNodes"]),
            target_low_priority=int(pool["targetLowPriorityNodes"]),
            current_dedicated=int(pool["currentDedicatedNodes"]),
            current_low_priority=int(pool["currentLowPriorityNodes"]),
            task_slots_per_node=int(pool["taskSlotsPerNode"]),
        )

    def evaluate(self, pool: Doc, formula: Formula) -> dict[str, Any]:
        now = self.clock.now()
        run = formula.evaluate(self._pool_state(pool), self.metrics.setdefault(pool["id"].lower(), Metrics()), now=now)
        body: dict[str, Any] = {"timestamp": stamp(now), "results": run.results}
        if run.error is not None:
            body["error"] = run.error.as_dict()
        return body

    def _evaluate_and_apply(self, pool: Doc, now: datetime) -> None:
        formula = Formula.parse(pool["autoScaleFormula"])
        metrics = self.metrics.setdefault(pool["id"].lower(), Metrics())
        run = formula.evaluate(self._pool_state(pool), metrics, now=now)
        pool["autoScaleRun"] = {"timestamp": stamp(now), "results": run.results}
        if run.error is not None:
            pool["autoScaleRun"]["error"] = run.error.as_dict()
        elif run.applied is not None:
            pool["targetDedicatedNodes"] = run.applied.dedicated
            pool["targetLowPriorityNodes"] = run.applied.low_priority
            pool["_deallocation"] = run.applied.node_deallocation_option
        interval = duration(pool.get("autoScaleEvaluationInterval")) or timedelta(minutes=15)
        pool["_nextEvaluation"] = (now + interval).isoformat()
        documents.touch(pool)

    def _sample(self, now: datetime) -> None:
        for pool in self.store.pools.values():
            metrics = self.metrics.setdefault(pool["id"].lower(), Metrics())
            tasks = [t for _, t in self.store.tasks_of_pool(pool["id"])]
            active = sum(1 for t in tasks if t["state"] == "active")
            running = sum(1 for t in tasks if t["state"] in ("running", "preparing"))
            done = [t for t in tasks if t["state"] == "completed"]
            succeeded = sum(1 for t in done if t["executionInfo"].get("result") == "success")
            values = {
                "$ActiveTasks": active, "$RunningTasks": running, "$PendingTasks": active + running,
                "$SucceededTasks": succeeded, "$FailedTasks": len(done) - succeeded,
                "$TaskSlotsPerNode": pool["taskSlotsPerNode"], "$CurrentDedicatedNodes": pool["currentDedicatedNodes"],
                "$CurrentLowPriorityNodes": pool["currentLowPriorityNodes"], "$PreemptedNodeCount": 0,
                "$UsableNodeCount": self.nodes.usable(pool),
            }  # fmt: skip
            for name, value in values.items():
                metrics.of(name).record(now, float(value))

    def node_counts(self, pool: Doc) -> dict[str, Any]:
        return self.nodes.counts(pool)


def _iso(value: timedelta) -> str:
    total = int(value.total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"PT{hours}H{minutes}M{seconds}S" if hours else f"PT{minutes}M{seconds}S"


def new_node_id() -> str:
    return f"tvmps_{uuid.uuid4().hex[:40]}_d"
