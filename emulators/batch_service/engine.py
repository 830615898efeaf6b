"""The engine: one asyncio loop that runs pools' nodes, schedules tasks into slots and applies Batch's rules.

A few times a second it converges each pool's nodes on its targets, starts active tasks on free slots
(job priority first, then submission order; `requiredSlots`, `maxParallelTasks` and the pool's fill type
honoured), and lets the autoscaler sample and evaluate. Each attempt runs as an asyncio task of its own
with a token: an attempt that was requeued, terminated or deleted meanwhile no longer speaks for its
task, so a stale outcome never lands on the task's next attempt. When an attempt ends, `finish()`
applies the retry rules (only nonzero exit codes are retried, up to `maxTaskRetryCount`), completes the
task, then applies the job's rules (exit conditions, `onAllTasksComplete`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import timedelta
from pathlib import Path

from emulators.batch_service import documents, execution, exits, processes
from emulators.batch_service.autoscaler import Autoscaler
from emulators.batch_service.clock import Clock
from emulators.batch_service.nodes import NodeManager
from emulators.batch_service.store import Doc, Store
from emulators.batch_service.wire import duration, now, parse_stamp, stamp

log = logging.getLogger(__name__)
TICK_S = 0.05
INTERNAL_FAILURE = "InternalError"
JOB_TERMINATED = execution.Failure("ended", "usererror", "TaskEnded", "The job was terminated")


class Engine:
    def __init__(
        self, store: Store, data_dir: Path, *, account: str, account_url: str, clock: Clock, boot_delay: timedelta
    ) -> None:
        self.store, self.clock = store, clock
        self.nodes = NodeManager(store, data_dir / "nodes", clock, boot_delay, account=account,
                                 account_url=account_url, on_change=self.changed)  # fmt: skip
        self.autoscaler = Autoscaler(store, clock, self.nodes)
        self.attempts: dict[str, asyncio.Task[None]] = {}  # attempt token → its coroutine
        self.pids: dict[str, int] = {}  # attempt token → its process (group leader)
        self._wake = asyncio.Event()
        self._dirty = False

    def wake(self) -> None:
        self._wake.set()

    def changed(self) -> None:
        """The engine changed state: saved by the loop right after (requests save before they answer)."""
        self._dirty = True
        self.wake()

    # --- lifecycle -------------------------------------------------------------------------------------
    def recover(self) -> None:
        """Tasks that were running when the service died are requeued, as after a node failure."""
        for tasks in self.store.tasks.values():
            for task in tasks.values():
                if task["state"] in ("running", "preparing"):
                    self._requeue(task)
                    log.info("requeued task %s after a restart", task["url"])
        self.nodes.recover()
        self.store.save()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                self._dirty |= self.tick()
            except Exception:  # the service must outlive one bad tick; the traceback is logged
                log.exception("engine tick failed")
            if self._dirty:
                self._dirty = False
                self.store.save()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TICK_S)
        # Stopping takes the nodes down: attempts end without reporting (their tasks stay `running` in
        # the saved state and are requeued on the next start), and every node process is killed.
        for attempt in self.attempts.values():
            attempt.cancel()
        await asyncio.gather(*self.attempts.values(), return_exceptions=True)
        self.nodes.shutdown()

    def tick(self) -> bool:
        emulated = self.clock.now()
        changed = False
        for pool in list(self.store.pools.values()):
            changed |= self.nodes.converge(pool, emulated, self._requeue, self._end_on_removal)
            if pool["state"] == "deleting" and not self.nodes.of(pool):
                del self.store.pools[pool["id"].lower()]
                self.store.nodes.pop(pool["id"].lower(), None)
                changed = True
                continue
            changed |= self._schedule(pool)
        changed |= self.autoscaler.tick(emulated)
        changed |= self._expire_jobs()
        return changed

    # --- scheduling ------------------------------------------------------------------------------------
    def _schedule(self, pool: Doc) -> bool:
        if self.nodes.free_node(pool, 1) is None:  # no slot free: nothing can start, whatever waits
            return False  # (thousands may wait: reading them on every tick was most of the service's time)
        pairs = self.store.tasks_of_pool(pool["id"])
        waiting = [(j, t) for j, t in pairs if t["state"] == "active" and j["state"] == "active"]
        if not waiting:
            return False
        running: dict[str, int] = {}
        for job, task in pairs:
            if task["state"] == "running":
                running[job["id"]] = running.get(job["id"], 0) + 1
        waiting.sort(key=lambda p: (-int(p[0].get("priority", 0)), p[0]["creationTime"], p[1]["creationTime"]))
        started = False
        for job, task in waiting:
            limit = int(job.get("maxParallelTasks", -1))
            if limit != -1 and running.get(job["id"], 0) >= limit:
                continue
            node = self.nodes.free_node(pool, task["requiredSlots"])
            if node is None and task["requiredSlots"] <= 1:
                break  # the pool is full: no later task fits either
            if node is not None:
                self._start(pool, node, job, task)
                running[job["id"]] = running.get(job["id"], 0) + 1
                started = True
        return started

    def _start(self, pool: Doc, node: Doc, job: Doc, task: Doc) -> None:
        token = uuid.uuid4().hex
        task["_attempt"] = token
        info = task["executionInfo"]
        for key in ("endTime", "exitCode", "result", "failureInfo"):
            info.pop(key, None)
        info["startTime"] = stamp()
        if task.pop("_retrying", False):
            info["lastRetryTime"] = info["startTime"]
        folder = execution.task_dir(self.nodes.root(pool, node), job["id"], task["id"])
        task["nodeInfo"] = {
            "poolId": pool["id"], "nodeId": node["id"], "affinityId": node["affinityId"], "nodeUrl": node["url"],
            "taskRootDirectory": f"workitems/{job['id']}/job-1/{task['id']}",
            "taskRootDirectoryUrl": f"{node['url']}/files/workitems/{job['id']}/job-1/{task['id']}",
        }  # fmt: skip
        documents.set_state(task, "running")
        self.nodes.occupy(node, job, task)
        env = execution.task_environment(self.nodes.environment(pool, node), job, task, folder)
        limit = duration(task["constraints"].get("maxWallClockTime"))
        limit_s = limit.total_seconds() if limit is not None and limit.days < 100_000 else None

        async def attempt() -> None:
            try:
                outcome = await execution.attempt(
                    task, folder, env, limit_s=limit_s,
                    started=lambda p: self.pids.__setitem__(token, p.pid),
                    current=lambda: task.get("_attempt") == token,
                )  # fmt: skip
            except Exception as exc:  # a bug here must not leave the task running forever
                log.exception("attempt of %s failed", task["url"])
                outcome = execution.Outcome(
                    None, execution.Failure("internal", "servererror", INTERNAL_FAILURE, str(exc))
                )
            self.finish(job, task, node, outcome, token)

        self.attempts[token] = asyncio.get_running_loop().create_task(attempt())

    # --- completion ------------------------------------------------------------------------------------
    def finish(self, job: Doc, task: Doc, node: Doc, outcome: execution.Outcome, token: str) -> None:
        self.attempts.pop(token, None)
        self.pids.pop(token, None)
        self.nodes.release(node, job["id"], task)
        if outcome.failure is None and outcome.exit_code == 0:
            node["totalTasksSucceeded"] = node.get("totalTasksSucceeded", 0) + 1
        if task.get("_attempt") != token or task["state"] != "running":
            self.changed()
            return  # terminated, requeued or deleted meanwhile: this attempt no longer speaks for the task
        task.pop("_attempt", None)
        info = task["executionInfo"]
        retries = int(task["constraints"].get("maxTaskRetryCount", 0))
        if outcome.retryable and (retries == -1 or info.get("retryCount", 0) < retries):
            info["retryCount"] = info.get("retryCount", 0) + 1
            task["_retrying"] = True
            documents.set_state(task, "active")
        else:
            self.complete(task, outcome.exit_code, outcome.failure)
            self.after_task(job, task, outcome)
        self.changed()

    def complete(self, task: Doc, exit_code: int | None, failure: execution.Failure | None) -> None:
        """Move a task to `completed`, stopping its attempt if one runs."""
        self.kill(task)
        info = task["executionInfo"]
        info["endTime"] = stamp()
        if exit_code is not None:
            info["exitCode"] = exit_code
        info["result"] = "failure" if failure else "success"
        if failure:
            info["failureInfo"] = failure.info()
        documents.set_state(task, "completed")

    def kill(self, task: Doc) -> None:
        """Stop the task's current attempt, started or not; its outcome will be ignored."""
        token = task.pop("_attempt", None)
        if token and token in self.pids:
            processes.kill_group(self.pids[token])

    def _requeue(self, task: Doc) -> None:
        """The node went away under the task (requeue): back to `active`, counted as a requeue."""
        self.kill(task)
        info = task["executionInfo"]
        info["requeueCount"] = info.get("requeueCount", 0) + 1
        info["lastRequeueTime"] = stamp()
        documents.set_state(task, "active")

    def _end_on_removal(self, task: Doc) -> None:
        """The node went away under the task (terminate): it ends, failed."""
        self.complete(
            task, None, execution.Failure("ended", "usererror", "TaskEnded", "The node running the task was removed")
        )
        job = self.store.jobs.get(task["url"].split("/jobs/")[1].split("/tasks/")[0].lower())
        if job is not None:
            self.check_all_complete(job)

    # --- jobs ------------------------------------------------------------------------------------------
    def after_task(self, job: Doc, task: Doc, outcome: execution.Outcome) -> None:
        """The job's rules once a task completes: its exit conditions' job action, then onAllTasksComplete."""
        if outcome.failure is not None and job.get("onTaskFailure") == "performexitoptionsjobaction":
            action = exits.job_action(task.get("exitConditions"), outcome.exit_code, outcome.failure.kind)
            if action == "terminate":
                self.terminate_job(job, "TaskFailed")
                return
            if action == "disable":
                documents.set_state(job, "disabled")
        self.check_all_complete(job)

    def check_all_complete(self, job: Doc) -> None:
        """A job set to `terminatejob` ends once all its tasks are complete (a job with none counts)."""
        if job["state"] != "active" or job.get("onAllTasksComplete") != "terminatejob":
            return
        if all(t["state"] == "completed" for t in self.store.job_tasks(job["id"]).values()):
            self.terminate_job(job, "AllTasksComplete")

    def terminate_job(self, job: Doc, reason: str) -> None:
        """Batch's Terminate Job: running tasks end; active ones stay active and are never scheduled (the
        scheduler starts only tasks of active jobs), until terminated or deleted one by one."""
        for task in self.store.job_tasks(job["id"]).values():
            if task["state"] in ("running", "preparing"):
                self.complete(task, None, JOB_TERMINATED)
        info = job.setdefault("executionInfo", {})
        info["terminateReason"], info["endTime"] = reason, stamp()
        documents.set_state(job, "completed")

    def _expire_jobs(self) -> bool:
        """Jobs past their own maxWallClockTime end with `MaxWallClockTimeExpiry` (real time)."""
        changed = False
        for job in self.store.jobs.values():
            limit = job.get("constraints", {}).get("maxWallClockTime")
            if job["state"] in ("active", "disabled") and limit:
                span = duration(limit)
                if span is not None and span.days < 100_000 and now() - parse_stamp(job["creationTime"]) > span:
                    self.terminate_job(job, "MaxWallClockTimeExpiry")
                    changed = True
        return changed
